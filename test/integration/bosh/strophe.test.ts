// BOSH through the gateway with a real third-party client: Strophe.js (on Node, with a test XMLHttpRequest)
// logs in to a real server (Prosody 0.12 and ejabberd 23.01, the same suite for each), talks to an xmpp.js
// user on the gateway's WebSocket, and disconnects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compat } from '../../../dev/compat/matrix.ts';
import { startTestGateway, type TestGateway } from '../../../dev/harness/gateway.ts';
import { connectStrophe, useNodeXhr, type StropheClient } from '../../../dev/harness/strophe.ts';
import type { XhrExchange } from '../../../dev/harness/xhr.ts';
import { connectXmppJs, xml, type OnlineClient } from '../../../dev/harness/xmpp-js.ts';
import { SERVER_KINDS, SERVER_LABELS, startXmppServer, type ServerKind, type XmppServer } from '../../../dev/harness/xmpp-server.ts';

const ORIGIN = 'https://chat.example.com';
const setups = {} as Record<ServerKind, { server: XmppServer; gateway: TestGateway }>;
let exchanges: XhrExchange[];
let restoreXhr: () => void;

beforeAll(async () => {
  for (const kind of SERVER_KINDS) {
    const server = await startXmppServer(kind, {
      domains: ['example.com', 'example2.com'],
      users: [
        { user: 'alice', domain: 'example.com', password: 'alice-pw' },
        { user: 'bob', domain: 'example.com', password: 'bob-pw' },
        { user: 'carol', domain: 'example2.com', password: 'carol-pw' },
      ],
    });
    const gateway = await startTestGateway({
      domains: ['example.com', 'example2.com'],
      upstream: { default: { host: '127.0.0.1', port: server.c2sPort, tls: 'none' } },
      allowedOrigins: [ORIGIN],
      bosh: { maxWait: 20 },
    });
    setups[kind] = { server, gateway };
  }
  // Strophe runs as a page served from ORIGIN would: every request carries that Origin.
  ({ exchanges, restore: restoreXhr } = useNodeXhr({ origin: ORIGIN }));
});

afterAll(async () => {
  restoreXhr?.();
  for (const { server, gateway } of Object.values(setups)) {
    await gateway.close();
    await server.dispose();
  }
});

