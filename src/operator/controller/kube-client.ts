// A small Kubernetes REST client: JSON over HTTPS with the credentials of a KubeConfig, the verbs the
// operator needs (get, list, watch, server-side apply, create, update, delete) and nothing else.
// Every call is reported (onCall) with its RBAC group/resource/verb, which feeds the request metrics and the
// test that the operator's RBAC rules (rbac.ts) cover what it does. Writes can be gated (leader election):
// a gated client refuses to write while the gate is closed.
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Credentials } from './kubeconfig.ts';
import { collectionPath, objectPath, type ResourceType } from './resources.ts';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export interface ApiCall {
  verb: Verb;
  /** '' for the core group; undefined for a non-resource URL */
  group?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  /** discovery and other non-resource URLs, e.g. /apis/cert-manager.io/v1 */
  nonResourceURL?: string;
  /** HTTP status; 0 when no response came */
  status: number;
}

/** An error response of the API server (a metav1.Status), or a transport failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly details: unknown;
  constructor(status: number, reason: string, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
    this.details = details;
  }
}

/** A write refused because this replica does not hold the leader Lease. */
export class NotLeaderError extends Error {
  constructor() {
    super('not the leader: write refused');
    this.name = 'NotLeaderError';
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.status === 409;
export const isGone = (e: unknown): boolean => e instanceof ApiError && e.status === 410;
export const isInvalid = (e: unknown): boolean => e instanceof ApiError && e.status === 422;

export interface ListResult<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

interface Status {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: unknown;
}

export interface KubeClientOptions {
  /** sent as User-Agent */
  userAgent?: string;
  /** field manager of server-side apply */
  fieldManager?: string;
  /** every call, after its response (or failure) */
  onCall?: (call: ApiCall) => void;
  /** timeout of a request that is not a watch (default 30 s) */
  requestTimeoutMs?: number;
}

interface RequestSpec {
  method: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  call: Omit<ApiCall, 'status'>;
  signal?: AbortSignal;
}

/** Connection, credentials and call log; shared by the clients made from one another (withWriteGate). */
class Transport {
  readonly server: URL;
  readonly #kc: Credentials;
  #agent: http.Agent | undefined;
  readonly options: Required<Pick<KubeClientOptions, 'userAgent' | 'fieldManager' | 'requestTimeoutMs'>> & Pick<KubeClientOptions, 'onCall'>;

  constructor(kc: Credentials, options: KubeClientOptions) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig names no current cluster');
    this.#kc = kc;
    this.server = new URL(cluster.server);
    this.options = {
      userAgent: options.userAgent ?? 'xmpp-web-gateway-operator',
      fieldManager: options.fieldManager ?? 'xmpp-web-gateway',
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      ...(options.onCall ? { onCall: options.onCall } : {}),
    };
  }

  /** Request options with fresh credentials (tokens are re-read each time) over one keep-alive agent. */
  async requestOptions(): Promise<https.RequestOptions> {
    const opts: https.RequestOptions = {};
    await this.#kc.applyToHTTPSOptions(opts);
    const proxied = Boolean(this.#kc.getCurrentCluster()?.proxyUrl);
    if (!proxied) {
      this.#agent ??=
        this.server.protocol === 'http:'
          ? new http.Agent({ keepAlive: true })
          : new https.Agent({
              keepAlive: true,
              ...(opts.ca === undefined ? {} : { ca: opts.ca }),
              ...(opts.cert === undefined ? {} : { cert: opts.cert }),
              ...(opts.key === undefined ? {} : { key: opts.key }),
              ...(opts.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: opts.rejectUnauthorized }),
              ...(opts.servername === undefined ? {} : { servername: opts.servername }),
            });
      opts.agent = this.#agent;
    }
    return opts;
  }

  url(path: string, query: RequestSpec['query']): URL {
    const url = new URL(path, this.server);
    if (this.server.pathname !== '/' && this.server.pathname !== '') url.pathname = this.server.pathname.replace(/\/$/, '') + path;
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    return url;
  }

  record(call: Omit<ApiCall, 'status'>, status: number): void {
    this.options.onCall?.({ ...call, status });
  }

  /** Sends one request; resolves with the response stream (the caller reads or destroys it). */
  async open(spec: RequestSpec, timeoutMs: number | undefined): Promise<http.IncomingMessage> {
    const opts = await this.requestOptions();
    const url = this.url(spec.path, spec.query);
    const headers: Record<string, string> = {
      ...(opts.headers as Record<string, string> | undefined),
      accept: 'application/json',
      'user-agent': this.options.userAgent,
    };
    let payload: string | undefined;
    if (spec.body !== undefined) {
      payload = JSON.stringify(spec.body);
      headers['content-type'] = spec.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const mod = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { ...opts, method: spec.method, headers, ...(spec.signal ? { signal: spec.signal } : {}) });
      if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${spec.method} ${spec.path}`)));
      req.on('response', resolve);
      req.on('error', reject);
      req.end(payload);
    });
  }
}

async function readBody(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function errorFrom(spec: RequestSpec, status: number, text: string): ApiError {
  let s: Status = {};
  try {
    s = JSON.parse(text) as Status;
  } catch {
    // not a Status
  }
  const message = s.message ?? (text.slice(0, 500) || `HTTP ${status}`);
  return new ApiError(status, s.reason ?? `HTTP${status}`, `${spec.method} ${spec.path}: ${message}`, s.details);
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  signal?: AbortSignal;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  /** the server ends the watch after this long (client-go picks 5–10 minutes) */
  timeoutSeconds?: number;
  /** the client ends it when nothing (not even a bookmark) arrived for this long */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface DeleteOptions {
  /** delete only this incarnation of the object (metadata.uid) */
  uid?: string;
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
}

export class KubeClient {
  readonly #t: Transport;
  readonly #gate: (() => boolean) | undefined;
  readonly #timeoutMs: number | undefined;

  private constructor(t: Transport, gate?: () => boolean, timeoutMs?: number) {
    this.#t = t;
    this.#gate = gate;
    this.#timeoutMs = timeoutMs;
  }

  static fromKubeConfig(kc: Credentials, options: KubeClientOptions = {}): KubeClient {
    return new KubeClient(new Transport(kc, options));
  }

  get fieldManager(): string {
    return this.#t.options.fieldManager;
  }

  /** The same connection; its writes fail with NotLeaderError whenever `open()` is false. */
  withWriteGate(open: () => boolean): KubeClient {
    return new KubeClient(this.#t, open, this.#timeoutMs);
  }

  /** The same connection with another timeout for requests other than watches. */
  withRequestTimeout(ms: number): KubeClient {
    return new KubeClient(this.#t, this.#gate, ms);
  }

  async #json<T>(spec: RequestSpec): Promise<T> {
    if (spec.method !== 'GET' && this.#gate && !this.#gate()) throw new NotLeaderError();
    let status = 0;
    try {
      const res = await this.#t.open(spec, this.#timeoutMs ?? this.#t.options.requestTimeoutMs);
      status = res.statusCode ?? 0;
      const text = await readBody(res);
      if (status < 200 || status >= 300) throw errorFrom(spec, status, text);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError(0, 'TransportError', `${spec.method} ${spec.path}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.#t.record(spec.call, status);
    }
  }

