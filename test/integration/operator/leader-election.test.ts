// Several operator processes (the CLI, as in a Deployment with replicas > 1) against one control plane:
// exactly one holds the Lease and writes; when it is killed (SIGKILL: no release) another takes over within
// the lease duration; when it stops (SIGTERM) it releases the Lease and another takes over at once.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { freePorts } from '../../../dev/cluster/http.ts';
import { spawnBounded, tailFile, type BoundedProcess } from '../../../dev/harness/process.ts';
import type { ControlPlane } from '../../../dev/cluster/control-plane.ts';
import { REPO, Api, eventually, gateway, gatewayPath, startClusterWithCrd, testDir } from './helpers.ts';

const LEASE_MS = 6_000;
const RETRY_MS = 1_000;
const LEASE = '/apis/coordination.k8s.io/v1/namespaces/xwg-system/leases/xmpp-web-gateway-operator';
const NS = 'le';

interface OperatorProcess {
  name: string;
  proc: BoundedProcess;
  port: number;
  logFile: string;
  identity?: string;
}

let cp: ControlPlane;
let api: Api;
let dir: { dir: string; remove(): Promise<void> };
let kubeconfig: string;
const procs: OperatorProcess[] = [];

async function spawnOperator(name: string): Promise<OperatorProcess> {
  const [port] = (await freePorts(1)) as [number];
  const logFile = path.join(dir.dir, `${name}.log`);
  const proc = spawnBounded({
    name,
    command: process.execPath,
    args: [
      path.join(REPO, 'src/cli/main.ts'),
      'operator',
      `--kubeconfig=${kubeconfig}`,
      '--leader-election-namespace=xwg-system',
      `--leader-elect-lease-duration=${LEASE_MS / 1000}s`,
      '--leader-elect-renew-deadline=4s',
      `--leader-elect-retry-period=${RETRY_MS / 1000}s`,
      `--metrics-port=${port}`,
      '--metrics-bind-address=127.0.0.1',
      '--gateway-image=registry.example.invalid/xwg:test',
      '--log-level=debug',
    ],
    cwd: REPO,
    logPath: logFile,
    maxLifetimeMs: 15 * 60_000,
  });
  const p: OperatorProcess = { name, proc, port, logFile };
  procs.push(p);
  await eventually(`${name} ready`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 60_000);
  p.identity = await eventually(`${name} identity`, async () => /"identity":"([^"]+)"/.exec(await tailFile(logFile, 200))?.[1]);
  return p;
}

