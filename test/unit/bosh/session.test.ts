import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseBody } from '../../../src/gateway/bosh/body.ts';
import { negotiate, uriChild } from '../../../src/gateway/bosh/session.ts';
import { FEATURES, FIRST_RID, OPTIONS, attrsOf, createSession, msg, openSession } from './helpers.ts';

const B = "<body xmlns='http://jabber.org/protocol/httpbind'";
const EMPTY = `${B}/>`;
const STREAM_NS = "xmlns:stream='http://etherx.jabber.org/streams'";
const terminate = (condition?: string) => (condition === undefined ? `${B} type='terminate'/>` : `${B} type='terminate' condition='${condition}'/>`);

describe('session creation (XEP-0124 §7, XEP-0206 §3-4)', () => {
  it('opens the upstream with to, xml:lang, from and xmpp:version', () => {
    const { rec } = createSession({ lang: 'en', from: 'juliet@example.com', xmppVersion: '1.0', route: 'xmpp:example.com:9999' });
    expect(rec.events).toEqual([{ type: 'open', attrs: { to: 'example.com', version: '1.0', lang: 'en', from: 'juliet@example.com' } }]);
  });

  it('holds the creation response until the stream features, then sends them with every creation attribute', () => {
    const { session, rec } = createSession();
    session.upstreamOpened({ id: 'abc123', from: 'example.com', version: '1.0' }, 0);
    expect(rec.answered('c')).toBe(false);
    session.upstreamElement(FEATURES, 'features', 5);
    expect(rec.body('c')).toBe(
      `${B} sid='SID' wait='60' requests='2' hold='1' polling='2' inactivity='30' maxpause='120' ver='1.11' from='example.com' ` +
        `authid='abc123' xmpp:version='1.0' xmpp:restartlogic='true' xmlns:xmpp='urn:xmpp:xbosh' ${STREAM_NS}>${FEATURES}</body>`,
    );
    const parsed = parseBody(rec.body('c')!, { maxBytes: 1e6, maxDepth: 10, maxAttributes: 30 });
    expect(parsed.ok && parsed.body.payloads).toEqual([FEATURES]);
  });

  it('sends the creation response without features when wait runs out, and the features on the next request', () => {
    const { session, rec, send, rid, advance } = createSession({ wait: '10' });
    advance(9_999);
    expect(rec.answered('c')).toBe(false);
    advance(1);
    const creation = attrsOf(rec.body('c'));
    expect(creation).toMatchObject({ sid: 'SID', wait: '10', from: 'example.com', 'xmpp:restartlogic': 'true' });
    expect(creation.authid).toBeUndefined();
    session.upstreamOpened({ id: 'abc123', from: 'example.com', version: '1.0' }, 10_000);
    session.upstreamElement(FEATURES, 'features', 10_000);
    send('a', { rid: rid(1) });
    expect(rec.body('a')).toBe(
      `${B} from='example.com' authid='abc123' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh' ${STREAM_NS}>${FEATURES}</body>`,
    );
  });

  it('grants wait and hold no larger than asked nor than configured, requests = hold + 1', () => {
    const n = (wait: string, hold: string, opts = OPTIONS) => {
      const r = negotiate({ rid: '1', to: 'example.com', ver: '1.6', wait, hold }, opts);
      if (!r.ok) throw new Error(r.condition);
      return [r.params.wait, r.params.hold, r.params.requests];
    };
    expect(n('120', '1')).toEqual([60, 1, 2]);
    expect(n('30', '5')).toEqual([30, 1, 2]);
    expect(n('30', '5', { ...OPTIONS, maxHold: 3 })).toEqual([30, 3, 4]);
    expect(n('30', '2', { ...OPTIONS, maxHold: 3 })).toEqual([30, 2, 3]);
  });

  it.each([
    ['1.6', '1.6'],
    ['1.9', '1.9'],
    ['1.11', '1.11'],
    ['1.20', '1.11'],
    ['2.0', '1.11'],
    ['0.9', '0.9'],
  ])('answers ver=%s with the lower version %s (minor compared as an integer)', (theirs, agreed) => {
    const r = negotiate({ rid: '1', to: 'example.com', ver: theirs }, OPTIONS);
    expect(r.ok && r.params.ver).toBe(agreed);
  });

  it('includes ack=rid in the creation response when the client asks for acknowledgements (§9.1)', () => {
    const { session, rec } = createSession({ ack: '1' });
    session.upstreamElement(FEATURES, 'features', 0);
    expect(attrsOf(rec.body('c')).ack).toBe(String(FIRST_RID));
  });

  it('honours content as the Content-Type of every response', () => {
    const { session, rec } = createSession({ content: 'text/html; charset=utf-8' });
    session.upstreamElement(FEATURES, 'features', 0);
    expect(rec.response('c')?.contentType).toBe('text/html; charset=utf-8');
  });

  it.each([
    [{ to: undefined }, 'improper-addressing'],
    [{ to: '  ' }, 'improper-addressing'],
    [{ rid: undefined }, 'bad-request'],
    [{ rid: '0' }, 'bad-request'],
    [{ rid: '9007199254740992' }, 'bad-request'],
    [{ rid: '12x' }, 'bad-request'],
    [{ wait: '-1' }, 'bad-request'],
    [{ hold: '256' }, 'bad-request'],
    [{ ver: 'one' }, 'bad-request'],
    [{ content: 'text/xml\r\nX-Injected: 1' }, 'bad-request'],
  ])('refuses %o with %s', (override, condition) => {
    const r = negotiate({ rid: '1', to: 'example.com', ver: '1.11', ...override }, OPTIONS);
    expect(r.ok ? 'ok' : r.condition).toBe(condition);
  });

  it('accepts the highest rid allowed (§14.1)', () => {
    expect(negotiate({ rid: '9007199254740991', to: 'example.com' }, OPTIONS).ok).toBe(true);
  });

  it('answers at once in a polling session (hold=0) and grants it a longer inactivity (§12)', () => {
    const { rec } = createSession({ hold: '0' });
    expect(attrsOf(rec.body('c'))).toMatchObject({ hold: '0', requests: '1', inactivity: String(30 + 2 + 1) });
  });

  it('leaves out polling and maxpause when configured off', () => {
    const { session, rec } = createSession({}, { polling: 0, maxPause: 0 });
    session.upstreamElement(FEATURES, 'features', 0);
    const attrs = attrsOf(rec.body('c'));
    expect(attrs.polling).toBeUndefined();
    expect(attrs.maxpause).toBeUndefined();
  });
});

