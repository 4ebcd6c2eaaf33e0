// LeaderElector against an in-memory Lease API (optimistic concurrency on resourceVersion) and fake timers
// (which also drive Date.now()).
import type { V1Lease } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, type KubeClient } from '../../../src/operator/controller/kube-client.ts';
import { LeaderElector, type LeaderElectionConfig } from '../../../src/operator/controller/leader.ts';
import { silentLog } from './fake-kube.ts';

/** One Lease in memory; `down` makes every request fail, `delayMs` makes requests slow. */
class LeaseApi {
  lease: V1Lease | undefined;
  rv = 1;
  down = false;
  delayMs = 0;
  readonly requests: { verb: string; holder?: string | undefined; at: number }[] = [];

  async #io<T>(verb: string, f: () => T, holder?: string): Promise<T> {
    this.requests.push({ verb, holder, at: Date.now() });
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.down) throw new ApiError(0, 'TransportError', 'connection refused');
    return f();
  }

  /** Another replica (or a person) writes the Lease directly. */
  put(spec: V1Lease['spec']): void {
    this.lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'op', namespace: 'sys', resourceVersion: String(++this.rv) }, spec };
  }

  get holder(): string | undefined {
    return this.lease?.spec?.holderIdentity;
  }

  client(): KubeClient {
    const api = this;
    const c = {
      withRequestTimeout: () => c,
      get: () => api.#io('get', () => structuredClone(api.lease)),
      create: (_t: unknown, _ns: string, obj: V1Lease) =>
        api.#io(
          'create',
          () => {
            if (api.lease) throw new ApiError(409, 'AlreadyExists', 'exists');
            api.lease = { ...structuredClone(obj), metadata: { ...obj.metadata, resourceVersion: String(++api.rv) } };
            return structuredClone(api.lease);
          },
          obj.spec?.holderIdentity,
        ),
      update: (_t: unknown, obj: V1Lease) =>
        api.#io(
          'update',
          () => {
            if (!api.lease) throw new ApiError(404, 'NotFound', 'gone');
            if (obj.metadata?.resourceVersion !== api.lease.metadata?.resourceVersion) throw new ApiError(409, 'Conflict', 'modified');
            api.lease = { ...structuredClone(obj), metadata: { ...obj.metadata, resourceVersion: String(++api.rv) } };
            return structuredClone(api.lease);
          },
          obj.spec?.holderIdentity,
        ),
    };
    return c as unknown as KubeClient;
  }
}

const config = (identity: string, o: Partial<LeaderElectionConfig> = {}): LeaderElectionConfig => ({
  namespace: 'sys',
  name: 'op',
  identity,
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  ...o,
});

interface Candidate {
  elector: LeaderElector;
  log: string[];
  abort: AbortController;
  done: Promise<void>;
}

let api: LeaseApi;
const running: Candidate[] = [];

function candidate(identity: string, o: Partial<LeaderElectionConfig> = {}, leaseApi = api): Candidate {
  const log: string[] = [];
  const elector = new LeaderElector(
    leaseApi.client(),
    config(identity, o),
    {
      onStartedLeading: () => log.push('started'),
      onStoppedLeading: () => log.push('stopped'),
      onNewLeader: (id) => log.push(`leader=${id ?? ''}`),
    },
    silentLog,
  );
  const abort = new AbortController();
  const c = { elector, log, abort, done: elector.run(abort.signal) };
  running.push(c);
  return c;
}

const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms);

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2025-01-01T00:00:00Z') });
  vi.spyOn(Math, 'random').mockReturnValue(0); // no jitter on the acquire retries
  api = new LeaseApi();
});

