// Relay throughput and latency: the same clients, the same load, through every path a browser could take to
// an XMPP server, measured in the same run and interleaved over rounds (the machine is shared: ratios within a
// run mean more than absolute numbers).
//
//   stub/tcp        clients on the stub's c2s directly (no hop: the reference for added latency)
//   raw-pipe        WebSocket↔TCP byte pipe in Node, no XML work (the practical ceiling)
//   gateway/ws      our gateway, RFC 7395, to the stub
//   gateway+pp2/ws  the same with upstream proxyProtocol v2 (a PROXY header on every upstream connection)
//   gateway/bosh    our gateway, BOSH, to the stub
//   prosody/tcp     Prosody's c2s over TCP
//   prosody/ws      Prosody's own mod_websocket
//   prosody/bosh    Prosody's own mod_bosh
//   gw→prosody/ws   our gateway (WebSocket) in front of Prosody's c2s
//   gw→prosody/bosh our gateway (BOSH) in front of Prosody's c2s
import type { Target } from '../../dev/bench/clients.ts';
import { cpuShare, sample } from '../../dev/bench/proc.ts';
import { median, type LatencySummary } from '../../dev/bench/stats.ts';
import { startWorker } from '../../dev/bench/workers.ts';
import type { RelayJob, RelayResult } from '../../dev/bench/worker.ts';
import type { BenchEnv } from './env.ts';

export interface PathSpec {
  name: string;
  target: Target;
  /** pids whose CPU is reported (the servers on the path) */
  pids: { name: string; pid: number }[];
}

export interface RelayLoad {
  pairs: number;
  self: boolean;
  window: number;
  bytes: number;
  warmupMs: number;
  durationMs: number;
}

export interface RelayMeasurement {
  path: string;
  rate: number;
  latency: LatencySummary;
  cpu: Record<string, number>;
  /** CPU microseconds per relayed message, by server */
  cpuPerMessageUs: Record<string, number>;
  clientCpu: number;
  errors: string[];
  rounds: number;
}

export function paths(env: BenchEnv): PathSpec[] {
  const { stub, pipe, gateway, gatewayProxyV2, prosody, gatewayToProsody } = env;
  const list: PathSpec[] = [
    { name: 'stub/tcp', target: { transport: 'tcp', host: '127.0.0.1', port: stub.ports[0]!, domain: 'example.com' }, pids: [{ name: 'stub', pid: stub.pid }] },
    { name: 'raw-pipe', target: { transport: 'ws-stream', url: pipe.url, domain: 'example.com' }, pids: [{ name: 'pipe', pid: pipe.pid }, { name: 'stub', pid: stub.pid }] },
    { name: 'gateway/ws', target: { transport: 'ws', url: gateway.wsUrl, domain: 'example.com' }, pids: [{ name: 'gateway', pid: gateway.pid }, { name: 'stub', pid: stub.pid }] },
    { name: 'gateway+pp2/ws', target: { transport: 'ws', url: gatewayProxyV2.wsUrl, domain: 'example.com' }, pids: [{ name: 'gateway', pid: gatewayProxyV2.pid }, { name: 'stub', pid: stub.pid }] },
    { name: 'gateway/bosh', target: { transport: 'bosh', url: gateway.boshUrl, domain: 'example.com' }, pids: [{ name: 'gateway', pid: gateway.pid }, { name: 'stub', pid: stub.pid }] },
  ];
  if (prosody && gatewayToProsody) {
    const p = prosody.server;
    list.push(
      { name: 'prosody/tcp', target: { transport: 'tcp', host: '127.0.0.1', port: p.c2sPort, domain: 'example.com' }, pids: [{ name: 'prosody', pid: prosody.pid }] },
      { name: 'prosody/ws', target: { transport: 'ws', url: p.websocketUrl!, domain: 'example.com' }, pids: [{ name: 'prosody', pid: prosody.pid }] },
      { name: 'prosody/bosh', target: { transport: 'bosh', url: p.boshUrl!, domain: 'example.com' }, pids: [{ name: 'prosody', pid: prosody.pid }] },
      { name: 'gw→prosody/ws', target: { transport: 'ws', url: gatewayToProsody.wsUrl, domain: 'example.com' }, pids: [{ name: 'gateway', pid: gatewayToProsody.pid }, { name: 'prosody', pid: prosody.pid }] },
      { name: 'gw→prosody/bosh', target: { transport: 'bosh', url: gatewayToProsody.boshUrl, domain: 'example.com' }, pids: [{ name: 'gateway', pid: gatewayToProsody.pid }, { name: 'prosody', pid: prosody.pid }] },
    );
  }
  return list;
}

