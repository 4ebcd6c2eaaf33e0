// The gateway image as real pods: the local cluster's real node (kubelet + containerd + kube-proxy) runs the
// image built from the Dockerfile; the operator is installed the way users install it (kustomize base, then
// the Helm chart) and reconciles a three-node XmppWebGateway into pods that become Ready by their own probes.
// Clients reach the nodes' LoadBalancer Services on 127.0.0.1 (dev/cluster/load-balancer.ts).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, realNodeUnavailable, type LocalCluster } from '../../../dev/cluster/cluster.ts';
import { installOperator } from '../../../dev/cluster/install.ts';
import { startProsody, type ProsodyServer } from '../../../dev/harness/prosody.ts';
import { connectXmppJs, xml } from '../../../dev/harness/xmpp-js.ts';
import { SmClient, type Endpoint, type LinkDown } from '../../../dev/harness/xmpp-sm.ts';
import { eventually } from '../operator/helpers.ts';

const execFileP = promisify(execFile);
const DOMAIN = 'example.com';
const NS = 'xwg-e2e';
const GATEWAY = 'chat';
const NODES = ['t1', 't2', 't3'];
const USERS = ['alice', 'bob', 'carol'];

let cluster: LocalCluster;
let prosody: ProsodyServer;
let work: string;
const findings: Record<string, unknown> = {};

interface PodInfo {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string; uid: string };
  status?: { podIP?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { containerID?: string; ready: boolean; restartCount: number }[] };
}

async function pods(namespace: string, selector: string): Promise<PodInfo[]> {
  return (JSON.parse(await cluster.kubectl(['-n', namespace, 'get', 'pods', '-l', selector, '-o', 'json'])) as { items: PodInfo[] }).items;
}

const ready = (p: PodInfo) => !p.metadata.deletionTimestamp && (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false);

/** What the cluster says about the gateway's pods, for a failure message. */
async function diagnose(): Promise<string> {
  const run = (args: string[]) => cluster.kubectl(args).catch((e: unknown) => String(e));
  return [
    await run(['get', 'pods', '-A', '-o', 'wide']),
    await run(['-n', NS, 'get', 'endpointslices', '-o', 'wide']),
    await run(['-n', NS, 'describe', 'pods']),
    await run(['-n', NS, 'logs', '--tail=30', '-l', 'xwg.io/node', '--all-containers', '--prefix']),
    await run(['get', 'events', '-A', '--sort-by=.lastTimestamp']),
  ].join('\n').slice(-12_000);
}

async function gatewayPod(node: string): Promise<PodInfo> {
  try {
    return await eventually(`a Ready pod of node ${node}`, async () => (await pods(NS, `xwg.io/node=${node}`)).find(ready), 120_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${await diagnose()}`);
  }
}

/** 127.0.0.1 port of a node Service's port (the loopback load balancer). */
async function local(node: string, port: 80 | 443): Promise<number> {
  return (await cluster.loadBalancer.address(NS, `${GATEWAY}-${node}`, port)).localPort;
}

const ws = async (node: string): Promise<Endpoint> => ({ kind: 'websocket', url: `ws://127.0.0.1:${await local(node, 80)}/xmpp-websocket` });

/** The node list a node publishes. */
async function published(node: string): Promise<{ name: string; ready: boolean }[]> {
  const res = await fetch(`http://127.0.0.1:${await local(node, 80)}/.well-known/xmpp-web-nodes.json?domain=${DOMAIN}`, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`node list of ${node}: HTTP ${res.status}`);
  return ((await res.json()) as { nodes: { name: string; ready: boolean }[] }).nodes;
}

async function nodeList(node: string): Promise<string[]> {
  return (await published(node)).map((n) => n.name).sort();
}

function gatewayResource(nodes: string[]): Record<string, unknown> {
  return {
    apiVersion: 'xwg.io/v1alpha1',
    kind: 'XmppWebGateway',
    metadata: { name: GATEWAY, namespace: NS },
    spec: {
      domains: [DOMAIN],
      upstream: { host: cluster.node.net.hostIp, port: prosody.c2sPort, tls: 'none' },
      nodes: nodes.map((n) => ({ name: n, host: `${n}.${DOMAIN}` })),
      service: { ports: { https: 443, http: 80 } },
      drainSeconds: 10,
    },
  };
}

async function apply(obj: unknown): Promise<void> {
  await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: JSON.stringify(obj) });
}

/** The container's main process as the kernel sees it (uid, root mount) — not what the spec asks for. */
async function containerPid(containerId: string): Promise<number> {
  const id = containerId.replace(/^containerd:\/\//, '');
  const tasks = await cluster.node.ctr(['tasks', 'ls']);
  const line = tasks.split('\n').find((l) => l.startsWith(id));
  const pid = Number(line?.split(/\s+/)[1]);
  if (!pid) throw new Error(`no task for container ${id}:\n${tasks}`);
  return pid;
}

async function containerProcess(containerId: string): Promise<{ uid: number; rootReadOnly: boolean }> {
  const pid = await containerPid(containerId);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
  const root = (await readFile(`/proc/${pid}/mountinfo`, 'utf8')).split('\n').find((l) => l.split(' ')[4] === '/');
  return { uid, rootReadOnly: /(^|,)ro(,|$)/.test(root?.split(' ')[5] ?? '') };
}

/** The certificate a node serves, through its Service (default) or at a pod's own address. */
async function peerCertificate(node: string, at?: { host: string; port: number }): Promise<string> {
  const { host, port } = at ?? { host: '127.0.0.1', port: await local(node, 443) };
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, servername: `${node}.${DOMAIN}`, rejectUnauthorized: false }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on('error', reject);
  });
}

