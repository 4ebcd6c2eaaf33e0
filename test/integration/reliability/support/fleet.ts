// The fleet under test: one XMPP server with XEP-0198 (Prosody with mod_smacks by default, or ejabberd with
// mod_stream_mgmt), and gateway nodes as separate processes in front of it, each knowing the others through
// its node list (drained clients are sent to another node).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePorts } from '../../../../dev/harness/ports.ts';
import type { ProsodyOptions } from '../../../../dev/harness/prosody.ts';
import { startXmppServer, type ServerKind, type XmppServer } from '../../../../dev/harness/xmpp-server.ts';
import type { Endpoint } from '../../../../dev/harness/xmpp-sm.ts';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.ts';

export const DOMAIN = 'example.com';

export interface Account {
  username: string;
  password: string;
}

export interface Fleet {
  server: XmppServer;
  dir: string;
  /** Running nodes by name. */
  nodes: Map<string, GatewayProcess>;
  node(name: string): GatewayProcess;
  /** Starts the node again unless it is running. */
  ensureNode(name: string): Promise<GatewayProcess>;
  /** Starts (or starts again, on the same port) the node `name`. */
  startNode(name: string, extraConfig?: Record<string, unknown>): Promise<GatewayProcess>;
  ws(name: string, extra?: Partial<Extract<Endpoint, { kind: 'websocket' }>>): Endpoint;
  bosh(name: string, extra?: Partial<Extract<Endpoint, { kind: 'bosh' }>>): Endpoint;
  accounts(prefix: string, count: number): Account[];
  dispose(): Promise<void>;
}

export interface FleetOptions {
  names?: string[];
  /** Accounts to create: prefix → count (usernames prefix0001…, password pw-<username>). */
  accounts: Record<string, number>;
  /** Gateway configuration shared by every node (merged over the defaults here). */
  nodeConfig?: Record<string, unknown>;
  /** More configuration for single nodes, by name. */
  perNode?: Record<string, Record<string, unknown>>;
  /** The upstream server; default Prosody. */
  server?: ServerKind;
  prosody?: Partial<ProsodyOptions>;
}

function username(prefix: string, i: number): string {
  return `${prefix}${String(i).padStart(4, '0')}`;
}

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const names = o.names ?? ['a', 'b'];
  const dir = await mkdtemp(path.join(tmpdir(), 'xwg-fleet-'));
  const server = await startXmppServer(o.server ?? 'prosody', { domains: [DOMAIN], smacks: true, resumeSeconds: 300, ...(o.prosody ? { prosody: o.prosody } : {}) });
  await server.addUsers(
    Object.entries(o.accounts).flatMap(([prefix, count]) =>
      Array.from({ length: count }, (_, i) => ({ user: username(prefix, i), password: `pw-${username(prefix, i)}` })),
    ),
  );
  const ports = await freePorts(names.length);
  const portOf = new Map(names.map((n, i) => [n, ports[i]!]));
  const nodeList = names.map((n) => ({
    name: n,
    host: '127.0.0.1',
    websocketUrl: `ws://127.0.0.1:${portOf.get(n)}/xmpp-websocket`,
    boshUrl: `http://127.0.0.1:${portOf.get(n)}/http-bind`,
    ready: true,
  }));
  const nodes = new Map<string, GatewayProcess>();
  const baseConfig = (): Record<string, unknown> => ({
    domains: [DOMAIN],
    upstream: { default: { host: '127.0.0.1', port: server.c2sPort, tls: 'none' } },
    discovery: { nodes: nodeList, publicScheme: 'plain' },
    drain: { deadlineMs: 10_000 },
    // Every test client comes from 127.0.0.1: the per-address limits would stop the chaos sizes.
    limits: { maxConnectionsPerAddress: 100_000 },
    bosh: { maxSessionsPerAddress: 100_000 },
    log: { level: 'warn' },
  });
  const startNode = async (name: string, extraConfig: Record<string, unknown> = {}) => {
    const config = deepMerge(deepMerge(deepMerge(baseConfig(), o.nodeConfig ?? {}), o.perNode?.[name] ?? {}), extraConfig);
    const node = await startGatewayProcess({ name, dir, config, port: portOf.get(name)! });
    nodes.set(name, node);
    return node;
  };
  for (const n of names) await startNode(n);
  const node = (name: string) => {
    const n = nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  };
  return {
    server,
    dir,
    nodes,
    node,
    startNode,
    async ensureNode(name) {
      const n = nodes.get(name);
      if (n?.process.isRunning()) return n;
      return startNode(name);
    },
    ws: (name, extra = {}) => ({ kind: 'websocket', url: `ws://127.0.0.1:${portOf.get(name)}/xmpp-websocket`, ...extra }) as Endpoint,
    bosh: (name, extra = {}) => ({ kind: 'bosh', url: `http://127.0.0.1:${portOf.get(name)}/http-bind`, wait: 10, ...extra }) as Endpoint,
    accounts: (prefix, count) => Array.from({ length: count }, (_, i) => ({ username: username(prefix, i), password: `pw-${username(prefix, i)}` })),
    async dispose() {
      for (const n of nodes.values()) await n.kill().catch(() => {});
      await server.dispose();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object' && !Array.isArray(prev)
        ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}
