// The bench's targets are computed from one run's results: each names the measured figure, the reference
// measured beside it and their ratio, and says met or not against the goal.
import { describe, expect, it } from 'vitest';
import type { BenchResults } from '../../../bench/run.ts';
import type { RelayMeasurement } from '../../../bench/gateway/relay.ts';
import { goalLines, targets } from '../../../dev/bench/targets.ts';

const KiB = 1024;
const MiB = 2 ** 20;

const relay = (path: string, rate: number, gatewayUs?: number): RelayMeasurement => ({
  path,
  rate,
  latency: { p50: 1, p90: 1, p99: 2, max: 3, count: 10, mean: 1 } as RelayMeasurement['latency'],
  cpu: {},
  cpuPerMessageUs: gatewayUs === undefined ? {} : { gateway: gatewayUs },
  clientCpu: 0.5,
  errors: [],
  rounds: 1,
});

const snapshot = (rss: number) => ({ rss, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0, spaces: {} });

function results(): BenchResults {
  return {
    quick: false,
    command: 'node bench/run.ts',
    startedAt: '2026-12-08T00:00:00Z',
    machine: {} as BenchResults['machine'],
    loadBefore: 0,
    relay: {
      load: {} as never,
      results: [relay('raw-pipe', 100_000), relay('gateway/ws', 95_000, 10), relay('gateway/bosh', 30_000, 25), relay('prosody/ws', 80_000), relay('gw→prosody/ws', 90_000)],
    },
    memory: {
      pipe: { kind: 'raw-pipe', idle: { clients: 0, ...snapshot(40 * MiB) }, points: [{ clients: 1000, ...snapshot(50 * MiB) }], failed: 0, nodeOptions: [] },
      pipeImageV8: { kind: 'raw-pipe-image-v8', idle: { clients: 0, ...snapshot(40 * MiB) }, points: [{ clients: 1000, ...snapshot(48 * MiB) }], failed: 0, nodeOptions: ['--max-semi-space-size=4'] },
      gateway: { kind: 'gateway-ws', idle: { clients: 0, ...snapshot(60 * MiB) }, points: [{ clients: 1000, ...snapshot(72 * MiB) }], failed: 0, nodeOptions: ['--max-semi-space-size=4'] },
    },
    baseRss: { gateway: 70 * MiB, bareNode: 40 * MiB, samples: 3, command: 'node dist/cli/main.js gateway' },
    hostile: { rounds: 1, attacks: 2, unexpected: 0, rssStart: 100 * MiB, rssPeak: 150 * MiB, rssAfter: 110 * MiB, spacesStart: { new: 16, old: 10 }, spacesAfter: { new: 16, old: 10 }, settleMs: 1000 },
    operator: {
      convergence: [{ resources: 1000, ms: 90_000, converged: 1000, objects: 13_000, firstMs: 100 }],
      memory: { resources: 1000, rssBytes: 180 * MiB, idleRssBytes: 120 * MiB },
      notes: [],
    },
    skipped: {},
    errors: {},
  } as BenchResults;
}

const find = (list: ReturnType<typeof targets>, prefix: string) => {
  const t = list.find((x) => x.what.startsWith(prefix));
  if (!t) throw new Error(`no target starting with ${prefix}: ${list.map((x) => x.what).join('; ')}`);
  return t;
};

describe('bench targets', () => {
  const list = targets(results());

  it('relay throughput against the bare pipe: 95% meets the 90% goal, with both rates named', () => {
    const t = find(list, 'relay throughput, gateway/ws vs the bare');
    expect(t).toMatchObject({ measured: '95,000 msg/s', reference: 'raw pipe 100,000 msg/s', ratio: '95%', met: true });
  });

  it('BOSH CPU per message at 2.5× WebSocket misses the 2× goal', () => {
    expect(find(list, 'gateway CPU per relayed message, BOSH')).toMatchObject({ measured: 'BOSH 25.0 µs', reference: 'WebSocket 10.0 µs', ratio: '2.50×', met: false });
  });

  it('throughput against mod_websocket at 1.13× misses the 1.3× goal', () => {
    expect(find(list, "relay throughput, gw→prosody/ws vs Prosody's own mod_websocket")).toMatchObject({ ratio: '1.13×', met: false });
  });

  it('idle WebSocket memory from the curves: 12 KiB against 10 KiB per client is 1.20×, within 1.25×', () => {
    expect(find(list, 'idle WebSocket client, RSS growth per connection at 1,000 clients in one process')).toMatchObject({ measured: '12.3 KiB (with --max-semi-space-size=4)', reference: 'raw pipe 10.2 KiB at 1,000', ratio: '1.20×', met: true });
  });

  it('idle WebSocket memory against the pipe given the same V8 options: 12 KiB against 8 KiB is 1.50×, over 1.25×', () => {
    expect(find(list, 'idle WebSocket client at 1,000 clients, against the raw pipe given')).toMatchObject({ reference: 'raw pipe with --max-semi-space-size=4 8.2 KiB at 1,000', ratio: '1.50×', met: false });
  });

  it('base RSS of 70 MiB misses 60 MiB and is compared with the bare Node', () => {
    expect(find(list, 'gateway base RSS')).toMatchObject({ measured: '70.0 MiB', reference: 'bare Node 40.0 MiB', met: false });
  });

  it('hostile input: 1.10× after is within 1.2×', () => {
    expect(find(list, 'gateway RSS after hostile input')).toMatchObject({ reference: 'before 100.0 MiB', ratio: '1.10×', met: true });
  });

  it('the operator: 90 s for 1,000 resources and 180 MiB both miss, each with its ratio', () => {
    expect(find(list, 'operator: 1,000 resources applied at once')).toMatchObject({ measured: '90.00 s', ratio: '1.50× the goal', met: false });
    expect(find(list, 'operator RSS with 1,000 resources')).toMatchObject({ measured: '180 MiB', reference: 'the same operator with none 120 MiB', met: false });
  });

  it('prints one GOAL line per target, with the verdict', () => {
    const lines = goalLines(list);
    expect(lines).toHaveLength(list.length);
    expect(lines.find((l) => l.includes('base RSS'))).toMatch(/^GOAL .*70\.0 MiB vs bare Node 40\.0 MiB \(1\.75× bare Node; 1\.17× the goal\); goal ≤ 60 MiB \(issue 14\): NOT met$/);
  });

  it('leaves out what the run did not measure', () => {
    const partial = { ...results(), relay: undefined, operator: undefined };
    const names = targets(partial).map((t) => t.what);
    expect(names.some((n) => n.startsWith('relay throughput'))).toBe(false);
    expect(names.some((n) => n.startsWith('operator'))).toBe(false);
    expect(names.some((n) => n.startsWith('gateway base RSS'))).toBe(true);
  });

  it('per-session BOSH memory is compared with the goal', () => {
    const r = results();
    r.scale = [{ kind: 'gateway-bosh', requested: 100, connected: 100, failed: 0, processes: 1, acceptMs: 1, acceptRate: 1, rssIdle: 0, rssLoaded: 0, perClientBytes: 30 * KiB, dropped: 0, singleProcessEstimate: 0 }];
    expect(find(targets(r), 'idle BOSH session')).toMatchObject({ measured: '30.0 KiB', ratio: '1.25× the goal', met: false });
  });
});
