// RFC 2782 ordering and the SRV plan of RFC 6120 §3.2.1 / XEP-0368, with a scripted random source.
import { describe, expect, it } from 'vitest';
import { orderByPriorityAndWeight, planFromSrv, type SrvLookup, type SrvRecord } from '../../../src/gateway/upstream/srv.ts';

/** A random source that returns the given values in turn. */
const script = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};
const r = (name: string, port: number, priority: number, weight: number): SrvRecord => ({ name, port, priority, weight });
const names = (xs: readonly { name?: string; host?: string }[]) => xs.map((x) => x.name ?? x.host);

describe('orderByPriorityAndWeight', () => {
  const cases: [string, SrvRecord[], number[], string[]][] = [
    ['ascending priority', [r('c', 1, 20, 0), r('a', 1, 0, 0), r('b', 1, 10, 0)], [0], ['a', 'b', 'c']],
    ['all-zero weights keep their order', [r('a', 1, 0, 0), r('b', 1, 0, 0), r('c', 1, 0, 0)], [0.99], ['a', 'b', 'c']],
    // sum 30 (a:10, b:20): draw floor(0.2*30) = 6 < 10 → a; then only b.
    ['a low draw picks the first weight', [r('a', 1, 0, 10), r('b', 1, 0, 20)], [0.2, 0], ['a', 'b']],
    // draw floor(0.5*30) = 15 ≥ 10 → b.
    ['a higher draw picks the heavier', [r('a', 1, 0, 10), r('b', 1, 0, 20)], [0.5, 0], ['b', 'a']],
    // draw floor(0.34*30) = 10: the boundary belongs to b.
    ['the boundary goes to the next record', [r('a', 1, 0, 10), r('b', 1, 0, 20)], [0.34, 0], ['b', 'a']],
    ['weight 0 after every weighted record, in order', [r('z', 1, 0, 0), r('a', 1, 0, 5), r('y', 1, 0, 0)], [0], ['a', 'z', 'y']],
    ['priorities are never mixed by weight', [r('b', 1, 1, 100), r('a', 1, 0, 1)], [0.99], ['a', 'b']],
  ];
  it.each(cases)('%s', (_name, records, draws, expected) => {
    expect(names(orderByPriorityAndWeight(records, script(...draws)))).toEqual(expected);
  });

  it('chooses in proportion to weight', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const firsts = { a: 0, b: 0 };
    for (let i = 0; i < 4000; i++) firsts[orderByPriorityAndWeight([r('a', 1, 0, 1), r('b', 1, 0, 3)], rnd)[0]!.name as 'a' | 'b']++;
    // 1:3 expected: a's share 25%, within 20%..30% (deterministic seed).
    expect(firsts.a / 4000).toBeGreaterThan(0.2);
    expect(firsts.a / 4000).toBeLessThan(0.3);
  });
});

describe('planFromSrv', () => {
  const rec = (...records: SrvRecord[]): SrvLookup => ({ records });
  const none: SrvLookup = { none: true };
  const failed: SrvLookup = { failed: 'ETIMEOUT queryTimeout' };
  const first = () => 0;

  it('mixes _xmpp-client and _xmpps-client by priority (XEP-0368 §3), xmpps as direct TLS', () => {
    const plan = planFromSrv('example.com', 'starttls', rec(r('x.example.com.', 5222, 10, 0)), rec(r('s.example.com.', 5223, 5, 0)), first);
    expect(plan).toEqual({
      kind: 'targets',
      targets: [
        { host: 's.example.com', port: 5223, tls: 'directTLS' },
        { host: 'x.example.com', port: 5222, tls: 'starttls' },
      ],
      skipped: [],
      fallback: false,
    });
  });

  it('tls none keeps _xmpp-client records plain', () => {
    const plan = planFromSrv('example.com', 'none', rec(r('x', 1, 0, 0)), none, first);
    expect(plan.kind === 'targets' && plan.targets).toEqual([{ host: 'x', port: 1, tls: 'none' }]);
  });

  it('directTLS uses _xmpps-client only, and has no fallback', () => {
    expect(planFromSrv('example.com', 'directTLS', undefined, rec(r('s', 5223, 0, 0)), first)).toMatchObject({ kind: 'targets', targets: [{ host: 's', tls: 'directTLS' }] });
    expect(planFromSrv('example.com', 'directTLS', undefined, none, first)).toMatchObject({ kind: 'failed', code: 'XWG_GW_UPSTREAM_SRV_NO_RECORDS' });
    expect(planFromSrv('example.com', 'directTLS', undefined, rec(r('.', 0, 0, 0)), first)).toMatchObject({ kind: 'unavailable' });
  });

  it('no records at all: the domain itself on 5222 (RFC 6120 §3.2.2)', () => {
    expect(planFromSrv('example.com', 'starttls', none, none, first)).toEqual({
      kind: 'targets',
      targets: [{ host: 'example.com', port: 5222, tls: 'starttls' }],
      skipped: [],
      fallback: true,
    });
  });

  it('"." for _xmpp-client: decidedly not available (RFC 2782)', () => {
    expect(planFromSrv('example.com', 'starttls', rec(r('.', 0, 0, 0)), none, first)).toMatchObject({ kind: 'unavailable' });
  });

  it('"." for _xmpps-client alone: use _xmpp-client, never the A fallback (XEP-0368 §5)', () => {
    expect(planFromSrv('example.com', 'starttls', rec(r('x', 5222, 0, 0)), rec(r('.', 0, 0, 0)), first)).toMatchObject({ kind: 'targets', targets: [{ host: 'x' }], fallback: false });
    expect(planFromSrv('example.com', 'starttls', none, rec(r('.', 0, 0, 0)), first)).toMatchObject({ kind: 'failed', code: 'XWG_GW_UPSTREAM_SRV_NO_RECORDS' });
  });

  it('a failed lookup beside records uses the records', () => {
    expect(planFromSrv('example.com', 'starttls', rec(r('x', 5222, 0, 0)), failed, first)).toMatchObject({ kind: 'targets', targets: [{ host: 'x' }] });
  });

  it('failed lookups never fall back to the domain', () => {
    const plan = planFromSrv('example.com', 'starttls', failed, none, first);
    expect(plan).toMatchObject({ kind: 'failed', code: 'XWG_GW_UPSTREAM_DNS_FAILED' });
    expect(plan.kind === 'failed' && plan.detail).toContain('_xmpp-client._tcp.example.com: ETIMEOUT');
  });

  it('skips malformed records and names them; only malformed ones is a DNS failure', () => {
    const mixed = planFromSrv('example.com', 'starttls', rec(r('bad..name', 5222, 0, 0), r('ok', 0, 0, 0), r('good', 5222, 1, 0)), none, first);
    expect(mixed).toMatchObject({ kind: 'targets', targets: [{ host: 'good' }] });
    expect(mixed.kind === 'targets' && mixed.skipped).toEqual(['_xmpp-client._tcp.example.com: target "bad..name"', '_xmpp-client._tcp.example.com: port 0']);
    expect(planFromSrv('example.com', 'starttls', rec(r('-x-', 5222, 0, 0)), none, first)).toMatchObject({ kind: 'failed', code: 'XWG_GW_UPSTREAM_DNS_FAILED' });
  });
});
