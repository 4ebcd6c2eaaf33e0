// The BOSH session table: creation with limits, routing by sid, timers for every session through one
// deadline, and draining. Pure like the sessions it holds: the HTTP layer feeds parsed requests, upstream
// events and clock ticks, and carries out what the sink asks.
import { Buffer } from 'node:buffer';
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import type { BoshCondition, StreamErrorCondition } from '../errors.ts';
import type { GatewayConfig } from '../../shared/gateway-config/index.ts';
import { drainNotice } from '../stream-rules.ts';
import type { StreamOpenAttributes } from '../upstream/types.ts';
import type { BodyAttributes, BodyParseResult } from './body.ts';
import {
  BoshSession,
  DEFAULT_CONTENT_TYPE,
  negotiate,
  terminalResponse,
  uriChild,
  type BoshResponse,
  type EndReason,
  type ResponseOutcome,
  type SessionOptions,
  type UpstreamElementKind,
  type UpstreamInfo,
} from './session.ts';

/** What the HTTP layer carries out. Calls are synchronous; re-entrant calls into the manager are queued. */
export interface BoshManagerSink<R> {
  /** Write `response` on the HTTP request behind `reply` (a closed socket is simply skipped). */
  respond(reply: R, response: BoshResponse): void;
  /** Create the upstream for `sid` and open it (UpstreamStream.open). */
  openUpstream(sid: string, attrs: StreamOpenAttributes): void;
  /** UpstreamStream.open again on the same connection (XEP-0206 §5). */
  restartUpstream(sid: string, attrs: StreamOpenAttributes): void;
  /** UpstreamStream.send for each payload, in order. */
  forward(sid: string, payloads: readonly string[]): void;
  /** UpstreamStream.close, then forget it. */
  closeUpstream(sid: string): void;
  /** UpstreamStream.destroy, then forget it. */
  destroyUpstream(sid: string): void;
  /** The session left the table (its upstream was already closed or destroyed when needed). */
  ended?(sid: string, reason: EndReason): void;
  /** The earliest deadline changed: call tick() at `at` (undefined: no timer needed). */
  schedule?(at: number | undefined): void;
}

/** Counter hooks for the metrics module; gauges are read from `sessionCount` and `heldCount`. */
export interface BoshMetrics {
  sessionCreated?(): void;
  response?(outcome: ResponseOutcome): void;
  sessionEnded?(reason: EndReason): void;
  /** A request answered with a terminal condition without a session: refused creation, unknown sid, drain. */
  rejected?(condition: BoshCondition): void;
}

export interface BoshCounters {
  sessionsCreated: number;
  responses: Record<ResponseOutcome, number>;
  ended: Partial<Record<EndReason, number>>;
  rejected: Partial<Record<BoshCondition, number>>;
}

export type BoshLimits = Pick<
  GatewayConfig['bosh'],
  'maxWait' | 'maxHold' | 'inactivity' | 'maxPause' | 'polling' | 'maxBufferedBytes' | 'maxSessions' | 'maxSessionsPerAddress'
>;

export interface BoshManagerOptions {
  /** The `bosh` configuration section. */
  bosh: BoshLimits;
  /** Whether an XMPP domain is served here (else host-unknown, XEP-0124 §17.2). */
  isServed(domain: string): boolean;
  /** Random source for sids; crypto.randomBytes unless a test injects one. */
  randomBytes?(size: number): Uint8Array;
  /** Bytes of randomness in a sid (at least 16: 128 bits; default 16, 22 base64url characters). */
  sidBytes?: number;
  /** Session knobs beyond the configuration (see SessionOptions). */
  session?: Pick<SessionOptions, 'reportAfterMs' | 'maxRetransmits' | 'maxCachedResponses'>;
  /** Ended sessions remembered to answer their late requests (§17.1), oldest forgotten first; default 10 000. */
  maxTombstones?: number;
  metrics?: BoshMetrics;
}

interface Slot<R> {
  session: BoshSession<R>;
  address: string;
  scheduled: number | undefined;
  outstanding: number;
}

interface Timer<R> {
  at: number;
  slot: Slot<R>;
}

const UNKNOWN_SID = Object.freeze(terminalResponse('item-not-found', false));

/** What a late request of an ended session needs to be answered the way its client understands (§17.1). */
interface Tombstone {
  legacy: boolean;
  contentType: string;
  until: number;
}