  async get<T extends KubernetesObject>(t: ResourceType, namespace: string | undefined, name: string, subresource?: string): Promise<T | undefined> {
    try {
      return await this.#json<T>({
        method: 'GET',
        path: objectPath(t, namespace, name, subresource),
        call: call('get', t, namespace, subresource),
      });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  list<T extends KubernetesObject>(t: ResourceType, o: ListOptions = {}): Promise<ListResult<T>> {
    return this.#json<ListResult<T>>({
      method: 'GET',
      path: collectionPath(t, o.namespace),
      query: { labelSelector: o.labelSelector, fieldSelector: o.fieldSelector, limit: o.limit, continue: o.continue, resourceVersion: o.resourceVersion },
      call: call('list', t, o.namespace),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }

  /**
   * A watch as a stream of events. Ends when the server closes it (timeoutSeconds) or the signal aborts;
   * throws ApiError on an error response, including an ERROR event (410 Gone: relist).
   */
  async *watch<T extends KubernetesObject>(t: ResourceType, o: WatchOptions = {}): AsyncGenerator<WatchEvent<T>> {
    const spec: RequestSpec = {
      method: 'GET',
      path: collectionPath(t, o.namespace),
      query: {
        watch: 1,
        allowWatchBookmarks: true,
        labelSelector: o.labelSelector,
        fieldSelector: o.fieldSelector,
        resourceVersion: o.resourceVersion,
        timeoutSeconds: o.timeoutSeconds,
      },
      call: call('watch', t, o.namespace),
      ...(o.signal ? { signal: o.signal } : {}),
    };
    let res: http.IncomingMessage;
    try {
      res = await this.#t.open(spec, undefined);
    } catch (e) {
      this.#t.record(spec.call, 0);
      throw new ApiError(0, 'TransportError', `watch ${spec.path}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const status = res.statusCode ?? 0;
    this.#t.record(spec.call, status);
    if (status < 200 || status >= 300) throw errorFrom(spec, status, await readBody(res));

    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      if (o.idleTimeoutMs === undefined) return;
      clearTimeout(idle);
      idle = setTimeout(() => res.destroy(new Error(`watch ${spec.path}: nothing received for ${o.idleTimeoutMs} ms`)), o.idleTimeoutMs);
    };
    touch();
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        touch();
        if (line.trim() === '') continue;
        const event = JSON.parse(line) as WatchEvent<T>;
        if (event.type === 'ERROR') {
          const s = event.object as Status;
          throw new ApiError(s.code ?? 500, s.reason ?? 'WatchError', `watch ${spec.path}: ${s.message ?? 'error event'}`);
        }
        yield event;
      }
    } catch (e) {
      if (e instanceof ApiError) throw e;
      if (o.signal?.aborted) return;
      throw new ApiError(0, 'TransportError', e instanceof Error ? e.message : String(e));
    } finally {
      clearTimeout(idle);
      lines.close();
      res.destroy();
    }
  }

  /** Server-side apply (force: take over fields others changed), of an object or of its status. */
  apply<T extends KubernetesObject>(t: ResourceType, obj: KubernetesObject, opts: { subresource?: string; force?: boolean } = {}): Promise<T> {
    const namespace = obj.metadata?.namespace;
    return this.#json<T>({
      method: 'PATCH',
      path: objectPath(t, namespace, obj.metadata?.name ?? '', opts.subresource),
      query: { fieldManager: this.#t.options.fieldManager, force: opts.force ?? true },
      body: obj,
      contentType: 'application/apply-patch+yaml',
      call: call('patch', t, namespace, opts.subresource),
    });
  }

  /** JSON merge patch (RFC 7386) of a few fields, e.g. one annotation, without taking ownership of more. */
  patch<T extends KubernetesObject>(t: ResourceType, namespace: string | undefined, name: string, patch: object): Promise<T> {
    return this.#json<T>({
      method: 'PATCH',
      path: objectPath(t, namespace, name),
      query: { fieldManager: this.#t.options.fieldManager },
      body: patch,
      contentType: 'application/merge-patch+json',
      call: call('patch', t, namespace),
    });
  }

  create<T extends KubernetesObject>(t: ResourceType, namespace: string | undefined, obj: KubernetesObject): Promise<T> {
    return this.#json<T>({
      method: 'POST',
      path: collectionPath(t, namespace),
      query: { fieldManager: this.#t.options.fieldManager },
      body: obj,
      call: call('create', t, namespace),
    });
  }

  /** PUT: fails with 409 when obj.metadata.resourceVersion is not the current one. */
  update<T extends KubernetesObject>(t: ResourceType, obj: KubernetesObject): Promise<T> {
    const namespace = obj.metadata?.namespace;
    return this.#json<T>({
      method: 'PUT',
      path: objectPath(t, namespace, obj.metadata?.name ?? ''),
      query: { fieldManager: this.#t.options.fieldManager },
      body: obj,
      call: call('update', t, namespace),
    });
  }

  /** true when deleted (or being deleted), false when it was not there. */
  async delete(t: ResourceType, namespace: string | undefined, name: string, o: DeleteOptions = {}): Promise<boolean> {
    try {
      await this.#json({
        method: 'DELETE',
        path: objectPath(t, namespace, name),
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          ...(o.uid === undefined ? {} : { preconditions: { uid: o.uid } }),
          propagationPolicy: o.propagationPolicy ?? 'Background',
        },
        call: call('delete', t, namespace),
      });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /** The resources of a group version (discovery), or undefined when the group version is not served. */
  async discover(groupVersion: string): Promise<{ name: string; kind: string; verbs?: string[] }[] | undefined> {
    const path = groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
    try {
      const list = await this.#json<{ resources?: { name: string; kind: string; verbs?: string[] }[] }>({
        method: 'GET',
        path,
        call: { verb: 'get', nonResourceURL: path },
      });
      return list.resources ?? [];
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }
}

function call(verb: Verb, t: ResourceType, namespace: string | undefined, subresource?: string): Omit<ApiCall, 'status'> {
  return {
    verb,
    group: t.group,
    resource: t.resource,
    ...(subresource === undefined ? {} : { subresource }),
    ...(namespace === undefined ? {} : { namespace }),
  };
}
