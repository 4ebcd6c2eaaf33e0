// The rules both client transports share (stream-rules.ts), and a check that the WebSocket machine and the BOSH
// session really follow them: the same ending does the same to the upstream, the same drain tells the same.
import { describe, expect, it } from 'vitest';
import { parseBody } from '../../../src/gateway/bosh/body.ts';
import { BoshManager } from '../../../src/gateway/bosh/manager.ts';
import type { BoshResponse } from '../../../src/gateway/bosh/session.ts';
import {
  drainNotice,
  openAttributes,
  restartAttributes,
  sameDomain,
  streamErrorElement,
  UPSTREAM_AFTER,
  type StreamEnding,
} from '../../../src/gateway/stream-rules.ts';
import { WebSocketSession, type WebSocketAction } from '../../../src/gateway/websocket/session.ts';
import { parseStandaloneElement } from '../../../src/gateway/xml/standalone-element.ts';
import { attrsOf, FIRST_RID, openSession } from '../bosh/helpers.ts';

const LIMITS = { maxStanzaBytes: 4096, maxDepth: 8, maxAttributes: 16 };
const FRAMING = "xmlns='urn:ietf:params:xml:ns:xmpp-framing'";
const UPSTREAM_ERROR = "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>";

describe('stream attributes (RFC 6120 §4.7, §4.3.3)', () => {
  it.each([
    [{ to: 'example.com' }, { to: 'example.com' }],
    [{ to: 'example.com', version: '1.0', lang: 'de', from: 'a@example.com' }, { to: 'example.com', version: '1.0', lang: 'de', from: 'a@example.com' }],
    [{ to: 'example.com', version: '', lang: '', from: undefined }, { to: 'example.com' }],
  ])('opens with %j as %j', (requested, attrs) => {
    expect(openAttributes(requested)).toEqual(attrs);
  });

  it.each([
    ['keeps the domain whatever the restart asks', { to: 'other.example' }, { to: 'example.com', version: '1.0', lang: 'de', from: 'a@example.com' }],
    ['takes what the restart gives', { lang: 'en', from: 'a@example.com/r' }, { to: 'example.com', version: '1.0', lang: 'en', from: 'a@example.com/r' }],
    ['keeps what the restart leaves out or leaves empty', { lang: '' }, { to: 'example.com', version: '1.0', lang: 'de', from: 'a@example.com' }],
  ])('a restart %s', (_name, requested, attrs) => {
    expect(restartAttributes({ to: 'example.com', version: '1.0', lang: 'de', from: 'a@example.com' }, requested)).toEqual(attrs);
  });

  it.each([
    ['example.com', 'EXAMPLE.com', true],
    ['example.com', 'example.org', false],
  ])('%s and %s are the same domain: %s', (a, b, same) => {
    expect(sameDomain(a, b)).toBe(same);
  });
});

describe('the stream error element (RFC 6120 §4.9.2)', () => {
  it('carries the condition and the escaped text, and stands alone', () => {
    const xml = streamErrorElement('policy-violation', "too <big> & 'long'");
    expect(xml).toBe(
      "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" +
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>too &lt;big&gt; &amp; &apos;long&apos;</text></stream:error>",
    );
    expect(parseStandaloneElement(xml, LIMITS)).toMatchObject({ local: 'error', uri: 'http://etherx.jabber.org/streams' });
  });

  it('has no <text/> without a text', () => {
    expect(streamErrorElement('system-shutdown')).not.toContain('<text');
    expect(streamErrorElement('system-shutdown', '')).not.toContain('<text');
  });
});

describe('drain notice (RFC 7395 §3.6.1, XEP-0124 §17.2)', () => {
  it.each([
    ['wss://b.example/ws', { condition: 'see-other-uri', uri: 'wss://b.example/ws' }],
    ['', { condition: 'system-shutdown' }],
    [undefined, { condition: 'system-shutdown' }],
  ] as const)('for %j is %j', (uri, notice) => {
    expect(drainNotice(uri)).toEqual(notice);
  });
});

