// The API server goes away and comes back: the operator's watches reconnect (relisting where their
// resourceVersion is gone), leadership is kept or regained, and changes made after the restart are
// reconciled.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { startOperator, type Operator } from '../../../src/operator/operator.ts';
import type { ControlPlane } from '../../../dev/cluster/control-plane.ts';
import { Api, eventually, gateway, gatewayPath, kubeConfigOf, memoryLogger, startClusterWithCrd } from './helpers.ts';

let cp: ControlPlane;
let api: Api;
let op: Operator;
const log = memoryLogger('debug');
const NS = 'restart';

beforeAll(async () => {
  ({ cp, api } = await startClusterWithCrd({ controllerManager: false }));
  await api.namespace(NS);
  op = await startOperator({
    kubeconfig: kubeConfigOf(cp),
    leaderElection: { namespace: NS, leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 1_000 },
    metricsPort: false,
    logger: log.logger,
    processMetrics: false,
    // Reconnect quickly: the test bounds the recovery time.
    watchBackoff: { initialMs: 200, maxMs: 2_000 },
    retryMaxMs: 2_000,
  });
  await op.ready;
}, 10 * 60_000);

afterAll(async () => {
  await op?.stop();
  await cp?.stop();
}, 120_000);

const deployment = (name: string) => api.find(`/apis/apps/v1/namespaces/${NS}/deployments/${name}`);

describe('API server restart', () => {
  it('reconnects and reconciles changes made after the restart', async () => {
    onTestFailed(async () => {
      console.log(log.dump(/informer|leader|Lease|reconcile|watch|list/, 120));
      console.log(await cp.logs(30));
    });
    await api.create(gatewayPath(NS), gateway(NS, 'rs', { domains: ['example.com'], upstream: { host: 'x.example.com' }, nodes: [{ name: 'a', host: 'a.example.com' }] }));
    await eventually('node a', () => deployment('rs-a'));
    const watchesBefore = op.controller.gateways.stats.watches;

    const t0 = Date.now();
    await cp.restartApiServer();
    const down = Date.now() - t0;

    const t1 = Date.now();
    await api.mergePatch(gatewayPath(NS, 'rs'), { spec: { nodes: [{ name: 'a', host: 'a.example.com' }, { name: 'b', host: 'b.example.com' }] } });
    await eventually('node b, added after the restart', () => deployment('rs-b'), 60_000, 100);
    const recovered = Date.now() - t1;
    console.log(`[restart] apiserver restart took ${down} ms; a change after it was reconciled ${recovered} ms later`);
    console.log(`[restart] caches: ${JSON.stringify(op.controller.informerStats())}`);
    expect(op.controller.gateways.stats.watches).toBeGreaterThan(watchesBefore);
    // Every cache watched again (after a relist where its resourceVersion was gone).
    for (const [kind, s] of Object.entries(op.controller.informerStats())) expect(s.watches, kind).toBeGreaterThanOrEqual(2);
    await eventually('leading again', async () => op.isLeader(), 30_000);

    // The caches of owned objects are live again too: a deleted child comes back.
    const uid = (await deployment('rs-a'))!.metadata.uid;
    await api.delete(`/apis/apps/v1/namespaces/${NS}/deployments/rs-a`);
    await eventually('node a recreated', async () => {
      const d = await deployment('rs-a');
      return d !== undefined && d.metadata.uid !== uid;
    });
    const gw = await api.get(gatewayPath(NS, 'rs'));
    expect(gw.status.observedGeneration).toBe(2);
  });
});