export class BoshManager<R> {
  readonly #opts: BoshManagerOptions;
  readonly #sessionOptions: SessionOptions;
  readonly #sink: BoshManagerSink<R>;
  readonly #random: (size: number) => Uint8Array;
  readonly #sidBytes: number;
  readonly #sessions = new Map<string, Slot<R>>();
  readonly #perAddress = new Map<string, number>();
  readonly #timers: Timer<R>[] = [];
  /** Recently ended sessions by sid, in the order they ended (and so of `until`). */
  readonly #tombstones = new Map<string, Tombstone>();
  readonly #tombstoneMs: number;
  /** The `now` of the input being run. */
  #now = 0;
  #held = 0;
  /** The deadline last given to sink.schedule; null once its timer is spent (tick). */
  #announced: number | undefined | null;
  #draining: { condition: BoshCondition; children: string[] } | undefined;
  #busy = false;
  readonly #queue: (() => void)[] = [];
  readonly counters: BoshCounters = {
    sessionsCreated: 0,
    responses: { payload: 0, empty: 0, retransmit: 0, recoverable: 0, terminate: 0 },
    ended: {},
    rejected: {},
  };

  constructor(opts: BoshManagerOptions, sink: BoshManagerSink<R>) {
    this.#opts = opts;
    const b = opts.bosh;
    this.#sessionOptions = {
      maxWait: b.maxWait,
      maxHold: b.maxHold,
      inactivity: b.inactivity,
      maxPause: b.maxPause,
      polling: b.polling,
      maxBufferedBytes: b.maxBufferedBytes,
      ...opts.session,
    };
    this.#sink = sink;
    this.#random = opts.randomBytes ?? ((size) => cryptoRandomBytes(size));
    this.#sidBytes = Math.max(16, opts.sidBytes ?? 16);
    // Long enough for the requests a client still has in flight, or sends after a pause, to find it.
    this.#tombstoneMs = 2 * (b.maxWait + Math.max(b.inactivity, b.maxPause)) * 1000;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Requests held across all sessions. */
  get heldCount(): number {
    return this.#held;
  }

  get draining(): boolean {
    return this.#draining !== undefined;
  }

  has(sid: string): boolean {
    return this.#sessions.has(sid);
  }

  /** Upstream data buffered for the session's next request; 0 for an unknown sid. */
  bufferedBytes(sid: string): number {
    return this.#sessions.get(sid)?.session.bufferedBytes ?? 0;
  }

  /** One HTTP request: its parsed (or refused) body, the handle its response goes to, the client's address. */
  handle(input: BodyParseResult, reply: R, clientAddress: string, now: number): void {
    this.#run(now, () => this.#handle(input, reply, clientAddress, now));
  }

  upstreamOpened(sid: string, info: UpstreamInfo, now: number): void {
    this.#run(now, () => this.#with(sid, (s) => s.upstreamOpened(info, now)));
  }

  /** With `flush` false the element is only buffered: flushUpstream() then answers for every element of one read. */
  upstreamElement(sid: string, xml: string, kind: UpstreamElementKind, now: number, flush = true): void {
    this.#run(now, () => this.#with(sid, (s) => s.upstreamElement(xml, kind, now, flush)));
  }

  /** Sends what upstreamElement(…, false) buffered to the oldest held request, if any. */
  flushUpstream(sid: string, now: number): void {
    this.#run(now, () => this.#with(sid, (s) => s.flushUpstream(now)));
  }

  upstreamClosed(sid: string, now: number): void {
    this.#run(now, () => this.#with(sid, (s) => s.upstreamClosed(now)));
  }

  upstreamFailed(sid: string, condition: StreamErrorCondition, text: string, now: number): void {
    this.#run(now, () => this.#with(sid, (s) => s.upstreamFailed(condition, text, now)));
  }

  /**
   * Runs every session timer due at `now`. The timer that called it is spent: the next deadline is announced
   * again even when unchanged (a timer may fire a little before the deadline it was set for).
   */
  tick(now: number): void {
    this.#announced = null;
    this.#run(now, () => {
      const due: Slot<R>[] = [];
      while (this.#timers.length > 0 && this.#timers[0]!.at <= now) {
        const { at, slot } = heapPop(this.#timers);
        if (slot.scheduled !== at || this.#sessions.get(slot.session.sid) !== slot) continue;
        slot.scheduled = undefined;
        due.push(slot);
      }
      for (const slot of due) this.#call(slot, (s) => s.tick(now));
    });
  }

