// Every target of the bench, from the results of one run: what was measured, the reference measured beside it
// in the same run, their ratio, and whether the goal was met (reported, never enforced). Pure: results in,
// rows out; `npm run bench` prints them as GOAL lines and as the Markdown table of the report.
import type { BenchResults } from '../../bench/run.ts';
import type { RelayMeasurement } from '../../bench/gateway/relay.ts';
import type { MemoryCurve } from '../../bench/gateway/memory.ts';
import { fmt } from './stats.ts';

const KiB = 1024;
const MiB = 2 ** 20;

export interface Target {
  what: string;
  goal: string;
  measured: string;
  /** the figure this one is compared with, measured in the same run (absent for absolute goals) */
  reference?: string;
  /** measured / reference (or against the goal, when it says so) */
  ratio?: string;
  /** undefined: the run could not decide (not every client connected, say) */
  met: boolean | undefined;
}

const byPath = (list: RelayMeasurement[] | undefined, name: string) => list?.find((r) => r.path === name);
const x = (ratio: number, digits = 2) => `${ratio.toFixed(digits)}×`;
const kib = (bytes: number) => `${(bytes / KiB).toFixed(1)} KiB`;
const mib = (bytes: number, digits = 1) => `${(bytes / MiB).toFixed(digits)} MiB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function relayTargets(r: BenchResults): Target[] {
  const out: Target[] = [];
  const relay = r.relay?.results;
  const pipe = byPath(relay, 'raw-pipe');
  const gws = byPath(relay, 'gateway/ws');
  if (pipe && gws) {
    const ratio = gws.rate / pipe.rate;
    out.push({ what: 'relay throughput, gateway/ws vs the bare ws-to-TCP pipe (stub upstream)', goal: '≥ 90% (issue 14)', measured: `${fmt(gws.rate)} msg/s`, reference: `raw pipe ${fmt(pipe.rate)} msg/s`, ratio: `${(ratio * 100).toFixed(0)}%`, met: ratio >= 0.9 });
  }
  const cpuOf = (m: RelayMeasurement | undefined) => m?.cpuPerMessageUs.gateway;
  const pp2 = byPath(relay, 'gateway+pp2/ws');
  if (gws && pp2 && cpuOf(gws)! > 0) {
    const ratio = cpuOf(pp2)! / cpuOf(gws)!;
    out.push({ what: 'gateway CPU per relayed WebSocket message, upstream proxyProtocol v2 vs none', goal: '≤ 1.05×', measured: `${cpuOf(pp2)!.toFixed(1)} µs`, reference: `no PROXY header ${cpuOf(gws)!.toFixed(1)} µs`, ratio: x(ratio, 3), met: ratio <= 1.05 });
  }
  const gbosh = byPath(relay, 'gateway/bosh');
  if (gws && gbosh && cpuOf(gws)! > 0) {
    const ratio = cpuOf(gbosh)! / cpuOf(gws)!;
    out.push({ what: 'gateway CPU per relayed message, BOSH vs WebSocket (stub upstream, relay load)', goal: '≤ 2× (issue 14)', measured: `BOSH ${cpuOf(gbosh)!.toFixed(1)} µs`, reference: `WebSocket ${cpuOf(gws)!.toFixed(1)} µs`, ratio: x(ratio), met: ratio <= 2 });
  }
  for (const [ours, theirs] of [
    ['gw→prosody/ws', 'prosody/ws'],
    ['gw→prosody/ws', 'prosody/bosh'],
    ['gw→prosody/bosh', 'prosody/bosh'],
  ] as const) {
    const a = byPath(relay, ours);
    const b = byPath(relay, theirs);
    if (a && b) {
      const module = theirs.endsWith('/ws') ? 'mod_websocket' : 'mod_bosh';
      out.push({ what: `relay throughput, ${ours} vs Prosody's own ${module}`, goal: '≥ 1.3×', measured: `${fmt(a.rate)} msg/s`, reference: `${module} ${fmt(b.rate)} msg/s`, ratio: x(a.rate / b.rate), met: a.rate / b.rate >= 1.3 });
    }
  }
  const lat = r.latency?.results;
  const direct = byPath(lat, 'stub/tcp');
  const gl = byPath(lat, 'gateway/ws');
  if (direct && gl) {
    const added = gl.latency.p99 - direct.latency.p99;
    out.push({ what: 'added p99 latency, unloaded (gateway/ws − stub/tcp)', goal: '< 1 ms', measured: `${added.toFixed(3)} ms added (p99 ${gl.latency.p99.toFixed(3)} ms)`, reference: `stub/tcp p99 ${direct.latency.p99.toFixed(3)} ms`, met: added < 1 });
  }
  return out;
}

