// The real node's network: one network namespace per node, joined to the host by a veth pair. Inside it
// live containerd (so the CNI bridge, the pods' veths and the portmap/masquerade chains are created there),
// the kubelet (its KUBE-FIREWALL rules) and kube-proxy (its KUBE-* chains and sysctls). Deleting the
// namespace takes all of that away at once. The host routes the pod and Service ranges into the namespace;
// it forwards nothing (ip_forward stays as it is), so pods reach only this machine's own addresses.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Addresses of one node slot; slots let a sandbox and a test run side by side. */
export interface NodeNetwork {
  slot: number;
  /** Network namespace (ip netns name). */
  netns: string;
  /** Host end of the veth pair: where the apiserver and upstream XMPP servers listen for pods. */
  hostIp: string;
  /** The node's InternalIP, inside the namespace. */
  nodeIp: string;
  hostVeth: string;
  /** Pods' range (CNI host-local) and its bridge's address (the pods' default gateway). */
  podCidr: string;
  podGateway: string;
  /** Service ClusterIP range (kube-apiserver, kube-controller-manager); its first address is `kubernetes`. */
  serviceCidr: string;
  kubernetesServiceIp: string;
}

export const MAX_SLOTS = 4;

export function nodeNetwork(slot: number): NodeNetwork {
  if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_SLOTS) throw new Error(`node slot ${slot} out of range 0..${MAX_SLOTS - 1}`);
  const n = 200 + slot;
  return {
    slot,
    netns: `xwg-node-${slot}`,
    hostIp: `172.30.${n}.1`,
    nodeIp: `172.30.${n}.2`,
    hostVeth: `xwg${slot}h`,
    podCidr: `10.${n}.0.0/24`,
    podGateway: `10.${n}.0.1`,
    serviceCidr: `10.${n}.128.0/24`,
    kubernetesServiceIp: `10.${n}.128.1`,
  };
}

export async function sh(command: string, args: string[], opts: { allowFail?: boolean } = {}): Promise<string> {
  try {
    return (await execFileP(command, args, { timeout: 60_000, maxBuffer: 16 << 20 })).stdout;
  } catch (e) {
    if (opts.allowFail) return '';
    const err = e as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')}: ${(err.stderr ?? '').trim() || err.message}`);
  }
}

/** Runs a command inside the node's namespace (network only: mounts stay shared with the host). */
export function inNode(net: NodeNetwork, command: string, args: string[], opts: { allowFail?: boolean } = {}): Promise<string> {
  return sh('nsenter', [`--net=/run/netns/${net.netns}`, '--', command, ...args], opts);
}

/** Prefix for long-running processes started in the namespace. */
export function nodeExecPrefix(net: NodeNetwork): string[] {
  return ['nsenter', `--net=/run/netns/${net.netns}`, '--'];
}

export async function createNodeNetwork(net: NodeNetwork): Promise<void> {
  await deleteNodeNetwork(net);
  await sh('ip', ['netns', 'add', net.netns]);
  const nodeVeth = `${net.hostVeth.slice(0, -1)}n`;
  await sh('ip', ['link', 'add', net.hostVeth, 'type', 'veth', 'peer', 'name', nodeVeth]);
  await sh('ip', ['link', 'set', nodeVeth, 'netns', net.netns]);
  await sh('ip', ['addr', 'add', `${net.hostIp}/30`, 'dev', net.hostVeth]);
  await sh('ip', ['link', 'set', net.hostVeth, 'up']);
  await inNode(net, 'ip', ['link', 'set', 'lo', 'up']);
  await inNode(net, 'ip', ['link', 'set', nodeVeth, 'name', 'eth0']);
  await inNode(net, 'ip', ['addr', 'add', `${net.nodeIp}/30`, 'dev', 'eth0']);
  await inNode(net, 'ip', ['link', 'set', 'eth0', 'up']);
  await inNode(net, 'ip', ['route', 'add', 'default', 'via', net.hostIp]);
  // Per-namespace sysctls: the node routes between its pods and the host, and bridged pod traffic
  // passes iptables so Service DNAT works between pods on this node.
  await inNode(net, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  await inNode(net, 'sysctl', ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=1'], { allowFail: true });
  await sh('ip', ['route', 'add', net.podCidr, 'via', net.nodeIp, 'dev', net.hostVeth]);
  await sh('ip', ['route', 'add', net.serviceCidr, 'via', net.nodeIp, 'dev', net.hostVeth]);
}

/** Idempotent: removes the namespace (and with it the veth pair, the bridge, iptables state) and routes. */
export async function deleteNodeNetwork(net: NodeNetwork): Promise<void> {
  const namespaces = await sh('ip', ['netns', 'list'], { allowFail: true });
  if (namespaces.split('\n').some((l) => l.split(' ')[0] === net.netns)) await sh('ip', ['netns', 'delete', net.netns], { allowFail: true });
  // The host end goes with its peer; delete it in case the namespace was already gone.
  await sh('ip', ['link', 'delete', net.hostVeth], { allowFail: true });
  // `ip netns add` turns /run/netns into a mount point the first time; undo it when no namespace is left.
  if (!(await sh('ip', ['netns', 'list'], { allowFail: true })).trim()) await sh('umount', ['/run/netns'], { allowFail: true });
}

/** CNI configuration of the node: a bridge with host-local addresses, loopback, portmap for hostPorts. */
export async function writeCniConfig(net: NodeNetwork, confDir: string, ipamDir: string): Promise<void> {
  await mkdir(confDir, { recursive: true });
  await writeFile(
    path.join(confDir, '10-xwg.conflist'),
    JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: 'xwg',
        plugins: [
          {
            type: 'bridge',
            bridge: 'xwgbr0',
            isGateway: true,
            // No masquerade: pods talk to this machine's addresses only, which route back to them.
            ipMasq: false,
            hairpinMode: true,
            ipam: { type: 'host-local', ranges: [[{ subnet: net.podCidr, gateway: net.podGateway }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDir },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ),
  );
}

// ---- slots: a machine-wide lock per slot, holding the owner's pid and directory --------------------------

const SLOTS_DIR = '/run/xwg-node-slots';

export interface SlotOwner {
  pid: number;
  dir: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the first free slot. A slot whose owner died is handed to `reclaim` first (its namespace, mounts,
 * cgroups and processes are still there when the owner was SIGKILLed).
 */
export async function acquireSlot(dir: string, reclaim: (slot: number, owner: SlotOwner) => Promise<void>): Promise<number> {
  await mkdir(SLOTS_DIR, { recursive: true });
  for (let slot = 0; slot < MAX_SLOTS; slot++) {
    const lock = path.join(SLOTS_DIR, String(slot));
    try {
      await mkdir(lock);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = JSON.parse(await readFile(path.join(lock, 'owner.json'), 'utf8').catch(() => '{"pid":0,"dir":""}')) as SlotOwner;
      if (owner.pid && alive(owner.pid)) continue;
      await reclaim(slot, owner);
      await rm(lock, { recursive: true, force: true });
      slot--;
      continue;
    }
    await writeFile(path.join(lock, 'owner.json'), JSON.stringify({ pid: process.pid, dir } satisfies SlotOwner));
    return slot;
  }
  throw new Error(`all ${MAX_SLOTS} real-node slots are taken by running processes (see ${SLOTS_DIR}/*/owner.json)`);
}

export async function releaseSlot(slot: number): Promise<void> {
  await rm(path.join(SLOTS_DIR, String(slot)), { recursive: true, force: true });
  await rmdir(SLOTS_DIR).catch(() => {}); // only when no other slot is held
}