/** What a WebSocket stream that was open did to its upstream on one event. */
function webSocketUpstream(event: (s: WebSocketSession) => readonly WebSocketAction[]): string {
  const s = new WebSocketSession({ serves: () => true, limits: LIMITS, openTimeoutMs: 0 }, 0);
  s.message(`<open ${FRAMING} to='example.com' version='1.0'/>`, false);
  const actions = event(s);
  if (actions.some((a) => a.type === 'closeUpstream')) return 'close';
  if (actions.some((a) => a.type === 'destroyUpstream')) return 'destroy';
  return 'none';
}

/** What an open BOSH session did to its upstream on one event. */
function boshUpstream(event: (t: ReturnType<typeof openSession>) => void): string {
  const t = openSession();
  event(t);
  if (t.rec.has('close')) return 'close';
  if (t.rec.has('destroy')) return 'destroy';
  return 'none';
}

describe('both transports end the upstream the same way (XEP-0198 §7)', () => {
  it.each<[StreamEnding, string, (s: WebSocketSession) => readonly WebSocketAction[], (t: ReturnType<typeof openSession>) => void]>([
    ['client-close', 'the client closes', (s) => s.message(`<close ${FRAMING}/>`, false), (t) => t.send('t', { rid: t.rid(1), type: 'terminate' })],
    ['upstream-error', 'the server sends a stream error', (s) => s.upstreamElement(UPSTREAM_ERROR, 'error'), (t) => t.session.upstreamElement(UPSTREAM_ERROR, 'error', 0)],
    ['upstream-ended', 'the server closes its stream', (s) => s.upstreamClosed(), (t) => t.session.upstreamClosed(0)],
    ['upstream-ended', 'the upstream fails', (s) => s.upstreamFailed('remote-connection-failed', 'lost'), (t) => t.session.upstreamFailed('remote-connection-failed', 'lost', 0)],
    ['client-gone', 'the client goes away', (s) => s.socketClosed(1006), (t) => t.advance(60_000)],
    ['client-gone', 'the client does not read', (s) => s.clientStalled(), (t) => t.session.upstreamElement(`<message xmlns='jabber:client'>${'x'.repeat(20_000)}</message>`, 'stanza', 0)],
    ['drain', 'the node drains', (s) => s.drain('wss://b.example/ws'), (t) => t.session.shutdown(0, 'see-other-uri', [])],
  ])('%s: %s', (ending, _name, ws, bosh) => {
    const expected = UPSTREAM_AFTER[ending];
    expect(webSocketUpstream(ws)).toBe(expected);
    expect(boshUpstream(bosh)).toBe(expected);
  });

  it('client errors: a WebSocket stream error closes the stream, a BOSH binding error keeps it resumable', () => {
    expect(webSocketUpstream((s) => s.message('<message>', false))).toBe(UPSTREAM_AFTER['client-stream-error']);
    expect(boshUpstream((t) => t.send('x', { rid: String(FIRST_RID + 99) }))).toBe(UPSTREAM_AFTER['client-binding-error']);
  });
});

describe('both transports tell a draining client the same', () => {
  it.each([['wss://b.example/ws'], [''], [undefined]] as const)('drain toward %j', (uri) => {
    const notice = drainNotice(uri);
    const ws = new WebSocketSession({ serves: () => true, limits: LIMITS, openTimeoutMs: 0 }, 0);
    ws.message(`<open ${FRAMING} to='example.com'/>`, false);
    expect(ws.drain(uri).at(-1)).toMatchObject({ type: 'ended', reason: notice.condition });

    const responses: BoshResponse[] = [];
    const manager = new BoshManager<string>(
      {
        bosh: { maxWait: 60, maxHold: 1, inactivity: 30, maxPause: 120, polling: 2, maxBufferedBytes: 10_000, maxSessions: 10, maxSessionsPerAddress: 3 },
        isServed: () => true,
      },
      { respond: (_r, res) => responses.push(res), openUpstream() {}, restartUpstream() {}, forward() {}, closeUpstream() {}, destroyUpstream() {} },
    );
    manager.handle(parseBody(`<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='example.com' ver='1.11'/>`, { maxBytes: 4096, ...LIMITS }), 'c', '192.0.2.1', 0);
    manager.drain(0, uri);
    expect(attrsOf(responses.at(-1)?.body).condition).toBe(notice.condition);
  });
});