async function metric(gateway: TestGateway, pattern: RegExp): Promise<number> {
  const text = await (await fetch(gateway.adminUrl('/metrics'))).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Waits until `check` holds (polling), or fails after `timeoutMs`. */
async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const bodyOf = (e: Element) => e.getElementsByTagName('body').item(0)?.textContent ?? '';

describe.each(SERVER_KINDS.map((kind) => [SERVER_LABELS[kind], kind] as const))('Strophe.js over BOSH through the gateway to %s', (_label, kind) => {
  it('logs in (SCRAM, stream restart, bind), chats with a WebSocket user both ways, and terminates cleanly', async ({ task }) => {
    compat(task, { server: kind, transport: 'bosh', feature: 'scram' });
    const { gateway } = setups[kind];
    const restartsBefore = await metric(gateway, /xwg_bosh_requests_total\{outcome="payload"\} (\d+)/);
    let alice: StropheClient | undefined;
    let bob: OnlineClient | undefined;
    try {
      bob = await connectXmppJs({ service: gateway.wsUrl(), domain: 'example.com', username: 'bob', password: 'bob-pw' });
      alice = await connectStrophe({ service: gateway.url('/http-bind'), jid: 'alice@example.com/strophe', password: 'alice-pw', wait: 10 });
      expect(alice.jid).toBe('alice@example.com/strophe');
      expect(gateway.connections.bosh).toBe(1);

      // The creation request: Strophe's own attributes, a current client (ver), the XMPP domain as `to`.
      const creation = alice.rawOut[0]!;
      expect(creation).toMatch(/ to="example\.com"/);
      expect(creation).toMatch(/ ver="1\.6"/);
      expect(creation).not.toMatch(/ sid=/);
      // XEP-0206 §5: after SASL success the client restarts the stream on the same session; the response to
      // the restart carries the new stream's features (bind), and the login went through it.
      const restartAt = alice.rawOut.findIndex((b) => /xmpp:restart="true"/.test(b));
      expect(restartAt).toBeGreaterThan(0);
      expect(alice.rawOut.slice(0, restartAt).some((b) => /<auth [^>]*mechanism="SCRAM-SHA-/.test(b))).toBe(true);
      expect(alice.rawOut.filter((b) => /xmpp:restart="true"/.test(b))).toHaveLength(1);
      const sid = /sid="([^"]+)"/.exec(alice.rawOut[restartAt]!)![1]!;
      expect(alice.rawOut.slice(1).every((b) => b.includes(`sid="${sid}"`))).toBe(true);
      expect(alice.rawIn.some((b) => /<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/.test(b))).toBe(true);
      const bindFeatures = alice.rawIn.findIndex((b) => /<stream:features[\s\S]*urn:ietf:params:xml:ns:xmpp-bind/.test(b));
      expect(bindFeatures).toBeGreaterThan(0);
      expect(alice.rawIn.slice(0, bindFeatures).some((b) => /<success /.test(b))).toBe(true);
      // Before the restart, the features offered SASL and no STARTTLS (XEP-0206 §4: the gateway hides it).
      expect(alice.rawIn[0]).toMatch(/<mechanisms /);
      expect(alice.rawIn.join('')).not.toMatch(/starttls/);
      expect(await metric(gateway, /xwg_bosh_requests_total\{outcome="payload"\} (\d+)/)).toBeGreaterThan(restartsBefore);

      // CORS on every response toward the page's origin.
      const mine = exchanges.filter((e) => e.requestBody.includes(`sid="${sid}"`));
      expect(mine.length).toBeGreaterThan(3);
      for (const e of mine) {
        expect(e.status).toBe(200);
        expect(e.responseHeaders['access-control-allow-origin']).toBe(ORIGIN);
        expect(e.responseHeaders['content-type']).toMatch(/^text\/xml/);
      }

      // Directed presence both ways, so each learns when the other goes away.
      alice.sendPresence({ to: bob.jid });
      const seen = await bob.next((s) => s.is('presence') && s.attrs.from === alice!.jid);
      expect(seen.attrs.type).toBeUndefined();
      await bob.xmpp.send(xml('presence', { to: alice.jid }));
      await alice.next((s) => s.nodeName === 'presence' && s.getAttribute('from') === bob!.jid);

      // BOSH → WebSocket: 25 messages, all delivered, in order.
      const N = 25;
      for (let i = 0; i < N; i++) alice.sendMessage(bob.jid, `to bob ${i} <&>`);
      const atBob: string[] = [];
      for (let i = 0; i < N; i++) atBob.push((await bob.next((s) => s.is('message'))).getChildText('body') ?? '');
      expect(atBob).toEqual(Array.from({ length: N }, (_, i) => `to bob ${i} <&>`));

      // WebSocket → BOSH: delivered on the held request, in order, none lost or doubled.
      for (let i = 0; i < N; i++) await bob.sendMessage(alice.jid, `to alice ${i} ü`);
      const atAlice: string[] = [];
      for (let i = 0; i < N; i++) atAlice.push(bodyOf(await alice.next((s) => s.nodeName === 'message')));
      expect(atAlice).toEqual(Array.from({ length: N }, (_, i) => `to alice ${i} ü`));
      await new Promise((r) => setTimeout(r, 300));
      expect(alice.received.filter((s) => s.nodeName === 'message')).toHaveLength(0);

      // An IQ round trip to the BOSH user's full JID proves the upstream session is live...
      const ping = () => bob!.xmpp.iqCaller.request(xml('iq', { type: 'get', to: alice!.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 5_000);
      alice.conn.addHandler(
        (iq: Element) => {
          alice!.conn.send(xmlResult(iq));
          return true;
        },
        'urn:xmpp:ping',
        'iq',
        'get',
      );
      await ping();

      // Strophe's disconnect: unavailable presence inside a type='terminate' request (XEP-0124 §13).
      const statuses = await alice.disconnect();
      expect(statuses.map((s) => s.name)).toContain('DISCONNECTED');
      const terminate = alice.rawOut.find((b) => /type="terminate"/.test(b))!;
      expect(terminate).toMatch(/<presence [^>]*type="unavailable"/);
      // §13: the termination is acknowledged on the oldest open request (the one Strophe held), with a plain
      // type='terminate' (no condition); the terminate request itself gets an empty <body/>.
      const terminateExchange = exchanges.find((e) => e.requestBody.includes('type="terminate"') && e.requestBody.includes(sid))!;
      expect(terminateExchange.responseText).toBe("<body xmlns='http://jabber.org/protocol/httpbind'/>");
      const acknowledged = exchanges.filter((e) => e.requestBody.includes(sid) && /type='terminate'/.test(e.responseText));
      expect(acknowledged).toHaveLength(1);
      expect(acknowledged[0]!.requestBody).not.toMatch(/type="terminate"/);
      expect(acknowledged[0]!.responseText).not.toMatch(/condition=/);

      // ...and its end: the WebSocket user sees the BOSH user go unavailable; the gateway forgets the session;
      // the upstream session is gone, so an IQ to the old full JID bounces.
      const gone = await bob.next((s) => s.is('presence') && s.attrs.from === alice!.jid && s.attrs.type === 'unavailable');
      expect(gone.attrs.type).toBe('unavailable');
      await eventually(() => gateway.connections.bosh === 0, 'the BOSH session to end');
      await expect(ping()).rejects.toThrow(/service-unavailable|recipient-unavailable|item-not-found/);
      expect(await metric(gateway, /xwg_closes_total\{transport="bosh",reason="client-terminate"\} (\d+)/)).toBeGreaterThanOrEqual(1);
      // A late request on the old sid is refused.
      const late = await fetch(gateway.url('/http-bind'), {
        method: 'POST',
        body: `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' sid='${sid}'/>`,
      });
      expect(await late.text()).toMatch(/condition='item-not-found'/);
      alice = undefined;
    } finally {
      alice?.kill();
      await bob?.stop();
    }
  });

  it('logs in with SASL PLAIN when that is the mechanism the client uses', async ({ task }) => {
    compat(task, { server: kind, transport: 'bosh', feature: 'plain' });
    const alice = await connectStrophe({ service: setups[kind].gateway.url('/http-bind'), jid: 'alice@example.com/plain', password: 'alice-pw', wait: 10, mechanisms: ['PLAIN'] });
    try {
      expect(alice.jid).toBe('alice@example.com/plain');
      expect(alice.rawOut.some((b) => /<auth [^>]*mechanism="PLAIN"/.test(b))).toBe(true);
      await alice.disconnect();
    } finally {
      alice.kill();
    }
  });

  it('logs a user of a second virtual host in: the stream goes to the XMPP domain, not the gateway host', async () => {
    const carol = await connectStrophe({ service: setups[kind].gateway.url('/http-bind'), jid: 'carol@example2.com/strophe', password: 'carol-pw', wait: 10 });
    try {
      expect(carol.jid).toBe('carol@example2.com/strophe');
      expect(carol.rawOut[0]).toMatch(/ to="example2\.com"/);
      // The creation response names the server the stream reached (XEP-0124 §7.2 `from`).
      expect(carol.rawIn[0]).toMatch(/ from="example2\.com"/);
      const info = await new Promise<Element>((resolve, reject) => {
        carol.conn.sendIQ(
          xmlIq('get', 'example2.com', 'disco1', `<query xmlns='http://jabber.org/protocol/disco#info'/>`),
          resolve,
          (e: Element | null) => reject(new Error(`disco failed: ${String(e)}`)),
          5_000,
        );
      });
      expect(info.getAttribute('from')).toBe('example2.com');
      await carol.disconnect();
    } finally {
      carol.kill();
    }
  });});

describe('Strophe.js over BOSH through the gateway, edges (Prosody)', () => {
  it('works the same through the /bosh alias', async () => {
    const { gateway } = setups.prosody;
    const alice = await connectStrophe({ service: gateway.url('/bosh'), jid: 'alice@example.com/alias', password: 'alice-pw', wait: 10 });
    try {
      expect(alice.jid).toBe('alice@example.com/alias');
      // A message to self crosses the gateway both ways on the same session.
      alice.sendMessage(alice.jid, 'echo');
      expect(bodyOf(await alice.next((s) => s.nodeName === 'message'))).toBe('echo');
      expect(exchanges.some((e) => e.url.endsWith('/bosh') && e.requestBody.includes('alice@example.com/alias'))).toBe(true);
      await alice.disconnect();
    } finally {
      alice.kill();
    }
    await eventually(() => gateway.connections.bosh === 0, 'the BOSH session to end');
  });

});

/** An empty IQ result for `iq`. */
function xmlResult(iq: Element): Element {
  return xmlIq('result', iq.getAttribute('from') ?? '', iq.getAttribute('id') ?? '', '');
}

function xmlIq(type: string, to: string, id: string, inner: string): Element {
  const doc = new DOMParser().parseFromString(`<iq xmlns='jabber:client' type='${type}' to='${to}' id='${id}'>${inner}</iq>`, 'text/xml');
  return doc.documentElement;
}
