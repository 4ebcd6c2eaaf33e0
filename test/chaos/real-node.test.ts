// Faults of the real node under real gateway pods (dev/cluster: kubelet + containerd + kube-proxy running the
// image built from the Dockerfile), with XEP-0198 clients chatting through the loopback load balancer all along:
//   - a gateway container SIGKILLed (as the OOM killer does), once on each node: its clients resume on another
//     node, the kubelet restarts the container in the same pod and it becomes Ready by its own probes;
//   - the kubelet killed and started again, twice; containerd killed and started again, twice: Kubernetes keeps
//     running containers across both (the shims hold them), so the pods must keep their containers and every
//     client its link.
// Every test counts each message: none lost, none duplicated, none bounced.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realNodeUnavailable, startLocalCluster, type LocalCluster } from '../../dev/cluster/cluster.ts';
import { installOperator } from '../../dev/cluster/install.ts';
import { containerPid, containerTasks, gatewayPods, kubeletMetrics, metricSum, type GatewayPodState } from '../../dev/harness/pods.ts';
import { startProsody, type ProsodyServer } from '../../dev/harness/prosody.ts';
import { eventually, sleep, step } from '../../dev/harness/wait.ts';
import { SmClient, type Endpoint, type LinkDown } from '../../dev/harness/xmpp-sm.ts';
import { report } from '../integration/reliability/support/scale.ts';
import { tally } from '../integration/reliability/support/tally.ts';

const DOMAIN = 'example.com';
const NS = 'xwg-chaos';
const GATEWAY = 'chat';
const NODES = ['t1', 't2', 't3'] as const;
/** Clients, spread over the nodes; each sends to the next one (on another node). */
const CLIENTS = 6;
const SEND_EVERY_MS = 100;
/** Messages every client must receive after a fault is over, to show the traffic goes on. */
const AFTER_FAULT = 20;
const RECOVERY_MS = 180_000;

let cluster: LocalCluster;
let prosody: ProsodyServer;

const account = (i: number) => ({ username: `c${i}`, password: `c${i}-pw` });

async function ws(node: string): Promise<Endpoint> {
  const { localPort } = await cluster.loadBalancer.address(NS, `${GATEWAY}-${node}`, 80);
  return { kind: 'websocket', url: `ws://127.0.0.1:${localPort}/xmpp-websocket` };
}

const pods = () => gatewayPods(cluster, NS);

/** What the cluster says, for a failure message. */
async function diagnose(): Promise<string> {
  const run = (args: string[]) => cluster.kubectl(args).catch((e: unknown) => String(e));
  return [
    await run(['get', 'pods', '-A', '-o', 'wide']),
    await run(['-n', NS, 'describe', 'pods']),
    await run(['get', 'events', '-A', '--sort-by=.lastTimestamp']),
    await cluster.node.logs(40),
  ]
    .join('\n')
    .slice(-16_000);
}

