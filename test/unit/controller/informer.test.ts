// Informer against a fake list/watch source: the cache, the handlers, resourceVersions, relist on 410 Gone,
// reconnect backoff, indexers and upsert.
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Informer, internStrings, type EventHandler } from '../../../src/operator/controller/informer.ts';
import { CONFIGMAPS, NODES } from '../../../src/operator/controller/resources.ts';
import { FakeKube, gone, obj, silentLog, transportError } from './fake-kube.ts';

type Ev = [string, ...string[]];

function recorder(): { events: Ev[]; handler: EventHandler<KubernetesObject> } {
  const events: Ev[] = [];
  const id = (o: KubernetesObject) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`;
  return {
    events,
    handler: {
      onAdd: (o) => events.push(['add', id(o)]),
      onUpdate: (old, o) => events.push(['update', id(old), id(o)]),
      onDelete: (o) => events.push(['delete', id(o)]),
    },
  };
}

let kube: FakeKube;
const informers: Informer<KubernetesObject>[] = [];

function informer(o: { backoff?: { initialMs: number; maxMs: number }; indexers?: Record<string, (o: KubernetesObject) => string[]>; pageSize?: number; namespace?: string } = {}) {
  const i = new Informer<KubernetesObject>({
    client: kube.asClient(),
    type: CONFIGMAPS,
    labelSelector: 'app=x',
    log: silentLog,
    watchTimeoutSeconds: () => 300,
    backoff: o.backoff ?? { initialMs: 100, maxMs: 1000 },
    ...(o.indexers ? { indexers: o.indexers } : {}),
    ...(o.pageSize ? { pageSize: o.pageSize } : {}),
    ...(o.namespace ? { namespace: o.namespace } : {}),
  });
  informers.push(i);
  return i;
}

const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms);
const names = (i: Informer<KubernetesObject>) =>
  i
    .list()
    .map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`)
    .sort();

beforeEach(() => {
  vi.useFakeTimers();
  // Backoff jitter (0.5 to 1 times the delay): the full delay.
  vi.spyOn(Math, 'random').mockReturnValue(1);
  kube = new FakeKube();
});

