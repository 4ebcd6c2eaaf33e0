// Invalid XmppWebGateways against the real API server: the CRD's schema and CEL rules reject each one of the
// unit tests' invalid cases with a message that names the field. A resource that gets past the API server
// anyway (here: a CRD without the schema, as an old or hand-edited CRD would be) is caught by the
// operator, reported in the status, and not retried until its spec changes.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { startOperator, type Operator } from '../../../src/operator/operator.ts';
import type { ControlPlane } from '../../../dev/cluster/control-plane.ts';
import { certManager, multiDomain, perKubernetesNode, replicas, twoNodes } from '../../unit/operator/fixtures.ts';
import { invalidCases } from '../../unit/operator/invalid-cases.ts';
import { Api, ApiFailure, condition, eventually, gateway, gatewayPath, kubeConfigOf, memoryLogger, sleep, startClusterWithCrd, type Obj } from './helpers.ts';

let cp: ControlPlane;
let api: Api;
const NS = 'invalid';

beforeAll(async () => {
  ({ cp, api } = await startClusterWithCrd({ controllerManager: false }));
  await api.namespace(NS);
}, 10 * 60_000);

afterAll(async () => {
  await cp?.stop();
}, 120_000);

function inNamespace(resource: Obj, ns: string): Obj {
  const copy = structuredClone(resource);
  copy.metadata = { name: copy.metadata.name, namespace: ns };
  return copy;
}

/** Creates as kubectl does (unknown fields are errors, not dropped); the API server's error, if any. */
async function create(resource: Obj): Promise<ApiFailure | undefined> {
  try {
    await api.create(`${gatewayPath(resource.metadata.namespace)}?fieldValidation=Strict`, resource);
    await api.delete(gatewayPath(resource.metadata.namespace, resource.metadata.name));
    return undefined;
  } catch (e) {
    if (e instanceof ApiFailure) return e;
    throw e;
  }
}

/**
 * Whether the message names `path` or, for rules on a list or object (the API server reports a CEL rule at
 * the field it sits on), one of its parents below `spec`: `spec.nodes[1].host` → `spec.nodes[1]`, `spec.nodes`.
 */
function mentions(message: string, path: string): boolean {
  const candidates = [path];
  for (let p = path; /[.[]/.test(p.replace(/^spec\./, '')); ) {
    p = p.replace(/(\.[^.[]+|\[[^\]]*\])$/, '');
    candidates.push(p);
  }
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return candidates.some((c) => new RegExp(`(^|[\\s\\[,"])${escape(c)}[:\\s"]`).test(message));
}

describe('the API server', () => {
  it('accepts the valid examples', async () => {
    for (const r of [twoNodes, replicas, perKubernetesNode, certManager, multiDomain]) {
      expect(await create(inNamespace(r, NS)), r.metadata.name).toBeUndefined();
    }
  });

  it.each(invalidCases.map((c) => [c.title, c] as const))('rejects: %s', async (_title, c) => {
    const failure = await create(inNamespace(c.resource, NS));
    expect(failure, 'accepted').toBeInstanceOf(ApiFailure);
    // 422 Invalid; 400 for a field the schema does not know (strict decoding).
    expect([400, 422]).toContain(failure!.status);
    const message = String(failure!.body.message);
    for (const path of c.paths) expect(mentions(message, path), `"${message}" names ${path}`).toBe(true);
  });
});

describe('a resource the API server let through', () => {
  let op: Operator | undefined;
  const log = memoryLogger('debug');

  afterAll(async () => {
    await op?.stop();
  });

  it('is reported in the status and not retried until its spec changes', async () => {
    onTestFailed(() => console.log(log.dump(undefined, 100)));
    // The CRD without its schema and rules: anything goes in (as with an outdated or edited CRD).
    const crdPath = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/xmppwebgateways.xwg.io';
    const crd = await api.get(crdPath);
    const version = crd.spec.versions[0];
    version.schema = {
      openAPIV3Schema: {
        type: 'object',
        properties: {
          spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
      },
    };
    await api.call('PUT', crdPath, crd);
    const ns = 'slipped';
    await api.namespace(ns);
    const bad = gateway(ns, 'bad', {
      domains: ['example.com'],
      upstream: { host: 'xmpp.example.com' },
      nodes: [
        { name: 'a', host: 'same.example.com' },
        { name: 'b', host: 'same.example.com' },
      ],
    });
    await eventually('the relaxed CRD in effect', async () => {
      try {
        await api.create(gatewayPath(ns), bad);
        return true;
      } catch (e) {
        if (e instanceof ApiFailure && e.status === 422) return false;
        throw e;
      }
    });

    op = await startOperator({ kubeconfig: kubeConfigOf(cp), namespace: ns, leaderElection: false, metricsPort: false, logger: log.logger, processMetrics: false, retryBaseMs: 5 });
    await op.ready;
    const status = await eventually('Ready=False', async () => {
      const gw = await api.get(gatewayPath(ns, 'bad'));
      return condition(gw, 'Ready')?.reason === 'InvalidSpec' ? gw : undefined;
    });
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(condition(status, 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(condition(status, 'Degraded')!.message).toContain('invalid spec: spec.nodes[1].host: node hosts must be unique');
    expect(status.status.observedGeneration).toBe(1);
    expect(await api.items(`/apis/apps/v1/namespaces/${ns}/deployments`)).toEqual([]);

    // Terminal: no backoff retries (a retried error would come back within milliseconds here).
    await sleep(3_000);
    const reconciles = (await op.metrics.reconcileTotal.get()).values.filter((v) => v.labels.result === 'error').reduce((a, v) => a + v.value, 0);
    const terminal = (await op.metrics.terminalReconcileErrors.get()).values.reduce((a, v) => a + v.value, 0);
    const retries = (await op.metrics.workqueueRetries.get()).values.reduce((a, v) => a + v.value, 0);
    expect(terminal).toBeGreaterThanOrEqual(1);
    expect(reconciles).toBeLessThanOrEqual(3);
    expect(retries).toBe(0);
    const events = await api.items(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
    expect(events.find((e) => e.reason === 'InvalidSpec')?.note).toContain('spec.nodes[1].host');

    // Fixed: reconciled at once.
    await api.mergePatch(gatewayPath(ns, 'bad'), { spec: { nodes: [{ name: 'a', host: 'a.example.com' }, { name: 'b', host: 'b.example.com' }] } });
    const fixed = await eventually('reconciled after the fix', async () => {
      const gw = await api.get(gatewayPath(ns, 'bad'));
      return gw.status?.observedGeneration === 2 && condition(gw, 'Degraded')?.status === 'False' ? gw : undefined;
    });
    expect((await api.items(`/apis/apps/v1/namespaces/${ns}/deployments`)).map((d) => d.metadata.name).sort()).toEqual(['bad-a', 'bad-b']);
    // Without kube-controller-manager no pod ever starts: the rollout is in progress, not failed.
    expect(condition(fixed, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut' });
    expect(condition(fixed, 'Ready')).toMatchObject({ status: 'False', reason: 'NodesNotReady' });
  });
});
