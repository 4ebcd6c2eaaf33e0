// EventRecorder with a fake client that records the Events written, and fake timers for its clock.
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventRecorder } from '../../../src/operator/controller/events.ts';
import { ApiError, NotLeaderError, type KubeClient } from '../../../src/operator/controller/kube-client.ts';
import { silentLog } from './fake-kube.ts';

interface Written {
  namespace: string;
  body: {
    metadata: { name: string; namespace: string };
    reason: string;
    note: string;
    type: string;
    action: string;
    eventTime: string;
    reportingController: string;
    reportingInstance: string;
    regarding: Record<string, unknown>;
  };
}

let written: Written[];
let fail: (() => Error) | undefined;

const client = {
  async create(_t: unknown, namespace: string, body: Written['body']) {
    if (fail) throw fail();
    written.push({ namespace, body });
    return body;
  },
} as unknown as KubeClient;

function recorder(o: { dedupWindowMs?: number; burst?: number; refillMs?: number } = {}) {
  return new EventRecorder({ client, reportingController: 'xwg.io/operator', reportingInstance: 'pod-1', log: silentLog, ...o });
}

const gw = (name: string, uid = `uid-${name}`): KubernetesObject => ({
  apiVersion: 'xwg.io/v1alpha1',
  kind: 'XmppWebGateway',
  metadata: { name, namespace: 'xmpp', uid, resourceVersion: '7' },
});

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2025-03-01T12:00:00Z') });
  written = [];
  fail = undefined;
});

afterEach(() => {
  vi.useRealTimers();
});