async function withDiagnosis<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${await diagnose()}`);
  }
}

/** Polls the pods during a fault and remembers every moment a node's pod was seen not Ready. */
function watchReadiness(): { stop(): Promise<Record<string, number>> } {
  const notReadyMs: Record<string, number> = Object.fromEntries(NODES.map((n) => [n, 0]));
  let running = true;
  const loop = (async () => {
    let last = performance.now();
    while (running) {
      const states = await pods().catch(() => undefined);
      const now = performance.now();
      for (const n of NODES) if (states && !states.get(n)?.ready) notReadyMs[n]! += now - last;
      last = now;
      await sleep(250);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return Object.fromEntries(Object.entries(notReadyMs).map(([k, v]) => [k, Math.round(v)]));
    },
  };
}

interface Move {
  from: string;
  to: string;
  reason: string;
  ms: number;
  attempts: number;
}

/** One XEP-0198 client and where its link is; when the link drops it resumes on another node by itself. */
class Member {
  readonly index: number;
  readonly client: SmClient;
  node: string;
  readonly moves: Move[] = [];
  readonly failures: string[] = [];
  #recovering: Promise<void> | undefined;

  constructor(index: number, node: string) {
    this.index = index;
    this.node = node;
    this.client = new SmClient({ domain: DOMAIN, ...account(index), resource: `chaos${index}` });
    this.client.onDown = (d) => {
      // A resumption attempt whose own link fails is handled by the attempt loop.
      if (this.#recovering || this.closing) return;
      this.#recovering = this.#recover(d).finally(() => (this.#recovering = undefined));
    };
  }

  closing = false;

  async #recover(d: LinkDown): Promise<void> {
    const from = this.node;
    const started = performance.now();
    // RFC 7395 §3.6.1: a node that says where to go is followed; otherwise the next node, the one it was on last.
    const told = d.seeOtherUri ? /^wss?:\/\/(t\d)\./.exec(d.seeOtherUri)?.[1] : undefined;
    const i = NODES.indexOf(from as (typeof NODES)[number]);
    const order = [...new Set([told, NODES[(i + 1) % 3], NODES[(i + 2) % 3], from].filter((n): n is string => !!n))];
    let lastError = '';
    for (let attempt = 0; performance.now() - started < RECOVERY_MS; attempt++) {
      const target = order[attempt % order.length]!;
      try {
        const outcome = await this.client.resume(await ws(target));
        if (outcome === 'failed') {
          this.failures.push(`c${this.index}: the server no longer knew the session when resuming on ${target}`);
          return;
        }
        this.node = target;
        this.moves.push({ from, to: target, reason: d.reason, ms: Math.round(performance.now() - started), attempts: attempt + 1 });
        if (this.client.up) return;
      } catch (e) {
        lastError = `${target}: ${(e as Error).message}`;
        await sleep(200);
      }
    }
    this.failures.push(`c${this.index}: not resumed within ${RECOVERY_MS} ms after ${d.reason} (last: ${lastError})`);
  }

  get recovering(): boolean {
    return this.#recovering !== undefined;
  }
}

/** The clients of one test and the messages they exchange, sent at a steady pace until stopped. */
class Traffic {
  readonly members: Member[];
  readonly expected = new Map<Member, string[]>();
  #timer: NodeJS.Timeout | undefined;
  #k = 0;
  readonly label: string;

  constructor(label: string) {
    this.label = label;
    this.members = Array.from({ length: CLIENTS }, (_, i) => new Member(i, NODES[i % NODES.length]!));
    for (const m of this.members) this.expected.set(m, []);
  }

  async start(): Promise<void> {
    for (const m of this.members) await m.client.connect(await ws(m.node));
    this.#timer = setInterval(() => {
      const k = this.#k++;
      for (const m of this.members) {
        const to = this.members[(m.index + 1) % this.members.length]!;
        const id = `${this.label}-${m.index}-${k}`;
        this.expected.get(to)!.push(id);
        m.client.sendMessage(to.client.jid, id, `message ${k} from c${m.index}`);
      }
      // Ask for acks now and then, so that what a client keeps for resending stays short.
      if (k % 20 === 0) for (const m of this.members) if (m.client.up) void m.client.sync(RECOVERY_MS).catch(() => {});
    }, SEND_EVERY_MS);
  }

  received(): number[] {
    return this.members.map((m) => m.client.received.size);
  }

  /** Waits until every client received `n` more messages than in `since` (the traffic goes on). */
  async flowing(since: number[], n = AFTER_FAULT): Promise<void> {
    await eventually(`every client to receive ${n} more messages`, () => this.members.every((m, i) => m.client.received.size >= since[i]! + n), 120_000);
  }

  downs(): number[] {
    return this.members.map((m) => m.client.downs.length);
  }

  /** Stops sending, waits for every client's stanzas to be acknowledged and every message to arrive, and counts. */
  async finish(): Promise<ReturnType<typeof tally> & { sent: number; errors: number; failures: string[] }> {
    clearInterval(this.#timer);
    await eventually('no client still resuming', () => this.members.every((m) => !m.recovering), RECOVERY_MS);
    const failures = this.members.flatMap((m) => m.failures);
    if (failures.length === 0) {
      await Promise.all(this.members.map((m) => m.client.sync(60_000)));
      const all = [...this.expected.values()].reduce((a, ids) => a + ids.length, 0);
      await eventually('every message to arrive', () => this.members.reduce((a, m) => a + m.client.received.size, 0) >= all, 60_000).catch(() => {});
      await sleep(500); // a duplicate would come right behind
    }
    const t = tally(this.members.map((m) => ({ expected: this.expected.get(m)!, received: m.client.received })));
    return { ...t, sent: this.#k * this.members.length, errors: this.members.reduce((a, m) => a + m.client.errorsReceived, 0), failures };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    for (const m of this.members) m.closing = true;
    await Promise.all(this.members.map((m) => m.client.close().catch(() => m.client.abort())));
  }
}

function expectNoLoss(t: Awaited<ReturnType<Traffic['finish']>>): void {
  expect(t.failures).toEqual([]);
  expect(t.lostIds.slice(0, 10), `${t.lost} of ${t.expected} messages lost`).toEqual([]);
  expect(t.duplicateIds.slice(0, 10), `${t.duplicates} duplicates`).toEqual([]);
  expect(t.unexpected).toBe(0);
  expect(t.errors).toBe(0);
  expect(t.expected).toBe(t.sent);
}

/** A client that was not there during the fault logs in on `node` and gets a message to itself through it. */
async function servesNewClients(node: string): Promise<void> {
  const probe = new SmClient({ domain: DOMAIN, username: 'probe', password: 'probe-pw', resource: `probe-${node}` });
  try {
    await probe.connect(await ws(node));
    const id = `probe-${node}-${Date.now()}`;
    probe.sendMessage(probe.jid, id, 'through the node');
    await eventually(`the probe's message through ${node}`, () => probe.received.has(id), 30_000);
  } finally {
    await probe.close().catch(() => probe.abort());
  }
}

