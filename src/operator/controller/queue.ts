// The work queue of client-go (k8s.io/client-go/util/workqueue), for string keys:
//  - a key queued twice is processed once (dirty set);
//  - a key is never processed by two workers at once; added while in flight, it runs again after done();
//  - addRateLimited() waits an exponential, per-key delay (5 ms doubling up to maxDelayMs), forget() resets it;
//  - addAfter() delays a key (the earliest pending time wins).

export interface QueueMetrics {
  depth(n: number): void;
  added(): void;
  retried(): void;
}

export interface QueueOptions {
  /** first retry delay (default 5 ms) */
  baseDelayMs?: number;
  /** longest retry delay (default 1000 s) */
  maxDelayMs?: number;
  metrics?: QueueMetrics;
}

/** Longest delay a Node timer takes (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WorkQueue {
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #base: number;
  readonly #max: number;
  readonly #metrics: QueueMetrics | undefined;
  #shutDown = false;

  constructor(o: QueueOptions = {}) {
    this.#base = o.baseDelayMs ?? 5;
    this.#max = o.maxDelayMs ?? 1_000_000;
    this.#metrics = o.metrics;
  }

  add(key: string): void {
    if (this.#shutDown) return;
    this.#metrics?.added();
    if (this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // done() puts it back
    this.#enqueue(key);
  }

  #enqueue(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
    } else {
      this.#queue.push(key);
    }
    this.#reportDepth();
  }

  /** Adds `key` after `ms`; an earlier pending addAfter of the same key stands. */
  addAfter(key: string, ms: number): void {
    if (this.#shutDown) return;
    if (ms <= 0) return this.add(key);
    ms = Math.min(ms, MAX_TIMER_MS);
    const at = Date.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.#delayed.set(key, { at, timer });
  }

  /** Adds `key` after its backoff delay, which doubles with each call until forget(key). */
  addRateLimited(key: string): number {
    const n = this.#failures.get(key) ?? 0;
    this.#failures.set(key, n + 1);
    const delay = Math.min(this.#max, this.#base * 2 ** Math.min(n, 40));
    this.#metrics?.retried();
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The next key to process (mark it done() afterwards); undefined once shut down. */
  get(): Promise<string | undefined> {
    if (this.#shutDown) return Promise.resolve(undefined);
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      this.#reportDepth();
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key) && !this.#shutDown) this.#enqueue(key);
  }

  get length(): number {
    return this.#queue.length;
  }

  isProcessing(key: string): boolean {
    return this.#processing.has(key);
  }

  shutDown(): void {
    this.#shutDown = true;
    for (const w of this.#waiters.splice(0)) w(undefined);
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
  }

  get shuttingDown(): boolean {
    return this.#shutDown;
  }

  #reportDepth(): void {
    this.#metrics?.depth(this.#queue.length);
  }
}
