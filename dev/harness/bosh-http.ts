// A raw BOSH client over node:http for protocol edges no library exercises: exact bytes, rid games,
// held requests, legacy clients, CORS and odd methods. One TCP connection per request (agent: false), so
// requests held by the connection manager never queue behind each other.
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { gunzipSync } from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';

export const HTTPBIND_NS = 'http://jabber.org/protocol/httpbind';
export const XBOSH_NS = 'urn:xmpp:xbosh';
export const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl';
export const BIND_NS = 'urn:ietf:params:xml:ns:xmpp-bind';
export const STREAMS_NS = 'http://etherx.jabber.org/streams';

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  /** Bytes as received (before any Content-Encoding is undone). */
  wire: Buffer;
  /** The body, gunzipped when Content-Encoding says gzip. */
  bytes: Buffer;
  text: string;
  /** Milliseconds from sending the request to the end of the response. */
  elapsedMs: number;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Reject if no complete response arrives in this time (default 30 s). */
  timeoutMs?: number;
  /** Aborts the request (the promise rejects with an AbortError). */
  signal?: AbortSignal;
  /** CA certificates (PEM) trusted for an https: URL. */
  ca?: string;
  /** Local address to connect from (e.g. 127.0.0.2, so that the server sees distinct clients). */
  localAddress?: string;
}

/** One HTTP request on its own connection. Resolves with the whole response; rejects on network errors. */
export function httpRequest(url: string, body?: string | Buffer, options: RequestOptions = {}): Promise<HttpResult> {
  const method = options.method ?? 'POST';
  const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const headers: Record<string, string> = { ...options.headers };
  if (payload !== undefined) {
    headers['Content-Length'] ??= String(payload.byteLength);
    headers['Content-Type'] ??= 'text/xml; charset=utf-8';
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = url.startsWith('https:')
      ? https.request(url, { method, headers, agent: false, signal: options.signal, ca: options.ca, localAddress: options.localAddress })
      : http.request(url, { method, headers, agent: false, signal: options.signal, localAddress: options.localAddress });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${url}: no response within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const wire = Buffer.concat(chunks);
        let bytes = wire;
        try {
          if (/gzip/i.test(String(res.headers['content-encoding'] ?? ''))) bytes = gunzipSync(wire);
        } catch (err) {
          return reject(err as Error);
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, wire, bytes, text: bytes.toString('utf8'), elapsedMs: performance.now() - started });
      });
    });
    req.end(payload);
  });
}

export interface ParsedBody {
  /** The <body/> attributes by qualified name as written (xmlns declarations included). */
  attrs: Record<string, string>;
  /** Top-level children. */
  children: Element[];
  /** Each child serialized. */
  xml: string[];
}

/** Parses a BOSH response body (throws on anything but a well-formed httpbind <body/>). */
export function parseBody(text: string): ParsedBody {
  const doc = new DOMParser({
    onError: (level: string, message: unknown) => {
      if (level !== 'warning') throw new Error(`response is not well-formed (${String(message)}): ${text.slice(0, 500)}`);
    },
  }).parseFromString(text, 'text/xml') as unknown as Document;
  const root = doc.documentElement;
  if (root === null || root.localName !== 'body' || root.namespaceURI !== HTTPBIND_NS) {
    throw new Error(`response is not an httpbind <body/>: ${text.slice(0, 500)}`);
  }
  const attrs: Record<string, string> = {};
  for (let i = 0; i < root.attributes.length; i++) {
    const a = root.attributes.item(i)!;
    attrs[a.name] = a.value;
  }
  const children: Element[] = [];
  for (let n = root.firstChild; n !== null; n = n.nextSibling) if (n.nodeType === 1) children.push(n as Element);
  return { attrs, children, xml: children.map((c) => String(c)) };
}

