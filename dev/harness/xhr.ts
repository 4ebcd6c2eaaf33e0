// A test-only XMLHttpRequest for Node, enough for BOSH clients written for browsers (Strophe.js):
// asynchronous requests over node:http(s) with a keep-alive agent, readystatechange/load/error/abort/timeout
// events, transparent gzip/deflate like a browser, an optional Origin header (a page's origin), and
// `responseXML` parsed with @xmldom/xmldom.
//
// Why not an npm polyfill: Strophe's BOSH transport reads every response from `responseXML` (its
// `responseText` fallback only checks for a parse error and then returns nothing). xhr2 and xmlhttprequest
// leave `responseXML` out; xmlhttprequest-ssl 4 fills it only through an `xmlParser` constructor option (which
// `new XMLHttpRequest()` in Strophe cannot pass), neither decompresses gzip, and an Origin header needs its
// header check turned off; jsdom has a complete XHR but is a whole browser environment. This file is small,
// needs nothing beyond the packages already installed, and behaves as a browser on the points BOSH touches.
// Synchronous requests are not supported.
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';

export interface XhrExchange {
  method: string;
  url: string;
  requestHeaders: Record<string, string>;
  requestBody: string;
  status: number;
  responseHeaders: IncomingHttpHeaders;
  /** The body as it came over the wire (before decompression). */
  wireBytes: number;
  /** The decoded response text. */
  responseText: string;
}

export interface XhrOptions {
  /** Sent as the Origin header on every request, as a browser page served from this origin would. */
  origin?: string;
  /** Accept-Encoding sent by default (browsers send one); false: none. Default 'gzip, deflate'. */
  acceptEncoding?: string | false;
  /** Agent for http: URLs; default a keep-alive agent with at most 6 sockets per host, like browsers. */
  agent?: http.Agent;
  /** Agent for https: URLs. */
  httpsAgent?: https.Agent;
  /** Called for every completed exchange (not for aborted or failed ones). */
  observe?(exchange: XhrExchange): void;
}

type Handler = ((this: unknown, ev: Event) => unknown) | null;

const UNSENT = 0;
const OPENED = 1;
const HEADERS_RECEIVED = 2;
const LOADING = 3;
const DONE = 4;

// Request headers a page cannot set (Fetch standard, forbidden request-header names); silently ignored.
const FORBIDDEN_HEADERS = new Set([
  'accept-charset',
  'accept-encoding',
  'access-control-request-headers',
  'access-control-request-method',
  'connection',
  'content-length',
  'cookie',
  'cookie2',
  'date',
  'dnt',
  'expect',
  'host',
  'keep-alive',
  'origin',
  'referer',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'via',
]);

export interface NodeXhrClass {
  new (): XMLHttpRequest;
  readonly UNSENT: 0;
  readonly OPENED: 1;
  readonly HEADERS_RECEIVED: 2;
  readonly LOADING: 3;
  readonly DONE: 4;
}

