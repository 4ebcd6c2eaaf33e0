// The benchmark suite: `npm run bench` (full, takes a while) or `npm run bench -- --quick` (a tiny size of
// every scenario in well under a minute, checking only that everything works and produces numbers).
//
//   node bench/run.ts [--quick] [--only relay,latency,bosh,scale,memory,base-rss,profile,hostile,operator] [--rounds N]
//                     [--scale 10000,100000] [--out results.json] [--markdown results.md] [--no-prosody]
//   node bench/run.ts --only pod-start,pod-memory [--pod-rounds 5] [--pod-clients 1000]
//
// pod-start and pod-memory run the gateway as real pods on the local cluster's real node (root, containerd;
// bench/pods/pods.ts): they run only when named in --only, not in the default set nor in --quick.
// Every server runs on loopback in a bounded child process and stops by itself. The bench reports against
// the targets and never fails on them: it exits non-zero only when a scenario could not run at all.
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startEnv } from './gateway/env.ts';
import { measurePaths, paths, type RelayLoad, type RelayMeasurement } from './gateway/relay.ts';
import { measureScale, perProcessCapacity, type ScaleKind, type ScaleResult } from './gateway/scale.ts';
import { measureHostile, type HostileResult } from './gateway/hostile.ts';
import { summarizeProfile, type ProfileSummary } from '../dev/bench/cpuprofile.ts';
import { loadAverage } from '../dev/bench/proc.ts';
import { describeMachine, type MachineInfo } from '../dev/bench/machine.ts';
import { markdownReport } from '../dev/bench/report.ts';
import { measureRelayForProfile } from './gateway/profile.ts';
import { runOperatorBench, type OperatorResults } from './operator/operator.ts';
import { runPodBench, type PodResults } from './pods/pods.ts';
import { measureBaseRss, type BaseRssResult } from './gateway/base-rss.ts';
import { measureMemoryCurve, type MemoryCurve } from './gateway/memory.ts';
import { asciiPlot, memoryTable } from './gateway/memory-report.ts';
import { goalLines, targets } from '../dev/bench/targets.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    rounds: { type: 'string' },
    scale: { type: 'string' },
    out: { type: 'string' },
    markdown: { type: 'string' },
    'no-prosody': { type: 'boolean', default: false },
    'steady-seconds': { type: 'string' },
    'operator-counts': { type: 'string' },
    'pod-rounds': { type: 'string' },
    'pod-clients': { type: 'string' },
  },
});

const quick = values.quick;
const ALL = ['relay', 'latency', 'bosh', 'scale', 'memory', 'base-rss', 'profile', 'hostile', 'operator'] as const;
/** Real pods on the real node: named in --only, never by default. */
const POD_SECTIONS = ['pod-start', 'pod-memory'] as const;
type Section = (typeof ALL)[number] | (typeof POD_SECTIONS)[number];
const only = new Set<Section>((values.only?.split(',') as Section[] | undefined) ?? ALL);
for (const s of only) if (![...ALL, ...POD_SECTIONS].includes(s)) throw new Error(`--only: unknown part ${s} (parts: ${[...ALL, ...POD_SECTIONS].join(', ')})`);
const started = performance.now();
const log = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);

export interface BenchResults {
  quick: boolean;
  command: string;
  startedAt: string;
  machine: MachineInfo;
  loadBefore: number;
  loadAfter?: number;
  relay?: { load: RelayLoad; results: RelayMeasurement[] };
  latency?: { load: RelayLoad; results: RelayMeasurement[] };
  bosh?: { sessions: number; load: RelayLoad; results: RelayMeasurement[] }[];
  scale?: ScaleResult[];
  profile?: { rate: number; summary: ProfileSummary; file: string };
  /** issue 14: gateway RSS before and after a run of hostile input */
  hostile?: HostileResult;
  operator?: OperatorResults;
  pods?: PodResults;
  /** issue 14: idle WebSocket memory against the raw pipe, and the gateway's base RSS */
  memory?: { pipe?: MemoryCurve; pipeImageV8?: MemoryCurve; gateway?: MemoryCurve };
  baseRss?: BaseRssResult;
  skipped: Record<string, string>;
  errors: Record<string, string>;
}

const sizes = quick
  ? {
      relay: { pairs: 5, self: false, window: 5, bytes: 200, warmupMs: 200, durationMs: 600 },
      latency: { pairs: 1, self: true, window: 1, bytes: 200, warmupMs: 100, durationMs: 400 },
      latencyPaths: ['stub/tcp', 'raw-pipe', 'gateway/ws', 'gateway/bosh', 'prosody/ws', 'gw→prosody/ws'],
      bosh: [10],
      boshLoad: { warmupMs: 200, durationMs: 600 },
      rounds: 1,
      scale: [200],
      memory: [100, 200],
      profileMs: 1000,
    }
  : {
      relay: { pairs: 50, self: false, window: 20, bytes: 200, warmupMs: 2000, durationMs: 8000 },
      latency: { pairs: 1, self: true, window: 1, bytes: 200, warmupMs: 1000, durationMs: 5000 },
      latencyPaths: undefined as string[] | undefined,
      bosh: [40, 200],
      boshLoad: { warmupMs: 2000, durationMs: 8000 },
      rounds: 3,
      scale: [10_000, 100_000],
      // 9,900: the most one process holds under the open-file limit of 20,000 (two descriptors per client).
      memory: [1_000, 5_000, 9_900],
      profileMs: 10_000,
    };
