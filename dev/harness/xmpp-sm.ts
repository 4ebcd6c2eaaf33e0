// A minimal XMPP client with stream management (XEP-0198) over a raw RFC 7395 WebSocket or raw BOSH
// (XEP-0124/0206), for tests that count every stanza: `h` is exact, the outbound queue is resent on
// resumption, and every message received is tallied by id so losses and duplicates show.
//
// A connection is a Link (one WebSocket, or one BOSH session); the client survives its links: when one goes
// down (node killed, drained, upstream gone) the test decides where to resume().
import http from 'node:http';
import { DOMParser } from '@xmldom/xmldom';
import WebSocket from 'ws';
import { buildBody, escapeAttr, parseBody, XBOSH_NS } from './bosh-http.ts';

export const SM_NS = 'urn:xmpp:sm:3';
export const FRAMING_NS = 'urn:ietf:params:xml:ns:xmpp-framing';
const CLIENT_NS = 'jabber:client';
const STREAMS_NS = 'http://etherx.jabber.org/streams';
const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl';
const BIND_NS = 'urn:ietf:params:xml:ns:xmpp-bind';
const STREAM_ERROR_NS = 'urn:ietf:params:xml:ns:xmpp-streams';
const STANZAS = new Set(['message', 'presence', 'iq']);

export type Endpoint =
  | { kind: 'websocket'; url: string; localAddress?: string; headers?: Record<string, string> }
  | { kind: 'bosh'; url: string; wait?: number; localAddress?: string; headers?: Record<string, string> };

/** How a link ended. */
export interface LinkDown {
  /** Short description: `ws close 1000`, `bosh terminate see-other-uri`, `ECONNREFUSED`… */
  reason: string;
  /** The server said where to go (RFC 7395 §3.6.1 `see-other-uri`, XEP-0124 §17.2 see-other-uri). */
  seeOtherUri?: string;
  /** Stream error condition received (WebSocket), or inside a BOSH remote-stream-error. */
  streamError?: string;
  /** BOSH terminal condition. */
  condition?: string;
  /** RFC 7395: a <close/> arrived before the socket closed; BOSH: a terminate body arrived. */
  clean: boolean;
  /** WebSocket close code. */
  code?: number;
  /** BOSH: what the failed request carried and when it was sent. */
  detail?: string;
}

interface LinkHandlers {
  element(e: Element): void;
  down(d: LinkDown): void;
}

interface Link {
  /** Resolves once the first stream is open (WebSocket <open/> answered, BOSH session created). */
  start(): Promise<void>;
  send(xml: string): void;
  /** A new stream on the same link (after SASL). */
  restart(): void;
  /** Ends the stream cleanly; resolves once the link is down. */
  close(): Promise<void>;
  /** Drops the link without a word (network loss). */
  abort(): void;
  /** Stops reading (WebSocket: the TCP socket is paused) or fetching (BOSH: no more requests). */
  pause(): void;
  readonly up: boolean;
}

/** Parses one serialized element (throws on anything else). */
export function parseElement(xml: string): Element {
  let error: string | undefined;
  const doc = new DOMParser({
    onError: (level: string, message: unknown) => {
      if (level !== 'warning') error ??= String(message);
    },
  }).parseFromString(xml, 'text/xml') as unknown as Document;
  if (error !== undefined || doc.documentElement === null) throw new Error(`not one element (${error}): ${xml.slice(0, 300)}`);
  return doc.documentElement;
}

class WebSocketLink implements Link {
  readonly #endpoint: Extract<Endpoint, { kind: 'websocket' }>;
  readonly #domain: string;
  readonly #h: LinkHandlers;
  #ws: WebSocket | undefined;
  #up = false;
  #down = false;
  #closeSeen: { seeOtherUri?: string } | undefined;
  #streamError: string | undefined;
  #opened: (() => void) | undefined;
  #downWaiters: (() => void)[] = [];

  constructor(endpoint: Extract<Endpoint, { kind: 'websocket' }>, domain: string, handlers: LinkHandlers) {
    this.#endpoint = endpoint;
    this.#domain = domain;
    this.#h = handlers;
  }