const lastPoint = (c: MemoryCurve | undefined) => c?.points.at(-1);
const growthPerClient = (c: MemoryCurve) => {
  const p = lastPoint(c)!;
  return (p.rss - c.idle.rss) / p.clients;
};

function memoryTargets(r: BenchResults): Target[] {
  const out: Target[] = [];
  const { pipe, gateway } = r.memory ?? {};
  const p = lastPoint(pipe);
  const g = lastPoint(gateway);
  if (pipe && gateway && p && g && p.clients > 0 && g.clients > 0) {
    const ours = growthPerClient(gateway);
    const ref = growthPerClient(pipe);
    out.push({ what: `idle WebSocket client, RSS growth per connection at ${fmt(g.clients)} clients in one process (after a full GC)`, goal: '≤ 1.25× the raw pipe (issue 14)', measured: `${kib(ours)}${gateway.nodeOptions.length ? ` (with ${gateway.nodeOptions.join(' ')})` : ''}`, reference: `raw pipe ${kib(ref)} at ${fmt(p.clients)}`, ratio: x(ours / ref), met: ours / ref <= 1.25 });
  }
  const q = lastPoint(r.memory?.pipeImageV8);
  if (r.memory?.pipeImageV8 && gateway && q && g && q.clients > 0 && g.clients > 0) {
    // The gateway runs with the image's V8 options; the same pipe with them shows what the code alone costs.
    const ours = growthPerClient(gateway);
    const ref = growthPerClient(r.memory.pipeImageV8);
    out.push({ what: `idle WebSocket client at ${fmt(g.clients)} clients, against the raw pipe given the image's V8 options too`, goal: '≤ 1.25× (the code alone)', measured: kib(ours), reference: `raw pipe with ${r.memory.pipeImageV8.nodeOptions.join(' ') || 'no options'} ${kib(ref)} at ${fmt(q.clients)}`, ratio: x(ours / ref), met: ours / ref <= 1.25 });
  }
  const base = r.baseRss;
  if (base) {
    out.push({ what: `gateway base RSS, no client (${base.command})`, goal: '≤ 60 MiB (issue 14)', measured: mib(base.gateway), reference: `bare Node ${mib(base.bareNode)}`, ratio: `${x(base.gateway / base.bareNode)} bare Node; ${x(base.gateway / (60 * MiB))} the goal`, met: base.gateway <= 60 * MiB });
  }
  const scale = r.scale ?? [];
  const single = (kind: string) => scale.filter((s) => s.kind === kind && s.processes === 1).sort((a, b) => b.connected - a.connected)[0];
  const sp = single('raw-pipe');
  const sg = single('gateway-ws');
  if (sp && sg) {
    out.push({ what: `idle WebSocket client, RSS growth per connection at ${fmt(sg.connected)} clients (scale run, no forced GC)`, goal: '≤ 1.25× the raw pipe', measured: kib(sg.perClientBytes), reference: `raw pipe ${kib(sp.perClientBytes)}`, ratio: x(sg.perClientBytes / sp.perClientBytes), met: sg.perClientBytes <= 1.25 * sp.perClientBytes });
    if (sg.marginalPerClientBytes !== undefined && sp.marginalPerClientBytes !== undefined) {
      const ratio = sg.marginalPerClientBytes / sp.marginalPerClientBytes;
      out.push({ what: 'idle WebSocket client, marginal RSS per connection (half → full load)', goal: '≤ 1.25× the raw pipe', measured: kib(sg.marginalPerClientBytes), reference: `raw pipe ${kib(sp.marginalPerClientBytes)}`, ratio: x(ratio), met: ratio <= 1.25 });
    }
  }
  const sb = single('gateway-bosh');
  if (sb) {
    const marginal = sb.marginalPerClientBytes !== undefined ? ` (marginal ${kib(sb.marginalPerClientBytes)})` : '';
    out.push({ what: `idle BOSH session, RSS growth per session at ${fmt(sb.connected)} sessions`, goal: '≤ 24 KiB (issue 14)', measured: `${kib(sb.perClientBytes)}${marginal}`, ...(sg ? { reference: `idle WebSocket client ${kib(sg.perClientBytes)}` } : {}), ratio: `${x(sb.perClientBytes / (24 * KiB))} the goal${sg ? `; ${x(sb.perClientBytes / sg.perClientBytes)} WebSocket` : ''}`, met: sb.perClientBytes <= 24 * KiB });
  }
  const h = r.hostile;
  if (h) {
    const ratio = h.rssAfter / h.rssStart;
    out.push({ what: `gateway RSS after hostile input (${h.rounds} rounds of ${h.attacks} attacks, then ${h.settleMs / 1000} s idle)`, goal: '≤ 1.2× before (issue 14)', measured: `${mib(h.rssAfter)} (peak ${mib(h.rssPeak)}; V8 new space ${h.spacesStart.new} → ${h.spacesAfter.new} MiB, old ${h.spacesStart.old} → ${h.spacesAfter.old} MiB)`, reference: `before ${mib(h.rssStart)}`, ratio: x(ratio), met: ratio <= 1.2 });
  }
  const big = scale.filter((s) => s.kind === 'gateway-ws' && s.requested >= 100_000)[0];
  if (big) {
    out.push({ what: `100,000 WebSocket clients${big.processes > 1 ? ` (over ${big.processes} processes: summed RSS)` : ''}`, goal: '< 2 GiB', measured: `${(big.rssLoaded / 2 ** 30).toFixed(2)} GiB for ${fmt(big.connected)} clients`, met: big.connected >= 100_000 ? big.rssLoaded < 2 ** 31 : undefined });
  }
  if (sg) {
    const estimate = sg.rssIdle + 100_000 * sg.perClientBytes;
    out.push({ what: '100,000 WebSocket clients, one process (estimate: idle RSS + 100,000 × per-client)', goal: '< 2 GiB', measured: `${(estimate / 2 ** 30).toFixed(2)} GiB`, met: estimate < 2 ** 31 });
  }
  return out;
}

