// The local cluster: the control plane (control-plane.ts) with one real node (node.ts) that runs pods from
// images built here (images.ts), and a loopback load balancer (load-balancer.ts) giving Services of type
// LoadBalancer an address on 127.0.0.1, where browsers and tests reach them. kwok fake nodes remain the way
// to run hundreds of resources (control-plane.ts alone).
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureKubeBinaries, type KubeBinaries } from './binaries.ts';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { archiveOf, ensureBaseImages, ensureGatewayImage, PAUSE_IMAGE, type ImageArchive } from './images.ts';
import { startLoopbackLoadBalancer, type LoopbackLoadBalancer } from './load-balancer.ts';
import { acquireSlot, createNodeNetwork, deleteNodeNetwork, nodeNetwork, releaseSlot, sh } from './node-network.ts';
import { cleanUpNode, startRealNode, type RealNode } from './node.ts';

export interface LocalCluster {
  controlPlane: ControlPlane;
  node: RealNode;
  loadBalancer: LoopbackLoadBalancer;
  /** The gateway image built from the Dockerfile, imported into the node. */
  gatewayImage: ImageArchive;
  /** kubectl of the same release as the control plane, with this cluster's kubeconfig. */
  kubectl(args: string[], opts?: { input?: string }): Promise<string>;
  stop(): Promise<void>;
}

export interface LocalClusterOptions {
  maxLifetimeMs?: number;
  binaries?: KubeBinaries;
  log?: (line: string) => void;
}

/** Why a real node cannot run here, in one line; undefined when it can. */
export async function realNodeUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `a real node needs Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'a real node needs root (network namespaces, cgroups, mounts)';
  for (const tool of ['containerd', 'runc', 'buildah', 'mmdebstrap', 'nsenter', 'iptables', 'ip']) {
    if (!(await sh('sh', ['-c', `command -v ${tool}`], { allowFail: true })).trim()) return `${tool} is not installed (run node dev/prepare.ts as root)`;
  }
  const cgroups = await sh('sh', ['-c', 'test -w /sys/fs/cgroup/memory -o -w /sys/fs/cgroup/cgroup.procs && echo ok'], { allowFail: true });
  if (!cgroups.trim()) return 'no writable cgroup hierarchy under /sys/fs/cgroup';
  const netns = await sh('sh', ['-c', 'ip netns add xwg-probe && ip netns delete xwg-probe && echo ok'], { allowFail: true });
  if (!netns.trim()) return 'cannot create network namespaces here';
  return undefined;
}

export async function startLocalCluster(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  const log = opts.log ?? (() => {});
  const maxLifetimeMs = opts.maxLifetimeMs ?? 60 * 60_000;
  const deadline = Date.now() + maxLifetimeMs;
  const binaries = opts.binaries ?? (await ensureKubeBinaries({ helm: true, kwok: false, log }));
  log('images: local base stand-ins, pause, and the gateway image from the Dockerfile (cached once built)');
  await ensureBaseImages(log);
  const [pauseImage, gatewayImage] = await Promise.all([archiveOf(PAUSE_IMAGE), ensureGatewayImage({ log })]);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'xwg-node-'));
  const slot = await acquireSlot(dir, async (stale, owner) => {
    log(`reclaiming real-node slot ${stale} of dead process ${owner.pid}`);
    await cleanUpNode(nodeNetwork(stale), owner.dir);
  });
  const net = nodeNetwork(slot);
  const cleanups: Array<() => Promise<unknown>> = [() => releaseSlot(slot)];
  const stop = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((e: unknown) => log(`cleanup: ${String(e)}`));
  };
  try {
    // The node's network comes first: the apiserver binds the host end of its veth pair.
    await createNodeNetwork(net);
    cleanups.push(() => deleteNodeNetwork(net));
    const controlPlane = await startControlPlane({
      binaries,
      bindAddress: net.hostIp,
      serviceCidr: net.serviceCidr,
      scheduler: true,
      maxLifetimeMs,
      log,
    });
    cleanups.push(() => controlPlane.stop());
    const caPath = path.join(dir, 'cluster-ca.crt');
    await writeFile(caPath, controlPlane.ca);
    const node = await startRealNode({
      dir: path.join(dir, 'node'),
      net,
      binaries,
      kubeconfigPath: controlPlane.kubeconfigPath,
      clientCaPath: caPath,
      pauseImage,
      deadline,
      request: controlPlane.request,
      log,
    });
    cleanups.push(() => node.stop());
    await node.importImage(gatewayImage);
    log(`gateway image ${gatewayImage.ref} imported into the node (${(gatewayImage.sizeBytes / 1048576).toFixed(1)} MiB)`);
    const loadBalancer = await startLoopbackLoadBalancer({ request: controlPlane.request, log });
    cleanups.push(() => loadBalancer.stop());
    const kubectl = async (args: string[], o: { input?: string } = {}): Promise<string> => {
      const { execFile } = await import('node:child_process');
      return new Promise((resolve, reject) => {
        const child = execFile(binaries.kubectl, ['--kubeconfig', controlPlane.kubeconfigPath, ...args], { timeout: 120_000, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`kubectl ${args.join(' ')}: ${stderr.trim() || err.message}`));
          else resolve(stdout);
        });
        if (o.input !== undefined) child.stdin?.end(o.input);
      });
    };
    return { controlPlane, node, loadBalancer, gatewayImage, kubectl, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
