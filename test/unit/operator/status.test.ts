import type { V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Condition, XmppWebGateway } from '../../../src/operator/api/index.ts';
import { XmppWebGatewayStatus } from '../../../src/operator/api/index.ts';
import { Value } from '@sinclair/typebox/value';
import {
  buildDesired,
  computeStatus,
  observeCertificate,
  observeDeployment,
  type NodeObservation,
  type ObservedState,
} from '../../../src/operator/desired/index.ts';
import { certManager, ctx, twoNodes } from './fixtures.ts';

const t0 = new Date('2025-03-01T10:00:00.123Z');
const t1 = new Date('2025-03-01T10:05:00Z');
const ready: NodeObservation = { exists: true, ready: true, rollingOut: false };
const cond = (conditions: Condition[] | undefined, type: string) => conditions?.find((c) => c.type === type);

function observed(gw: XmppWebGateway, deployments: Record<string, NodeObservation>, extra: Partial<ObservedState> = {}): ObservedState {
  const { nodes, problems } = buildDesired(gw, ctx);
  return { nodes, problems, deployments, certificates: { t1: { ready: true }, t2: { ready: true } }, certManagerAvailable: true, ...extra };
}

describe('computeStatus', () => {
  it('reports a healthy gateway', () => {
    const status = computeStatus(twoNodes, observed(twoNodes, { t1: ready, t2: ready }), t0);
    expect(status.observedGeneration).toBe(1);
    expect(status.readyNodes).toBe('2/2');
    expect(status.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'AllNodesReady'],
      ['Progressing', 'False', 'RolloutComplete'],
      ['Degraded', 'False', 'AsExpected'],
      ['CertificatesReady', 'True', 'AllCertificatesReady'],
    ]);
    expect(cond(status.conditions, 'Ready')).toMatchObject({ observedGeneration: 1, lastTransitionTime: '2025-03-01T10:00:00Z' });
    expect(status.nodes).toEqual([
      { name: 't1', host: 't1.example.com', websocketUrl: 'wss://t1.example.com/xmpp-websocket', boshUrl: 'https://t1.example.com/http-bind', ready: true },
      { name: 't2', host: 't2.example.com', websocketUrl: 'wss://t2.example.com/xmpp-websocket', boshUrl: 'https://t2.example.com/http-bind', ready: true },
    ]);
    expect(status.discoveryUrl).toBeUndefined();
  });

  it('is valid against the status schema', () => {
    const status = computeStatus(twoNodes, observed(twoNodes, { t1: ready }), t0);
    expect([...Value.Errors(XmppWebGatewayStatus, status)]).toEqual([]);
    expect(status.conditions?.every((c) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(c.lastTransitionTime))).toBe(true);
  });

  it('says which nodes roll out and which are down', () => {
    const status = computeStatus(
      twoNodes,
      observed(twoNodes, {
        t1: { exists: true, ready: true, rollingOut: true },
        t2: { exists: true, ready: false, rollingOut: false, message: 'Deployment does not have minimum availability.' },
      }),
      t0,
    );
    expect(status.readyNodes).toBe('1/2');
    expect(cond(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'NodesNotReady', message: '1/2 nodes ready; not ready: t2' });
    expect(cond(status.conditions, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut', message: 'rolling out: t1' });
    expect(cond(status.conditions, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'NodesUnavailable',
      message: 'unavailable: t2 (Deployment does not have minimum availability.)',
    });
  });

  it('does not call a node that is still being created degraded', () => {
    const status = computeStatus(twoNodes, observed(twoNodes, { t1: ready }), t0);
    expect(cond(status.conditions, 'Progressing')).toMatchObject({ status: 'True', message: 'rolling out: t2' });
    expect(cond(status.conditions, 'Degraded')?.status).toBe('False');
  });

  it('keeps lastTransitionTime while a condition keeps its status', () => {
    const first = computeStatus(twoNodes, observed(twoNodes, { t1: ready }), t0);
    const gw = { ...twoNodes, status: first };
    const second = computeStatus(gw, observed(twoNodes, { t1: ready, t2: { exists: true, ready: false, rollingOut: true } }), t1);
    // Ready stayed False (its message changed): time kept. Progressing stayed True: kept.
    expect(cond(second.conditions, 'Ready')?.lastTransitionTime).toBe('2025-03-01T10:00:00Z');
    expect(cond(second.conditions, 'Progressing')?.lastTransitionTime).toBe('2025-03-01T10:00:00Z');
    const third = computeStatus({ ...twoNodes, status: second }, observed(twoNodes, { t1: ready, t2: ready }), t1);
    expect(cond(third.conditions, 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: '2025-03-01T10:05:00Z' });
    expect(cond(third.conditions, 'Degraded')?.lastTransitionTime).toBe('2025-03-01T10:00:00Z');
  });

  it('reports cert-manager missing when an issuer is referenced', () => {
    const { nodes } = buildDesired(certManager, { ...ctx, certManagerAvailable: false });
    const status = computeStatus(certManager, { nodes, deployments: {}, certManagerAvailable: false }, t0);
    expect(cond(status.conditions, 'CertificatesReady')).toMatchObject({ status: 'False', reason: 'CertManagerMissing' });
    expect(cond(status.conditions, 'Degraded')).toMatchObject({ status: 'True', reason: 'CertManagerMissing' });
    expect(status.discoveryUrl).toBe('https://xmpp-web.example.com/.well-known/xmpp-web-nodes.json?domain=example.com');
  });

  it('names the certificates that are not ready, with a shared reason', () => {
    const status = computeStatus(
      twoNodes,
      observed(twoNodes, { t1: ready, t2: ready }, { certificates: { t1: { ready: true }, t2: { ready: false, code: 'XWG_OP_TLS_SECRET_MISSING', message: 'Secret chat-t2-tls not found' } } }),
      t0,
    );
    expect(cond(status.conditions, 'CertificatesReady')).toMatchObject({
      status: 'False',
      reason: 'SecretMissing',
      message: 'not ready: t2 (Secret chat-t2-tls not found)',
    });
  });

  it('puts reconcile errors first, with the reason of their code', () => {
    const status = computeStatus(twoNodes, observed(twoNodes, { t1: ready, t2: ready }, { errors: [{ code: 'XWG_OP_APPLY_FAILED', message: 'Deployment chat-t1: forbidden' }] }), t0);
    expect(cond(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'ApplyFailed', message: 'Deployment chat-t1: forbidden' });
    expect(cond(status.conditions, 'Degraded')).toMatchObject({ status: 'True', reason: 'ApplyFailed' });
  });

  it('reports failures of different kinds as ReconcileFailed, and an invalid spec as InvalidSpec', () => {
    const errors = [
      { code: 'XWG_OP_APPLY_FAILED', message: 'Deployment chat-t1: forbidden' },
      { code: 'XWG_OP_DELETE_FAILED', message: 'delete Service chat-t3: forbidden' },
    ] as const;
    const mixed = computeStatus(twoNodes, observed(twoNodes, { t1: ready, t2: ready }, { errors }), t0);
    expect(cond(mixed.conditions, 'Ready')).toMatchObject({ reason: 'ReconcileFailed', message: 'Deployment chat-t1: forbidden; delete Service chat-t3: forbidden' });
    const invalid = computeStatus(twoNodes, observed(twoNodes, {}, { errors: [{ code: 'XWG_OP_INVALID_SPEC', message: 'invalid spec: x' }] }), t0);
    expect(cond(invalid.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(cond(invalid.conditions, 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
  });

  it('reports a gateway without nodes', () => {
    const status = computeStatus(twoNodes, { nodes: [], problems: ['Kubernetes Node n1: no label x'], deployments: {}, certManagerAvailable: true }, t0);
    expect(cond(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'NoNodes', message: 'no gateway node; Kubernetes Node n1: no label x' });
    expect(status.readyNodes).toBe('0/0');
  });
});

describe('observeDeployment', () => {
  const deployment = (status: V1Deployment['status'], generation = 2): V1Deployment => ({ metadata: { generation }, status });
  const progressing = (reason: string) => ({ type: 'Progressing', status: reason === 'ProgressDeadlineExceeded' ? 'False' : 'True', reason, message: reason });

  it('sees a finished rollout', () => {
    expect(observeDeployment(deployment({ observedGeneration: 2, availableReplicas: 1, readyReplicas: 1, conditions: [progressing('NewReplicaSetAvailable')] }))).toEqual({
      exists: true,
      ready: true,
      rollingOut: false,
    });
  });

  it('sees a rollout under way, and one the controller has not seen yet', () => {
    expect(observeDeployment(deployment({ observedGeneration: 2, availableReplicas: 1, readyReplicas: 1, conditions: [progressing('ReplicaSetUpdated')] })).rollingOut).toBe(true);
    expect(observeDeployment(deployment({ observedGeneration: 1, availableReplicas: 1, readyReplicas: 1, conditions: [progressing('NewReplicaSetAvailable')] })).rollingOut).toBe(true);
  });

  it('sees a pod that died after its rollout, and a rollout that failed', () => {
    const died = observeDeployment(
      deployment({
        observedGeneration: 2,
        availableReplicas: 0,
        conditions: [progressing('NewReplicaSetAvailable'), { type: 'Available', status: 'False', message: 'Deployment does not have minimum availability.' }],
      }),
    );
    expect(died).toEqual({ exists: true, ready: false, rollingOut: false, message: 'Deployment does not have minimum availability.' });
    expect(observeDeployment(deployment({ observedGeneration: 2, conditions: [progressing('ProgressDeadlineExceeded')] }))).toMatchObject({ rollingOut: false, failed: true });
    expect(observeDeployment(undefined)).toMatchObject({ exists: false, rollingOut: true });
  });

  it('reads a cert-manager Certificate', () => {
    expect(observeCertificate({ status: { conditions: [{ type: 'Ready', status: 'True' }] } })).toEqual({ ready: true });
    expect(observeCertificate({ status: { conditions: [{ type: 'Ready', status: 'False', reason: 'DoesNotExist', message: 'Issuing certificate' }] } })).toEqual({
      ready: false,
      code: 'XWG_OP_CERTIFICATE_PENDING',
      message: 'cert-manager: DoesNotExist: Issuing certificate',
    });
  });
});
