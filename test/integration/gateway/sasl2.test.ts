// SASL2 (XEP-0388), Bind2 (XEP-0386) and FAST (XEP-0484) through the gateway, over WebSocket (xmpp.js 0.14)
// and BOSH (raw), to Prosody 0.12 with Debian's prosody-modules mod_sasl2, mod_sasl2_bind2 and
// mod_sasl2_fast, over STARTTLS. No stream restart follows a SASL2 success, and none is waited for: the
// stream carries stanzas right after it. A FAST token handed out by one gateway node logs the client in
// on another node once the first is gone. ejabberd 23.01 offers none of this (it came in 23.10), and the
// clients fall back to SASL.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compat, type Transport } from '../../../dev/compat/matrix.ts';
import { startTestGateway, type TestGateway } from '../../../dev/harness/gateway.ts';
import { createTestCa, type TestCa } from '../../../dev/harness/pki.ts';
import { PROSODY_MODULE_DIR, startProsody } from '../../../dev/harness/prosody.ts';
import { RawStream } from '../../../dev/harness/raw-c2s.ts';
import { CLOSE, OPEN, openRawWebSocket } from '../../../dev/harness/raw-websocket.ts';
import { BIND2_NS, boshSasl2Login, FAST_NS, SASL2_NS, wsSasl2Login } from '../../../dev/harness/sasl2.ts';
import { connectXmppJs, xml, type FastToken } from '../../../dev/harness/xmpp-js.ts';
import { startXmppServer, type XmppServer } from '../../../dev/harness/xmpp-server.ts';

let ca: TestCa;
let prosody: XmppServer;
let ejabberd: XmppServer;

beforeAll(async () => {
  ca = await createTestCa();
  const cert = await ca.issue({ dnsNames: ['example.com'] });
  prosody = await startXmppServer('prosody', {
    domains: ['example.com'],
    users: [
      { user: 'alice', password: 'alice-pw' },
      { user: 'bob', password: 'bob-pw' },
    ],
    tls: cert,
    requireEncryption: true,
    sasl2: true,
  });
  ejabberd = await startXmppServer('ejabberd', { domains: ['example.com'], users: [{ user: 'alice', password: 'alice-pw' }] });
});

afterAll(async () => {
  await prosody?.dispose();
  await ejabberd?.dispose();
  await ca?.dispose();
});

/** A gateway node in front of Prosody over STARTTLS. */
const node = () => startTestGateway({ domains: ['example.com'], upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'starttls', caFile: ca.certPath } } });

