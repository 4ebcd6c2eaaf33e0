// The status of an XmppWebGateway, computed from what the controller observed. Pure: the time comes in as
// `now`, the previous conditions from the resource itself. Conditions follow the Kubernetes API
// conventions: lastTransitionTime changes only when a condition's status does.
import type { V1Deployment } from '@kubernetes/client-node';
import type { Condition, ConditionType, NodeStatus, XmppWebGateway, XmppWebGatewayStatus } from '../api/types.ts';
import { NODE_LIST_PATH } from './names.ts';
import type { ResolvedNode } from './types.ts';

/** A node's Deployment, as seen. */
export interface NodeObservation {
  /** the Deployment exists */
  exists: boolean;
  /** its pod is available */
  ready: boolean;
  /** a new pod template is being rolled out (or the Deployment is not yet observed by its controller) */
  rollingOut: boolean;
  /** the rollout exceeded its progress deadline */
  failed?: boolean;
  message?: string;
}

export interface CertificateObservation {
  ready: boolean;
  /** CamelCase cause when not ready, e.g. Issuing, SecretMissing */
  reason?: string;
  message?: string;
}

export interface ObservedState {
  /** nodes of the desired state (buildDesired().nodes) */
  nodes: readonly ResolvedNode[];
  /** what the builder could not build (buildDesired().problems) */
  problems?: readonly string[];
  /** by node name; a node missing here has no Deployment yet */
  deployments: Readonly<Record<string, NodeObservation>>;
  /** by node name (and 'discovery' for the Ingress certificate); missing: not observed, not ready */
  certificates?: Readonly<Record<string, CertificateObservation>>;
  certManagerAvailable: boolean;
  /** failures of this reconcile (apply errors, invalid spec) */
  errors?: readonly string[];
}

/** Reads a Deployment's status the way `kubectl rollout status` does. */
export function observeDeployment(d: V1Deployment | undefined): NodeObservation {
  if (!d) return { exists: false, ready: false, rollingOut: true, message: 'Deployment not created yet' };
  const status = d.status ?? {};
  const generation = d.metadata?.generation ?? 0;
  const progressing = status.conditions?.find((c) => c.type === 'Progressing');
  const failed = progressing?.reason === 'ProgressDeadlineExceeded';
  const settled = (status.observedGeneration ?? 0) >= generation && progressing?.reason === 'NewReplicaSetAvailable';
  const ready = (status.availableReplicas ?? 0) >= 1 && (status.readyReplicas ?? 0) >= 1;
  const available = status.conditions?.find((c) => c.type === 'Available');
  return {
    exists: true,
    ready,
    rollingOut: !settled && !failed,
    ...(failed ? { failed, message: progressing?.message ?? 'progress deadline exceeded' } : {}),
    ...(!ready && !failed && available?.message ? { message: available.message } : {}),
  };
}

/** Reads a cert-manager Certificate's Ready condition. */
export function observeCertificate(cert: { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } } | undefined): CertificateObservation {
  const ready = cert?.status?.conditions?.find((c) => c.type === 'Ready');
  if (!cert) return { ready: false, reason: 'NotCreated', message: 'Certificate not created yet' };
  if (ready?.status === 'True') return { ready: true };
  return { ready: false, reason: ready?.reason ?? 'Issuing', message: ready?.message ?? 'waiting for cert-manager' };
}

const MAX_MESSAGE = 32768;
const MAX_LISTED = 10;

function list(items: readonly string[]): string {
  const shown = items.slice(0, MAX_LISTED).join(', ');
  return items.length > MAX_LISTED ? `${shown} and ${items.length - MAX_LISTED} more` : shown;
}