const same = (a: GatewayPodState | undefined, b: GatewayPodState | undefined) => ({
  uid: a?.uid === b?.uid,
  containerId: a?.containerId === b?.containerId,
  restartCount: a?.restartCount === b?.restartCount,
});

/** Kubelet counters; the process start time tells one kubelet process from the next. */
async function kubelet(): Promise<{ startedAt: number; startedContainers: number; podSyncs: number; plegSeenAt: number }> {
  const m = await kubeletMetrics(cluster);
  return {
    startedAt: metricSum(m, 'process_start_time_seconds'),
    startedContainers: metricSum(m, 'kubelet_started_containers_total'),
    podSyncs: metricSum(m, 'kubelet_pod_worker_duration_seconds_count'),
    plegSeenAt: metricSum(m, 'kubelet_pleg_last_seen_seconds'),
  };
}

beforeAll(async () => {
  const unavailable = await realNodeUnavailable();
  // This machine kind can run a real node: a missing part is a failure with its reason, never a skip.
  if (unavailable) throw new Error(`the real node cannot start here: ${unavailable}`);
  cluster = await step('local cluster with a real node', 20 * 60_000, startLocalCluster({ log: (l) => console.log(`[cluster] ${l}`), maxLifetimeMs: 90 * 60_000 }));
  prosody = await startProsody({
    domains: [DOMAIN],
    users: [...Array.from({ length: CLIENTS }, (_, i) => ({ user: account(i).username, domain: DOMAIN, password: account(i).password })), { user: 'probe', domain: DOMAIN, password: 'probe-pw' }],
    c2sInterfaces: [cluster.node.net.hostIp],
    smacksHibernationSeconds: 300,
    maxLifetimeMs: 90 * 60_000,
  });
  await installOperator(cluster, 'kustomize');
  await cluster.kubectl(['create', 'namespace', NS]);
  await cluster.kubectl(['apply', '--server-side', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'xwg.io/v1alpha1',
      kind: 'XmppWebGateway',
      metadata: { name: GATEWAY, namespace: NS },
      spec: {
        domains: [DOMAIN],
        upstream: { host: cluster.node.net.hostIp, port: prosody.c2sPort, tls: 'none' },
        nodes: NODES.map((n) => ({ name: n, host: `${n}.${DOMAIN}` })),
        service: { ports: { https: 443, http: 80 } },
        drainSeconds: 10,
      },
    }),
  });
  await withDiagnosis(eventually('three Ready gateway pods', async () => [...(await pods()).values()].filter((p) => p.ready).length === 3, 180_000));
}, 30 * 60_000);

afterAll(async () => {
  await prosody?.dispose();
  await cluster?.stop();
});

