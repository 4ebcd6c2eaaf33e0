// The controller's workers around the WorkQueue, with a fake reconciler (ControllerOptions.reconciler) and
// fake list/watch sources: bounded concurrency, one run per key at a time, retries with backoff, terminal
// errors, requeueAfter, resync, and stopping.
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Controller } from '../../../src/operator/controller/controller.ts';
import type { EventRecorder } from '../../../src/operator/controller/events.ts';
import { NotLeaderError } from '../../../src/operator/controller/kube-client.ts';
import { OperatorMetrics } from '../../../src/operator/controller/metrics.ts';
import { TerminalError, type ReconcileResult } from '../../../src/operator/controller/reconcile.ts';
import { CONFIGMAPS, GATEWAYS } from '../../../src/operator/controller/resources.ts';
import { FakeKube, silentLog } from './fake-kube.ts';

const gw = (name: string, rv = '1'): KubernetesObject => ({
  apiVersion: 'xwg.io/v1alpha1',
  kind: 'XmppWebGateway',
  metadata: { name, namespace: 'xmpp', uid: `uid-${name}`, resourceVersion: rv },
});

interface Deferred {
  resolve(r?: ReconcileResult): void;
  reject(e: unknown): void;
}

/** A reconciler the test answers by hand; it logs starts and the concurrency seen. */
class FakeReconciler {
  readonly runs: { key: string; at: number }[] = [];
  readonly pending = new Map<string, Deferred[]>();
  readonly running = new Map<string, number>();
  maxConcurrent = 0;
  maxPerKey = 0;
  /** when set, answers at once instead of waiting for the test */
  auto: ((key: string, n: number) => ReconcileResult | Error) | undefined;

  reconcile = (key: string): Promise<ReconcileResult> => {
    this.runs.push({ key, at: Date.now() });
    const now = (this.running.get(key) ?? 0) + 1;
    this.running.set(key, now);
    this.maxPerKey = Math.max(this.maxPerKey, now);
    this.maxConcurrent = Math.max(this.maxConcurrent, [...this.running.values()].reduce((a, b) => a + b, 0));
    const finish = () => {
      const n = this.running.get(key)! - 1;
      if (n === 0) this.running.delete(key);
      else this.running.set(key, n);
    };
    if (this.auto) {
      const r = this.auto(key, this.count(key));
      finish();
      return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
    }
    return new Promise<ReconcileResult>((resolve, reject) => {
      const list = this.pending.get(key) ?? [];
      list.push({
        resolve: (r = {}) => {
          finish();
          resolve(r);
        },
        reject: (e) => {
          finish();
          reject(e);
        },
      });
      this.pending.set(key, list);
    });
  };

  count(key: string): number {
    return this.runs.filter((r) => r.key === key).length;
  }

  /** Answers the oldest waiting run of `key`. */
  answer(key: string, r?: ReconcileResult | Error): void {
    const d = this.pending.get(key)?.shift();
    if (!d) throw new Error(`${key} is not being reconciled`);
    if (r instanceof Error) d.reject(r);
    else d.resolve(r);
  }

  get inFlight(): string[] {
    return [...this.running.keys()];
  }
}

let kube: FakeKube;
let rec: FakeReconciler;
let metrics: OperatorMetrics;
const controllers: Controller[] = [];

function controller(o: { workers?: number; resyncPeriodMs?: number; retryBaseMs?: number; retryMaxMs?: number } = {}): Controller {
  const client = kube.asClient();
  const c = new Controller({
    client,
    writer: client,
    events: {} as EventRecorder,
    metrics,
    log: silentLog,
    defaultImage: 'img',
    certManagerCheckMs: 3_600_000,
    reconciler: rec,
    ...o,
  });
  controllers.push(c);
  return c;
}

/** Caches synced, then workers started (leadership won after the sync): every gateway is queued once. */
async function started(c: Controller): Promise<void> {
  c.start();
  await vi.advanceTimersByTimeAsync(0);
  expect(c.hasSynced()).toBe(true);
  c.startWorkers();
  await vi.advanceTimersByTimeAsync(0);
}

const metric = async (name: string) => {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.reduce((a, v) => a + v.value, 0) ?? 0;
};

beforeEach(() => {
  vi.useFakeTimers();
  kube = new FakeKube();
  rec = new FakeReconciler();
  metrics = new OperatorMetrics();
});

afterEach(async () => {
  for (const r of rec.pending.values()) for (const d of r.splice(0)) d.resolve();
  await Promise.all(controllers.splice(0).map((c) => c.stop()));
  vi.useRealTimers();
});