function operatorTargets(r: BenchResults): Target[] {
  const out: Target[] = [];
  const op = r.operator;
  if (!op) return out;
  const conv = (c: { ms: number; converged: number; resources: number }) => (c.converged === c.resources ? seconds(c.ms) : `only ${c.converged}/${c.resources} after ${(c.ms / 1000).toFixed(0)} s`);
  const one = op.convergence.find((c) => c.resources === 1);
  if (one) {
    const spread = one.samplesMs && one.samplesMs.length > 1 ? ` (median of ${one.samplesMs.map((s) => seconds(s)).join(', ')})` : '';
    out.push({ what: 'operator: 3-node convergence', goal: '< 2 s', measured: `${conv(one)}${spread}`, met: one.converged === 1 && one.ms < 2000 });
  }
  for (const big of op.convergence.filter((c) => c.resources >= 500)) {
    const l = big.load;
    const who = l ? `; cores busy during the fill: operator ${l.cpu.operator.toFixed(2)}, kube-apiserver ${l.cpu.apiserver.toFixed(2)}, etcd ${l.cpu.etcd.toFixed(2)}; ${l.requestsPerSecond.toFixed(0)} API requests/s` : '';
    out.push({ what: `operator: ${fmt(big.resources)} resources applied at once (${fmt(big.objects)} child objects)`, goal: '≤ 60 s (issue 14)', measured: `${conv(big)}${who}`, ratio: `${x(big.ms / 60_000)} the goal`, met: big.converged === big.resources && big.ms <= 60_000 });
  }
  if (op.steady) out.push({ what: `operator: steady-state writes (${op.steady.resources} resources, ${op.steady.seconds} s)`, goal: '0', measured: String(op.steady.totalWrites), met: op.steady.totalWrites === 0 });
  if (op.memory) {
    const m = op.memory;
    const per = m.perResourceBytes === undefined ? '' : `, ${kib(m.perResourceBytes)} per resource`;
    out.push({ what: `operator RSS with ${fmt(m.resources)} resources${m.entry ? ` (node ${m.entry} operator)` : ''}`, goal: '≤ 150 MiB (issue 14)', measured: `${mib(m.rssBytes, 0)}${per}`, reference: `the same operator with none ${mib(m.idleRssBytes, 0)}`, ratio: `${x(m.rssBytes / m.idleRssBytes)} idle; ${x(m.rssBytes / (150 * MiB))} the goal`, met: m.rssBytes <= 150 * MiB });
  }
  return out;
}

