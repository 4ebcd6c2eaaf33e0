// A recording sink and a fake clock for driving the BOSH state machine in tests.
import type { BodyAttributes } from '../../../src/gateway/bosh/body.ts';
import {
  BoshSession,
  negotiate,
  type BoshResponse,
  type EndReason,
  type ResponseOutcome,
  type SessionOptions,
  type SessionSink,
} from '../../../src/gateway/bosh/session.ts';
import type { StreamOpenAttributes } from '../../../src/gateway/upstream/types.ts';

export type Recorded =
  | { type: 'respond'; reply: string; response: BoshResponse; outcome: ResponseOutcome }
  | { type: 'forward'; payloads: readonly string[] }
  | { type: 'open'; attrs: StreamOpenAttributes }
  | { type: 'restart'; attrs: StreamOpenAttributes }
  | { type: 'close' }
  | { type: 'destroy' }
  | { type: 'ended'; reason: EndReason };

export class Recorder implements SessionSink<string> {
  events: Recorded[] = [];
  respond(reply: string, response: BoshResponse, outcome: ResponseOutcome): void {
    this.events.push({ type: 'respond', reply, response, outcome });
  }
  forward(payloads: readonly string[]): void {
    this.events.push({ type: 'forward', payloads: [...payloads] });
  }
  openUpstream(attrs: StreamOpenAttributes): void {
    this.events.push({ type: 'open', attrs });
  }
  restartUpstream(attrs: StreamOpenAttributes): void {
    this.events.push({ type: 'restart', attrs });
  }
  closeUpstream(): void {
    this.events.push({ type: 'close' });
  }
  destroyUpstream(): void {
    this.events.push({ type: 'destroy' });
  }
  ended(reason: EndReason): void {
    this.events.push({ type: 'ended', reason });
  }

  /** Responses in the order they were written. */
  get responses(): Extract<Recorded, { type: 'respond' }>[] {
    return this.events.filter((e): e is Extract<Recorded, { type: 'respond' }> => e.type === 'respond');
  }
  /** The body written for `reply` (the last one if several). */
  body(reply: string): string | undefined {
    return this.responses.filter((r) => r.reply === reply).at(-1)?.response.body;
  }
  response(reply: string): BoshResponse | undefined {
    return this.responses.filter((r) => r.reply === reply).at(-1)?.response;
  }
  answered(reply: string): boolean {
    return this.responses.some((r) => r.reply === reply);
  }
  forwarded(): string[] {
    return this.events.flatMap((e) => (e.type === 'forward' ? [...e.payloads] : []));
  }
  has(type: Recorded['type']): boolean {
    return this.events.some((e) => e.type === type);
  }
  endedWith(): EndReason | undefined {
    const e = this.events.find((x) => x.type === 'ended');
    return e?.type === 'ended' ? e.reason : undefined;
  }
  clear(): void {
    this.events = [];
  }
}

export const OPTIONS: SessionOptions = {
  maxWait: 60,
  maxHold: 1,
  inactivity: 30,
  maxPause: 120,
  polling: 2,
  maxBufferedBytes: 10_000,
};

export const FEATURES =
  "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>";
export const msg = (n: number | string) => `<message xmlns='jabber:client' id='m${n}'><body>hi ${n}</body></message>`;

export const FIRST_RID = 1000;

/** A session created at t=0 from a creation request with rid 1000, its response still held (reply 'c'). */
export function createSession(creation: BodyAttributes = {}, opts: Partial<SessionOptions> = {}) {
  const rec = new Recorder();
  const options = { ...OPTIONS, ...opts };
  const clock = { now: 0 };
  const neg = negotiate({ rid: String(FIRST_RID), to: 'example.com', ver: '1.11', wait: '60', hold: '1', ...creation }, options);
  if (!neg.ok) throw new Error(`negotiation refused: ${neg.condition}`);
  const session = new BoshSession<string>('SID', neg.params, options, rec, clock.now);
  session.start([], 'c', clock.now);
  const send = (reply: string, attrs: BodyAttributes, payloads: readonly string[] = []) => session.request({ attrs, payloads }, reply, clock.now);
  /** A request with rid FIRST_RID + n. */
  const rid = (n: number) => String(FIRST_RID + n);
  const advance = (ms: number) => {
    clock.now += ms;
    session.tick(clock.now);
  };
  return { session, rec, clock, send, rid, advance, params: neg.params };
}

/** A session whose creation response went out with the features. */
export function openSession(creation: BodyAttributes = {}, opts: Partial<SessionOptions> = {}) {
  const t = createSession(creation, opts);
  t.session.upstreamOpened({ id: 'stream-1', from: 'example.com', version: '1.0' }, t.clock.now);
  t.session.upstreamElement(FEATURES, 'features', t.clock.now);
  t.rec.clear();
  return t;
}

/** Attributes of the <body/> start tag of a response, by a small regex (bodies are built by us). */
export function attrsOf(body: string | undefined): Record<string, string> {
  if (body === undefined) throw new Error('no body');
  const start = /^<body\b([^>]*?)\/?>/.exec(body);
  if (start === null) throw new Error(`not a body: ${body}`);
  const out: Record<string, string> = {};
  for (const m of start[1]!.matchAll(/([\w:-]+)='([^']*)'/g)) out[m[1]!] = m[2]!;
  return out;
}
