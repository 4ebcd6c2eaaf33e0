// Each node's gateway configuration and the shared node list, in the gateway's own schema
// (src/shared/gateway-config), validated with the gateway's parser before anything is written.
// Only what the operator decides is written; the gateway fills in its own defaults. That keeps a pinned,
// older gateway image able to read the file, and the ConfigMap short.
import { dump } from 'js-yaml';
import type { UpstreamDomain, Upstream, XmppWebGateway, XmppWebGatewaySpec } from '../api/types.ts';
import { ConfigError, parseGatewayConfig, parseNodeList } from '../../shared/gateway-config/validate.ts';
import { CodedError } from '../../shared/errors/codes.ts';
import type { GatewayConfig, NodeList, UpstreamServer } from '../../shared/gateway-config/schema.ts';
import { hashOf } from './hash.ts';
import { ADMIN_PORT, CERT_DIR, CONFIG_DIR, HTTPS_PORT, HTTP_PORT, NODES_FILE, UPSTREAM_CA_DIR } from './names.ts';
import type { ResolvedNode } from './types.ts';

/** A CA bundle the upstream connections need, mounted into every node pod. */
export interface UpstreamCaMount {
  volumeName: string;
  source: { kind: 'Secret' | 'ConfigMap'; name: string; key: string };
  /** file the gateway reads (upstream caFile) */
  file: string;
  dir: string;
}

type UpstreamFields = Pick<Upstream, 'caSecretRef' | 'caConfigMapRef'>;

function caSource(u: UpstreamFields): UpstreamCaMount['source'] | undefined {
  if (u.caSecretRef) return { kind: 'Secret', name: u.caSecretRef.name, key: u.caSecretRef.key };
  if (u.caConfigMapRef) return { kind: 'ConfigMap', name: u.caConfigMapRef.name, key: u.caConfigMapRef.key };
  return undefined;
}

const sourceKey = (s: UpstreamCaMount['source']) => `${s.kind}/${s.name}/${s.key}`;

/** Distinct CA bundles of the upstream and its per-domain entries, in order of first use. */
export function upstreamCaMounts(spec: XmppWebGatewaySpec): UpstreamCaMount[] {
  const out: UpstreamCaMount[] = [];
  for (const u of [spec.upstream, ...(spec.upstream.domains ?? [])]) {
    const source = caSource(u);
    if (!source || out.some((m) => sourceKey(m.source) === sourceKey(source))) continue;
    const i = out.length;
    const dir = `${UPSTREAM_CA_DIR}/${i}`;
    out.push({ volumeName: `upstream-ca-${i}`, source, dir, file: `${dir}/ca.crt` });
  }
  return out;
}

/** host, servers, or neither (the gateway then looks up SRV records: `srv: true`). */
function upstreamServer(u: Upstream | UpstreamDomain, cas: UpstreamCaMount[]): UpstreamServer {
  const source = caSource(u);
  const caFile = source ? cas.find((m) => sourceKey(m.source) === sourceKey(source))?.file : undefined;
  return {
    ...(u.host === undefined ? {} : { host: u.host }),
    ...(u.servers === undefined ? {} : { servers: u.servers.map((s) => ({ ...s })) }),
    ...(u.port === undefined ? {} : { port: u.port }),
    ...(u.tls === undefined ? {} : { tls: u.tls }),
    ...(u.proxyProtocol === undefined ? {} : { proxyProtocol: u.proxyProtocol }),
    ...(u.serverName === undefined ? {} : { serverName: u.serverName }),
    ...(caFile === undefined ? {} : { caFile }),
    ...(u.insecureSkipVerify === undefined ? {} : { insecureSkipVerify: u.insecureSkipVerify }),
  };
}

/** Drop undefined values, so the written config holds only what was decided. */
function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A spec the API server let through but the gateway would refuse: what (`summary`) and each key (`issues`). */
export class DesiredStateError extends CodedError {
  readonly summary: string;
  readonly issues: readonly string[];
  constructor(summary: string, issues: readonly string[]) {
    super('XWG_OP_CONFIG_REFUSED', `${summary}:\n  - ${issues.join('\n  - ')}`);
    this.name = 'DesiredStateError';
    this.summary = summary;
    this.issues = issues;
  }
}

/**
 * The configuration file of one node (key `<node>.yaml`), as written: the operator's choices only.
 * Throws DesiredStateError when the gateway's parser refuses it (a spec the API server let through but the
 * gateway cannot run).
 */
