// The XmppWebGateway controller: caches (informers) of the gateways and of every kind they own, the work
// queue fed by their events (an owned object queues its owner), workers that run the reconciler, a
// periodic resync, and the check for cert-manager (whose Certificates are watched only while served).
// Caches run on every replica; workers only while startWorkers() is in effect (the leader).
import { randomUUID } from 'node:crypto';
import type { KubernetesObject, V1Node } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { XmppWebGateway } from '../api/types.ts';
import { MANAGER } from '../desired/labels.ts';
import type { EventRecorder } from './events.ts';
import { Informer, sleep } from './informer.ts';
import { NotLeaderError, type KubeClient } from './kube-client.ts';
import type { OperatorMetrics } from './metrics.ts';
import { WorkQueue } from './queue.ts';
import { GATEWAY_INDEX, Reconciler, TerminalError, ownerKeyOf, type Caches } from './reconcile.ts';
import { CERTIFICATES, GATEWAYS, NODES, OWNED_TYPES, keyOf, splitKey, typeId, type ResourceType } from './resources.ts';
import { codeOf, withCode } from '../../shared/errors/codes.ts';

const CONTROLLER_NAME = 'xmppwebgateway';
const OWNED_SELECTOR = `app.kubernetes.io/managed-by=${MANAGER}`;

export interface ControllerOptions {
  /** reads and watches */
  client: KubeClient;
  /** writes, gated on leadership */
  writer: KubeClient;
  events: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  defaultImage: string;
  /** watch one namespace; default all */
  namespace?: string;
  /** concurrent reconciles (default 8: a reconcile mostly waits for the API server) */
  workers?: number;
  /** every gateway is reconciled this often (default 10 min) */
  resyncPeriodMs?: number;
  /** how often to look for cert-manager (default 60 s) */
  certManagerCheckMs?: number;
  /** retry delays of failed reconciles (default 5 ms to 1000 s) */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** reconnect delays of the watches (default 500 ms to 30 s) */
  watchBackoff?: { initialMs: number; maxMs: number };
  /** tests: reconciles keys instead of the Reconciler (the queue, workers and resync stay the same) */
  reconciler?: Pick<Reconciler, 'reconcile'>;
}

export class Controller {
  readonly #o: ControllerOptions;
  readonly #log: Logger;
  readonly gateways: Informer<KubernetesObject>;
  readonly #owned = new Map<string, Informer<KubernetesObject>>();
  #nodes: Informer<V1Node> | undefined;
  readonly #reconciler: Pick<Reconciler, 'reconcile'>;
  #certManager = false;
  #certManagerChecked = false;
  #queue: WorkQueue | undefined;
  #workers: Promise<void>[] = [];
  /** the last stopWorkers(): new workers wait for the old ones, so no key is ever reconciled twice at once */
  #workersStopped: Promise<void> = Promise.resolve();
  #resyncTimer: NodeJS.Timeout | undefined;
  readonly #abort = new AbortController();
  #certManagerLoop: Promise<void> | undefined;
  #inFlight = 0;