afterEach(async () => {
  for (const c of running.splice(0)) {
    c.abort.abort();
    await tick(60_000);
    await c.done;
  }
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('LeaderElector: acquire', () => {
  it('creates the Lease when there is none and leads', async () => {
    const a = candidate('a');
    await tick();
    expect(a.log).toEqual(['leader=a', 'started']);
    expect(a.elector.isLeader()).toBe(true);
    expect(api.lease?.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });
    // metav1.MicroTime
    expect(String(api.lease?.spec?.renewTime)).toBe('2025-01-01T00:00:00.000000Z');
    expect(String(api.lease?.spec?.acquireTime)).toBe('2025-01-01T00:00:00.000000Z');
  });

  it('takes a released Lease (no holder) at once, counting a transition', async () => {
    api.put({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 4 });
    const a = candidate('a');
    await tick();
    expect(a.elector.isLeader()).toBe(true);
    expect(api.lease?.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 5 });
  });

  it('waits while another holds the Lease, and takes it leaseDuration after it last saw it change', async () => {
    api.put({ holderIdentity: 'b', leaseDurationSeconds: 15, renewTime: 'r1' as unknown as Date, leaseTransitions: 0 });
    const a = candidate('a');
    await tick();
    expect(a.log).toEqual(['leader=b']);
    expect(a.elector.isLeader()).toBe(false);
    // b renews after 10 s: the 15 s count starts again from when a sees it.
    await tick(10_000);
    api.put({ holderIdentity: 'b', leaseDurationSeconds: 15, renewTime: 'r2' as unknown as Date, leaseTransitions: 0 });
    await tick(14_000); // 24 s in: the old record would have expired at 15 s
    expect(a.elector.isLeader()).toBe(false);
    expect(api.holder).toBe('b');
    // b is gone: a takes over once the record it saw last (at 10–12 s) is 15 s old.
    await tick(4_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(api.lease?.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 1 });
    expect(a.log).toEqual(['leader=b', 'leader=a', 'started']);
  });

  it('measures expiry on its own clock: a renewTime far in the past does not make a live Lease expired', async () => {
    api.put({ holderIdentity: 'b', leaseDurationSeconds: 15, renewTime: '2000-01-01T00:00:00.000000Z' as unknown as Date });
    const a = candidate('a');
    await tick(14_000);
    expect(a.elector.isLeader()).toBe(false);
    await tick(4_000);
    expect(a.elector.isLeader()).toBe(true);
  });

  it('two candidates: exactly one leads', async () => {
    const a = candidate('a');
    const b = candidate('b');
    await tick(30_000);
    const leaders = [a, b].filter((c) => c.elector.isLeader());
    expect(leaders).toHaveLength(1);
    expect(api.holder).toBe(leaders[0]!.elector.identity);
  });
});

describe('LeaderElector: renew', () => {
  it('renews every retryPeriod, keeping acquireTime and the transition count', async () => {
    const a = candidate('a');
    await tick();
    const acquired = String(api.lease?.spec?.acquireTime);
    api.requests.length = 0;
    await tick(2_000);
    expect(api.requests.map((r) => r.verb)).toEqual(['get', 'update']);
    expect(String(api.lease?.spec?.renewTime)).toBe('2025-01-01T00:00:02.000000Z');
    await tick(2_000 * 5);
    expect(String(api.lease?.spec?.renewTime)).toBe('2025-01-01T00:00:12.000000Z');
    expect(String(api.lease?.spec?.acquireTime)).toBe(acquired);
    expect(api.lease?.spec?.leaseTransitions).toBe(0);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.log).toEqual(['leader=a', 'started']);
  });

  it('survives renewals failing for less than renewDeadline', async () => {
    const a = candidate('a');
    await tick();
    api.down = true;
    await tick(7_000);
    expect(a.elector.isLeader()).toBe(true);
    api.down = false;
    await tick(2_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.log).toEqual(['leader=a', 'started']);
  });

  it('stops leading once it could not renew for renewDeadline, then campaigns again', async () => {
    const a = candidate('a');
    await tick();
    api.down = true;
    await tick(9_999);
    expect(a.elector.isLeader()).toBe(true);
    await tick(1);
    // never acts as leader past the deadline
    expect(a.elector.isLeader()).toBe(false);
    await tick(1_000);
    expect(a.log).toEqual(['leader=a', 'started', 'stopped']);
    // back to campaigning: once the API answers, it holds the Lease again
    api.down = false;
    await tick(2_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.log).toEqual(['leader=a', 'started', 'stopped', 'started']);
  });

  it('isLeader() turns false at the renew deadline even while a renewal hangs (writes are gated on it)', async () => {
    const a = candidate('a');
    await tick();
    expect(a.elector.isLeader()).toBe(true);
    // Every request now takes 60 s (beyond any deadline) before failing.
    api.delayMs = 60_000;
    api.down = true;
    const lastRenew = Date.now();
    await tick(9_999);
    expect(a.elector.isLeader()).toBe(true);
    await tick(1);
    expect(Date.now() - lastRenew).toBe(10_000);
    expect(a.elector.isLeader()).toBe(false);
    // The renew loop itself has not noticed yet (its request still hangs).
    expect(a.log).toEqual(['leader=a', 'started']);
  });

  it('a renewal that succeeds late reopens the write gate within the same term (no stop, no new start)', async () => {
    // Why the controller retries a reconcile that failed with NotLeaderError: the gate can close and open
    // again without onStoppedLeading/onStartedLeading, which is what queues every gateway.
    const a = candidate('a');
    await tick();
    api.down = true;
    await tick(7_000);
    expect(a.elector.isLeader()).toBe(true);
    // The API answers again, slowly: the next renewal starts before the deadline and ends after it.
    api.down = false;
    api.delayMs = 2_000;
    await tick(3_500);
    expect(a.elector.isLeader()).toBe(false);
    await tick(2_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.log).toEqual(['leader=a', 'started']);
  });

  it('stops acting as leader as soon as it sees another holder, and stops leading at the deadline', async () => {
    const a = candidate('a');
    await tick();
    // Someone else takes the Lease over (e.g. a forced takeover): a's renewals are refused from now on.
    api.put({ holderIdentity: 'b', leaseDurationSeconds: 15, renewTime: 'x' as unknown as Date, leaseTransitions: 1 });
    await tick(1_999);
    expect(a.elector.isLeader()).toBe(true); // has not looked yet
    await tick(1);
    // its renewal found b holding the Lease: no more writes, although the last renewal is only 2 s old
    expect(a.elector.isLeader()).toBe(false);
    expect(a.log).toEqual(['leader=a', 'started', 'leader=b']);
    await tick(8_000);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.log).toContain('stopped');
    expect(api.holder).toBe('b');
  });
});

