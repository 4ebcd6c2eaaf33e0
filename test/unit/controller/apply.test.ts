// apply.ts: whether a live object already holds the desired one (desired ⊆ live), the applied-hash
// annotation, quantities, overlay; and, through the Reconciler with a recording fake client, that nothing is
// written when the cache already matches.
import type { KubernetesObject, V1Node } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  APPLIED_HASH_ANNOTATION,
  applyReason,
  firstDifference,
  isOwnedBy,
  overlay,
  quantityValue,
  sameStatus,
  withAppliedHash,
} from '../../../src/operator/controller/apply.ts';
import type { EventRecorder } from '../../../src/operator/controller/events.ts';
import { Informer } from '../../../src/operator/controller/informer.ts';
import type { KubeClient } from '../../../src/operator/controller/kube-client.ts';
import { GATEWAY_INDEX, Reconciler, ownerKeyOf } from '../../../src/operator/controller/reconcile.ts';
import { GATEWAYS, NODES, OWNED_TYPES, SECRETS, SERVICES, typeId, type ResourceType } from '../../../src/operator/controller/resources.ts';
import { hashOf } from '../../../src/operator/desired/hash.ts';
import { multiDomain } from '../operator/fixtures.ts';
import { FakeKube, silentLog } from './fake-kube.ts';

