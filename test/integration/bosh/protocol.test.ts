// BOSH protocol edges (XEP-0124, XEP-0206) that client libraries never exercise, over raw HTTP against the
// gateway in front of a real Prosody: session creation, rids (retransmission, window, order), wait and hold,
// pause and inactivity, legacy clients, refusals, CORS and gzip.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildBody,
  childText,
  httpRequest,
  RawBoshSession,
  rawHttpExchange,
  STREAMS_NS,
  XBOSH_NS,
} from '../../../dev/harness/bosh-http.ts';
import { startTestGateway, type TestGateway } from '../../../dev/harness/gateway.ts';
import { startProsody, type ProsodyServer } from '../../../dev/harness/prosody.ts';
import { heldBoshRequests, untilHeld } from '../../../dev/harness/metrics.ts';
import { eventually as poll, sleep } from '../../../dev/harness/wait.ts';

const ORIGIN = 'https://chat.example.com';
const EMPTY_BODY = "<body xmlns='http://jabber.org/protocol/httpbind'/>";
// Settings chosen so that every timing below is short and has wide margins.
const BOSH = { maxWait: 10, maxHold: 1, inactivity: 2, maxPause: 6, polling: 1, maxBodyBytes: 16_384 };

let prosody: ProsodyServer;
let gateway: TestGateway;
let url: string;

beforeAll(async () => {
  prosody = await startProsody({
    domains: ['example.com', 'example2.com'],
    users: [
      { user: 'alice', domain: 'example.com', password: 'alice-pw' },
      { user: 'bob', domain: 'example.com', password: 'bob-pw' },
    ],
  });
  gateway = await startTestGateway({
    domains: ['example.com', 'example2.com'],
    upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'none' } },
    allowedOrigins: [ORIGIN],
    bosh: BOSH,
  });
  url = gateway.url('/http-bind');
});

afterAll(async () => {
  await gateway?.close();
  await prosody?.dispose();
});

const eventually = (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) => poll(what, check, { timeoutMs, everyMs: 50 });

async function metrics(): Promise<string> {
  return (await fetch(gateway.adminUrl('/metrics'))).text();
}

const heldCount = () => heldBoshRequests(gateway.adminUrl('/metrics'));
const heldMore = (before: number) => untilHeld(gateway.adminUrl('/metrics'), before);

async function inactivityCount(): Promise<number> {
  const m = /xwg_closes_total\{transport="bosh",reason="inactivity"\} (\d+)/.exec(await metrics());
  return m ? Number(m[1]) : 0;
}

function messageTo(to: string, body: string, id = `m${Math.random().toString(36).slice(2)}`): string {
  return `<message xmlns='jabber:client' to='${to}' type='chat' id='${id}'><body>${body}</body></message>`;
}

/** A session logged in as alice with its own resource. */
async function loggedIn(resource: string, wait = 5): Promise<{ s: RawBoshSession; jid: string }> {
  const s = new RawBoshSession(url);
  await s.create({ wait });
  const jid = await s.login('alice', 'alice-pw', 'example.com', resource);
  return { s, jid };
}