describe('request ids (XEP-0124 §14)', () => {
  it('forwards payloads in rid order when requests arrive out of order, and answers in rid order', () => {
    const { session, rec, send, rid } = openSession({ hold: '2' }, { maxHold: 2 });
    send('b', { rid: rid(2) }, [msg(2)]);
    expect(rec.forwarded()).toEqual([]);
    send('c', { rid: rid(3) }, [msg(3)]);
    expect(rec.forwarded()).toEqual([]);
    send('a', { rid: rid(1) }, [msg(1)]);
    expect(rec.forwarded()).toEqual([msg(1), msg(2), msg(3)]);
    expect(rec.events.filter((e) => e.type === 'forward').length).toBe(3);
    // Three processed, two may be held: the oldest is answered first.
    expect(rec.responses.map((r) => r.reply)).toEqual(['a']);
    session.upstreamElement(msg('in'), 'stanza', 0);
    expect(rec.responses.map((r) => r.reply)).toEqual(['a', 'b']);
    expect(rec.body('b')).toBe(`${B}>${msg('in')}</body>`);
  });

  it('accepts a rid exactly at the edge of the window and terminates one past it with item-not-found (§14.2)', () => {
    const edge = openSession();
    edge.send('x', { rid: edge.rid(2) }, [msg(2)]);
    expect(edge.rec.answered('x')).toBe(false);
    expect(edge.rec.has('ended')).toBe(false);

    const past = openSession();
    past.send('x', { rid: past.rid(3) }, [msg(3)]);
    expect(past.rec.body('x')).toBe(terminate('item-not-found'));
    expect(past.rec.endedWith()).toBe('item-not-found');
    expect(past.rec.forwarded()).toEqual([]);
    expect(past.rec.has('destroy')).toBe(true);
  });

  it('moves the window with the last rid received in sequence', () => {
    const { rec, send, rid, clock } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    clock.now += 3000;
    send('b', { rid: rid(2) }, [msg(2)]);
    send('d', { rid: rid(4) }, [msg(4)]);
    expect(rec.has('ended')).toBe(false);
    send('e', { rid: rid(5) }, [msg(5)]);
    expect(rec.body('e')).toBe(terminate('item-not-found'));
  });

  it('answers a retransmitted rid with the identical response bytes (§14.3)', () => {
    const { session, rec, send, rid } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    session.upstreamElement(msg('in'), 'stanza', 0);
    const original = rec.body('a');
    send('a-again', { rid: rid(1) }, [msg(1)]);
    expect(rec.body('a-again')).toBe(original);
    expect(rec.responses.at(-1)?.outcome).toBe('retransmit');
    expect(rec.forwarded()).toEqual([msg(1)]);
  });

  it('keeps the creation response for a retransmission too', () => {
    const { session, rec, send, rid } = createSession();
    session.upstreamElement(FEATURES, 'features', 0);
    send('c-again', { rid: rid(0) });
    expect(rec.body('c-again')).toBe(rec.body('c'));
    expect(attrsOf(rec.body('c-again')).sid).toBe('SID');
  });

  it('terminates with item-not-found a rid older than the responses kept', () => {
    const { rec, send, rid, clock } = openSession();
    for (let i = 1; i <= 3; i++) {
      send(`r${i}`, { rid: rid(i) }, [msg(i)]);
      clock.now += 100;
    }
    // requests=2 responses kept: rid+1 (answered) is there, the creation response (rid+0) is gone.
    send('again1', { rid: rid(1) });
    expect(rec.body('again1')).toBe(rec.body('r1'));
    send('again0', { rid: rid(0) });
    expect(rec.body('again0')).toBe(terminate('item-not-found'));
    expect(rec.endedWith()).toBe('item-not-found');
    // The request still held is told why the session ended.
    expect(rec.body('r3')).toBe(terminate('other-request'));
  });

  it('answers the older copy of a held request with a recoverable error and keeps the newer (§14.3)', () => {
    const { session, rec, send, rid } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    send('a2', { rid: rid(1) }, [msg(1)]);
    expect(rec.body('a')).toBe(`${B} type='error'/>`);
    expect(rec.responses.at(-1)?.outcome).toBe('recoverable');
    expect(rec.answered('a2')).toBe(false);
    expect(rec.forwarded()).toEqual([msg(1)]);
    session.upstreamElement(msg('in'), 'stanza', 0);
    expect(rec.body('a2')).toBe(`${B}>${msg('in')}</body>`);
  });

  it('does the same for a copy of a request waiting ahead of a missing rid', () => {
    const { rec, send, rid } = openSession();
    send('b', { rid: rid(2) }, [msg(2)]);
    send('b2', { rid: rid(2) }, [msg(2)]);
    expect(rec.body('b')).toBe(`${B} type='error'/>`);
    send('a', { rid: rid(1) }, [msg(1)]);
    expect(rec.forwarded()).toEqual([msg(1), msg(2)]);
    expect(rec.body('a')).toBe(EMPTY);
    expect(rec.answered('b2')).toBe(false);
  });

  it('ends the session with policy-violation after too many copies of one rid (§14.3)', () => {
    const { rec, send, rid } = openSession({}, { maxRetransmits: 2 });
    send('a', { rid: rid(1) }, [msg(1)]);
    send('a2', { rid: rid(1) }, [msg(1)]);
    send('a3', { rid: rid(1) }, [msg(1)]);
    expect(rec.has('ended')).toBe(false);
    send('a4', { rid: rid(1) }, [msg(1)]);
    expect(rec.body('a4')).toBe(terminate('policy-violation'));
    expect(rec.body('a3')).toBe(terminate('other-request'));
  });

  it('limits retransmissions of an answered rid the same way', () => {
    const { rec, send, rid } = openSession({}, { maxRetransmits: 1 });
    send('c1', { rid: rid(0) });
    expect(rec.has('ended')).toBe(false);
    send('c2', { rid: rid(0) });
    expect(rec.body('c2')).toBe(terminate('policy-violation'));
  });

  it('answers a request stuck ahead of a rid that never came with a recoverable error after wait (§17.3)', () => {
    const { rec, send, rid, advance, session } = openSession();
    send('b', { rid: rid(2) }, [msg(2)]);
    expect(session.nextDeadline()).toBe(60_000);
    advance(60_000);
    expect(rec.body('b')).toBe(`${B} type='error'/>`);
    expect(rec.forwarded()).toEqual([]);
    // The client resends both; all is well.
    send('a', { rid: rid(1) }, [msg(1)]);
    send('b', { rid: rid(2) }, [msg(2)]);
    expect(rec.forwarded()).toEqual([msg(1), msg(2)]);
    expect(rec.has('ended')).toBe(false);
  });

  it.each([['abc'], ['0'], [undefined]])('terminates a request with rid %s with bad-request', (bad) => {
    const { rec, send } = openSession();
    send('x', { rid: bad });
    expect(rec.body('x')).toBe(terminate('bad-request'));
  });
});

