// Scenario 5: three operator replicas (the CLI, each with a ServiceAccount of its own) under leader election
// while the gateways change all the time. The leader is killed (SIGKILL: no release of the Lease) or frozen
// (SIGSTOP past the lease duration, then SIGCONT: a leader that wakes up after another took over). Each time
// another replica leads within the lease time. Never two writers: the apiserver's audit log is the record
// of every write and of every Lease update (with its holder); each write must come from the replica that
// held the Lease when the apiserver received it.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import {
  LEASE_PATH,
  OperatorProc,
  createGateway,
  dumpLogs,
  elapsed,
  eventually,
  gatewayName,
  leaseHolder,
  report,
  seededRandom,
  serviceAccountKubeconfig,
  setGateway,
  sized,
  sleep,
  startFaultCluster,
  waitConverged,
  type Api,
  type FaultCluster,
  type Scale,
} from './harness.ts';

const NS = 'handover';
const LEASE_MS = 4_000;
const RENEW_MS = 3_000;
const RETRY_MS = 1_000;
const SA_PREFIX = 'system:serviceaccount:xwg-system:';

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: RequestResponse
    userGroups: ["system:serviceaccounts:xwg-system"]
    namespaces: ["xwg-system"]
    resources: [{ group: "coordination.k8s.io", resources: ["leases"] }]
    verbs: ["create", "update", "patch"]
  - level: Metadata
    userGroups: ["system:serviceaccounts:xwg-system"]
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
`;

interface AuditEvent {
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  responseObject?: { spec?: { holderIdentity?: string } };
}

export interface WriterAnalysis {
  writes: number;
  leaseUpdates: number;
  transitions: number;
  writesByReplica: Record<string, number>;
  /** writes received while another replica (or nobody) held the Lease */
  violations: string[];
}

/** Who held the Lease when each write arrived, from the audit log alone. */
export function analyzeWriters(events: AuditEvent[]): WriterAnalysis {
  const mine = events.filter((e) => e.stage === 'ResponseComplete' && e.user.username.startsWith(SA_PREFIX));
  const isLease = (e: AuditEvent) => e.objectRef?.resource === 'leases' && e.objectRef.name === 'xmpp-web-gateway-operator';
  const leases = mine
    .filter((e) => isLease(e) && (e.responseStatus?.code ?? 0) < 300)
    .map((e) => ({ at: e.stageTimestamp, user: e.user.username, holder: e.responseObject?.spec?.holderIdentity ?? '' }))
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const userOf = new Map<string, string>();
  for (const l of leases) if (l.holder) userOf.set(l.holder, l.user);
  let transitions = 0;
  for (let i = 1; i < leases.length; i++) if (leases[i]!.holder !== leases[i - 1]!.holder) transitions++;
  const writes = mine.filter((e) => !isLease(e));
  const writesByReplica: Record<string, number> = {};
  const violations: string[] = [];
  for (const w of writes) {
    const who = w.user.username.slice(SA_PREFIX.length);
    writesByReplica[who] = (writesByReplica[who] ?? 0) + 1;
    let holder = '';
    for (const l of leases) {
      if (l.at > w.requestReceivedTimestamp) break;
      holder = l.holder;
    }
    const holderUser = holder ? userOf.get(holder) : undefined;
    if (holderUser !== w.user.username) {
      violations.push(`${w.requestReceivedTimestamp} ${who} ${w.verb} ${w.objectRef?.resource}/${w.objectRef?.name} (${w.responseStatus?.code}) while the Lease was ${holderUser ? holderUser.slice(SA_PREFIX.length) : 'free'}'s`);
    }
  }
  return { writes: writes.length, leaseUpdates: leases.length, transitions, writesByReplica, violations };
}

async function readAudit(file: string): Promise<AuditEvent[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as AuditEvent);
}

async function leaderOf(api: Api, replicas: OperatorProc[]): Promise<OperatorProc> {
  const holder = await eventually('a Lease holder', () => leaseHolder(api), 60_000, 100);
  const r = replicas.find((x) => x.identity === holder);
  if (!r) throw new Error(`the Lease holder ${holder} is none of the running replicas`);
  return r;
}

