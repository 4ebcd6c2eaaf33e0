// The bench results as Markdown tables, with each target and whether this run met it (reported, never enforced).
import type { BenchResults } from '../../bench/run.ts';
import type { RelayMeasurement } from '../../bench/gateway/relay.ts';
import { fmt } from './stats.ts';

const KiB = 1024;
const MiB = 2 ** 20;

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

const byPath = (list: RelayMeasurement[] | undefined, name: string) => list?.find((r) => r.path === name);

interface Target {
  what: string;
  goal: string;
  value: string;
  met: boolean | undefined;
}

export function targets(r: BenchResults): Target[] {
  const out: Target[] = [];
  const relay = r.relay?.results;
  const pipe = byPath(relay, 'raw-pipe');
  const gws = byPath(relay, 'gateway/ws');
  if (pipe && gws) out.push({ what: 'gateway relay vs raw pipe (WebSocket, stub upstream)', goal: '≥ 50%', value: `${((gws.rate / pipe.rate) * 100).toFixed(0)}%`, met: gws.rate / pipe.rate >= 0.5 });
  const pp2 = byPath(relay, 'gateway+pp2/ws');
  const cpuOf = (m: typeof gws) => m?.cpuPerMessageUs.gateway;
  if (gws && pp2 && cpuOf(gws)! > 0) {
    const ratio = cpuOf(pp2)! / cpuOf(gws)!;
    out.push({
      what: 'gateway CPU per relayed WebSocket message, upstream proxyProtocol v2 vs none',
      goal: '≤ 1.05×',
      value: `${cpuOf(pp2)!.toFixed(1)} vs ${cpuOf(gws)!.toFixed(1)} µs (${ratio.toFixed(3)}×)`,
      met: ratio <= 1.05,
    });
  }
  const gbosh = byPath(relay, 'gateway/bosh');
  if (gws && gbosh && cpuOf(gws)! > 0) {
    const ratio = cpuOf(gbosh)! / cpuOf(gws)!;
    out.push({ what: 'gateway CPU per relayed message, BOSH vs WebSocket (stub upstream, same run)', goal: '≤ 2×', value: `${cpuOf(gbosh)!.toFixed(1)} vs ${cpuOf(gws)!.toFixed(1)} µs (${ratio.toFixed(2)}×)`, met: ratio <= 2 });
  }
  for (const [ours, theirs] of [
    ['gw→prosody/ws', 'prosody/ws'],
    ['gw→prosody/ws', 'prosody/bosh'],
    ['gw→prosody/bosh', 'prosody/bosh'],
  ] as const) {
    const a = byPath(relay, ours);
    const b = byPath(relay, theirs);
    if (a && b) out.push({ what: `${ours} vs Prosody's own ${theirs.split('/')[1] === 'ws' ? 'mod_websocket' : 'mod_bosh'}`, goal: '≥ 1.3×', value: `${(a.rate / b.rate).toFixed(2)}×`, met: a.rate / b.rate >= 1.3 });
  }
  const lat = r.latency?.results;
  const direct = byPath(lat, 'stub/tcp');
  const gl = byPath(lat, 'gateway/ws');
  if (direct && gl) {
    const added = gl.latency.p99 - direct.latency.p99;
    out.push({ what: 'added p99 latency, unloaded (gateway/ws − stub/tcp)', goal: '< 1 ms', value: `${added.toFixed(3)} ms`, met: added < 1 });
  }
  const scale = r.scale ?? [];
  const single = (kind: string) => scale.filter((s) => s.kind === kind && s.processes === 1).sort((a, b) => b.connected - a.connected)[0];
  const sp = single('raw-pipe');
  const sg = single('gateway-ws');
  if (sp && sg) {
    out.push({ what: `memory per idle WebSocket client vs raw pipe (${fmt(sg.connected)} clients, RSS growth / clients)`, goal: '≤ 1.25×', value: `${(sg.perClientBytes / KiB).toFixed(1)} vs ${(sp.perClientBytes / KiB).toFixed(1)} KiB (${(sg.perClientBytes / sp.perClientBytes).toFixed(2)}×)`, met: sg.perClientBytes <= 1.25 * sp.perClientBytes });
    if (sg.marginalPerClientBytes !== undefined && sp.marginalPerClientBytes !== undefined) {
      out.push({ what: 'marginal memory per idle WebSocket client vs raw pipe (half → full load)', goal: '≤ 1.25×', value: `${(sg.marginalPerClientBytes / KiB).toFixed(1)} vs ${(sp.marginalPerClientBytes / KiB).toFixed(1)} KiB (${(sg.marginalPerClientBytes / sp.marginalPerClientBytes).toFixed(2)}×)`, met: sg.marginalPerClientBytes <= 1.25 * sp.marginalPerClientBytes });
    }
  }
  const sb = single('gateway-bosh');
  if (sb) {
    const ref = sg ? `; idle WebSocket client in the same run ${(sg.perClientBytes / KiB).toFixed(1)} KiB (${(sb.perClientBytes / sg.perClientBytes).toFixed(2)}×)` : '';
    out.push({ what: `memory per idle BOSH session (${fmt(sb.connected)} sessions, RSS growth / sessions; marginal in brackets)`, goal: '≤ 24 KiB', value: `${(sb.perClientBytes / KiB).toFixed(1)} KiB (${sb.marginalPerClientBytes !== undefined ? (sb.marginalPerClientBytes / KiB).toFixed(1) : '?'} KiB), ${(sb.perClientBytes / (24 * KiB)).toFixed(2)}× the goal${ref}`, met: sb.perClientBytes <= 24 * KiB });
  }
  const h = r.hostile;
  if (h) {
    const ratio = h.rssAfter / h.rssStart;
    out.push({ what: `gateway RSS after hostile input (${h.rounds} rounds of ${h.attacks} attacks, then ${h.settleMs / 1000} s idle) vs before`, goal: '≤ 1.2×', value: `${(h.rssAfter / MiB).toFixed(1)} vs ${(h.rssStart / MiB).toFixed(1)} MiB (${ratio.toFixed(2)}×; peak ${(h.rssPeak / MiB).toFixed(1)} MiB; V8 new space ${h.spacesStart.new} → ${h.spacesAfter.new} MiB, old ${h.spacesStart.old} → ${h.spacesAfter.old} MiB)`, met: ratio <= 1.2 });
  }
  const big = scale.filter((s) => s.kind === 'gateway-ws' && s.requested >= 100_000)[0];
  if (big) {
    out.push({
      what: `100,000 WebSocket clients${big.processes > 1 ? ` (over ${big.processes} processes: summed RSS)` : ''}`,
      goal: '< 2 GiB',
      value: `${(big.rssLoaded / 2 ** 30).toFixed(2)} GiB for ${fmt(big.connected)} clients`,
      met: big.connected >= 100_000 ? big.rssLoaded < 2 ** 31 : undefined,
    });
  }
  if (sg) {
    out.push({ what: '100,000 WebSocket clients, one process (estimate: idle RSS + 100,000 × per-client)', goal: '< 2 GiB', value: `${((sg.rssIdle + 100_000 * sg.perClientBytes) / 2 ** 30).toFixed(2)} GiB`, met: sg.rssIdle + 100_000 * sg.perClientBytes < 2 ** 31 });
  }
  const op = r.operator;
  const c = (n: number) => op?.convergence.find((x) => x.resources === n);
  const conv = (x: { ms: number; converged: number; resources: number }) => (x.converged === x.resources ? `${(x.ms / 1000).toFixed(2)} s` : `only ${x.converged}/${x.resources} after ${(x.ms / 1000).toFixed(0)} s`);
  const one = c(1);
  if (one) {
    const spread = one.samplesMs && one.samplesMs.length > 1 ? ` median of ${one.samplesMs.length} (${one.samplesMs.map((x) => (x / 1000).toFixed(2)).join(', ')} s)` : '';
    out.push({ what: 'operator: 3-node convergence', goal: '< 2 s', value: `${conv(one)}${spread}`, met: one.converged === 1 && one.ms < 2000 });
  }
  for (const big of op?.convergence.filter((x) => x.resources >= 500) ?? []) {
    const l = big.load;
    const who = l ? `; CPU during the fill (cores): operator ${l.cpu.operator.toFixed(2)}, kube-apiserver ${l.cpu.apiserver.toFixed(2)}, etcd ${l.cpu.etcd.toFixed(2)}; ${l.requestsPerSecond.toFixed(0)} API requests/s` : '';
    out.push({ what: `operator: ${fmt(big.resources)} resources applied at once (${fmt(big.objects)} child objects)`, goal: '≤ 60 s', value: `${conv(big)} (${(big.ms / 60_000).toFixed(2)}× the 60 s goal${who})`, met: big.converged === big.resources && big.ms <= 60_000 });
  }
  if (op?.steady) out.push({ what: `operator: steady-state writes (${op.steady.resources} resources, ${op.steady.seconds} s)`, goal: '0', value: String(op.steady.totalWrites), met: op.steady.totalWrites === 0 });
  if (op?.memory) {
    const m = op.memory;
    const per = m.perResourceBytes === undefined ? '' : `, ${(m.perResourceBytes / 1024).toFixed(1)} KiB per resource`;
    out.push({ what: `operator RSS with ${fmt(m.resources)} resources`, goal: '≤ 150 MiB', value: `${(m.rssBytes / MiB).toFixed(0)} MiB (${(m.rssBytes / (150 * MiB)).toFixed(2)}× the goal); ${(m.idleRssBytes / MiB).toFixed(0)} MiB with none in the same run (${(m.rssBytes / m.idleRssBytes).toFixed(2)}×)${per}`, met: m.rssBytes <= 150 * MiB });
  }
  const ps = r.pods?.start;
  if (ps) {
    out.push({
      what: `gateway pods: apply of a 3-node XmppWebGateway → three Ready pods (median of ${ps.rounds.length}; reference: the gateway as a local process, spawn → /readyz)`,
      goal: '< 12 s',
      value: `${(ps.medianAllReadyMs / 1000).toFixed(2)} s vs ${(ps.medianProcessReadyMs / 1000).toFixed(2)} s (${(ps.medianAllReadyMs / ps.medianProcessReadyMs).toFixed(1)}×); per pod, creation → Ready ${(ps.medianCreatedToReadyMs / 1000).toFixed(2)} s`,
      met: ps.medianAllReadyMs < 12_000,
    });
  }
  const pm = r.pods?.memory;
  if (pm) {
    const ref = pm.reference;
    out.push({
      what: `gateway container memory with ${fmt(pm.connected)} idle WebSocket clients (cgroup working set; reference: the same clients on a local gateway process, RSS growth)`,
      goal: '≤ 128 MiB',
      value: `${(pm.loaded.workingSet / MiB).toFixed(1)} MiB (idle ${(pm.idle.workingSet / MiB).toFixed(1)}); ${(pm.perClientBytes / KiB).toFixed(1)} KiB per client${ref ? ` vs ${(ref.perClientBytes / KiB).toFixed(1)} KiB (${(pm.perClientBytes / ref.perClientBytes).toFixed(2)}×)` : ''}`,
      met: pm.connected === pm.clients ? pm.loaded.workingSet <= 128 * MiB : undefined,
    });
  }
  return out;
}

