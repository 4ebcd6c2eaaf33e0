// The gateway's default process metrics without prom-client's index: the same series, names and types as
// prom-client's own collectDefaultMetrics, and process CPU counting.
import * as prom from 'prom-client';
import { describe, expect, it } from 'vitest';
import { collectDefaultMetrics, Registry } from '../../../src/gateway/prometheus.ts';

const series = async (r: prom.Registry) => (await r.getMetricsAsJSON()).map((m) => `${m.name} ${m.type}`).sort();

describe('default process metrics', () => {
  it("are prom-client's collectDefaultMetrics, series for series", async () => {
    const ours = new Registry();
    collectDefaultMetrics(ours, 'xwg_process_');
    const theirs = new prom.Registry();
    prom.collectDefaultMetrics({ register: theirs, prefix: 'xwg_process_' });
    expect(await series(ours)).toEqual(await series(theirs));
    expect(await series(ours)).toContain('xwg_process_process_cpu_seconds_total counter');
  });

  it('count CPU time: user + system equals the total, and it grows', async () => {
    const r = new Registry();
    collectDefaultMetrics(r, 'p_');
    const read = async () => {
      const all = await r.getMetricsAsJSON();
      const v = (name: string) => all.find((m) => m.name === name)!.values[0]!.value;
      return { user: v('p_process_cpu_user_seconds_total'), system: v('p_process_cpu_system_seconds_total'), total: v('p_process_cpu_seconds_total') };
    };
    const a = await read();
    const until = performance.now() + 30;
    while (performance.now() < until); // spend some CPU
    const b = await read();
    expect(b.total).toBeGreaterThan(a.total);
    expect(b.user + b.system).toBeCloseTo(b.total, 6);
  });
});