describe('firstDifference: desired ⊆ live', () => {
  const desired = {
    metadata: { name: 'a', labels: { 'app.kubernetes.io/name': 'x', team: 'chat' } },
    spec: { replicas: 2, selector: { matchLabels: { app: 'x' } }, paused: false },
  };

  it('is undefined when live holds everything desired sets', () => {
    expect(firstDifference(desired, structuredClone(desired))).toBeUndefined();
  });

  it('ignores fields only the live object has (server defaults, status, metadata of the server)', () => {
    const live = structuredClone(desired) as Record<string, any>;
    live.metadata.uid = 'u1';
    live.metadata.resourceVersion = '42';
    live.metadata.managedFields = [{ manager: 'x' }];
    live.metadata.labels['added-by-someone'] = 'y';
    live.spec.progressDeadlineSeconds = 600;
    live.spec.strategy = { type: 'RollingUpdate' };
    live.status = { readyReplicas: 2 };
    expect(firstDifference(desired, live)).toBeUndefined();
  });

  it('reports a changed value with its path (keys that are not identifiers quoted)', () => {
    const live = structuredClone(desired);
    live.spec.replicas = 3;
    expect(firstDifference(desired, live)).toBe('.spec.replicas');
    const live2 = structuredClone(desired);
    live2.metadata.labels['app.kubernetes.io/name'] = 'other';
    expect(firstDifference(desired, live2)).toBe('.metadata.labels["app.kubernetes.io/name"]');
    const live3 = structuredClone(desired);
    live3.spec.paused = true;
    expect(firstDifference(desired, live3)).toBe('.spec.paused');
  });

  it('reports a field the live object lacks', () => {
    const live = structuredClone(desired) as Record<string, any>;
    delete live.spec.selector.matchLabels.app;
    expect(firstDifference(desired, live)).toBe('.spec.selector.matchLabels.app');
    delete live.spec;
    expect(firstDifference(desired, live)).toBe('.spec');
  });

  it('reports a change of type', () => {
    expect(firstDifference({ a: { b: 1 } }, { a: 'text' })).toBe('.a');
    expect(firstDifference({ a: [1] }, { a: { 0: 1 } })).toBe('.a');
    expect(firstDifference({ a: 1 }, { a: '1' })).toBe('.a');
    expect(firstDifference({ a: 1 }, 'x')).toBe('(root)');
    expect(firstDifference([1], 'x')).toBe('(root)');
  });

  it('treats null and undefined in desired as not set, and empty maps and lists as matching absent ones', () => {
    expect(firstDifference({ a: null, b: undefined }, {})).toBeUndefined();
    expect(firstDifference({ a: {}, b: [] }, {})).toBeUndefined();
    expect(firstDifference({ a: {}, b: [] }, { a: null, b: null })).toBeUndefined();
    // but an empty desired list is not matched by a non-empty live one
    expect(firstDifference({ b: [] }, { b: ['x'] })).toBe('.b');
  });

  describe('lists of scalars', () => {
    it('must be equal, in order and length', () => {
      expect(firstDifference({ args: ['a', 'b'] }, { args: ['a', 'b'] })).toBeUndefined();
      expect(firstDifference({ args: ['a', 'b'] }, { args: ['b', 'a'] })).toBe('.args[0]');
      expect(firstDifference({ args: ['a', 'b'] }, { args: ['a', 'c'] })).toBe('.args[1]');
      expect(firstDifference({ args: ['a', 'b'] }, { args: ['a', 'b', 'c'] })).toBe('.args');
      expect(firstDifference({ args: ['a', 'b'] }, { args: ['a'] })).toBe('.args');
      expect(firstDifference({ args: ['a'] }, {})).toBe('.args');
    });
  });

  describe('lists of objects', () => {
    const ports = [
      { name: 'https', port: 443 },
      { name: 'http', port: 80 },
    ];

    it('match item by item, each live item may carry extra (defaulted) fields', () => {
      const live = [
        { name: 'https', port: 443, protocol: 'TCP', targetPort: 443, nodePort: 31000 },
        { name: 'http', port: 80, protocol: 'TCP', targetPort: 80, nodePort: 31001 },
      ];
      expect(firstDifference({ ports }, { ports: live })).toBeUndefined();
    });

    it('detect a changed item value', () => {
      expect(firstDifference({ ports }, { ports: [{ name: 'https', port: 8443 }, ports[1]] })).toBe('.ports[0].port');
    });

    it('detect a changed order', () => {
      expect(firstDifference({ ports }, { ports: [ports[1], ports[0]] })).toBeDefined();
    });

    it('detect a missing item (live shorter)', () => {
      expect(firstDifference({ ports }, { ports: [ports[0]] })).toBe('.ports[1]');
      expect(firstDifference({ ports }, { ports: [] })).toBe('.ports[0]');
    });

    it('allow items others added (live longer), as server-side apply does for granular lists', () => {
      // Dropping an item from the desired list is caught by the applied hash instead (see applyReason).
      expect(firstDifference({ ports }, { ports: [...ports, { name: 'metrics', port: 9100 }] })).toBeUndefined();
      expect(firstDifference({ ports }, { ports: [ports[0], { name: 'extra', port: 1 }, ports[1]] })).toBeUndefined();
    });

    it('recurse into nested lists (containers → env)', () => {
      const d = { containers: [{ name: 'gw', env: [{ name: 'A', value: '1' }] }] };
      expect(firstDifference(d, { containers: [{ name: 'gw', image: 'x', env: [{ name: 'A', value: '1' }] }] })).toBeUndefined();
      expect(firstDifference(d, { containers: [{ name: 'gw', env: [{ name: 'A', value: '2' }] }] })).toBe('.containers[0].env[0].value');
    });
  });

  describe('resource quantities', () => {
    const res = (limits: Record<string, unknown>) => ({ spec: { containers: [{ name: 'gw', resources: { limits, requests: limits } }] } });

    it('compare by value where the API server canonicalizes them', () => {
      expect(firstDifference(res({ cpu: '0.5', memory: '1024Mi' }), res({ cpu: '500m', memory: '1Gi' }))).toBeUndefined();
      expect(firstDifference(res({ cpu: '1000m' }), res({ cpu: '1' }))).toBeUndefined();
      expect(firstDifference(res({ memory: '1e3' }), res({ memory: '1k' }))).toBeUndefined();
      expect(firstDifference(res({ cpu: 2 }), res({ cpu: '2' }))).toBeUndefined();
    });

    it('still see a changed quantity', () => {
      expect(firstDifference(res({ memory: '1G' }), res({ memory: '1Gi' }))).toBe('.spec.containers[0].resources.limits.memory');
      expect(firstDifference(res({ cpu: '250m' }), res({ cpu: '500m' }))).toBe('.spec.containers[0].resources.limits.cpu');
    });

    it('compare resource names that are not identifiers by value too (ephemeral-storage, hugepages-2Mi, vendor/gpu)', () => {
      expect(firstDifference(res({ 'ephemeral-storage': '1024Mi' }), res({ 'ephemeral-storage': '1Gi' }))).toBeUndefined();
      expect(firstDifference(res({ 'hugepages-2Mi': '2048Mi' }), res({ 'hugepages-2Mi': '2Gi' }))).toBeUndefined();
      expect(firstDifference(res({ 'ephemeral-storage': '1Gi' }), res({ 'ephemeral-storage': '2Gi' }))).toBe(
        '.spec.containers[0].resources.limits["ephemeral-storage"]',
      );
    });

    it('compare emptyDir sizeLimit by value', () => {
      const vol = (sizeLimit: string) => ({ volumes: [{ name: 'tmp', emptyDir: { sizeLimit } }] });
      expect(firstDifference(vol('0.5Gi'), vol('512Mi'))).toBeUndefined();
      expect(firstDifference(vol('1Gi'), vol('512Mi'))).toBe('.volumes[0].emptyDir.sizeLimit');
    });

    it('compare strings elsewhere as strings', () => {
      expect(firstDifference({ data: { cpu: '0.5' } }, { data: { cpu: '500m' } })).toBe('.data.cpu');
    });

    it('quantityValue parses the Kubernetes suffixes', () => {
      expect(quantityValue('500m')).toBe(0.5);
      expect(quantityValue('1Ki')).toBe(1024);
      expect(quantityValue('2Gi')).toBe(2 * 2 ** 30);
      expect(quantityValue('1.5k')).toBe(1500);
      expect(quantityValue('1e3')).toBe(1000);
      expect(quantityValue('5E-1')).toBe(0.5);
      expect(quantityValue('100n')).toBeCloseTo(1e-7);
      expect(quantityValue(3)).toBe(3);
      expect(quantityValue('abc')).toBeUndefined();
      expect(quantityValue('1 Gi')).toBeUndefined();
      expect(quantityValue(undefined)).toBeUndefined();
    });
  });
});

