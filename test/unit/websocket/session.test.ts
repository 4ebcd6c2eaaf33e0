// The WebSocket stream machine (RFC 7395) driven event by event: each row is the events before, the event under
// test, and every action it must produce, in order.
import { describe, expect, it } from 'vitest';
import type { StreamErrorCondition } from '../../../src/gateway/errors.ts';
import { streamErrorElement } from '../../../src/gateway/stream-rules.ts';
import { closeMessage, openMessage } from '../../../src/gateway/websocket/framing.ts';
import { WebSocketSession, type EndReason, type UpstreamElementKind, type WebSocketAction, type WebSocketSessionOptions } from '../../../src/gateway/websocket/session.ts';
import type { XmlLimits } from '../../../src/gateway/xml/limits.ts';

const LIMITS: XmlLimits = { maxStanzaBytes: 2048, maxDepth: 8, maxAttributes: 16 };
const OPEN_TIMEOUT = 10_000;
const SERVED = new Set(['example.com', 'example2.com']);
const OPTIONS: WebSocketSessionOptions = { serves: (d) => SERVED.has(d.toLowerCase()), limits: LIMITS, openTimeoutMs: OPEN_TIMEOUT };

const FRAMING = "xmlns='urn:ietf:params:xml:ns:xmpp-framing'";
const open = (to: string, extra = '') => `<open ${FRAMING} to='${to}' version='1.0'${extra}/>`;
const CLOSE_MSG = `<close ${FRAMING}/>`;
const FEATURES = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>";
const MESSAGE = "<message xmlns='jabber:client' to='bob@example.com'><body>hi &amp; bye</body></message>";
const UPSTREAM_ERROR = "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>";
const INFO = { id: 'stream-1', from: 'example.com', version: '1.0' };

/** Every input of the machine, as a table cell. */
type Event =
  | { message: string }
  | { binary: true }
  | { opened: typeof INFO }
  | { element: string; kind: UpstreamElementKind }
  | { closed: true }
  | { failed: StreamErrorCondition; text: string }
  | { stalled: true }
  | { keepalive: true }
  | { pong: true }
  | { drain: string | undefined }
  | { shutdown: true }
  | { socketClosed: number }
  | { tick: number };

function step(s: WebSocketSession, e: Event): readonly WebSocketAction[] {
  if ('message' in e) return s.message(e.message, false);
  if ('binary' in e) return s.message('', true);
  if ('opened' in e) return s.upstreamOpened(e.opened);
  if ('element' in e) return s.upstreamElement(e.element, e.kind);
  if ('closed' in e) return s.upstreamClosed();
  if ('failed' in e) return s.upstreamFailed(e.failed, e.text);
  if ('stalled' in e) return s.clientStalled();
  if ('keepalive' in e) return s.keepalive();
  if ('pong' in e) {
    s.pong();
    return [];
  }
  if ('drain' in e) return s.drain(e.drain);
  if ('shutdown' in e) return s.shutdown();
  if ('socketClosed' in e) return s.socketClosed(e.socketClosed);
  return s.tick(e.tick);
}

/** Runs `before`, then returns the actions of `event`. The session starts at t=0. */
function run(before: readonly Event[], event: Event, options: WebSocketSessionOptions = OPTIONS) {
  const session = new WebSocketSession(options, 0);
  for (const e of before) step(session, e);
  return { session, actions: step(session, event) };
}

const send = (xml: string): WebSocketAction => ({ type: 'send', xml });
const deliver = (xml: string): WebSocketAction => ({ type: 'deliver', xml });
const forward = (xml: string): WebSocketAction => ({ type: 'forward', xml });
const CLOSE_UP: WebSocketAction = { type: 'closeUpstream' };
const DESTROY_UP: WebSocketAction = { type: 'destroyUpstream' };
const CLOSE_SOCKET: WebSocketAction = { type: 'closeSocket' };
const DROP_SOCKET: WebSocketAction = { type: 'dropSocket' };
const ended = (reason: EndReason): WebSocketAction => ({ type: 'ended', reason });
const endedWith = (condition: StreamErrorCondition, text: string): WebSocketAction => ({ type: 'ended', reason: condition, error: { condition, text } });
/** §3.6: the stream error and <close/>; before the stream is open, an <open/> first (RFC 6120 §4.9.1.3). */
const errorSends = (condition: StreamErrorCondition, text: string, openFrom?: string): WebSocketAction[] => [
  ...(openFrom === undefined ? [] : [send(openMessage({ from: openFrom, id: '', version: '1.0' }))]),
  send(streamErrorElement(condition, text)),
  send(closeMessage()),
];