const rounds = values.rounds ? Number(values.rounds) : sizes.rounds;
const scaleCounts = values.scale ? values.scale.split(',').map(Number) : sizes.scale;

async function main(): Promise<number> {
  const machine = await describeMachine();
  const results: BenchResults = {
    quick,
    command: `node bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
    startedAt: new Date().toISOString(),
    machine,
    loadBefore: loadAverage(),
    skipped: {},
    errors: {},
  };
  log(`xmpp-web-gateway bench${quick ? ' (quick)' : ''}: ${machine.cpus} × ${machine.cpuModel}, ${machine.memory}, Node ${machine.node}, Prosody ${machine.prosody ?? 'n/a'}; load ${results.loadBefore}`);
  const maxMs = quick ? 5 * 60_000 : 3 * 60 * 60_000;

  const gatewayParts = (['relay', 'latency', 'bosh', 'profile'] as const).filter((s) => only.has(s));
  if (gatewayParts.length > 0) {
    const users = Math.max(2 * sizes.relay.pairs, ...sizes.bosh, 2);
    log(`starting stub, raw pipe, gateway${values['no-prosody'] ? '' : ', Prosody and a gateway in front of it'}`);
    const env = await startEnv({ users, maxMs, prosody: !values['no-prosody'] });
    if (env.prosodySkipped) results.skipped.prosody = env.prosodySkipped;
    try {
      const all = paths(env);
      if (only.has('relay')) {
        const load = sizes.relay;
        log(`relay throughput: ${load.pairs} sender/receiver pairs, ${load.window} messages in flight per sender, ${load.bytes}-byte messages, ${load.durationMs / 1000} s after ${load.warmupMs / 1000} s warm-up, ${rounds} round(s)`);
        results.relay = { load, results: await measurePaths(all, load, rounds, log) };
      }
      if (only.has('latency')) {
        const load = sizes.latency;
        log(`unloaded latency: one client pinging itself, one message in flight, ${load.durationMs / 1000} s, ${rounds} round(s)`);
        const latencyPaths = sizes.latencyPaths ? all.filter((p) => sizes.latencyPaths!.includes(p.name)) : all;
        results.latency = { load, results: await measurePaths(latencyPaths, load, rounds, log) };
      }
      if (only.has('bosh')) {
        results.bosh = [];
        const boshPaths = all.filter((p) => p.target.transport === 'bosh');
        for (const sessions of sizes.bosh) {
          const load: RelayLoad = { pairs: sessions, self: true, window: 1, bytes: 200, ...sizes.boshLoad };
          log(`BOSH round trips: ${sessions} long-polling sessions, each pinging itself with one message in flight`);
          results.bosh.push({ sessions, load, results: await measurePaths(boshPaths, load, rounds, log) });
        }
      }
      if (only.has('profile')) {
        log(`profile: gateway under the WebSocket relay load with --cpu-prof for ${sizes.profileMs / 1000} s`);
        try {
          results.profile = await measureRelayForProfile(env, { ...sizes.relay, durationMs: sizes.profileMs }, maxMs);
          log(`  profile: ${results.profile.rate.toFixed(0)} msg/s while profiling; ${results.profile.file}`);
        } catch (e) {
          results.errors.profile = (e as Error).message;
          log(`  profile FAILED: ${(e as Error).message}`);
        }
      }
    } finally {
      await env.stop();
    }
  }

  if (only.has('scale')) {
    results.scale = [];
    const capacity = perProcessCapacity('gateway-ws');
    const plan: [ScaleKind, number][] = [];
    for (const n of scaleCounts) {
      // Per-client figures are taken where one process can hold them all.
      const single = Math.min(n, capacity);
      plan.push(['raw-pipe', single], ['gateway-ws', single], ['gateway-bosh', single]);
      if (!quick && n <= 20_000 && !values['no-prosody'] && existsSync('/usr/bin/prosody')) plan.push(['prosody-ws', Math.min(n, perProcessCapacity('prosody-ws'))]);
      if (n > capacity) plan.push(['gateway-ws', n]);
    }
    const seen = new Set<string>();
    for (const [kind, n] of plan) {
      if (seen.has(`${kind}:${n}`)) continue;
      seen.add(`${kind}:${n}`);
      log(`connection scale: ${kind}, ${n} idle clients`);
      try {
        results.scale.push(await measureScale(kind, n, { maxMs: Math.min(maxMs, 30 * 60_000), log, quick, ...(kind === 'prosody-ws' ? { concurrency: 32 } : {}) }));
      } catch (e) {
        results.errors[`scale ${kind} ${n}`] = (e as Error).message;
        log(`  FAILED: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }

  if (only.has('memory')) {
    log(`idle WebSocket memory: raw pipe, raw pipe with the image's V8 options, then gateway, each one process, after a full GC at ${sizes.memory.join(', ')} clients`);
    results.memory = {};
    for (const [key, kind] of [['pipe', 'raw-pipe'], ['pipeImageV8', 'raw-pipe-image-v8'], ['gateway', 'gateway-ws']] as const) {
      try {
        results.memory[key] = await measureMemoryCurve(kind, sizes.memory, { maxMs: Math.min(maxMs, 20 * 60_000), log, quick });
      } catch (e) {
        results.errors[`memory ${kind}`] = (e as Error).message;
        log(`  FAILED: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }

  if (only.has('base-rss')) {
    log('base RSS: node dist/cli/main.js gateway with no client, beside a bare Node');
    try {
      results.baseRss = await measureBaseRss({ log, quick });
    } catch (e) {
      results.errors['base-rss'] = (e as Error).message;
      log(`  FAILED: ${(e as Error).message.split('\n')[0]}`);
    }
  }

  if (only.has('hostile')) {
    const rounds = quick ? 1 : 20;
    log(`hostile input: ${rounds} rounds of every attack of the hostile-input suite, then idle; gateway RSS before and after`);
    try {
      results.hostile = await measureHostile({ rounds, settleMs: quick ? 1_000 : 30_000, maxMs, log });
      const h = results.hostile;
      log(`  hostile: RSS ${(h.rssStart / 2 ** 20).toFixed(1)} MiB before, ${(h.rssAfter / 2 ** 20).toFixed(1)} MiB after (${(h.rssAfter / h.rssStart).toFixed(2)}×, goal ≤ 1.2×); ${h.unexpected} unexpected answers`);
    } catch (e) {
      results.errors.hostile = (e as Error).message;
      log(`  hostile FAILED: ${(e as Error).message}`);
    }
  }

  if (only.has('operator')) {
    log('operator: convergence, steady state and memory on a real control plane');
    try {
      const r = await runOperatorBench({
        quick,
        log,
        ...(values['steady-seconds'] ? { steadySeconds: Number(values['steady-seconds']) } : {}),
        ...(values['operator-counts'] ? { counts: values['operator-counts'].split(',').map(Number) } : {}),
      });
      if (r.skipped) results.skipped.operator = r.skipped;
      else results.operator = r;
    } catch (e) {
      results.errors.operator = (e as Error).message;
      log(`  operator FAILED: ${(e as Error).stack ?? (e as Error).message}`);
    }
  }

  if (only.has('pod-start') || only.has('pod-memory')) {
    log('gateway pods on the real node: start to Ready, container memory');
    try {
      const r = await runPodBench({
        start: only.has('pod-start'),
        memory: only.has('pod-memory'),
        rounds: values['pod-rounds'] ? Number(values['pod-rounds']) : quick ? 1 : 5,
        clients: values['pod-clients'] ? Number(values['pod-clients']) : quick ? 100 : 1000,
        quick,
        log,
      });
      if ('skipped' in r) results.errors.pods = r.skipped;
      else results.pods = r;
    } catch (e) {
      results.errors.pods = (e as Error).stack ?? (e as Error).message;
      log(`  pods FAILED: ${(e as Error).stack ?? (e as Error).message}`);
    }
  }

  results.loadAfter = loadAverage();
  const out = values.out ?? path.join(await mkdtemp(path.join(os.tmpdir(), 'xwg-bench-')), 'results.json');
  await writeFile(out, JSON.stringify(results, null, 2));
  const curves = [results.memory?.pipe, results.memory?.pipeImageV8, results.memory?.gateway].filter((c) => c !== undefined);
  const md =
    markdownReport(results) +
    (curves.length ? `\n\n### Idle WebSocket memory (issue 14)\n\n${memoryTable(curves)}\n\n\`\`\`\n${asciiPlot(curves)}\n\`\`\`\n` : '');
  if (values.markdown) await writeFile(values.markdown, md);
  console.log(`\n${md}`);
  log(`results: ${out}${values.markdown ? `, ${values.markdown}` : ''}; load average ${results.loadBefore} before, ${results.loadAfter} after`);
  for (const line of goalLines(targets(results))) log(line);
  for (const [k, v] of Object.entries(results.skipped)) log(`skipped ${k}: ${v}`);
  for (const [k, v] of Object.entries(results.errors)) log(`error in ${k}: ${v.split('\n')[0]}`);
  return Object.keys(results.errors).length > 0 ? 1 : 0;
}

// Some harness processes do not hold the event loop (they are unref'd): hold it until main() is done.
const keepAlive = setInterval(() => {}, 60_000);
try {
  process.exitCode = await main();
} finally {
  clearInterval(keepAlive);
}
// Child processes are bounded and stopped above; nothing else should hold the loop.
setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
