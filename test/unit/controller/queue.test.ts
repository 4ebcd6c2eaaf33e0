// WorkQueue on its own: dedupe, one-at-a-time per key, delays and per-key backoff, shutdown.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue, type QueueMetrics } from '../../../src/operator/controller/queue.ts';

/** Whether a get() now would wait (nothing to hand out); leaves no waiter behind. */
const wouldWait = (q: WorkQueue) => q.length === 0;

describe('WorkQueue: dedupe and per-key exclusion', () => {
  it('merges a key queued several times into one item, keeping first-come order', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(wouldWait(q)).toBe(true);
  });

  it('runs a key added while in flight once more, after done(), and only once', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    expect(key).toBe('a');
    expect(q.isProcessing('a')).toBe(true);
    q.add('a');
    q.add('a');
    // Not handed out while in flight, even to another worker.
    expect(q.length).toBe(0);
    expect(wouldWait(q)).toBe(true);
    q.done('a');
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(wouldWait(q)).toBe(true);
  });

  it('never hands one key to two workers at once', async () => {
    const q = new WorkQueue();
    const running = new Set<string>();
    let overlaps = 0;
    let runs = 0;
    const worker = async () => {
      for (;;) {
        const k = await q.get();
        if (k === undefined) return;
        if (running.has(k)) overlaps++;
        running.add(k);
        runs++;
        // Re-adding itself and others while running.
        if (runs < 200) for (const other of ['x', 'y', 'z']) q.add(other);
        await new Promise((r) => setImmediate(r));
        running.delete(k);
        q.done(k);
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    q.add('x');
    while (runs < 200) await new Promise((r) => setImmediate(r));
    // Let the last re-adds drain.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    q.shutDown();
    await Promise.all(workers);
    expect(overlaps).toBe(0);
    expect(runs).toBeGreaterThanOrEqual(200);
  });

  it('hands a key added to an empty queue straight to a waiting worker', async () => {
    const q = new WorkQueue();
    const p = q.get();
    q.add('a');
    expect(await p).toBe('a');
    expect(q.isProcessing('a')).toBe(true);
    // added again while the worker has it: waits for done()
    q.add('a');
    const second = q.get();
    q.done('a');
    expect(await second).toBe('a');
  });
});

describe('WorkQueue: delays and backoff', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('addAfter adds the key when the delay is over; the earliest pending time wins', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 1000);
    q.addAfter('a', 5000); // later: ignored
    expect(q.length).toBe(0);
    await vi.advanceTimersByTimeAsync(999);
    expect(q.length).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');

    q.addAfter('b', 5000);
    q.addAfter('b', 200); // earlier: replaces
    await vi.advanceTimersByTimeAsync(200);
    expect(q.length).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(q.length).toBe(1); // the replaced timer does not add it again
  });

  it('addAfter with no delay adds at once', () => {
    const q = new WorkQueue();
    q.addAfter('a', 0);
    q.addAfter('b', -5);
    expect(q.length).toBe(2);
  });

  it('grows the per-key retry delay exponentially up to the cap, per key', () => {
    const q = new WorkQueue({ baseDelayMs: 5, maxDelayMs: 1000 });
    const delays = Array.from({ length: 10 }, () => q.addRateLimited('a'));
    expect(delays).toEqual([5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    expect(q.numRequeues('a')).toBe(10);
    // Another key has its own count.
    expect(q.addRateLimited('b')).toBe(5);
    expect(q.numRequeues('b')).toBe(1);
  });

  it('caps very long streaks without overflowing (defaults: 5 ms to 1000 s)', () => {
    const q = new WorkQueue();
    let last = 0;
    for (let i = 0; i < 100; i++) last = q.addRateLimited('a');
    expect(last).toBe(1_000_000);
    expect(Number.isFinite(last)).toBe(true);
  });

  it('forget() resets the backoff after a success', () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 10_000 });
    q.addRateLimited('a');
    q.addRateLimited('a');
    expect(q.addRateLimited('a')).toBe(40);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    expect(q.addRateLimited('a')).toBe(10);
  });

  it('requeues a rate-limited key only once its delay is over', async () => {
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 10_000 });
    q.add('a');
    const k = await q.get();
    expect(q.addRateLimited(k!)).toBe(100);
    q.done(k!);
    expect(q.length).toBe(0);
    await vi.advanceTimersByTimeAsync(99);
    expect(q.length).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.length).toBe(1);
    // A second failure waits twice as long.
    await q.get();
    expect(q.addRateLimited('a')).toBe(200);
    q.done('a');
    await vi.advanceTimersByTimeAsync(199);
    expect(q.length).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.length).toBe(1);
  });

  it('a delay that expires while the key is in flight runs it after done()', async () => {
    const q = new WorkQueue({ baseDelayMs: 5 });
    q.add('a');
    await q.get();
    q.addRateLimited('a');
    await vi.advanceTimersByTimeAsync(50);
    expect(q.length).toBe(0);
    q.done('a');
    expect(q.length).toBe(1);
  });

  it('reports depth, adds and retries to its metrics', async () => {
    const depths: number[] = [];
    let added = 0;
    let retried = 0;
    const metrics: QueueMetrics = { depth: (n) => depths.push(n), added: () => added++, retried: () => retried++ };
    const q = new WorkQueue({ metrics });
    q.add('a');
    q.add('b');
    await q.get();
    q.addRateLimited('a');
    expect(depths).toEqual([1, 2, 1]);
    expect(added).toBe(2);
    expect(retried).toBe(1);
  });
});

describe('WorkQueue: shutdown', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('wakes waiting workers with undefined and refuses new keys', async () => {
    const q = new WorkQueue();
    const waiting = [q.get(), q.get()];
    q.shutDown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
    q.add('a');
    q.addAfter('b', 10);
    q.addRateLimited('c');
    expect(q.length).toBe(0);
    expect(await q.get()).toBeUndefined();
    expect(q.shuttingDown).toBe(true);
  });

  it('drops pending delayed adds', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 100);
    q.shutDown();
    await vi.advanceTimersByTimeAsync(1000);
    expect(q.length).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('lets keys in flight finish (done() is still accepted) without re-running them', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    expect(await q.get()).toBe('a');
    q.add('a'); // dirty while in flight
    q.shutDown();
    expect(q.isProcessing('a')).toBe(true);
    q.done('a');
    expect(q.isProcessing('a')).toBe(false);
    // Queued, not started keys are not handed out any more.
    expect(await q.get()).toBeUndefined();
  });
});
