// One real Kubernetes node beside the control plane: containerd (its own root, state and socket in the
// run's directory, never the system service), the CNI bridge with host-local addresses, the kubelet and
// kube-proxy (iptables), all in the node's network namespace (node-network.ts). Bounded like every other
// component, and taken apart completely on stop(): pods' processes, shims, mounts, cgroups, the namespace.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { spawnBounded, tailFile, type BoundedProcess } from '../harness/process.ts';
import type { KubeBinaries } from './binaries.ts';
import { PAUSE_IMAGE, type ImageArchive } from './images.ts';
import { deleteNodeNetwork, nodeExecPrefix, sh, writeCniConfig, type NodeNetwork } from './node-network.ts';

export interface RealNodeOptions {
  /** Directory of this node's state (removed on stop). */
  dir: string;
  /** The node's namespace, already created (createNodeNetwork): the apiserver binds its host end first. */
  net: NodeNetwork;
  binaries: KubeBinaries;
  /** Kubeconfig the kubelet and kube-proxy use (reaching the apiserver at the host end of the veth). */
  kubeconfigPath: string;
  /** CA that signs the apiserver's client certificate towards the kubelet (logs, exec, port-forward). */
  clientCaPath: string;
  pauseImage: ImageArchive;
  /** Deadline of every process (epoch ms). */
  deadline: number;
  /** Apiserver call as the superuser, to wait for the Node to be Ready. */
  request(method: string, apiPath: string, body?: unknown): Promise<{ status: number; body: string }>;
  log?: (line: string) => void;
  readyTimeoutMs?: number;
}

export interface RealNode {
  name: string;
  net: NodeNetwork;
  containerdSocket: string;
  /** Imports an OCI archive into containerd's k8s.io namespace (where the kubelet finds images). */
  importImage(image: ImageArchive): Promise<void>;
  /** `ctr` against this node's containerd. */
  ctr(args: string[]): Promise<string>;
  /** Stops (SIGKILL) and restarts the kubelet, or containerd: what a node agent crash looks like. */
  restartKubelet(): Promise<void>;
  restartContainerd(): Promise<void>;
  logs(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

const CGROUP_FS = '/sys/fs/cgroup';

/** v1 hierarchies (and the unified one) where the kubelet will create the node's pod cgroups. */
async function cgroupHierarchies(): Promise<string[]> {
  const entries = await readdir(CGROUP_FS, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => path.join(CGROUP_FS, e.name));
}

function cgroupRootName(net: NodeNetwork): string {
  return `xwg-node-${net.slot}`;
}

async function createCgroupRoot(net: NodeNetwork): Promise<void> {
  for (const h of await cgroupHierarchies()) {
    const dir = path.join(h, cgroupRootName(net));
    await mkdir(dir, { recursive: true }).catch(() => {});
    if (path.basename(h) === 'cpuset') {
      // A new v1 cpuset is empty: no task could join it until cpus and mems are copied from the parent.
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        const parent = await readFile(path.join(h, f), 'utf8').catch(() => '');
        if (parent.trim()) await writeFile(path.join(dir, f), parent.trim()).catch(() => {});
      }
    }
  }
}

/** Pids of every process in the node's cgroups (the pods' containers). */
async function cgroupPids(root: string): Promise<number[]> {
  const pids: number[] = [];
  const walk = async (dir: string): Promise<void> => {
    const procs = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const l of procs.split('\n')) if (l.trim()) pids.push(Number(l));
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await walk(path.join(dir, e.name));
  };
  await walk(root);
  return pids;
}

async function removeCgroupTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await removeCgroupTree(path.join(dir, e.name));
  await rmdir(dir).catch(() => {});
}

/** Mount points at or under `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(`${dir}/`)))
    // mountinfo escapes spaces and the like as octal
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

async function pidsMatching(pattern: string): Promise<number[]> {
  const out = await sh('pgrep', ['-f', pattern], { allowFail: true });
  return out
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((p) => p !== process.pid);
}

function killAll(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Takes apart whatever a node left behind: used by stop(), and for a slot whose owner was SIGKILLed.
 * Order matters: containers and shims first (they hold mounts and the pods' network namespaces), then
 * mounts, the namespace, the cgroups and the directory.
 */
