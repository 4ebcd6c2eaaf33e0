// Node certificates as a sub-reconciler of their own: one interface, three strategies (spec.tls takes exactly
// one). The reconciler prepares a round before it applies the gateway's objects, applies the Secrets the round
// issued first (pods mount them), keeps the Secrets it names when pruning, and observes the certificates
// afterwards for the status.
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Problem } from '../../../shared/errors/codes.ts';
import type { XmppWebGateway } from '../../api/types.ts';
import type { CertificateObservation, DesiredContext, ResolvedNode } from '../../desired/index.ts';
import type { KubeClient } from '../kube-client.ts';
import type { Informer } from '../informer.ts';

export type CertificateSource = 'selfManaged' | 'certManager' | 'secretRefs';

/** Each node's certificate by node name, and the discovery Ingress's as `discovery`. */
export type CertificateObservations = Record<string, CertificateObservation>;

export interface CertificateRound {
  /** Secrets to apply before the objects that mount them (selfManaged: the CA and every leaf). */
  readonly secrets: readonly V1Secret[];
  /** Names of Secrets this strategy keeps beyond those the nodes mount, for the pruner. */
  readonly keepSecretNames: readonly string[];
  /** What could not be prepared, reported with the reconcile's other failures. */
  readonly problems: readonly Problem[];
  /** What was issued, for the CertificateIssued Event. */
  readonly issued: readonly string[];
  /** The certificates, once the gateway's objects are applied. */
  observe(): Promise<CertificateObservations>;
  /** When to reconcile again for the certificates' sake (renewal due, a Secret awaited); undefined: no need. */
  recheckAfterMs(observed: CertificateObservations, now: Date): number | undefined;
}

export interface CertificateInputs {
  gw: XmppWebGateway;
  ctx: DesiredContext;
  /** the nodes of the desired state */
  nodes: readonly ResolvedNode[];
  now: Date;
  log: Logger;
}

export interface CertificateStrategy {
  readonly source: CertificateSource;
  prepare(inputs: CertificateInputs): CertificateRound;
}

/** What the strategies read: the gateway's own children, and the API server for the user's Secrets. */
export interface CertificateDeps {
  client: Pick<KubeClient, 'get'>;
  /** the gateway's Secrets (selfManaged reads what it issued before) */
  ownedSecrets(gw: XmppWebGateway): V1Secret[];
  /** the Certificates cache; undefined while cert-manager is not watched */
  certificates(): Informer<KubernetesObject> | undefined;
}

/** spec.tls: issuerRef (cert-manager), secretRefs (the user's Secrets), else selfManaged. */
export function certificateSourceOf(gw: XmppWebGateway): CertificateSource {
  if (gw.spec.tls?.issuerRef) return 'certManager';
  if (gw.spec.tls?.secretRefs) return 'secretRefs';
  return 'selfManaged';
}

/** A round that issues nothing and needs nothing applied. */
export function observingRound(observe: () => Promise<CertificateObservations>, recheckAfterMs: CertificateRound['recheckAfterMs'] = () => undefined): CertificateRound {
  return { secrets: [], keepSecretNames: [], problems: [], issued: [], observe, recheckAfterMs };
}