describe('real node faults under XEP-0198 clients', () => {
  it('a SIGKILLed gateway container, on each node in turn: its clients resume on another node, nothing is lost, the kubelet restarts it in the same pod and it serves again once Ready by its probes, the other pods untouched', async () => {
    const traffic = new Traffic('kill');
    const figures: Record<string, unknown>[] = [];
    try {
      await traffic.start();
      await traffic.flowing(traffic.received());
      for (const victim of NODES) {
        const before = await pods();
        const onVictim = traffic.members.filter((m) => m.node === victim);
        expect(onVictim.length, `clients on ${victim}`).toBeGreaterThan(0);
        const movesBefore = new Map(onVictim.map((m) => [m, m.moves.length]));
        const downsBefore = traffic.downs();
        const pid = await containerPid(cluster, before.get(victim)!.containerId);
        const started = performance.now();
        process.kill(pid, 'SIGKILL');

        await withDiagnosis(
          eventually(`the clients of ${victim} to resume on another node`, () => onVictim.every((m) => m.client.up && m.moves.length > movesBefore.get(m)! && m.node !== victim) || onVictim.some((m) => m.failures.length > 0), RECOVERY_MS),
        );
        expect(onVictim.flatMap((m) => m.failures)).toEqual([]);
        const resumedMs = performance.now() - started;
        const after = await withDiagnosis(
          eventually(`${victim}'s container restarted and Ready`, async () => {
            const s = (await pods()).get(victim);
            return s?.ready && s.restartCount === before.get(victim)!.restartCount + 1 ? s : undefined;
          }, { timeoutMs: RECOVERY_MS, everyMs: 250 }),
        );
        const readyMs = performance.now() - started;
        // The same pod, a new container.
        expect(after.uid).toBe(before.get(victim)!.uid);
        expect(after.containerId).not.toBe(before.get(victim)!.containerId);
        const now = await pods();
        for (const n of NODES.filter((x) => x !== victim)) expect(same(now.get(n), before.get(n)), `pod of ${n}`).toEqual({ uid: true, containerId: true, restartCount: true });
        // Clients of the other nodes never saw a thing.
        const downsAfter = traffic.downs();
        for (const m of traffic.members.filter((x) => !onVictim.includes(x))) expect(downsAfter[m.index], `links lost by c${m.index} on ${m.node}`).toBe(downsBefore[m.index]);
        await servesNewClients(victim);
        await traffic.flowing(traffic.received());
        figures.push({ victim, clients: onVictim.length, resumedAllMs: Math.round(resumedMs), readyAgainMs: Math.round(readyMs), moves: onVictim.map((m) => m.moves.at(-1)) });
      }
      const t = await traffic.finish();
      report('real node: gateway container killed', { rounds: figures, sent: t.sent, received: t.received, lost: t.lost, duplicates: t.duplicates });
      expectNoLoss(t);
    } finally {
      await traffic.close();
    }
  });

  it('a restarted kubelet, twice: every gateway container keeps running (same containers, none started, no restarts), every client keeps its link, nothing is lost, and the pods are Ready again by their probes', async () => {
    const traffic = new Traffic('kubelet');
    const figures: Record<string, unknown>[] = [];
    try {
      await traffic.start();
      await traffic.flowing(traffic.received());
      for (let round = 1; round <= 2; round++) {
        const before = await pods();
        const tasksBefore = await containerTasks(cluster);
        const downsBefore = traffic.downs();
        const old = await kubelet();
        const readiness = watchReadiness();
        const started = performance.now();
        await cluster.node.restartKubelet();
        // The Node stays Ready on the old kubelet's last report: wait for the new process itself, then for it to
        // have looked at the containers (PLEG relisted) and run each pod's worker.
        const fresh = await withDiagnosis(
          eventually('the new kubelet to serve its metrics and to have synced the pods', async () => {
            const k = await kubelet();
            return k.startedAt > old.startedAt && k.plegSeenAt > k.startedAt + 2 && k.podSyncs >= before.size ? k : undefined;
          }, { timeoutMs: RECOVERY_MS, everyMs: 500 }),
        );
        await withDiagnosis(eventually('three Ready gateway pods after the kubelet restart', async () => [...(await pods()).values()].filter((p) => p.ready).length === 3, { timeoutMs: RECOVERY_MS, everyMs: 250 }));
        const readyMs = performance.now() - started;
        // Two readiness periods in which nothing may be restarted.
        await sleep(10_000);
        const notReadyMs = await readiness.stop();
        const after = await pods();
        for (const n of NODES) expect(same(after.get(n), before.get(n)), `pod of ${n}`).toEqual({ uid: true, containerId: true, restartCount: true });
        const tasksAfter = await containerTasks(cluster);
        for (const n of NODES) {
          const id = before.get(n)!.containerId.replace('containerd://', '');
          expect(tasksAfter.get(id), `pid of ${n}'s container`).toBe(tasksBefore.get(id));
        }
        expect((await kubelet()).startedContainers, 'containers the new kubelet started').toBe(0);
        expect(traffic.downs(), 'links lost').toEqual(downsBefore);
        await traffic.flowing(traffic.received());
        figures.push({ round, readyAgainMs: Math.round(readyMs), notReadyMs, podSyncs: fresh.podSyncs });
      }
      const t = await traffic.finish();
      report('real node: kubelet restarted', { rounds: figures, sent: t.sent, received: t.received, lost: t.lost, duplicates: t.duplicates });
      expectNoLoss(t);
    } finally {
      await traffic.close();
    }
  });

  it('a restarted containerd, twice: every gateway container keeps running (same containers and processes, no restarts), every client keeps its link, nothing is lost, the pods stay Ready, and the kubelet still restarts a killed container through it', async () => {
    const traffic = new Traffic('containerd');
    const figures: Record<string, unknown>[] = [];
    try {
      await traffic.start();
      await traffic.flowing(traffic.received());
      for (let round = 1; round <= 2; round++) {
        const before = await pods();
        const tasksBefore = await containerTasks(cluster);
        const downsBefore = traffic.downs();
        const startedContainers = (await kubelet()).startedContainers;
        const readiness = watchReadiness();
        const started = performance.now();
        await cluster.node.restartContainerd();
        const back = Date.now() / 1000;
        // The kubelet has relisted the containers through the new containerd.
        await withDiagnosis(eventually('the kubelet to relist through the new containerd', async () => (await kubelet()).plegSeenAt > back + 2, { timeoutMs: RECOVERY_MS, everyMs: 500 }));
        await withDiagnosis(eventually('three Ready gateway pods after the containerd restart', async () => [...(await pods()).values()].filter((p) => p.ready).length === 3, { timeoutMs: RECOVERY_MS, everyMs: 250 }));
        const readyMs = performance.now() - started;
        await sleep(10_000);
        const notReadyMs = await readiness.stop();
        // The kubelet probes the pods itself (HTTP to the pod IP): no Ready condition depends on containerd.
        expect(notReadyMs, 'time each pod was seen not Ready').toEqual({ t1: 0, t2: 0, t3: 0 });
        const after = await pods();
        for (const n of NODES) expect(same(after.get(n), before.get(n)), `pod of ${n}`).toEqual({ uid: true, containerId: true, restartCount: true });
        const tasksAfter = await containerTasks(cluster);
        // Every task (the pods' sandboxes too) is the same process as before.
        expect([...tasksAfter].sort()).toEqual([...tasksBefore].sort());
        expect((await kubelet()).startedContainers, 'containers started by the kubelet').toBe(startedContainers);
        expect(traffic.downs(), 'links lost').toEqual(downsBefore);
        await traffic.flowing(traffic.received());
        figures.push({ round, backMs: Math.round(readyMs), notReadyMs, tasks: tasksAfter.size });
      }

      // The restarted containerd still runs containers for the kubelet: a container killed now comes back.
      const victim = 't2';
      const before = (await pods()).get(victim)!;
      process.kill(await containerPid(cluster, before.containerId), 'SIGKILL');
      const after = await withDiagnosis(
        eventually(`${victim}'s container restarted through the restarted containerd`, async () => {
          const s = (await pods()).get(victim);
          return s?.ready && s.restartCount === before.restartCount + 1 ? s : undefined;
        }, { timeoutMs: RECOVERY_MS, everyMs: 250 }),
      );
      expect(after.uid).toBe(before.uid);
      expect((await containerTasks(cluster)).has(after.containerId.replace('containerd://', ''))).toBe(true);
      await servesNewClients(victim);
      await traffic.flowing(traffic.received());

      const t = await traffic.finish();
      report('real node: containerd restarted', { rounds: figures, sent: t.sent, received: t.received, lost: t.lost, duplicates: t.duplicates, movedAfterKill: traffic.members.flatMap((m) => m.moves) });
      expectNoLoss(t);
    } finally {
      await traffic.close();
    }
  });
});