describe('session creation (XEP-0124 §7, XEP-0206 §3-4)', () => {
  it('answers with the negotiated attributes, the server identity and features without STARTTLS', async () => {
    const s = new RawBoshSession(url);
    const res = await s.create({ wait: 7, hold: 1, ver: '1.11' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/xml; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    const a = res.body.attrs;
    expect(a.type).toBeUndefined();
    // §7.2: an opaque, unpredictable sid of at least 128 bits (base64url: 22 characters or more).
    expect(a.sid).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(a.wait).toBe('7');
    expect(a.hold).toBe('1');
    expect(a.requests).toBe('2');
    expect(a.polling).toBe(String(BOSH.polling));
    expect(a.inactivity).toBe(String(BOSH.inactivity));
    expect(a.maxpause).toBe(String(BOSH.maxPause));
    expect(a.ver).toBe('1.11');
    expect(a.from).toBe('example.com');
    expect(a.authid).toMatch(/.+/);
    expect(a['xmlns:xmpp']).toBe(XBOSH_NS);
    expect(a['xmpp:version']).toBe('1.0');
    expect(a['xmpp:restartlogic']).toBe('true');
    const features = res.body.children.find((c) => c.localName === 'features');
    expect(features?.namespaceURI).toBe(STREAMS_NS);
    expect(features!.getElementsByTagName('mechanisms').length).toBe(1);
    expect(res.text).not.toMatch(/starttls/);
    await s.terminate();
  });

  it('grants no more than asked or allowed: wait ≤ requested and ≤ maxWait, hold ≤ maxHold, requests = hold + 1, the lower ver', async () => {
    const a = new RawBoshSession(url);
    const ra = await a.create({ wait: 3600, hold: 5, ver: '1.6' });
    expect(ra.body.attrs.wait).toBe(String(BOSH.maxWait));
    expect(ra.body.attrs.hold).toBe('1');
    expect(ra.body.attrs.requests).toBe('2');
    expect(ra.body.attrs.ver).toBe('1.6');
    const b = new RawBoshSession(url);
    const rb = await b.create({ wait: 2, ver: '2.0' });
    expect(rb.body.attrs.wait).toBe('2');
    expect(rb.body.attrs.ver).toBe('1.11');
    expect(rb.body.attrs.sid).not.toBe(ra.body.attrs.sid);
    await a.terminate();
    await b.terminate();
  });

  it('gives every session a distinct random sid', async () => {
    const sids = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const s = new RawBoshSession(url);
      await s.create({ wait: 2 });
      sids.add(s.sid);
      await s.terminate();
    }
    expect(sids.size).toBe(8);
    for (const sid of sids) expect(Buffer.from(sid, 'base64url').byteLength).toBeGreaterThanOrEqual(16);
  });

  it('refuses a domain it does not serve with host-unknown (§17.2)', async () => {
    const s = new RawBoshSession(url);
    const res = await s.create({ to: 'elsewhere.org' });
    expect(res.status).toBe(200);
    expect(res.body.attrs).toMatchObject({ type: 'terminate', condition: 'host-unknown' });
    expect(res.body.attrs.sid).toBeUndefined();
  });

  it('refuses a creation request without `to` with improper-addressing', async () => {
    const res = await httpRequest(url, buildBody({ rid: 7, ver: '1.11', wait: 5, hold: 1 }));
    expect(res.text).toMatch(/type='terminate'/);
    expect(res.text).toMatch(/condition='improper-addressing'/);
  });
});

describe('request ids (§14)', () => {
  it('answers a retransmitted rid with the identical bytes, without forwarding its payload again (§14.3)', async () => {
    const { s, jid } = await loggedIn('retransmit', 2);
    const rid = s.rid++;
    const body = buildBody({ rid, sid: s.sid }, [messageTo(jid, 'only once', 'once1')]);
    const first = await s.post(rid, body);
    expect(first.status).toBe(200);
    // The message comes back from the server on this response or a later one.
    const echoed = await s.take((e) => e.localName === 'message');
    expect(childText(echoed, 'body')).toBe('only once');
    const again = await s.post(rid, body);
    expect(again.status).toBe(200);
    expect(again.wire.equals(first.wire)).toBe(true);
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
    // Not forwarded twice: no second copy arrives (the retransmitted response itself is a copy, dropped here).
    s.inbox.length = 0;
    const later = await s.request([], {}, { timeoutMs: 15_000 });
    expect(later.body.children.filter((c) => c.localName === 'message')).toHaveLength(0);
    expect(s.inbox.filter((c) => c.localName === 'message')).toHaveLength(0);
    await s.terminate();
  });

  it('ends the session with item-not-found for a rid beyond the window (§14.2), and the sid is gone afterwards', async () => {
    const s = new RawBoshSession(url);
    await s.create({ wait: 5 });
    const before = gateway.connections.bosh;
    // requests = 2: the highest acceptable rid is the last one + 2.
    const res = await s.send(s.rid + 2);
    expect(res.status).toBe(200);
    expect(res.body.attrs).toMatchObject({ type: 'terminate', condition: 'item-not-found' });
    expect(gateway.connections.bosh).toBe(before - 1);
    const after = await s.request();
    expect(after.body.attrs).toMatchObject({ type: 'terminate', condition: 'item-not-found' });
  });

  it('forwards payloads in rid order when requests arrive out of order (§14.2)', async () => {
    const { s, jid } = await loggedIn('order');
    const n = s.rid;
    s.rid += 2;
    // rid n+1 first; it waits for rid n.
    const before = await heldCount();
    const second = s.send(n + 1, [messageTo(jid, 'second')]);
    await heldMore(before);
    const first = s.send(n, [messageTo(jid, 'first')]);
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1.status).toBe(200);
    expect(r2.status).toBe(200);
    expect(r1.body.attrs.type).toBeUndefined();
    expect(r2.body.attrs.type).toBeUndefined();
    const got: string[] = [];
    for (let i = 0; i < 2; i++) got.push(childText(await s.take((e) => e.localName === 'message'), 'body') ?? '');
    expect(got).toEqual(['first', 'second']);
    await s.terminate();
  });

  it('answers a copy of a held request with a recoverable error on the older one (§14.3)', async () => {
    const s = new RawBoshSession(url);
    await s.create({ wait: 3 });
    const rid = s.rid++;
    const before = await heldCount();
    const original = s.send(rid);
    await heldMore(before);
    const copy = s.send(rid);
    const o = await original;
    expect(o.body.attrs.type).toBe('error');
    const c = await copy;
    expect(c.status).toBe(200);
    expect(c.body.attrs.type).toBeUndefined();
    expect(c.text).toBe(EMPTY_BODY);
    await s.terminate();
  });
});