function relayTable(list: RelayMeasurement[], reference: string | undefined): string {
  const ref = reference ? byPath(list, reference) : undefined;
  return table(
    ['path', 'msg/s', reference ? `vs ${reference}` : '', 'p50 ms', 'p99 ms', 'server CPU (share of a core)', 'server CPU µs/msg', 'client CPU'],
    list.map((m) => [
      m.path,
      fmt(m.rate),
      ref ? `${((m.rate / ref.rate) * 100).toFixed(0)}%` : '',
      fmt(m.latency.p50, 2),
      fmt(m.latency.p99, 2),
      Object.entries(m.cpu).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`).join(', '),
      Object.entries(m.cpuPerMessageUs).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', '),
      `${(m.clientCpu * 100).toFixed(0)}%`,
    ]),
  );
}

export function markdownReport(r: BenchResults): string {
  const parts: string[] = [];
  const m = r.machine;
  parts.push(`## Run ${r.startedAt}${r.quick ? ' (quick)' : ''}`);
  parts.push(`\`${r.command}\` — ${m.cpus} × ${m.cpuModel}, ${m.memory} RAM, ${m.kernel}, Node ${m.node}, Prosody ${m.prosody ?? 'n/a'}, open-file limit ${m.openFileLimit}; load average ${r.loadBefore} before, ${r.loadAfter ?? '?'} after.`);
  const t = targets(r);
  if (t.length) {
    parts.push('### Targets');
    parts.push(table(['target', 'goal', 'this run', 'met'], t.map((x) => [x.what, x.goal, x.value, x.met === undefined ? 'n/a' : x.met ? 'yes' : '**no**'])));
  }
  if (r.relay) {
    const l = r.relay.load;
    parts.push(`### Relay throughput\n${l.pairs} sender/receiver pairs (${l.pairs * 2} clients), ${l.window} messages in flight per sender, ${l.bytes}-byte messages, ${l.durationMs / 1000} s measured after ${l.warmupMs / 1000} s; median of ${r.relay.results[0]?.rounds ?? 0} interleaved round(s). Latency is send-to-receive under that load.`);
    parts.push(relayTable(r.relay.results, 'raw-pipe'));
  }
  if (r.latency) {
    const direct = byPath(r.latency.results, 'stub/tcp');
    const pdirect = byPath(r.latency.results, 'prosody/tcp');
    parts.push(`### Unloaded latency\nOne client sends a message to itself, one in flight, ${r.latency.load.durationMs / 1000} s. "Added" is against the same server over plain TCP (stub/tcp or prosody/tcp).`);
    parts.push(
      table(
        ['path', 'round trips/s', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms'],
        r.latency.results.map((x) => {
          const base = x.path.includes('prosody') ? pdirect : direct;
          return [x.path, fmt(x.rate), fmt(x.latency.p50, 3), fmt(x.latency.p99, 3), base ? fmt(x.latency.p50 - base.latency.p50, 3) : '', base ? fmt(x.latency.p99 - base.latency.p99, 3) : ''];
        }),
      ),
    );
  }
  if (r.bosh?.length) {
    parts.push('### BOSH round trips\nEach session sends a message to itself and waits for it (one in flight), long polling with hold=1.');
    parts.push(table(['sessions', 'path', 'round trips/s', 'p50 ms', 'p99 ms', 'server CPU', 'server CPU µs/rt'], r.bosh.flatMap((b) => b.results.map((x) => [b.sessions, x.path, fmt(x.rate), fmt(x.latency.p50, 2), fmt(x.latency.p99, 2), Object.entries(x.cpu).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`).join(', '), Object.entries(x.cpuPerMessageUs).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')]))));
  }
  if (r.scale?.length) {
    parts.push('### Connection scale (idle clients)');
    parts.push(
      table(
        ['server', 'clients', 'processes', 'accept time s', 'accepted/s', 'RSS idle → loaded MiB', 'KiB/client (RSS)', 'marginal KiB/client (RSS, half → full)', 'KiB/client (V8 heap used)', 'dropped', 'note'],
        r.scale.map((s) => [
          s.kind,
          `${fmt(s.connected)}${s.failed ? ` (${fmt(s.failed)} failed${s.firstError ? `: ${s.firstError}` : ''})` : ''}`,
          s.processes,
          fmt(s.acceptMs / 1000, 1),
          fmt(s.acceptRate),
          `${fmt(s.rssIdle / MiB)} → ${fmt(s.rssLoaded / MiB)}`,
          fmt(s.perClientBytes / KiB, 1),
          s.marginalPerClientBytes !== undefined ? fmt(s.marginalPerClientBytes / KiB, 1) : '',
          s.perClientHeapBytes !== undefined ? fmt(s.perClientHeapBytes / KiB, 1) : '',
          s.dropped,
          s.note ?? '',
        ]),
      ),
    );
  }
  if (r.profile) {
    const p = r.profile.summary;
    parts.push(`### Gateway CPU profile (WebSocket relay, ${fmt(r.profile.rate)} msg/s while profiled)`);
    parts.push(`Busy ${(p.busy * 100).toFixed(0)}% of samples. By area (self time): ${Object.entries(p.areas).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(', ')}.`);
    parts.push(table(['self %', 'total %', 'function', 'where'], p.top.slice(0, 20).map((e) => [(e.self * 100).toFixed(1), (e.total * 100).toFixed(1), `\`${e.function}\``, e.location])));
  }
  if (r.operator) {
    const o = r.operator;
    parts.push(`### Operator\nKubernetes ${o.kubernetes ?? '?'} (etcd + kube-apiserver, no controller-manager), control plane up in ${fmt((o.controlPlaneStartMs ?? 0) / 1000, 1)} s; the operator runs as its own process (CLI).`);
    parts.push(table(['resources applied at once (3 nodes each)', 'child objects', 'first converged s', 'all converged s'], o.convergence.map((c) => [c.resources, c.objects, fmt(c.firstMs / 1000, 2), (c.converged === c.resources ? fmt(c.ms / 1000, 2) : `only ${c.converged} after ${fmt(c.ms / 1000, 0)}`) + (c.samplesMs && c.samplesMs.length > 1 ? ` (median of ${c.samplesMs.map((x) => fmt(x / 1000, 2)).join(', ')})` : '')])));
    if (o.steady) parts.push(`Steady state: ${o.steady.totalWrites} write requests at the apiserver in ${o.steady.seconds} s with ${o.steady.resources} resources, Lease renewals aside (all writes served: ${JSON.stringify(o.steady.apiserverWrites)}; the kube-apiserver renews its own identity Lease every 10 s and the operator runs without leader election); the operator counted ${JSON.stringify(o.steady.operatorWrites)} write calls of its own.`);
    for (const x of o.convergence) {
      const l = x.load;
      if (l) parts.push(`Fill of ${fmt(x.resources)} resources (${fmt(l.seconds, 1)} s): CPU as a share of one core: operator ${fmt(l.cpu.operator, 2)}, kube-apiserver ${fmt(l.cpu.apiserver, 2)}, etcd ${fmt(l.cpu.etcd, 2)}, the bench ${fmt(l.cpu.bench, 2)}; the apiserver served ${fmt(l.requestsPerSecond)} requests/s (${Object.entries(l.apiserverRequests).map(([k, v]) => `${k} ${v}`).join(', ')}); the operator's work queue ${fmt(l.queueDepth.max)} deep at most (mean ${fmt(l.queueDepth.mean)}), ${fmt(l.activeWorkers.mean, 1)} of ${l.workers ?? '?'} workers busy on average.`);
    }
    if (o.memory) parts.push(`Memory: operator RSS ${fmt(o.memory.rssBytes / MiB)} MiB with ${o.memory.resources} resources (${fmt(o.memory.idleRssBytes / MiB)} MiB with none${o.memory.perResourceBytes !== undefined ? `: ${fmt(o.memory.perResourceBytes / 1024, 1)} KiB per resource` : ''}${o.memory.heapUsedBytes ? `; V8 heap used ${fmt(o.memory.heapUsedBytes / MiB)} MiB` : ''}${o.memory.idleHeapUsedBytes ? `, ${fmt(o.memory.idleHeapUsedBytes / MiB)} MiB idle` : ''}${o.memory.entry ? `; \`node ${o.memory.entry} operator\`` : ''}).`);
  }
  if (r.pods) {
    const p = r.pods;
    parts.push(`### Gateway pods on the real node\nKubernetes ${p.kubernetes}: kube-apiserver, controller-manager, scheduler, one real node (kubelet, containerd, kube-proxy) started in ${fmt(p.clusterStartMs / 1000, 1)} s; the operator installed from the kustomize base; image \`${p.imageRef}\` (${fmt(p.imageBytes / MiB, 1)} MiB OCI archive). Times are observed by polling the API every 100 ms from the apply.`);
    if (p.start) {
      const st = p.start;
      parts.push(
        table(
          ['round', 'apply → 3 Ready s', ...['t1', 't2', 't3'].map((n) => `${n}: created / running / Ready s`), 'local process → /readyz s'],
          st.rounds.map((x, i) => [x.round, fmt(x.allReadyMs / 1000, 2), ...x.pods.map((q) => `${fmt(q.createdMs / 1000, 2)} / ${fmt(q.runningMs / 1000, 2)} / ${fmt(q.readyMs / 1000, 2)}`), fmt((st.processReadyMs[i] ?? NaN) / 1000, 2)]),
        ),
      );
      parts.push(`Medians: apply → three Ready ${fmt(st.medianAllReadyMs / 1000, 2)} s; per pod creation → Ready ${fmt(st.medianCreatedToReadyMs / 1000, 2)} s, of which apply → created ${fmt(st.steps.applyToCreatedMs / 1000, 2)} s (operator, Deployment and ReplicaSet controllers), created → running ${fmt(st.steps.createdToRunningMs / 1000, 2)} s (scheduler, kubelet, sandbox, network, container), running → Ready ${fmt(st.steps.runningToReadyMs / 1000, 2)} s (the gateway's start and the probes); the local process ${fmt(st.medianProcessReadyMs / 1000, 2)} s.`);
    }
    if (p.memory) {
      const m = p.memory;
      const row = (label: string, x: typeof m.idle, clients: number) => [label, clients, fmt(x.usage / MiB, 1), fmt(x.rss / MiB, 1), fmt(x.cache / MiB, 1), fmt(x.workingSet / MiB, 1), fmt(x.processRss / MiB, 1), x.heapUsed !== undefined ? fmt(x.heapUsed / MiB, 1) : ''];
      parts.push(`Memory of t1's gateway container, cgroup \`${m.cgroup}\`: ${fmt(m.connected)} of ${fmt(m.clients)} idle WebSocket clients connected through the loopback load balancer${m.failed ? ` (${m.failed} failed: ${m.firstError ?? '?'})` : ''}, ${m.dropped} dropped before the sample.`);
      parts.push(table(['state', 'clients', 'usage_in_bytes MiB', 'total_rss MiB', 'total_cache MiB', 'working set MiB', 'process VmRSS MiB', 'V8 heap used MiB'], [row('idle', m.idle, 0), row('half', m.half, m.halfConnected), row('loaded', m.loaded, m.connected)]));
      parts.push(`Per client (working set): ${fmt(m.perClientBytes / KiB, 1)} KiB${m.marginalPerClientBytes !== undefined ? `, marginal (half → full) ${fmt(m.marginalPerClientBytes / KiB, 1)} KiB` : ''}.${m.reference ? ` Reference, the same clients on the gateway as a local process: RSS ${fmt(m.reference.rssIdle / MiB, 1)} → ${fmt(m.reference.rssLoaded / MiB, 1)} MiB, ${fmt(m.reference.perClientBytes / KiB, 1)} KiB per client (${fmt(m.reference.connected)} connected).` : ''}`);
    }
    if (p.notes.length) parts.push(p.notes.join(' '));
  }
  const skipped = Object.entries(r.skipped);
  if (skipped.length) parts.push(`Skipped: ${skipped.map(([k, v]) => `${k} (${v})`).join('; ')}.`);
  const errors = Object.entries(r.errors);
  if (errors.length) parts.push(`Errors: ${errors.map(([k, v]) => `${k}: ${v.split('\n')[0]}`).join('; ')}.`);
  return `${parts.join('\n\n')}\n`;
}