export async function cleanUpNode(net: NodeNetwork, dir: string): Promise<void> {
  const cgroupName = cgroupRootName(net);
  for (let round = 0; round < 20; round++) {
    const pids: number[] = [];
    for (const h of await cgroupHierarchies()) pids.push(...(await cgroupPids(path.join(h, cgroupName))));
    if (dir) pids.push(...(await pidsMatching(`containerd-shim-runc-v2 .*-address ${path.join(dir, 'containerd', 'containerd.sock')}`)));
    if (dir) pids.push(...(await pidsMatching(`(kubelet|kube-proxy|containerd) .*${dir}/`)));
    if (pids.length === 0) break;
    killAll([...new Set(pids)]);
    await new Promise((r) => setTimeout(r, 200));
  }
  if (dir) {
    for (const m of await mountsUnder(dir)) await sh('umount', ['-l', m], { allowFail: true });
  }
  await deleteNodeNetwork(net);
  for (const h of await cgroupHierarchies()) await removeCgroupTree(path.join(h, cgroupName));
  if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
}

function containerdConfig(dir: string, cniConfDir: string): string {
  const q = JSON.stringify;
  return `version = 2
root = ${q(path.join(dir, 'root'))}
state = ${q(path.join(dir, 'state'))}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = ${q(path.join(dir, 'containerd.sock'))}

[ttrpc]
  address = ${q(path.join(dir, 'containerd.sock.ttrpc'))}

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(PAUSE_IMAGE)}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # Without CAP_SYS_RESOURCE every sandbox fails in runc ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  # The pods' network namespaces live in this run's directory, not in /run/netns.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ${q(cniConfDir)}
`;
}

