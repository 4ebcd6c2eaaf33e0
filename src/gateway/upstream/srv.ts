// Where a domain's c2s service is, from its SRV records: RFC 6120 §3.2.1 (_xmpp-client._tcp), XEP-0368
// (_xmpps-client._tcp, direct TLS, mixed with the former by priority and weight) and RFC 2782's ordering.
// Pure: the lookups' outcomes and a random source in, an ordered list of targets out.
import type { UpstreamTlsMode } from '../../shared/gateway-config/schema.ts';

/** One place to dial: host, port, and how TLS is done there. */
export interface Target {
  readonly host: string;
  readonly port: number;
  readonly tls: UpstreamTlsMode;
}

export interface Weighted {
  readonly priority: number;
  readonly weight: number;
}

/**
 * RFC 2782 "Usage rules": ascending priority; within one priority, repeatedly pick at random with
 * probability proportional to weight. A draw in [0, sum) against the running sum (as Go's net package
 * does) keeps the proportions exact, where the RFC's inclusive range favours whichever record is listed
 * first; weight-0 records come after the weighted ones, in their order, so an all-zero group (a static
 * list without weights) keeps its order. `random` returns [0, 1).
 */
export function orderByPriorityAndWeight<T extends Weighted>(records: readonly T[], random: () => number): T[] {
  const priorities = [...new Set(records.map((r) => r.priority))].sort((a, b) => a - b);
  const out: T[] = [];
  for (const p of priorities) {
    const left = records.filter((r) => r.priority === p);
    let sum = left.reduce((n, r) => n + r.weight, 0);
    while (sum > 0) {
      const draw = Math.min(sum - 1, Math.floor(random() * sum));
      let running = 0;
      const i = left.findIndex((r) => (running += r.weight) > draw);
      const [chosen] = left.splice(i, 1);
      out.push(chosen!);
      sum -= chosen!.weight;
    }
    out.push(...left);
  }
  return out;
}

/** A record as Node's resolveSrv returns it. */
export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** One lookup's outcome: records, "no such records" (NXDOMAIN/NODATA), or a failure. */
export type SrvLookup = { readonly records: readonly SrvRecord[] } | { readonly none: true } | { readonly failed: string };

export type SrvPlan =
  | { readonly kind: 'targets'; readonly targets: readonly Target[]; readonly skipped: readonly string[]; readonly fallback: boolean }
  | { readonly kind: 'unavailable'; readonly detail: string }
  | { readonly kind: 'failed'; readonly code: 'XWG_GW_UPSTREAM_DNS_FAILED' | 'XWG_GW_UPSTREAM_SRV_NO_RECORDS'; readonly detail: string };

const HOST_LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;

/** A record naming a dialable host and port, or why not. */
function check(r: SrvRecord): string | undefined {
  if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) return `port ${r.port}`;
  if (!Number.isInteger(r.priority) || r.priority < 0 || r.priority > 65535) return `priority ${r.priority}`;
  if (!Number.isInteger(r.weight) || r.weight < 0 || r.weight > 65535) return `weight ${r.weight}`;
  const name = r.name.replace(/\.$/, '');
  if (name.length === 0 || name.length > 253 || !name.split('.').every((l) => HOST_LABEL.test(l))) return `target ${JSON.stringify(r.name)}`;
  return undefined;
}

/** RFC 2782: a single record with target "." means the service is decidedly not available. */
const isDot = (l: SrvLookup) => 'records' in l && l.records.length === 1 && (l.records[0]!.name === '.' || l.records[0]!.name === '');

/**
 * The targets for `domain`. `mode` is the upstream's tls setting: starttls (default) or none apply to
 * _xmpp-client records, _xmpps-client records are always direct TLS; directTLS uses _xmpps-client only.
 * `xmpps` is undefined when it was not looked up. `random` orders equal priorities by weight.
 */
export function planFromSrv(domain: string, mode: UpstreamTlsMode, xmpp: SrvLookup | undefined, xmpps: SrvLookup | undefined, random: () => number): SrvPlan {
  const skipped: string[] = [];
  const candidates: (Target & Weighted)[] = [];
  const take = (lookup: SrvLookup | undefined, service: string, tls: UpstreamTlsMode) => {
    if (!lookup || !('records' in lookup) || isDot(lookup)) return;
    for (const r of lookup.records) {
      const bad = check(r);
      if (bad) {
        skipped.push(`_${service}._tcp.${domain}: ${bad}`);
        continue;
      }
      candidates.push({ host: r.name.replace(/\.$/, ''), port: r.port, tls, priority: r.priority, weight: r.weight });
    }
  };
  const xmppMode: UpstreamTlsMode = mode === 'none' ? 'none' : 'starttls';
  if (mode !== 'directTLS') take(xmpp, 'xmpp-client', xmppMode);
  take(xmpps, 'xmpps-client', 'directTLS');
  if (candidates.length > 0) return { kind: 'targets', targets: orderByPriorityAndWeight(candidates, random).map(({ host, port, tls }) => ({ host, port, tls })), skipped, fallback: false };

  const failures = [xmpp, xmpps].flatMap((l, i) => (l && 'failed' in l ? [`_${i === 0 ? 'xmpp' : 'xmpps'}-client._tcp.${domain}: ${l.failed}`] : []));
  if (mode === 'directTLS') {
    if (xmpps && isDot(xmpps)) return { kind: 'unavailable', detail: `_xmpps-client._tcp.${domain} has target "."` };
    if (failures.length > 0) return { kind: 'failed', code: 'XWG_GW_UPSTREAM_DNS_FAILED', detail: failures.join('; ') };
    return { kind: 'failed', code: 'XWG_GW_UPSTREAM_SRV_NO_RECORDS', detail: [`no _xmpps-client._tcp.${domain} records`, ...skipped].join('; ') };
  }
  if (xmpp && isDot(xmpp)) return { kind: 'unavailable', detail: `_xmpp-client._tcp.${domain} has target "."` };
  // XEP-0368 §5: a "." for direct TLS still says SRV is in use: no A/AAAA fallback.
  if (xmpps && isDot(xmpps)) {
    return failures.length > 0
      ? { kind: 'failed', code: 'XWG_GW_UPSTREAM_DNS_FAILED', detail: failures.join('; ') }
      : { kind: 'failed', code: 'XWG_GW_UPSTREAM_SRV_NO_RECORDS', detail: [`no usable _xmpp-client._tcp.${domain} record and _xmpps-client is "."`, ...skipped].join('; ') };
  }
  // A failed lookup is not "no records": falling back then would reach another host than the records name.
  if (failures.length > 0) return { kind: 'failed', code: 'XWG_GW_UPSTREAM_DNS_FAILED', detail: failures.join('; ') };
  if (skipped.length > 0) return { kind: 'failed', code: 'XWG_GW_UPSTREAM_DNS_FAILED', detail: `no usable SRV record: ${skipped.join('; ')}` };
  // RFC 6120 §3.2.2: no SRV records at all: the domain itself, on the default port.
  return { kind: 'targets', targets: [{ host: domain, port: 5222, tls: xmppMode }], skipped, fallback: true };
}