describe('the applied-hash annotation', () => {
  const desired: KubernetesObject & { data: Record<string, string> } = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'cfg', namespace: 'xmpp', annotations: { keep: 'me' } },
    data: { a: '1', b: '2' },
  };

  it('withAppliedHash adds the hash of the desired object, keeping its annotations, without touching it', () => {
    const before = structuredClone(desired);
    const target = withAppliedHash(desired);
    expect(desired).toEqual(before);
    expect(target.metadata?.annotations).toEqual({ keep: 'me', [APPLIED_HASH_ANNOTATION]: hashOf(desired, 20) });
    expect(target.metadata?.annotations?.[APPLIED_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{20}$/);
    expect(withAppliedHash<KubernetesObject>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'n' } }).metadata?.annotations).toHaveProperty(APPLIED_HASH_ANNOTATION);
  });

  it('the hash ignores key order and changes with the content', () => {
    const reordered = { data: { b: '2', a: '1' }, metadata: { annotations: { keep: 'me' }, namespace: 'xmpp', name: 'cfg' }, kind: 'ConfigMap', apiVersion: 'v1' };
    const h = (o: KubernetesObject) => withAppliedHash(o).metadata?.annotations?.[APPLIED_HASH_ANNOTATION];
    expect(h(reordered)).toBe(h(desired));
    expect(h({ ...desired, data: { a: '1' } } as KubernetesObject)).not.toBe(h(desired));
  });

  const serverCopy = (target: KubernetesObject) => {
    const live = structuredClone(target) as Record<string, any>;
    live.metadata.uid = 'u';
    live.metadata.resourceVersion = '9';
    live.metadata.creationTimestamp = '2025-01-01T00:00:00Z';
    return live as KubernetesObject;
  };

  it('applyReason: nothing to do when live was applied from the same desired object and still holds it', () => {
    const target = withAppliedHash(desired);
    expect(applyReason(target, serverCopy(target))).toBeUndefined();
  });

  it('applyReason: an absent object is created', () => {
    expect(applyReason(withAppliedHash(desired), undefined)).toBe('absent');
  });

  it('applyReason: a field no longer desired is seen through the hash (the subset check cannot see it)', () => {
    const live = serverCopy(withAppliedHash(desired));
    const smaller = withAppliedHash({ ...desired, data: { a: '1' } } as KubernetesObject);
    expect(firstDifference(smaller, { ...live, metadata: { ...live.metadata, annotations: smaller.metadata?.annotations } })).toBeUndefined();
    expect(applyReason(smaller, live)).toBe('desired state changed');
  });

  it('applyReason: a live object without the annotation (made by someone else, or the annotation removed) is applied', () => {
    const live = serverCopy(withAppliedHash(desired));
    delete live.metadata!.annotations![APPLIED_HASH_ANNOTATION];
    expect(applyReason(withAppliedHash(desired), live)).toBe('desired state changed');
  });

  it('applyReason: drift (someone edited a field) with an unchanged hash is reported with its path', () => {
    const live = serverCopy(withAppliedHash(desired)) as KubernetesObject & { data: Record<string, string> };
    live.data.b = 'edited';
    expect(applyReason(withAppliedHash(desired), live)).toBe('differs at data.b');
    const live2 = serverCopy(withAppliedHash(desired));
    live2.metadata!.annotations!.keep = 'changed';
    expect(applyReason(withAppliedHash(desired), live2)).toBe('differs at metadata.annotations.keep');
  });
});

