// List + watch of one resource type into a local cache, as client-go's reflector and indexer do:
// the list's resourceVersion starts the watch, each event moves it on (bookmarks too), a 410 Gone relists
// (and reports what changed meanwhile), a broken connection reconnects with exponential backoff and keeps
// the resourceVersion. Handlers see adds, updates and deletes; the reconciler reads only the cache.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isGone, type KubeClient } from './kube-client.ts';
import { apiVersionOf, keyOf, typeId, type ResourceType } from './resources.ts';
import { withCode } from '../../shared/errors/codes.ts';

export interface EventHandler<T> {
  onAdd?(obj: T): void;
  onUpdate?(old: T, obj: T): void;
  onDelete?(obj: T): void;
}

export type IndexFunc<T> = (obj: T) => string[];

export interface InformerOptions<T> {
  client: KubeClient;
  type: ResourceType;
  /** one namespace; default all */
  namespace?: string;
  labelSelector?: string;
  log: Logger;
  indexers?: Record<string, IndexFunc<T>>;
  /** reconnect backoff (default 500 ms doubling to 30 s) */
  backoff?: { initialMs: number; maxMs: number };
  /** server-side watch timeout in seconds (default: random 300–600, as client-go) */
  watchTimeoutSeconds?: () => number;
  /** items per list page (default 500) */
  pageSize?: number;
  /**
   * Applied to every object before it is cached (list, watch, upsert), e.g. to drop fields the operator never
   * reads; it must keep metadata.name, namespace and resourceVersion. Default: compactForCache.
   */
  transform?: (obj: T) => T;
}

/**
 * managedFields go. The operator never reads them (server-side apply keeps them on the
 * server, and a PUT without them leaves them as they are), yet they are the largest part of most cached objects
 * (a Deployment's field set mirrors its whole pod template, once per manager).
 */
export function dropManagedFields<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields === undefined) return obj;
  // A copy of the metadata: the caller may still hold the object (tests' fakes do).
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

/** Short strings are interned only up to this length, and the table holds at most MAX_INTERNED of them. */
const MAX_INTERN_LENGTH = 64;
const MAX_INTERNED = 20_000;
const interned = new Map<string, string>();

/**
 * Replaces every short string value in `value` (in place) by one shared copy. JSON.parse gives each object its
 * own copies of the same label values, kinds, images and paths (`xmpp-web-gateway-operator` 16,000 times with
 * 1,000 gateways): sharing them takes ~40% off the cache. The table is bounded and fills with what comes
 * first, which is what repeats; later unique strings (names, uids) are simply not shared.
 */
export function internStrings<T>(value: T): T {
  if (typeof value === 'string') {
    if (value.length > MAX_INTERN_LENGTH) return value;
    const shared = interned.get(value);
    if (shared !== undefined) return shared as T;
    if (interned.size < MAX_INTERNED) interned.set(value, value);
    return value;
  }
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = internStrings(value[i]);
  } else {
    const o = value as Record<string, unknown>;
    for (const k of Object.keys(o)) o[k] = internStrings(o[k]);
  }
  return value;
}

/** The default transform: managedFields dropped, short strings shared. */
export function compactForCache<T extends KubernetesObject>(obj: T): T {
  return internStrings(dropManagedFields(obj));
}

