// The bench results as Markdown tables, with each target and whether this run met it (reported, never enforced).
import type { BenchResults } from '../../bench/run.ts';
import type { RelayMeasurement } from '../../bench/gateway/relay.ts';
import { fmt } from './stats.ts';
import { goalRows, targets } from './targets.ts';

const KiB = 1024;
const MiB = 2 ** 20;

export function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

const byPath = (list: RelayMeasurement[] | undefined, name: string) => list?.find((r) => r.path === name);

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
    parts.push(table(['target', 'goal', 'this run', 'reference, same run', 'ratio', 'met'], goalRows(t)));
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