/** The client opened example.com and got the upstream's <open/> and features. */
const OPENED: readonly Event[] = [{ message: open('example.com') }, { opened: INFO }, { element: FEATURES, kind: 'features' }];

describe('opening and restarting the stream (RFC 7395 §3.3.1, §3.4; RFC 6120 §4.3.3)', () => {
  it.each<[string, readonly Event[], Event, WebSocketAction[]]>([
    [
      'the first <open/> to a served domain opens the upstream with the client attributes',
      [],
      { message: open('example.com', " xml:lang='de' from='alice@example.com'") },
      [{ type: 'openUpstream', domain: 'example.com', attrs: { to: 'example.com', version: '1.0', lang: 'de', from: 'alice@example.com' } }],
    ],
    [
      'a domain in another case is routed lower-cased, its `to` forwarded as written',
      [],
      { message: open('Example.COM') },
      [{ type: 'openUpstream', domain: 'example.com', attrs: { to: 'Example.COM', version: '1.0' } }],
    ],
    ['the upstream stream header becomes the <open/> answer', [{ message: open('example.com') }], { opened: INFO }, [send(openMessage(INFO))]],
    ['the upstream features go to the client', [{ message: open('example.com') }, { opened: INFO }], { element: FEATURES, kind: 'features' }, [deliver(FEATURES)]],
    [
      'a restart keeps the domain, takes the new attributes and keeps those it leaves out',
      [{ message: open('example.com', " xml:lang='de' from='alice@example.com'") }, { opened: INFO }],
      { message: `<open ${FRAMING} to='EXAMPLE.com' xml:lang='en'/>` },
      [{ type: 'restartUpstream', attrs: { to: 'example.com', version: '1.0', lang: 'en', from: 'alice@example.com' } }],
    ],
    [
      'a restart to another domain is host-unknown and ends the upstream stream',
      OPENED,
      { message: open('example2.com') },
      [...errorSends('host-unknown', 'restart to another domain'), CLOSE_UP, CLOSE_SOCKET, endedWith('host-unknown', 'restart to another domain')],
    ],
    [
      'a domain not served here is host-unknown inside an <open/> from that domain (RFC 6120 §4.9.3.6)',
      [],
      { message: open('elsewhere.org') },
      [...errorSends('host-unknown', 'domain elsewhere.org is not served here', 'elsewhere.org'), CLOSE_SOCKET, endedWith('host-unknown', 'domain elsewhere.org is not served here')],
    ],
    [
      'an <open/> without `to` is host-unknown inside an <open/> from the gateway',
      [],
      { message: `<open ${FRAMING} version='1.0'/>` },
      [...errorSends('host-unknown', '<open/> without to', 'gateway'), CLOSE_SOCKET, endedWith('host-unknown', '<open/> without to')],
    ],
    [
      'an element before <open/> is not-authorized',
      [],
      { message: MESSAGE },
      [...errorSends('not-authorized', 'element before <open/>', 'gateway'), CLOSE_SOCKET, endedWith('not-authorized', 'element before <open/>')],
    ],
  ])('%s', (_name, before, event, expected) => {
    expect(run(before, event).actions).toEqual(expected);
  });
});

