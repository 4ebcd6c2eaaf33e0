import { describe, expect, it } from 'vitest';
import { parseBody, type BodyParseResult } from '../../../src/gateway/bosh/body.ts';
import { BoshManager, type BoshLimits, type BoshManagerOptions, type BoshManagerSink } from '../../../src/gateway/bosh/manager.ts';
import type { BoshResponse, EndReason } from '../../../src/gateway/bosh/session.ts';
import type { StreamOpenAttributes } from '../../../src/gateway/upstream/types.ts';
import { FEATURES, attrsOf, msg } from './helpers.ts';

const B = "<body xmlns='http://jabber.org/protocol/httpbind'";
const NS = "xmlns='http://jabber.org/protocol/httpbind'";
const LIMITS = { maxBytes: 65_536, maxDepth: 16, maxAttributes: 32 };
const BOSH: BoshLimits = {
  maxWait: 60,
  maxHold: 1,
  inactivity: 30,
  maxPause: 120,
  polling: 2,
  maxBufferedBytes: 10_000,
  maxSessions: 10,
  maxSessionsPerAddress: 3,
};

type Event =
  | { type: 'respond'; reply: string; response: BoshResponse }
  | { type: 'open'; sid: string; attrs: StreamOpenAttributes }
  | { type: 'restart'; sid: string; attrs: StreamOpenAttributes }
  | { type: 'forward'; sid: string; payloads: readonly string[] }
  | { type: 'close'; sid: string }
  | { type: 'destroy'; sid: string }
  | { type: 'ended'; sid: string; reason: EndReason }
  | { type: 'schedule'; at: number | undefined };

class Sink implements BoshManagerSink<string> {
  events: Event[] = [];
  onForward: ((sid: string, payloads: readonly string[]) => void) | undefined;
  respond(reply: string, response: BoshResponse): void {
    this.events.push({ type: 'respond', reply, response });
  }
  openUpstream(sid: string, attrs: StreamOpenAttributes): void {
    this.events.push({ type: 'open', sid, attrs });
  }
  restartUpstream(sid: string, attrs: StreamOpenAttributes): void {
    this.events.push({ type: 'restart', sid, attrs });
  }
  forward(sid: string, payloads: readonly string[]): void {
    this.events.push({ type: 'forward', sid, payloads });
    this.onForward?.(sid, payloads);
  }
  closeUpstream(sid: string): void {
    this.events.push({ type: 'close', sid });
  }
  destroyUpstream(sid: string): void {
    this.events.push({ type: 'destroy', sid });
  }
  ended(sid: string, reason: EndReason): void {
    this.events.push({ type: 'ended', sid, reason });
  }
  schedule(at: number | undefined): void {
    this.events.push({ type: 'schedule', at });
  }
  response(reply: string): BoshResponse | undefined {
    const r = this.events.filter((e): e is Extract<Event, { type: 'respond' }> => e.type === 'respond' && e.reply === reply).at(-1);
    return r?.response;
  }
  body(reply: string): string | undefined {
    return this.response(reply)?.body;
  }
  of<T extends Event['type']>(type: T): Extract<Event, { type: T }>[] {
    return this.events.filter((e): e is Extract<Event, { type: T }> => e.type === type);
  }
}

function setup(opts: Partial<Omit<BoshManagerOptions, 'bosh'>> & { bosh?: Partial<BoshLimits> } = {}) {
  const sink = new Sink();
  const manager = new BoshManager<string>({ isServed: (d) => d === 'example.com', ...opts, bosh: { ...BOSH, ...opts.bosh } }, sink);
  const clock = { now: 0 };
  const parse = (xml: string): BodyParseResult => parseBody(xml, LIMITS);
  const handle = (reply: string, xml: string, address = '192.0.2.1') => manager.handle(parse(xml), reply, address, clock.now);
  /** Creates a session; returns its sid. */
  const create = (reply: string, address = '192.0.2.1', extra = '') => {
    handle(reply, `<body ${NS} rid='100' to='example.com' ver='1.11' wait='60' hold='1' ${extra}/>`, address);
    const open = sink.of('open').at(-1);
    return open?.sid ?? '';
  };
  return { sink, manager, clock, parse, handle, create };
}