/** resourceVersions are opaque, but the API server's are integers; newer-than only when both are. */
function isOlder(candidate: string | undefined, than: string | undefined): boolean {
  if (candidate === undefined || than === undefined || !/^\d+$/.test(candidate) || !/^\d+$/.test(than)) return false;
  return BigInt(candidate) < BigInt(than);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export class Informer<T extends KubernetesObject> {
  readonly type: ResourceType;
  readonly #o: InformerOptions<T>;
  readonly #log: Logger;
  readonly #store = new Map<string, T>();
  readonly #indices = new Map<string, Map<string, Set<string>>>();
  readonly #handlers: EventHandler<T>[] = [];
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #abort = new AbortController();
  #running: Promise<void> | undefined;
  #resourceVersion: string | undefined;
  /** lists and watches started, for tests and metrics */
  readonly stats = { lists: 0, watches: 0, relistsOnGone: 0, reconnects: 0 };

  constructor(o: InformerOptions<T>) {
    this.type = o.type;
    this.#o = o;
    this.#log = o.log.child({ informer: typeId(o.type) });
    for (const name of Object.keys(o.indexers ?? {})) this.#indices.set(name, new Map());
  }

  addHandler(h: EventHandler<T>): void {
    this.#handlers.push(h);
  }

  start(): void {
    this.#running ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#store.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.#store.values()];
  }

  byIndex(index: string, value: string): T[] {
    const keys = this.#indices.get(index)?.get(value);
    return keys ? [...keys].map((k) => this.#store.get(k)).filter((o): o is T => o !== undefined) : [];
  }

  /** Puts an object the server just returned (after a write) into the cache, unless it holds a newer one; no handler runs. */
  upsert(obj: T): void {
    obj = this.#transform(obj);
    const key = keyOf(obj);
    const current = this.#store.get(key);
    if (current && isOlder(obj.metadata?.resourceVersion, current.metadata?.resourceVersion)) return;
    this.#put(key, obj);
  }

  #transform(obj: T): T {
    return (this.#o.transform ?? compactForCache)(obj);
  }

  // -- the loop

  async #run(): Promise<void> {
    const { initialMs, maxMs } = this.#o.backoff ?? { initialMs: 500, maxMs: 30_000 };
    let failures = 0;
    let needList = true;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.#list(signal);
          needList = false;
          failures = 0;
        }
        const watchStart = Date.now();
        // Failures count from the last watch that delivered something, even if that one then broke.
        const delivered = await this.#watch(signal, () => (failures = 0));
        // A watch the server (or a proxy) ends at once with nothing in it: back off, as for a failure (client-go
        // does the same with its "very short watch"), instead of reopening it in a tight loop.
        if (!delivered && !signal.aborted && Date.now() - watchStart < 1000) throw new Error('watch ended at once without any event');
      } catch (e) {
        if (signal.aborted) break;
        if (isGone(e)) {
          // The resourceVersion is older than the server keeps: start over from a fresh list.
          this.stats.relistsOnGone++;
          this.#log.info({ resourceVersion: this.#resourceVersion }, 'resourceVersion too old (410 Gone): relisting');
          needList = true;
          continue;
        }
        failures++;
        this.stats.reconnects++;
        const delay = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 20)) * (0.5 + Math.random() / 2);
        this.#log.warn(withCode('XWG_OP_WATCH_FAILED', { err: e instanceof Error ? e.message : String(e), retryInMs: Math.round(delay), failures }), needList ? 'list failed' : 'watch failed');
        await sleep(delay, signal);
      }
    }
  }

  async #list(signal: AbortSignal): Promise<void> {
    this.stats.lists++;
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const page = await this.#o.client.list<T>(this.type, {
        ...(this.#o.namespace === undefined ? {} : { namespace: this.#o.namespace }),
        ...(this.#o.labelSelector === undefined ? {} : { labelSelector: this.#o.labelSelector }),
        limit: this.#o.pageSize ?? 500,
        ...(cont === undefined ? {} : { continue: cont }),
        signal,
      });
      for (const item of page.items) {
        // Lists leave out apiVersion and kind of their items.
        items.push(this.#transform({ ...item, apiVersion: item.apiVersion ?? apiVersionOf(this.type), kind: item.kind ?? this.type.kind }));
      }
      rv = page.metadata.resourceVersion;
      cont = page.metadata.continue || undefined;
    } while (cont !== undefined);
    this.#replace(items);
    this.#resourceVersion = rv;
    if (!this.#synced) {
      this.#synced = true;
      this.#log.debug({ items: items.length, resourceVersion: rv }, 'cache synced');
      for (const w of this.#syncWaiters.splice(0)) w();
    }
  }

  /** One watch, until the server ends it; true when it delivered something (`onDelivery` at the first event). */
  async #watch(signal: AbortSignal, onDelivery: () => void): Promise<boolean> {
    this.stats.watches++;
    const timeoutSeconds = this.#o.watchTimeoutSeconds?.() ?? 300 + Math.floor(Math.random() * 300);
    let delivered = false;
    for await (const ev of this.#o.client.watch<T>(this.type, {
      ...(this.#o.namespace === undefined ? {} : { namespace: this.#o.namespace }),
      ...(this.#o.labelSelector === undefined ? {} : { labelSelector: this.#o.labelSelector }),
      ...(this.#resourceVersion === undefined ? {} : { resourceVersion: this.#resourceVersion }),
      timeoutSeconds,
      idleTimeoutMs: (timeoutSeconds + 60) * 1000,
      signal,
    })) {
      if (!delivered) onDelivery();
      delivered = true;
      const rv = ev.object.metadata?.resourceVersion;
      if (ev.type === 'BOOKMARK') {
        if (rv) this.#resourceVersion = rv;
        continue;
      }
      const obj = this.#transform(ev.object);
      const key = keyOf(obj);
      this.#log.trace({ event: ev.type, object: key, resourceVersion: rv }, 'watch event');
      if (ev.type === 'DELETED') this.#delete(key, obj);
      else this.#update(key, obj);
      if (rv) this.#resourceVersion = rv;
    }
    return delivered;
  }

  // -- the store

  #replace(items: T[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      // A list is the truth, whatever resourceVersion the cache holds (etcd may have been restored).
      this.#update(key, item, true);
    }
    for (const [key, old] of [...this.#store]) if (!seen.has(key)) this.#delete(key, old);
  }

  #update(key: string, obj: T, fromList = false): void {
    const old = this.#store.get(key);
    if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    // An event older than the cached object: our own write (upsert) got here first.
    if (old && !fromList && isOlder(obj.metadata?.resourceVersion, old.metadata?.resourceVersion)) return;
    this.#put(key, obj);
    for (const h of this.#handlers) {
      if (old) h.onUpdate?.(old, obj);
      else h.onAdd?.(obj);
    }
  }

  #delete(key: string, obj: T): void {
    const old = this.#store.get(key);
    this.#unindex(key, old);
    this.#store.delete(key);
    for (const h of this.#handlers) h.onDelete?.(old ?? obj);
  }

  #put(key: string, obj: T): void {
    this.#unindex(key, this.#store.get(key));
    this.#store.set(key, obj);
    for (const [name, fn] of Object.entries(this.#o.indexers ?? {})) {
      const index = this.#indices.get(name)!;
      for (const value of fn(obj)) {
        let keys = index.get(value);
        if (!keys) index.set(value, (keys = new Set()));
        keys.add(key);
      }
    }
  }

  #unindex(key: string, old: T | undefined): void {
    if (!old) return;
    for (const [name, fn] of Object.entries(this.#o.indexers ?? {})) {
      const index = this.#indices.get(name)!;
      for (const value of fn(old)) {
        const keys = index.get(value);
        keys?.delete(key);
        if (keys?.size === 0) index.delete(value);
      }
    }
  }
}
