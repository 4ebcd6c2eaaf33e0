// One BOSH session (XEP-0124, XEP-0206) as a pure state machine: requests, upstream events and clock ticks in;
// responses, payloads for the upstream and upstream commands out through a sink. No timers, no sockets: the
// caller passes `now` (milliseconds, monotonic) and calls tick() when nextDeadline() arrives.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import {
  LEGACY_HTTP_STATUS,
  STREAMS_NS,
  XBOSH_NS,
  type BoshCondition,
  type StreamErrorCondition,
} from '../errors.ts';
import { openAttributes, restartAttributes, streamErrorElement, UPSTREAM_AFTER, type UpstreamDisposition } from '../stream-rules.ts';
import type { StreamOpenAttributes } from '../upstream/types.ts';
import { buildBody, escapeText, type BodyAttributes, type BodyAttributeValue } from './body.ts';

/** Highest BOSH version implemented (XEP-0124 1.11). */
export const BOSH_VERSION = { major: 1, minor: 11 } as const;
export const DEFAULT_CONTENT_TYPE = 'text/xml; charset=utf-8';
/** Namespace of the application-specific detail sent with undefined-condition (XEP-0124 §17.2). */
export const GATEWAY_NS = 'urn:x-xmpp-web-gateway:bosh';

/** A complete HTTP response: status 200 except terminal conditions toward legacy clients (XEP-0124 §17.1). */
export interface BoshResponse {
  status: number;
  contentType: string;
  body: string;
}

/** What a request carries once its <body/> is parsed (a ParsedBody fits). */
export interface BoshRequest {
  attrs: BodyAttributes;
  payloads: readonly string[];
}

export type UpstreamElementKind = 'features' | 'stanza' | 'error';

export interface UpstreamInfo {
  id: string;
  from: string;
  version: string;
  lang?: string;
}

/** Why a session ended: a terminal condition sent to the client, or one of the silent endings. */
export type EndReason = BoshCondition | 'client-terminate' | 'upstream-closed' | 'inactivity';

/** How a request was answered. */
export type ResponseOutcome = 'payload' | 'empty' | 'retransmit' | 'recoverable' | 'terminate';

/** Outputs of one session. Calls happen synchronously inside the input method that causes them. */
export interface SessionSink<R> {
  respond(reply: R, response: BoshResponse, outcome: ResponseOutcome): void;
  /** Client payloads for the upstream, strictly in rid order. */
  forward(payloads: readonly string[]): void;
  openUpstream(attrs: StreamOpenAttributes): void;
  /** XEP-0206 §5: a new stream header over the same TCP connection. */
  restartUpstream(attrs: StreamOpenAttributes): void;
  /** Ends the upstream cleanly (</stream:stream>). */
  closeUpstream(): void;
  /** Drops the upstream without </stream:stream>, so an XEP-0198 session stays resumable. */
  destroyUpstream(): void;
  /** The session is over; no more calls follow. */
  ended(reason: EndReason): void;
}

/** The `bosh` configuration section plus knobs with safe defaults. Times in seconds as in the schema. */
export interface SessionOptions {
  maxWait: number;
  maxHold: number;
  inactivity: number;
  maxPause: number;
  polling: number;
  maxBufferedBytes: number;
  /** §9.2: a lost response is reported once it was sent at least this long ago (default 1000 ms). */
  reportAfterMs?: number;
  /** §14.3: copies of one rid accepted before policy-violation (default 8). */
  maxRetransmits?: number;
  /** §14.3: responses kept while unacknowledged when the client uses acks (default 16, never below requests). */
  maxCachedResponses?: number;
}

/** Session parameters agreed at creation (XEP-0124 §7). Times in seconds. */
export interface SessionParams {
  rid: number;
  to: string;
  lang?: string;
  from?: string;
  /** xmpp:version asked by the client, forwarded as the stream version (XEP-0206 §3). */
  xmppVersion: string;
  wait: number;
  hold: number;
  requests: number;
  polling: number;
  inactivity: number;
  maxpause: number;
  /** Negotiated BOSH version, "major.minor". */
  ver: string;
  /** No `ver` in the creation request: HTTP status codes for bad-request/item-not-found/policy-violation. */
  legacy: boolean;
  /** The client asked for acknowledgements (§9). */
  acks: boolean;
  contentType: string;
  /** §15: the newkey of the creation request, lower-cased. */
  key?: string;
}

