// Memory after hostile input: a gateway in front of the stub takes every attack of the hostile-input suite
// (dev/harness/hostile-inputs.ts) over WebSocket and BOSH for a number of rounds, then is left idle; its RSS
// is read before (after a warm-up), at the peak and once it has settled. Issue 14's goal: back within 20% of
// where it started.
import { boshAttack, boshAttacks, wsAttack, wsAttacks } from '../../dev/harness/hostile-inputs.ts';
import { rssBytes } from '../../dev/bench/proc.ts';
import { benchGatewayConfig, metricValue, spawnGateway, spawnStub } from '../../dev/bench/servers.ts';
import { sleep } from '../../dev/bench/stats.ts';

export interface HostileResult {
  rounds: number;
  attacks: number;
  /** answers that were not the ones owed (the suite checks them; here they are only counted) */
  unexpected: number;
  rssStart: number;
  rssPeak: number;
  rssAfter: number;
  heapStart?: number;
  heapAfter?: number;
  /** V8 heap spaces (committed) and external memory, MiB, from the gateway's /metrics: where the RSS stays */
  spacesStart: Record<string, number>;
  spacesAfter: Record<string, number>;
  settleMs: number;
}

async function mapLimit<T>(items: readonly T[], limit: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) await f(items[i]!);
  }));
}

export async function measureHostile(options: { rounds: number; settleMs: number; maxMs: number; log: (line: string) => void; nodeArgs?: string[]; imageNodeOptions?: boolean; env?: Record<string, string> }): Promise<HostileResult> {
  const stub = await spawnStub({ maxMs: options.maxMs, name: 'stub-hostile' });
  // The suite's node runs with these limits (a 256 KiB stanza and BOSH body).
  const gateway = await spawnGateway({
    config: benchGatewayConfig({ host: '127.0.0.1', port: stub.ports[0], tls: 'none' }, { limits: { maxStanzaBytes: 262_144 }, bosh: { maxBodyBytes: 262_144 } }),
    maxMs: options.maxMs,
    name: 'gateway-hostile',
    ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
    ...(options.imageNodeOptions !== undefined ? { imageNodeOptions: options.imageNodeOptions } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  const heap = async () => metricValue(await gateway.metrics(), 'xwg_process_nodejs_heap_size_used_bytes');
  const spaces = async () => {
    const out: Record<string, number> = {};
    for (const line of (await gateway.metrics()).split('\n')) {
      const m = /^xwg_process_nodejs_(?:heap_space_size_total_bytes\{space="([a-z_]+)"\}|(external_memory_bytes|heap_size_total_bytes)) ([0-9.e+]+)$/.exec(line);
      if (m) out[m[1] ?? m[2]!] = Math.round((Number(m[3]) / 2 ** 20) * 10) / 10;
    }
    return out;
  };
  try {
    let unexpected = 0;
    const round = async () => {
      await mapLimit(wsAttacks, 8, async (a) => {
        const r = await wsAttack(gateway.wsUrl, a);
        if (JSON.stringify(r.outcome) !== JSON.stringify(a.expected)) unexpected++;
      });
      await mapLimit(boshAttacks, 8, async (a) => {
        const r = await boshAttack(gateway.boshUrl, a);
        if (!(r.status === 400 || r.condition === 'bad-request' || /^(EPIPE|ECONNRESET)$/.test(r.error ?? ''))) unexpected++;
      });
    };
    // Warm-up: every attack once (code compiled, first buffers made), then the start is read.
    await round();
    await sleep(3_000);
    const rssStart = rssBytes(gateway.pid);
    const heapStart = await heap();
    const spacesStart = await spaces();
    let rssPeak = rssStart;
    unexpected = 0;
    for (let r = 0; r < options.rounds; r++) {
      await round();
      rssPeak = Math.max(rssPeak, rssBytes(gateway.pid));
    }
    options.log(`  hostile: ${options.rounds} rounds of ${wsAttacks.length + boshAttacks.length} attacks, RSS ${(rssStart / 2 ** 20).toFixed(1)} → peak ${(rssPeak / 2 ** 20).toFixed(1)} MiB; settling ${options.settleMs / 1000} s`);
    await sleep(options.settleMs);
    const rssAfter = rssBytes(gateway.pid);
    const heapAfter = await heap();
    const spacesAfter = await spaces();
    return {
      rounds: options.rounds,
      attacks: wsAttacks.length + boshAttacks.length,
      unexpected,
      rssStart,
      rssPeak,
      rssAfter,
      ...(heapStart !== undefined ? { heapStart } : {}),
      ...(heapAfter !== undefined ? { heapAfter } : {}),
      settleMs: options.settleMs,
      spacesStart,
      spacesAfter,
    };
  } finally {
    await gateway.stop();
    await stub.stop();
  }
}