function podTargets(r: BenchResults): Target[] {
  const out: Target[] = [];
  const ps = r.pods?.start;
  if (ps) {
    out.push({
      what: `gateway pods: apply of a 3-node XmppWebGateway → three Ready pods (median of ${ps.rounds.length}; per pod, creation → Ready ${seconds(ps.medianCreatedToReadyMs)})`,
      goal: '< 12 s',
      measured: seconds(ps.medianAllReadyMs),
      reference: `the gateway as a local process, spawn → /readyz ${seconds(ps.medianProcessReadyMs)}`,
      ratio: x(ps.medianAllReadyMs / ps.medianProcessReadyMs, 1),
      met: ps.medianAllReadyMs < 12_000,
    });
  }
  const pm = r.pods?.memory;
  if (pm) {
    const ref = pm.reference;
    out.push({
      what: `gateway container memory with ${fmt(pm.connected)} idle WebSocket clients (cgroup working set; idle ${mib(pm.idle.workingSet)}; ${kib(pm.perClientBytes)} per client)`,
      goal: '≤ 128 MiB',
      measured: mib(pm.loaded.workingSet),
      ...(ref ? { reference: `a local gateway process ${kib(ref.perClientBytes)} per client`, ratio: `${x(pm.perClientBytes / ref.perClientBytes)} per client` } : {}),
      met: pm.connected === pm.clients ? pm.loaded.workingSet <= 128 * MiB : undefined,
    });
  }
  return out;
}

export function targets(r: BenchResults): Target[] {
  return [...relayTargets(r), ...memoryTargets(r), ...operatorTargets(r), ...podTargets(r)];
}

const verdict = (t: Target) => (t.met === undefined ? 'undecided' : t.met ? 'met' : 'NOT met');

/** One line per target, for the end of the bench's output. */
export function goalLines(list: Target[]): string[] {
  return list.map((t) => `GOAL ${t.what}: ${t.measured}${t.reference ? ` vs ${t.reference}` : ''}${t.ratio ? ` (${t.ratio})` : ''}; goal ${t.goal}: ${verdict(t)}`);
}

/** The same as Markdown table rows: target, goal, this run, reference, ratio, met. */
export function goalRows(list: Target[]): string[][] {
  return list.map((t) => [t.what, t.goal, t.measured, t.reference ?? '', t.ratio ?? '', t.met === undefined ? 'n/a' : t.met ? 'yes' : '**no**']);
}