export type Negotiation =
  | { ok: true; params: SessionParams }
  | { ok: false; condition: BoshCondition; legacy: boolean; contentType: string };

const MAX_RID = Number.MAX_SAFE_INTEGER; // §14.1: 9007199254740991
const CONTENT_TYPE = /^[\x21-\x7e][\x20-\x7e]{0,255}$/;

/** Reads the session creation request (§7.1, XEP-0206 §3) against the configured limits (§7.2). */
export function negotiate(attrs: BodyAttributes, opts: SessionOptions): Negotiation {
  const legacy = attrs.ver === undefined;
  const contentValid = attrs.content === undefined || CONTENT_TYPE.test(attrs.content);
  const contentType = attrs.content !== undefined && contentValid ? attrs.content : DEFAULT_CONTENT_TYPE;
  const refuse = (condition: BoshCondition): Negotiation => ({ ok: false, condition, legacy, contentType });
  if (!contentValid) return refuse('bad-request');
  const rid = parseUint(attrs.rid, MAX_RID);
  if (rid === undefined || rid === 0) return refuse('bad-request');
  let ver = `${BOSH_VERSION.major}.${BOSH_VERSION.minor}`;
  if (attrs.ver !== undefined) {
    const m = /^([0-9]{1,4})\.([0-9]{1,4})$/.exec(attrs.ver.trim());
    if (m === null) return refuse('bad-request');
    const major = Number(m[1]);
    const minor = Number(m[2]);
    // §7.2: the lower of ours and theirs; the minor number is a separate integer.
    if (major < BOSH_VERSION.major || (major === BOSH_VERSION.major && minor < BOSH_VERSION.minor)) {
      ver = `${major}.${minor}`;
    }
  }
  const wantWait = attrs.wait === undefined ? opts.maxWait : parseUint(attrs.wait, 0xffff);
  const wantHold = attrs.hold === undefined ? 1 : parseUint(attrs.hold, 0xff);
  if (wantWait === undefined || wantHold === undefined) return refuse('bad-request');
  const to = attrs.to?.trim() ?? '';
  // §17.2 improper-addressing: no 'to' (a 'route' alone is ignored: one upstream per served domain).
  if (to === '') return refuse('improper-addressing');
  const wait = Math.min(wantWait, opts.maxWait);
  const hold = Math.min(wantHold, opts.maxHold);
  // §12: a polling session gets a longer inactivity, by more than the polling interval.
  const pollingSession = wait === 0 || hold === 0;
  const params: SessionParams = {
    rid,
    to,
    xmppVersion: attrs.xmppVersion ?? '1.0',
    wait,
    hold,
    requests: hold + 1,
    polling: opts.polling,
    inactivity: opts.inactivity + (pollingSession ? opts.polling + 1 : 0),
    maxpause: opts.maxPause,
    ver,
    legacy,
    acks: attrs.ack !== undefined,
    contentType,
  };
  if (attrs.lang !== undefined) params.lang = attrs.lang;
  if (attrs.from !== undefined) params.from = attrs.from;
  if (attrs.newkey !== undefined) params.key = attrs.newkey.toLowerCase();
  return { ok: true, params };
}

