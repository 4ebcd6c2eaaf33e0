// What the real node (dev/cluster) runs, seen from outside: the gateway pods' identities and readiness from the
// API, their containers' processes from containerd, their memory from the kernel's cgroups, and the kubelet's
// own counters. Shared by the real-node fault runs (test/chaos) and the pod benchmarks (bench/pods).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { LocalCluster } from '../cluster/cluster.ts';

export interface PodObject {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string; creationTimestamp?: string };
  status?: {
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    containerStatuses?: { name: string; containerID?: string; ready: boolean; started?: boolean; restartCount: number; state?: { running?: { startedAt: string } } }[];
  };
}

/** One gateway node's pod as the API shows it. */
export interface GatewayPodState {
  node: string;
  pod: string;
  uid: string;
  /** containerd://… of the gateway container; '' before it first ran. */
  containerId: string;
  restartCount: number;
  running: boolean;
  ready: boolean;
}

export const isReady = (p: PodObject): boolean =>
  !p.metadata.deletionTimestamp && (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false);

/** Pods of a namespace (one API call, no kubectl process: cheap enough to poll several times a second). */
export async function listPods(cluster: LocalCluster, namespace: string, selector = 'xwg.io/node'): Promise<PodObject[]> {
  const res = await cluster.controlPlane.request('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`);
  if (res.status !== 200) throw new Error(`listing pods of ${namespace}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
  return (JSON.parse(res.body) as { items: PodObject[] }).items;
}

/** The live (not terminating) gateway pod of each node, by node name. */
export async function gatewayPods(cluster: LocalCluster, namespace: string): Promise<Map<string, GatewayPodState>> {
  const out = new Map<string, GatewayPodState>();
  for (const p of await listPods(cluster, namespace)) {
    const node = p.metadata.labels?.['xwg.io/node'];
    if (!node || p.metadata.deletionTimestamp) continue;
    const c = p.status?.containerStatuses?.find((s) => s.name === 'gateway');
    out.set(node, {
      node,
      pod: p.metadata.name,
      uid: p.metadata.uid,
      containerId: c?.containerID ?? '',
      restartCount: c?.restartCount ?? 0,
      running: c?.state?.running !== undefined,
      ready: isReady(p),
    });
  }
  return out;
}

/** Host pid of a container's main process (containerd's task list). */
export async function containerPid(cluster: LocalCluster, containerId: string): Promise<number> {
  const id = containerId.replace(/^containerd:\/\//, '');
  const tasks = await cluster.node.ctr(['tasks', 'ls']);
  const line = tasks.split('\n').find((l) => l.startsWith(id));
  const pid = Number(line?.split(/\s+/)[1]);
  if (!pid) throw new Error(`no running task for container ${id}:\n${tasks}`);
  return pid;
}

/** Every running task: container id → host pid. */
export async function containerTasks(cluster: LocalCluster): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await cluster.node.ctr(['tasks', 'ls'])).split('\n').slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id && status === 'RUNNING') out.set(id, Number(pid));
  }
  return out;
}

export interface CgroupMemory {
  /** The container's v1 memory cgroup, e.g. /sys/fs/cgroup/memory/xwg-node-0/kubepods/burstable/pod…/<id>. */
  cgroup: string;
  /** memory.usage_in_bytes: everything charged to the cgroup, page cache included. */
  usage: number;
  /** memory.stat total_rss: anonymous memory (the process's heap, stacks, buffers). */
  rss: number;
  /** memory.stat total_cache: page cache charged (the image's files read, the mounted volumes). */
  cache: number;
  /** usage − total_inactive_file: what the kubelet calls the working set (kubectl top, evictions). */
  workingSet: number;
}

/** The memory cgroup of a process (v1 `memory` controller, or the unified hierarchy when that is where it is). */
export async function memoryCgroupOf(pid: number): Promise<string> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('memory'));
  if (v1) return path.join('/sys/fs/cgroup/memory', v1.split(':')[2]!);
  throw new Error(`process ${pid} is in no v1 memory cgroup:\n${lines.join('\n')}`);
}

export async function cgroupMemory(cgroup: string): Promise<CgroupMemory> {
  const usage = Number((await readFile(path.join(cgroup, 'memory.usage_in_bytes'), 'utf8')).trim());
  const stat = new Map(
    (await readFile(path.join(cgroup, 'memory.stat'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [k, v] = l.split(' ');
        return [k!, Number(v)] as const;
      }),
  );
  const get = (k: string) => {
    const v = stat.get(k);
    if (v === undefined) throw new Error(`${cgroup}/memory.stat has no ${k}`);
    return v;
  };
  return { cgroup, usage, rss: get('total_rss'), cache: get('total_cache'), workingSet: Math.max(0, usage - get('total_inactive_file')) };
}

/** The kubelet's Prometheus metrics, through the apiserver's node proxy (as `kubectl get --raw` would). */
export async function kubeletMetrics(cluster: LocalCluster): Promise<string> {
  const res = await cluster.controlPlane.request('GET', `/api/v1/nodes/${cluster.node.name}/proxy/metrics`);
  if (res.status !== 200) throw new Error(`kubelet metrics: HTTP ${res.status} ${res.body.slice(0, 200)}`);
  return res.body;
}

/** Sum of every sample of a metric (all label sets); 0 when the metric has no sample yet. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    sum += Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return sum;
}
