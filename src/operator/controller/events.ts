// Kubernetes Events (events.k8s.io/v1) about a gateway, as client-go's recorder writes them, minus the
// aggregation: the same event (object, type, reason, note) is written once per dedupWindowMs, and each
// object has a token bucket (burst 25, one more every 5 minutes, like client-go's spam filter).
// Recording never fails the caller: events are best effort.
import { randomBytes } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { NotLeaderError, type KubeClient } from './kube-client.ts';
import { EVENTS } from './resources.ts';
import { withCode } from '../../shared/errors/codes.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  client: KubeClient;
  /** e.g. xwg.io/xmpp-web-gateway-operator */
  reportingController: string;
  /** this replica (the leader election identity) */
  reportingInstance: string;
  log: Logger;
  dedupWindowMs?: number;
  burst?: number;
  refillMs?: number;
}

const MAX_NOTE = 1024;
const MAX_KEYS = 4096;

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class EventRecorder {
  readonly #o: Required<EventRecorderOptions>;
  readonly #recent = new Map<string, number>();
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #inFlight = new Set<Promise<void>>();
  /** events written, by reason (tests and logs) */
  readonly written = new Map<string, number>();

  constructor(o: EventRecorderOptions) {
    this.#o = { dedupWindowMs: 10 * 60_000, burst: 25, refillMs: 5 * 60_000, ...o };
  }

  normal(regarding: KubernetesObject, reason: string, action: string, note: string): void {
    this.record(regarding, 'Normal', reason, action, note);
  }

  warning(regarding: KubernetesObject, reason: string, action: string, note: string): void {
    this.record(regarding, 'Warning', reason, action, note);
  }

  record(regarding: KubernetesObject, type: EventType, reason: string, action: string, note: string): void {
    const meta = regarding.metadata ?? {};
    const uid = meta.uid ?? `${meta.namespace}/${meta.name}`;
    const now = Date.now();
    const key = `${uid}\u0000${type}\u0000${reason}\u0000${note}`;
    const last = this.#recent.get(key);
    if (last !== undefined && now - last < this.#o.dedupWindowMs) return;
    if (!this.#take(uid, now)) return;
    setBounded(this.#recent, key, now);

    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${meta.name}.${now.toString(16)}${randomBytes(4).toString('hex')}`, namespace: meta.namespace ?? 'default' },
      eventTime: microTime(new Date(now)),
      reportingController: this.#o.reportingController,
      reportingInstance: this.#o.reportingInstance.slice(0, 128),
      action: action.slice(0, 128),
      reason: reason.slice(0, 128),
      type,
      note: note.length > MAX_NOTE ? `${note.slice(0, MAX_NOTE - 1)}…` : note,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resourceVersion: meta.resourceVersion,
      },
    };
    const p = this.#o.client
      .create(EVENTS, body.metadata.namespace, body)
      .then(() => {
        this.written.set(reason, (this.written.get(reason) ?? 0) + 1);
      })
      .catch((e: unknown) => {
        if (!(e instanceof NotLeaderError)) this.#o.log.warn(withCode('XWG_OP_EVENT_WRITE_FAILED', { err: e instanceof Error ? e.message : String(e), reason }), 'could not record event');
      })
      .finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  /** Waits for the events being written. */
  async flush(): Promise<void> {
    await Promise.all([...this.#inFlight]);
  }

  #take(uid: string, now: number): boolean {
    const b = this.#buckets.get(uid) ?? { tokens: this.#o.burst, at: now };
    const refill = Math.floor((now - b.at) / this.#o.refillMs);
    if (refill > 0) {
      b.tokens = Math.min(this.#o.burst, b.tokens + refill);
      b.at += refill * this.#o.refillMs;
    }
    const allowed = b.tokens > 0;
    if (allowed) b.tokens--;
    setBounded(this.#buckets, uid, b);
    return allowed;
  }
}

/** Sets `key`, forgetting the oldest entry once the map holds more than MAX_KEYS (insertion order). */
function setBounded<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.set(key, value);
  if (map.size > MAX_KEYS) map.delete(map.keys().next().value!);
}