describe('holding and waiting (XEP-0124 §8)', () => {
  it('holds one request, answers the oldest when a newer one arrives', () => {
    const { rec, send, rid } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    expect(rec.answered('a')).toBe(false);
    send('b', { rid: rid(2) }, [msg(2)]);
    expect(rec.body('a')).toBe(EMPTY);
    expect(rec.answered('b')).toBe(false);
  });

  it('answers with an empty body when wait runs out, never later', () => {
    const { rec, send, rid, advance, session, clock } = openSession();
    clock.now = 1_000;
    send('a', { rid: rid(1) }, [msg(1)]);
    expect(session.nextDeadline()).toBe(61_000);
    advance(59_999);
    expect(rec.answered('a')).toBe(false);
    advance(1);
    expect(rec.body('a')).toBe(EMPTY);
    expect(rec.responses.at(-1)?.outcome).toBe('empty');
  });

  it('delivers upstream stanzas on the oldest held request', () => {
    const { session, rec, send, rid } = openSession({ hold: '2' }, { maxHold: 2 });
    send('a', { rid: rid(1) }, [msg(1)]);
    send('b', { rid: rid(2) }, [msg(2)]);
    session.upstreamElement(msg('x'), 'stanza', 0);
    expect(rec.body('a')).toBe(`${B}>${msg('x')}</body>`);
    expect(rec.answered('b')).toBe(false);
  });

  it('buffers upstream data while no request is held and sends it, in order, on the next one', () => {
    const { session, rec, send, rid } = openSession();
    session.upstreamElement(msg('x'), 'stanza', 0);
    session.upstreamElement(msg('y'), 'stanza', 0);
    expect(rec.responses).toEqual([]);
    send('a', { rid: rid(1) });
    expect(rec.body('a')).toBe(`${B}>${msg('x')}${msg('y')}</body>`);
    expect(rec.responses.at(-1)?.outcome).toBe('payload');
  });

  it('ends the session with undefined-condition when the buffer exceeds maxBufferedBytes, keeping the upstream resumable', () => {
    const { session, rec, send, rid } = openSession({}, { maxBufferedBytes: 200 });
    session.upstreamElement(msg('x'), 'stanza', 0);
    expect(rec.has('destroy')).toBe(false);
    session.upstreamElement(`<message xmlns='jabber:client'><body>${'x'.repeat(200)}</body></message>`, 'stanza', 0);
    expect(rec.has('destroy')).toBe(true);
    expect(rec.has('close')).toBe(false);
    // Nothing held: the next request learns why.
    expect(rec.has('ended')).toBe(false);
    send('a', { rid: rid(1) });
    expect(rec.body('a')).toBe(`${B} type='terminate' condition='undefined-condition'><buffer-exceeded xmlns='urn:x-xmpp-web-gateway:bosh'/></body>`);
    expect(rec.endedWith()).toBe('undefined-condition');
  });

  it('answers every request at once when wait=0', () => {
    const { session, rec, send, rid } = createSession({ wait: '0' });
    expect(rec.answered('c')).toBe(true);
    session.upstreamElement(FEATURES, 'features', 0);
    send('a', { rid: rid(1) });
    expect(rec.body('a')).toBe(`${B} ${STREAM_NS}>${FEATURES}</body>`);
  });
});