  get up(): boolean {
    return this.#up && !this.#down;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.#endpoint.url, ['xmpp'], {
        headers: this.#endpoint.headers ?? {},
        ...(this.#endpoint.localAddress ? { localAddress: this.#endpoint.localAddress } : {}),
      });
      this.#ws = ws;
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      this.#opened = () => {
        if (settled) return;
        settled = true;
        this.#up = true;
        resolve();
      };
      ws.once('unexpected-response', (_req, res) => {
        fail(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
        res.resume();
        ws.terminate();
      });
      ws.on('error', (err) => fail(err));
      ws.on('open', () => ws.send(open(this.#domain)));
      ws.on('message', (data) => this.#message(data.toString()));
      ws.on('close', (code) => {
        fail(new Error(`websocket closed (${code}) before the stream opened`));
        this.#emitDown({
          reason: `ws close ${code}`,
          code,
          clean: this.#closeSeen !== undefined,
          ...(this.#closeSeen?.seeOtherUri ? { seeOtherUri: this.#closeSeen.seeOtherUri } : {}),
          ...(this.#streamError ? { streamError: this.#streamError } : {}),
        });
      });
    });
  }

  #message(text: string): void {
    let e: Element;
    try {
      e = parseElement(text);
    } catch {
      this.#streamError ??= 'client-parse-error';
      this.abort();
      return;
    }
    if (e.namespaceURI === FRAMING_NS) {
      if (e.localName === 'open') this.#opened?.();
      else if (e.localName === 'close') {
        const uri = e.getAttribute('see-other-uri');
        this.#closeSeen = uri ? { seeOtherUri: uri } : {};
        // §3.6: answer the server's <close/> and let it close the socket.
        if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(CLOSE);
      }
      return;
    }
    if (e.namespaceURI === STREAMS_NS && e.localName === 'error') this.#streamError = streamErrorCondition(e);
    this.#h.element(e);
  }

  send(xml: string): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(xml);
  }

  restart(): void {
    this.send(open(this.#domain));
  }

  close(): Promise<void> {
    if (this.#down) return Promise.resolve();
    const gone = new Promise<void>((resolve) => this.#downWaiters.push(resolve));
    this.send(CLOSE);
    const timer = setTimeout(() => this.abort(), 5_000);
    return gone.finally(() => clearTimeout(timer));
  }

  abort(): void {
    this.#ws?.terminate();
  }

  pause(): void {
    (this.#ws as unknown as { _socket?: { pause(): void } } | undefined)?._socket?.pause();
  }

  #emitDown(d: LinkDown): void {
    if (this.#down) return;
    this.#down = true;
    this.#up = false;
    for (const w of this.#downWaiters.splice(0)) w();
    this.#h.down(d);
  }
}

interface BoshItem {
  payloads: string[];
  attrs: Record<string, string | number | undefined>;
}

class BoshLink implements Link {
  readonly #endpoint: Extract<Endpoint, { kind: 'bosh' }>;
  readonly #domain: string;
  readonly #h: LinkHandlers;
  readonly #agent: http.Agent;
  #rid = 1 + Math.floor(Math.random() * 1_000_000_000);
  #sid = '';
  #requests = 2;
  #wait: number;
  #outstanding = 0;
  #queue: BoshItem[] = [];
  #payloads: string[] = [];
  /** Responses (or failures) by rid, handled strictly in rid order. */
  #results = new Map<number, { body?: string; error?: string; detail?: string }>();
  #nextToHandle = 0;
  #up = false;
  #down = false;
  #closing = false;
  #paused = false;
  #downWaiters: (() => void)[] = [];

  constructor(endpoint: Extract<Endpoint, { kind: 'bosh' }>, domain: string, handlers: LinkHandlers) {
    this.#endpoint = endpoint;
    this.#domain = domain;
    this.#h = handlers;
    this.#wait = endpoint.wait ?? 10;
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: 4, ...(endpoint.localAddress ? { localAddress: endpoint.localAddress } : {}) });
  }

  get up(): boolean {
    return this.#up && !this.#down;
  }

  get sid(): string {
    return this.#sid;
  }

  async start(): Promise<void> {
    const rid = this.#rid++;
    this.#nextToHandle = rid;
    const text = await this.#post(
      buildBody({
        rid,
        to: this.#domain,
        'xml:lang': 'en',
        wait: this.#wait,
        hold: 1,
        ver: '1.11',
        'xmpp:version': '1.0',
        'xmlns:xmpp': XBOSH_NS,
      }),
    ).catch((err: unknown) => {
      this.#down = true;
      this.#agent.destroy();
      throw err;
    });
    const body = parseBody(text);
    if (body.attrs.type === 'terminate' || body.attrs.sid === undefined) {
      this.#down = true;
      this.#agent.destroy();
      throw new Error(`BOSH session refused: ${text.slice(0, 300)}`);
    }
    this.#sid = body.attrs.sid;
    this.#requests = Number(body.attrs.requests ?? 2) || 2;
    this.#nextToHandle = rid + 1;
    this.#up = true;
    for (const c of body.children) this.#h.element(c);
    this.#pump();
  }

  send(xml: string): void {
    if (this.#down) return;
    this.#payloads.push(xml);
    this.#pump();
  }

  restart(): void {
    this.#flushPayloads();
    this.#queue.push({ payloads: [], attrs: { 'xmpp:restart': 'true', 'xmlns:xmpp': XBOSH_NS, to: this.#domain, 'xml:lang': 'en' } });
    this.#pump();
  }

  close(): Promise<void> {
    if (this.#down) return Promise.resolve();
    const gone = new Promise<void>((resolve) => this.#downWaiters.push(resolve));
    this.#flushPayloads();
    this.#queue.push({ payloads: [], attrs: { type: 'terminate' } });
    this.#closing = true;
    this.#pump();
    const timer = setTimeout(() => this.abort(), 5_000);
    return gone.finally(() => clearTimeout(timer));
  }

  abort(): void {
    this.#emitDown({ reason: 'aborted', clean: false });
  }

  pause(): void {
    this.#paused = true;
  }

  #flushPayloads(): void {
    if (this.#payloads.length === 0) return;
    this.#queue.push({ payloads: this.#payloads, attrs: {} });
    this.#payloads = [];
  }

  /** Keeps one request held when idle and sends queued payloads, within the `requests` limit (§11). */
  #pump(): void {
    if (!this.#up || this.#down || this.#paused) return;
    while (this.#outstanding < this.#requests) {
      this.#flushPayloads();
      const item = this.#queue.shift();
      if (item === undefined) {
        if (this.#outstanding > 0 || this.#closing) return;
        this.#request({ payloads: [], attrs: {} });
        continue;
      }
      this.#request(item);
    }
  }

  #request(item: BoshItem): void {
    const rid = this.#rid++;
    this.#outstanding++;
    const text = buildBody({ rid, sid: this.#sid, ...item.attrs }, item.payloads);
    const sentAt = performance.now();
    this.#post(text).then(
      (body) => this.#arrived(rid, { body }),
      (err: Error) =>
        this.#arrived(rid, {
          error: (err as NodeJS.ErrnoException).code ?? err.message,
          detail: `${item.payloads.length} payload(s), sent ${Math.round(performance.now() - sentAt)} ms before`,
        }),
    );
  }

  #arrived(rid: number, result: { body?: string; error?: string; detail?: string }): void {
    this.#outstanding--;
    if (this.#down) return;
    // A failure is handled in rid order too: an earlier request may still bring the reason (see-other-uri).
    this.#results.set(rid, result);
    for (let r = this.#results.get(this.#nextToHandle); r !== undefined; r = this.#results.get(this.#nextToHandle)) {
      this.#results.delete(this.#nextToHandle);
      this.#nextToHandle++;
      if (r.error !== undefined) {
        this.#emitDown({ reason: r.error, clean: false, ...(r.detail ? { detail: r.detail } : {}) });
        return;
      }
      let body;
      try {
        body = parseBody(r.body!);
      } catch (err) {
        this.#emitDown({ reason: `bad response: ${(err as Error).message}`, clean: false });
        return;
      }
      for (const c of body.children) {
        if (c.namespaceURI === STREAMS_NS && c.localName === 'error') continue;
        if (c.localName === 'uri') continue;
        this.#h.element(c);
        if (this.#down) return;
      }
      if (body.attrs.type === 'terminate') {
        const error = body.children.find((c) => c.namespaceURI === STREAMS_NS && c.localName === 'error');
        const uri = body.children.find((c) => c.localName === 'uri')?.textContent ?? undefined;
        const condition = body.attrs.condition;
        this.#emitDown({
          reason: `bosh terminate ${condition ?? ''}`.trim(),
          clean: true,
          ...(condition ? { condition } : {}),
          ...(uri ? { seeOtherUri: uri } : {}),
          ...(error ? { streamError: streamErrorCondition(error) } : {}),
        });
        return;
      }
    }
    if (this.#results.size === 0) this.#pump();
  }

  #post(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const payload = Buffer.from(text, 'utf8');
      const req = http.request(this.#endpoint.url, {
        method: 'POST',
        agent: this.#agent,
        headers: { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': String(payload.length), ...this.#endpoint.headers },
      });
      req.setTimeout((this.#wait + 15) * 1000, () => req.destroy(Object.assign(new Error('BOSH request timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200)
            reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`), { code: `HTTP_${res.statusCode}` }));
          else resolve(body);
        });
      });
      req.end(payload);
    });
  }

  #emitDown(d: LinkDown): void {
    if (this.#down) return;
    this.#down = true;
    this.#up = false;
    this.#agent.destroy();
    for (const w of this.#downWaiters.splice(0)) w();
    this.#h.down(d);
  }
}

function open(domain: string): string {
  return `<open xmlns='${FRAMING_NS}' to='${escapeAttr(domain)}' version='1.0'/>`;
}
const CLOSE = `<close xmlns='${FRAMING_NS}'/>`;

function streamErrorCondition(e: Element): string {
  for (let n = e.firstChild; n !== null; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).namespaceURI === STREAM_ERROR_NS && (n as Element).localName !== 'text') return (n as Element).localName;
  }
  return 'undefined-condition';
}

export interface SmClientOptions {
  domain: string;
  username: string;
  password: string;
  resource?: string;
  /** Enable stream management with resumption after binding; default true. */
  sm?: boolean;
  /** Time allowed for each login step; default 15 s. */
  stepTimeoutMs?: number;
}

interface Waiter {
  predicate(e: Element): boolean;
  resolve(e: Element): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class SmClient {
  readonly options: SmClientOptions;
  jid = '';
  /** SM-ID of the resumable session (XEP-0198 §5). */
  smId: string | undefined;
  smEnabled = false;
  /** Stanzas handled from the server since <enable/>: the `h` we report. */
  inbound = 0;
  /** Stanzas sent since <enable/>, and how many of them the server acknowledged. */
  outbound = 0;
  outboundAcked = 0;
  /** Messages received, by id: a count above one is a duplicate. */
  readonly received = new Map<string, number>();
  /** Every link that went down, in order. */
  readonly downs: LinkDown[] = [];
  resumptions = 0;
  /** Messages of type error (bounces). */
  errorsReceived = 0;
  /** Sends made while no link was up (kept for resumption). */
  queuedWhileDown = 0;
  onMessage: ((e: Element) => void) | undefined;
  onDown: ((d: LinkDown) => void) | undefined;
  #link: Link | undefined;
  /** Bound (or resumed) on the current link: stanzas may be written. */
  #established = false;
  #unacked: string[] = [];
  #backlog: Element[] = [];
  #waiters = new Set<Waiter>();
  #ackWaiters: { h: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  #nextId = 0;

  constructor(options: SmClientOptions) {
    this.options = options;
  }

  /** The session is usable on a live link (bound or resumed). */
  get up(): boolean {
    return this.#established && (this.#link?.up ?? false);
  }

  /** Logs in on a new link: SASL PLAIN, restart, bind, and <enable resume='true'/> unless sm is false. */
  async connect(endpoint: Endpoint): Promise<void> {
    await this.#authenticate(endpoint);
    await this.#bind();
  }

  async #bind(): Promise<void> {
    const id = this.#id('bind');
    this.#link!.send(
      `<iq xmlns='${CLIENT_NS}' type='set' id='${id}'><bind xmlns='${BIND_NS}'><resource>${escapeAttr(this.options.resource ?? 'sm')}</resource></bind></iq>`,
    );
    const bound = await this.#waitFor((e) => e.localName === 'iq' && e.getAttribute('id') === id);
    if (bound.getAttribute('type') !== 'result') throw new Error(`${this.options.username}: bind failed: ${String(bound)}`);
    this.jid = bound.getElementsByTagNameNS(BIND_NS, 'jid').item(0)?.textContent ?? '';
    if (this.options.sm ?? true) {
      this.#link!.send(`<enable xmlns='${SM_NS}' resume='true'/>`);
      const enabled = await this.#waitFor((e) => e.namespaceURI === SM_NS && (e.localName === 'enabled' || e.localName === 'failed'));
      if (enabled.localName !== 'enabled') throw new Error(`${this.options.username}: enable failed: ${String(enabled)}`);
    }
    this.#established = this.#link!.up;
  }

  /**
   * Resumes the stream management session on a new link (XEP-0198 §5). Resolves 'resumed', or 'failed' when
   * the server no longer knows the session (the link is then authenticated but unbound; reconnect() binds).
   */
  async resume(endpoint: Endpoint): Promise<'resumed' | 'failed'> {
    if (this.smId === undefined) throw new Error('resume: no resumable session');
    await this.#authenticate(endpoint);
    this.#link!.send(`<resume xmlns='${SM_NS}' h='${this.inbound}' previd='${escapeAttr(this.smId)}'/>`);
    const outcome = await this.#waitFor((e) => e.namespaceURI === SM_NS && (e.localName === 'resumed' || e.localName === 'failed'));
    return outcome.localName === 'resumed' ? 'resumed' : 'failed';
  }

  /**
   * Resumes when possible, else binds a new session on the same link (XEP-0198 §5: after <failed/> the client
   * may bind); what the old session had queued is gone.
   */
  async reconnect(endpoint: Endpoint): Promise<'resumed' | 'new'> {
    if (this.smId === undefined) {
      await this.connect(endpoint);
      return 'new';
    }
    if ((await this.resume(endpoint)) === 'resumed') return 'resumed';
    this.#resetSm();
    await this.#bind();
    return 'new';
  }

  /** Sends a stanza: with SM enabled it is kept until acknowledged and resent on resumption. */
  send(xml: string): void {
    if (this.smEnabled) {
      this.outbound++;
      this.#unacked.push(xml);
    }
    if (this.up) this.#link!.send(xml);
    else this.queuedWhileDown++;
  }

  sendMessage(to: string, id: string, body: string): void {
    this.send(`<message xmlns='${CLIENT_NS}' to='${escapeAttr(to)}' id='${escapeAttr(id)}' type='chat'><body>${escapeAttr(body)}</body></message>`);
  }

  /** Asks the server for an ack (<r/>) and resolves once it acknowledged every stanza sent so far. */
  sync(timeoutMs = 30_000): Promise<void> {
    if (!this.smEnabled) return Promise.reject(new Error('sync: stream management is off'));
    if (this.outboundAcked >= this.outbound) return Promise.resolve();
    const h = this.outbound;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.options.username}: no ack for h=${h} within ${timeoutMs} ms (acked ${this.outboundAcked})`)),
        timeoutMs,
      );
      this.#ackWaiters.push({
        h,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (this.up) this.#link!.send(`<r xmlns='${SM_NS}'/>`);
    });
  }

  /** Ends the session cleanly (<close/> or BOSH terminate): the server discards it. */
  async close(): Promise<void> {
    await this.#link?.close();
  }

  /** Drops the link without a word: the server keeps the session resumable. */
  abort(): void {
    this.#link?.abort();
  }

  /** Stops reading from the link (a client that never reads), without closing it. */
  pauseReading(): void {
    this.#link?.pause();
  }

  /** Message ids received more than once, and the total of extra copies. */
  duplicates(): { ids: string[]; extra: number } {
    const ids: string[] = [];
    let extra = 0;
    for (const [id, n] of this.received) {
      if (n > 1) {
        ids.push(id);
        extra += n - 1;
      }
    }
    return { ids, extra };
  }

  async #authenticate(endpoint: Endpoint): Promise<void> {
    this.#established = false;
    this.#link?.abort();
    this.#backlog = [];
    const link = (this.#link = this.#newLink(endpoint));
    await link.start();
    await this.#waitFor((e) => e.localName === 'features');
    const plain = Buffer.from(`\0${this.options.username}\0${this.options.password}`, 'utf8').toString('base64');
    link.send(`<auth xmlns='${SASL_NS}' mechanism='PLAIN'>${plain}</auth>`);
    const outcome = await this.#waitFor((e) => e.namespaceURI === SASL_NS && (e.localName === 'success' || e.localName === 'failure'));
    if (outcome.localName !== 'success') throw new Error(`${this.options.username}: SASL failed: ${String(outcome)}`);
    link.restart();
    await this.#waitFor((e) => e.localName === 'features');
  }

  #newLink(endpoint: Endpoint): Link {
    const handlers: LinkHandlers = {
      element: (e) => {
        if (this.#link === link) this.#element(e);
      },
      down: (d) => {
        this.downs.push(d);
        if (this.#link !== link) return;
        this.#established = false;
        for (const w of [...this.#waiters]) {
          this.#waiters.delete(w);
          clearTimeout(w.timer);
          w.reject(new Error(`${this.options.username}: link down (${d.reason}) while waiting`));
        }
        this.onDown?.(d);
      },
    };
    const link: Link =
      endpoint.kind === 'websocket'
        ? new WebSocketLink(endpoint, this.options.domain, handlers)
        : new BoshLink(endpoint, this.options.domain, handlers);
    return link;
  }

  #element(e: Element): void {
    if (e.namespaceURI === SM_NS) {
      switch (e.localName) {
        case 'r':
          this.#link?.send(`<a xmlns='${SM_NS}' h='${this.inbound}'/>`);
          return;
        case 'a':
          this.#acked(Number(e.getAttribute('h')));
          return;
        case 'enabled':
          this.smEnabled = true;
          this.smId = e.getAttribute('resume') === 'true' || e.getAttribute('resume') === '1' ? (e.getAttribute('id') ?? undefined) : undefined;
          this.inbound = 0;
          this.outbound = 0;
          this.outboundAcked = 0;
          this.#unacked = [];
          break;
        case 'resumed': {
          this.resumptions++;
          this.#acked(Number(e.getAttribute('h')));
          // §5: what the server did not acknowledge is sent again, in order.
          for (const xml of this.#unacked) this.#link?.send(xml);
          this.#established = this.#link?.up ?? false;
          if (this.#ackWaiters.length > 0) this.#link?.send(`<r xmlns='${SM_NS}'/>`);
          break;
        }
      }
    } else if (e.namespaceURI === CLIENT_NS && STANZAS.has(e.localName)) {
      if (this.smEnabled) this.inbound++;
      if (e.localName === 'message') {
        const id = e.getAttribute('id');
        if (e.getAttribute('type') === 'error') this.errorsReceived++;
        else if (id) this.received.set(id, (this.received.get(id) ?? 0) + 1);
        this.onMessage?.(e);
        return;
      }
      const type = e.getAttribute('type');
      if (e.localName === 'iq' && (type === 'get' || type === 'set')) {
        // Nothing is served here: answer so the server never waits (RFC 6120 §8.2.3).
        const from = e.getAttribute('from');
        this.send(
          `<iq xmlns='${CLIENT_NS}' type='error' id='${escapeAttr(e.getAttribute('id') ?? '')}'${from ? ` to='${escapeAttr(from)}'` : ''}><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
        );
        return;
      }
      if (e.localName === 'presence') return;
    }
    for (const w of this.#waiters) {
      if (w.predicate(e)) {
        this.#waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(e);
        return;
      }
    }
    this.#backlog.push(e);
    if (this.#backlog.length > 100) this.#backlog.shift();
  }

  #acked(h: number): void {
    if (!Number.isFinite(h) || h <= this.outboundAcked) return;
    const n = Math.min(h - this.outboundAcked, this.#unacked.length);
    this.#unacked.splice(0, n);
    this.outboundAcked = h;
    for (const w of [...this.#ackWaiters]) {
      if (w.h <= h) {
        this.#ackWaiters.splice(this.#ackWaiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  #resetSm(): void {
    this.smEnabled = false;
    this.smId = undefined;
    this.inbound = 0;
    this.outbound = 0;
    this.outboundAcked = 0;
    this.#unacked = [];
  }

  #waitFor(predicate: (e: Element) => boolean): Promise<Element> {
    const i = this.#backlog.findIndex(predicate);
    if (i >= 0) return Promise.resolve(this.#backlog.splice(i, 1)[0]!);
    const timeoutMs = this.options.stepTimeoutMs ?? 15_000;
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(w);
          reject(
            new Error(
              `${this.options.username}: no matching element within ${timeoutMs} ms; backlog: ${this.#backlog.map(String).join(' ').slice(0, 500)}`,
            ),
          );
        }, timeoutMs),
      };
      this.#waiters.add(w);
    });
  }

  #id(prefix: string): string {
    this.#nextId += 1;
    return `${prefix}-${this.#nextId}`;
  }
}