describe('wait and hold (§7, §8)', () => {
  it('answers a held request with an empty body once `wait` seconds pass with nothing to deliver', async () => {
    // Not before `wait`, and later for a longer `wait`: the session's timer follows the attribute. (When exactly
    // it fires is the pure session's business, tested with an injected clock in test/unit/bosh/session.test.ts.)
    const s = new RawBoshSession(url);
    const created = await s.create({ wait: 1 });
    expect(created.body.attrs.wait).toBe('1');
    const s2 = new RawBoshSession(url);
    await s2.create({ wait: 3 });
    const [res, res2] = await Promise.all([s.request(), s2.request()]);
    expect(res.text).toBe(EMPTY_BODY);
    expect(res2.text).toBe(EMPTY_BODY);
    expect(res.elapsedMs).toBeGreaterThanOrEqual(900);
    expect(res2.elapsedMs).toBeGreaterThanOrEqual(2_900);
    expect(res2.elapsedMs - res.elapsedMs).toBeGreaterThanOrEqual(1_500);
    await s.terminate();
    await s2.terminate();
  });

  it('releases the held request when a new one arrives and hold is exceeded (§8)', async () => {
    const s = new RawBoshSession(url);
    const created = await s.create({ wait: 8, hold: 1 });
    const polling = Number(created.body.attrs.polling ?? 1) * 1000;
    const before = await heldCount();
    let secondDone = false;
    const first = s.request();
    await heldMore(before);
    // After the polling interval, so the second empty request is not overactivity (§11): an interval the
    // protocol defines, not a guess at how long something takes.
    await sleep(polling + 100);
    const second = s.request().then((r) => {
      secondDone = true;
      return r;
    });
    // The first comes back empty long before its `wait` (8 s) because the second exceeds hold=1.
    const r1 = await first;
    expect(r1.text).toBe(EMPTY_BODY);
    expect(r1.elapsedMs).toBeLessThan(8_000);
    // and the second is the one held now.
    await eventually(async () => (await heldCount()) === before + 1, 'the second request held');
    expect(secondDone).toBe(false);
    // Terminate: the oldest open request (the held second one) gets the acknowledgement (§13).
    const t = await s.terminate();
    const r2 = await second;
    expect(r2.body.attrs.type).toBe('terminate');
    expect(t.text).toBe(EMPTY_BODY);
  });
});

describe('pause and inactivity (§10)', () => {
  it('keeps a paused session beyond the inactivity period and resumes it with the next request', async () => {
    const s = new RawBoshSession(url);
    await s.create({ wait: 4 });
    const before = await heldCount();
    const held = s.request();
    await heldMore(before);
    // §10: the pause request and every request held are answered at once.
    const pause = await s.request([], { pause: 5 });
    expect(pause.status).toBe(200);
    expect(pause.text).toBe(EMPTY_BODY);
    const answered = await held;
    expect(answered.text).toBe(EMPTY_BODY);
    // By the pause, not by its own `wait`, which would have ended it only after 4 s.
    expect(answered.elapsedMs).toBeLessThan(4_000);
    // Longer than the inactivity period, within the pause: time in which the session must NOT expire.
    await sleep(BOSH.inactivity * 1000 + 1_000);
    expect(gateway.connections.bosh).toBeGreaterThanOrEqual(1);
    const expired = await inactivityCount();
    const resumed = await s.request();
    expect(resumed.text).toBe(EMPTY_BODY);
    // Back to the normal inactivity period: the session ends after it.
    await eventually(async () => (await inactivityCount()) > expired, 'the session to expire', 8_000);
    const late = await s.request();
    expect(late.body.attrs).toMatchObject({ type: 'terminate', condition: 'item-not-found' });
  });

  it('refuses a pause longer than maxpause with policy-violation', async () => {
    const s = new RawBoshSession(url);
    const created = await s.create({ wait: 1 });
    expect(created.body.attrs.maxpause).toBe(String(BOSH.maxPause));
    const res = await s.request([], { pause: 60 });
    expect(res.body.attrs).toMatchObject({ type: 'terminate', condition: 'policy-violation' });
  });

  it('ends an idle session after `inactivity` seconds; a later request gets item-not-found', async () => {
    const s = new RawBoshSession(url);
    const created = await s.create({ wait: 1 });
    expect(created.body.attrs.inactivity).toBe('2');
    const count = gateway.connections.bosh;
    const t0 = performance.now();
    await eventually(() => gateway.connections.bosh < count, 'the session to expire', 8_000);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(BOSH.inactivity * 1000 - 200);
    const res = await s.request();
    expect(res.status).toBe(200);
    expect(res.body.attrs).toMatchObject({ type: 'terminate', condition: 'item-not-found' });
    expect(await metrics()).toMatch(/xwg_closes_total\{transport="bosh",reason="inactivity"\} [1-9]/);
  });
});

