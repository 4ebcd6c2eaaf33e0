// Reconcile one XmppWebGateway by key: read it from the cache, build the desired children (desired/),
// issue selfManaged certificates that are due, apply what differs, delete children no longer desired, and
// write the status. Level-based: it never looks at the event that queued the key.
import type { KubernetesObject, V1Deployment, V1Node, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { CodedError, reasonOf, withCode, type ErrorCode, type Problem } from '../../shared/errors/codes.ts';
import { formatFieldError, validateGatewayResource } from '../api/validate.ts';
import { API_VERSION, KIND, type XmppWebGateway, type XmppWebGatewayStatus } from '../api/types.ts';
import { withDefaults } from '../api/defaults.ts';
import { DesiredStateError, LABEL_NODE, buildDesired, computeStatus, observeDeployment, type DesiredContext, type NodeObservation, type ResolvedNode } from '../desired/index.ts';
import { discoveryTlsSecretName, ingressFor } from '../desired/ingress.ts';
import { Certificates, type CertificateRound } from './certificates/index.ts';
import { refreshMountedConfig } from './volume-refresh.ts';
import { hashOf } from '../desired/hash.ts';
import { applyReason, isOwnedBy, overlay, sameStatus, withAppliedHash } from './apply.ts';
import type { EventRecorder } from './events.ts';
import type { Informer } from './informer.ts';
import { NotLeaderError, isInvalid, type KubeClient } from './kube-client.ts';
import { CERTIFICATES, DEPLOYMENTS, GATEWAYS, SECRETS, keyOf, splitKey, typeId, typeOfObject, type ResourceType } from './resources.ts';

/** Index of owned objects by the key of their gateway. */
export const GATEWAY_INDEX = 'gateway';

/** The key (`namespace/name`) of the gateway that owns `obj`: its controller reference, else its gateway label. */
export function ownerKeyOf(obj: KubernetesObject): string | undefined {
  const ns = obj.metadata?.namespace;
  if (!ns) return undefined;
  const ref = obj.metadata?.ownerReferences?.find((r) => r.controller === true && r.kind === KIND && r.apiVersion === API_VERSION);
  const name = ref?.name ?? obj.metadata?.labels?.['xwg.io/gateway'];
  return name ? `${ns}/${name}` : undefined;
}

/** An error that retrying cannot fix (an invalid spec): reported in the status, not retried. */
export class TerminalError extends CodedError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    this.name = 'TerminalError';
  }
}

/** The failures of one reconcile: reported together in the status, then thrown to retry with backoff. */
class ReconcileError extends CodedError {
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[]) {
    super('XWG_OP_RECONCILE_FAILED', problems.map((p) => `${p.code}: ${p.message}`).join('; '));
    this.name = 'ReconcileError';
    this.problems = problems;
  }
}

export interface ReconcileResult {
  /** reconcile again after this long (certificate renewal, waiting for a cache) */
  requeueAfterMs?: number;
}

export interface Caches {
  gateways: Informer<KubernetesObject>;
  /** the cache of an owned kind; undefined when it is not watched (Certificates without cert-manager) */
  owned(type: ResourceType): Informer<KubernetesObject> | undefined;
  /** every owned kind being watched */
  ownedTypes(): ResourceType[];
  /** Kubernetes Nodes, watched from the first gateway that needs them */
  nodes(): Informer<V1Node>;
}

export interface ReconcilerDeps {
  /** writes gated on leadership */
  client: KubeClient;
  caches: Caches;
  events: EventRecorder;
  defaultImage: string;
  certManagerAvailable(): boolean;
  now?: () => Date;
}

const CACHE_WAIT_MS = 250;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** What one reconcile did, reported as one Event per kind of action (kubectl describe stays readable). */
class Actions {
  readonly created: string[] = [];
  readonly updated: string[] = [];
  readonly deleted: string[] = [];
  readonly issued: string[] = [];

