// BOSH sessions when the gateway or its upstream goes away: the drain of a node (see-other-uri toward another
// ready node, or system-shutdown), an upstream that cannot be reached, and an upstream that ends the stream.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawBoshSession, STREAMS_NS, buildBody, httpRequest } from '../../../dev/harness/bosh-http.ts';
import { startTestGateway, type TestGateway } from '../../../dev/harness/gateway.ts';
import { createTestCa } from '../../../dev/harness/pki.ts';
import { heldBoshRequests, untilHeld } from '../../../dev/harness/metrics.ts';
import { freePort } from '../../../dev/harness/ports.ts';
import { startProsody, type ProsodyServer } from '../../../dev/harness/prosody.ts';
import { connectXmppJs } from '../../../dev/harness/xmpp-js.ts';

let prosody: ProsodyServer;
let dir: string;
const started: TestGateway[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'xwg-bosh-'));
  prosody = await startProsody({
    domains: ['example.com'],
    users: [
      { user: 'alice', domain: 'example.com', password: 'alice-pw' },
      { user: 'bob', domain: 'example.com', password: 'bob-pw' },
    ],
  });
});

afterAll(async () => {
  for (const g of started) await g.close();
  await prosody?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function gatewayWith(extra: Record<string, unknown> = {}): Promise<TestGateway> {
  const g = await startTestGateway({
    domains: ['example.com'],
    upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'none' } },
    bosh: { maxWait: 20 },
    drain: { deadlineMs: 5_000 },
    ...extra,
  });
  started.push(g);
  return g;
}

const NODES = {
  nodeName: 'gw-a',
  discovery: {
    nodes: [
      { name: 'gw-a', host: 'a.example.net', boshUrl: 'https://a.example.net/http-bind' },
      { name: 'gw-c', host: 'c.example.net', boshUrl: 'https://c.example.net/http-bind', ready: false },
      { name: 'gw-b', host: 'b.example.net', boshUrl: 'https://b.example.net/http-bind' },
    ],
  },
};

describe('drain', () => {
  it('sends a held request see-other-uri toward another ready node, and ends the upstream session', async () => {
    const gateway = await gatewayWith(NODES);
    // Bob watches from another gateway, which keeps running.
    const other = await gatewayWith();
    const bob = await connectXmppJs({ service: other.wsUrl(), domain: 'example.com', username: 'bob', password: 'bob-pw' });
    try {
      const s = new RawBoshSession(gateway.url('/http-bind'));
      await s.create({ wait: 15 });
      const jid = await s.login('alice', 'alice-pw', 'example.com', 'drained');
      const presence = s.request([`<presence xmlns='jabber:client' to='${bob.jid}'/>`]);
      await bob.next((p) => p.is('presence') && p.attrs.from === jid && p.attrs.type === undefined);
      // Bob's answer comes back on the held request.
      await bob.sendMessage(jid, 'hi alice');
      expect((await presence).text).toContain('hi alice');
      const before = await heldBoshRequests(gateway.adminUrl('/metrics'));
      const held = s.request([], {}, { timeoutMs: 10_000 });
      await untilHeld(gateway.adminUrl('/metrics'), before);
      const drained = gateway.drain();
      // Answered by the drain (a terminate), long before its own wait (15 s) would have answered it empty.
      const res = await held;
      expect(res.status).toBe(200);
      expect(res.body.attrs).toMatchObject({ type: 'terminate', condition: 'see-other-uri' });
      // A random other node that is ready: never this one, never the one that is not ready.
      const uri = res.body.children.find((c) => c.localName === 'uri');
      expect(uri?.textContent).toBe('https://b.example.net/http-bind');
      await drained;
      expect(gateway.connections.bosh).toBe(0);
      // The upstream connection was dropped, so the server ended alice's session: bob sees her go.
      const gone = await bob.next((p) => p.is('presence') && p.attrs.from === jid && p.attrs.type === 'unavailable');
      expect(gone.attrs.type).toBe('unavailable');
    } finally {
      await bob.stop();
    }
  });

  it('uses system-shutdown when no other node is known, and refuses new connections after', async () => {
    const gateway = await gatewayWith();
    const s = new RawBoshSession(gateway.url('/http-bind'));
    await s.create({ wait: 15 });
    const before = await heldBoshRequests(gateway.adminUrl('/metrics'));
    const held = s.request([], {}, { timeoutMs: 10_000 });
    await untilHeld(gateway.adminUrl('/metrics'), before);
    const drained = gateway.drain();
    const res = await held;
    expect(res.body.attrs).toMatchObject({ type: 'terminate', condition: 'system-shutdown' });
    expect(res.body.children).toHaveLength(0);
    await drained;
    await expect(httpRequest(gateway.url('/http-bind'), '<body/>', { timeoutMs: 2_000 })).rejects.toThrow();
  });
});