/** RFC 3339 to the second, as metav1.Time stores it (so an unchanged time never shows up as a change). */
export function kubeTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function computeStatus(gw: XmppWebGateway, observed: ObservedState, now: Date): XmppWebGatewayStatus {
  const generation = gw.metadata.generation ?? 0;
  const previous = gw.status?.conditions ?? [];
  const nodes = observed.nodes;
  const obs = (n: ResolvedNode): NodeObservation => observed.deployments[n.name] ?? { exists: false, ready: false, rollingOut: true };
  const errors = observed.errors ?? [];
  const problems = observed.problems ?? [];

  const readyNodes = nodes.filter((n) => obs(n).ready);
  const notReady = nodes.filter((n) => !obs(n).ready).map((n) => n.name);
  const rolling = nodes.filter((n) => obs(n).rollingOut).map((n) => n.name);
  const unavailable = nodes.filter((n) => obs(n).exists && !obs(n).ready && !obs(n).rollingOut);
  const certManagerMissing = gw.spec.tls?.issuerRef !== undefined && !observed.certManagerAvailable;
  const counts = `${readyNodes.length}/${nodes.length} nodes ready`;

  const conditions: Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>[] = [];

  // Ready: every node serves.
  if (errors.length > 0) conditions.push({ type: 'Ready', status: 'False', reason: 'ReconcileFailed', message: errors.join('; ') });
  else if (nodes.length === 0) {
    conditions.push({ type: 'Ready', status: 'False', reason: 'NoNodes', message: ['no gateway node', ...problems].join('; ') });
  } else if (notReady.length === 0) conditions.push({ type: 'Ready', status: 'True', reason: 'AllNodesReady', message: counts });
  else conditions.push({ type: 'Ready', status: 'False', reason: 'NodesNotReady', message: `${counts}; not ready: ${list(notReady)}` });

  // Progressing: some node's pod template is being rolled out.
  if (rolling.length > 0) conditions.push({ type: 'Progressing', status: 'True', reason: 'RollingOut', message: `rolling out: ${list(rolling)}` });
  else conditions.push({ type: 'Progressing', status: 'False', reason: 'RolloutComplete', message: 'every node runs the current configuration' });

  // Degraded: something is wrong that waiting alone will not fix.
  if (errors.length > 0) conditions.push({ type: 'Degraded', status: 'True', reason: 'ReconcileFailed', message: errors.join('; ') });
  else if (certManagerMissing) {
    conditions.push({ type: 'Degraded', status: 'True', reason: 'CertManagerMissing', message: 'spec.tls.issuerRef is set but cert-manager is not installed' });
  } else if (unavailable.length > 0) {
    const detail = unavailable.map((n) => (obs(n).message ? `${n.name} (${obs(n).message})` : n.name));
    conditions.push({ type: 'Degraded', status: 'True', reason: 'NodesUnavailable', message: `unavailable: ${list(detail)}` });
  } else if (problems.length > 0) conditions.push({ type: 'Degraded', status: 'True', reason: 'NodesSkipped', message: problems.join('; ') });
  else conditions.push({ type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no problem seen' });

  // CertificatesReady: every node (and the discovery Ingress) has its certificate.
  conditions.push(certificatesCondition(observed, certManagerMissing));

  const status: XmppWebGatewayStatus = {
    observedGeneration: generation,
    conditions: conditions.map((c) => {
      const before = previous.find((p) => p.type === c.type);
      return {
        type: c.type,
        status: c.status,
        observedGeneration: generation,
        lastTransitionTime: before && before.status === c.status ? before.lastTransitionTime : kubeTime(now),
        reason: c.reason,
        message: c.message.slice(0, MAX_MESSAGE),
      };
    }),
    nodes: nodes.map(
      (n): NodeStatus => ({
        name: n.name,
        host: n.host,
        ...(n.websocketUrl === undefined ? {} : { websocketUrl: n.websocketUrl }),
        ...(n.boshUrl === undefined ? {} : { boshUrl: n.boshUrl }),
        ready: obs(n).ready,
      }),
    ),
    readyNodes: `${readyNodes.length}/${nodes.length}`,
  };
  if (gw.spec.discovery?.host) status.discoveryUrl = discoveryUrl(gw.spec.discovery.host, gw.spec.domains[0]);
  return status;
}

/** The node list on the discovery host; the gateway answers there only for a domain it serves, so one is named. */
export function discoveryUrl(host: string, domain: string | undefined): string {
  return `https://${host}${NODE_LIST_PATH}${domain === undefined ? '' : `?domain=${encodeURIComponent(domain)}`}`;
}

function certificatesCondition(
  observed: ObservedState,
  certManagerMissing: boolean,
): Omit<Condition, 'lastTransitionTime' | 'observedGeneration'> & { type: ConditionType } {
  if (certManagerMissing) {
    return {
      type: 'CertificatesReady',
      status: 'False',
      reason: 'CertManagerMissing',
      message: 'spec.tls.issuerRef is set but the cert-manager.io/v1 Certificate kind is not served: install cert-manager',
    };
  }
  const certs = observed.certificates ?? {};
  const expected = observed.nodes.map((n) => n.name);
  for (const key of Object.keys(certs)) if (!expected.includes(key)) expected.push(key);
  const pending = expected
    .map((name) => ({ name, c: certs[name] ?? { ready: false, reason: 'NotObserved', message: 'not observed yet' } }))
    .filter(({ c }) => !c.ready);
  if (pending.length === 0) {
    return { type: 'CertificatesReady', status: 'True', reason: 'AllCertificatesReady', message: `${expected.length} certificates ready` };
  }
  const reasons = new Set(pending.map(({ c }) => c.reason ?? 'CertificatesNotReady'));
  const detail = pending.map(({ name, c }) => (c.message ? `${name} (${c.message})` : name));
  return {
    type: 'CertificatesReady',
    status: 'False',
    reason: reasons.size === 1 ? [...reasons][0]! : 'CertificatesNotReady',
    message: `not ready: ${list(detail)}`,
  };
}