describe('acknowledgements (XEP-0124 §9)', () => {
  it('acks the highest rid received in sequence when it is not the rid answered (§9.1)', () => {
    const { session, rec, send, rid } = openSession({ ack: '1' });
    send('a', { rid: rid(1) }, [msg(1)]);
    send('b', { rid: rid(2) }, [msg(2)]);
    expect(rec.body('a')).toBe(`${B} ack='${FIRST_RID + 2}'/>`);
    session.upstreamElement(msg('x'), 'stanza', 0);
    expect(attrsOf(rec.body('b')).ack).toBeUndefined();
  });

  it('sends no ack attributes to a client that did not ask for them', () => {
    const { rec, send, rid } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    send('b', { rid: rid(2) }, [msg(2)]);
    expect(rec.body('a')).toBe(EMPTY);
  });

  it('reports a response the client did not receive with report and time, once (§9.2)', () => {
    const { session, rec, send, rid, clock } = openSession({ ack: '1' });
    send('a', { rid: rid(1), ack: rid(0) }, [msg(1)]);
    session.upstreamElement(msg('x'), 'stanza', 0);
    const lost = rec.body('a');
    clock.now = 5_000;
    // The client acknowledges only up to the creation response: the response to rid+1 was lost.
    send('b', { rid: rid(2), ack: rid(0) });
    expect(rec.body('b')).toBe(`${B} report='${FIRST_RID + 1}' time='5000'/>`);
    send('a-again', { rid: rid(1), ack: rid(0) }, [msg(1)]);
    expect(rec.body('a-again')).toBe(lost);
    clock.now = 9_000;
    send('c', { rid: rid(3), ack: rid(0) });
    expect(rec.answered('c')).toBe(false);
  });

  it('does not report a response sent too recently to have arrived', () => {
    const { session, rec, send, rid, clock } = openSession({ ack: '1' });
    send('a', { rid: rid(1) }, [msg(1)]);
    session.upstreamElement(msg('x'), 'stanza', 0);
    clock.now = 500;
    send('b', { rid: rid(2), ack: rid(0) }, [msg(2)]);
    expect(rec.answered('b')).toBe(false);
  });

  it('forgets acknowledged responses (§14.3)', () => {
    const { session, rec, send, rid } = openSession({ ack: '1' });
    send('a', { rid: rid(1) }, [msg(1)]);
    session.upstreamElement(msg('x'), 'stanza', 0);
    send('b', { rid: rid(2), ack: rid(1) }, [msg(2)]);
    send('a-again', { rid: rid(1) });
    expect(rec.body('a-again')).toBe(terminate('item-not-found'));
  });

  it('keeps unacknowledged responses beyond `requests` when acks are used', () => {
    const { session, rec, send, rid, clock } = openSession({ ack: '1' }, { reportAfterMs: 1e9 });
    for (let i = 1; i <= 5; i++) {
      send(`r${i}`, { rid: rid(i), ack: rid(0) }, [msg(i)]);
      session.upstreamElement(msg(`in${i}`), 'stanza', clock.now);
      clock.now += 1000;
    }
    send('again', { rid: rid(1), ack: rid(0) });
    expect(rec.body('again')).toBe(rec.body('r1'));
  });
});

