// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does it:
// a candidate takes the Lease when it is free or its holder has not renewed it for leaseDuration (measured
// on this replica's clock from when it last saw the record change, so clock skew does not matter); the
// leader renews it every retryPeriod and gives up leadership when it could not renew for renewDeadline
// (< leaseDuration, so it stops before anyone else may start). On shutdown the leader releases the Lease
// (empty holder), so a standby takes over at once. isLeader() is false as soon as the last successful
// renewal is renewDeadline old, whether or not the renew loop noticed yet: writes are gated on it.
import type { V1Lease, V1LeaseSpec } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isConflict, isNotFound, type KubeClient } from './kube-client.ts';
import { sleep } from './informer.ts';
import { LEASES } from './resources.ts';
import { withCode } from '../../shared/errors/codes.ts';

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
  onNewLeader?(identity: string | undefined): void;
}

/** metav1.MicroTime */
const microTime = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #cb: LeaderCallbacks;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;

  #observed: { spec: V1LeaseSpec; resourceVersion?: string } | undefined;
  #observedAt = 0;
  #leading = false;
  /** start time of the last successful acquire or renew request */
  #renewedAt = 0;
  #lastLeader: string | undefined;

  constructor(client: KubeClient, config: LeaderElectionConfig, cb: LeaderCallbacks, log: Logger) {
    this.namespace = config.namespace;
    this.name = config.name;
    this.identity = config.identity;
    this.leaseDurationMs = config.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = config.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = config.retryPeriodMs ?? 2_000;
    if (this.leaseDurationMs <= this.renewDeadlineMs) throw new Error('leaseDuration must be longer than renewDeadline');
    if (this.renewDeadlineMs <= this.retryPeriodMs * 1.2) throw new Error('renewDeadline must be longer than 1.2 × retryPeriod');
    // Every Lease request must end well within a retry period, or a hung request would hold up the loop.
    this.#client = client.withRequestTimeout(Math.max(500, Math.min(this.retryPeriodMs, this.renewDeadlineMs / 2)));
    this.#cb = cb;
    this.#log = log.child({ lease: `${config.namespace}/${config.name}`, identity: config.identity });
  }

  isLeader(): boolean {
    // As client-go's IsLeader: not once the Lease was seen held by another (a takeover), deadline or not.
    return this.#leading && Date.now() - this.#renewedAt < this.renewDeadlineMs && this.#observed?.spec.holderIdentity === this.identity;
  }

  /** Campaigns, leads, campaigns again after losing the Lease; until the signal aborts. Then releases it. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#acquire(signal);
      if (signal.aborted) break;
      this.#log.info('became leader');
      this.#cb.onStartedLeading();
      await this.#renewLoop(signal);
      const lost = !signal.aborted;
      this.#leading = false;
      if (lost) this.#log.error(withCode('XWG_OP_LEADERSHIP_LOST'), 'leadership lost: could not renew the Lease in time');
      this.#cb.onStoppedLeading();
    }
  }

  /** Gives the Lease up, if held (the caller has stopped every writer first). */
  async release(): Promise<void> {
    if (!this.#observed || this.#observed.spec.holderIdentity !== this.identity) return;
    this.#leading = false;
    const now = Date.now();
    try {
      await this.#client.update(LEASES, this.#lease({
        leaseDurationSeconds: 1,
        acquireTime: microTime(now) as unknown as Date,
        renewTime: microTime(now) as unknown as Date,
        leaseTransitions: this.#observed.spec.leaseTransitions ?? 0,
      }));
      this.#log.info('released the Lease');
    } catch (e) {
      this.#log.warn(withCode('XWG_OP_LEASE_RELEASE_FAILED', { err: e instanceof Error ? e.message : String(e) }), 'could not release the Lease');
    }
  }

  async #acquire(signal: AbortSignal): Promise<void> {
    let waitingLogged = false;
    while (!signal.aborted) {
      if (await this.#tryAcquireOrRenew()) return;
      if (!waitingLogged) {
        this.#log.info({ holder: this.#observed?.spec.holderIdentity }, 'waiting to become leader');
        waitingLogged = true;
      }
      await sleep(this.retryPeriodMs * (1 + Math.random() * 0.2), signal);
    }
  }

  async #renewLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.retryPeriodMs, signal);
      if (signal.aborted) return;
      for (;;) {
        if (await this.#tryAcquireOrRenew()) break;
        if (Date.now() - this.#renewedAt >= this.renewDeadlineMs || signal.aborted) return;
        await sleep(Math.min(this.retryPeriodMs / 2, 500), signal);
      }
    }
  }

  #lease(spec: V1LeaseSpec): V1Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        ...(this.#observed?.resourceVersion === undefined ? {} : { resourceVersion: this.#observed.resourceVersion }),
      },
      spec,
    };
  }

  #observe(lease: V1Lease, at: number): void {
    const spec = lease.spec ?? {};
    const before = this.#observed?.spec;
    const changed =
      !before ||
      before.holderIdentity !== spec.holderIdentity ||
      String(before.renewTime) !== String(spec.renewTime) ||
      before.leaseTransitions !== spec.leaseTransitions;
    this.#observed = { spec, ...(lease.metadata?.resourceVersion === undefined ? {} : { resourceVersion: lease.metadata.resourceVersion }) };
    if (changed) this.#observedAt = at;
    if (spec.holderIdentity !== this.#lastLeader) {
      this.#lastLeader = spec.holderIdentity;
      this.#cb.onNewLeader?.(spec.holderIdentity);
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const start = Date.now();
    const spec = (transitions: number, acquireTime: unknown): V1LeaseSpec => ({
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: acquireTime as Date,
      renewTime: microTime(start) as unknown as Date,
      leaseTransitions: transitions,
    });
    try {
      const current = await this.#client.get<V1Lease>(LEASES, this.namespace, this.name);
      if (!current) {
        this.#observed = undefined;
        const created = await this.#client.create<V1Lease>(LEASES, this.namespace, this.#lease(spec(0, microTime(start))));
        this.#observe(created, start);
        return this.#succeeded(start);
      }
      this.#observe(current, start);
      const rec = current.spec ?? {};
      const holder = rec.holderIdentity ?? '';
      const mine = holder === this.identity;
      const duration = (rec.leaseDurationSeconds ?? 0) * 1000;
      if (holder !== '' && !mine && this.#observedAt + duration > start) return false;
      const next = spec(mine ? (rec.leaseTransitions ?? 0) : (rec.leaseTransitions ?? 0) + 1, mine ? rec.acquireTime : microTime(start));
      const updated = await this.#client.update<V1Lease>(LEASES, this.#lease(next));
      this.#observe(updated, start);
      return this.#succeeded(start);
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) this.#log.warn(withCode('XWG_OP_LEASE_REQUEST_FAILED', { err: e instanceof Error ? e.message : String(e) }), 'Lease request failed');
      return false;
    }
  }

  #succeeded(start: number): true {
    this.#renewedAt = start;
    this.#leading = true;
    return true;
  }
}