beforeAll(async () => {
  const unavailable = await realNodeUnavailable();
  // Not a skip: this machine kind can run a real node, so a missing part is a failure with its reason.
  if (unavailable) throw new Error(`the real node cannot start here: ${unavailable}`);
  work = await mkdtemp(path.join(os.tmpdir(), 'xwg-e2e-'));
  cluster = await startLocalCluster({ log: (l) => console.log(`[cluster] ${l}`), maxLifetimeMs: 40 * 60_000 });
  prosody = await startProsody({
    domains: [DOMAIN],
    users: USERS.map((u) => ({ user: u, domain: DOMAIN, password: `${u}-pw` })),
    c2sInterfaces: [cluster.node.net.hostIp],
    smacksHibernationSeconds: 120,
    maxLifetimeMs: 40 * 60_000,
  });
}, 30 * 60_000);

afterAll(async () => {
  console.log('[real pods] findings', JSON.stringify(findings));
  await prosody?.dispose();
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('installed with the kustomize base and the built image', () => {
  it('runs the operator as a pod of the built image, which reconciles the gateway into three Ready pods', async () => {
    const install = await installOperator(cluster, 'kustomize');
    await cluster.kubectl(['create', 'namespace', NS]);
    await apply(gatewayResource(NODES));
    for (const n of NODES) await gatewayPod(n);
    const gw = JSON.parse(await cluster.kubectl(['-n', NS, 'get', 'xwg', GATEWAY, '-o', 'json'])) as { status?: { conditions?: { type: string; status: string }[] } };
    await eventually('the gateway Ready condition', async () => {
      const g = JSON.parse(await cluster.kubectl(['-n', NS, 'get', 'xwg', GATEWAY, '-o', 'json'])) as typeof gw;
      return g.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    }, 120_000);
    await cluster.kubectl(['delete', 'namespace', NS, '--wait=true', '--timeout=120s']);
    await install.uninstall();
  }, 10 * 60_000);
});

describe('installed with the Helm chart and the built image', () => {
  beforeAll(async () => {
    await installOperator(cluster, 'helm');
    await cluster.kubectl(['create', 'namespace', NS]);
    await apply(gatewayResource(NODES));
    for (const n of NODES) await gatewayPod(n);
  }, 10 * 60_000);

  it('runs three gateway pods Ready by their own probes, as uid 65532 on a read-only root, with containerd IDs and pod IPs', async () => {
    const wide = await cluster.kubectl(['-n', NS, 'get', 'pods', '-o', 'wide']);
    console.log(wide);
    for (const n of NODES) {
      const pod = await gatewayPod(n);
      const status = pod.status!.containerStatuses![0]!;
      expect(status.containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
      expect(pod.status?.podIP).toMatch(new RegExp(`^${cluster.node.net.podCidr.split('.').slice(0, 3).join('\\.')}\\.`));
      const proc = await containerProcess(status.containerID!);
      expect(proc).toEqual({ uid: 65532, rootReadOnly: true });
    }
  });

  it('lets xmpp.js users chat through two different pods', async () => {
    const alice = await connectXmppJs({ service: (await ws('t1')).url, domain: DOMAIN, username: 'alice', password: 'alice-pw' });
    const bob = await connectXmppJs({ service: (await ws('t2')).url, domain: DOMAIN, username: 'bob', password: 'bob-pw' });
    try {
      await alice.sendMessage(bob.jid, 'hello from t1');
      const got = await bob.next((e) => e.is('message') && e.getChildText('body') === 'hello from t1', 20_000);
      expect(got.attrs.from).toBe(alice.jid);
      await bob.xmpp.send(xml('message', { to: alice.jid, type: 'chat' }, xml('body', {}, 'hi from t2')));
      expect((await alice.next((e) => e.is('message'), 20_000)).getChildText('body')).toBe('hi from t2');
    } finally {
      await alice.stop();
      await bob.stop();
    }
  });

  it('serves a rotated TLS Secret to new wss connections without restarting the pod', async () => {
    const before = await gatewayPod('t1');
    const oldCert = await peerCertificate('t1');
    const started = Date.now();
    await cluster.kubectl(['-n', NS, 'delete', 'secret', `${GATEWAY}-t1-tls`]);
    const newCert = await eventually('t1 to serve the re-issued certificate', async () => {
      const fp = await peerCertificate('t1');
      return fp !== oldCert ? fp : undefined;
    }, 180_000, 500);
    findings.certRotationSeconds = (Date.now() - started) / 1000;
    expect(newCert).not.toBe(oldCert);
    const after = await gatewayPod('t1');
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(after.status!.containerStatuses![0]!.restartCount).toBe(0);
  }, 240_000);

  it('drains a deleted pod with see-other-uri and the client resumes on another node without losing a message', async () => {
    const carol = new SmClient({ domain: DOMAIN, username: 'carol', password: 'carol-pw', resource: 'drain' });
    const alice = await connectXmppJs({ service: (await ws('t1')).url, domain: DOMAIN, username: 'alice', password: 'alice-pw', resource: 'sender' });
    try {
      await carol.connect(await ws('t2'));
      const down = new Promise<LinkDown>((resolve) => (carol.onDown = resolve));
      const victim = await gatewayPod('t2');
      const sent: string[] = [];
      let sending = true;
      const sender = (async () => {
        for (let i = 0; sending && i < 400; i++) {
          const id = `m${i}`;
          sent.push(id);
          await alice.xmpp.send(xml('message', { to: carol.jid, type: 'chat', id }, xml('body', {}, id)));
          await new Promise((r) => setTimeout(r, 25));
        }
      })();
      await eventually('carol to receive the first messages', async () => carol.received.size >= 5, 30_000);
      await cluster.kubectl(['-n', NS, 'delete', 'pod', victim.metadata.name, '--wait=false']);
      const d = await down;
      expect(d.seeOtherUri, JSON.stringify(d)).toMatch(/^wss?:\/\/t[13]\.example\.com\//);
      const target = /^wss?:\/\/(t[13])\./.exec(d.seeOtherUri!)![1]!;
      expect(await carol.resume(await ws(target))).toBe('resumed');
      await new Promise((r) => setTimeout(r, 500));
      sending = false;
      await sender;
      await eventually('every message to reach carol', async () => sent.every((id) => carol.received.has(id)), 60_000);
      expect(carol.duplicates().extra).toBe(0);
      findings.drainMessages = sent.length;
    } finally {
      await alice.stop();
      await carol.close().catch(() => {});
    }
  }, 240_000);

  it('publishes a node whose readiness probe on the admin port fails as not ready, while its public ports still serve', async () => {
    const pod = await gatewayPod('t1');
    const podIp = pod.status!.podIP!;
    // Inside the pod's own network namespace: the kubelet's probes to the admin port (9280) are refused.
    // The namespace outlives a container restart (liveness probes the same port), so the rule is removed
    // through whichever container runs then.
    const rule = async (op: '-I' | '-D') => {
      const current = (await pods(NS, 'xwg.io/node=t1')).find((p) => p.metadata.uid === pod.metadata.uid);
      const pid = await containerPid(current!.status!.containerStatuses![0]!.containerID!);
      await execFileP('nsenter', ['-t', String(pid), '-n', 'iptables', op, 'INPUT', '-p', 'tcp', '--dport', '9280', '-j', 'REJECT', '--reject-with', 'tcp-reset']);
    };
    // t2's pod was replaced by the drain test: its successor must be Ready (and so behind its Service) first.
    await gatewayPod('t2');
    try {
      await eventually('t2 to publish t1 as ready', async () => (await published('t2')).find((n) => n.name === 't1')?.ready === true, 60_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await diagnose()}`);
    }
    const started = Date.now();
    await rule('-I');
    try {
      await eventually('t2 to publish t1 as not ready', async () => (await published('t2')).find((n) => n.name === 't1')?.ready === false, 120_000, 250);
      findings.readinessFailureToListSeconds = (Date.now() - started) / 1000;
      // The public listeners never answered the probes: at the pod's address they still serve (its
      // Service has no ready endpoint now, as Kubernetes means it to).
      expect(await peerCertificate('t1', { host: podIp, port: 5443 })).toMatch(/^[0-9A-F:]+$/);
      expect((await fetch(`http://${podIp}:5280/.well-known/xmpp-web-nodes.json?domain=${DOMAIN}`)).status).toBe(200);
    } finally {
      await rule('-D');
    }
    await eventually('t2 to publish t1 as ready again', async () => (await published('t2')).find((n) => n.name === 't1')?.ready === true, 120_000, 250);
  }, 300_000);

  it('takes a node removed from the spec out of the other nodes\' published lists', async () => {
    await eventually('t1 to list all three nodes', async () => (await nodeList('t1')).join() === NODES.join(), 60_000);
    const t1Before = await gatewayPod('t1');
    const started = Date.now();
    await apply(gatewayResource(['t1', 't2']));
    await eventually('t1 to stop publishing t3', async () => (await nodeList('t1')).join() === 't1,t2', 180_000, 250);
    findings.nodeRemovalSeconds = (Date.now() - started) / 1000;
    findings.nodeRemovalRestartedT1 = (await gatewayPod('t1')).metadata.uid !== t1Before.metadata.uid;
    await eventually('t3\'s pods to be gone', async () => (await pods(NS, 'xwg.io/node=t3')).length === 0, 120_000);
  }, 240_000);
});
