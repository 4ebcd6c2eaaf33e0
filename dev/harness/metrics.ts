// Reading a gateway's own Prometheus metrics, so tests wait on what the gateway reports instead of on time.
import { eventually } from './wait.ts';

/** The value of one sample (`name{labels}`) from a Prometheus text page; 0 when absent. */
export function sampleOf(page: string, name: string, labels = ''): number {
  const escaped = `${name}${labels}`.replace(/[{}.*+?^$()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(page);
  return m ? Number(m[1]) : 0;
}

export async function metricsPage(metricsUrl: string): Promise<string> {
  const res = await fetch(metricsUrl);
  if (!res.ok) throw new Error(`${metricsUrl}: HTTP ${res.status}`);
  return res.text();
}

/** BOSH requests the gateway holds open right now (xwg_bosh_held_requests, read at scrape time). */
export async function heldBoshRequests(metricsUrl: string): Promise<number> {
  return sampleOf(await metricsPage(metricsUrl), 'xwg_bosh_held_requests');
}

/** Until the gateway holds at least `n` more BOSH requests than `before`: those requests arrived and wait. */
export async function untilHeld(metricsUrl: string, before: number, n = 1): Promise<void> {
  await eventually(`${n} more held BOSH request(s) than ${before}`, async () => (await heldBoshRequests(metricsUrl)) >= before + n, { timeoutMs: 10_000, everyMs: 25 });
}