/** Builds an XMLHttpRequest class bound to `options` (origin, agents, observer). */
export function createXMLHttpRequest(options: XhrOptions = {}): NodeXhrClass & { agent: http.Agent; destroy(): void } {
  const agent = options.agent ?? new http.Agent({ keepAlive: true, maxSockets: 6 });
  const httpsAgent = options.httpsAgent ?? new https.Agent({ keepAlive: true, maxSockets: 6 });
  const acceptEncoding = options.acceptEncoding ?? 'gzip, deflate';

  class NodeXMLHttpRequest extends EventTarget {
    static readonly UNSENT = UNSENT;
    static readonly OPENED = OPENED;
    static readonly HEADERS_RECEIVED = HEADERS_RECEIVED;
    static readonly LOADING = LOADING;
    static readonly DONE = DONE;
    readonly UNSENT = UNSENT;
    readonly OPENED = OPENED;
    readonly HEADERS_RECEIVED = HEADERS_RECEIVED;
    readonly LOADING = LOADING;
    readonly DONE = DONE;

    readyState = UNSENT;
    status = 0;
    statusText = '';
    responseText = '';
    responseURL = '';
    responseType: XMLHttpRequestResponseType = '';
    timeout = 0;
    withCredentials = false;
    readonly upload = new EventTarget();

    onreadystatechange: Handler = null;
    onloadstart: Handler = null;
    onprogress: Handler = null;
    onload: Handler = null;
    onerror: Handler = null;
    onabort: Handler = null;
    ontimeout: Handler = null;
    onloadend: Handler = null;

    #method = 'GET';
    #url: URL | undefined;
    #headers = new Map<string, { name: string; value: string }>();
    #sent = false;
    #request: http.ClientRequest | undefined;
    #responseHeaders: IncomingHttpHeaders = {};
    #rawHeaders: string[] = [];
    #overrideMime: string | undefined;
    #document: Document | null | undefined;
    #timer: NodeJS.Timeout | undefined;
    /** Bumped by open() and abort(): events of an older request are dropped. */
    #generation = 0;

    open(method: string, url: string | URL, async = true): void {
      if (!async) throw new DOMException('synchronous XMLHttpRequest is not supported', 'NotSupportedError');
      this.#cancel();
      this.#generation++;
      this.#method = method.toUpperCase();
      this.#url = new URL(String(url));
      this.#headers.clear();
      this.#sent = false;
      this.#resetResponse();
      if (this.readyState !== OPENED) {
        this.readyState = OPENED;
        this.#fire('readystatechange');
      }
    }

    setRequestHeader(name: string, value: string): void {
      if (this.readyState !== OPENED || this.#sent) throw new DOMException('setRequestHeader before open() or after send()', 'InvalidStateError');
      const key = name.toLowerCase();
      if (FORBIDDEN_HEADERS.has(key) || key.startsWith('proxy-') || key.startsWith('sec-')) return;
      const prev = this.#headers.get(key);
      this.#headers.set(key, { name, value: prev === undefined ? String(value) : `${prev.value}, ${value}` });
    }

    overrideMimeType(mime: string): void {
      if (this.readyState === LOADING || this.readyState === DONE) throw new DOMException('overrideMimeType too late', 'InvalidStateError');
      this.#overrideMime = mime;
    }

    send(body?: Document | XMLHttpRequestBodyInit | null): void {
      if (this.readyState !== OPENED || this.#sent) throw new DOMException('send() before open() or twice', 'InvalidStateError');
      const url = this.#url!;
      const payload = this.#method === 'GET' || this.#method === 'HEAD' || body === undefined || body === null ? undefined : toBuffer(body);
      const headers: Record<string, string> = { Accept: '*/*' };
      if (acceptEncoding !== false) headers['Accept-Encoding'] = acceptEncoding;
      if (options.origin !== undefined) headers.Origin = options.origin;
      for (const { name, value } of this.#headers.values()) headers[name] = value;
      if (payload !== undefined) {
        headers['Content-Length'] = String(payload.byteLength);
        if (!this.#headers.has('content-type') && typeof body === 'string') headers['Content-Type'] = 'text/plain;charset=UTF-8';
      }
      this.#sent = true;
      const generation = this.#generation;
      const current = () => generation === this.#generation;
      this.#fire('loadstart');
      const exchange: XhrExchange = {
        method: this.#method,
        url: url.href,
        requestHeaders: headers,
        requestBody: payload === undefined ? '' : payload.toString('utf8'),
        status: 0,
        responseHeaders: {},
        wireBytes: 0,
        responseText: '',
      };
      const transport = url.protocol === 'https:' ? https : http;
      const req = transport.request(url, { method: this.#method, headers, agent: url.protocol === 'https:' ? httpsAgent : agent });
      this.#request = req;
      if (this.timeout > 0) {
        this.#timer = setTimeout(() => {
          if (!current()) return;
          this.#fail('timeout');
        }, this.timeout);
      }
      req.on('response', (res) => {
        if (!current()) return void res.resume();
        this.status = res.statusCode ?? 0;
        this.statusText = res.statusMessage ?? '';
        this.responseURL = url.href;
        this.#responseHeaders = res.headers;
        this.#rawHeaders = res.rawHeaders;
        this.readyState = HEADERS_RECEIVED;
        this.#fire('readystatechange');
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          if (!current()) return;
          chunks.push(chunk);
          if (this.readyState === HEADERS_RECEIVED) {
            this.readyState = LOADING;
            this.#fire('readystatechange');
          }
        });
        res.on('end', () => {
          if (!current()) return;
          clearTimeout(this.#timer);
          const wire = Buffer.concat(chunks);
          let decoded: Buffer;
          try {
            decoded = decompress(wire, String(res.headers['content-encoding'] ?? ''));
          } catch {
            return this.#fail('error');
          }
          this.responseText = decodeText(decoded, charsetOf(this.#mime()));
          this.#request = undefined;
          if (this.readyState === HEADERS_RECEIVED) {
            this.readyState = LOADING;
            this.#fire('readystatechange');
          }
          this.readyState = DONE;
          exchange.status = this.status;
          exchange.responseHeaders = res.headers;
          exchange.wireBytes = wire.byteLength;
          exchange.responseText = this.responseText;
          options.observe?.(exchange);
          this.#fire('readystatechange');
          this.#fire('load');
          this.#fire('loadend');
        });
        res.on('error', () => current() && this.#fail('error'));
      });
      req.on('error', () => current() && this.#fail('error'));
      req.end(payload);
    }

    abort(): void {
      const active = (this.readyState === OPENED && this.#sent) || this.readyState === HEADERS_RECEIVED || this.readyState === LOADING;
      if (active) {
        this.#fail('abort');
      }
      if (this.readyState === DONE) {
        // No readystatechange for this last step (XHR standard, abort()).
        this.readyState = UNSENT;
        this.#resetResponse();
      }
    }

    getResponseHeader(name: string): string | null {
      if (this.readyState < HEADERS_RECEIVED) return null;
      const v = this.#responseHeaders[name.toLowerCase()];
      if (v === undefined) return null;
      return Array.isArray(v) ? v.join(', ') : String(v);
    }

    getAllResponseHeaders(): string {
      if (this.readyState < HEADERS_RECEIVED) return '';
      const combined = new Map<string, string[]>();
      for (let i = 0; i + 1 < this.#rawHeaders.length; i += 2) {
        const name = this.#rawHeaders[i]!.toLowerCase();
        combined.set(name, [...(combined.get(name) ?? []), this.#rawHeaders[i + 1]!]);
      }
      return [...combined.keys()]
        .sort()
        .map((name) => `${name}: ${combined.get(name)!.join(', ')}\r\n`)
        .join('');
    }

    get response(): unknown {
      if (this.responseType === '' || this.responseType === 'text') return this.responseText;
      if (this.responseType === 'document') return this.responseXML;
      if (this.responseType === 'json') {
        try {
          return JSON.parse(this.responseText);
        } catch {
          return null;
        }
      }
      return null;
    }

    /** The response as an XML document: null before DONE, for a non-XML type, or on a parse error (XHR standard). */
    get responseXML(): Document | null {
      if (this.readyState !== DONE || (this.responseType !== '' && this.responseType !== 'document')) return null;
      if (this.#document !== undefined) return this.#document;
      const essence = this.#mime().split(';', 1)[0]!.trim().toLowerCase();
      const xml = essence === 'text/xml' || essence === 'application/xml' || essence.endsWith('+xml');
      if (!xml || this.responseText === '') return (this.#document = null);
      try {
        const parser = new DOMParser({
          onError: (level: string, message: unknown) => {
            if (level === 'error' || level === 'fatalError') throw new Error(String(message));
          },
        });
        this.#document = parser.parseFromString(this.responseText, 'text/xml') as unknown as Document;
      } catch {
        this.#document = null;
      }
      return this.#document;
    }

    #mime(): string {
      return this.#overrideMime ?? String(this.#responseHeaders['content-type'] ?? 'text/xml');
    }

    #resetResponse(): void {
      this.status = 0;
      this.statusText = '';
      this.responseText = '';
      this.responseURL = '';
      this.#responseHeaders = {};
      this.#rawHeaders = [];
      this.#document = undefined;
    }

    /** Drops the HTTP request in flight without events. */
    #cancel(): void {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      const req = this.#request;
      this.#request = undefined;
      req?.destroy();
    }

    /** The request error steps: a network error, a timeout or an abort. */
    #fail(kind: 'error' | 'timeout' | 'abort'): void {
      this.#cancel();
      this.#generation++;
      this.#resetResponse();
      this.readyState = DONE;
      this.#sent = false;
      this.#fire('readystatechange');
      this.#fire(kind);
      this.#fire('loadend');
    }

    #fire(type: string): void {
      const event = new Event(type);
      const handler = (this as unknown as Record<string, Handler>)[`on${type}`];
      if (typeof handler === 'function') {
        try {
          handler.call(this, event);
        } catch (err) {
          // As in a browser: reported, and the request goes on.
          process.nextTick(() => {
            throw err;
          });
        }
      }
      this.dispatchEvent(event);
    }
  }

  return Object.assign(NodeXMLHttpRequest as unknown as NodeXhrClass, {
    agent,
    destroy() {
      agent.destroy();
      httpsAgent.destroy();
    },
  });
}

/**
 * Installs a Node XMLHttpRequest as globalThis.XMLHttpRequest (what browser libraries look up at call time).
 * Returns a function that restores the previous global and closes the agent's idle sockets.
 */
export function installXMLHttpRequest(options: XhrOptions = {}): () => void {
  const g = globalThis as { XMLHttpRequest?: unknown };
  const previous = g.XMLHttpRequest;
  const Xhr = createXMLHttpRequest(options);
  g.XMLHttpRequest = Xhr;
  return () => {
    if (g.XMLHttpRequest === Xhr) g.XMLHttpRequest = previous;
    Xhr.destroy();
  };
}

function toBuffer(body: Document | XMLHttpRequestBodyInit): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString(), 'utf8');
  throw new TypeError('this XMLHttpRequest sends strings and byte buffers only');
}

function decompress(body: Buffer, encoding: string): Buffer {
  const e = encoding.trim().toLowerCase();
  if (e === '' || e === 'identity') return body;
  if (e === 'gzip' || e === 'x-gzip') return gunzipSync(body);
  if (e === 'deflate') return inflateSync(body);
  if (e === 'br') return brotliDecompressSync(body);
  throw new Error(`unsupported Content-Encoding ${encoding}`);
}

function decodeText(bytes: Buffer, charset: string | undefined): string {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset ?? 'utf-8');
  } catch {
    decoder = new TextDecoder('utf-8');
  }
  return decoder.decode(bytes);
}

function charsetOf(mime: string): string | undefined {
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(mime);
  return m?.[1]?.toLowerCase();
}