describe('EventRecorder', () => {
  it('writes an events.k8s.io/v1 Event about the object', async () => {
    const r = recorder();
    r.warning(gw('chat'), 'InvalidSpec', 'Reconcile', 'spec.nodes: empty');
    await r.flush();
    expect(written).toHaveLength(1);
    const { namespace, body } = written[0]!;
    expect(namespace).toBe('xmpp');
    expect(body).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      type: 'Warning',
      reason: 'InvalidSpec',
      action: 'Reconcile',
      note: 'spec.nodes: empty',
      reportingController: 'xwg.io/operator',
      reportingInstance: 'pod-1',
      eventTime: '2025-03-01T12:00:00.000000Z',
      regarding: { apiVersion: 'xwg.io/v1alpha1', kind: 'XmppWebGateway', name: 'chat', namespace: 'xmpp', uid: 'uid-chat', resourceVersion: '7' },
    });
    expect(body.metadata.name).toMatch(/^chat\.[0-9a-f]+$/);
    expect(r.written.get('InvalidSpec')).toBe(1);
  });

  it('writes the same event (object, type, reason, note) once per dedupe window', async () => {
    const r = recorder({ dedupWindowMs: 60_000 });
    r.normal(gw('chat'), 'Created', 'Create', 'Created ConfigMap chat');
    r.normal(gw('chat'), 'Created', 'Create', 'Created ConfigMap chat');
    await vi.advanceTimersByTimeAsync(59_999);
    r.normal(gw('chat'), 'Created', 'Create', 'Created ConfigMap chat');
    await r.flush();
    expect(written).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    r.normal(gw('chat'), 'Created', 'Create', 'Created ConfigMap chat');
    await r.flush();
    expect(written).toHaveLength(2);
  });

  it('does not merge events that differ in object, type, reason or note', async () => {
    const r = recorder();
    r.normal(gw('chat'), 'Updated', 'Update', 'a');
    r.normal(gw('chat'), 'Updated', 'Update', 'b'); // note
    r.warning(gw('chat'), 'Updated', 'Update', 'a'); // type
    r.normal(gw('chat'), 'Created', 'Update', 'a'); // reason
    r.normal(gw('web'), 'Updated', 'Update', 'a'); // object
    r.normal(gw('chat', 'uid-new-incarnation'), 'Updated', 'Update', 'a'); // same name, new object
    await r.flush();
    expect(written).toHaveLength(6);
  });

  it('rate-limits per object: a burst, then one more per refill period, never above the burst', async () => {
    const r = recorder({ burst: 3, refillMs: 1000 });
    for (let i = 0; i < 10; i++) r.normal(gw('chat'), 'R', 'A', `note ${i}`);
    await r.flush();
    expect(written.map((w) => w.body.note)).toEqual(['note 0', 'note 1', 'note 2']);
    // Another object has its own bucket.
    r.normal(gw('web'), 'R', 'A', 'web');
    await r.flush();
    expect(written).toHaveLength(4);

    await vi.advanceTimersByTimeAsync(999);
    r.normal(gw('chat'), 'R', 'A', 'too early');
    await vi.advanceTimersByTimeAsync(1);
    r.normal(gw('chat'), 'R', 'A', 'one token back');
    r.normal(gw('chat'), 'R', 'A', 'but only one');
    await r.flush();
    expect(written.slice(4).map((w) => w.body.note)).toEqual(['one token back']);

    // A long quiet spell refills up to the burst, not beyond.
    await vi.advanceTimersByTimeAsync(60_000);
    for (let i = 0; i < 5; i++) r.normal(gw('chat'), 'R', 'A', `later ${i}`);
    await r.flush();
    expect(written.slice(5).map((w) => w.body.note)).toEqual(['later 0', 'later 1', 'later 2']);
  });

  it('a deduplicated event costs no token; a rate-limited one is not remembered as sent', async () => {
    const r = recorder({ burst: 2, refillMs: 1000, dedupWindowMs: 600_000 });
    r.normal(gw('chat'), 'R', 'A', 'same');
    for (let i = 0; i < 5; i++) r.normal(gw('chat'), 'R', 'A', 'same');
    r.normal(gw('chat'), 'R', 'A', 'other');
    r.normal(gw('chat'), 'R', 'A', 'dropped'); // no token left
    await r.flush();
    expect(written.map((w) => w.body.note)).toEqual(['same', 'other']);
    await vi.advanceTimersByTimeAsync(1000);
    r.normal(gw('chat'), 'R', 'A', 'dropped');
    await r.flush();
    expect(written.map((w) => w.body.note)).toEqual(['same', 'other', 'dropped']);
  });

  it('never fails the caller: write errors (including not being the leader) are swallowed', async () => {
    const r = recorder();
    fail = () => new ApiError(403, 'Forbidden', 'nope');
    expect(() => r.warning(gw('chat'), 'X', 'Y', 'z')).not.toThrow();
    fail = () => new NotLeaderError();
    expect(() => r.warning(gw('chat'), 'X2', 'Y', 'z')).not.toThrow();
    await expect(r.flush()).resolves.toBeUndefined();
    expect(written).toEqual([]);
    expect(r.written.size).toBe(0);
  });

  it('truncates long notes and reasons to the API limits', async () => {
    const r = recorder();
    r.warning(gw('chat'), 'R'.repeat(300), 'A'.repeat(300), 'n'.repeat(5000));
    await r.flush();
    const b = written[0]!.body;
    expect(b.note).toHaveLength(1024);
    expect(b.note.endsWith('…')).toBe(true);
    expect(b.reason).toHaveLength(128);
    expect(b.action).toHaveLength(128);
  });

  it('flush() waits for the writes in flight', async () => {
    let release!: () => void;
    const slow = {
      create: () =>
        new Promise((r) => {
          release = () => r({});
        }),
    } as unknown as KubeClient;
    const r = new EventRecorder({ client: slow, reportingController: 'c', reportingInstance: 'i', log: silentLog });
    r.normal(gw('chat'), 'R', 'A', 'n');
    let flushed = false;
    const f = r.flush().then(() => (flushed = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(flushed).toBe(false);
    release();
    await f;
    expect(r.written.get('R')).toBe(1);
  });
});