afterEach(async () => {
  await Promise.all(informers.splice(0).map((i) => i.stop()));
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('Informer: list', () => {
  it('fills the cache from the initial list, calls onAdd for each item, and is then synced', async () => {
    kube.set(CONFIGMAPS, [obj('a', '10'), obj('b', '11')]);
    const i = informer();
    const r = recorder();
    i.addHandler(r.handler);
    expect(i.hasSynced()).toBe(false);
    const synced = i.waitForSync();
    i.start();
    await tick();
    await synced;
    expect(i.hasSynced()).toBe(true);
    expect(names(i)).toEqual(['a@10', 'b@11']);
    expect(r.events).toEqual([['add', 'a@10'], ['add', 'b@11']]);
    expect(i.get('ns', 'a')?.metadata?.name).toBe('a');
    expect(i.get('other', 'a')).toBeUndefined();
    expect(kube.lists[0]?.options).toMatchObject({ labelSelector: 'app=x', limit: 500 });
  });

  it('fills in apiVersion and kind, which list items lack', async () => {
    kube.set(CONFIGMAPS, [{ metadata: { name: 'bare', namespace: 'ns', resourceVersion: '1' } }]);
    const i = informer();
    i.start();
    await tick();
    expect(i.get('ns', 'bare')).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap' });
  });

  it('reads every page of a paginated list before syncing', async () => {
    const pages = [
      { items: [obj('a', '1')], metadata: { continue: 'p2', resourceVersion: '50' } },
      { items: [obj('b', '2')], metadata: { continue: 'p3', resourceVersion: '50' } },
      { items: [obj('c', '3')], metadata: { resourceVersion: '50' } },
    ];
    kube.onList = (_t, o) => pages[o.continue === undefined ? 0 : Number(o.continue.slice(1)) - 1]!;
    const i = informer({ pageSize: 1 });
    i.start();
    await tick();
    expect(names(i)).toEqual(['a@1', 'b@2', 'c@3']);
    expect(kube.lists.map((l) => [l.options.limit, l.options.continue])).toEqual([
      [1, undefined],
      [1, 'p2'],
      [1, 'p3'],
    ]);
    expect(kube.latest.options.resourceVersion).toBe('50');
  });

  it('passes the namespace to list and watch', async () => {
    const i = informer({ namespace: 'only' });
    i.start();
    await tick();
    expect(kube.lists[0]?.options.namespace).toBe('only');
    expect(kube.latest.options.namespace).toBe('only');
    expect(kube.latest.options.labelSelector).toBe('app=x');
  });

  it('retries a failed list with backoff and syncs once it succeeds', async () => {
    let failures = 2;
    kube.onList = () => {
      if (failures-- > 0) throw transportError();
      return { items: [obj('a', '1')], metadata: { resourceVersion: '5' } };
    };
    const i = informer({ backoff: { initialMs: 100, maxMs: 1000 } });
    i.start();
    await tick();
    expect(kube.lists).toHaveLength(1);
    expect(i.hasSynced()).toBe(false);
    await tick(99);
    expect(kube.lists).toHaveLength(1);
    await tick(1);
    expect(kube.lists).toHaveLength(2);
    await tick(199);
    expect(kube.lists).toHaveLength(2);
    await tick(1);
    expect(kube.lists).toHaveLength(3);
    expect(i.hasSynced()).toBe(true);
    expect(i.stats.reconnects).toBe(2);
  });
});

describe('Informer: watch', () => {
  it('starts the watch at the list resourceVersion and applies ADDED, MODIFIED and DELETED', async () => {
    kube.set(CONFIGMAPS, [obj('a', '10')]);
    kube.resourceVersion = '20';
    const i = informer();
    const r = recorder();
    i.addHandler(r.handler);
    i.start();
    await tick();
    const w = kube.latest;
    expect(w.options).toMatchObject({ resourceVersion: '20', labelSelector: 'app=x', timeoutSeconds: 300, idleTimeoutMs: 360_000 });
    r.events.length = 0;

    w.event('ADDED', obj('b', '21'));
    w.event('MODIFIED', obj('a', '22', { data: { k: 'v' } }));
    w.event('DELETED', obj('b', '23'));
    await tick();
    expect(names(i)).toEqual(['a@22']);
    expect((i.get('ns', 'a') as { data?: unknown }).data).toEqual({ k: 'v' });
    // The delete hands the cached object (the last state known) to the handler.
    expect(r.events).toEqual([['add', 'b@21'], ['update', 'a@10', 'a@22'], ['delete', 'b@21']]);
  });

  it('ignores an event that does not change the resourceVersion, and one older than the cache', async () => {
    kube.set(CONFIGMAPS, [obj('a', '10')]);
    const i = informer();
    const r = recorder();
    i.addHandler(r.handler);
    i.start();
    await tick();
    r.events.length = 0;
    kube.latest.event('MODIFIED', obj('a', '10'));
    // Our own write got into the cache first (upsert); its watch event then arrives late.
    i.upsert(obj('a', '30'));
    kube.latest.event('MODIFIED', obj('a', '25'));
    await tick();
    expect(r.events).toEqual([]);
    expect(names(i)).toEqual(['a@30']);
  });

  it('a DELETED event for an object not in the cache still reaches the handlers', async () => {
    const i = informer();
    const r = recorder();
    i.addHandler(r.handler);
    i.start();
    await tick();
    kube.latest.event('DELETED', obj('ghost', '5'));
    await tick();
    expect(r.events).toEqual([['delete', 'ghost@5']]);
    expect(i.list()).toEqual([]);
  });

  it('resumes from the last resourceVersion (bookmarks included) without relisting when a watch ends', async () => {
    kube.resourceVersion = '100';
    const i = informer();
    i.start();
    await tick();
    kube.latest.event('ADDED', obj('a', '101'));
    kube.latest.event('BOOKMARK', { metadata: { resourceVersion: '150' } });
    kube.latest.end();
    await tick();
    expect(kube.streams).toHaveLength(2);
    expect(kube.latest.options.resourceVersion).toBe('150');
    expect(kube.lists).toHaveLength(1);
    // A bookmark is no object.
    expect(names(i)).toEqual(['a@101']);
    expect(i.stats).toMatchObject({ lists: 1, watches: 2, relistsOnGone: 0, reconnects: 0 });
  });
});

describe('Informer: 410 Gone', () => {
  it('relists at once when the watch fails with 410 (an ERROR event or an HTTP 410), then watches from the new list', async () => {
    kube.set(CONFIGMAPS, [obj('keep', '1'), obj('change', '2'), obj('drop', '3')]);
    kube.resourceVersion = '10';
    const i = informer();
    const r = recorder();
    i.addHandler(r.handler);
    i.start();
    await tick();
    r.events.length = 0;

    // Meanwhile (events missed): one changed, one deleted, one created.
    kube.set(CONFIGMAPS, [obj('keep', '1'), obj('change', '40'), obj('new', '41')]);
    kube.resourceVersion = '42';
    kube.latest.fail(gone()); // what KubeClient.watch throws for an ERROR event with code 410
    await tick();
    expect(kube.lists).toHaveLength(2);
    expect(i.stats.relistsOnGone).toBe(1);
    expect(i.stats.reconnects).toBe(0);
    expect(names(i)).toEqual(['change@40', 'keep@1', 'new@41']);
    // The handlers hear what changed meanwhile, and only that.
    expect(r.events).toEqual([['update', 'change@2', 'change@40'], ['add', 'new@41'], ['delete', 'drop@3']]);
    expect(kube.latest.options.resourceVersion).toBe('42');

    // An HTTP 410 on opening the (next) watch: the same.
    kube.watchErrors.push(gone());
    await tick(300_000);
    kube.latest.end(); // the server's timeout
    await tick();
    expect(kube.lists).toHaveLength(3);
    expect(i.stats.relistsOnGone).toBe(2);
  });

  it('a list answer replaces the cache whatever its resourceVersions (etcd restored from a backup)', async () => {
    kube.set(CONFIGMAPS, [obj('a', '500')]);
    const i = informer();
    i.start();
    await tick();
    kube.set(CONFIGMAPS, [obj('a', '7')]);
    kube.latest.fail(gone());
    await tick();
    expect(names(i)).toEqual(['a@7']);
  });
});

describe('Informer: reconnect', () => {
  it('reconnects a broken watch with exponential backoff, capped, keeping the resourceVersion', async () => {
    kube.resourceVersion = '10';
    const i = informer({ backoff: { initialMs: 100, maxMs: 400 } });
    i.start();
    await tick();
    const opened: number[] = [];
    const t0 = Date.now();
    for (let n = 0; n < 5; n++) {
      opened.push(Date.now() - t0);
      kube.latest.fail(transportError());
      const before = kube.streams.length;
      while (kube.streams.length === before) await tick(1);
    }
    const waits = opened.slice(1).map((t, k) => t - opened[k]!);
    // With no event between failures: 100, 200, 400, 400.
    expect(waits).toEqual([100, 200, 400, 400]);
    expect(i.stats.reconnects).toBe(5);
    expect(kube.lists).toHaveLength(1);
    expect(kube.latest.options.resourceVersion).toBe('10');
  });

  it('resets the backoff once a watch delivered something', async () => {
    const i = informer({ backoff: { initialMs: 100, maxMs: 10_000 } });
    i.start();
    await tick();
    for (let n = 0; n < 3; n++) {
      kube.latest.fail(transportError());
      await tick(10_000);
    }
    expect(kube.streams).toHaveLength(4);
    kube.latest.event('ADDED', obj('a', '200'));
    kube.latest.fail(transportError());
    await tick(99);
    expect(kube.streams).toHaveLength(4);
    await tick(1);
    expect(kube.streams).toHaveLength(5);
    expect(kube.latest.options.resourceVersion).toBe('200');
  });

  it('applies jitter to the reconnect delay (between half and all of it)', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const i = informer({ backoff: { initialMs: 1000, maxMs: 1000 } });
    i.start();
    await tick();
    kube.latest.fail(transportError());
    await tick(499);
    expect(kube.streams).toHaveLength(1);
    await tick(1);
    expect(kube.streams).toHaveLength(2);
  });

  it('backs off when watches keep ending at once without delivering anything', async () => {
    // e.g. a proxy that answers the watch request with an empty 200: no hot loop against the API server
    const i = informer({ backoff: { initialMs: 100, maxMs: 1000 } });
    kube.watchesEndingAtOnce = 1000;
    i.start();
    await tick(1000);
    // 100 + 200 + 400 ms of backoff fit into the first second: the 4th watch is still waiting
    expect(kube.streams.length).toBeLessThanOrEqual(5);
    expect(i.stats.lists).toBe(1);
  });

  it('stop() ends the watch and the loop, also during a backoff sleep', async () => {
    const i = informer({ backoff: { initialMs: 60_000, maxMs: 60_000 } });
    i.start();
    await tick();
    const w = kube.latest;
    await i.stop();
    expect(w.closed).toBe(true);
    const j = informer({ backoff: { initialMs: 60_000, maxMs: 60_000 } });
    j.start();
    await tick();
    kube.latest.fail(transportError());
    await tick();
    const stopped = j.stop();
    await stopped; // resolves without the 60 s passing
    const watches = kube.streams.length;
    await tick(120_000);
    expect(kube.streams).toHaveLength(watches);
  });
});

describe('Informer: indexers and upsert', () => {
  it('keeps indexes in step with adds, updates and deletes', async () => {
    const owner = (o: KubernetesObject) => [o.metadata?.labels?.owner].filter((v): v is string => v !== undefined);
    kube.set(CONFIGMAPS, [
      obj('a', '1', { metadata: { name: 'a', namespace: 'ns', resourceVersion: '1', labels: { owner: 'x' } } }),
      obj('b', '2', { metadata: { name: 'b', namespace: 'ns', resourceVersion: '2', labels: { owner: 'x' } } }),
    ]);
    const i = informer({ indexers: { owner } });
    i.start();
    await tick();
    const byOwner = (v: string) =>
      i
        .byIndex('owner', v)
        .map((o) => o.metadata?.name)
        .sort();
    expect(byOwner('x')).toEqual(['a', 'b']);
    kube.latest.event('MODIFIED', obj('b', '3', { metadata: { name: 'b', namespace: 'ns', resourceVersion: '3', labels: { owner: 'y' } } }));
    kube.latest.event('DELETED', obj('a', '4'));
    await tick();
    expect(byOwner('x')).toEqual([]);
    expect(byOwner('y')).toEqual(['b']);
    expect(i.byIndex('nope', 'y')).toEqual([]);
  });

  it('upsert puts a write answer into the cache without running handlers, unless the cache is newer', async () => {
    kube.set(CONFIGMAPS, [obj('a', '10')]);
    const i = informer();
    const r = recorder();
    i.addHandler(r.handler);
    i.start();
    await tick();
    r.events.length = 0;
    i.upsert(obj('a', '12'));
    expect(names(i)).toEqual(['a@12']);
    i.upsert(obj('a', '11'));
    expect(names(i)).toEqual(['a@12']);
    i.upsert(obj('new', '13'));
    expect(names(i)).toEqual(['a@12', 'new@13']);
    expect(r.events).toEqual([]);
    // the watch event of that write then changes nothing
    kube.latest.event('MODIFIED', obj('a', '12'));
    await tick();
    expect(r.events).toEqual([]);
  });

  it('drops managedFields from what it caches: listed, watched and upserted objects', async () => {
    const managed = (name: string, rv: string) => ({ ...obj(name, rv, { data: { k: 'v' } }), metadata: { ...obj(name, rv).metadata, labels: { l: '1' }, managedFields: [{ manager: 'm', operation: 'Apply' }] } });
    kube.set(CONFIGMAPS, [managed('a', '10')]);
    const i = informer();
    i.start();
    await tick();
    kube.latest.event('ADDED', managed('b', '11'));
    await tick();
    const written = managed('c', '12');
    i.upsert(written);
    for (const name of ['a', 'b', 'c']) {
      const cached = i.get('ns', name)!;
      expect(cached.metadata).not.toHaveProperty('managedFields');
      expect(cached).toMatchObject({ data: { k: 'v' }, metadata: { name, labels: { l: '1' }, uid: `u-${name}` } });
    }
    // the caller's object stays as it was
    expect(written.metadata.managedFields).toHaveLength(1);
  });

  it('shares one copy of each short string among cached objects, and keeps long ones as they are', () => {
    const parsed = () => JSON.parse(JSON.stringify({ metadata: { labels: { 'app.kubernetes.io/managed-by': 'xmpp-web-gateway-operator' } }, data: { big: 'x'.repeat(100) }, list: ['a', { b: 'c' }] })) as Record<string, any>;
    const a = internStrings(parsed());
    const b = internStrings(parsed());
    expect(b).toEqual(parsed());
    expect(a).toEqual(b);
    // Frozen objects are left alone (nothing to share, nothing thrown).
    expect(internStrings(Object.freeze(parsed()))).toEqual(parsed());
  });

  it('keys cluster-scoped objects by name', async () => {
    const i = new Informer<KubernetesObject>({ client: kube.asClient(), type: NODES, log: silentLog });
    informers.push(i);
    kube.set(NODES, [{ metadata: { name: 'n1', resourceVersion: '1' } }]);
    i.start();
    await tick();
    expect(i.get(undefined, 'n1')).toMatchObject({ kind: 'Node', apiVersion: 'v1' });
  });
});