  /** The earliest time tick() has work, or undefined. */
  nextDeadline(): number | undefined {
    while (this.#timers.length > 0) {
      const { at, slot } = this.#timers[0]!;
      if (slot.scheduled === at && this.#sessions.get(slot.session.sid) === slot) return at;
      heapPop(this.#timers);
    }
    return undefined;
  }

  /**
   * Node shutdown: every session ends now, its upstream destroyed (XEP-0198 sessions stay resumable); held
   * requests and every later request get see-other-uri toward `uri`, or system-shutdown (XEP-0124 §17.2).
   */
  drain(now: number, uri?: string): void {
    this.#run(now, () => {
      const notice = drainNotice(uri);
      this.#draining = notice.condition === 'see-other-uri' ? { condition: notice.condition, children: [uriChild(notice.uri)] } : { condition: notice.condition, children: [] };
      const { condition, children } = this.#draining;
      for (const slot of [...this.#sessions.values()]) this.#call(slot, (s) => s.shutdown(now, condition, children));
    });
  }

  #handle(input: BodyParseResult, reply: R, clientAddress: string, now: number): void {
    if (this.#draining !== undefined) {
      const { condition, children } = this.#draining;
      return this.#reject(reply, terminalResponse(condition, false, DEFAULT_CONTENT_TYPE, children), condition);
    }
    if (!input.ok) {
      const sid = input.error.attrs?.sid;
      const slot = sid === undefined ? undefined : this.#sessions.get(sid);
      if (slot !== undefined) return this.#call(slot, (s) => s.badRequest(reply, now));
      // Unreadable and tied to no live session: an HTTP 400 unless a `ver`, or the session it names, shows a
      // current client (§17.1).
      const gone = sid === undefined ? undefined : this.#tombstone(sid, now);
      const legacy = gone?.legacy ?? input.error.attrs?.ver === undefined;
      return this.#reject(reply, terminalResponse('bad-request', legacy, gone?.contentType), 'bad-request');
    }
    const { attrs } = input.body;
    if (attrs.sid === undefined) return this.#create(input.body.attrs, input.body.payloads, reply, clientAddress, now);
    const slot = this.#sessions.get(attrs.sid);
    if (slot === undefined) {
      // §10/§17.2: an unknown or expired sid. A session that ended lately is answered as its client understands
      // (a legacy client gets HTTP 404, §17.1); an unknown one as a current client would be.
      const gone = this.#tombstone(attrs.sid, now);
      const response = gone === undefined ? UNKNOWN_SID : terminalResponse('item-not-found', gone.legacy, gone.contentType);
      return this.#reject(reply, response, 'item-not-found');
    }
    this.#call(slot, (s) => s.request(input.body, reply, now));
  }

  #tombstone(sid: string, now: number): Tombstone | undefined {
    const t = this.#tombstones.get(sid);
    return t !== undefined && t.until > now ? t : undefined;
  }

  #bury(sid: string, session: BoshSession<R>): void {
    const now = this.#now;
    for (const [old, t] of this.#tombstones) {
      if (t.until > now && this.#tombstones.size < (this.#opts.maxTombstones ?? 10_000)) break;
      this.#tombstones.delete(old);
    }
    const { legacy, contentType } = session.params;
    this.#tombstones.set(sid, { legacy, contentType, until: now + this.#tombstoneMs });
  }

