// The relay's stanza and byte counts are plain numbers on the hot path, folded into the Prometheus counters when
// they are collected: a scrape sees every stanza once, and a second scrape adds nothing that was not relayed.
import { describe, expect, it } from 'vitest';
import { createGatewayMetrics } from '../../../src/gateway/metrics.ts';

const series = (text: string, name: string) =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`))
      .map((l) => [l.slice(name.length, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]),
  );

describe('relay tallies', () => {
  it('one tally per transport and direction, folded into xwg_stanzas_total and xwg_bytes_total at each scrape', async () => {
    const m = createGatewayMetrics({ defaultMetrics: false });
    const wsIn = m.relayTally('websocket', 'in');
    expect(m.relayTally('websocket', 'in')).toBe(wsIn);
    wsIn.add(100);
    wsIn.add(50);
    m.relayTally('bosh', 'out').add(7);
    const first = await m.registry.metrics();
    expect(series(first, 'xwg_stanzas_total')).toEqual({ '{transport="websocket",direction="in"}': 2, '{transport="bosh",direction="out"}': 1 });
    expect(series(first, 'xwg_bytes_total')).toEqual({ '{transport="websocket",direction="in"}': 150, '{transport="bosh",direction="out"}': 7 });

    // Nothing relayed since: the same totals, not twice them.
    expect(series(await m.registry.metrics(), 'xwg_stanzas_total')).toEqual(series(first, 'xwg_stanzas_total'));
    wsIn.add(1);
    const third = await m.registry.metrics();
    expect(series(third, 'xwg_stanzas_total')['{transport="websocket",direction="in"}']).toBe(3);
    expect(series(third, 'xwg_bytes_total')['{transport="websocket",direction="in"}']).toBe(151);
  });
});
