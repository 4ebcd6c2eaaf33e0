// Failed servers go last for the back-off, in order of recovery; the rest keep their order.
import { describe, expect, it } from 'vitest';
import { FailureMemory } from '../../../src/gateway/upstream/failover.ts';
import type { Target } from '../../../src/gateway/upstream/srv.ts';

const t = (host: string): Target => ({ host, port: 5222, tls: 'none' });
const hosts = (xs: readonly Target[]) => xs.map((x) => x.host);
const [a, b, c] = [t('a'), t('b'), t('c')];

type Step = ['fail' | 'ok', Target, number] | ['order', number, string[]];

describe('FailureMemory', () => {
  const cases: [string, number, Step[]][] = [
    ['untouched: configured order', 1000, [['order', 0, ['a', 'b', 'c']]]],
    ['a failed server goes last', 1000, [['fail', a, 0], ['order', 10, ['b', 'c', 'a']]]],
    ['back after the back-off', 1000, [['fail', a, 0], ['order', 999, ['b', 'c', 'a']], ['order', 1000, ['a', 'b', 'c']]]],
    ['a success clears it at once', 1000, [['fail', b, 0], ['ok', b, 5], ['order', 6, ['a', 'b', 'c']]]],
    ['the soonest to recover first among failed', 1000, [['fail', b, 0], ['fail', a, 100], ['order', 200, ['c', 'b', 'a']]]],
    ['all failed: still all tried', 1000, [['fail', c, 0], ['fail', a, 1], ['fail', b, 2], ['order', 3, ['c', 'a', 'b']]]],
    ['back-off 0: never reorders', 0, [['fail', a, 0], ['order', 1, ['a', 'b', 'c']]]],
  ];
  it.each(cases)('%s', (_name, backoff, steps) => {
    const m = new FailureMemory(backoff);
    for (const step of steps) {
      if (step[0] === 'order') expect(hosts(m.order([a, b, c], step[1]))).toEqual(step[2]);
      else if (step[0] === 'fail') m.failed(step[1], step[2]);
      else m.succeeded(step[1]);
    }
  });

  it('remembers at most 10,000 servers: the expired go first, then the oldest failure', () => {
    const m = new FailureMemory(1000);
    for (let i = 0; i < 10_000; i++) m.failed(t(`h${i}`), i < 5 ? 0 : 500);
    m.failed(t('new'), 1200); // h0..h4 expired at 1000: they make room
    expect(m.coolingDown(1200)).toHaveLength(9_996);
    for (let i = 0; i < 10; i++) m.failed(t(`more${i}`), 1300);
    // Four fit; each of the six after them pushes out the oldest failure still remembered (h5…h10).
    const cooling = m.coolingDown(1300);
    expect(cooling).toHaveLength(10_000);
    expect(cooling).not.toContain('none|h10|5222');
    expect(cooling).toContain('none|h11|5222');
    expect(cooling).toContain('none|more9|5222');
  });

  it('tells a server apart by port and TLS mode', () => {
    const m = new FailureMemory(1000);
    m.failed({ host: 'a', port: 5223, tls: 'directTLS' }, 0);
    expect(hosts(m.order([a, b], 1))).toEqual(['a', 'b']);
    expect(m.coolingDown(1)).toEqual(['directTLS|a|5223']);
  });
});