describe('inactivity and pause (XEP-0124 §10)', () => {
  it('ends a session with no request held for longer than inactivity, silently, keeping the upstream resumable', () => {
    const { rec, advance, session } = openSession();
    expect(session.nextDeadline()).toBe(30_000);
    advance(29_999);
    expect(rec.has('ended')).toBe(false);
    advance(1);
    expect(rec.endedWith()).toBe('inactivity');
    expect(rec.has('destroy')).toBe(true);
    expect(rec.has('close')).toBe(false);
    expect(rec.responses).toEqual([]);
  });

  it('counts inactivity from the last response, not while a request is held', () => {
    const { rec, send, rid, advance, session, clock } = openSession();
    clock.now = 10_000;
    send('a', { rid: rid(1) }, [msg(1)]);
    advance(60_000); // wait runs out at 70 000
    expect(rec.answered('a')).toBe(true);
    expect(session.nextDeadline()).toBe(100_000);
  });

  it('on pause answers every held request, without payloads, and waits the pause instead of inactivity', () => {
    const { session, rec, send, rid, advance, clock } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    send('p', { rid: rid(2), pause: '100' });
    expect(rec.body('a')).toBe(EMPTY);
    expect(rec.body('p')).toBe(EMPTY);
    session.upstreamElement(msg('x'), 'stanza', clock.now);
    expect(session.nextDeadline()).toBe(100_000);
    advance(99_000);
    expect(rec.has('ended')).toBe(false);
    send('b', { rid: rid(3) });
    expect(rec.body('b')).toBe(`${B}>${msg('x')}</body>`);
    // Back to the normal inactivity.
    expect(session.nextDeadline()).toBe(99_000 + 30_000);
  });

  it('keeps buffered data out of the pause response', () => {
    const { session, rec, send, rid } = openSession();
    session.upstreamElement(msg('x'), 'stanza', 0);
    send('p', { rid: rid(1), pause: '60' });
    expect(rec.body('p')).toBe(EMPTY);
  });

  it('ends the session when the pause runs out', () => {
    const { rec, send, rid, advance } = openSession();
    send('p', { rid: rid(1), pause: '5' });
    advance(5_000);
    expect(rec.endedWith()).toBe('inactivity');
  });

  it('refuses a pause longer than maxpause with policy-violation', () => {
    const { rec, send, rid } = openSession();
    send('p', { rid: rid(1), pause: '121' });
    expect(rec.body('p')).toBe(terminate('policy-violation'));
  });

  it('refuses any pause when no maxpause was offered', () => {
    const { rec, send, rid } = openSession({}, { maxPause: 0 });
    send('p', { rid: rid(1), pause: '10' });
    expect(rec.body('p')).toBe(terminate('policy-violation'));
  });

  it('refuses a malformed pause with bad-request', () => {
    const { rec, send, rid } = openSession();
    send('p', { rid: rid(1), pause: 'soon' });
    expect(rec.body('p')).toBe(terminate('bad-request'));
  });
});