async function metrics(p: OperatorProcess): Promise<string> {
  return (await fetch(`http://127.0.0.1:${p.port}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
}

async function isLeader(p: OperatorProcess): Promise<boolean> {
  return /^leader_election_master_status\{name="xmpp-web-gateway-operator"\} 1$/m.test(await metrics(p));
}

/** Writes of the process other than to its Lease, from its own call counter. */
async function writes(p: OperatorProcess): Promise<number> {
  let n = 0;
  for (const line of (await metrics(p)).split('\n')) {
    if (!line.startsWith('xwg_operator_api_calls_total{') || /resource="leases"/.test(line)) continue;
    if (/verb="(create|patch|update|delete)"/.test(line)) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

async function holder(): Promise<string | undefined> {
  return (await api.find(LEASE))?.spec?.holderIdentity;
}

beforeAll(async () => {
  ({ cp, api } = await startClusterWithCrd({ controllerManager: false }));
  dir = await testDir();
  kubeconfig = path.join(dir.dir, 'kubeconfig');
  await writeFile(kubeconfig, cp.kubeconfig, { mode: 0o600 });
  await api.namespace('xwg-system');
  await api.namespace(NS);
}, 10 * 60_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.proc.stop()));
  await cp?.stop();
  await dir?.remove();
}, 120_000);

function logsOnFailure(): void {
  onTestFailed(async () => {
    for (const p of procs) console.log(`----- ${p.name} (${p.identity}) -----\n${await tailFile(p.logFile, 60)}`);
  });
}

describe('leader election', () => {
  let leader: OperatorProcess;
  let follower: OperatorProcess;

  it('elects one leader, and only the leader writes', async () => {
    logsOnFailure();
    const [a, b] = await Promise.all([spawnOperator('a'), spawnOperator('b')]);
    const held = await eventually('a Lease holder', holder);
    leader = held === a.identity ? a : b;
    follower = leader === a ? b : a;
    expect([a.identity, b.identity]).toContain(held);
    await eventually('the leader reports it', () => isLeader(leader));
    expect(await isLeader(follower)).toBe(false);

    await api.create(gatewayPath(NS, undefined), gateway(NS, 'le', { domains: ['example.com'], upstream: { host: 'x.example.com' }, nodes: [{ name: 'a', host: 'a.example.com' }] }));
    await eventually('reconciled', async () => (await api.get(gatewayPath(NS, 'le'))).status?.observedGeneration === 1);
    // The leader's writes are counted once they are done; the follower's must stay at zero meanwhile.
    await eventually('the leader counts its writes', async () => (await writes(leader)) > 0);
    expect(await writes(leader)).toBeGreaterThan(0);
    expect(await writes(follower)).toBe(0);
    // Both have their caches: readiness does not depend on leadership.
    expect((await fetch(`http://127.0.0.1:${follower.port}/readyz`)).status).toBe(200);
  });

  it('fails over once the lease expires when the leader is killed', async () => {
    logsOnFailure();
    leader.proc.signal('SIGKILL', { group: true });
    expect((await leader.proc.exited).signal).toBe('SIGKILL');
    // Read after the kill: nobody renews it any more.
    const before = (await api.get(LEASE)).spec;
    await eventually('the follower holds the Lease', async () => (await holder()) === follower.identity && (await isLeader(follower)), 30_000, 100);
    const after = (await api.get(LEASE)).spec;
    expect(after.leaseTransitions).toBe((before.leaseTransitions ?? 0) + 1);
    // By the Lease's own times: the follower waited for the lease to expire, and took it at one of its first
    // tries after that (it tries every retry period).
    const waited = Date.parse(after.acquireTime) - Date.parse(before.renewTime);
    console.log(`[leader-election] Lease taken ${waited} ms after the killed leader's last renewal (lease duration ${LEASE_MS} ms)`);
    expect(waited).toBeGreaterThanOrEqual(LEASE_MS);
    expect(waited).toBeLessThan(LEASE_MS + 3 * RETRY_MS);

    // The new leader reconciles.
    await api.mergePatch(gatewayPath(NS, 'le'), { spec: { nodes: [{ name: 'a', host: 'a.example.com' }, { name: 'b', host: 'b.example.com' }] } });
    await eventually('node b from the new leader', () => api.find(`/apis/apps/v1/namespaces/${NS}/deployments/le-b`));
    leader = follower;
  });

  it('releases the Lease on SIGTERM, so a standby takes over at once', async () => {
    logsOnFailure();
    const standby = await spawnOperator('c');
    expect(await isLeader(standby)).toBe(false);
    const renewed = (await api.get(LEASE)).spec;
    await leader.proc.stop({ graceMs: 20_000 });
    expect((await leader.proc.exited).code).toBe(0);
    expect(/released the Lease/.test(await tailFile(leader.logFile, 50))).toBe(true);
    await eventually('the standby holds the Lease', async () => (await holder()) === standby.identity && (await isLeader(standby)), 30_000, 100);
    // By the Lease's own times: the standby took it before the leader's last lease could have expired, so it
    // did not wait for expiry (the release let it in).
    const after = (await api.get(LEASE)).spec;
    const taken = Date.parse(after.acquireTime) - Date.parse(renewed.renewTime);
    console.log(`[leader-election] Lease taken ${taken} ms after the leader's renewal before SIGTERM (lease duration ${LEASE_MS} ms)`);
    expect(taken).toBeLessThan(LEASE_MS);
    await api.mergePatch(gatewayPath(NS, 'le'), { spec: { nodes: [{ name: 'b', host: 'b.example.com' }] } });
    await eventually('node a removed by the third leader', async () => (await api.find(`/apis/apps/v1/namespaces/${NS}/deployments/le-a`)) === undefined);
  });
});