describe('SASL2, Bind2 and FAST through the gateway (Prosody 0.12 with prosody-modules)', () => {
  it('offers SASL2 with Bind2 and FAST inline, and no channel-bound mechanism', async () => {
    const gateway = await node();
    try {
      const raw = await openRawWebSocket(gateway.wsUrl());
      // FAST is offered to a known account only: the header names it (`from`, RFC 6120 §4.7.1).
      raw.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' from='alice@example.com' version='1.0'/>`);
      const features = await raw.waitFor(/stream:features/);
      expect(features).toContain(`<authentication xmlns='${SASL2_NS}'>`);
      expect(features).toContain(`<bind xmlns='${BIND2_NS}'>`);
      expect(features).toMatch(new RegExp(`<fast xmlns='${FAST_NS}'><mechanism>HT-SHA-256-NONE</mechanism></fast>`));
      expect(features).not.toMatch(/-PLUS<|HT-SHA-256-(UNIQ|ENDP|EXPR)/);
      raw.send(CLOSE);
      await raw.closed;
    } finally {
      await gateway.close();
    }
  });

  it('a raw WebSocket client logs in with SASL2 and Bind2 and sends stanzas at once: no <open/> after the success, none waited for', async ({ task }) => {
    compat(task, { server: 'prosody', transport: 'websocket', feature: 'sasl2' });
    const gateway = await node();
    try {
      const login = await wsSasl2Login(gateway.wsUrl(), { domain: 'example.com', user: 'alice', credentials: { password: 'alice-pw' }, userAgentId: randomUUID(), tag: 'raw' });
      expect(login.jid).toMatch(/^alice@example\.com\/raw~/);
      expect(login.success).toContain(`<bound xmlns='${BIND2_NS}'/>`);
      login.raw.send(`<message xmlns='jabber:client' to='${login.jid}' type='chat'><body>no restart</body></message>`);
      expect(await login.raw.waitFor(/<message /)).toContain('<body>no restart</body>');
      // The only <open/> the gateway answered is the first one.
      expect(login.raw.messages.filter((m) => m.startsWith('<open ')).length).toBe(1);
      login.raw.ws.close();
      await login.raw.closed;
    } finally {
      await gateway.close();
    }
  });

  it('xmpp.js 0.14 logs in over WebSocket with SASL2 and Bind2, gets a FAST token, and on another node, the first gone, logs in with the token alone', async ({ task }) => {
    compat(task, { server: 'prosody', transport: 'websocket', feature: 'sasl2' }, { server: 'prosody', transport: 'websocket', feature: 'fast' });
    const a = await node();
    const b = await node();
    const userAgentId = randomUUID();
    const tokens: FastToken[] = [];
    try {
      const first = await connectXmppJs({ service: a.wsUrl(), domain: 'example.com', username: 'alice', password: 'alice-pw', resource: 'web', userAgentId, onFastToken: (t) => tokens.push(t) });
      const authenticate = first.sent.find((e) => e.name === 'authenticate');
      expect(authenticate?.attrs.xmlns).toBe(SASL2_NS);
      expect(authenticate?.getChild('bind', BIND2_NS)).toBeDefined();
      expect(authenticate?.getChild('request-token', FAST_NS)?.attrs.mechanism).toBe('HT-SHA-256-NONE');
      // Bind2 bound the resource inside the SASL2 exchange (<tag>~suffix), and no RFC 6120 <auth/> was sent.
      // (This snapshot of mod_sasl2 sends <stream:features> after <success/>, offering the RFC 6120 bind again;
      // xmpp.js tries it and Prosody refuses it, the resource being bound. Client and server, not the gateway.)
      expect(first.sent.some((e) => e.name === 'auth')).toBe(false);
      expect(first.jid).toMatch(/^alice@example\.com\/web~/);
      expect(tokens).toHaveLength(1);
      expect(tokens[0]!.token).toMatch(/^secret-token:fast-/);
      // The stream is usable at once: a message to self comes back through the gateway.
      await first.sendMessage(first.jid, 'after sasl2');
      expect((await first.next((s) => s.is('message'))).getChildText('body')).toBe('after sasl2');
      await first.stop();
      await a.close();

      // Node A is gone. The client comes back through B with its token; the password it holds is wrong.
      const second = await connectXmppJs({ service: b.wsUrl(), domain: 'example.com', username: 'alice', password: 'not the password', resource: 'web', userAgentId, fastToken: tokens[0] });
      const fast = second.sent.find((e) => e.name === 'authenticate');
      expect(fast?.attrs.mechanism).toBe('HT-SHA-256-NONE');
      expect(fast?.getChild('fast', FAST_NS)).toBeDefined();
      expect(second.jid).toMatch(/^alice@example\.com\/web~/);
      const info = await second.xmpp.iqCaller.request(xml('iq', { type: 'get', to: 'example.com' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
      expect(info.getChild('query')?.getChild('identity')?.attrs.category).toBe('server');
      await second.stop();
      // Without a token, that password is refused: the login above was the token's.
      await expect(connectXmppJs({ service: b.wsUrl(), domain: 'example.com', username: 'alice', password: 'not the password', userAgentId: randomUUID() })).rejects.toThrow(/not-authorized/);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a raw BOSH client logs in with SASL2 and Bind2 and uses the session without a restart; on another node, the first gone, its FAST token logs it in', async ({ task }) => {
    compat(task, { server: 'prosody', transport: 'bosh', feature: 'sasl2' }, { server: 'prosody', transport: 'bosh', feature: 'fast' });
    const a = await node();
    const b = await node();
    const userAgentId = randomUUID();
    try {
      const first = await boshSasl2Login(a.url('/http-bind'), { domain: 'example.com', user: 'bob', credentials: { password: 'bob-pw' }, userAgentId, tag: 'bosh' });
      expect(first.jid).toMatch(/^bob@example\.com\/bosh~/);
      expect(first.success).toContain(`<bound xmlns="${BIND2_NS}"`);
      expect(first.token).toMatch(/^secret-token:fast-/);
      // No xmpp:restart: the next request carries a stanza, and its answer comes on the same session.
      await first.session.request([`<iq xmlns='jabber:client' type='get' id='p1' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>`]);
      const pong = await first.session.take((e) => e.localName === 'iq' && e.getAttribute('id') === 'p1');
      expect(pong.getAttribute('type')).toBe('result');
      await first.session.terminate();
      await a.close();

      const second = await boshSasl2Login(b.url('/http-bind'), { domain: 'example.com', user: 'bob', credentials: { fastToken: first.token! }, userAgentId, tag: 'bosh' });
      expect(second.authenticate).toContain("mechanism='HT-SHA-256-NONE'");
      expect(second.jid).toMatch(/^bob@example\.com\/bosh~/);
      await second.session.request([`<message xmlns='jabber:client' to='${second.jid}' type='chat'><body>after fast</body></message>`]);
      const echo = await second.session.take((e) => e.localName === 'message');
      expect(echo.getElementsByTagName('body').item(0)?.textContent).toBe('after fast');
      await second.session.terminate();
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('ejabberd 23.01: no SASL2 to pass through', () => {
  it.for(['websocket', 'bosh'] as Transport[])('offers neither SASL2 nor FAST over %s, and clients fall back to SASL', async (transport, { task }) => {
    compat(task, { server: 'ejabberd', transport, feature: 'sasl2', claim: 'unsupported' }, { server: 'ejabberd', transport, feature: 'fast', claim: 'unsupported' });
    const gateway = await startTestGateway({ domains: ['example.com'], upstream: { default: { host: '127.0.0.1', port: ejabberd.c2sPort, tls: 'none' } } });
    try {
      let features: string;
      if (transport === 'websocket') {
        const raw = await openRawWebSocket(gateway.wsUrl());
        raw.send(OPEN('example.com'));
        features = await raw.waitFor(/stream:features/);
        raw.ws.close();
        const alice = await connectXmppJs({ service: gateway.wsUrl(), domain: 'example.com', username: 'alice', password: 'alice-pw' });
        expect(alice.sent.find((e) => e.name === 'auth')?.attrs.xmlns).toBe('urn:ietf:params:xml:ns:xmpp-sasl');
        await alice.stop();
      } else {
        const res = await fetch(gateway.url('/http-bind'), {
          method: 'POST',
          body: "<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='example.com' wait='5' hold='1' ver='1.11' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>",
        });
        features = await res.text();
      }
      expect(features).toContain('urn:ietf:params:xml:ns:xmpp-sasl');
      expect(features).not.toContain(SASL2_NS);
      expect(features).not.toContain(FAST_NS);
    } finally {
      await gateway.close();
    }
  });
});

describe("Debian's SASL2 modules on Prosody 0.12 without the harness's compatibility module", () => {
  it('mod_sasl2_fast stops every stream before its features (it reads event.stream, which 0.12 does not pass)', async () => {
    const bare = await startProsody({ domains: ['example.com'], extraModules: ['sasl2', 'sasl2_bind2', 'sasl2_fast'] });
    try {
      const stream = await RawStream.connect(bare.c2sPort);
      stream.open('example.com');
      await bare.process!.waitForLine(/Traceback.*mod_sasl2_fast\.lua:\d+: attempt to index a nil value \(field 'stream'\)/, { timeoutMs: 10_000 });
      expect(await stream.until(/<stream:stream[^>]*>/)).toContain("from='example.com'");
      stream.close();
    } finally {
      await bare.dispose();
    }
  });

  it("mod_sasl2_sm needs mod_smacks's do_enable/do_resume, which 0.12's mod_smacks does not have", () => {
    expect(readFileSync(`${PROSODY_MODULE_DIR}/mod_sasl2_sm/mod_sasl2_sm.lua`, 'utf8')).toMatch(/mod_smacks\.do_enable\(/);
    const smacks = readFileSync(`${PROSODY_MODULE_DIR}/mod_smacks.lua`, 'utf8');
    expect(smacks).not.toMatch(/function do_enable|do_enable\s*=/);
    expect(smacks).not.toMatch(/function do_resume|do_resume\s*=/);
  });
});
