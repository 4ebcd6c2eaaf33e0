// Chooses the upstream for the XMPP domain a client asks for (a static map with a default), and where
// to reach it: its host, its list of servers, or the domain's SRV records; failed servers go last for
// a short back-off.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { GatewayConfig, UpstreamServer } from '../../shared/gateway-config/schema.ts';
import type { XmlLimits } from '../xml/limits.ts';
import { C2sStream, type C2sOptions } from './c2s.ts';
import { UpstreamError } from './codes.ts';
import { withCode } from '../../shared/errors/codes.ts';
import { FailureMemory } from './failover.ts';
import { UpstreamResolver } from './resolve.ts';
import { orderByPriorityAndWeight, type Target } from './srv.ts';
import type { ClientLeg, UpstreamEvents, UpstreamStream } from './types.ts';

export interface UpstreamRouter {
  /** Whether the gateway serves this domain (else the client gets host-unknown). */
  serves(domain: string): boolean;
  /** `client`: the client's own connection, told to the upstream when it takes a PROXY header. */
  connect(domain: string, events: UpstreamEvents, log: Logger, client?: ClientLeg): UpstreamStream;
}

export interface RouterHooks {
  onConnect?: (seconds: number, ok: boolean) => void;
  /** Logs DNS findings that concern the whole gateway (skipped SRV records, fallbacks). */
  log?: Logger;
  /** Clock and random source for tests. */
  now?: () => number;
  random?: () => number;
}

const defaultPort = (server: UpstreamServer) => server.port ?? ((server.tls ?? 'starttls') === 'directTLS' ? 5223 : 5222);

export function createUpstreamRouter(config: GatewayConfig, hooks: RouterHooks = {}): UpstreamRouter {
  const served = new Set(config.domains.map((d) => d.toLowerCase()));
  const caCache = new Map<string, string>();
  // CA bundles are read once per file: they are mounted configuration, not per-connection state.
  const caFor = (server: UpstreamServer): string | undefined => {
    if (!server.caFile) return undefined;
    let pem = caCache.get(server.caFile);
    if (pem === undefined) {
      pem = readFileSync(server.caFile, 'utf8');
      caCache.set(server.caFile, pem);
    }
    return pem;
  };
  const limits: XmlLimits = config.limits;
  const now = hooks.now ?? (() => performance.now());
  const random = hooks.random ?? Math.random;
  const failures = new FailureMemory(config.upstream.failedServerBackoffMs);
  let resolver: UpstreamResolver | undefined;
  const dns = () => (resolver ??= new UpstreamResolver(config.upstream.dns, { random, now }));
  if (config.upstream.dns.servers.length > 0) dns();
  const serverFor = (domain: string): UpstreamServer | undefined => config.upstream.domains[domain] ?? config.upstream.default;

  const targetsOf = (server: UpstreamServer): ((domain: string) => Promise<readonly Target[]>) => {
    const tls = server.tls ?? 'starttls';
    if (server.host !== undefined) {
      const only: readonly Target[] = [{ host: server.host, port: defaultPort(server), tls }];
      return async () => failures.order(only, now());
    }
    if (server.servers !== undefined) {
      const entries = server.servers.map((s) => ({ host: s.host, port: s.port ?? defaultPort(server), tls, priority: s.priority ?? 0, weight: s.weight ?? 0 }));
      return async () => failures.order(orderByPriorityAndWeight(entries, random).map(({ host, port }) => ({ host, port, tls })), now());
    }
    return async (domain) => {
      const plan = await dns().plan(domain, tls);
      if (plan.kind === 'unavailable') throw new UpstreamError('XWG_GW_UPSTREAM_SRV_UNAVAILABLE', plan.detail);
      if (plan.kind === 'failed') throw new UpstreamError(plan.code, plan.detail);
      if (plan.skipped.length > 0) hooks.log?.warn(withCode('XWG_GW_UPSTREAM_DNS_FAILED', { domain, skipped: plan.skipped }), 'SRV records skipped');
      if (plan.fallback) hooks.log?.debug({ domain }, 'no SRV records: using the domain on port 5222 (RFC 6120 §3.2.2)');
      return failures.order(plan.targets, now());
    };
  };

  // One options object per upstream, shared by all its streams (not one per connection).
  const optionsCache = new Map<UpstreamServer, C2sOptions>();
  const optionsFor = (server: UpstreamServer): C2sOptions => {
    let o = optionsCache.get(server);
    if (!o) {
      o = {
        server,
        ca: caFor(server),
        targets: targetsOf(server),
        onAttempt: (target, ok) => (ok ? failures.succeeded(target) : failures.failed(target, now())),
        proxyProtocol: server.proxyProtocol ?? 'none',
        lookup: resolver?.lookup,
        connectTimeoutMs: config.upstream.connectTimeoutMs,
        whitespaceKeepaliveMs: config.upstream.whitespaceKeepaliveMs,
        limits,
        ...(hooks.onConnect ? { onConnect: hooks.onConnect } : {}),
      };
      optionsCache.set(server, o);
    }
    return o;
  };

  return {
    serves(domain) {
      const d = domain.toLowerCase();
      return (served.size === 0 || served.has(d)) && serverFor(d) !== undefined;
    },
    connect(domain, events, log, client) {
      const server = serverFor(domain.toLowerCase());
      if (!server) throw new Error(`no upstream for ${domain}`);
      return new C2sStream(domain, optionsFor(server), events, log, client);
    },
  };
}
