// The node list of a gateway, from whichever of the three node sources the spec uses.
//   nodes:             as listed, in the given order
//   replicas:          names "1".."replicas", hosts from hostTemplate ({index} from 1)
//   perKubernetesNode: one node per matching Kubernetes Node, sorted by Node name; name derived from the
//                      Node name (dots → dashes; over 30 characters: shortened plus a hash of the full name)
import { createHash } from 'node:crypto';
import { DNS_NAME_PATTERN, MAX_NODE_NAME, type XmppWebGateway, type XmppWebGatewaySpec } from '../api/types.ts';
import { names } from './names.ts';
import type { DesiredContext, KubernetesNodeInfo, ResolvedNode } from './types.ts';

const dnsName = new RegExp(DNS_NAME_PATTERN);

function isPublicHost(host: string): boolean {
  return host.length <= 253 && dnsName.test(host) && !/^[0-9.]+$/.test(host);
}

/** A valid node name for a Kubernetes Node name (a DNS subdomain of up to 253 characters). */
export function nodeNameForKubernetesNode(kubernetesName: string): string {
  const base = kubernetesName.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  if (base !== '' && base.length <= MAX_NODE_NAME) return base;
  const hash = createHash('sha256').update(kubernetesName).digest('hex').slice(0, 8);
  const head = base.slice(0, MAX_NODE_NAME - hash.length - 1).replace(/-+$/, '');
  return head === '' ? `n-${hash}` : `${head}-${hash}`;
}

/** Port browsers use for HTTPS/WSS: the node port with perKubernetesNode NodePort, else the Service port. */
function publicHttpsPort(spec: XmppWebGatewaySpec): number {
  const pkn = spec.perKubernetesNode;
  if (pkn?.exposure === 'NodePort') return pkn.nodePorts?.https ?? 30443;
  return spec.service?.ports.https ?? 443;
}

export function urlsFor(spec: XmppWebGatewaySpec, host: string): { websocketUrl?: string; boshUrl?: string } {
  const port = publicHttpsPort(spec);
  const authority = port === 443 ? host : `${host}:${port}`;
  const ws = spec.websocket;
  const bosh = spec.bosh;
  return {
    ...(ws?.enabled !== false && ws?.paths[0] ? { websocketUrl: `wss://${authority}${ws.paths[0]}` } : {}),
    ...(bosh?.enabled !== false && bosh?.paths[0] ? { boshUrl: `https://${authority}${bosh.paths[0]}` } : {}),
  };
}

/** Secret holding a node's certificate, or undefined when secretRefs names none for it. */
function tlsSecretNameFor(gw: XmppWebGateway, node: string): string | undefined {
  const refs = gw.spec.tls?.secretRefs;
  if (!refs) return names.nodeTlsSecret(gw.metadata.name ?? '', node);
  const listed = refs.nodes?.find((r) => r.node === node);
  if (listed) return listed.secretName;
  return refs.nameTemplate?.replaceAll('{node}', node);
}

interface Candidate {
  name: string;
  host: string;
  index?: number;
  kubernetesNode?: string;
  serviceAnnotations?: Record<string, string>;
}

/** The nodes of a (defaulted) gateway, and what kept some from being built. */
export function resolveNodes(gw: XmppWebGateway, ctx: Pick<DesiredContext, 'kubernetesNodes'>): { nodes: ResolvedNode[]; problems: string[] } {
  const spec = gw.spec;
  const problems: string[] = [];
  let candidates: Candidate[] = [];
  if (spec.nodes) {
    candidates = spec.nodes.map((n) => ({ name: n.name, host: n.host, serviceAnnotations: n.serviceAnnotations }));
  } else if (spec.replicas !== undefined && spec.hostTemplate !== undefined) {
    for (let index = 1; index <= spec.replicas; index++) {
      candidates.push({ name: String(index), host: spec.hostTemplate.replaceAll('{index}', String(index)), index });
    }
  } else if (spec.perKubernetesNode) {
    candidates = fromKubernetesNodes(spec, ctx.kubernetesNodes ?? [], problems);
  }

  const gateway = gw.metadata.name ?? '';
  const seenNames = new Set<string>();
  const seenHosts = new Set<string>();
  const nodes: ResolvedNode[] = [];
  for (const c of candidates) {
    const where = c.kubernetesNode === undefined ? `node ${c.name}` : `Kubernetes Node ${c.kubernetesNode}`;
    if (!isPublicHost(c.host)) {
      problems.push(`${where}: host ${JSON.stringify(c.host)} is not a DNS name`);
      continue;
    }
    if (seenNames.has(c.name)) {
      problems.push(`${where}: node name ${c.name} is taken by another node`);
      continue;
    }
    if (seenHosts.has(c.host)) {
      problems.push(`${where}: host ${c.host} is taken by another node`);
      continue;
    }
    const tlsSecretName = tlsSecretNameFor(gw, c.name);
    if (tlsSecretName === undefined) {
      problems.push(`${where}: tls.secretRefs names no Secret for it`);
      continue;
    }
    seenNames.add(c.name);
    seenHosts.add(c.host);
    nodes.push({
      name: c.name,
      host: c.host,
      objectName: names.node(gateway, c.name),
      tlsSecretName,
      ...(c.index === undefined ? {} : { index: c.index }),
      ...(c.kubernetesNode === undefined ? {} : { kubernetesNode: c.kubernetesNode }),
      serviceAnnotations: c.serviceAnnotations ?? {},
      ...urlsFor(spec, c.host),
    });
  }
  return { nodes, problems };
}

function fromKubernetesNodes(spec: XmppWebGatewaySpec, all: readonly KubernetesNodeInfo[], problems: string[]): Candidate[] {
  const pkn = spec.perKubernetesNode!;
  const matching = all
    .filter((n) => n.metadata?.name)
    .filter((n) => Object.entries(pkn.nodeSelector).every(([k, v]) => n.metadata?.labels?.[k] === v))
    .sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
  const out: Candidate[] = [];
  for (const n of matching) {
    const kubernetesNode = n.metadata!.name!;
    const from = pkn.hostFrom;
    let host: string | undefined;
    if (from.label !== undefined) host = n.metadata?.labels?.[from.label];
    else if (from.annotation !== undefined) host = n.metadata?.annotations?.[from.annotation];
    else if (from.template !== undefined) host = from.template.replaceAll('{nodeName}', kubernetesNode);
    if (host === undefined || host === '') {
      const what = from.label !== undefined ? `label ${from.label}` : `annotation ${from.annotation}`;
      problems.push(`Kubernetes Node ${kubernetesNode}: no ${what} to take the public host from`);
      continue;
    }
    out.push({ name: nodeNameForKubernetesNode(kubernetesNode), host, kubernetesNode });
  }
  return out;
}
