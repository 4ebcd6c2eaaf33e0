// Scenario 1: the operator (the CLI, as in its Deployment) is killed with SIGKILL at random points while
// gateways converge, and started again each time. At the end exactly the desired objects exist (no
// duplicates, no orphans, no drift), every status is of the latest generation, the selfManaged certificates
// are valid, and a restart with nothing to do re-issues no certificate and writes nothing.
import { expect } from 'vitest';
import {
  OperatorProc,
  audit,
  certFingerprints,
  changed,
  convergedGateways,
  createGateway,
  dumpLogs,
  elapsed,
  gatewayName,
  listManaged,
  report,
  resourceVersions,
  seededRandom,
  setGateway,
  sized,
  sleep,
  startFaultCluster,
  summary,
  waitConverged,
  waitLeader,
  type FaultCluster,
  type GatewayShape,
  type Scale,
} from './harness.ts';

const NS = 'kill';
const OBJECTS_PER_GATEWAY = 13; // ConfigMap, CA + 3 leaf Secrets, 3 node Services + discovery, 3 Deployments, PDB

export async function killOperatorScenario(scale: Scale): Promise<void> {
  const gateways = sized(scale, 5, 50);
  const kills = sized(scale, 3, 20);
  const convergeTimeout = sized(scale, 180_000, 900_000);
  const rnd = seededRandom(1001);
  let c: FaultCluster | undefined;
  try {
    c = await startFaultCluster({ namespaces: [NS] });
    const api = c.api;
    const shapes = new Map<string, GatewayShape>();
    let generationBumps = 0;

    let op = await OperatorProc.start(c, 'k0');
    await waitLeader(api, op);
    const tCreate = Date.now();
    for (let i = 0; i < gateways; i++) {
      const shape = { nodes: ['a', 'b', 'c'], maxConnections: 1000 };
      shapes.set(gatewayName(i), shape);
      await createGateway(api, NS, gatewayName(i), shape);
    }

    const killLog: Record<string, unknown>[] = [];
    let nodeSerial = 0;
    for (let k = 1; k <= kills; k++) {
      let changedNow = gateways;
      if (k > 1) {
        // While no operator runs, some gateways get a node renamed (new Deployment, Service and certificate,
        // the old ones to prune), others a new limit (ConfigMap and Deployments change); then a new replica
        // starts with that work ahead of it.
        changedNow = Math.max(1, Math.round(gateways * (0.2 + rnd.next() * 0.5)));
        for (let j = 0; j < changedNow; j++) {
          const name = gatewayName(rnd.int(0, gateways - 1));
          const s = shapes.get(name)!;
          const renamed = rnd.int(0, 2);
          const next: GatewayShape =
            rnd.next() < 0.5
              ? { ...s, nodes: s.nodes.map((n, idx) => (idx === renamed ? `n${++nodeSerial}` : n)) }
              : { ...s, maxConnections: (s.maxConnections ?? 1000) + 1 };
          shapes.set(name, next);
          await setGateway(api, NS, name, next);
          generationBumps++;
        }
        op = await OperatorProc.start(c, `k${k}`);
        await waitLeader(api, op);
      }
      // Kill at a random point: when a random share of the objects exists (first round), when a random
      // share of the pending gateways is reconciled, or a random time after the replica started leading.
      const mode = k === 1 ? 'objects' : rnd.pick(['gateways', 'time'] as const);
      const share = 0.1 + rnd.next() * 0.8;
      const tLead = Date.now();
      if (mode === 'objects') {
        const target = Math.floor(gateways * OBJECTS_PER_GATEWAY * share);
        await pollUntil(async () => (await listManaged(api, NS)).length >= target, 120_000);
      } else if (mode === 'gateways') {
        const done = await convergedGateways(api, NS);
        await pollUntil(async () => (await convergedGateways(api, NS)) >= done + Math.floor((gateways - done) * share), 120_000);
      } else {
        await sleep(rnd.int(0, 200 * changedNow));
      }
      await op.kill();
      const at = await audit(api, NS, { renewing: true });
      killLog.push({
        kill: k,
        mode,
        afterMs: elapsed(tLead),
        objects: at.objects,
        missing: at.missing.length,
        orphans: at.orphans.length,
        drift: at.drift.length,
        staleGateways: at.staleStatus.length,
      });
    }
    const midConvergence = killLog.filter((x) => (x.missing as number) + (x.orphans as number) + (x.drift as number) + (x.staleGateways as number) > 0).length;
    op = await OperatorProc.start(c, 'final');
    await waitLeader(api, op);

    const { ms, audit: final } = await waitConverged(api, NS, 'after the last kill', convergeTimeout);
    expect(midConvergence, 'kills that hit a gateway mid-convergence').toBeGreaterThan(0);
    const totalMs = elapsed(tCreate);
    expect(final.gateways).toBe(gateways);
    expect(final.objects).toBe(gateways * OBJECTS_PER_GATEWAY);

    // Nothing changed: restarts (SIGKILL, then SIGTERM) re-issue no certificate and write nothing.
    const restarts: Record<string, unknown>[] = [];
    for (const how of ['SIGKILL', 'SIGTERM'] as const) {
      const certs = await certFingerprints(api, NS);
      const rvs = await resourceVersions(api, NS);
      if (how === 'SIGKILL') await op.kill();
      else await op.proc.stop({ graceMs: 20_000 });
      op = await OperatorProc.start(c, `steady-${how}`);
      const lead = await waitLeader(api, op);
      // Every gateway is queued when the workers start: wait for a pass over all of them, and a bit more.
      await pollUntil(async () => (await op.reconciles()) >= gateways, 120_000);
      await sleep(2_000);
      const reissued = changed(certs, await certFingerprints(api, NS));
      const written = changed(rvs, await resourceVersions(api, NS));
      restarts.push({ how, leaderAfterMs: lead, reconciles: await op.reconciles(), secretsReissued: reissued.length, objectsWritten: written.length });
      expect(reissued, `certificates re-issued by a restart (${how}) with nothing to do`).toEqual([]);
      expect(written, `objects written by a restart (${how}) with nothing to do`).toEqual([]);
    }
    const after = await audit(api, NS);
    expect(summary(after)).toBe(summary(final));

    report('operator killed mid-reconcile', {
      scale,
      seed: rnd.seed,
      gateways,
      nodesPerGateway: 3,
      objects: final.objects,
      kills,
      killsMidConvergence: midConvergence,
      generationBumps,
      killPoints: killLog,
      convergedAfterLastKillMs: ms,
      totalMs,
      duplicates: final.duplicates.length,
      orphans: final.orphans.length,
      missing: final.missing.length,
      drift: final.drift.length,
      badCerts: final.badCerts.length,
      steadyRestarts: restarts,
    });
  } catch (e) {
    await dumpLogs(c);
    throw e;
  } finally {
    await c?.stop();
  }
}

async function pollUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      if (await check()) return true;
    } catch {
      // the API may be busy: try again
    }
    await sleep(100);
  }
  return false;
}
