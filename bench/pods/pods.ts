// The gateway as real pods (dev/cluster: a real kubelet + containerd running the image built from the
// Dockerfile, the operator installed from the kustomize base):
//   - start: from applying a 3-node XmppWebGateway to three Ready pods, and for each pod from its creation
//     (first seen in the API) to Ready, in several rounds (a fresh namespace each), median reported; the
//     reference is the same gateway started as a local process (spawn to /readyz answering 200);
//   - memory: the gateway container's memory cgroup (v1: memory.usage_in_bytes, memory.stat total_rss, and the
//     working set the kubelet reports, usage − total_inactive_file) idle and with N idle WebSocket clients
//     through the loopback load balancer (dev/bench/light-clients.ts), half then all; the reference is the
//     same clients on the gateway as a local process (its RSS).
// The upstream is the bench's XMPP stub on the host end of the node's veth (where pods reach the host).
import { freePort } from '../../dev/harness/ports.ts';
import { realNodeUnavailable, startLocalCluster, type LocalCluster } from '../../dev/cluster/cluster.ts';
import { installOperator } from '../../dev/cluster/install.ts';
import { cgroupMemory, containerPid, gatewayPods, listPods, memoryCgroupOf, type CgroupMemory } from '../../dev/harness/pods.ts';
import { eventually } from '../../dev/harness/wait.ts';
import { startXmppStub, type XmppStub } from '../../dev/bench/xmpp-stub.ts';
import { benchGatewayConfig, metricValue, spawnGateway, type GatewayProcess } from '../../dev/bench/servers.ts';
import { rssBytes } from '../../dev/bench/proc.ts';
import { median, sleep } from '../../dev/bench/stats.ts';
import { startWorker, type WorkerHandle } from '../../dev/bench/workers.ts';

const DOMAIN = 'example.com';
const GATEWAY = 'chat';
const NODES = ['t1', 't2', 't3'];
const ADMIN_PORT = 9280;
const LOCAL_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

export interface PodTiming {
  node: string;
  /** ms from the apply to the pod first seen in the API */
  createdMs: number;
  /** … to its gateway container seen running */
  runningMs: number;
  /** … to the pod seen Ready */
  readyMs: number;
}

export interface PodStartRound {
  round: number;
  /** ms from the apply to all three pods Ready */
  allReadyMs: number;
  pods: PodTiming[];
}

export interface PodMemorySample extends CgroupMemory {
  /** VmRSS of the container's main process */
  processRss: number;
  /** V8 heap used, from the gateway's /metrics on the pod's admin port */
  heapUsed?: number;
}

export interface PodResults {
  kubernetes: string;
  imageRef: string;
  imageBytes: number;
  clusterStartMs: number;
  start?: {
    rounds: PodStartRound[];
    medianAllReadyMs: number;
    /** median over every pod of every round, creation → Ready */
    medianCreatedToReadyMs: number;
    /** median of the apply → pod created, created → running, running → Ready steps */
    steps: { applyToCreatedMs: number; createdToRunningMs: number; runningToReadyMs: number };
    /** the gateway as a local process: spawn → /readyz 200, each round */
    processReadyMs: number[];
    medianProcessReadyMs: number;
  };
  memory?: {
    clients: number;
    connected: number;
    failed: number;
    firstError?: string;
    dropped: number;
    cgroup: string;
    idle: PodMemorySample;
    half: PodMemorySample;
    loaded: PodMemorySample;
    halfConnected: number;
    /** working-set growth / clients */
    perClientBytes: number;
    /** working-set growth from half to full load / the clients added */
    marginalPerClientBytes?: number;
    /** the same clients on the gateway as a local process */
    reference?: { rssIdle: number; rssLoaded: number; connected: number; perClientBytes: number };
  };
  notes: string[];
}

export interface PodBenchOptions {
  start: boolean;
  memory: boolean;
  rounds: number;
  clients: number;
  quick: boolean;
  log: (line: string) => void;
}

function gatewayResource(namespace: string, upstream: { host: string; port: number }): Record<string, unknown> {
  return {
    apiVersion: 'xwg.io/v1alpha1',
    kind: 'XmppWebGateway',
    metadata: { name: GATEWAY, namespace },
    spec: {
      domains: [DOMAIN],
      upstream: { host: upstream.host, port: upstream.port, tls: 'none' },
      nodes: NODES.map((n) => ({ name: n, host: `${n}.${DOMAIN}` })),
      service: { ports: { https: 443, http: 80 } },
      // Every bench client reaches the pod from the load balancer's one address.
      limits: { maxConnectionsPerAddress: 1_000_000 },
    },
  };
}