  #create(attrs: BodyAttributes, payloads: readonly string[], reply: R, address: string, now: number): void {
    const neg = negotiate(attrs, this.#sessionOptions);
    if (!neg.ok) return this.#reject(reply, terminalResponse(neg.condition, neg.legacy, neg.contentType), neg.condition);
    const p = neg.params;
    const refuse = (condition: BoshCondition) => this.#reject(reply, terminalResponse(condition, p.legacy, p.contentType), condition);
    if (!this.#opts.isServed(p.to)) return refuse('host-unknown');
    // The node is full: not the client's fault, so not policy-violation.
    if (this.#sessions.size >= this.#opts.bosh.maxSessions) return refuse('internal-server-error');
    const count = this.#perAddress.get(address) ?? 0;
    if (count >= this.#opts.bosh.maxSessionsPerAddress) return refuse('policy-violation');
    const sid = this.#newSid();
    // The sink finds its slot through `ref`, not through a closure made here: every closure of one call shares
    // its context, and this one holds `reply` (refuse uses it), which the session would then keep for its life.
    const ref: { slot: Slot<R> | undefined } = { slot: undefined };
    const session = new BoshSession<R>(sid, p, this.#sessionOptions, this.#sessionSink(sid, ref), now);
    const slot: Slot<R> = { session, address, scheduled: undefined, outstanding: 0 };
    ref.slot = slot;
    this.#sessions.set(sid, slot);
    this.#perAddress.set(address, count + 1);
    this.counters.sessionsCreated++;
    this.#opts.metrics?.sessionCreated?.();
    this.#call(slot, (s) => s.start(payloads, reply, now));
  }

  /** §7.2, §19.3: an opaque, unpredictable sid, unique in the table. */
  #newSid(): string {
    for (;;) {
      const sid = Buffer.from(this.#random(this.#sidBytes)).toString('base64url');
      if (!this.#sessions.has(sid) && !this.#tombstones.has(sid)) return sid;
    }
  }

  #sessionSink(sid: string, ref: { readonly slot: Slot<R> | undefined }) {
    const sink = this.#sink;
    return {
      respond: (reply: R, response: BoshResponse, outcome: ResponseOutcome) => {
        this.counters.responses[outcome]++;
        this.#opts.metrics?.response?.(outcome);
        sink.respond(reply, response);
      },
      forward: (payloads: readonly string[]) => sink.forward(sid, payloads),
      openUpstream: (attrs: StreamOpenAttributes) => sink.openUpstream(sid, attrs),
      restartUpstream: (attrs: StreamOpenAttributes) => sink.restartUpstream(sid, attrs),
      closeUpstream: () => sink.closeUpstream(sid),
      destroyUpstream: () => sink.destroyUpstream(sid),
      ended: (reason: EndReason) => {
        const s = ref.slot;
        if (s !== undefined && this.#sessions.get(sid) === s) {
          this.#sessions.delete(sid);
          this.#bury(sid, s.session);
          const n = (this.#perAddress.get(s.address) ?? 1) - 1;
          if (n <= 0) this.#perAddress.delete(s.address);
          else this.#perAddress.set(s.address, n);
        }
        this.counters.ended[reason] = (this.counters.ended[reason] ?? 0) + 1;
        this.#opts.metrics?.sessionEnded?.(reason);
        sink.ended?.(sid, reason);
      },
    };
  }

  #reject(reply: R, response: BoshResponse, condition: BoshCondition): void {
    this.counters.rejected[condition] = (this.counters.rejected[condition] ?? 0) + 1;
    this.counters.responses.terminate++;
    this.#opts.metrics?.rejected?.(condition);
    this.#opts.metrics?.response?.('terminate');
    this.#sink.respond(reply, response);
  }

  #with(sid: string, f: (s: BoshSession<R>) => void): void {
    const slot = this.#sessions.get(sid);
    if (slot !== undefined) this.#call(slot, f);
  }

  /** Calls into one session, then brings the held-requests gauge and its timer up to date. */
  #call(slot: Slot<R>, f: (s: BoshSession<R>) => void): void {
    const s = slot.session;
    f(s);
    const outstanding = s.ended ? 0 : s.outstanding;
    this.#held += outstanding - slot.outstanding;
    slot.outstanding = outstanding;
    const at = s.ended ? undefined : s.nextDeadline();
    if (at !== undefined && at !== slot.scheduled) heapPush(this.#timers, { at, slot });
    slot.scheduled = at;
  }

  /** Runs one input to completion; inputs the sink feeds back meanwhile run after it, in order. */
  #run(now: number, f: () => void): void {
    if (this.#busy) {
      this.#queue.push(() => {
        this.#now = now;
        f();
      });
      return;
    }
    this.#now = now;
    this.#busy = true;
    try {
      f();
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) next();
    } finally {
      this.#busy = false;
      this.#queue.length = 0;
    }
    if (this.#timers.length > 4 * this.#sessions.size + 64) this.#compact();
    const at = this.nextDeadline();
    if (at !== this.#announced) {
      this.#announced = at;
      this.#sink.schedule?.(at);
    }
  }

  /** Drops superseded timers once they outnumber the sessions. */
  #compact(): void {
    const live = this.#timers.filter((t) => t.slot.scheduled === t.at && this.#sessions.get(t.slot.session.sid) === t.slot);
    this.#timers.length = 0;
    for (const t of live) heapPush(this.#timers, t);
  }
}

function heapPush<T extends { at: number }>(heap: T[], item: T): void {
  heap.push(item);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]!.at <= item.at) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = item;
}

function heapPop<T extends { at: number }>(heap: T[]): T {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const child = r < heap.length && heap[r]!.at < heap[l]!.at ? r : l;
      if (heap[child]!.at >= last.at) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
  return top;
}
