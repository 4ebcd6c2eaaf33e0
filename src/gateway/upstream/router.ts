// Chooses the upstream server for the XMPP domain a client asks for: a static map with a default.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { GatewayConfig, UpstreamServer } from '../../shared/gateway-config/schema.ts';
import type { XmlLimits } from '../xml/limits.ts';
import { C2sStream, type C2sOptions } from './c2s.ts';
import type { UpstreamEvents, UpstreamStream } from './types.ts';

export interface UpstreamRouter {
  /** Whether the gateway serves this domain (else the client gets host-unknown). */
  serves(domain: string): boolean;
  connect(domain: string, events: UpstreamEvents, log: Logger): UpstreamStream;
}

export interface RouterHooks {
  onConnect?: (seconds: number, ok: boolean) => void;
}

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
  const serverFor = (domain: string): UpstreamServer | undefined => config.upstream.domains[domain] ?? config.upstream.default;

  // One options object per upstream server, shared by all its streams (not one per connection).
  const optionsCache = new Map<UpstreamServer, C2sOptions>();
  const optionsFor = (server: UpstreamServer): C2sOptions => {
    let o = optionsCache.get(server);
    if (!o) {
      o = {
        server,
        ca: caFor(server),
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
    connect(domain, events, log) {
      const server = serverFor(domain.toLowerCase());
      if (!server) throw new Error(`no upstream for ${domain}`);
      return new C2sStream(domain, optionsFor(server), events, log);
    },
  };
}