describe('legacy clients (§17.1: no `ver` in the creation request)', () => {
  it('get HTTP error codes: 404 for a rid beyond the window, 404 for their sid once the session is gone', async () => {
    const s = new RawBoshSession(url);
    const created = await s.create({ ver: null, wait: 5 });
    expect(created.status).toBe(200);
    expect(created.body.attrs.sid).toBeDefined();
    const res = await s.send(s.rid + 5);
    expect(res.status).toBe(404);
    const after = await s.request();
    expect(after.status).toBe(404);
  });

  it('get 400 for an unreadable creation request and 403 for a policy violation', async () => {
    const bad = await httpRequest(url, "<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='example.com'><oops></body>");
    expect(bad.status).toBe(400);
    const s = new RawBoshSession(url);
    await s.create({ ver: null, wait: 1 });
    const res = await s.request([], { pause: 60 });
    expect(res.status).toBe(403);
  });

  it('current clients get 200 with terminal conditions for the same errors', async () => {
    const bad = await httpRequest(url, "<body xmlns='http://jabber.org/protocol/httpbind' rid='1' ver='1.11' to='example.com'><oops></body>");
    expect(bad.status).toBe(200);
    expect(bad.text).toMatch(/condition='bad-request'/);
  });
});

describe('refusals', () => {
  it('answers GET with 200 and a page naming the endpoint, creating no session (as Prosody and ejabberd do)', async () => {
    const before = gateway.connections.bosh;
    const res = await httpRequest(url, undefined, { method: 'GET' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.text).toContain('XMPP BOSH endpoint');
    expect(res.text).toContain('<code>/http-bind</code>');
    const head = await httpRequest(gateway.url('/bosh'), undefined, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect(gateway.connections.bosh).toBe(before);
  });

  it('answers PUT and DELETE with 405 and an Allow header', async () => {
    for (const method of ['PUT', 'DELETE']) {
      const res = await httpRequest(url, '<body/>', { method });
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('GET, HEAD, POST, OPTIONS');
    }
  });

  it('answers a body that is not XML with bad-request and ends the session it names', async () => {
    // Not XML at all, nothing known about the client: HTTP 400 (it may be a legacy client).
    const garbage = await httpRequest(url, 'this is not xml');
    expect(garbage.status).toBe(400);
    expect(garbage.text).toMatch(/condition='bad-request'/);
    // Not a <body/> in the httpbind namespace.
    const wrongRoot = await httpRequest(url, "<html xmlns='http://www.w3.org/1999/xhtml'/>");
    expect(wrongRoot.text).toMatch(/condition='bad-request'/);
    // Malformed inside a live session: the session ends with bad-request.
    const s = new RawBoshSession(url);
    await s.create({ wait: 2 });
    const count = gateway.connections.bosh;
    const res = await s.post(s.rid, `<body xmlns='http://jabber.org/protocol/httpbind' rid='${s.rid}' sid='${s.sid}'><message><body>x</message></body>`);
    expect(res.status).toBe(200);
    expect(res.body.attrs).toMatchObject({ type: 'terminate', condition: 'bad-request' });
    expect(gateway.connections.bosh).toBe(count - 1);
    // XEP-0124 §6: no comments, processing instructions or DTDs.
    const dtd = await httpRequest(url, `<!DOCTYPE body><body xmlns='http://jabber.org/protocol/httpbind' rid='1' ver='1.11' to='example.com'/>`);
    expect(dtd.text).toMatch(/condition='bad-request'/);
  });

  it('answers an unknown sid with item-not-found', async () => {
    const res = await httpRequest(url, buildBody({ rid: 42, sid: 'no-such-session-AAAAAAAAAAAAAA' }));
    expect(res.status).toBe(200);
    expect(res.text).toBe("<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='item-not-found'/>");
  });

  it('refuses an oversized body with bad-request, ends that session, and closes only that connection', async () => {
    const s = new RawBoshSession(url);
    await s.create({ wait: 2 });
    const count = gateway.connections.bosh;
    const big = buildBody({ rid: s.rid, sid: s.sid }, [messageTo('bob@example.com', 'x'.repeat(BOSH.maxBodyBytes * 2))]);
    // A browser-like client: the whole body with its true Content-Length.
    const res = await rawHttpExchange(
      gateway.ports.http,
      `POST /http-bind HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(big)}\r\n\r\n`,
      big,
    );
    expect(res.ended).not.toBe('timeout');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/\r\nconnection: close\r\n/i);
    expect(res.text).toMatch(/type='terminate' condition='bad-request'/);
    expect(gateway.connections.bosh).toBe(count - 1);
    // Without a session, and a declared length far beyond the limit: refused before the body is read.
    const head = `POST /http-bind HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: 10000000\r\n\r\n`;
    const lone = await rawHttpExchange(gateway.ports.http, head, `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' ver='1.11' to='example.com'>${'<a/>'.repeat(6_000)}`);
    expect(lone.ended).not.toBe('timeout');
    expect(lone.text).toMatch(/condition='bad-request'/);
    // The gateway carries on.
    expect((await httpRequest(gateway.adminUrl('/healthz'), undefined, { method: 'GET' })).status).toBe(200);
    const next = new RawBoshSession(url);
    expect((await next.create({ wait: 1 })).body.attrs.sid).toBeDefined();
    await next.terminate();
  });
});

describe('CORS (browsers on another origin)', () => {
  it('answers a preflight from an allowed origin, echoing it', async () => {
    const res = await httpRequest(url, undefined, {
      method: 'OPTIONS',
      headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(res.headers['access-control-allow-methods']).toBe('POST, OPTIONS');
    expect(res.headers['access-control-allow-headers']).toBe('Content-Type');
    expect(res.headers.vary).toMatch(/Origin/);
    expect(Number(res.headers['access-control-max-age'])).toBeGreaterThan(0);
  });

  it('refuses a preflight and a POST from a foreign origin', async () => {
    const pre = await httpRequest(url, undefined, { method: 'OPTIONS', headers: { Origin: 'https://evil.example.net', 'Access-Control-Request-Method': 'POST' } });
    expect(pre.status).toBe(403);
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    const post = await httpRequest(url, buildBody({ rid: 1, to: 'example.com', ver: '1.11', wait: 1 }), { headers: { Origin: 'https://evil.example.net' } });
    expect(post.status).toBe(403);
    expect(post.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('puts the allowed origin on every response of a session', async () => {
    const s = new RawBoshSession(url, { headers: { Origin: ORIGIN } });
    const created = await s.create({ wait: 1 });
    expect(created.headers['access-control-allow-origin']).toBe(ORIGIN);
    const t = await s.terminate();
    expect(t.headers['access-control-allow-origin']).toBe(ORIGIN);
  });
});

describe('gzip', () => {
  it('compresses a large response for a client that accepts gzip, and only then', async () => {
    const { s, jid } = await loggedIn('gzip');
    const text = 'lorem ipsum dolor sit amet '.repeat(200);
    s.headers = { 'Accept-Encoding': 'gzip, deflate' };
    // The echo of a large message to self comes back in one response.
    const res = await s.request([messageTo(jid, text)]);
    let echo = res;
    if (!res.body.children.some((c) => c.localName === 'message')) echo = await s.request();
    expect(echo.headers['content-encoding']).toBe('gzip');
    expect(echo.headers.vary).toMatch(/Accept-Encoding/);
    expect(echo.wire.byteLength).toBeLessThan(echo.bytes.byteLength / 4);
    expect(echo.text).toContain(text);
    s.inbox.length = 0;
    // Without Accept-Encoding: identity.
    s.headers = {};
    const plain = await s.request([messageTo(jid, text)]);
    let plainEcho = plain;
    if (!plain.body.children.some((c) => c.localName === 'message')) plainEcho = await s.request();
    expect(plainEcho.headers['content-encoding']).toBeUndefined();
    expect(plainEcho.text).toContain(text);
    // Small bodies are not worth it.
    s.headers = { 'Accept-Encoding': 'gzip' };
    const small = await s.terminate();
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(small.text).toBe("<body xmlns='http://jabber.org/protocol/httpbind' type='terminate'/>");
  });
});