export async function leaderHandoverScenario(scale: Scale): Promise<void> {
  const gateways = sized(scale, 4, 20);
  const faults = sized<('kill' | 'freeze')[]>(scale, ['kill', 'freeze', 'kill'], ['kill', 'freeze', 'kill', 'kill', 'freeze', 'kill', 'freeze', 'kill', 'kill', 'freeze', 'kill', 'freeze']);
  const rnd = seededRandom(5005);
  let c: FaultCluster | undefined;
  let churning = false;
  let churn: Promise<number> | undefined;
  try {
    let auditLog = '';
    c = await startFaultCluster({
      namespaces: [NS],
      apiserverArgs: async (dir) => {
        const policy = path.join(dir, 'audit-policy.yaml');
        auditLog = path.join(dir, 'audit.log');
        await writeFile(policy, AUDIT_POLICY);
        return [`--audit-policy-file=${policy}`, `--audit-log-path=${auditLog}`, '--audit-log-format=json', '--audit-log-mode=blocking'];
      },
    });
    const cl = c;
    const api = c.api;
    let serial = 0;
    const spawn = async () => {
      const name = `op-${++serial}`;
      return OperatorProc.start(cl, name, { kubeconfigPath: await serviceAccountKubeconfig(cl, name), leaseMs: LEASE_MS, renewMs: RENEW_MS, retryMs: RETRY_MS });
    };
    let replicas: OperatorProc[] = await Promise.all([spawn(), spawn(), spawn()]);
    for (let i = 0; i < gateways; i++) await createGateway(api, NS, gatewayName(i), { nodes: ['a', 'b', 'c'], maxConnections: 10 });
    await waitConverged(api, NS, 'initial', 180_000);

    // The gateways keep changing: whoever leads keeps writing.
    const limits = new Map<string, number>();
    churning = true;
    churn = (async () => {
      let n = 0;
      while (churning) {
        const name = gatewayName(rnd.int(0, gateways - 1));
        const next = (limits.get(name) ?? 10) + 1;
        limits.set(name, next);
        await setGateway(api, NS, name, { nodes: ['a', 'b', 'c'], maxConnections: next }).catch(() => {});
        n++;
        await sleep(250);
      }
      return n;
    })();

    // leader_election_master_status of every replica, sampled: how often more than one said 1 (a frozen
    // leader cannot answer, and one that wakes up reports until its renew loop gives up).
    let sampling = true;
    let samples = 0;
    let overlaps = 0;
    const sampler = (async () => {
      while (sampling) {
        const states = await Promise.all(replicas.map((r) => r.isLeader()));
        samples++;
        if (states.filter(Boolean).length > 1) overlaps++;
        await sleep(250);
      }
    })();

    const rows: Record<string, unknown>[] = [];
    for (const fault of faults) {
      await sleep(rnd.int(500, 2_500));
      const leader = await leaderOf(api, replicas);
      const before = (await api.get(LEASE_PATH)).spec.leaseTransitions as number;
      const t0 = Date.now();
      if (fault === 'kill') await leader.kill();
      else leader.proc.signal('SIGSTOP', { group: true });
      const others = replicas.filter((r) => r !== leader);
      const next = await eventually(
        'another replica leads',
        async () => {
          const holder = await leaseHolder(api);
          const r = others.find((x) => x.identity === holder);
          return r && (await r.isLeader()) ? r : undefined;
        },
        60_000,
        100,
      );
      const handoverMs = elapsed(t0);
      const after = (await api.get(LEASE_PATH)).spec.leaseTransitions as number;
      let resumed: Record<string, unknown> = {};
      if (fault === 'freeze') {
        // Frozen well past the lease: it wakes up believing it leads.
        await sleep(Math.max(0, LEASE_MS + 2_000 - elapsed(t0)));
        leader.proc.signal('SIGCONT', { group: true });
        const t1 = Date.now();
        await eventually(`${leader.name} steps down after waking up`, async () => leader.proc.isRunning() && (await leader.metrics().then(() => true, () => false)) && !(await leader.isLeader()), 60_000, 100);
        resumed = { frozenMs: elapsed(t0) - elapsed(t1), stepDownMs: elapsed(t1) };
      } else {
        replicas = [...others, await spawn()];
      }
      rows.push({ fault, from: leader.name, to: next.name, handoverMs, leaseTransitions: after - before, ...resumed });
      expect(handoverMs, `handover after ${fault} of the leader`).toBeLessThan(LEASE_MS + 3 * RETRY_MS + 8_000);
      expect(after).toBeGreaterThan(before);
    }
    churning = false;
    const changes = await churn;
    sampling = false;
    await sampler;
    const { ms } = await waitConverged(api, NS, 'after the handovers', 180_000);

    const writers = analyzeWriters(await readAudit(auditLog));
    expect(writers.writes).toBeGreaterThan(0);
    expect(writers.violations, 'writes from a replica that did not hold the Lease').toEqual([]);
    report('leader election under faults', {
      scale,
      seed: rnd.seed,
      gateways,
      replicas: 3,
      replicasStarted: serial,
      leaseMs: LEASE_MS,
      faults: rows,
      gatewayChanges: changes,
      convergedAfterLastFaultMs: ms,
      auditedWrites: writers.writes,
      leaseUpdates: writers.leaseUpdates,
      holderChanges: writers.transitions,
      writesByReplica: writers.writesByReplica,
      writesFromNonHolders: writers.violations.length,
      masterStatusSamples: samples,
      masterStatusOverlaps: overlaps,
    });
  } catch (e) {
    churning = false;
    await dumpLogs(c);
    throw e;
  } finally {
    churning = false;
    await churn?.catch(() => {});
    await c?.stop();
  }
}