describe('LeaderElector: release', () => {
  it('on stop: run() ends, the Lease is released (no holder, 1 s), and a standby takes over at once', async () => {
    const a = candidate('a');
    await tick();
    const b = candidate('b');
    await tick(4_000);
    expect(b.elector.isLeader()).toBe(false);
    a.abort.abort();
    await tick();
    await a.done;
    expect(a.log).toEqual(['leader=a', 'started', 'stopped']);
    await a.elector.release();
    expect(a.elector.isLeader()).toBe(false);
    expect(api.holder ?? '').toBe('');
    expect(api.lease?.spec).toMatchObject({ leaseDurationSeconds: 1, leaseTransitions: 0 });
    // b's next retry (retryPeriod) finds it free
    await tick(2_000);
    expect(b.elector.isLeader()).toBe(true);
    expect(api.lease?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('does not touch a Lease it does not hold', async () => {
    api.put({ holderIdentity: 'b', leaseDurationSeconds: 15 });
    const a = candidate('a');
    await tick();
    a.abort.abort();
    await tick();
    await a.done;
    api.requests.length = 0;
    await a.elector.release();
    expect(api.requests).toEqual([]);
    expect(api.holder).toBe('b');
    expect(a.log).toEqual(['leader=b']);
  });

  it('a release that fails (API down, or a conflict) is only logged', async () => {
    const a = candidate('a');
    await tick();
    a.abort.abort();
    await tick();
    api.down = true;
    await expect(a.elector.release()).resolves.toBeUndefined();
    expect(a.elector.isLeader()).toBe(false);
  });
});

describe('LeaderElector: configuration', () => {
  it('refuses a renew deadline not shorter than the lease, or not longer than 1.2 retry periods', () => {
    const c = api.client();
    const cb = { onStartedLeading() {}, onStoppedLeading() {} };
    expect(() => new LeaderElector(c, config('a', { leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }), cb, silentLog)).toThrow(/leaseDuration/);
    expect(() => new LeaderElector(c, config('a', { renewDeadlineMs: 2_400, retryPeriodMs: 2_000 }), cb, silentLog)).toThrow(/renewDeadline/);
    const e = new LeaderElector(c, { namespace: 'sys', name: 'op', identity: 'a' }, cb, silentLog);
    expect([e.leaseDurationMs, e.renewDeadlineMs, e.retryPeriodMs]).toEqual([15_000, 10_000, 2_000]);
  });
});
