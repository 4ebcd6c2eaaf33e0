// The operator on a real control plane (etcd + kube-apiserver from dev/cluster), run as its own process
// through the CLI (`node src/cli/main.ts operator`) so that its memory is its own:
//   - convergence: from POSTing N XmppWebGateways (3 nodes each) to every child object present and the
//     status written for the resource's generation, for N = 1 (the 3-node case), 10, 100, 1000; for the large
//     ones, what limits the fill: CPU of the operator, kube-apiserver and etcd, the apiserver's requests per
//     second by verb, the operator's work-queue depth and busy workers;
//   - steady state: API write requests during an idle period with the resources in place, from the
//     apiserver's apiserver_request_total (and the operator's own count of its calls);
//   - memory: the operator's RSS with 1,000 resources (all applied at once, on a fresh operator) and with none.
// No kube-controller-manager or scheduler: nothing else writes, so every write seen is the operator's, and
// Deployments stay unavailable (status reports 0/3 nodes ready, which is still a written status).
import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { load } from 'js-yaml';
import { readFileSync } from 'node:fs';
import { cacheRoot, pinnedKubeVersion } from '../../dev/cluster/binaries.ts';
import { freePort } from '../../dev/harness/ports.ts';
import { spawnBounded, type BoundedProcess } from '../../dev/harness/process.ts';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.ts';
import { metricValue, REPO } from '../../dev/bench/servers.ts';
import { cpuSeconds, rssBytes } from '../../dev/bench/proc.ts';
import { sleep } from '../../dev/bench/stats.ts';
import { compiledCli, imageNodeOptions } from '../../dev/bench/image-runtime.ts';

export interface ConvergenceResult {
  resources: number;
  /** ms from the first POST to every resource converged (or to the deadline, when not all did) */
  ms: number;
  /** resources converged by then (all of them unless the deadline passed) */
  converged: number;
  /** child objects checked */
  objects: number;
  /** ms to the first resource converged */
  firstMs: number;
  /** when measured several times (the 3-node case): every time, ms; `ms` is then the median */
  samplesMs?: number[];
  /** what the fill cost, from the first POST to convergence (large cases) */
  load?: FillLoad;
}

/** Who was busy during a fill: the answer to "is the operator or the API server the limit?". */
export interface FillLoad {
  seconds: number;
  /** mean share of one core over the fill */
  cpu: { operator: number; apiserver: number; etcd: number; bench: number };
  /** requests the apiserver served during the fill (apiserver_request_total), by verb, and per second */
  apiserverRequests: Record<string, number>;
  requestsPerSecond: number;
  /** the operator's work queue (workqueue_depth) and busy workers (controller_runtime_active_workers), sampled each second */
  queueDepth: { max: number; mean: number };
  activeWorkers: { max: number; mean: number };
  workers?: number;
}

export interface OperatorResults {
  skipped?: string;
  kubernetes?: string;
  controlPlaneStartMs?: number;
  /** how the operator ran: `<node flags> <entry>` */
  entry?: string;
  convergence: ConvergenceResult[];
  steady?: {
    resources: number;
    seconds: number;
    /** every write the apiserver served, by resource and verb */
    apiserverWrites: Record<string, number>;
    /** writes to anything but leases: the apiserver renews its own identity Lease every 10 s, and the operator runs without leader election */
    totalWrites: number;
    /** the operator's own count of its write calls */
    operatorWrites: Record<string, number>;
  };
  memory?: {
    resources: number;
    rssBytes: number;
    heapUsedBytes?: number;
    idleRssBytes: number;
    idleHeapUsedBytes?: number;
    /** (RSS with the resources − RSS with none) / resources */
    perResourceBytes?: number;
    /** how the operator ran: `node <flags> <entry> operator` */
    entry?: string;
    /** RSS again after the steady-state period (idle with the resources in place): what V8 gave back */
    settledRssBytes?: number;
    settledAfterSeconds?: number;
    /** V8 heap reserved, memory outside the heap (Buffers), and the heap spaces' used bytes, with the resources */
    heapTotalBytes?: number;
    externalBytes?: number;
    heapSpaces?: Record<string, number>;
  };
  notes: string[];
}