function parseUint(value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!/^[0-9]{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return n <= max ? n : undefined;
}

/** A terminal response body (XEP-0124 §17.2), with the stream namespace when it carries stream elements. */
export function terminateBody(condition?: BoshCondition, children: readonly string[] = [], streamNs = false): string {
  const attrs: Record<string, BodyAttributeValue> = { type: 'terminate', condition };
  if (streamNs) attrs['xmlns:stream'] = STREAMS_NS;
  return buildBody(attrs, children);
}

/** The response for a terminal condition, with the legacy HTTP status where one applies (§17.1). */
export function terminalResponse(
  condition: BoshCondition | undefined,
  legacy: boolean,
  contentType = DEFAULT_CONTENT_TYPE,
  children: readonly string[] = [],
  streamNs = false,
): BoshResponse {
  const status = legacy && condition !== undefined ? (LEGACY_HTTP_STATUS[condition] ?? 200) : 200;
  return { status, contentType, body: terminateBody(condition, children, streamNs) };
}

/** see-other-uri carries the URI in a <uri/> child (§17.2). */
export function uriChild(uri: string): string {
  return `<uri>${escapeText(uri)}</uri>`;
}

const RECOVERABLE_BODY = buildBody({ type: 'error' });
const EMPTY_BODY = buildBody({});

// Gateway-side upstream failures that have a binding condition of their own; every other one reaches the
// client as remote-stream-error with a synthesized <stream:error/>.
const UPSTREAM_FAILURES: Partial<Record<StreamErrorCondition, BoshCondition>> = {
  'host-unknown': 'host-unknown',
  'host-gone': 'host-gone',
  'remote-connection-failed': 'remote-connection-failed',
  'connection-timeout': 'remote-connection-failed',
  'system-shutdown': 'system-shutdown',
  'internal-server-error': 'internal-server-error',
};

interface Entry<R> {
  rid: number;
  reply: R;
  attrs: BodyAttributes;
  payloads: readonly string[];
  arrival: number;
  deadline: number;
  copies: number;
  pause: number | undefined;
  ack: number | undefined;
  terminate: boolean;
  restart: boolean;
  creation: boolean;
}

/**
 * What the polling rules (§11, §12) need of the previous request. Kept apart from its Entry so that an answered
 * request's reply (its HTTP request and response objects) and payloads are not held until the next request.
 */
interface Previous {
  rid: number;
  arrival: number;
  creation: boolean;
  restart: boolean;
  empty: boolean;
  answered: boolean;
  hadPayload: boolean;
}

function previousOf(e: Entry<unknown>): Previous {
  return { rid: e.rid, arrival: e.arrival, creation: e.creation, restart: e.restart, empty: isEmpty(e), answered: false, hadPayload: false };
}

interface Cached {
  body: string;
  sentAt: number;
  key: string | undefined;
  copies: number;
}

interface Payload {
  xml: string;
  kind: UpstreamElementKind;
}

interface Termination<R> {
  reason: EndReason;
  condition: BoshCondition | undefined;
  children?: readonly string[];
  streamNs?: boolean;
  /** The request that caused the termination: it gets the condition, held requests get other-request. */
  trigger?: R;
  upstream: UpstreamDisposition;
  /** With no request held, keep the session until the next request to deliver the condition. */
  linger: boolean;
}

export class BoshSession<R> {
  readonly sid: string;
  readonly params: SessionParams;
  readonly #sink: SessionSink<R>;
  readonly #waitMs: number;
  readonly #inactivityMs: number;
  readonly #pollingMs: number;
  readonly #reportAfterMs: number;
  readonly #maxRetransmits: number;
  readonly #cacheLimit: number;
  readonly #maxBufferedBytes: number;
  #state: 'open' | 'lingering' | 'ended' = 'open';
  /** Highest rid received with every lower one (§9.1). */
  #lastRid: number;
  /** Requests processed but not answered, in rid order (§8). */
  #held: Entry<R>[] = [];
  /** Requests received ahead of a missing rid (§14.2). */
  #pending = new Map<number, Entry<R>>();
  /** Responses kept for retransmission (§14.3), in rid order. */
  #cache = new Map<number, Cached>();
  #lastRespondedRid = 0;
  #buffer: Payload[] = [];
  #bufferedBytes = 0;
  #upstream: UpstreamInfo | undefined;
  /** The attributes the upstream stream was last opened or restarted with. */
  #opened: StreamOpenAttributes;
  #upstreamGone = false;
  #streamInfoSent = false;
  #pauseMs: number | undefined;
  #idleSince: number;
  #previous: Previous | undefined;
  #key: string | undefined;
  #reportedRid = 0;
  #report: { rid: number; time: number } | undefined;
  #lingering: { response: BoshResponse; reason: EndReason } | undefined;

  /** A session for a negotiated creation request (§7); start() then opens it. */
  constructor(sid: string, params: SessionParams, opts: SessionOptions, sink: SessionSink<R>, now: number) {
    this.sid = sid;
    this.params = params;
    this.#sink = sink;
    this.#waitMs = params.wait * 1000;
    this.#inactivityMs = params.inactivity * 1000;
    this.#pollingMs = params.polling * 1000;
    this.#reportAfterMs = opts.reportAfterMs ?? 1000;
    this.#maxRetransmits = opts.maxRetransmits ?? 8;
    this.#cacheLimit = params.acks ? Math.max(params.requests, opts.maxCachedResponses ?? 16) : params.requests;
    this.#maxBufferedBytes = opts.maxBufferedBytes;
    this.#lastRid = params.rid;
    this.#key = params.key;
    this.#idleSince = now;
    this.#opened = openAttributes({ to: params.to, version: params.xmppVersion, lang: params.lang, from: params.from });
  }

  /** Opens the upstream and holds the creation request (§7.2: answered once the features arrive, within wait). */
  start(payloads: readonly string[], reply: R, now: number): void {
    const p = this.params;
    this.#sink.openUpstream(this.#opened);
    if (payloads.length > 0) this.#sink.forward(payloads);
    const entry = this.#entry(p.rid, reply, { attrs: {}, payloads }, now);
    entry.creation = true;
    this.#previous = previousOf(entry);
    this.#held.push(entry);
    this.#flush(now);
  }

  get ended(): boolean {
    return this.#state === 'ended';
  }

  /** Bytes of upstream data waiting for the client's next request (the shell pauses the upstream above a mark). */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** Requests received and not yet answered. */
  get outstanding(): number {
    return this.#held.length + this.#pending.size;
  }

  /** One request of this session (any after the creation request). */
  request(req: BoshRequest, reply: R, now: number): void {
    if (this.#state === 'ended') {
      this.#sink.respond(reply, terminalResponse('item-not-found', this.params.legacy, this.params.contentType), 'terminate');
      return;
    }
    if (this.#lingering !== undefined) {
      const { response, reason } = this.#lingering;
      this.#sink.respond(reply, response, 'terminate');
      this.#end(reason);
      return;
    }
    // §10: the inactivity period goes back to normal with the next request.
    this.#pauseMs = undefined;
    const rid = parseUint(req.attrs.rid, MAX_RID);
    if (rid === undefined || rid === 0) return void this.#fail('bad-request', reply, now);
    if (rid <= this.#lastRid) {
      const held = this.#held.find((e) => e.rid === rid);
      if (held !== undefined) return void this.#copy(held, req, reply, now);
      const cached = this.#cache.get(rid);
      if (cached !== undefined) return void this.#retransmit(cached, req, reply, now);
      // §14.3: the original response is no longer available.
      return void this.#fail('item-not-found', reply, now);
    }
    const pending = this.#pending.get(rid);
    if (pending !== undefined) return void this.#copy(pending, req, reply, now);
    // §14.2: beyond the window of `requests` rids after the last one.
    if (rid > this.#lastRid + this.params.requests) return void this.#fail('item-not-found', reply, now);
    const entry = this.#entry(rid, reply, req, now);
    if ((req.attrs.pause !== undefined && entry.pause === undefined) || (req.attrs.ack !== undefined && entry.ack === undefined)) {
      return void this.#fail('bad-request', reply, now);
    }
    // §11: more simultaneous requests than `requests`, one more to pause or terminate.
    const limit = this.params.requests + (entry.pause !== undefined || entry.terminate ? 1 : 0);
    if (this.outstanding + 1 > limit) return void this.#fail('policy-violation', reply, now);
    if (rid !== this.#lastRid + 1) {
      // §14.2: hold it until the missing rids arrive; payloads go upstream strictly in rid order.
      this.#pending.set(rid, entry);
      return;
    }
    if (!this.#process(entry, now)) return;
    for (let next = this.#pending.get(this.#lastRid + 1); next !== undefined; next = this.#pending.get(this.#lastRid + 1)) {
      this.#pending.delete(next.rid);
      if (!this.#process(next, now)) return;
    }
    this.#flush(now);
  }

  /** A request of this session whose body could not be parsed (§17.2 bad-request). */
  badRequest(reply: R, now: number): void {
    if (this.#state !== 'open') return this.request({ attrs: {}, payloads: [] }, reply, now);
    this.#fail('bad-request', reply, now);
  }

  /** The first stream header gives the client the server's identity and stream id (§7.2, XEP-0206 §4). */
  upstreamOpened(info: UpstreamInfo, _now: number): void {
    this.#upstream ??= info;
  }

  /**
   * An upstream element; features and stanzas go to the client on the oldest held request (§8). With `flush`
   * false it is only buffered, and flushUpstream() answers once for every element of one upstream read.
   */
  upstreamElement(xml: string, kind: UpstreamElementKind, now: number, flush = true): void {
    if (this.#state !== 'open') return;
    if (kind === 'error') {
      // XEP-0206 §6: the stanzas received so far, then the <stream:error/>, under remote-stream-error.
      const children = [...this.#buffer.map((p) => p.xml), xml];
      this.#terminate(now, { reason: 'remote-stream-error', condition: 'remote-stream-error', children, streamNs: true, upstream: UPSTREAM_AFTER['upstream-error'], linger: true });
      return;
    }
    this.#buffer.push({ xml, kind });
    this.#bufferedBytes += Buffer.byteLength(xml);
    if (this.#bufferedBytes > this.#maxBufferedBytes) {
      // The client does not fetch: end the session, keeping the XEP-0198 session resumable upstream.
      const detail = `<buffer-exceeded xmlns='${GATEWAY_NS}'/>`;
      this.#buffer = [];
      this.#bufferedBytes = 0;
      this.#terminate(now, { reason: 'undefined-condition', condition: 'undefined-condition', children: [detail], upstream: UPSTREAM_AFTER['client-gone'], linger: true });
      return;
    }
    if (flush) this.#flush(now);
  }

  /** Answers a held request with what upstreamElement(…, false) buffered. */
  flushUpstream(now: number): void {
    if (this.#state === 'open') this.#flush(now);
  }

  /** The server ended the stream: a plain terminate, after the stanzas it sent before. */
  upstreamClosed(now: number): void {
    this.#upstreamGone = true;
    if (this.#state !== 'open') return;
    const children = this.#buffer.map((p) => p.xml);
    const streamNs = this.#buffer.some((p) => p.kind !== 'stanza');
    this.#terminate(now, { reason: 'upstream-closed', condition: undefined, children, streamNs, upstream: UPSTREAM_AFTER['upstream-ended'], linger: true });
  }

  /** The upstream failed (connect, TLS, parse, limits): the client gets the matching condition. */
  upstreamFailed(condition: StreamErrorCondition, text: string, now: number): void {
    this.#upstreamGone = true;
    if (this.#state !== 'open') return;
    const mapped = UPSTREAM_FAILURES[condition];
    if (mapped !== undefined) {
      this.#terminate(now, { reason: mapped, condition: mapped, upstream: UPSTREAM_AFTER['upstream-ended'], linger: true });
      return;
    }
    const children = [...this.#buffer.map((p) => p.xml), streamErrorElement(condition, text)];
    this.#terminate(now, { reason: 'remote-stream-error', condition: 'remote-stream-error', children, streamNs: true, upstream: UPSTREAM_AFTER['upstream-ended'], linger: true });
  }

  /** Ends the session now for a node shutdown: held requests get `condition` (see-other-uri or system-shutdown). */
  shutdown(now: number, condition: BoshCondition, children: readonly string[] = []): void {
    if (this.#state === 'ended') return;
    if (this.#lingering !== undefined) return this.#end(this.#lingering.reason);
    this.#terminate(now, { reason: condition, condition, children, upstream: UPSTREAM_AFTER.drain, linger: false });
  }

  /** The earliest time tick() has something to do, or undefined. */
  nextDeadline(): number | undefined {
    if (this.#state === 'ended') return undefined;
    let at = Infinity;
    for (const e of this.#held) at = Math.min(at, e.deadline);
    for (const e of this.#pending.values()) at = Math.min(at, e.deadline);
    if (this.outstanding === 0) at = Math.min(at, this.#idleSince + (this.#pauseMs ?? this.#inactivityMs));
    return at === Infinity ? undefined : at;
  }

  tick(now: number): void {
    if (this.#state === 'ended') return;
    // A request ahead of a rid that never came: a recoverable error makes the client resend both (§17.3).
    for (const e of [...this.#pending.values()]) {
      if (e.deadline > now) continue;
      this.#pending.delete(e.rid);
      this.#sink.respond(e.reply, this.#plain(RECOVERABLE_BODY), 'recoverable');
      if (this.outstanding === 0) this.#idleSince = now;
    }
    // §8: never hold a request longer than `wait`; answer in rid order up to the last one due.
    let due = -1;
    this.#held.forEach((e, i) => {
      if (e.deadline <= now) due = i;
    });
    for (let i = 0; i <= due; i++) this.#answer(this.#held.shift()!, now, this.#takeBuffer());
    // §10: no request held for longer than the inactivity period (or the pause).
    if (this.outstanding === 0 && now >= this.#idleSince + (this.#pauseMs ?? this.#inactivityMs)) {
      if (this.#lingering !== undefined) return this.#end(this.#lingering.reason);
      this.#upstreamAction(UPSTREAM_AFTER['client-gone']);
      this.#end('inactivity');
    }
  }

  #entry(rid: number, reply: R, req: BoshRequest, now: number): Entry<R> {
    const { attrs } = req;
    return {
      rid,
      reply,
      attrs,
      payloads: req.payloads,
      arrival: now,
      deadline: now + this.#waitMs,
      copies: 0,
      pause: parseUint(attrs.pause, 0xffff),
      ack: attrs.ack === undefined ? undefined : parseUint(attrs.ack, MAX_RID),
      terminate: attrs.type === 'terminate',
      restart: attrs.restart === 'true' || attrs.restart === '1',
      creation: false,
    };
  }

  /** A new request, in rid order. Returns false when it ended the session. */
  #process(e: Entry<R>, now: number): boolean {
    // §15.4: the key hashes to the previous key.
    if (this.#key !== undefined) {
      const key = e.attrs.key?.toLowerCase();
      if (key === undefined || sha1(key) !== this.#key) return this.#fail('item-not-found', e.reply, now);
      this.#key = e.attrs.newkey?.toLowerCase() ?? key;
    }
    this.#lastRid = e.rid;
    if (this.params.acks) this.#clientAck(e, now);
    if (this.#pollingViolation(e)) return this.#fail('policy-violation', e.reply, now);
    // §10: a pause longer than maxpause, or any pause when none was offered, breaks the session rules.
    if (e.pause !== undefined && (this.params.maxpause === 0 || e.pause > this.params.maxpause)) {
      return this.#fail('policy-violation', e.reply, now);
    }
    this.#previous = previousOf(e);
    if (e.terminate) {
      this.#clientTerminate(e, now);
      return false;
    }
    if (e.restart) {
      // XEP-0206 §5: a new stream on the same connection; payloads of a restart request are ignored.
      this.#opened = restartAttributes(this.#opened, { lang: e.attrs.lang, from: e.attrs.from });
      this.#sink.restartUpstream(this.#opened);
    } else if (e.payloads.length > 0) {
      this.#sink.forward(e.payloads);
    }
    this.#held.push(e);
    if (e.pause !== undefined) {
      // §10: answer every held request at once, the pause request without payloads.
      while (this.#held.length > 0) this.#answer(this.#held.shift()!, now, []);
      this.#pauseMs = e.pause * 1000;
    }
    return true;
  }

  /** §9.2: the client's ack drops acknowledged responses and may reveal a lost one. */
  #clientAck(e: Entry<R>, now: number): void {
    const ack = e.ack ?? e.rid - 1;
    for (const rid of this.#cache.keys()) {
      if (rid > ack) break;
      this.#cache.delete(rid);
    }
    if (ack >= this.#lastRespondedRid || ack + 1 <= this.#reportedRid) return;
    const lost = this.#cache.get(ack + 1);
    if (lost === undefined || now - lost.sentAt < this.#reportAfterMs) return;
    this.#report = { rid: ack + 1, time: now - lost.sentAt };
    this.#reportedRid = ack + 1;
  }

  /** §11 (too frequent) and §12 (polling too fast), for empty requests. */
  #pollingViolation(e: Entry<R>): boolean {
    const prev = this.#previous;
    if (this.#pollingMs === 0 || prev === undefined || !isEmpty(e)) return false;
    if (prev.creation || prev.restart || e.arrival - prev.arrival >= this.#pollingMs) return false;
    // §12: two consecutive empty requests, the first answered without payloads.
    if (prev.empty && prev.answered && !prev.hadPayload) return true;
    // §11: `requests` requests unanswered, the last one empty (long-polling sessions only).
    return this.params.requests >= 2 && this.outstanding + 1 >= this.params.requests;
  }

  /** §14.3: a copy of a request still held: the older copy gets a recoverable error, the newer waits. */
  #copy(e: Entry<R>, req: BoshRequest, reply: R, now: number): void {
    if (this.#key !== undefined && !sameKey(e.attrs.key, req.attrs.key)) return void this.#fail('item-not-found', reply, now);
    if (++e.copies > this.#maxRetransmits) return void this.#fail('policy-violation', reply, now);
    this.#sink.respond(e.reply, this.#plain(RECOVERABLE_BODY), 'recoverable');
    e.reply = reply;
    e.deadline = now + this.#waitMs;
  }

  /** §14.3: a request already answered gets the identical response again. */
  #retransmit(c: Cached, req: BoshRequest, reply: R, now: number): void {
    if (this.#key !== undefined && c.key !== req.attrs.key?.toLowerCase()) return void this.#fail('item-not-found', reply, now);
    if (++c.copies > this.#maxRetransmits) return void this.#fail('policy-violation', reply, now);
    this.#sink.respond(reply, this.#plain(c.body), 'retransmit');
    if (this.outstanding === 0) this.#idleSince = now;
  }

  /** §8: buffered data on the oldest held request, then no more than `hold` requests held. */
  #flush(now: number): void {
    if (this.#held.length > 0 && (this.#buffer.length > 0 || this.#report !== undefined)) {
      this.#answer(this.#held.shift()!, now, this.#takeBuffer());
    }
    const hold = this.params.wait === 0 ? 0 : this.params.hold;
    while (this.#held.length > hold) this.#answer(this.#held.shift()!, now, []);
  }

  #takeBuffer(): Payload[] {
    const payloads = this.#buffer;
    this.#buffer = [];
    this.#bufferedBytes = 0;
    return payloads;
  }

  #answer(e: Entry<R>, now: number, payloads: readonly Payload[]): void {
    const p = this.params;
    const attrs: Record<string, BodyAttributeValue> = {};
    let xmpp = false;
    let streamNs = payloads.some((x) => x.kind !== 'stanza');
    if (e.creation) {
      // §7.2 and XEP-0206 §4: the creation response.
      Object.assign(attrs, {
        sid: this.sid,
        wait: p.wait,
        requests: p.requests,
        hold: p.hold,
        polling: p.polling > 0 ? p.polling : undefined,
        inactivity: p.inactivity,
        maxpause: p.maxpause > 0 ? p.maxpause : undefined,
        ver: p.ver,
        ack: p.acks ? p.rid : undefined,
        from: this.#upstream?.from || p.to,
        authid: this.#upstream?.id,
        'xmpp:version': this.#upstream?.version || '1.0',
        'xmpp:restartlogic': 'true',
      });
      xmpp = true;
      streamNs = true;
      this.#streamInfoSent = this.#upstream !== undefined;
    } else if (this.#upstream !== undefined && !this.#streamInfoSent) {
      // §7.2 and XEP-0206 §4: the server's identity and stream id, in the first response that can carry them.
      Object.assign(attrs, { from: this.#upstream.from || undefined, authid: this.#upstream.id, 'xmpp:version': this.#upstream.version || '1.0' });
      xmpp = true;
      this.#streamInfoSent = true;
    }
    // §9.1: ack the highest rid received in sequence, unless it is the rid answered.
    if (p.acks && !e.creation && this.#lastRid !== e.rid) attrs.ack = this.#lastRid;
    if (this.#report !== undefined && e.pause === undefined) {
      attrs.report = this.#report.rid;
      attrs.time = this.#report.time;
      this.#report = undefined;
    }
    if (xmpp) attrs['xmlns:xmpp'] = XBOSH_NS;
    if (streamNs) attrs['xmlns:stream'] = STREAMS_NS;
    const body = buildBody(attrs, payloads.map((x) => x.xml));
    if (this.#previous?.rid === e.rid) {
      this.#previous.answered = true;
      this.#previous.hadPayload = payloads.length > 0;
    }
    this.#cache.set(e.rid, { body, sentAt: now, key: e.attrs.key?.toLowerCase(), copies: 0 });
    for (const rid of this.#cache.keys()) {
      if (this.#cache.size <= this.#cacheLimit) break;
      this.#cache.delete(rid);
    }
    this.#lastRespondedRid = Math.max(this.#lastRespondedRid, e.rid);
    if (this.outstanding === 0) this.#idleSince = now;
    this.#sink.respond(e.reply, this.#plain(body), payloads.length > 0 ? 'payload' : 'empty');
  }

  #plain(body: string): BoshResponse {
    return { status: 200, contentType: this.params.contentType, body };
  }

  /** A terminal condition caused by this request. Returns false for use in #process. */
  #fail(condition: BoshCondition, reply: R, now: number): false {
    this.#terminate(now, { reason: condition, condition, trigger: reply, upstream: UPSTREAM_AFTER['client-binding-error'], linger: false });
    return false;
  }

  /** §13: forward the payloads, close the stream, terminate on the oldest request, empty bodies elsewhere. */
  #clientTerminate(e: Entry<R>, _now: number): void {
    if (e.payloads.length > 0) this.#sink.forward(e.payloads);
    this.#upstreamAction(UPSTREAM_AFTER['client-close']);
    const all = [...this.#held, e, ...this.#pending.values()].sort((a, b) => a.rid - b.rid);
    this.#held = [];
    this.#pending.clear();
    all.forEach((x, i) => {
      if (i === 0) this.#sink.respond(x.reply, this.#plain(terminateBody()), 'terminate');
      else this.#sink.respond(x.reply, this.#plain(EMPTY_BODY), 'empty');
    });
    this.#end('client-terminate');
  }

  /**
   * §17.2: the condition goes to the request that caused it, or else to the oldest one held; every other
   * request held gets other-request. With none held, a lingering session answers the next request.
   */
  #terminate(now: number, t: Termination<R>): void {
    this.#upstreamAction(t.upstream);
    const p = this.params;
    const primary = terminalResponse(t.condition, p.legacy, p.contentType, t.children, t.streamNs);
    const others = [...this.#held, ...this.#pending.values()].sort((a, b) => a.rid - b.rid).map((x) => x.reply);
    this.#held = [];
    this.#pending.clear();
    this.#buffer = [];
    this.#bufferedBytes = 0;
    const first = t.trigger !== undefined ? t.trigger : others.shift();
    if (first === undefined) {
      if (t.linger) {
        this.#lingering = { response: primary, reason: t.reason };
        this.#state = 'lingering';
        this.#idleSince = now;
        return;
      }
      return this.#end(t.reason);
    }
    this.#sink.respond(first, primary, 'terminate');
    const other = this.#plain(terminateBody('other-request'));
    for (const reply of others) this.#sink.respond(reply, other, 'terminate');
    this.#end(t.reason);
  }

  #upstreamAction(action: UpstreamDisposition): void {
    if (action === 'none' || this.#upstreamGone) return;
    this.#upstreamGone = true;
    if (action === 'close') this.#sink.closeUpstream();
    else this.#sink.destroyUpstream();
  }

  #end(reason: EndReason): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#lingering = undefined;
    this.#held = [];
    this.#pending.clear();
    this.#cache.clear();
    this.#buffer = [];
    this.#bufferedBytes = 0;
    this.#sink.ended(reason);
  }
}

/** Neither payloads nor a pause, terminate or restart: a request only for fetching (§11, §12). */
function isEmpty(e: { payloads: readonly string[]; pause: number | undefined; terminate: boolean; restart: boolean; creation: boolean }): boolean {
  return e.payloads.length === 0 && e.pause === undefined && !e.terminate && !e.restart && !e.creation;
}

function sha1(value: string): string {
  return createHash('sha1').update(value).digest('hex');
}

function sameKey(a: string | undefined, b: string | undefined): boolean {
  return a?.toLowerCase() === b?.toLowerCase();
}
