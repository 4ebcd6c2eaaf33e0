// One call from an XMPP domain to the endpoint to hand to Strophe.js or xmpp.js.
import { NodeChooser } from './chooser.ts';
import { discover, DiscoveryError, type DiscoverOptions } from './discover.ts';
import { webSocketProbe, type Probe } from './endpoint.ts';
import { defaultWebSocket } from './env.ts';
import { Failover, type Attempt } from './failover.ts';
import type { KeyValueStorage, NodeDirectory, Random, Transport, WebNode } from './types.ts';

export interface ConnectOptions extends DiscoverOptions {
  /** The XMPP domain logged into: the stream `to`. Give it to the library too, never the node's host. */
  domain: string;
  /** Domain or document URL to discover from; default `domain`. */
  discovery?: string;
  /** A directory already discovered: no fetch. */
  directory?: NodeDirectory;
  /** What the library speaks: Strophe.js both (default), xmpp.js ['websocket']. */
  transports?: readonly Transport[];
  preferWebSocket?: boolean;
  /** Default: a WebSocket probe when BOSH is a fallback. false: no probe. */
  probe?: Probe | false;
  storage?: KeyValueStorage | null;
  random?: Random;
  now?: () => number;
  failTtlMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface GatewayConnection extends Attempt {
  domain: string;
  directory: NodeDirectory;
  /** Ask it for the next endpoint on failure, drop or redirect; tell it on success. */
  failover: Failover;
}

export async function connect(opts: ConnectOptions): Promise<GatewayConnection> {
  const directory = opts.directory ?? (await discover(opts.discovery ?? opts.domain, opts));
  const domain = opts.domain.toLowerCase();
  if (directory.domains.length > 0 && !directory.domains.some((d) => d.toLowerCase() === domain)) {
    throw new DiscoveryError('unknown-domain', `the gateway does not serve ${opts.domain} (serves ${directory.domains.join(', ')})`);
  }
  const transports = opts.transports ?? ['websocket', 'bosh'];
  const probe =
    opts.probe === false
      ? undefined
      : (opts.probe ?? (transports.includes('bosh') && transports.includes('websocket') && defaultWebSocket() ? webSocketProbe() : undefined));
  // Nodes the library cannot speak to are left out of the choice altogether.
  const speaks = (n: WebNode) => (transports.includes('websocket') && n.websocketUrl !== undefined) || (transports.includes('bosh') && n.boshUrl !== undefined);
  const chooser = new NodeChooser({
    domain,
    nodes: directory.nodes.filter(speaks),
    ...(opts.storage !== undefined && { storage: opts.storage }),
    ...(opts.random && { random: opts.random }),
    ...(opts.now && { now: opts.now }),
    ...(opts.failTtlMs !== undefined && { failTtlMs: opts.failTtlMs }),
    ...(opts.baseDelayMs !== undefined && { baseDelayMs: opts.baseDelayMs }),
    ...(opts.maxDelayMs !== undefined && { maxDelayMs: opts.maxDelayMs }),
  });
  const failover = new Failover({
    chooser,
    transports,
    ...(opts.preferWebSocket !== undefined && { preferWebSocket: opts.preferWebSocket }),
    ...(probe && { probe }),
  });
  const first = await failover.next();
  if (first === undefined) throw new DiscoveryError('not-found', `no ready gateway node for ${opts.domain}`);
  return { ...first, domain: opts.domain, directory, failover };
}