type Obj = Record<string, any>;
/**
 * How the operator runs: as the image runs it (compiled, with the image's NODE_OPTIONS: dev/bench/image-runtime.ts),
 * or from the sources under --quick (no compile). XWG_BENCH_OPERATOR_ENTRY (a path from the repository, e.g.
 * src/cli/main.ts) and XWG_BENCH_OPERATOR_NODE_FLAGS (space-separated) override either, for experiments.
 */
function operatorCommand(quick: boolean): { flags: string[]; entry: string } {
  const override = process.env.XWG_BENCH_OPERATOR_NODE_FLAGS;
  const flags = override !== undefined ? override.split(' ').filter(Boolean) : quick ? [] : imageNodeOptions();
  const named = process.env.XWG_BENCH_OPERATOR_ENTRY;
  const entry = named ? path.join(REPO, named) : quick ? path.join(REPO, 'src/cli/main.ts') : compiledCli();
  return { flags, entry };
}
const GATEWAYS = '/apis/xwg.io/v1alpha1';
const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);

function operatorAvailable(): string | undefined {
  if (!existsSync(path.join(REPO, 'src/operator/operator.ts'))) return 'src/operator/operator.ts is not there yet';
  const cli = readFileSync(path.join(REPO, 'src/cli/commands.ts'), 'utf8');
  if (!/\boperator\s*:/.test(cli)) return 'the CLI has no operator command yet';
  return undefined;
}

async function kubeBinariesCached(): Promise<boolean> {
  if (process.env.KUBEBUILDER_ASSETS) return true;
  const dir = path.join(cacheRoot(), await pinnedKubeVersion());
  return ['kube-apiserver', 'etcd', 'kube-controller-manager', 'kube-scheduler'].every((b) => existsSync(path.join(dir, b)));
}