describe('session creation', () => {
  it('creates a session, opens its upstream and answers with the features', () => {
    const { manager, sink, create } = setup();
    const sid = create('c');
    expect(sink.of('open')).toEqual([{ type: 'open', sid, attrs: { to: 'example.com', version: '1.0' } }]);
    expect(manager.sessionCount).toBe(1);
    expect(manager.heldCount).toBe(1);
    manager.upstreamOpened(sid, { id: 'i', from: 'example.com', version: '1.0' }, 0);
    manager.upstreamElement(sid, FEATURES, 'features', 0);
    expect(attrsOf(sink.body('c')).sid).toBe(sid);
    expect(manager.heldCount).toBe(0);
    expect(manager.counters.sessionsCreated).toBe(1);
  });

  it('refuses a domain not served with host-unknown, before any upstream', () => {
    const { manager, sink, handle } = setup();
    handle('c', `<body ${NS} rid='100' to='other.example' ver='1.11'/>`);
    expect(sink.response('c')).toEqual({ status: 200, contentType: 'text/xml; charset=utf-8', body: `${B} type='terminate' condition='host-unknown'/>` });
    expect(sink.of('open')).toEqual([]);
    expect(manager.sessionCount).toBe(0);
    expect(manager.counters.rejected['host-unknown']).toBe(1);
  });

  it('refuses a creation request without to with improper-addressing', () => {
    const { sink, handle } = setup();
    handle('c', `<body ${NS} rid='100' ver='1.11'/>`);
    expect(sink.body('c')).toBe(`${B} type='terminate' condition='improper-addressing'/>`);
  });

  it('answers a malformed creation request from a legacy client with HTTP 400', () => {
    const { sink, handle } = setup();
    handle('c', `<body ${NS} rid='x' to='example.com'/>`);
    expect(sink.response('c')?.status).toBe(400);
    handle('d', `<body ${NS} rid='x' to='example.com' ver='1.6'/>`);
    expect(sink.response('d')?.status).toBe(200);
  });

  it('refuses sessions beyond maxSessions with internal-server-error', () => {
    const { manager, sink, create } = setup({ bosh: { maxSessions: 2 } });
    create('a', '192.0.2.1');
    create('b', '192.0.2.2');
    create('c', '192.0.2.3');
    expect(sink.body('c')).toBe(`${B} type='terminate' condition='internal-server-error'/>`);
    expect(manager.sessionCount).toBe(2);
  });

  it('refuses sessions beyond maxSessionsPerAddress with policy-violation, and frees the slot when one ends', () => {
    const { manager, sink, create, handle } = setup({ bosh: { maxSessionsPerAddress: 2 } });
    const first = create('a');
    create('b');
    create('c');
    expect(sink.body('c')).toBe(`${B} type='terminate' condition='policy-violation'/>`);
    create('d', '192.0.2.99');
    expect(manager.sessionCount).toBe(3);
    handle('t', `<body ${NS} sid='${first}' rid='101' type='terminate'/>`);
    expect(manager.sessionCount).toBe(2);
    create('e');
    expect(sink.response('e')).toBeUndefined(); // held: a session was created
    expect(manager.sessionCount).toBe(3);
  });
});