describe('overactivity (XEP-0124 §11)', () => {
  it('terminates with policy-violation on more simultaneous requests than `requests`', () => {
    const { rec, send, rid } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    send('c', { rid: rid(3) }, [msg(3)]);
    expect(rec.has('ended')).toBe(false);
    send('b', { rid: rid(2) }, [msg(2)]);
    expect(rec.body('b')).toBe(terminate('policy-violation'));
    expect(rec.body('a')).toBe(terminate('other-request'));
    expect(rec.body('c')).toBe(terminate('other-request'));
    expect(rec.forwarded()).toEqual([msg(1)]);
  });

  it('allows one request more to terminate', () => {
    const { rec, send, rid } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    send('c', { rid: rid(3) }, [msg(3)]);
    send('t', { rid: rid(2), type: 'terminate' });
    expect(rec.endedWith()).toBe('client-terminate');
  });

  it('allows one request more to pause', () => {
    const { rec, send, rid } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    send('c', { rid: rid(3) }, [msg(3)]);
    send('p', { rid: rid(2), pause: '60' });
    expect(rec.has('ended')).toBe(false);
    expect(rec.body('p')).toBe(EMPTY);
  });

  it('terminates an empty request arriving within polling seconds while `requests` are unanswered', () => {
    const { rec, send, rid, clock } = openSession();
    clock.now = 10_000;
    send('a', { rid: rid(1) }, [msg(1)]);
    clock.now = 11_999;
    send('b', { rid: rid(2) });
    expect(rec.body('b')).toBe(terminate('policy-violation'));
  });

  it('accepts it after polling seconds', () => {
    const { rec, send, rid, clock } = openSession();
    clock.now = 10_000;
    send('a', { rid: rid(1) }, [msg(1)]);
    clock.now = 12_000;
    send('b', { rid: rid(2) });
    expect(rec.has('ended')).toBe(false);
    expect(rec.body('a')).toBe(EMPTY);
  });

  it('never applies the rate rules when polling is 0', () => {
    const { rec, send, rid } = openSession({}, { polling: 0 });
    send('a', { rid: rid(1) }, [msg(1)]);
    send('b', { rid: rid(2) });
    expect(rec.has('ended')).toBe(false);
  });
});

describe('polling sessions (XEP-0124 §12)', () => {
  const polling = () => {
    const t = createSession({ hold: '0' });
    t.session.upstreamElement(FEATURES, 'features', 0);
    t.send('a', { rid: t.rid(1) }); // carries the features
    return t;
  };

  it('terminates two consecutive empty requests within polling seconds, the first answered empty', () => {
    const { rec, send, rid, clock } = polling();
    clock.now = 3_000;
    send('b', { rid: rid(2) });
    expect(rec.body('b')).toBe(EMPTY);
    clock.now = 4_999;
    send('c', { rid: rid(3) });
    expect(rec.body('c')).toBe(terminate('policy-violation'));
  });

  it('accepts them polling seconds apart', () => {
    const { rec, send, rid, clock } = polling();
    clock.now = 3_000;
    send('b', { rid: rid(2) });
    clock.now = 5_000;
    send('c', { rid: rid(3) });
    expect(rec.body('c')).toBe(EMPTY);
  });

  it('accepts a quick poll after a response that carried payloads', () => {
    const { rec, send, rid, clock } = polling();
    clock.now = 100;
    send('b', { rid: rid(2) });
    expect(rec.body('b')).toBe(EMPTY);
    expect(rec.has('ended')).toBe(false);
  });

  it('accepts a quick request that carries payloads', () => {
    const { rec, send, rid, clock } = polling();
    clock.now = 3_000;
    send('b', { rid: rid(2) });
    clock.now = 3_100;
    send('c', { rid: rid(3) }, [msg(3)]);
    expect(rec.has('ended')).toBe(false);
  });
});