class Api {
  readonly cp: ControlPlane;
  readonly #agent: https.Agent;
  constructor(cp: ControlPlane) {
    this.cp = cp;
    this.#agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca: cp.ca, cert: cp.clientCert, key: cp.clientKey });
  }
  async call(method: string, p: string, body?: unknown): Promise<Obj> {
    const res = await this.cp.request(method, p, body);
    const parsed = res.body === '' ? {} : (JSON.parse(res.body) as Obj);
    if (res.status < 200 || res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${String(parsed.message ?? res.body).slice(0, 300)}`);
    return parsed;
  }
  async items(p: string): Promise<Obj[]> {
    return ((await this.call('GET', p)).items as Obj[]) ?? [];
  }
  /**
   * The names in a list, asked for as PartialObjectMetadataList: the apiserver sends metadata only, so the
   * bench's own polling of thousands of children costs it (and the machine) little beside the operator.
   */
  async names(p: string): Promise<string[]> {
    const body = await new Promise<string>((resolve, reject) => {
      const req = https.request(new URL(p, this.cp.server), { agent: this.#agent, headers: { accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`GET ${p}: ${res.statusCode} ${text.slice(0, 300)}`))));
        res.on('error', reject);
      });
      req.setTimeout(60_000, () => req.destroy(new Error(`GET ${p}: timed out`)));
      req.on('error', reject);
      req.end();
    });
    return ((JSON.parse(body) as Obj).items as Obj[]).map((o) => o.metadata.name as string);
  }
  close(): void {
    this.#agent.destroy();
  }
}

/** Pids of the control plane's etcd and kube-apiserver (their command lines name its directory). */
function controlPlanePids(cp: ControlPlane): { apiserver?: number; etcd?: number } {
  const out: { apiserver?: number; etcd?: number } = {};
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd: string[];
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!cmd.some((a) => a.includes(cp.dir))) continue;
    const bin = path.basename(cmd[0] ?? '');
    if (bin === 'kube-apiserver') out.apiserver = Number(d);
    else if (bin === 'etcd') out.etcd = Number(d);
  }
  return out;
}

function requestTotals(metrics: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="([^"]*)"/.exec(line)?.[1] ?? '?';
    out.set(verb, (out.get(verb) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/** Samples CPU, queue depth and busy workers each second until stopped; then the apiserver's requests. */
function sampleFill(cluster: Pick<Cluster, 'cp' | 'operator' | 'opMetrics'>): { stop(): Promise<FillLoad> } {
  const pids = controlPlanePids(cluster.cp);
  const cpu = (pid: number | undefined) => {
    try {
      return pid === undefined ? 0 : cpuSeconds(pid);
    } catch {
      return 0;
    }
  };
  const cpuNow = () => ({ operator: cpu(cluster.operator.pid), apiserver: cpu(pids.apiserver), etcd: cpu(pids.etcd), bench: cpu(process.pid) });
  const t0 = performance.now();
  const cpu0 = cpuNow();
  const before = cluster.cp.apiserverMetrics().then(requestTotals, () => new Map<string, number>());
  const depth: number[] = [];
  const busy: number[] = [];
  let workers: number | undefined;
  const timer = setInterval(() => {
    cluster
      .opMetrics()
      .then((m) => {
        const d = metricValue(m, 'workqueue_depth');
        const a = metricValue(m, 'controller_runtime_active_workers');
        const w = metricValue(m, 'controller_runtime_max_concurrent_reconciles');
        if (d !== undefined) depth.push(d);
        if (a !== undefined) busy.push(a);
        if (w !== undefined) workers = w;
      })
      .catch(() => {});
  }, 1000);
  const stats = (xs: number[]) => ({ max: xs.length ? Math.max(...xs) : 0, mean: xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0 });
  return {
    async stop() {
      clearInterval(timer);
      const seconds = (performance.now() - t0) / 1000;
      const cpu1 = cpuNow();
      const after = requestTotals(await cluster.cp.apiserverMetrics());
      const b = await before;
      const apiserverRequests: Record<string, number> = {};
      for (const [verb, n] of after) if (n - (b.get(verb) ?? 0) > 0) apiserverRequests[verb] = n - (b.get(verb) ?? 0);
      const total = Object.values(apiserverRequests).reduce((x, y) => x + y, 0);
      const share = (k: keyof typeof cpu0) => (cpu1[k] - cpu0[k]) / seconds;
      return {
        seconds,
        cpu: { operator: share('operator'), apiserver: share('apiserver'), etcd: share('etcd'), bench: share('bench') },
        apiserverRequests,
        requestsPerSecond: total / seconds,
        queueDepth: stats(depth),
        activeWorkers: stats(busy),
        ...(workers === undefined ? {} : { workers }),
      };
    },
  };
}

function gatewayResource(ns: string, name: string): Obj {
  return {
    apiVersion: 'xwg.io/v1alpha1',
    kind: 'XmppWebGateway',
    metadata: { name, namespace: ns },
    spec: {
      domains: ['example.com'],
      upstream: { host: 'prosody.xmpp.svc.cluster.local' },
      nodes: ['t1', 't2', 't3'].map((n) => ({ name: n, host: `${n}.${name}.example.com` })),
    },
  };
}

const PLURAL: Record<string, string> = { Ingress: 'ingresses' };
function listPath(apiVersion: string, kind: string, ns: string): string {
  const plural = PLURAL[kind] ?? `${kind.toLowerCase()}s`;
  return `${apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`}/namespaces/${ns}/${plural}`;
}

/** The child objects the operator is expected to create for one resource (the pure desired-state builder). */
async function expectedChildren(resource: Obj): Promise<{ apiVersion: string; kind: string; name: string }[]> {
  const { buildDesired } = await import('../../src/operator/desired/index.ts');
  const r = JSON.parse(JSON.stringify(resource)) as Obj;
  r.metadata.uid = 'bench';
  r.metadata.generation = 1;
  const desired = buildDesired(r as never, { defaultImage: 'registry.example.invalid/xwg:bench', certManagerAvailable: false });
  return desired.objects.map((o) => ({ apiVersion: o.apiVersion!, kind: o.kind!, name: o.metadata!.name! }));
}

/** POSTs `count` gateways into `ns` and polls until all are converged. */
async function converge(cluster: Cluster, ns: string, count: number, log: (l: string) => void): Promise<ConvergenceResult> {
  const { api } = cluster;
  await api.call('POST', '/api/v1/namespaces', { metadata: { name: ns } });
  const resources = Array.from({ length: count }, (_, i) => gatewayResource(ns, `g${i}`));
  const expected = await Promise.all(resources.map(expectedChildren));
  const kinds = new Map<string, string>();
  for (const list of expected) for (const o of list) kinds.set(`${o.apiVersion} ${o.kind}`, listPath(o.apiVersion, o.kind, ns));
  const pollMs = count <= 10 ? 25 : count <= 100 ? 250 : 1000;
  const sampler = count >= 100 ? sampleFill(cluster) : undefined;
  const t0 = performance.now();
  let next = 0;
  const post = async () => {
    while (next < count) {
      const r = resources[next++]!;
      await api.call('POST', `${GATEWAYS}/namespaces/${ns}/xmppwebgateways`, r);
    }
  };
  const posting = Promise.all(Array.from({ length: Math.min(16, count) }, post));
  let firstMs = Number.NaN;
  const deadline = t0 + Math.max(120_000, count * 1_500);
  let done = 0;
  let lastLog = t0;
  const childrenOf = async (): Promise<Set<string>> => {
    const present = new Set<string>();
    for (const [key, p] of kinds) for (const name of await api.names(p)) present.add(`${key} ${name}`);
    return present;
  };
  for (;;) {
    await sleep(pollMs);
    const gws = await api.items(`${GATEWAYS}/namespaces/${ns}/xmppwebgateways`);
    const statusDone = new Set(gws.filter((g) => g.status?.observedGeneration !== undefined && g.status.observedGeneration === g.metadata.generation).map((g) => g.metadata.name as string));
    // The children are listed (metadata only) for the first converged resource and once every status is
    // written: the operator writes a status after applying the children, so in between the statuses tell
    // the progress, and the bench does not list thousands of objects each second beside the operator.
    if (statusDone.size > 0 && (Number.isNaN(firstMs) || statusDone.size === count)) {
      const present = await childrenOf();
      done = resources.filter((r, i) => statusDone.has(r.metadata.name) && expected[i]!.every((o) => present.has(`${o.apiVersion} ${o.kind} ${o.name}`))).length;
      if (done > 0 && Number.isNaN(firstMs)) firstMs = performance.now() - t0;
    } else if (!Number.isNaN(firstMs)) done = Math.max(done, Math.min(statusDone.size, count - 1));
    if (done === count) break;
    if (performance.now() - lastLog > 15_000) {
      lastLog = performance.now();
      log(`    ${ns}: ${statusDone.size}/${count} statuses written after ${((lastLog - t0) / 1000).toFixed(0)} s`);
    }
    if (performance.now() > deadline) {
      log(`  ${ns}: only ${done}/${count} converged by the deadline`);
      break;
    }
  }
  const ms = performance.now() - t0;
  const load = await sampler?.stop();
  await posting;
  const objects = expected.reduce((a, l) => a + l.length, 0);
  log(`  ${count} resource(s): ${done === count ? 'converged' : `${done} converged`} in ${ms.toFixed(0)} ms (first after ${firstMs.toFixed(0)} ms), ${objects} child objects`);
  if (load) log(`    fill: CPU (share of one core) operator ${load.cpu.operator.toFixed(2)}, kube-apiserver ${load.cpu.apiserver.toFixed(2)}, etcd ${load.cpu.etcd.toFixed(2)}, bench ${load.cpu.bench.toFixed(2)}; apiserver ${load.requestsPerSecond.toFixed(0)} requests/s ${JSON.stringify(load.apiserverRequests)}; queue depth max ${load.queueDepth.max} mean ${load.queueDepth.mean.toFixed(0)}; busy workers mean ${load.activeWorkers.mean.toFixed(1)} of ${load.workers ?? '?'}`);
  return { resources: count, ms, converged: done, objects, firstMs, ...(load ? { load } : {}) };
}

function writes(metrics: string, include: (resource: string, subresource: string) => boolean): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!WRITE_VERBS.has(labels.verb ?? '') || !include(labels.resource ?? '', labels.subresource ?? '')) continue;
    const key = `${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''} ${labels.verb}`;
    out.set(key, (out.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

function operatorWriteCalls(metrics: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('xwg_operator_api_calls_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!['create', 'update', 'patch', 'delete'].includes(labels.verb ?? '')) continue;
    const key = `${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''} ${labels.verb}`;
    out.set(key, (out.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

function diff(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) !== 0) out[k] = v - (before.get(k) ?? 0);
  return out;
}

interface Cluster {
  cp: ControlPlane;
  api: Api;
  operator: BoundedProcess;
  opMetrics(): Promise<string>;
  idleRss: number;
  idleHeap: number | undefined;
  stop(): Promise<void>;
}

/** A control plane with the CRD, and the operator (CLI, own process) ready. */
async function startCluster(o: { quick: boolean; apiserverArgs: string[]; log: (l: string) => void; results: OperatorResults }): Promise<Cluster> {
  const t0 = performance.now();
  const cp = await startControlPlane({ controllerManager: false, maxLifetimeMs: o.quick ? 5 * 60_000 : 90 * 60_000, apiserverArgs: o.apiserverArgs });
  let operator: BoundedProcess | undefined;
  try {
    o.results.kubernetes = cp.version;
    o.results.controlPlaneStartMs ??= performance.now() - t0;
    o.log(`  control plane ${cp.version} ready in ${((performance.now() - t0) / 1000).toFixed(1)} s${o.apiserverArgs.length ? ` (${o.apiserverArgs.join(' ')})` : ''}`);
    const api = new Api(cp);
    const crd = load(readFileSync(path.join(REPO, 'crds/xwg.io_xmppwebgateways.yaml'), 'utf8')) as Obj;
    await api.call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    for (;;) {
      const resources = (await api.call('GET', '/apis/xwg.io/v1alpha1').catch(() => ({}))) as Obj;
      if ((resources.resources as Obj[] | undefined)?.some((r) => r.name === 'xmppwebgateways')) break;
      await sleep(100);
    }
    const metricsPort = await freePort();
    const command = operatorCommand(o.quick);
    o.results.entry = [...command.flags, path.relative(REPO, command.entry)].join(' ');
    const kubeconfig = path.join(cp.dir, 'bench-operator.kubeconfig');
    await writeFile(kubeconfig, cp.kubeconfig);
    operator = spawnBounded({
      command: process.execPath,
      args: [
        ...command.flags,
        command.entry,
        'operator',
        '--kubeconfig', kubeconfig,
        '--leader-elect=false',
        '--metrics-port', String(metricsPort),
        '--metrics-bind-address', '127.0.0.1',
        '--gateway-image', 'registry.example.invalid/xwg:bench',
        '--log-level', 'warn',
      ],
      cwd: REPO,
      name: 'operator',
      maxLifetimeMs: o.quick ? 4 * 60_000 : 80 * 60_000,
    });
    const op = operator;
    await op.waitForPort(metricsPort, { timeoutMs: 60_000 });
    for (;;) {
      const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then((r) => r.ok, () => false);
      if (ready) break;
      if (!op.isRunning()) throw new Error(`operator exited: ${op.output().slice(-2000)}`);
      await sleep(100);
    }
    const opMetrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    // Idle: the caches synced, nothing to reconcile; a moment for the start-up garbage to be collected.
    await sleep(2_000);
    return {
      cp,
      api,
      operator: op,
      opMetrics,
      idleRss: rssBytes(op.pid),
      idleHeap: metricValue(await opMetrics(), 'nodejs_heap_size_used_bytes'),
      stop: async () => {
        api.close();
        await op.stop({ graceMs: 10_000 });
        await cp.stop();
      },
    };
  } catch (e) {
    await operator?.stop({ graceMs: 5_000 });
    await cp.stop();
    throw e;
  }
}

export async function runOperatorBench(o: { quick: boolean; log: (l: string) => void; steadySeconds?: number; counts?: number[] }): Promise<OperatorResults> {
  const { log } = o;
  const missing = operatorAvailable();
  if (missing) return { skipped: missing, convergence: [], notes: [] };
  if (o.quick && !(await kubeBinariesCached())) {
    return { skipped: 'the control-plane binaries are not built (node dev/cluster/binaries.ts builds them); quick mode does not build them', convergence: [], notes: [] };
  }
  const results: OperatorResults = { convergence: [], notes: [] };
  const counts = o.counts ?? [10, 100, 1000];
  // The small cases on a stock control plane (as a user's cluster), the large ones on one with wider service
  // ranges (see below).
  const small = counts.filter((n) => n < 60);
  const large = counts.filter((n) => n >= 60);
  // Four Services per resource: the harness's /24 holds only 63 resources' ClusterIPs (the later flag wins);
  // every node Service also takes a NodePort, and the default range (2,768 ports) holds ~920 resources.
  // The addresses are virtual: nothing routes them (no kube-proxy), nothing is ever sent there.
  const wide = ['--service-cluster-ip-range=10.0.0.0/16', '--service-node-port-range=30000-39999'];
  let cluster = await startCluster({ quick: o.quick, apiserverArgs: [], log, results });
  try {
    // The 3-node case several times, one resource after the other: its time varies from run to run.
    const single: ConvergenceResult[] = [];
    for (let i = 1; i <= (o.quick ? 1 : 5); i++) single.push(await converge(cluster, `conv-1-${i}`, 1, log));
    const sorted = [...single].sort((a, b) => a.ms - b.ms);
    results.convergence.push({ ...sorted[Math.floor((sorted.length - 1) / 2)]!, samplesMs: single.map((x) => x.ms) });
    if (o.quick) return results;
    for (const n of small) results.convergence.push(await converge(cluster, `conv-${n}`, n, log));
    // Each large case on a fresh control plane and a fresh operator: with no controller-manager nothing
    // deletes a namespace's objects, so a case would otherwise fill on top of the previous one; and the
    // largest case gives the memory with exactly that many resources against the same operator idle.
    for (const n of large) {
      await cluster.stop();
      cluster = await startCluster({ quick: false, apiserverArgs: wide, log, results });
      results.convergence.push(await converge(cluster, `conv-${n}`, n, log));
      await sleep(3_000);
      const m = await cluster.opMetrics();
      const rss = rssBytes(cluster.operator.pid);
      const heap = metricValue(m, 'nodejs_heap_size_used_bytes');
      if (n === large[large.length - 1]) {
        results.memory = {
          resources: n,
          rssBytes: rss,
          idleRssBytes: cluster.idleRss,
          perResourceBytes: (rss - cluster.idleRss) / n,
          ...(results.entry ? { entry: results.entry } : {}),
          ...(heap !== undefined ? { heapUsedBytes: heap } : {}),
          ...(cluster.idleHeap !== undefined ? { idleHeapUsedBytes: cluster.idleHeap } : {}),
          ...(metricValue(m, 'nodejs_heap_size_total_bytes') !== undefined ? { heapTotalBytes: metricValue(m, 'nodejs_heap_size_total_bytes')! } : {}),
          ...(metricValue(m, 'nodejs_external_memory_bytes') !== undefined ? { externalBytes: metricValue(m, 'nodejs_external_memory_bytes')! } : {}),
          heapSpaces: Object.fromEntries([...m.matchAll(/^nodejs_heap_space_size_used_bytes\{space="([^"]+)"\} (\S+)$/gm)].map((x) => [x[1]!, Number(x[2])])),
        };
        log(`  memory: RSS ${(rss / 2 ** 20).toFixed(0)} MiB with ${n} resources, ${(cluster.idleRss / 2 ** 20).toFixed(0)} MiB with none: ${((rss - cluster.idleRss) / n / 1024).toFixed(1)} KiB per resource (V8 heap ${((heap ?? 0) / 2 ** 20).toFixed(0)} MiB, ${((cluster.idleHeap ?? 0) / 2 ** 20).toFixed(0)} MiB idle; heap reserved ${((results.memory.heapTotalBytes ?? 0) / 2 ** 20).toFixed(0)} MiB, external ${((results.memory.externalBytes ?? 0) / 2 ** 20).toFixed(0)} MiB; used by space ${Object.entries(results.memory.heapSpaces ?? {}).map(([k, v]) => `${k} ${(v / 2 ** 20).toFixed(1)}`).join(', ')} MiB)`);
      }
      const steadyHere = n === 100 || (n === large[large.length - 1] && !results.steady);
      if (results.memory?.resources === n && !steadyHere) {
        // V8 gives back the heap it grew during the fill only after a while without much allocation.
        const seconds = Math.min(60, o.steadySeconds ?? 60);
        await sleep(seconds * 1000);
        results.memory.settledRssBytes = rssBytes(cluster.operator.pid);
        results.memory.settledAfterSeconds = seconds;
        log(`  memory after ${seconds} s idle: RSS ${(results.memory.settledRssBytes / 2 ** 20).toFixed(0)} MiB with ${n} resources`);
      }
      if (steadyHere) {
        const seconds = o.steadySeconds ?? 300;
        await sleep(2_000);
        log(`  steady state: ${n} resources, ${seconds} s idle`);
        const include = (r: string) => !['tokenreviews', 'subjectaccessreviews', 'selfsubjectaccessreviews'].includes(r);
        const a = writes(await cluster.cp.apiserverMetrics(), include);
        const oa = operatorWriteCalls(await cluster.opMetrics());
        await sleep(seconds * 1000);
        const b = writes(await cluster.cp.apiserverMetrics(), include);
        const ob = operatorWriteCalls(await cluster.opMetrics());
        const apiserverWrites = diff(a, b);
        results.steady = {
          resources: n,
          seconds,
          apiserverWrites,
          totalWrites: Object.entries(apiserverWrites).filter(([k]) => !k.startsWith('leases ')).reduce((x, [, y]) => x + y, 0),
          operatorWrites: diff(oa, ob),
        };
        if (results.memory?.resources === n) {
          results.memory.settledRssBytes = rssBytes(cluster.operator.pid);
          results.memory.settledAfterSeconds = seconds;
          log(`  memory after ${seconds} s idle: RSS ${(results.memory.settledRssBytes / 2 ** 20).toFixed(0)} MiB with ${n} resources`);
        }
        log(`  steady state: ${results.steady.totalWrites} write requests at the apiserver in ${seconds} s other than Lease renewals (all: ${JSON.stringify(apiserverWrites)}; the operator counted ${JSON.stringify(results.steady.operatorWrites)})`);
      }
    }
    return results;
  } finally {
    await cluster.stop();
  }
}
