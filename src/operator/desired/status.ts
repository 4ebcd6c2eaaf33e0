// The status of an XmppWebGateway, computed from what the controller observed. Pure: the time comes in as
// `now`, the previous conditions from the resource itself. Conditions follow the Kubernetes API
// conventions: lastTransitionTime changes only when a condition's status does.
import type { V1Deployment } from '@kubernetes/client-node';
import { ERRORS, reasonOf, type Problem, type ReasonCode, type StateReason } from '../../shared/errors/codes.ts';
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
  /** the cause when not ready (its condition reason comes from the error table) */
  code?: CertificateCode;
  message?: string;
}

export type CertificateCode = Extract<
  ReasonCode,
  'XWG_OP_TLS_SECRET_MISSING' | 'XWG_OP_CERTIFICATE_ISSUE_FAILED' | 'XWG_OP_CERTIFICATE_NOT_CREATED' | 'XWG_OP_CERTIFICATE_PENDING' | 'XWG_OP_CERTIFICATE_NOT_OBSERVED'
>;

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
  /** failures of this reconcile (apply errors, invalid spec), each with its code */
  errors?: readonly Problem[];
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
  if (!cert) return { ready: false, code: 'XWG_OP_CERTIFICATE_NOT_CREATED', message: 'Certificate not created yet' };
  if (ready?.status === 'True') return { ready: true };
  const said = [ready?.reason, ready?.message].filter((s) => s !== undefined && s !== '').join(': ');
  return { ready: false, code: 'XWG_OP_CERTIFICATE_PENDING', message: said === '' ? 'waiting for cert-manager' : `cert-manager: ${said}` };
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

  const conditions: Draft[] = [];
  const failure = errors.length > 0 ? problemReason(errors) : undefined;
  const failed = errors.map((e) => e.message).join('; ');

  // Ready: every node serves.
  if (failure) conditions.push({ type: 'Ready', status: 'False', reason: failure, message: failed });
  else if (nodes.length === 0) conditions.push(because('Ready', 'False', 'XWG_OP_NO_NODES', ['no gateway node', ...problems].join('; ')));
  else if (notReady.length === 0) conditions.push(state('Ready', 'True', 'AllNodesReady', counts));
  else conditions.push(because('Ready', 'False', 'XWG_OP_NODES_NOT_READY', `${counts}; not ready: ${list(notReady)}`));

  // Progressing: some node's pod template is being rolled out.
  if (rolling.length > 0) conditions.push(state('Progressing', 'True', 'RollingOut', `rolling out: ${list(rolling)}`));
  else conditions.push(state('Progressing', 'False', 'RolloutComplete', 'every node runs the current configuration'));

  // Degraded: something is wrong that waiting alone will not fix.
  if (failure) conditions.push({ type: 'Degraded', status: 'True', reason: failure, message: failed });
  else if (certManagerMissing) conditions.push(because('Degraded', 'True', 'XWG_OP_CERT_MANAGER_MISSING', 'spec.tls.issuerRef is set but cert-manager is not installed'));
  else if (unavailable.length > 0) {
    const detail = unavailable.map((n) => (obs(n).message ? `${n.name} (${obs(n).message})` : n.name));
    conditions.push(because('Degraded', 'True', 'XWG_OP_NODES_UNAVAILABLE', `unavailable: ${list(detail)}`));
  } else if (problems.length > 0) conditions.push(because('Degraded', 'True', 'XWG_OP_NODES_SKIPPED', problems.join('; ')));
  else conditions.push(state('Degraded', 'False', 'AsExpected', 'no problem seen'));

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

function certificatesCondition(observed: ObservedState, certManagerMissing: boolean): Draft {
  if (certManagerMissing) {
    return because('CertificatesReady', 'False', 'XWG_OP_CERT_MANAGER_MISSING', 'spec.tls.issuerRef is set but the cert-manager.io/v1 Certificate kind is not served: install cert-manager');
  }
  const certs = observed.certificates ?? {};
  const expected = observed.nodes.map((n) => n.name);
  for (const key of Object.keys(certs)) if (!expected.includes(key)) expected.push(key);
  const pending = expected
    .map((name): { name: string; c: CertificateObservation } => ({ name, c: certs[name] ?? { ready: false, code: 'XWG_OP_CERTIFICATE_NOT_OBSERVED', message: 'not observed yet' } }))
    .filter(({ c }) => !c.ready);
  if (pending.length === 0) return state('CertificatesReady', 'True', 'AllCertificatesReady', `${expected.length} certificates ready`);
  const codes = new Set(pending.map(({ c }) => c.code ?? 'XWG_OP_CERTIFICATES_NOT_READY'));
  const detail = pending.map(({ name, c }) => (c.message ? `${name} (${c.message})` : name));
  return because('CertificatesReady', 'False', codes.size === 1 ? [...codes][0]! : 'XWG_OP_CERTIFICATES_NOT_READY', `not ready: ${list(detail)}`);
}

type Draft = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** A condition whose reason is an error's (the table's `reason`). */
function because(type: ConditionType, status: 'True' | 'False', code: ReasonCode, message: string): Draft {
  return { type, status, reason: reasonOf(code), message };
}

/** A condition whose reason is a state that is no error. */
function state(type: ConditionType, status: 'True' | 'False', reason: StateReason, message: string): Draft {
  return { type, status, reason, message };
}

/** The reason of this reconcile's failures: theirs when they agree on one, else ReconcileFailed. */
function problemReason(errors: readonly Problem[]): string {
  const reasons = new Set(errors.map((e) => (ERRORS[e.code] as { reason?: string }).reason ?? reasonOf('XWG_OP_RECONCILE_FAILED')));
  return reasons.size === 1 ? [...reasons][0]! : reasonOf('XWG_OP_RECONCILE_FAILED');
}