describe('upstream failures', () => {
  it('answers session creation with remote-connection-failed when the upstream is down, never hanging', async () => {
    const deadPort = await freePort();
    const gateway = await gatewayWith({ upstream: { default: { host: '127.0.0.1', port: deadPort, tls: 'none' } } });
    const s = new RawBoshSession(gateway.url('/http-bind'));
    // Never hanging: the client's own timeout (10 s) is shorter than the session's wait (15 s).
    const res = await s.create({ wait: 15, timeoutMs: 10_000 });
    expect(res.status).toBe(200);
    expect(res.body.attrs).toMatchObject({ type: 'terminate', condition: 'remote-connection-failed' });
    expect(gateway.connections.bosh).toBe(0);
    const metrics = await (await fetch(gateway.adminUrl('/metrics'))).text();
    expect(metrics).toMatch(/xwg_upstream_connect_failures_total [1-9]/);
  });

  it('relays a stream error from the server as remote-stream-error with the <stream:error/> (XEP-0206 §6)', async () => {
    const gateway = await gatewayWith();
    const first = new RawBoshSession(gateway.url('/http-bind'));
    await first.create({ wait: 15 });
    await first.login('alice', 'alice-pw', 'example.com', 'twice');
    const held = first.request([], {}, { timeoutMs: 10_000 });
    // The same full JID logs in again: Prosody replaces the old session with a conflict stream error.
    const second = new RawBoshSession(gateway.url('/http-bind'));
    await second.create({ wait: 15 });
    await second.login('alice', 'alice-pw', 'example.com', 'twice');
    const res = await held;
    expect(res.body.attrs).toMatchObject({ type: 'terminate', condition: 'remote-stream-error' });
    expect(res.body.attrs['xmlns:stream']).toBe(STREAMS_NS);
    const error = res.body.children.find((c) => c.localName === 'error' && c.namespaceURI === STREAMS_NS);
    expect(error?.getElementsByTagNameNS('urn:ietf:params:xml:ns:xmpp-streams', 'conflict').length).toBe(1);
    await expect.poll(() => gateway.connections.bosh, { timeout: 5_000 }).toBe(1);
    // The next request of the ended session: item-not-found.
    expect((await first.request()).body.attrs.condition).toBe('item-not-found');
    await second.terminate();
  });
});

describe('a session begun over TLS (XEP-0124 §22)', () => {
  it('is continued over TLS only: plain requests naming it are dropped, readable or not, and it lives on', async () => {
    const ca = await createTestCa({ dir: path.join(dir, 'ca') });
    const leaf = await ca.issue({ dnsNames: ['localhost'] });
    const certDir = path.join(dir, 'certs');
    await (await import('node:fs/promises')).mkdir(certDir, { recursive: true });
    await writeFile(path.join(certDir, 'gw.crt'), leaf.certPem);
    await writeFile(path.join(certDir, 'gw.key'), leaf.keyPem);
    const gateway = await gatewayWith({ listen: { certDir } });
    const s = new RawBoshSession(`https://127.0.0.1:${gateway.ports.https}/http-bind`, { ca: ca.certPem });
    const created = await s.create({ wait: 1 });
    expect(created.body.attrs.sid).toBeDefined();
    const plain = gateway.url('/http-bind');
    const forged = [
      buildBody({ rid: s.rid, sid: s.sid, type: 'terminate' }),
      // Unreadable: would end the session with bad-request if it reached it.
      `<body xmlns='http://jabber.org/protocol/httpbind' rid='${s.rid}' sid='${s.sid}'><oops></body>`,
      `<body xmlns='http://jabber.org/protocol/httpbind' rid='${s.rid}' sid='${s.sid}'>${'<presence/>'.repeat(30_000)}</body>`,
    ];
    for (const body of forged) {
      await expect(httpRequest(plain, body, { timeoutMs: 5_000 })).rejects.toThrow(/socket hang up|ECONNRESET|EPIPE/);
    }
    expect(gateway.connections.bosh).toBe(1);
    const next = await s.request();
    expect(next.status).toBe(200);
    expect(next.body.attrs.type).toBeUndefined();
    const end = await s.terminate();
    expect(end.body.attrs.type).toBe('terminate');
  });
});