async function apply(cluster: LocalCluster, obj: unknown): Promise<void> {
  await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: JSON.stringify(obj) });
}

/** Applies the gateway into a fresh namespace and times its pods to Ready, polling the API every 100 ms. */
async function startRound(cluster: LocalCluster, round: number, namespace: string, upstream: { host: string; port: number }): Promise<PodStartRound> {
  await cluster.kubectl(['create', 'namespace', namespace]);
  const t0 = performance.now();
  await apply(cluster, gatewayResource(namespace, upstream));
  const seen = new Map<string, Partial<PodTiming>>();
  await eventually(
    `three Ready pods in ${namespace}`,
    async () => {
      const now = performance.now() - t0;
      for (const p of await listPods(cluster, namespace)) {
        const node = p.metadata.labels?.['xwg.io/node'];
        if (!node || p.metadata.deletionTimestamp) continue;
        const t = seen.get(node) ?? { node, createdMs: now };
        const c = p.status?.containerStatuses?.find((s) => s.name === 'gateway');
        if (c?.state?.running && t.runningMs === undefined) t.runningMs = now;
        if (p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') && t.readyMs === undefined) t.readyMs = now;
        seen.set(node, t);
      }
      return NODES.every((n) => seen.get(n)?.readyMs !== undefined);
    },
    { timeoutMs: 180_000, everyMs: 100 },
  );
  const pods = NODES.map((n) => {
    const t = seen.get(n)!;
    return { node: n, createdMs: t.createdMs!, runningMs: t.runningMs ?? t.readyMs!, readyMs: t.readyMs! };
  });
  return { round, allReadyMs: Math.max(...pods.map((p) => p.readyMs)), pods };
}

/** The gateway as a local process: spawn → /readyz 200 on its admin port. */
async function processReady(stub: XmppStub, maxMs: number): Promise<{ ms: number; gateway: GatewayProcess; adminPort: number }> {
  const adminPort = await freePort();
  const t0 = performance.now();
  const gateway = await spawnGateway({
    config: benchGatewayConfig({ host: '127.0.0.1', port: stub.ports[0]!, tls: 'none' }, { admin: { port: adminPort } }),
    maxMs,
    name: 'gateway-reference',
  });
  await eventually('the local gateway to answer /readyz', async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status === 200, { timeoutMs: 30_000, everyMs: 20 });
  return { ms: performance.now() - t0, gateway, adminPort };
}

async function sampleMemory(cgroup: string, pid: number, metricsUrl: string | undefined, settleMs: number, samples: number): Promise<PodMemorySample> {
  await sleep(settleMs);
  const taken: PodMemorySample[] = [];
  for (let i = 0; i < samples; i++) {
    const heap = metricsUrl ? await fetch(metricsUrl).then(async (r) => metricValue(await r.text(), 'xwg_process_nodejs_heap_size_used_bytes')).catch(() => undefined) : undefined;
    taken.push({ ...(await cgroupMemory(cgroup)), processRss: rssBytes(pid), ...(heap === undefined ? {} : { heapUsed: heap }) });
    if (i < samples - 1) await sleep(500);
  }
  const mid = (k: 'usage' | 'rss' | 'cache' | 'workingSet' | 'processRss') => median(taken.map((t) => t[k]));
  const heaps = taken.map((t) => t.heapUsed).filter((h): h is number => h !== undefined);
  return { cgroup, usage: mid('usage'), rss: mid('rss'), cache: mid('cache'), workingSet: mid('workingSet'), processRss: mid('processRss'), ...(heaps.length ? { heapUsed: median(heaps) } : {}) };
}

/** Opens `count` light WebSocket clients on host:port in two halves; `between` runs after the first half. */
async function openClients(port: number, count: number, maxMs: number, between: (halfReady: number) => Promise<void>): Promise<{ worker: WorkerHandle; ready: number; failed: number; firstError?: string }> {
  const light = { mode: 'ws' as const, host: '127.0.0.1', port, path: '/xmpp-websocket', localAddresses: LOCAL_ADDRESSES, domains: [DOMAIN] };
  const half = Math.floor(count / 2);
  const worker = startWorker({ kind: 'scale', light, count, steps: [half, count - half], concurrency: 64 }, maxMs);
  const first = await worker.next('ready');
  await between(first.ready ?? 0);
  worker.send({ type: 'go' });
  const second = await worker.next('ready');
  const firstError = first.firstError ?? second.firstError;
  return { worker, ready: (first.ready ?? 0) + (second.ready ?? 0), failed: (first.failed ?? 0) + (second.failed ?? 0), ...(firstError ? { firstError } : {}) };
}

async function warmUp(port: number): Promise<void> {
  const w = startWorker({ kind: 'scale', light: { mode: 'ws', host: '127.0.0.1', port, path: '/xmpp-websocket', localAddresses: LOCAL_ADDRESSES, domains: [DOMAIN] }, count: 50, concurrency: 10 }, 60_000);
  await w.next('ready');
  await w.close();
}

export async function runPodBench(o: PodBenchOptions): Promise<PodResults | { skipped: string }> {
  const unavailable = await realNodeUnavailable();
  if (unavailable) return { skipped: `the real node cannot start here: ${unavailable}` };
  const maxMs = 60 * 60_000;
  const log = o.log;
  const t0 = performance.now();
  const cluster = await startLocalCluster({ log: (l) => log(`  [cluster] ${l}`), maxLifetimeMs: maxMs });
  const started: { stop(): Promise<void> }[] = [];
  try {
    const clusterStartMs = performance.now() - t0;
    const version = JSON.parse(await cluster.kubectl(['version', '-o', 'json'])) as { serverVersion?: { gitVersion?: string } };
    const results: PodResults = {
      kubernetes: version.serverVersion?.gitVersion ?? '?',
      imageRef: cluster.gatewayImage.ref,
      imageBytes: cluster.gatewayImage.sizeBytes,
      clusterStartMs,
      notes: [],
    };
    // Pods reach the host at the host end of the node's veth; the reference process at 127.0.0.1.
    const podStub = await startXmppStub({ host: cluster.node.net.hostIp });
    started.push({ stop: () => podStub.close() });
    const localStub = await startXmppStub();
    started.push({ stop: () => localStub.close() });
    const upstream = { host: cluster.node.net.hostIp, port: podStub.ports[0]! };
    log('  pods: installing the operator (kustomize base, the built image)');
    await installOperator(cluster, 'kustomize');

    let lastNamespace: string | undefined;
    if (o.start) {
      const rounds: PodStartRound[] = [];
      const processReadyMs: number[] = [];
      for (let r = 1; r <= o.rounds; r++) {
        const ns = `xwg-bench-start-${r}`;
        const round = await startRound(cluster, r, ns, upstream);
        rounds.push(round);
        log(`  pod start round ${r}: three Ready in ${(round.allReadyMs / 1000).toFixed(2)} s (${round.pods.map((p) => `${p.node} created ${(p.createdMs / 1000).toFixed(2)}, running ${(p.runningMs / 1000).toFixed(2)}, Ready ${(p.readyMs / 1000).toFixed(2)}`).join('; ')})`);
        // Each round's pods go before the next starts; the last round's stay for the memory part.
        if (r === o.rounds && o.memory) lastNamespace = ns;
        else await cluster.kubectl(['delete', 'namespace', ns, '--wait=true', '--timeout=180s']);
        const p = await processReady(localStub, maxMs);
        processReadyMs.push(p.ms);
        await p.gateway.stop();
      }
      const all = rounds.flatMap((r) => r.pods);
      results.start = {
        rounds,
        medianAllReadyMs: median(rounds.map((r) => r.allReadyMs)),
        medianCreatedToReadyMs: median(all.map((p) => p.readyMs - p.createdMs)),
        steps: {
          applyToCreatedMs: median(all.map((p) => p.createdMs)),
          createdToRunningMs: median(all.map((p) => p.runningMs - p.createdMs)),
          runningToReadyMs: median(all.map((p) => p.readyMs - p.runningMs)),
        },
        processReadyMs,
        medianProcessReadyMs: median(processReadyMs),
      };
      log(`  pod start: median ${(results.start.medianAllReadyMs / 1000).toFixed(2)} s to three Ready pods, ${(results.start.medianCreatedToReadyMs / 1000).toFixed(2)} s per pod from creation; local process ${(results.start.medianProcessReadyMs / 1000).toFixed(2)} s`);
    }

    if (o.memory) {
      const ns = lastNamespace ?? 'xwg-bench-memory';
      if (!lastNamespace) {
        await cluster.kubectl(['create', 'namespace', ns]);
        await apply(cluster, gatewayResource(ns, upstream));
      }
      await eventually('three Ready pods', async () => [...(await gatewayPods(cluster, ns)).values()].filter((p) => p.ready).length === 3, { timeoutMs: 180_000, everyMs: 250 });
      const pod = (await gatewayPods(cluster, ns)).get('t1')!;
      const podIp = (await listPods(cluster, ns, 'xwg.io/node=t1')).find((p) => !p.metadata.deletionTimestamp)?.status?.podIP;
      const pid = await containerPid(cluster, pod.containerId);
      const cgroup = await memoryCgroupOf(pid);
      const metricsUrl = podIp ? `http://${podIp}:${ADMIN_PORT}/metrics` : undefined;
      const { localPort } = await cluster.loadBalancer.address(ns, `${GATEWAY}-t1`, 80);
      const settleMs = o.quick ? 300 : 2000;
      const samples = o.quick ? 1 : 3;
      log(`  pod memory: t1's container ${pod.containerId.slice(13, 25)} (pid ${pid}), cgroup ${cgroup}; ${o.clients} clients through 127.0.0.1:${localPort}`);
      if (!o.quick) await warmUp(localPort);
      const idle = await sampleMemory(cgroup, pid, metricsUrl, settleMs, samples);
      let half: PodMemorySample | undefined;
      const opened = await openClients(localPort, o.clients, maxMs, async () => {
        half = await sampleMemory(cgroup, pid, metricsUrl, settleMs, samples);
      });
      const halfConnected = Math.floor(o.clients / 2);
      try {
        const loaded = await sampleMemory(cgroup, pid, metricsUrl, settleMs, samples);
        opened.worker.send({ type: 'status' });
        const status = await opened.worker.next('status', 30_000);
        results.memory = {
          clients: o.clients,
          connected: opened.ready,
          failed: opened.failed,
          ...(opened.firstError ? { firstError: opened.firstError } : {}),
          dropped: status.dropped,
          cgroup,
          idle,
          half: half!,
          loaded,
          halfConnected,
          perClientBytes: (loaded.workingSet - idle.workingSet) / Math.max(1, opened.ready),
          ...(opened.ready > halfConnected ? { marginalPerClientBytes: (loaded.workingSet - half!.workingSet) / (opened.ready - halfConnected) } : {}),
        };
      } finally {
        await opened.worker.close();
      }
      const m = results.memory!;
      log(`  pod memory: working set ${(m.idle.workingSet / 2 ** 20).toFixed(1)} → ${(m.loaded.workingSet / 2 ** 20).toFixed(1)} MiB (rss ${(m.idle.rss / 2 ** 20).toFixed(1)} → ${(m.loaded.rss / 2 ** 20).toFixed(1)}), ${m.connected} connected, ${(m.perClientBytes / 1024).toFixed(1)} KiB per client`);

      // The reference: the same clients on the gateway as a local process.
      const ref = await processReady(localStub, maxMs);
      try {
        if (!o.quick) await warmUp(ref.gateway.port);
        await sleep(settleMs);
        const rssIdle = rssBytes(ref.gateway.pid);
        const local = await openClients(ref.gateway.port, o.clients, maxMs, async () => {});
        try {
          await sleep(settleMs);
          const rssLoaded = median(await Promise.all(Array.from({ length: samples }, async (_, i) => (await sleep(i * 500), rssBytes(ref.gateway.pid)))));
          m.reference = { rssIdle, rssLoaded, connected: local.ready, perClientBytes: (rssLoaded - rssIdle) / Math.max(1, local.ready) };
          log(`  reference process: RSS ${(rssIdle / 2 ** 20).toFixed(1)} → ${(rssLoaded / 2 ** 20).toFixed(1)} MiB, ${local.ready} connected`);
        } finally {
          await local.worker.close();
        }
      } finally {
        await ref.gateway.stop();
      }
    }
    return results;
  } finally {
    for (const s of started.reverse()) await s.stop().catch(() => {});
    await cluster.stop();
  }
}