describe('client messages (RFC 7395 §3.2, §3.3.3)', () => {
  it.each<[string, Event, WebSocketAction[]]>([
    ['a stanza is forwarded exactly as sent', { message: MESSAGE }, [forward(MESSAGE)]],
    ['a non-stanza top-level element too', { message: "<enable xmlns='urn:xmpp:sm:3' resume='true'/>" }, [forward("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")]],
    [
      'a binary message is unsupported-encoding',
      { binary: true },
      [...errorSends('unsupported-encoding', 'binary message'), CLOSE_UP, CLOSE_SOCKET, endedWith('unsupported-encoding', 'binary message')],
    ],
    [
      'malformed XML is not-well-formed',
      { message: "<message xmlns='jabber:client'><body></message>" },
      [send(expect.stringContaining('<not-well-formed ') as unknown as string), send(closeMessage()), CLOSE_UP, CLOSE_SOCKET, expect.objectContaining({ reason: 'not-well-formed' })],
    ],
    [
      'a stanza over the size limit is policy-violation',
      { message: `<message xmlns='jabber:client'><body>${'x'.repeat(3000)}</body></message>` },
      [send(expect.stringContaining('<policy-violation ') as unknown as string), send(closeMessage()), CLOSE_UP, CLOSE_SOCKET, expect.objectContaining({ reason: 'policy-violation' })],
    ],
    [
      'a stanza outside jabber:client is invalid-namespace',
      { message: "<message xmlns='urn:x'/>" },
      [send(expect.stringContaining('<invalid-namespace ') as unknown as string), send(closeMessage()), CLOSE_UP, CLOSE_SOCKET, expect.objectContaining({ reason: 'invalid-namespace' })],
    ],
  ])('%s', (_name, event, expected) => {
    expect(run(OPENED, event).actions).toEqual(expected);
  });

  it('ends the stream with internal-server-error, keeping the cause, when reading a message fails unexpectedly', () => {
    const bug = new TypeError('a bug');
    let broken = false;
    // The parser reads the limits of every message: a getter that throws stands for a bug in it.
    const limits = {
      get maxStanzaBytes(): number {
        if (broken) throw bug;
        return LIMITS.maxStanzaBytes;
      },
      maxDepth: 8,
      maxAttributes: 16,
    };
    const session = new WebSocketSession({ ...OPTIONS, limits }, 0);
    expect(session.message(open('example.com'), false)[0]?.type).toBe('openUpstream');
    broken = true;
    expect(session.message(MESSAGE, false)).toEqual([
      ...errorSends('internal-server-error', 'unexpected error'),
      CLOSE_UP,
      CLOSE_SOCKET,
      { type: 'ended', reason: 'internal-server-error', error: { condition: 'internal-server-error', text: 'unexpected error', cause: bug } },
    ]);
  });
});

describe('endings (RFC 7395 §3.6; what becomes of the upstream, XEP-0198 §7)', () => {
  it.each<[string, readonly Event[], Event, WebSocketAction[]]>([
    ['the client closes: <close/> back, the upstream closed cleanly', OPENED, { message: CLOSE_MSG }, [send(closeMessage()), CLOSE_UP, CLOSE_SOCKET, ended('client-close')]],
    ['the client closes before opening: nothing upstream to end', [], { message: CLOSE_MSG }, [send(closeMessage()), CLOSE_SOCKET, ended('client-close')]],
    [
      'the server sends a stream error: relayed, then <close/>, the upstream closed',
      OPENED,
      { element: UPSTREAM_ERROR, kind: 'error' },
      [deliver(UPSTREAM_ERROR), send(closeMessage()), CLOSE_UP, CLOSE_SOCKET, ended('upstream-stream-error')],
    ],
    ['the server closes its stream: <close/>, nothing left upstream', OPENED, { closed: true }, [send(closeMessage()), CLOSE_SOCKET, ended('upstream-closed')]],
    [
      'the upstream fails: its condition as a stream error, nothing left upstream',
      [{ message: open('example.com') }],
      { failed: 'remote-connection-failed', text: 'connect refused' },
      [...errorSends('remote-connection-failed', 'connect refused'), CLOSE_SOCKET, endedWith('remote-connection-failed', 'connect refused')],
    ],
    ['the socket closes normally: the upstream dropped, resumable', OPENED, { socketClosed: 1000 }, [DESTROY_UP, ended('socket-closed')]],
    ['the socket is lost: the upstream dropped, resumable', OPENED, { socketClosed: 1006 }, [DESTROY_UP, ended('connection-lost')]],
    ['the socket closes before <open/>: only the end', [], { socketClosed: 1001 }, [ended('connection-lost')]],
    ['the client does not read: dropped, the upstream resumable', OPENED, { stalled: true }, [DESTROY_UP, DROP_SOCKET, ended('slow-consumer')]],
    ['the gateway closes: dropped without goodbye, the upstream resumable', OPENED, { shutdown: true }, [DESTROY_UP, DROP_SOCKET, ended('gateway-closed')]],
  ])('%s', (_name, before, event, expected) => {
    expect(run(before, event).actions).toEqual(expected);
  });
});