  constructor(o: ControllerOptions) {
    this.#o = o;
    this.#log = o.log.child({ controller: CONTROLLER_NAME });
    this.gateways = this.#informer(GATEWAYS, false);
    this.gateways.addHandler({
      onAdd: (gw) => this.#gatewayEvent(gw),
      onUpdate: (_old, gw) => this.#gatewayEvent(gw),
      onDelete: (gw) => this.enqueue(keyOf(gw)),
    });
    for (const t of OWNED_TYPES) this.#watchOwned(t);

    const caches: Caches = {
      gateways: this.gateways,
      owned: (t) => this.#owned.get(typeId(t)),
      ownedTypes: () => [...this.#owned.values()].map((i) => i.type),
      nodes: () => this.#ensureNodes(),
    };
    this.#reconciler = o.reconciler ?? new Reconciler({
      client: o.writer,
      caches,
      events: o.events,
      defaultImage: o.defaultImage,
      certManagerAvailable: () => this.#certManager,
    });
  }

  get certManagerAvailable(): boolean {
    return this.#certManager;
  }

  /** Starts the caches and the cert-manager check. */
  start(): void {
    this.gateways.start();
    for (const i of this.#owned.values()) i.start();
    this.#certManagerLoop ??= this.#checkCertManagerLoop();
  }

  hasSynced(): boolean {
    return this.#certManagerChecked && this.gateways.hasSynced() && [...this.#owned.values()].every((i) => i.hasSynced());
  }

  async waitForSync(signal?: AbortSignal): Promise<void> {
    while (!this.hasSynced()) {
      if (signal?.aborted) throw new Error('aborted');
      await sleep(50, signal);
    }
  }

  /** Starts the workers (this replica leads); every gateway is queued. */
  startWorkers(): void {
    if (this.#queue) return;
    const queue = new WorkQueue({
      ...(this.#o.retryBaseMs === undefined ? {} : { baseDelayMs: this.#o.retryBaseMs }),
      ...(this.#o.retryMaxMs === undefined ? {} : { maxDelayMs: this.#o.retryMaxMs }),
      metrics: this.#o.metrics.queue(CONTROLLER_NAME),
    });
    this.#queue = queue;
    const n = this.#o.workers ?? 8;
    const previous = this.#workersStopped;
    this.#workers = Array.from({ length: n }, () => previous.then(() => this.#work(queue)));
    void this.waitForSync(this.#abort.signal)
      .then(() => {
        for (const gw of this.gateways.list()) queue.add(keyOf(gw));
      })
      .catch(() => {});
    const resync = this.#o.resyncPeriodMs ?? 10 * 60_000;
    this.#resyncTimer = setInterval(() => {
      for (const gw of this.gateways.list()) queue.add(keyOf(gw));
    }, resync);
    this.#resyncTimer.unref();
    this.#o.metrics.maxConcurrentReconciles.set({ controller: CONTROLLER_NAME }, n);
    this.#log.info({ workers: n }, 'workers started');
  }

  /** Stops the workers; waits for the reconciles in flight (their writes fail once leadership is gone). */
  async stopWorkers(): Promise<void> {
    const queue = this.#queue;
    if (!queue) return;
    this.#queue = undefined;
    clearInterval(this.#resyncTimer);
    queue.shutDown();
    const workers = this.#workers;
    this.#workers = [];
    this.#workersStopped = Promise.all(workers).then(() => this.#log.info('workers stopped'));
    await this.#workersStopped;
  }

  async stop(): Promise<void> {
    await this.stopWorkers();
    this.#abort.abort();
    await this.#certManagerLoop;
    await Promise.all([this.gateways.stop(), ...[...this.#owned.values()].map((i) => i.stop()), this.#nodes?.stop()]);
  }

  enqueue(key: string | undefined): void {
    if (key !== undefined) this.#queue?.add(key);
  }

  /** Lists, watches, relists after 410 Gone and reconnects of each cache. */
  informerStats(): Record<string, Informer<KubernetesObject>['stats']> {
    const all: Informer<KubernetesObject>[] = [this.gateways, ...this.#owned.values(), ...(this.#nodes ? [this.#nodes as unknown as Informer<KubernetesObject>] : [])];
    return Object.fromEntries(all.map((i) => [typeId(i.type), { ...i.stats }]));
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  // -- caches

  #informer<T extends KubernetesObject>(type: ResourceType, owned: boolean): Informer<T> {
    const byGateway = (o: T) => [ownerKeyOf(o)].filter((k): k is string => k !== undefined);
    return new Informer<T>({
      client: this.#o.client,
      type,
      ...(this.#o.namespace === undefined || !type.namespaced ? {} : { namespace: this.#o.namespace }),
      // Only what the operator made: other Secrets, Services, … are none of its business.
      ...(owned ? { labelSelector: OWNED_SELECTOR, indexers: { [GATEWAY_INDEX]: byGateway } } : {}),
      log: this.#log,
      ...(this.#o.watchBackoff ? { backoff: this.#o.watchBackoff } : {}),
    });
  }

  #watchOwned(type: ResourceType): Informer<KubernetesObject> {
    const informer = this.#informer(type, true);
    const owner = (o: KubernetesObject) => this.enqueue(ownerKeyOf(o));
    informer.addHandler({ onAdd: owner, onUpdate: (_old, o) => owner(o), onDelete: owner });
    this.#owned.set(typeId(type), informer);
    return informer;
  }

  #gatewayEvent(gw: KubernetesObject): void {
    if ((gw as unknown as XmppWebGateway).spec?.perKubernetesNode) this.#ensureNodes();
    this.enqueue(keyOf(gw));
  }

  #perKubernetesNodeGateways(): string[] {
    return this.gateways
      .list()
      .filter((g) => (g as unknown as XmppWebGateway).spec?.perKubernetesNode)
      .map(keyOf);
  }

  #ensureNodes(): Informer<V1Node> {
    if (this.#nodes) return this.#nodes;
    const nodes = this.#informer<V1Node>(NODES, false);
    const all = () => this.#perKubernetesNodeGateways().forEach((k) => this.enqueue(k));
    const seen = (n: V1Node) => JSON.stringify([n.metadata?.labels, n.metadata?.annotations]);
    nodes.addHandler({
      onAdd: all,
      onDelete: all,
      // Only labels and annotations matter (selector, public host); not the status heartbeats.
      onUpdate: (old, n) => {
        if (seen(old) !== seen(n)) all();
      },
    });
    this.#nodes = nodes;
    nodes.start();
    this.#log.info('watching Kubernetes Nodes (perKubernetesNode)');
    return nodes;
  }

  async #checkCertManagerLoop(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      await this.#checkCertManager();
      await sleep(this.#o.certManagerCheckMs ?? 60_000, signal);
    }
  }

  async #checkCertManager(): Promise<void> {
    let available: boolean;
    try {
      const resources = await this.#o.client.discover(`${CERTIFICATES.group}/${CERTIFICATES.version}`);
      available = resources?.some((r) => r.name === CERTIFICATES.resource) ?? false;
    } catch (e) {
      this.#log.warn(withCode('XWG_OP_CERT_MANAGER_CHECK_FAILED', { err: e instanceof Error ? e.message : String(e) }), 'could not look for cert-manager');
      if (!this.#certManagerChecked) {
        // Without an answer the first time, assume it absent; the next check corrects it.
        this.#certManagerChecked = true;
      }
      return;
    }
    const changed = available !== this.#certManager;
    this.#certManager = available;
    if (changed) {
      const id = typeId(CERTIFICATES);
      if (available) {
        this.#log.info('cert-manager found: watching Certificates');
        this.#watchOwned(CERTIFICATES).start();
      } else {
        this.#log.info('cert-manager is gone: no longer watching Certificates');
        const informer = this.#owned.get(id);
        this.#owned.delete(id);
        await informer?.stop();
      }
      if (this.#certManagerChecked) {
        for (const gw of this.gateways.list()) if ((gw as unknown as XmppWebGateway).spec?.tls?.issuerRef) this.enqueue(keyOf(gw));
      }
    }
    this.#certManagerChecked = true;
  }

  // -- workers

  async #work(queue: WorkQueue): Promise<void> {
    const m = this.#o.metrics;
    const labels = { controller: CONTROLLER_NAME };
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const { namespace, name } = splitKey(key);
      const log = this.#log.child({ gateway: key, namespace, name, reconcileID: randomUUID() });
      const end = m.reconcileTime.startTimer(labels);
      this.#inFlight++;
      m.activeWorkers.inc(labels);
      try {
        const result = await this.#reconciler.reconcile(key, log);
        queue.forget(key);
        if (result.requeueAfterMs !== undefined) {
          queue.addAfter(key, result.requeueAfterMs);
          m.reconcileTotal.inc({ ...labels, result: 'requeue_after' });
        } else {
          m.reconcileTotal.inc({ ...labels, result: 'success' });
        }
      } catch (e) {
        m.reconcileTotal.inc({ ...labels, result: 'error' });
        m.reconcileErrors.inc(labels);
        if (e instanceof NotLeaderError) {
          // The write gate closed. Either leadership is lost (stopWorkers follows, shutting this queue down, and
          // the next term queues every gateway) or a renewal came in late and the gate opens again within the
          // same term: then nothing else would ever queue this key again, so retry it as after any failure.
          const delay = queue.addRateLimited(key);
          log.info({ retryInMs: delay }, 'not the leader: reconcile abandoned (retried while the workers run)');
        } else if (e instanceof TerminalError) {
          m.terminalReconcileErrors.inc(labels);
          queue.forget(key);
        } else {
          const delay = queue.addRateLimited(key);
          log.error(withCode(codeOf(e) ?? 'XWG_OP_RECONCILE_FAILED', { err: e instanceof Error ? e.message : String(e), retryInMs: delay }), 'reconcile failed');
        }
      } finally {
        end();
        this.#inFlight--;
        m.activeWorkers.dec(labels);
        queue.done(key);
      }
    }
  }
}
