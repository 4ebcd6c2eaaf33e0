// DNS for upstreams: SRV lookups of a domain (cached briefly, concurrent lookups shared) and, when
// upstream.dns.servers is set, the host names of targets too, all through one dns.Resolver.
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import type { GatewayConfig, UpstreamTlsMode } from '../../shared/gateway-config/schema.ts';
import { planFromSrv, type SrvLookup, type SrvPlan } from './srv.ts';

type DnsConfig = GatewayConfig['upstream']['dns'];

/** Codes c-ares gives for "no such records": the name or the type does not exist. */
const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'NOTFOUND', 'NODATA']);

type Answers = [SrvLookup | undefined, SrvLookup];

export class UpstreamResolver {
  readonly #resolver: dns.promises.Resolver;
  readonly #custom: boolean;
  readonly #cacheMs: number;
  readonly #cache = new Map<string, { at: number; answers: Promise<Answers> }>();
  readonly #random: () => number;
  readonly #now: () => number;

  constructor(config: DnsConfig, options: { random?: () => number; now?: () => number } = {}) {
    this.#resolver = new dns.promises.Resolver({ timeout: config.timeoutMs, tries: config.tries });
    this.#custom = config.servers.length > 0;
    // setServers throws a TypeError naming the entry when one is not an address.
    if (this.#custom) this.#resolver.setServers(config.servers);
    this.#cacheMs = config.cacheMs;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The SRV plan for `domain` (see planFromSrv): answers are cached, the weighted order is drawn anew each call. */
  async plan(domain: string, mode: UpstreamTlsMode): Promise<SrvPlan> {
    const key = `${mode}|${domain}`;
    const now = this.#now();
    let entry = this.#cache.get(key);
    if (!entry || now - entry.at >= this.#cacheMs) {
      entry = { at: now, answers: this.#lookup(domain, mode) };
      if (this.#cacheMs > 0) {
        if (this.#cache.size >= 10_000) this.#cache.clear();
        this.#cache.set(key, entry);
      }
    }
    const [xmpp, xmpps] = await entry.answers;
    return planFromSrv(domain, mode, xmpp, xmpps, this.#random);
  }

  async #lookup(domain: string, mode: UpstreamTlsMode): Promise<Answers> {
    const srv = async (name: string): Promise<SrvLookup> => {
      try {
        return { records: await this.#resolver.resolveSrv(name) };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (NOT_FOUND.has(code)) return { none: true };
        return { failed: `${code || 'error'} ${(err as Error).message}` };
      }
    };
    return Promise.all([mode === 'directTLS' ? undefined : srv(`_xmpp-client._tcp.${domain}`), srv(`_xmpps-client._tcp.${domain}`)]);
  }

  /**
   * A `lookup` for net.connect that asks the configured DNS servers (A and AAAA), or undefined to use the
   * system resolver.
   */
  get lookup(): LookupFunction | undefined {
    if (!this.#custom) return undefined;
    const resolver = this.#resolver;
    const lookup: LookupFunction = (hostname, options, callback) => {
      const family = typeof options === 'object' ? options.family : undefined;
      const want4 = family === undefined || family === 0 || family === 4 || family === 'IPv4';
      const want6 = family === undefined || family === 0 || family === 6 || family === 'IPv6';
      void Promise.all([
        want4 ? resolver.resolve4(hostname).catch((e: NodeJS.ErrnoException) => e) : [],
        want6 ? resolver.resolve6(hostname).catch((e: NodeJS.ErrnoException) => e) : [],
      ]).then(([v4, v6]) => {
        const addresses = [
          ...(Array.isArray(v4) ? v4.map((address) => ({ address, family: 4 })) : []),
          ...(Array.isArray(v6) ? v6.map((address) => ({ address, family: 6 })) : []),
        ];
        if (addresses.length === 0) {
          const err = (v4 instanceof Error ? v4 : v6 instanceof Error ? v6 : new Error(`no address for ${hostname}`)) as NodeJS.ErrnoException;
          callback(Object.assign(new Error(`DNS lookup of ${hostname}: ${err.code ?? err.message}`), { code: err.code ?? 'ENOTFOUND' }), '', 4);
          return;
        }
        if (typeof options === 'object' && options.all) (callback as unknown as (e: null, a: typeof addresses) => void)(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      });
    };
    return lookup;
  }
}