describe('overlay, isOwnedBy, sameStatus', () => {
  it('overlay replaces what desired sets (lists whole) and keeps the rest of live', () => {
    const live = {
      metadata: { name: 's', resourceVersion: '5', labels: { a: '1', other: 'x' } },
      spec: { clusterIP: '10.0.0.1', ports: [{ name: 'https', port: 8443, nodePort: 30000 }, { name: 'extra', port: 1 }] },
    };
    const desired = { metadata: { name: 's', labels: { a: '2' } }, spec: { ports: [{ name: 'https', port: 443 }] } };
    expect(overlay(live, desired)).toEqual({
      metadata: { name: 's', resourceVersion: '5', labels: { a: '2', other: 'x' } },
      spec: { clusterIP: '10.0.0.1', ports: [{ name: 'https', port: 443 }] },
    });
    expect(live.spec.ports).toHaveLength(2); // not mutated
  });

  it('isOwnedBy needs the controller owner reference and both labels', () => {
    const gw = multiDomain;
    const child = (o: { uid?: string; controller?: boolean; managedBy?: string; gateway?: string }): KubernetesObject => ({
      metadata: {
        name: 'c',
        labels: { 'app.kubernetes.io/managed-by': o.managedBy ?? 'xmpp-web-gateway-operator', 'xwg.io/gateway': o.gateway ?? 'multi' },
        ownerReferences: [{ apiVersion: 'xwg.io/v1alpha1', kind: 'XmppWebGateway', name: 'multi', uid: o.uid ?? 'uid-multi', controller: o.controller ?? true }],
      },
    });
    expect(isOwnedBy(child({}), gw)).toBe(true);
    expect(isOwnedBy(child({ uid: 'uid-other' }), gw)).toBe(false);
    expect(isOwnedBy(child({ controller: false }), gw)).toBe(false);
    expect(isOwnedBy(child({ managedBy: 'helm' }), gw)).toBe(false);
    expect(isOwnedBy(child({ gateway: 'other' }), gw)).toBe(false);
    expect(isOwnedBy(child({}), { ...gw, metadata: { ...gw.metadata, uid: undefined } } as typeof gw)).toBe(false);
  });

  it('sameStatus ignores key order and undefined fields', () => {
    expect(sameStatus({ a: 1, b: { c: 2, d: undefined } }, { b: { c: 2 }, a: 1 })).toBe(true);
    expect(sameStatus(undefined, {})).toBe(true);
    expect(sameStatus({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
  });
});

// -- through the Reconciler: the writes it issues

interface Write {
  verb: string;
  kind?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
}

/** A writer that records the calls and answers as an API server would: the object plus server fields and defaults. */
class RecordingWriter {
  readonly writes: Write[] = [];
  rv = 1000;

  #serverCopy(obj: KubernetesObject): KubernetesObject {
    const out = structuredClone(obj) as Record<string, any>;
    out.metadata = { ...out.metadata, uid: `uid-${out.metadata.name}`, resourceVersion: String(++this.rv), creationTimestamp: '2025-01-01T00:00:00Z', managedFields: [{ manager: 'xmpp-web-gateway' }] };
    if (obj.kind === 'Service') {
      out.spec.clusterIP ??= '10.96.0.10';
      out.spec.sessionAffinity ??= 'None';
      for (const p of out.spec.ports ?? []) p.protocol ??= 'TCP';
    }
    if (obj.kind === 'Deployment') {
      out.spec.progressDeadlineSeconds ??= 600;
      out.spec.revisionHistoryLimit ??= 10;
      for (const c of out.spec.template.spec.containers) c.terminationMessagePath ??= '/dev/termination-log';
      out.status = { observedGeneration: 1 };
    }
    return out as KubernetesObject;
  }

  client(gateways: () => Informer<KubernetesObject>): KubeClient {
    const self = this;
    return {
      async apply(type: ResourceType, obj: KubernetesObject, opts: { subresource?: string } = {}) {
        self.writes.push({ verb: 'apply', kind: obj.kind, name: obj.metadata?.name, subresource: opts.subresource });
        if (opts.subresource === 'status') {
          const gw = gateways().get(obj.metadata?.namespace, obj.metadata?.name ?? '')!;
          return { ...gw, status: structuredClone((obj as { status?: unknown }).status), metadata: { ...gw.metadata, resourceVersion: String(++self.rv) } };
        }
        void type;
        return self.#serverCopy(obj);
      },
      async update(_t: ResourceType, obj: KubernetesObject) {
        self.writes.push({ verb: 'update', kind: obj.kind, name: obj.metadata?.name });
        return self.#serverCopy(obj);
      },
      async create(_t: ResourceType, _ns: string, obj: KubernetesObject) {
        self.writes.push({ verb: 'create', kind: obj.kind, name: obj.metadata?.name });
        return obj;
      },
      async delete(_t: ResourceType, _ns: string, name: string) {
        self.writes.push({ verb: 'delete', name });
        return true;
      },
      async get(t: ResourceType, _ns: string, name: string) {
        // the user's TLS Secrets (secretRefs) exist
        if (t === SECRETS) return { metadata: { name }, data: { 'tls.crt': 'Y3J0', 'tls.key': 'a2V5' } };
        return undefined;
      },
    } as unknown as KubeClient;
  }
}

describe('Reconciler writes: nothing when the cache already holds the desired state', () => {
  let kube: FakeKube;
  let informers: Informer<KubernetesObject>[];
  let writer: RecordingWriter;
  let reconciler: Reconciler;
  let owned: Map<string, Informer<KubernetesObject>>;
  const events: { reason: string; note: string }[] = [];

  beforeEach(async () => {
    vi.useFakeTimers({ now: Date.parse('2025-06-01T00:00:00Z') });
    kube = new FakeKube();
    kube.set(GATEWAYS, [{ ...multiDomain, metadata: { ...multiDomain.metadata, resourceVersion: '1' } } as KubernetesObject]);
    const make = (type: ResourceType, ownedType: boolean) =>
      new Informer<KubernetesObject>({
        client: kube.asClient(),
        type,
        log: silentLog,
        ...(ownedType ? { indexers: { [GATEWAY_INDEX]: (o: KubernetesObject) => [ownerKeyOf(o)].filter((k): k is string => k !== undefined) } } : {}),
      });
    const gateways = make(GATEWAYS, false);
    owned = new Map(OWNED_TYPES.map((t) => [typeId(t), make(t, true)]));
    const nodes = make(NODES, false);
    informers = [gateways, nodes, ...owned.values()];
    for (const i of informers) i.start();
    await vi.advanceTimersByTimeAsync(0);
    writer = new RecordingWriter();
    events.length = 0;
    const recorder = {
      normal: (_o: unknown, reason: string, _a: string, note: string) => events.push({ reason, note }),
      warning: (_o: unknown, reason: string, _a: string, note: string) => events.push({ reason, note }),
    } as unknown as EventRecorder;
    reconciler = new Reconciler({
      client: writer.client(() => gateways),
      caches: {
        gateways,
        owned: (t) => owned.get(typeId(t)),
        ownedTypes: () => [...OWNED_TYPES],
        nodes: () => nodes as unknown as Informer<V1Node>,
      },
      events: recorder,
      defaultImage: 'ghcr.io/example/xwg:1',
      certManagerAvailable: () => false,
      now: () => new Date(),
    });
  });

  afterEach(async () => {
    await Promise.all(informers.map((i) => i.stop()));
    vi.useRealTimers();
  });

  const reconcile = () => reconciler.reconcile('xmpp/multi', silentLog);

  it('the first reconcile applies every child and the status; the next one writes nothing', async () => {
    await reconcile();
    const applied = writer.writes.filter((w) => w.verb === 'apply' && w.subresource === undefined);
    expect(applied.length).toBeGreaterThanOrEqual(4);
    expect(new Set(applied.map((w) => w.kind))).toEqual(new Set(['ConfigMap', 'Service', 'Deployment', 'PodDisruptionBudget']));
    expect(writer.writes.filter((w) => w.subresource === 'status')).toHaveLength(1);
    expect(events.map((e) => e.reason)).toEqual(['Created']);

    // The cache now holds the server's answers (with server fields and defaults the desired objects lack).
    writer.writes.length = 0;
    events.length = 0;
    await reconcile();
    await reconcile();
    expect(writer.writes).toEqual([]);
    expect(events).toEqual([]);
  });

  it('a child edited by someone else is applied again, and only that one', async () => {
    await reconcile();
    writer.writes.length = 0;
    const services = owned.get('services')!;
    const svc = structuredClone(services.list()[0]!) as KubernetesObject & { spec: { ports: { port: number }[] } };
    svc.spec.ports[0]!.port = 9999;
    svc.metadata!.resourceVersion = '5000';
    kube.watchOf(SERVICES).event('MODIFIED', svc);
    await vi.advanceTimersByTimeAsync(0);
    expect(services.get(svc.metadata?.namespace, svc.metadata?.name ?? '')?.metadata?.resourceVersion).toBe('5000');
    await reconcile();
    expect(writer.writes).toEqual([{ verb: 'apply', kind: 'Service', name: svc.metadata?.name, subresource: undefined }]);
    expect(events.at(-1)?.note).toMatch(/^Updated Service .*\(differs at spec\.ports\[0\]\.port\)$/);
  });

  it('a child whose applied-hash annotation was removed is applied again', async () => {
    await reconcile();
    writer.writes.length = 0;
    const cms = owned.get('configmaps')!;
    const cm = structuredClone(cms.list()[0]!);
    delete cm.metadata!.annotations![APPLIED_HASH_ANNOTATION];
    cm.metadata!.resourceVersion = '6000';
    cms.upsert(cm);
    await reconcile();
    expect(writer.writes).toEqual([{ verb: 'apply', kind: 'ConfigMap', name: cm.metadata?.name, subresource: undefined }]);
  });
});