export function escapeAttr(value: string): string {
  return value.replace(/[&<>'"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** <body xmlns='…httpbind' …attrs>payloads</body>; attributes with undefined values are left out. */
export function buildBody(attrs: Record<string, string | number | undefined>, payloads: readonly string[] = []): string {
  let out = `<body xmlns='${HTTPBIND_NS}'`;
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) out += ` ${k}='${escapeAttr(String(v))}'`;
  return payloads.length === 0 ? `${out}/>` : `${out}>${payloads.join('')}</body>`;
}

export interface BoshExchange extends HttpResult {
  rid: number;
  body: ParsedBody;
}

export interface CreateOptions {
  to?: string;
  wait?: number;
  hold?: number;
  /** BOSH version; null: leave `ver` out (a legacy client, §17.1). */
  ver?: string | null;
  /** More creation attributes (override the defaults). */
  attrs?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * A raw BOSH session: creation, requests with consecutive rids (or chosen ones), and a stanza queue filled
 * from every response, for SASL PLAIN login and simple exchanges.
 */
export class RawBoshSession {
  readonly url: string;
  sid = '';
  /** The rid the next request() will use. */
  rid: number;
  /** Creation response attributes. */
  created: Record<string, string> = {};
  /** Stanzas and stream elements received, not yet taken. */
  readonly inbox: Element[] = [];
  /** Terminal response seen (type='terminate'), if any. */
  terminated: ParsedBody | undefined;
  headers: Record<string, string>;
  readonly ca: string | undefined;

  /** Local address every request connects from, unless a request names its own. */
  localAddress: string | undefined;

  constructor(url: string, options: { rid?: number; headers?: Record<string, string>; ca?: string; localAddress?: string } = {}) {
    this.url = url;
    this.localAddress = options.localAddress;
    this.rid = options.rid ?? 1_000_000 + Math.floor(Math.random() * 1_000_000);
    this.headers = options.headers ?? {};
    this.ca = options.ca;
  }

  /** The session creation request (§7.1, XEP-0206 §3); resolves with its response. */
  async create(options: CreateOptions = {}): Promise<BoshExchange> {
    const attrs: Record<string, string | number | undefined> = {
      rid: this.rid,
      to: options.to ?? 'example.com',
      'xml:lang': 'en',
      wait: options.wait ?? 10,
      hold: options.hold ?? 1,
      ver: options.ver === null ? undefined : (options.ver ?? '1.11'),
      'xmpp:version': '1.0',
      'xmlns:xmpp': XBOSH_NS,
      ...options.attrs,
    };
    const res = await this.post(this.rid, buildBody(attrs), { headers: options.headers, timeoutMs: options.timeoutMs });
    this.rid++;
    if (res.body.attrs.sid !== undefined) {
      this.sid = res.body.attrs.sid;
      this.created = res.body.attrs;
    }
    return res;
  }

  /** A request with the next rid. */
  async request(payloads: readonly string[] = [], attrs: Record<string, string | number | undefined> = {}, options: RequestOptions = {}): Promise<BoshExchange> {
    const rid = this.rid++;
    return this.send(rid, payloads, attrs, options);
  }

  /** A request with an explicit rid (the counter is not touched). */
  send(rid: number, payloads: readonly string[] = [], attrs: Record<string, string | number | undefined> = {}, options: RequestOptions = {}): Promise<BoshExchange> {
    return this.post(rid, buildBody({ rid, sid: this.sid, ...attrs }, payloads), options);
  }

  /** Posts a prepared body text as `rid`'s request; collects its children into the inbox. */
  async post(rid: number, text: string | Buffer, options: RequestOptions = {}): Promise<BoshExchange> {
    const res = await httpRequest(this.url, text, { ca: this.ca, localAddress: this.localAddress, ...options, headers: { ...this.headers, ...options.headers } });
    if (res.status !== 200) return { ...res, rid, body: { attrs: {}, children: [], xml: [] } };
    const body = parseBody(res.text);
    if (body.attrs.type === 'terminate') this.terminated = body;
    this.inbox.push(...body.children);
    return { ...res, rid, body };
  }

  /**
   * The next inbox element matching `predicate`, sending empty requests (one at a time) until it arrives.
   * Throws when the session terminates or `timeoutMs` passes.
   */
  async take(predicate: (e: Element) => boolean, timeoutMs = 15_000): Promise<Element> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex(predicate);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      if (this.terminated !== undefined) throw new Error(`session terminated: ${JSON.stringify(this.terminated.attrs)}`);
      if (Date.now() >= deadline) throw new Error(`no matching element within ${timeoutMs} ms; inbox: ${this.inbox.map(String).join(' ')}`);
      await this.request([], {}, { timeoutMs: Math.max(1_000, deadline - Date.now() + 5_000) });
    }
  }

  /** SASL PLAIN, stream restart (XEP-0206 §5) and resource binding. Resolves with the bound JID. */
  async login(user: string, password: string, domain = 'example.com', resource = 'raw'): Promise<string> {
    await this.take((e) => e.localName === 'features');
    const plain = Buffer.from(`\0${user}\0${password}`, 'utf8').toString('base64');
    await this.request([`<auth xmlns='${SASL_NS}' mechanism='PLAIN'>${plain}</auth>`]);
    const outcome = await this.take((e) => e.namespaceURI === SASL_NS && (e.localName === 'success' || e.localName === 'failure'));
    if (outcome.localName !== 'success') throw new Error(`SASL failed: ${String(outcome)}`);
    await this.request([], { 'xmpp:restart': 'true', 'xmlns:xmpp': XBOSH_NS, to: domain, 'xml:lang': 'en' });
    await this.take((e) => e.localName === 'features');
    await this.request([`<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='${BIND_NS}'><resource>${escapeAttr(resource)}</resource></bind></iq>`]);
    const iq = await this.take((e) => e.localName === 'iq' && e.getAttribute('id') === 'bind1');
    if (iq.getAttribute('type') !== 'result') throw new Error(`bind failed: ${String(iq)}`);
    const jid = iq.getElementsByTagNameNS(BIND_NS, 'jid').item(0)?.textContent ?? '';
    return jid;
  }

  /** type='terminate' with the next rid (§13). */
  terminate(payloads: readonly string[] = []): Promise<BoshExchange> {
    return this.request(payloads, { type: 'terminate' });
  }
}

/** Text of the first child element named `local` (any namespace), or undefined. */
export function childText(e: Element, local: string): string | undefined {
  for (let n = e.firstChild; n !== null; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).localName === local) return (n as Element).textContent ?? '';
  }
  return undefined;
}

export interface RawHttpResult {
  /** Everything the server sent until it closed the connection (or the timeout). */
  text: string;
  status: number;
  /** How the connection ended: the server closed it (FIN), reset it, or we gave up waiting. */
  ended: 'closed' | 'reset' | 'timeout';
}

/**
 * Writes `head` and then `body` on a fresh TCP connection and reads until the server closes it: for requests
 * no HTTP client would send (a Content-Length larger than the body, garbage), where the exact bytes and the
 * connection's fate matter. `body` is written after the head in one write; the connection is not half-closed.
 */
export function rawHttpExchange(port: number, head: string, body: Buffer | string = '', timeoutMs = 10_000): Promise<RawHttpResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (ended: RawHttpResult['ended']) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ text, status: m ? Number(m[1]) : 0, ended });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => finish('closed'));
    socket.on('error', () => finish('reset'));
    socket.on('close', () => finish('closed'));
    socket.write(head);
    if (body.length > 0) socket.write(body);
  });
}
