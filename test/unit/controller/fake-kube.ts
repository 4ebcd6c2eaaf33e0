// In-memory stand-ins for the parts of KubeClient the controller uses: list and watch sources driven by the
// test, and a call log. No sockets; everything resolves through promises, so fake timers drive it.
import type { KubernetesObject } from '@kubernetes/client-node';
import pino from 'pino';
import { ApiError, type KubeClient, type ListOptions, type ListResult, type WatchEvent, type WatchOptions } from '../../../src/operator/controller/kube-client.ts';
import { typeId, type ResourceType } from '../../../src/operator/controller/resources.ts';

export const silentLog = pino({ level: 'silent' });

export const gone = () => new ApiError(410, 'Expired', 'too old resource version: 1 (5)');
export const transportError = (m = 'connection reset') => new ApiError(0, 'TransportError', m);

type Item = { kind: 'event'; event: WatchEvent<KubernetesObject> } | { kind: 'error'; error: unknown } | { kind: 'end' };

/** One open watch: the test pushes events into it, ends it, or fails it. */
export class WatchStream {
  /** the resource watched (typeId: configmaps, deployments.apps, …) */
  readonly type: string;
  readonly options: WatchOptions;
  readonly #items: Item[] = [];
  #wake: (() => void) | undefined;
  closed = false;

  constructor(type: string, options: WatchOptions) {
    this.type = type;
    this.options = options;
  }

  event(type: WatchEvent<KubernetesObject>['type'], object: KubernetesObject): this {
    return this.#push({ kind: 'event', event: { type, object } });
  }

  fail(error: unknown): this {
    return this.#push({ kind: 'error', error });
  }

  end(): this {
    return this.#push({ kind: 'end' });
  }

  #push(i: Item): this {
    this.#items.push(i);
    this.#wake?.();
    return this;
  }

  async *iterate(): AsyncGenerator<WatchEvent<KubernetesObject>> {
    const signal = this.options.signal;
    const onAbort = () => this.#wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        if (signal?.aborted) return;
        const item = this.#items.shift();
        if (!item) {
          await new Promise<void>((r) => (this.#wake = r));
          this.#wake = undefined;
          continue;
        }
        if (item.kind === 'end') return;
        if (item.kind === 'error') throw item.error;
        yield item.event;
      }
    } finally {
      this.closed = true;
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

export type ListHandler = (type: ResourceType, o: ListOptions) => ListResult<KubernetesObject> | Promise<ListResult<KubernetesObject>>;

/**
 * list() answers from `objects` (per type id, with `resourceVersion` as the list's version) unless `onList`
 * is set; watch() opens a WatchStream the test drives (or fails with `watchError` once, if set).
 */
export class FakeKube {
  readonly objects = new Map<string, KubernetesObject[]>();
  resourceVersion = '100';
  onList: ListHandler | undefined;
  /** thrown by the next watch() before it yields anything (e.g. an HTTP 410), then cleared */
  watchErrors: unknown[] = [];
  /** this many next watches end at once, delivering nothing (as a server or proxy closing them would) */
  watchesEndingAtOnce = 0;
  readonly lists: { type: string; options: ListOptions }[] = [];
  readonly streams: WatchStream[] = [];
  /** discovery answer (cert-manager absent by default) */
  discovery: { name: string; kind: string }[] | undefined = undefined;

  set(type: ResourceType, items: KubernetesObject[]): this {
    this.objects.set(typeId(type), items);
    return this;
  }

  get latest(): WatchStream {
    const s = this.streams.at(-1);
    if (!s) throw new Error('no watch yet');
    return s;
  }

  /** The latest watch of one resource type. */
  watchOf(type: ResourceType): WatchStream {
    const s = this.streams.findLast((w) => w.type === typeId(type));
    if (!s) throw new Error(`no watch of ${typeId(type)} yet`);
    return s;
  }

  /** Structurally what the controller needs of a KubeClient. */
  asClient(): KubeClient {
    const self = this;
    const client = {
      async list(type: ResourceType, o: ListOptions = {}) {
        self.lists.push({ type: typeId(type), options: o });
        if (self.onList) return self.onList(type, o);
        return { items: structuredClone(self.objects.get(typeId(type)) ?? []), metadata: { resourceVersion: self.resourceVersion } };
      },
      watch(type: ResourceType, o: WatchOptions = {}) {
        const stream = new WatchStream(typeId(type), o);
        self.streams.push(stream);
        const err = self.watchErrors.shift();
        if (err !== undefined) stream.fail(err);
        else if (self.watchesEndingAtOnce > 0) {
          self.watchesEndingAtOnce--;
          stream.end();
        }
        return stream.iterate();
      },
      async discover() {
        return self.discovery;
      },
      withRequestTimeout() {
        return client;
      },
    };
    return client as unknown as KubeClient;
  }
}

export function obj(name: string, rv: string, extra: Record<string, unknown> = {}, namespace = 'ns'): KubernetesObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, resourceVersion: rv, uid: `u-${name}` }, ...extra };
}