/** One measurement of one path: log in, warm up, measure; server CPU sampled over the same window. */
export async function measureOnce(path: PathSpec, load: RelayLoad): Promise<{ result: RelayResult; cpu: Record<string, number> }> {
  const job: RelayJob = {
    kind: 'relay',
    target: path.target,
    userPrefix: 'u',
    firstUser: 0,
    password: 'pw',
    pairs: load.pairs,
    self: load.self,
    window: load.window,
    bytes: load.bytes,
    warmupMs: load.warmupMs,
    durationMs: load.durationMs,
    loginConcurrency: 10,
  };
  const worker = startWorker(job, 180_000 + load.warmupMs + load.durationMs);
  try {
    await worker.next('ready');
    worker.send({ type: 'go' });
    await worker.next('measuring');
    const before = path.pids.map((p) => sample(p.pid));
    const { result } = await worker.next('result');
    const after = path.pids.map((p) => sample(p.pid));
    const cpu: Record<string, number> = {};
    path.pids.forEach((p, i) => (cpu[p.name] = cpuShare(before[i]!, after[i]!)));
    return { result, cpu };
  } finally {
    await worker.close();
  }
}

/**
 * Every path `rounds` times, interleaved (A B C A B C), each reported as the round with the median rate.
 * `log` gets one line per measurement.
 */
export async function measurePaths(list: PathSpec[], load: RelayLoad, rounds: number, log: (line: string) => void): Promise<RelayMeasurement[]> {
  const runs = new Map<string, { result: RelayResult; cpu: Record<string, number> }[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const path of list) {
      try {
        const m = await measureOnce(path, load);
        (runs.get(path.name) ?? runs.set(path.name, []).get(path.name)!).push(m);
        const cpu = Object.entries(m.cpu).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`).join(', ');
        log(`  [${round}/${rounds}] ${path.name.padEnd(16)} ${m.result.rate.toFixed(0).padStart(7)} msg/s  p50 ${m.result.latency.p50.toFixed(2)} ms  p99 ${m.result.latency.p99.toFixed(2)} ms  cpu: ${cpu}, clients ${(m.result.clientCpu * 100).toFixed(0)}%${m.result.errors.length ? `  errors: ${m.result.errors.join('; ')}` : ''}`);
      } catch (e) {
        log(`  [${round}/${rounds}] ${path.name.padEnd(16)} FAILED: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }
  const out: RelayMeasurement[] = [];
  for (const path of list) {
    const r = runs.get(path.name);
    if (!r || r.length === 0) continue;
    const mid = median(r.map((x) => x.result.rate));
    const chosen = r.reduce((best, x) => (Math.abs(x.result.rate - mid) < Math.abs(best.result.rate - mid) ? x : best));
    const perMsg: Record<string, number> = {};
    for (const [k, v] of Object.entries(chosen.cpu)) perMsg[k] = chosen.result.rate > 0 ? (v / chosen.result.rate) * 1e6 : Number.NaN;
    out.push({
      path: path.name,
      rate: mid,
      latency: chosen.result.latency,
      cpu: chosen.cpu,
      cpuPerMessageUs: perMsg,
      clientCpu: chosen.result.clientCpu,
      errors: r.flatMap((x) => x.result.errors),
      rounds: r.length,
    });
  }
  return out;
}