describe('terminating (XEP-0124 §13)', () => {
  it('forwards the payloads, closes the upstream cleanly, terminates on the oldest request and empties the others', () => {
    const { rec, send, rid } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    const unavailable = `<presence xmlns='jabber:client' type='unavailable'/>`;
    send('t', { rid: rid(2), type: 'terminate' }, [unavailable]);
    expect(rec.forwarded()).toEqual([msg(1), unavailable]);
    const types = rec.events.map((e) => e.type);
    expect(types.indexOf('close')).toBeGreaterThan(types.lastIndexOf('forward'));
    expect(rec.has('destroy')).toBe(false);
    expect(rec.body('a')).toBe(terminate());
    expect(rec.body('t')).toBe(EMPTY);
    expect(rec.endedWith()).toBe('client-terminate');
  });

  it('terminates on the terminate request itself when nothing else is held', () => {
    const { rec, send, rid } = openSession();
    send('t', { rid: rid(1), type: 'terminate' });
    expect(rec.body('t')).toBe(terminate());
    expect(rec.has('close')).toBe(true);
  });

  it('answers requests of an ended session with item-not-found', () => {
    const { rec, send, rid, session } = openSession();
    send('t', { rid: rid(1), type: 'terminate' });
    expect(session.ended).toBe(true);
    send('x', { rid: rid(2) });
    expect(rec.body('x')).toBe(terminate('item-not-found'));
  });
});

describe('stream restart (XEP-0206 §5)', () => {
  it('restarts the upstream on the same connection, ignores the payloads and relays the new features', () => {
    const { session, rec, send, rid } = openSession({ lang: 'en' });
    send('r', { rid: rid(1), restart: 'true', to: 'example.com', lang: 'de' }, [msg(1)]);
    expect(rec.events[0]).toEqual({ type: 'restart', attrs: { to: 'example.com', version: '1.0', lang: 'de' } });
    expect(rec.forwarded()).toEqual([]);
    expect(rec.answered('r')).toBe(false);
    session.upstreamOpened({ id: 'second', from: 'example.com', version: '1.0' }, 0);
    const bind = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";
    session.upstreamElement(bind, 'features', 0);
    expect(rec.body('r')).toBe(`${B} ${STREAM_NS}>${bind}</body>`);
  });

  it('keeps the session domain whatever the restart asks', () => {
    const { rec, send, rid } = openSession();
    send('r', { rid: rid(1), restart: 'true', to: 'elsewhere.example' });
    expect(rec.events[0]).toMatchObject({ type: 'restart', attrs: { to: 'example.com' } });
  });
});

describe('errors (XEP-0124 §17, XEP-0206 §6)', () => {
  const streamError =
    "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>";

  it('relays an upstream stream error as remote-stream-error after the stanzas before it, and closes the upstream', () => {
    const { session, rec, send, rid } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    session.upstreamElement(streamError, 'error', 0);
    expect(rec.body('a')).toBe(`${B} type='terminate' condition='remote-stream-error' ${STREAM_NS}>${streamError}</body>`);
    expect(rec.has('close')).toBe(true);
    expect(rec.endedWith()).toBe('remote-stream-error');
    session.upstreamClosed(0);
    expect(rec.events.filter((e) => e.type === 'ended').length).toBe(1);
  });

  it('delivers it on the next request when none is held, buffered stanzas first', () => {
    const { session, rec, send, rid } = openSession();
    session.upstreamElement(msg('x'), 'stanza', 0);
    session.upstreamElement(streamError, 'error', 0);
    expect(rec.has('ended')).toBe(false);
    send('a', { rid: rid(1) }, [msg(1)]);
    expect(rec.body('a')).toBe(`${B} type='terminate' condition='remote-stream-error' ${STREAM_NS}>${msg('x')}${streamError}</body>`);
    expect(rec.forwarded()).toEqual([]);
    expect(rec.endedWith()).toBe('remote-stream-error');
  });

  it('gives up a lingering session after the inactivity period', () => {
    const { session, rec, advance } = openSession();
    session.upstreamClosed(0);
    advance(30_000);
    expect(rec.endedWith()).toBe('upstream-closed');
  });

  it('turns the upstream closing its stream into a plain terminate', () => {
    const { session, rec, send, rid } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    session.upstreamClosed(0);
    expect(rec.body('a')).toBe(terminate());
    expect(rec.has('close') || rec.has('destroy')).toBe(false);
    expect(rec.endedWith()).toBe('upstream-closed');
  });

  it.each([
    ['host-unknown', 'host-unknown'],
    ['host-gone', 'host-gone'],
    ['remote-connection-failed', 'remote-connection-failed'],
    ['connection-timeout', 'remote-connection-failed'],
    ['system-shutdown', 'system-shutdown'],
    ['internal-server-error', 'internal-server-error'],
  ] as const)('maps an upstream failure %s to %s', (failure, condition) => {
    const { session, rec } = createSession();
    session.upstreamFailed(failure, 'details', 0);
    expect(rec.body('c')).toBe(terminate(condition));
    expect(rec.endedWith()).toBe(condition);
    expect(rec.has('close') || rec.has('destroy')).toBe(false);
  });

  it('turns other upstream failures into remote-stream-error with a synthesized stream error', () => {
    const { session, rec } = createSession();
    session.upstreamFailed('not-well-formed', 'bad <xml>', 0);
    expect(rec.body('c')).toBe(
      `${B} type='terminate' condition='remote-stream-error' ${STREAM_NS}><stream:error ${STREAM_NS}>` +
        `<not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>bad &lt;xml&gt;</text></stream:error></body>`,
    );
  });

  it('ends the session for a node shutdown with see-other-uri and the URI', () => {
    const { session, rec, send, rid } = openSession();
    send('a', { rid: rid(1) }, [msg(1)]);
    session.shutdown(0, 'see-other-uri', [uriChild('https://node-b.example/http-bind?x=1&y=2')]);
    expect(rec.body('a')).toBe(`${B} type='terminate' condition='see-other-uri'><uri>https://node-b.example/http-bind?x=1&amp;y=2</uri></body>`);
    expect(rec.has('destroy')).toBe(true);
    expect(rec.endedWith()).toBe('see-other-uri');
  });

  it('terminates a session whose request body was unreadable with bad-request', () => {
    const { session, rec } = openSession();
    session.badRequest('x', 0);
    expect(rec.body('x')).toBe(terminate('bad-request'));
    expect(rec.endedWith()).toBe('bad-request');
  });

  describe('legacy clients without ver (§17.1)', () => {
    const legacy = () => openSession({ ver: undefined });

    it('gets 404 for item-not-found', () => {
      const { rec, send, rid } = legacy();
      send('x', { rid: rid(5) });
      expect(rec.response('x')?.status).toBe(404);
    });

    it('gets 403 for policy-violation', () => {
      const { rec, send, rid } = legacy();
      send('p', { rid: rid(1), pause: '9999' });
      expect(rec.response('p')?.status).toBe(403);
    });

    it('gets 400 for bad-request', () => {
      const { rec, send } = legacy();
      send('x', { rid: 'nope' });
      expect(rec.response('x')?.status).toBe(400);
    });

    it('gets 200 for conditions without an HTTP equivalent', () => {
      const { session, rec, send, rid } = legacy();
      send('a', { rid: rid(1) }, [msg(1)]);
      session.upstreamFailed('remote-connection-failed', '', 0);
      expect(rec.response('a')?.status).toBe(200);
    });

    it('gets HTTP 200 and a terminal body from a current client', () => {
      const { rec, send, rid } = openSession();
      send('x', { rid: rid(5) });
      expect(rec.response('x')).toMatchObject({ status: 200, body: terminate('item-not-found') });
    });
  });
});

