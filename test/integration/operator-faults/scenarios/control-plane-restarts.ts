// Scenario 2: kube-apiserver and etcd restarted, hard (SIGKILL) and soft (SIGTERM), while gateways converge
// and at steady state. The operator process survives every restart, converges, and reconciles a change made
// after each one; certificates of unchanged nodes are never re-issued.
import { expect } from 'vitest';
import {
  OperatorProc,
  certFingerprints,
  createGateway,
  dumpLogs,
  elapsed,
  gatewayName,
  report,
  seededRandom,
  setGateway,
  sized,
  startFaultCluster,
  waitConverged,
  waitLeader,
  type FaultCluster,
  type GatewayShape,
  type Scale,
} from './harness.ts';

const NS = 'cp-restart';

interface Fault {
  component: 'apiserver' | 'etcd';
  hard: boolean;
  /** during convergence (right after a change to every gateway) or at steady state */
  when: 'converging' | 'steady';
}

const FAULTS: Fault[] = [
  { component: 'apiserver', hard: true, when: 'converging' },
  { component: 'apiserver', hard: false, when: 'steady' },
  { component: 'etcd', hard: true, when: 'converging' },
  { component: 'etcd', hard: false, when: 'steady' },
  { component: 'apiserver', hard: false, when: 'converging' },
  { component: 'etcd', hard: true, when: 'steady' },
  { component: 'apiserver', hard: true, when: 'steady' },
  { component: 'etcd', hard: false, when: 'converging' },
];

export async function controlPlaneRestartScenario(scale: Scale): Promise<void> {
  const gateways = sized(scale, 4, 30);
  const faults = sized(scale, FAULTS.slice(0, 4), [...FAULTS, ...FAULTS]);
  const convergeTimeout = sized(scale, 180_000, 600_000);
  const rnd = seededRandom(2002);
  let c: FaultCluster | undefined;
  try {
    c = await startFaultCluster({ namespaces: [NS] });
    const api = c.api;
    const op = await OperatorProc.start(c, 'r');
    await waitLeader(api, op);
    const shapes = new Map<string, GatewayShape>();
    for (let i = 0; i < gateways; i++) {
      shapes.set(gatewayName(i), { nodes: ['a', 'b', 'c'], maxConnections: 100 });
      await createGateway(api, NS, gatewayName(i), shapes.get(gatewayName(i))!);
    }
    await waitConverged(api, NS, 'initial', convergeTimeout);

    let serial = 0;
    /** a change to one gateway: a node renamed, or a limit */
    const change = async (name: string, rename: boolean) => {
      const s = shapes.get(name)!;
      const next = rename ? { ...s, nodes: [...s.nodes.slice(1), `m${++serial}`] } : { ...s, maxConnections: (s.maxConnections ?? 100) + 1 };
      shapes.set(name, next);
      await setGateway(api, NS, name, next);
    };

    const rows: Record<string, unknown>[] = [];
    for (const f of faults) {
      const label = `${f.component} ${f.hard ? 'hard' : 'soft'} ${f.when}`;
      const certsBefore = await certFingerprints(api, NS);
      if (f.when === 'converging') {
        for (const name of shapes.keys()) await change(name, false);
      }
      const t0 = Date.now();
      if (f.component === 'apiserver') await c.cp.restartApiServer({ hard: f.hard });
      else await c.cp.restartEtcd({ hard: f.hard });
      const restartMs = elapsed(t0);
      const { ms: convergeMs } = await waitConverged(api, NS, `after ${label}`, convergeTimeout);
      expect(op.proc.isRunning(), `operator survived ${label}`).toBe(true);

      // A change after the restart: one gateway renames a node (a new certificate), another changes a limit.
      const renamed = gatewayName(rnd.int(0, gateways - 1));
      const limited = gatewayName(rnd.int(0, gateways - 1));
      const t1 = Date.now();
      await change(renamed, true);
      if (limited !== renamed) await change(limited, false);
      const { audit } = await waitConverged(api, NS, `change after ${label}`, convergeTimeout);
      const changeMs = elapsed(t1);

      // Certificates of nodes that did not change are the same ones.
      const certsAfter = await certFingerprints(api, NS);
      const reissued = [...certsBefore].filter(([name, fp]) => certsAfter.has(name) && certsAfter.get(name) !== fp).map(([n]) => n);
      expect(reissued, `certificates re-issued across ${label}`).toEqual([]);
      rows.push({ fault: label, restartMs, convergeMs, changeReconciledMs: changeMs, objects: audit.objects, orphans: audit.orphans.length, duplicates: audit.duplicates.length, reissued: reissued.length });
    }

    const events = await op.events();
    const count = (re: RegExp) => events.filter((e) => re.test(e.msg)).length;
    report('apiserver and etcd restarts', {
      scale,
      seed: rnd.seed,
      gateways,
      restarts: faults.length,
      faults: rows,
      operatorRestarts: 0,
      relistsOn410: count(/410 Gone/),
      watchReconnects: count(/watch failed|list failed/),
      leadershipLost: count(/leadership lost/),
      becameLeader: count(/became leader/),
    });
  } catch (e) {
    await dumpLogs(c);
    throw e;
  } finally {
    await c?.stop();
  }
}