export function gatewayConfigFor(gw: XmppWebGateway, node: ResolvedNode): Record<string, unknown> {
  const spec = gw.spec;
  const cas = upstreamCaMounts(spec);
  const upstreamDomains: Record<string, UpstreamServer> = {};
  for (const d of spec.upstream.domains ?? []) upstreamDomains[d.domain] = upstreamServer(d, cas);
  const u = spec.upstream;

  const limits = spec.limits ?? {};
  const config: Record<string, unknown> = {
    nodeName: node.name,
    domains: [...spec.domains],
    listen: {
      host: '0.0.0.0',
      port: HTTP_PORT,
      tlsPort: HTTPS_PORT,
      certDir: CERT_DIR,
      defaultCert: node.name,
    },
    // Every address of the pod, for the kubelet's probes and Prometheus; the Services never route to it.
    admin: { host: '0.0.0.0', port: ADMIN_PORT },
    ...(spec.allowedOrigins && spec.allowedOrigins.length > 0 ? { allowedOrigins: [...spec.allowedOrigins] } : {}),
    websocket: { enabled: spec.websocket?.enabled ?? true, ...(spec.websocket ? { paths: [...spec.websocket.paths] } : {}) },
    bosh: defined({
      enabled: spec.bosh?.enabled ?? true,
      paths: spec.bosh ? [...spec.bosh.paths] : undefined,
      maxWait: spec.bosh?.wait,
      maxHold: spec.bosh?.hold,
      inactivity: spec.bosh?.inactivity,
      maxPause: spec.bosh?.maxPause,
      maxSessions: limits.maxBoshSessions,
      maxSessionsPerAddress: limits.maxBoshSessionsPerAddress,
    }),
    upstream: {
      ...(u.host !== undefined || u.servers !== undefined || u.srv === true ? { default: upstreamServer(u, cas) } : {}),
      ...(Object.keys(upstreamDomains).length > 0 ? { domains: upstreamDomains } : {}),
      ...(u.dnsServers === undefined ? {} : { dns: { servers: [...u.dnsServers] } }),
    },
    discovery: { nodesFile: `${CONFIG_DIR}/${NODES_FILE}`, publicScheme: 'secure' },
  };
  const gatewayLimits = defined({
    maxStanzaBytes: limits.maxStanzaBytes,
    maxConnections: limits.maxConnections,
    maxConnectionsPerAddress: limits.maxConnectionsPerAddress,
    maxBufferedBytes: limits.maxBufferedBytes,
  });
  if (Object.keys(gatewayLimits).length > 0) config.limits = gatewayLimits;
  if (spec.drainSeconds !== undefined) config.drain = { deadlineMs: spec.drainSeconds * 1000 };
  if (spec.logLevel !== undefined) config.log = { level: spec.logLevel };

  try {
    parseGatewayConfig(config);
  } catch (err) {
    if (err instanceof ConfigError) throw new DesiredStateError(`gateway configuration of node ${node.name}`, err.issues);
    throw err;
  }
  return config;
}

/** The configuration the gateway will run with: the written file with the gateway's defaults applied. */
export function effectiveGatewayConfig(written: Record<string, unknown>): GatewayConfig {
  return parseGatewayConfig(written);
}

export function renderGatewayConfig(gw: XmppWebGateway, node: ResolvedNode, config: Record<string, unknown>): string {
  const header = `# Gateway configuration of node ${node.name} (${node.host}) of XmppWebGateway ${gw.metadata.namespace ?? 'default'}/${gw.metadata.name}.\n# Written by the operator from the resource: edits here are overwritten.\n`;
  return header + dump(config, { noRefs: true, lineWidth: -1 });
}

/** The node list every node serves (`nodes.json`); `version` is a hash of the rest, so it changes with it. */
export function nodeListFor(gw: XmppWebGateway, nodes: readonly ResolvedNode[], readiness: Readonly<Record<string, boolean>> = {}): NodeList {
  const entries = nodes.map((n) => ({
    name: n.name,
    host: n.host,
    ...(n.websocketUrl === undefined ? {} : { websocketUrl: n.websocketUrl }),
    ...(n.boshUrl === undefined ? {} : { boshUrl: n.boshUrl }),
    ready: readiness[n.name] === true,
  }));
  const body = { domains: [...gw.spec.domains], nodes: entries };
  const list = { version: hashOf(body), ...body };
  try {
    return parseNodeList(list);
  } catch (err) {
    if (err instanceof ConfigError) throw new DesiredStateError('node list', err.issues);
    throw err;
  }
}