  report(events: EventRecorder, gw: KubernetesObject): void {
    const list = (items: string[]) => items.join(', ');
    if (this.issued.length > 0) events.normal(gw, 'CertificateIssued', 'IssueCertificate', `Issued ${list(this.issued)}`);
    if (this.created.length > 0) events.normal(gw, 'Created', 'Create', `Created ${list(this.created)}`);
    if (this.updated.length > 0) events.normal(gw, 'Updated', 'Update', `Updated ${list(this.updated)}`);
    if (this.deleted.length > 0) events.normal(gw, 'Deleted', 'Delete', `Deleted ${list(this.deleted)}`);
  }
}

export class Reconciler {
  readonly #d: ReconcilerDeps;
  readonly #certificates: Certificates;

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#certificates = new Certificates({
      client: deps.client,
      ownedSecrets: (gw) => this.#children(gw, SECRETS) as V1Secret[],
      certificates: () => deps.caches.owned(CERTIFICATES),
    });
  }

  async reconcile(key: string, log: Logger): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const gw = this.#d.caches.gateways.get(namespace, name) as XmppWebGateway | undefined;
    if (!gw) {
      log.debug('gateway gone: its children are garbage-collected through their owner references');
      return {};
    }
    if ((gw.metadata as { deletionTimestamp?: string }).deletionTimestamp) return {};
    const now = this.#d.now?.() ?? new Date();
    const certManager = this.#d.certManagerAvailable();

    // A resource the API server let through (an older CRD, or none of its rules) but that is invalid.
    const validation = validateGatewayResource(gw);
    if (!validation.ok) {
      return this.#terminal(gw, { code: 'XWG_OP_INVALID_SPEC', message: `invalid spec: ${validation.errors.map(formatFieldError).join('; ')}` }, certManager, now, log);
    }

    const ctx = this.#context(gw, certManager);
    if ('waitFor' in ctx) {
      log.debug({ cache: ctx.waitFor }, 'waiting for a cache to sync');
      return { requeueAfterMs: CACHE_WAIT_MS };
    }

    let desired;
    try {
      desired = buildDesired(gw, ctx);
    } catch (e) {
      if (e instanceof DesiredStateError) return this.#terminal(gw, { code: 'XWG_OP_CONFIG_REFUSED', message: `${e.summary}: ${e.issues.join('; ')}` }, certManager, now, log);
      throw e;
    }

    const errors: Problem[] = [];
    const actions = new Actions();
    try {
      const certificates = this.#certificates.for(gw).prepare({ gw, ctx, nodes: desired.nodes, now, log });
      errors.push(...certificates.problems);
      actions.issued.push(...certificates.issued);

      // The ConfigMap and the Secrets pods mount first, then the rest: each group at once (the objects of a
      // group do not depend on one another, and one round trip per group instead of one per object is most
      // of a reconcile's time), reported in the builders' order.
      const [configMap, ...rest] = desired.objects;
      for (const group of [[configMap!, ...certificates.secrets], rest]) {
        const outcomes = await Promise.allSettled(group.map((obj) => this.#apply(gw, obj, log)));
        outcomes.forEach((o, i) => {
          const obj = group[i]!;
          if (o.status === 'fulfilled') {
            if (o.value) actions[o.value.action].push(o.value.what);
            return;
          }
          const e: unknown = o.reason;
          if (e instanceof NotLeaderError) return;
          errors.push({ code: 'XWG_OP_APPLY_FAILED', message: `${obj.kind} ${obj.metadata?.name}: ${message(e)}` });
          log.error(withCode('XWG_OP_APPLY_FAILED', { kind: obj.kind, object: obj.metadata?.name, err: message(e) }), 'apply failed');
        });
        const notLeader = outcomes.find((o) => o.status === 'rejected' && o.reason instanceof NotLeaderError);
        if (notLeader) throw (notLeader as PromiseRejectedResult).reason;
      }

      if (actions.updated.some((u) => u.startsWith(`${configMap!.kind} ${configMap!.metadata?.name} `))) {
        await refreshMountedConfig(this.#d.client, gw, hashOf((configMap as { data?: Record<string, string> }).data ?? {}), log);
      }
      await this.#prune(gw, desired.objects, desired.nodes, certificates, log, errors, actions);
      return await this.#finish(gw, desired, certificates, certManager, errors, now, log);
    } finally {
      actions.report(this.#d.events, gw as KubernetesObject);
    }
  }

  /** Observes the certificates, writes the status, and says when to come back. */
  async #finish(
    gw: XmppWebGateway,
    desired: { nodes: ResolvedNode[]; problems: string[] },
    round: CertificateRound,
    certManager: boolean,
    errors: Problem[],
    now: Date,
    log: Logger,
  ): Promise<ReconcileResult> {
    const certificates = await round.observe();
    const status = computeStatus(
      gw,
      {
        nodes: desired.nodes,
        problems: desired.problems,
        deployments: this.#deployments(gw),
        certificates,
        certManagerAvailable: certManager,
        errors,
      },
      now,
    );
    await this.#writeStatus(gw, status, log);

    if (errors.length > 0) {
      const failure = new ReconcileError(errors);
      this.#d.events.warning(gw as KubernetesObject, reasonOf('XWG_OP_RECONCILE_FAILED'), 'Reconcile', failure.message);
      throw failure;
    }
    const recheck = round.recheckAfterMs(certificates, now);
    return recheck === undefined ? {} : { requeueAfterMs: recheck };
  }

  // -- inputs

  #context(gw: XmppWebGateway, certManager: boolean): DesiredContext | { waitFor: string } {
    const caches = this.#d.caches;
    for (const t of caches.ownedTypes()) if (!caches.owned(t)!.hasSynced()) return { waitFor: typeId(t) };
    if (gw.spec.tls?.issuerRef && certManager && !caches.owned(CERTIFICATES)?.hasSynced()) return { waitFor: typeId(CERTIFICATES) };
    const ctx: DesiredContext = {
      defaultImage: this.#d.defaultImage,
      certManagerAvailable: certManager,
      nodeReadiness: Object.fromEntries(Object.entries(this.#deployments(gw)).map(([n, o]) => [n, o.ready])),
    };
    if (gw.spec.perKubernetesNode) {
      const nodes = caches.nodes();
      if (!nodes.hasSynced()) return { waitFor: 'nodes' };
      ctx.kubernetesNodes = nodes.list();
    }
    return ctx;
  }

  #children(gw: XmppWebGateway, type: ResourceType): KubernetesObject[] {
    const informer = this.#d.caches.owned(type);
    if (!informer) return [];
    return informer.byIndex(GATEWAY_INDEX, keyOf(gw as KubernetesObject)).filter((o) => isOwnedBy(o, gw));
  }

  #deployments(gw: XmppWebGateway): Record<string, NodeObservation> {
    const out: Record<string, NodeObservation> = {};
    for (const d of this.#children(gw, DEPLOYMENTS) as V1Deployment[]) {
      const node = d.metadata?.labels?.[LABEL_NODE];
      if (node !== undefined) out[node] = observeDeployment(d);
    }
    return out;
  }

  // -- writes

  /** Applies `obj` when it differs from the cache; says what it did, or undefined when nothing. */
  async #apply(gw: XmppWebGateway, obj: KubernetesObject, log: Logger): Promise<{ action: 'created' | 'updated'; what: string } | undefined> {
    const type = typeOfObject(obj);
    const informer = this.#d.caches.owned(type);
    if (!informer) return undefined;
    const target = withAppliedHash(obj);
    const live = informer.get(obj.metadata?.namespace, obj.metadata?.name ?? '');
    const reason = applyReason(target, live);
    if (reason === undefined) return undefined;
    log.info({ kind: obj.kind, object: obj.metadata?.name, reason }, live ? 'updating' : 'creating');
    let applied: KubernetesObject;
    try {
      applied = await this.#d.client.apply<KubernetesObject>(type, target);
    } catch (e) {
      if (!live || !isInvalid(e) || !isOwnedBy(live, gw)) throw e;
      log.warn(withCode('XWG_OP_APPLY_REPLACED', { kind: obj.kind, object: obj.metadata?.name, err: message(e) }), 'apply refused: replacing the object, then applying again');
      informer.upsert(await this.#d.client.update<KubernetesObject>(type, overlay(live, target)));
      applied = await this.#d.client.apply<KubernetesObject>(type, target);
    }
    informer.upsert(applied);
    return live ? { action: 'updated', what: `${obj.kind} ${obj.metadata?.name} (${reason})` } : { action: 'created', what: `${obj.kind} ${obj.metadata?.name}` };
  }

  /** Deletes children this gateway owns that are no longer desired; never objects of others (owner uid + labels). */
  async #prune(
    gw: XmppWebGateway,
    objects: readonly KubernetesObject[],
    nodes: readonly ResolvedNode[],
    certificates: CertificateRound,
    log: Logger,
    errors: Problem[],
    actions: Actions,
  ): Promise<void> {
    const keep = new Set(objects.map((o) => `${typeId(typeOfObject(o))}/${o.metadata?.name}`));
    // Secrets: those of the plan, and every Secret a node or the Ingress mounts (cert-manager writes them).
    const secretNames = [...certificates.keepSecretNames, ...nodes.map((n) => n.tlsSecretName)];
    const full = withDefaults(gw);
    if (ingressFor(full)) secretNames.push(discoveryTlsSecretName(full));
    for (const s of secretNames) keep.add(`${typeId(SECRETS)}/${s}`);

    for (const type of this.#d.caches.ownedTypes()) {
      const informer = this.#d.caches.owned(type)!;
      if (!informer.hasSynced()) continue;
      for (const obj of this.#children(gw, type)) {
        const name = obj.metadata?.name ?? '';
        if (keep.has(`${typeId(type)}/${name}`) || obj.metadata?.deletionTimestamp) continue;
        try {
          log.info({ kind: type.kind, object: name }, 'deleting: no longer desired');
          await this.#d.client.delete(type, obj.metadata?.namespace, name, { ...(obj.metadata?.uid ? { uid: obj.metadata.uid } : {}) });
          actions.deleted.push(`${type.kind} ${name}`);
        } catch (e) {
          if (e instanceof NotLeaderError) throw e;
          errors.push({ code: 'XWG_OP_DELETE_FAILED', message: `delete ${type.kind} ${name}: ${message(e)}` });
          log.error(withCode('XWG_OP_DELETE_FAILED', { kind: type.kind, object: name, err: message(e) }), 'delete failed');
        }
      }
    }
  }

  async #writeStatus(gw: XmppWebGateway, status: XmppWebGatewayStatus, log: Logger): Promise<void> {
    if (sameStatus(status, gw.status)) return;
    const patch = { apiVersion: API_VERSION, kind: KIND, metadata: { name: gw.metadata.name, namespace: gw.metadata.namespace }, status };
    const updated = await this.#d.client.apply<KubernetesObject>(GATEWAYS, patch, { subresource: 'status' });
    this.#d.caches.gateways.upsert(updated);
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    log.info({ ready: ready?.status, reason: ready?.reason, readyNodes: status.readyNodes, observedGeneration: status.observedGeneration }, 'status updated');
  }

  async #terminal(gw: XmppWebGateway, problem: Problem & { code: 'XWG_OP_INVALID_SPEC' | 'XWG_OP_CONFIG_REFUSED' }, certManager: boolean, now: Date, log: Logger): Promise<ReconcileResult> {
    log.error(withCode(problem.code, { problem: problem.message }), 'cannot reconcile this spec: waiting for it to change');
    // The children stay as they are; so do the nodes the status lists.
    const status: XmppWebGatewayStatus = {
      ...computeStatus(gw, { nodes: [], deployments: {}, certManagerAvailable: certManager, errors: [problem] }, now),
      ...(gw.status?.nodes ? { nodes: gw.status.nodes } : {}),
      ...(gw.status?.readyNodes ? { readyNodes: gw.status.readyNodes } : {}),
    };
    await this.#writeStatus(gw, status, log);
    this.#d.events.warning(gw as KubernetesObject, reasonOf(problem.code), 'Reconcile', problem.message);
    throw new TerminalError(problem.code, problem.message);
  }
}