describe('drain (RFC 7395 §3.6.1)', () => {
  const URI = "wss://node-b.example/xmpp-websocket?a=1&b='2'";
  it.each<[string, readonly Event[], string | undefined, WebSocketAction[]]>([
    ['with another node: <close see-other-uri/>, the upstream dropped to resume there', OPENED, URI, [send(closeMessage(URI)), DESTROY_UP, CLOSE_SOCKET, ended('see-other-uri')]],
    [
      'with no other node: system-shutdown, the upstream dropped',
      OPENED,
      undefined,
      [...errorSends('system-shutdown', ''), DESTROY_UP, CLOSE_SOCKET, endedWith('system-shutdown', '')],
    ],
    ['an empty URI counts as none', OPENED, '', [...errorSends('system-shutdown', ''), DESTROY_UP, CLOSE_SOCKET, endedWith('system-shutdown', '')]],
    [
      'before <open/>: system-shutdown inside an <open/>',
      [],
      undefined,
      [...errorSends('system-shutdown', '', 'gateway'), CLOSE_SOCKET, endedWith('system-shutdown', '')],
    ],
  ])('%s', (_name, before, uri, expected) => {
    expect(run(before, { drain: uri }).actions).toEqual(expected);
  });

  it('escapes the URI in the attribute', () => {
    const [first] = run(OPENED, { drain: URI }).actions;
    expect(first).toEqual(send(`<close ${FRAMING} see-other-uri='wss://node-b.example/xmpp-websocket?a=1&amp;b=&apos;2&apos;'/>`));
  });
});

describe('keepalive', () => {
  it.each<[string, readonly Event[], WebSocketAction[]]>([
    ['the first sweep pings', [], [{ type: 'ping' }]],
    ['a pong before the next sweep keeps the client', [{ keepalive: true }, { pong: true }], [{ type: 'ping' }]],
    ['no pong by the next sweep drops the client, the upstream resumable', [{ keepalive: true }], [DESTROY_UP, DROP_SOCKET, ended('dead-peer')]],
  ])('%s', (_name, before, expected) => {
    expect(run([...OPENED, ...before], { keepalive: true }).actions).toEqual(expected);
  });
});

describe('open timeout (slowloris after the upgrade)', () => {
  it('is due openTimeoutMs after the upgrade, and not a millisecond before', () => {
    const session = new WebSocketSession(OPTIONS, 500);
    expect(session.nextDeadline()).toBe(500 + OPEN_TIMEOUT);
    expect(session.tick(500 + OPEN_TIMEOUT - 1)).toEqual([]);
    expect(session.tick(500 + OPEN_TIMEOUT)).toEqual([
      ...errorSends('connection-timeout', 'no <open/> in time', 'gateway'),
      CLOSE_SOCKET,
      endedWith('connection-timeout', 'no <open/> in time'),
    ]);
    expect(session.nextDeadline()).toBeUndefined();
  });

  it.each<[string, readonly Event[], WebSocketSessionOptions]>([
    ['is cleared by <open/>', [{ message: open('example.com') }], OPTIONS],
    ['is cleared when the stream ends first', [{ socketClosed: 1006 }], OPTIONS],
    ['is off with openTimeoutMs 0', [], { ...OPTIONS, openTimeoutMs: 0 }],
  ])('%s', (_name, before, options) => {
    const { session, actions } = run(before, { tick: 10 * OPEN_TIMEOUT }, options);
    expect(session.nextDeadline()).toBeUndefined();
    expect(actions).toEqual([]);
  });
});

describe('after the end', () => {
  const EVERY_EVENT: Event[] = [
    { message: MESSAGE },
    { message: open('example.com') },
    { message: CLOSE_MSG },
    { binary: true },
    { opened: INFO },
    { element: FEATURES, kind: 'features' },
    { element: UPSTREAM_ERROR, kind: 'error' },
    { closed: true },
    { failed: 'remote-connection-failed', text: 'lost' },
    { stalled: true },
    { keepalive: true },
    { drain: 'wss://b.example/ws' },
    { drain: undefined },
    { shutdown: true },
    { socketClosed: 1000 },
    { tick: 10 * OPEN_TIMEOUT },
  ];
  const ENDINGS: Event[] = [{ message: CLOSE_MSG }, { closed: true }, { socketClosed: 1006 }, { drain: undefined }, { shutdown: true }, { binary: true }];

  it.each(ENDINGS.map((e) => [JSON.stringify(e), e] as const))('ends exactly once with %s, the end last, and then ignores every event', (_name, ending) => {
    const session = new WebSocketSession(OPTIONS, 0);
    for (const e of OPENED) step(session, e);
    const actions = step(session, ending);
    expect(actions.filter((a) => a.type === 'ended')).toHaveLength(1);
    expect(actions.at(-1)?.type).toBe('ended');
    expect(session.state).toBe('closed');
    for (const e of EVERY_EVENT) expect(step(session, e), JSON.stringify(e)).toEqual([]);
  });
});