describe('key sequence (XEP-0124 §15)', () => {
  const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
  const chain = (seed: string, n: number) => {
    const keys = [sha1(seed)];
    for (let i = 1; i < n; i++) keys.push(sha1(keys[i - 1]!));
    return keys; // keys[n-1] = K(n)
  };

  it('accepts each key that hashes to the previous one, and a switch to a new sequence', () => {
    const k = chain('seed', 3);
    const k2 = chain('other', 3);
    const { rec, send, rid, clock } = openSession({ newkey: k[2] });
    send('a', { rid: rid(1), key: k[1]!.toUpperCase() }, [msg(1)]);
    clock.now += 3000;
    send('b', { rid: rid(2), key: k[0], newkey: k2[2] }, [msg(2)]);
    clock.now += 3000;
    send('c', { rid: rid(3), key: k2[1] }, [msg(3)]);
    expect(rec.has('ended')).toBe(false);
    expect(rec.forwarded()).toEqual([msg(1), msg(2), msg(3)]);
  });

  it('terminates with item-not-found on a wrong or missing key, without processing the request', () => {
    const k = chain('seed', 3);
    const wrong = openSession({ newkey: k[2] });
    wrong.send('a', { rid: wrong.rid(1), key: k[0] }, [msg(1)]);
    expect(wrong.rec.body('a')).toBe(terminate('item-not-found'));
    expect(wrong.rec.forwarded()).toEqual([]);
    const missing = openSession({ newkey: k[2] });
    missing.send('a', { rid: missing.rid(1) }, [msg(1)]);
    expect(missing.rec.body('a')).toBe(terminate('item-not-found'));
  });

  it('refuses a retransmission carrying another key than the original', () => {
    const k = chain('seed', 3);
    const { rec, send, rid } = openSession({ newkey: k[2] });
    send('a', { rid: rid(1), key: k[1] }, [msg(1)]);
    send('a2', { rid: rid(1), key: 'forged' }, [msg(1)]);
    expect(rec.body('a2')).toBe(terminate('item-not-found'));
  });
});