describe('controller workers', () => {
  it('queues every cached gateway once synced and runs at most `workers` reconciles at once', async () => {
    kube.set(GATEWAYS, ['a', 'b', 'c', 'd', 'e'].map((n) => gw(n)));
    const c = controller({ workers: 2 });
    await started(c);
    expect(rec.inFlight).toEqual(['xmpp/a', 'xmpp/b']);
    expect(c.inFlight).toBe(2);
    rec.answer('xmpp/a');
    await vi.advanceTimersByTimeAsync(0);
    expect(rec.inFlight).toEqual(['xmpp/b', 'xmpp/c']);
    for (const k of ['b', 'c', 'd', 'e']) {
      rec.answer(`xmpp/${k}`);
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(rec.runs.map((r) => r.key)).toEqual(['xmpp/a', 'xmpp/b', 'xmpp/c', 'xmpp/d', 'xmpp/e']);
    expect(rec.maxConcurrent).toBe(2);
    expect(c.inFlight).toBe(0);
  });

  it('workers started before the caches sync reconcile every gateway, never one twice at once', async () => {
    kube.set(GATEWAYS, [gw('a'), gw('b')]);
    rec.auto = () => ({});
    const c = controller({ workers: 2 });
    c.start();
    c.startWorkers();
    await vi.advanceTimersByTimeAsync(100);
    expect(rec.count('xmpp/a')).toBeGreaterThanOrEqual(1);
    expect(rec.count('xmpp/b')).toBeGreaterThanOrEqual(1);
    expect(rec.maxPerKey).toBe(1);
  });

  it('never reconciles one key twice at once; events during a run cause exactly one more run', async () => {
    kube.set(GATEWAYS, [gw('a')]);
    const c = controller({ workers: 4 });
    await started(c);
    expect(rec.inFlight).toEqual(['xmpp/a']);
    // Three watch events for the same gateway while it is being reconciled.
    c.enqueue('xmpp/a');
    c.enqueue('xmpp/a');
    c.enqueue('xmpp/a');
    await vi.advanceTimersByTimeAsync(10);
    expect(rec.count('xmpp/a')).toBe(1);
    rec.answer('xmpp/a');
    await vi.advanceTimersByTimeAsync(0);
    expect(rec.count('xmpp/a')).toBe(2);
    rec.answer('xmpp/a');
    await vi.advanceTimersByTimeAsync(1000);
    expect(rec.count('xmpp/a')).toBe(2);
    expect(rec.maxPerKey).toBe(1);
  });

  it('queues a gateway on its watch events, and the owner of an owned object on its events', async () => {
    rec.auto = () => ({});
    const c = controller();
    await started(c);
    const gwWatch = kube.watchOf(GATEWAYS);
    gwWatch.event('ADDED', gw('new', '101'));
    await vi.advanceTimersByTimeAsync(0);
    expect(rec.runs.map((r) => r.key)).toEqual(['xmpp/new']);
    const cmWatch = kube.watchOf(CONFIGMAPS);
    cmWatch.event('ADDED', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'new-config',
        namespace: 'xmpp',
        resourceVersion: '102',
        labels: { 'app.kubernetes.io/managed-by': 'xmpp-web-gateway-operator' },
        ownerReferences: [{ apiVersion: 'xwg.io/v1alpha1', kind: 'XmppWebGateway', name: 'new', uid: 'uid-new', controller: true }],
      },
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(rec.runs.map((r) => r.key)).toEqual(['xmpp/new', 'xmpp/new']);
    expect(kube.lists.find((l) => l.type === 'configmaps')?.options.labelSelector).toMatch(/^app\.kubernetes\.io\/managed-by=/);
  });

  it('retries a failed reconcile with a per-key exponential backoff, capped, and resets it on success', async () => {
    kube.set(GATEWAYS, [gw('a')]);
    let failing = true;
    rec.auto = () => (failing ? new Error('boom') : {});
    const c = controller({ retryBaseMs: 100, retryMaxMs: 800 });
    const t0 = Date.now();
    await started(c);
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 + 800 + 800 + 10);
    const gaps = rec.runs.map((r) => r.at - t0);
    const deltas = gaps.slice(1).map((t, i) => t - gaps[i]!);
    expect(deltas).toEqual([100, 200, 400, 800, 800]);
    expect(await metric('workqueue_retries_total')).toBe(6);
    expect(await metric('controller_runtime_reconcile_errors_total')).toBe(6);

    // A success forgets the streak: the next failure waits the base delay again.
    failing = false;
    await vi.advanceTimersByTimeAsync(800);
    const n = rec.count('xmpp/a');
    failing = true;
    c.enqueue('xmpp/a');
    await vi.advanceTimersByTimeAsync(0);
    expect(rec.count('xmpp/a')).toBe(n + 1);
    await vi.advanceTimersByTimeAsync(99);
    expect(rec.count('xmpp/a')).toBe(n + 1);
    await vi.advanceTimersByTimeAsync(1);
    expect(rec.count('xmpp/a')).toBe(n + 2);
  });

  it('does not retry a terminal error', async () => {
    kube.set(GATEWAYS, [gw('bad')]);
    rec.auto = () => new TerminalError('XWG_OP_INVALID_SPEC', 'invalid spec');
    const c = controller({ retryBaseMs: 10 });
    await started(c);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(rec.count('xmpp/bad')).toBe(1);
    expect(await metric('controller_runtime_terminal_reconcile_errors_total')).toBe(1);
    expect(await metric('workqueue_retries_total')).toBe(0);
    // A change of the object queues it again as usual.
    c.enqueue('xmpp/bad');
    await vi.advanceTimersByTimeAsync(0);
    expect(rec.count('xmpp/bad')).toBe(2);
  });

  it('retries a reconcile abandoned because the write gate closed, as long as the workers run', async () => {
    // The gate closes when the last renewal is renewDeadline old; a renewal that then succeeds (late) opens it
    // again within the same term: no stopWorkers/startWorkers queues every gateway, so the key must be retried.
    kube.set(GATEWAYS, [gw('a'), gw('b')]);
    rec.auto = (key, n) => (key === 'xmpp/a' && n <= 2 ? new NotLeaderError() : {});
    const c = controller({ retryBaseMs: 10 });
    await started(c);
    await vi.advanceTimersByTimeAsync(10 + 20);
    expect(rec.count('xmpp/a')).toBe(3);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(rec.count('xmpp/a')).toBe(3);
    expect(rec.count('xmpp/b')).toBe(1);

    // Leadership really lost: the queue is shut down and takes no retry.
    rec.auto = () => new NotLeaderError();
    c.enqueue('xmpp/b');
    await vi.advanceTimersByTimeAsync(0);
    expect(rec.count('xmpp/b')).toBe(2);
    await c.stopWorkers();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(rec.count('xmpp/b')).toBe(2);
  });

  it('a terminal error after failures forgets the backoff', async () => {
    kube.set(GATEWAYS, [gw('a')]);
    rec.auto = (_k, n) => (n < 3 ? new Error('transient') : n === 3 ? new TerminalError('XWG_OP_INVALID_SPEC', 'bad') : new Error('transient'));
    const c = controller({ retryBaseMs: 100, retryMaxMs: 100_000 });
    await started(c);
    await vi.advanceTimersByTimeAsync(100 + 200 + 10);
    expect(rec.count('xmpp/a')).toBe(3);
    c.enqueue('xmpp/a');
    await vi.advanceTimersByTimeAsync(0);
    // failed again: first retry delay, not 400
    await vi.advanceTimersByTimeAsync(100);
    expect(rec.count('xmpp/a')).toBe(5);
  });

  it('requeues after requeueAfterMs', async () => {
    kube.set(GATEWAYS, [gw('a')]);
    rec.auto = (_k, n) => (n === 1 ? { requeueAfterMs: 5000 } : {});
    const c = controller();
    await started(c);
    expect(rec.count('xmpp/a')).toBe(1);
    await vi.advanceTimersByTimeAsync(4999);
    expect(rec.count('xmpp/a')).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(rec.count('xmpp/a')).toBe(2);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(rec.count('xmpp/a')).toBe(2);
  });

  it('resync queues every gateway each period', async () => {
    kube.set(GATEWAYS, [gw('a'), gw('b')]);
    rec.auto = () => ({});
    const c = controller({ resyncPeriodMs: 10_000 });
    await started(c);
    expect(rec.runs).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rec.runs).toHaveLength(4);
    // A gateway deleted meanwhile drops out of the resync.
    kube.watchOf(GATEWAYS).event('DELETED', gw('b', '200'));
    await vi.advanceTimersByTimeAsync(0);
    expect(rec.count('xmpp/b')).toBe(3); // the delete queues it once more (the reconciler finds it gone)
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rec.count('xmpp/a')).toBe(3);
    expect(rec.count('xmpp/b')).toBe(3);
  });

  it('stopWorkers waits for the reconciles in flight, starts no queued key, and stops retries and resync', async () => {
    kube.set(GATEWAYS, [gw('a'), gw('b'), gw('c')]);
    const c = controller({ workers: 2, resyncPeriodMs: 1000, retryBaseMs: 10 });
    await started(c);
    expect(rec.inFlight).toEqual(['xmpp/a', 'xmpp/b']);
    let stopped = false;
    const stopping = c.stopWorkers().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    rec.answer('xmpp/a');
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    rec.answer('xmpp/b', new Error('fails: would be retried'));
    await stopping;
    expect(stopped).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rec.runs.map((r) => r.key)).toEqual(['xmpp/a', 'xmpp/b']);
    c.enqueue('xmpp/c');
    await vi.advanceTimersByTimeAsync(0);
    expect(rec.runs).toHaveLength(2);
  });

  it('workers started again (leadership regained) wait for the old ones: no key runs twice at once', async () => {
    kube.set(GATEWAYS, [gw('a')]);
    const c = controller({ workers: 1 });
    await started(c);
    expect(rec.inFlight).toEqual(['xmpp/a']);
    const stopping = c.stopWorkers();
    c.startWorkers();
    await vi.advanceTimersByTimeAsync(100);
    // the new workers are queued with every gateway, but wait for the old reconcile to end
    expect(rec.count('xmpp/a')).toBe(1);
    rec.answer('xmpp/a');
    await stopping;
    await vi.advanceTimersByTimeAsync(0);
    expect(rec.count('xmpp/a')).toBe(2);
    expect(rec.maxPerKey).toBe(1);
  });
});