describe('session ids (XEP-0124 §7.2, §19.3)', () => {
  it('are 128 random bits in base64url, unique', () => {
    const { sink, create } = setup({ bosh: { maxSessions: 1000, maxSessionsPerAddress: 1000 } });
    for (let i = 0; i < 300; i++) create(`c${i}`);
    const sids = sink.of('open').map((e) => e.sid);
    expect(new Set(sids).size).toBe(300);
    for (const sid of sids) expect(sid).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('draw from the injected random source, never fewer than 16 bytes', () => {
    const sizes: number[] = [];
    const { sink, create } = setup({ sidBytes: 4, randomBytes: (n) => (sizes.push(n), new Uint8Array(n).fill(7)) });
    create('c');
    expect(sizes).toEqual([16]);
    expect(sink.of('open')[0]?.sid).toBe(Buffer.alloc(16, 7).toString('base64url'));
  });

  it('are drawn again on a collision', () => {
    let n = 0;
    const { sink, create } = setup({ randomBytes: (size) => new Uint8Array(size).fill(n++ < 2 ? 1 : 2) });
    create('a');
    create('b');
    const [a, b] = sink.of('open').map((e) => e.sid);
    expect(a).not.toBe(b);
    expect(n).toBe(3);
  });
});

describe('routing', () => {
  it('answers an unknown sid with item-not-found at once, creating nothing', () => {
    const { manager, sink, handle } = setup();
    handle('x', `<body ${NS} sid='nope' rid='5'/>`);
    expect(sink.response('x')).toEqual({ status: 200, contentType: 'text/xml; charset=utf-8', body: `${B} type='terminate' condition='item-not-found'/>` });
    expect(manager.sessionCount).toBe(0);
    expect(manager.counters.rejected['item-not-found']).toBe(1);
  });

  it('passes requests and upstream events to their session', () => {
    const { manager, sink, create, handle } = setup();
    const sid = create('c');
    manager.upstreamElement(sid, FEATURES, 'features', 0);
    handle('a', `<body ${NS} sid='${sid}' rid='101'><message to='x@example.com'><body>hi</body></message></body>`);
    expect(sink.of('forward')).toEqual([{ type: 'forward', sid, payloads: [`<message xmlns='jabber:client' to='x@example.com'><body>hi</body></message>`] }]);
    manager.upstreamElement(sid, msg(1), 'stanza', 0);
    expect(sink.body('a')).toBe(`${B}>${msg(1)}</body>`);
    // Events for sessions that are gone are dropped.
    expect(() => manager.upstreamElement('gone', msg(2), 'stanza', 0)).not.toThrow();
    expect(() => manager.upstreamClosed('gone', 0)).not.toThrow();
  });

  it('terminates the session of an unreadable request with bad-request', () => {
    const { manager, sink, create, handle } = setup();
    const sid = create('c');
    handle('x', `<body ${NS} sid='${sid}' rid='101'><!-- no --></body>`);
    expect(sink.body('x')).toBe(`${B} type='terminate' condition='bad-request'/>`);
    expect(sink.body('c')).toBe(`${B} type='terminate' condition='other-request'/>`);
    expect(manager.sessionCount).toBe(0);
    expect(sink.of('destroy')).toEqual([{ type: 'destroy', sid }]);
  });

  it('answers an unreadable request of no session with HTTP 400', () => {
    const { sink, handle } = setup();
    handle('x', `<!DOCTYPE x><body ${NS}/>`);
    expect(sink.response('x')).toMatchObject({ status: 400, body: `${B} type='terminate' condition='bad-request'/>` });
  });

  it('queues inputs the sink feeds back while a call is running', () => {
    const { manager, sink, create, handle } = setup();
    const sid = create('c');
    manager.upstreamElement(sid, FEATURES, 'features', 0);
    sink.onForward = (s) => manager.upstreamElement(s, msg('echo'), 'stanza', 0);
    handle('a', `<body ${NS} sid='${sid}' rid='101'>${msg(1)}</body>`);
    expect(sink.body('a')).toBe(`${B}>${msg('echo')}</body>`);
  });
});

describe('timers', () => {
  it('schedules the earliest deadline and runs it on tick', () => {
    const { manager, sink, create, clock } = setup();
    const sid = create('c');
    expect(manager.nextDeadline()).toBe(60_000);
    expect(sink.of('schedule').at(-1)).toEqual({ type: 'schedule', at: 60_000 });
    clock.now = 59_999;
    manager.tick(clock.now);
    expect(sink.response('c')).toBeUndefined();
    clock.now = 60_000;
    manager.tick(clock.now);
    expect(attrsOf(sink.body('c')).sid).toBe(sid);
    // Next: inactivity from the response.
    expect(manager.nextDeadline()).toBe(90_000);
    expect(sink.of('schedule').at(-1)).toEqual({ type: 'schedule', at: 90_000 });
    manager.tick(90_000);
    expect(sink.of('ended')).toEqual([{ type: 'ended', sid, reason: 'inactivity' }]);
    expect(sink.of('destroy')).toEqual([{ type: 'destroy', sid }]);
    expect(manager.sessionCount).toBe(0);
    expect(manager.nextDeadline()).toBeUndefined();
    expect(sink.of('schedule').at(-1)).toEqual({ type: 'schedule', at: undefined });
    expect(manager.counters.ended.inactivity).toBe(1);
  });

  it('announces a deadline again after a tick that came too early for it', () => {
    // The HTTP layer's timer may fire a little before the deadline (its clock is coarser): the timer is spent,
    // so the deadline must be announced again, or the held request would never be answered.
    const { manager, sink, create } = setup();
    const sid = create('c');
    const schedules = sink.of('schedule').length;
    manager.tick(59_999.4);
    expect(sink.response('c')).toBeUndefined();
    expect(sink.of('schedule').slice(schedules)).toEqual([{ type: 'schedule', at: 60_000 }]);
    manager.tick(60_000);
    expect(attrsOf(sink.body('c')).sid).toBe(sid);
  });

  it('ignores superseded deadlines', () => {
    const { manager, sink, create, clock } = setup();
    const sid = create('c');
    clock.now = 10_000;
    manager.upstreamElement(sid, FEATURES, 'features', clock.now);
    // The wait deadline at 60 000 is stale now; inactivity runs to 40 000.
    expect(manager.nextDeadline()).toBe(40_000);
    manager.tick(40_000);
    expect(sink.of('ended')).toHaveLength(1);
    manager.tick(60_000);
    expect(sink.of('ended')).toHaveLength(1);
  });

  it('keeps the timers of many sessions in order', () => {
    const { manager, sink, handle } = setup({ bosh: { maxSessions: 100, maxSessionsPerAddress: 100 } });
    for (let i = 0; i < 50; i++) handle(`c${i}`, `<body ${NS} rid='100' to='example.com' ver='1.11' wait='${60 - i}'/>`);
    let previous = 0;
    for (let i = 49; i >= 0; i--) {
      const at = manager.nextDeadline()!;
      expect(at).toBeGreaterThanOrEqual(previous);
      expect(at).toBe((60 - i) * 1000);
      manager.tick(at);
      expect(sink.response(`c${i}`)).toBeDefined();
      previous = at;
    }
  });
});

describe('late requests of ended sessions', () => {
  it('answer a legacy client with HTTP 404 and a current one with a terminal condition (§17.1)', () => {
    const { manager, sink, handle, clock } = setup();
    handle('l', `<body ${NS} rid='100' to='example.com' wait='60' hold='1' content='text/xml; charset=iso-8859-1'/>`);
    const legacy = sink.of('open').at(-1)!.sid;
    const current = create2();
    function create2() {
      handle('c', `<body ${NS} rid='100' to='example.com' ver='1.11' wait='60' hold='1'/>`, '192.0.2.2');
      return sink.of('open').at(-1)!.sid;
    }
    handle('lt', `<body ${NS} sid='${legacy}' rid='101' type='terminate'/>`);
    handle('ct', `<body ${NS} sid='${current}' rid='101' type='terminate'/>`);
    expect(manager.sessionCount).toBe(0);
    clock.now = 5_000;
    handle('l2', `<body ${NS} sid='${legacy}' rid='102'/>`);
    expect(sink.response('l2')).toEqual({ status: 404, contentType: 'text/xml; charset=iso-8859-1', body: `${B} type='terminate' condition='item-not-found'/>` });
    handle('c2', `<body ${NS} sid='${current}' rid='102'/>`);
    expect(sink.response('c2')?.status).toBe(200);
    // An unreadable request naming the ended legacy session: HTTP 400, as for a live one.
    handle('l3', `<body ${NS} sid='${legacy}' rid='103'><!-- x --></body>`);
    expect(sink.response('l3')?.status).toBe(400);
    handle('c3', `<body ${NS} sid='${current}' rid='103'><!-- x --></body>`);
    expect(sink.response('c3')?.status).toBe(200);
    // A sid never seen: a current client is assumed.
    handle('u', `<body ${NS} sid='never-seen' rid='1'/>`);
    expect(sink.response('u')?.status).toBe(200);
    // Forgotten after 2 × (maxWait + max(inactivity, maxPause)) = 360 s.
    clock.now = 359_000;
    handle('l4', `<body ${NS} sid='${legacy}' rid='104'/>`);
    expect(sink.response('l4')?.status).toBe(404);
    clock.now = 361_000;
    handle('l5', `<body ${NS} sid='${legacy}' rid='105'/>`);
    expect(sink.response('l5')?.status).toBe(200);
    expect(manager.counters.rejected['item-not-found']).toBe(5);
  });

  it('are remembered for a bounded number of sessions', () => {
    const { manager, sink, handle } = setup({ maxTombstones: 20, bosh: { maxSessionsPerAddress: 100 } });
    const sids: string[] = [];
    for (let i = 0; i < 25; i++) {
      handle(`c${i}`, `<body ${NS} rid='100' to='example.com' wait='60' hold='1'/>`);
      const sid = sink.of('open').at(-1)!.sid;
      sids.push(sid);
      handle(`t${i}`, `<body ${NS} sid='${sid}' rid='101' type='terminate'/>`);
    }
    expect(manager.sessionCount).toBe(0);
    const status = (sid: string) => {
      handle(`late-${sid}`, `<body ${NS} sid='${sid}' rid='102'/>`);
      return sink.response(`late-${sid}`)?.status;
    };
    expect(sids.map(status)).toEqual([...Array(5).fill(200), ...Array(20).fill(404)]);
  });
});

describe('drain', () => {
  it('sends every held request see-other-uri toward another node, ends the sessions resumably, and refuses the rest', () => {
    const { manager, sink, create, handle } = setup();
    const a = create('a', '192.0.2.1');
    const b = create('b', '192.0.2.2');
    manager.upstreamElement(b, FEATURES, 'features', 0);
    manager.drain(0, 'https://node-2.example/http-bind');
    const seeOther = `${B} type='terminate' condition='see-other-uri'><uri>https://node-2.example/http-bind</uri></body>`;
    expect(sink.body('a')).toBe(seeOther);
    expect(sink.of('destroy').map((e) => e.sid).sort()).toEqual([a, b].sort());
    expect(sink.of('close')).toEqual([]);
    expect(manager.sessionCount).toBe(0);
    expect(manager.heldCount).toBe(0);
    expect(manager.draining).toBe(true);
    handle('later', `<body ${NS} sid='${b}' rid='101'/>`);
    expect(sink.body('later')).toBe(seeOther);
    handle('new', `<body ${NS} rid='1' to='example.com' ver='1.11'/>`);
    expect(sink.body('new')).toBe(seeOther);
    expect(manager.counters.ended['see-other-uri']).toBe(2);
  });

  it('uses system-shutdown when no other node is known', () => {
    const { manager, sink, create } = setup();
    create('a');
    manager.drain(0);
    expect(sink.body('a')).toBe(`${B} type='terminate' condition='system-shutdown'/>`);
  });
});

describe('metrics', () => {
  it('counts responses by outcome, endings by reason, and reports through the hooks', () => {
    const seen: string[] = [];
    const { manager, create, handle } = setup({
      metrics: {
        sessionCreated: () => seen.push('created'),
        response: (o) => seen.push(`response:${o}`),
        sessionEnded: (r) => seen.push(`ended:${r}`),
        rejected: (c) => seen.push(`rejected:${c}`),
      },
    });
    const sid = create('c');
    manager.upstreamElement(sid, FEATURES, 'features', 0);
    handle('x', `<body ${NS} sid='nope' rid='1'/>`);
    handle('t', `<body ${NS} sid='${sid}' rid='101' type='terminate'/>`);
    expect(seen).toEqual(['created', 'response:payload', 'rejected:item-not-found', 'response:terminate', 'response:terminate', 'ended:client-terminate']);
    expect(manager.counters.responses).toEqual({ payload: 1, empty: 0, retransmit: 0, recoverable: 0, terminate: 2 });
    expect(manager.counters.ended).toEqual({ 'client-terminate': 1 });
  });

  it('tracks the requests held across sessions', () => {
    const { manager, create, handle } = setup();
    const a = create('a', '192.0.2.1');
    const b = create('b', '192.0.2.2');
    expect(manager.heldCount).toBe(2);
    manager.upstreamElement(a, FEATURES, 'features', 0);
    expect(manager.heldCount).toBe(1);
    handle('a1', `<body ${NS} sid='${a}' rid='101'>${msg(1)}</body>`);
    expect(manager.heldCount).toBe(2);
    manager.upstreamFailed(b, 'remote-connection-failed', '', 0);
    expect(manager.heldCount).toBe(1);
    expect(manager.sessionCount).toBe(1);
  });
});