export async function startRealNode(opts: RealNodeOptions): Promise<RealNode> {
  const log = opts.log ?? (() => {});
  const { net, dir, binaries } = opts;
  const name = `xwg-node-${net.slot}`;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000;
  const file = (...p: string[]) => path.join(dir, ...p);
  const containerdDir = file('containerd');
  const socket = path.join(containerdDir, 'containerd.sock');
  const cniConf = file('cni', 'net.d');
  const procs: Record<string, BoundedProcess | undefined> = {};
  const logFiles = { containerd: file('containerd.log'), kubelet: file('kubelet.log'), kubeProxy: file('kube-proxy.log') };

  const start = (procName: string, args: string[], logPath: string): BoundedProcess =>
    spawnBounded({
      name: procName,
      command: nodeExecPrefix(net)[0]!,
      args: [...nodeExecPrefix(net).slice(1), ...args],
      cwd: dir,
      logPath,
      maxLifetimeMs: Math.max(1_000, opts.deadline - Date.now()),
      unref: true,
      // PATH for containerd's shim and runc, the kubelet's mount/iptables helpers.
      env: { PATH: `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` },
    });

  const ctr = (args: string[]) => sh('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args]);

  const waitUntil = async (what: string, proc: BoundedProcess | undefined, check: () => Promise<boolean>): Promise<void> => {
    const until = Date.now() + readyTimeoutMs;
    let lastError = '';
    for (;;) {
      if (proc && !proc.isRunning()) throw new Error(`${proc.name} exited before ${what}:\n${await tailFile(proc.logPath, 60)}`);
      try {
        if (await check()) return;
      } catch (e) {
        lastError = e instanceof Error ? e.message : String(e);
      }
      if (Date.now() > until) throw new Error(`timed out after ${readyTimeoutMs} ms waiting for ${what} (${lastError})${proc ? `:\n${await tailFile(proc.logPath, 60)}` : ''}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  const startContainerd = async (): Promise<void> => {
    procs.containerd = start('containerd', ['containerd', '--config', file('containerd.toml'), '--log-level', 'warn'], logFiles.containerd);
    await waitUntil('containerd to serve', procs.containerd, async () => (await ctr(['version'])).includes('Server'));
  };

  const kubeletConfig = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: net.nodeIp,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: opts.clientCaPath } },
    authorization: { mode: 'AlwaysAllow' },
    cgroupDriver: 'cgroupfs',
    cgroupRoot: `/${cgroupRootName(net)}`,
    // This machine kind has hybrid cgroups (v1 controllers); 1.34 runs there unless told to refuse.
    failCgroupV1: false,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${socket}`,
    imageServiceEndpoint: `unix://${socket}`,
    podCIDR: net.podCidr,
    resolvConf: '/etc/resolv.conf',
    // A shared development machine: never evict the pods under test for the host's disk or memory use.
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'nodefs.inodesFree': '1%', 'imagefs.available': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    registerNode: true,
    enableServer: true,
    tlsCertFile: '',
    localStorageCapacityIsolation: true,
  };

  const startKubelet = async (): Promise<void> => {
    procs.kubelet = start(
      'kubelet',
      [
        binaries.kubelet,
        `--config=${file('kubelet.yaml')}`,
        `--kubeconfig=${opts.kubeconfigPath}`,
        `--root-dir=${file('kubelet')}`,
        `--cert-dir=${file('kubelet-pki')}`,
        `--hostname-override=${name}`,
        `--node-ip=${net.nodeIp}`,
        '--v=1',
      ],
      logFiles.kubelet,
    );
  };

  const nodeReady = async (): Promise<boolean> => {
    const res = await opts.request('GET', `/api/v1/nodes/${name}`);
    if (res.status !== 200) return false;
    const node = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
    return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  };

  const leaseRenewedSince = async (since: number): Promise<boolean> => {
    const res = await opts.request('GET', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`);
    if (res.status !== 200) return false;
    const renewTime = (JSON.parse(res.body) as { spec?: { renewTime?: string } }).spec?.renewTime;
    return renewTime !== undefined && Date.parse(renewTime) >= since;
  };

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await Promise.all(Object.values(procs).map((p) => p?.kill()));
      // iptables state of kube-proxy goes with the namespace; the rest is in cleanUpNode.
      await cleanUpNode(net, dir);
      log(`real node ${name} stopped and cleaned up`);
    })();
    return stopped;
  };

  try {
    await mkdir(containerdDir, { recursive: true });
    await writeCniConfig(net, cniConf, file('cni', 'ipam'));
    await writeFile(file('containerd.toml'), containerdConfig(containerdDir, cniConf));
    await createCgroupRoot(net);
    await writeFile(file('kubelet.yaml'), JSON.stringify(kubeletConfig, null, 2));
    log(`real node ${name}: containerd`);
    await startContainerd();
    await ctr(['images', 'import', opts.pauseImage.archive]);
    log(`real node ${name}: kubelet and kube-proxy`);
    await startKubelet();
    procs.kubeProxy = start(
      'kube-proxy',
      [
        binaries.kubeProxy,
        `--kubeconfig=${opts.kubeconfigPath}`,
        '--proxy-mode=iptables',
        `--hostname-override=${name}`,
        `--cluster-cidr=${net.podCidr}`,
        `--bind-address=${net.nodeIp}`,
        '--healthz-bind-address=127.0.0.1:10256',
        '--metrics-bind-address=127.0.0.1:10249',
        // 0: leave the machine-wide conntrack table size alone (it cannot be set from a namespace anyway).
        '--conntrack-max-per-core=0',
        '--v=1',
      ],
      logFiles.kubeProxy,
    );
    await waitUntil(`Node ${name} Ready`, procs.kubelet, nodeReady);
    log(`real node ${name} Ready (InternalIP ${net.nodeIp}, pods ${net.podCidr})`);
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    name,
    net,
    containerdSocket: socket,
    async importImage(image: ImageArchive): Promise<void> {
      await ctr(['images', 'import', image.archive]);
    },
    ctr,
    async restartKubelet(): Promise<void> {
      await procs.kubelet?.kill();
      const restarted = Date.now();
      await startKubelet();
      // The Node stays Ready for a while on the old kubelet's last status; only the new one renews the
      // node's Lease, which it does as it starts (then every 10 s).
      await waitUntil(`Node ${name} Ready after a kubelet restart`, procs.kubelet, async () => (await leaseRenewedSince(restarted)) && (await nodeReady()));
    },
    async restartContainerd(): Promise<void> {
      await procs.containerd?.kill();
      await startContainerd();
    },
    async logs(lines = 60): Promise<string> {
      const parts: string[] = [];
      for (const [n, f] of Object.entries(logFiles)) if (existsSync(f)) parts.push(`----- ${n} (${f}) -----\n${await tailFile(f, lines)}`);
      return parts.join('\n');
    },
    stop,
  };
}
