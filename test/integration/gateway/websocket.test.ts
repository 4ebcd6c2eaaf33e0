// The WebSocket gateway in front of real servers (Prosody 0.12 and ejabberd 23.01), with a real third-party
// client (xmpp.js); the edge cases of the gateway itself run against Prosody only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compat } from '../../../dev/compat/matrix.ts';
import { startTestGateway, type TestGateway } from '../../../dev/harness/gateway.ts';
import { freePort } from '../../../dev/harness/ports.ts';
import { CLOSE, OPEN, openRawWebSocket } from '../../../dev/harness/raw-websocket.ts';
import { connectXmppJs } from '../../../dev/harness/xmpp-js.ts';
import { SERVER_KINDS, SERVER_LABELS, startXmppServer, type ServerKind, type XmppServer } from '../../../dev/harness/xmpp-server.ts';

const USERS = [
  { user: 'alice', domain: 'example.com', password: 'alice-pw' },
  { user: 'bob', domain: 'example.com', password: 'bob-pw' },
  { user: 'carol', domain: 'example2.com', password: 'carol-pw' },
];
const setups = {} as Record<ServerKind, { server: XmppServer; gateway: TestGateway }>;
let prosody: XmppServer;
let gateway: TestGateway;

beforeAll(async () => {
  for (const kind of SERVER_KINDS) {
    const server = await startXmppServer(kind, { domains: ['example.com', 'example2.com'], users: USERS });
    const gw = await startTestGateway({
      domains: ['example.com', 'example2.com'],
      upstream: { default: { host: '127.0.0.1', port: server.c2sPort, tls: 'none' } },
      allowedOrigins: ['https://chat.example.com'],
      limits: { maxStanzaBytes: 8192 },
    });
    setups[kind] = { server, gateway: gw };
  }
  ({ server: prosody, gateway } = setups.prosody);
});

afterAll(async () => {
  for (const { server, gateway: gw } of Object.values(setups)) {
    await gw.close();
    await server.dispose();
  }
});

describe.each(SERVER_KINDS.map((kind) => [SERVER_LABELS[kind], kind] as const))('XMPP over WebSocket through the gateway to %s', (_label, kind) => {
  it('lets two xmpp.js users log in (SCRAM and PLAIN), exchange presence and messages', async ({ task }) => {
    compat(task, { server: kind, transport: 'websocket', feature: 'scram' }, { server: kind, transport: 'websocket', feature: 'plain' });
    const gw = setups[kind].gateway;
    const alice = await connectXmppJs({ service: gw.wsUrl(), domain: 'example.com', username: 'alice', password: 'alice-pw' });
    const bob = await connectXmppJs({ service: gw.wsUrl('/ws'), domain: 'example.com', username: 'bob', password: 'bob-pw', mechanism: 'PLAIN' });
    try {
      expect(alice.jid).toMatch(/^alice@example\.com\//);
      expect(alice.sent.find((e) => e.name === 'auth')?.attrs.mechanism).toBe('SCRAM-SHA-1');
      expect(bob.sent.find((e) => e.name === 'auth')?.attrs.mechanism).toBe('PLAIN');
      const { xml } = await import('@xmpp/client');
      // Directed presence crosses the gateway both ways like any stanza.
      await alice.xmpp.send(xml('presence', { to: bob.jid }));
      const presence = await bob.next((s) => s.is('presence') && s.attrs.from === alice.jid);
      expect(presence.attrs.from).toBe(alice.jid);
      for (let i = 0; i < 20; i++) await alice.sendMessage(bob.jid, `hello ${i} <&>`);
      const bodies: string[] = [];
      for (let i = 0; i < 20; i++) bodies.push((await bob.next((s) => s.is('message'))).getChildText('body') ?? '');
      expect(bodies).toEqual(Array.from({ length: 20 }, (_, i) => `hello ${i} <&>`));
      await bob.sendMessage(alice.jid, 'back');
      expect((await alice.next((s) => s.is('message'))).getChildText('body')).toBe('back');
      const info = await alice.xmpp.iqCaller.request(xml('iq', { type: 'get', to: 'example.com' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
      expect(info.getChild('query')?.getChild('identity')?.attrs.category).toBe('server');
    } finally {
      await alice.stop();
      await bob.stop();
    }
  });

  it('relays the stream to the XMPP domain the client names, not the gateway host', async () => {
    const carol = await connectXmppJs({ service: setups[kind].gateway.wsUrl(), domain: 'example2.com', username: 'carol', password: 'carol-pw' });
    expect(carol.jid).toMatch(/^carol@example2\.com\//);
    await carol.stop();
  });
});

describe('the WebSocket gateway itself (in front of Prosody)', () => {
  it('answers <open/> with the upstream stream attributes and features without STARTTLS', async () => {
    const raw = await openRawWebSocket(gateway.wsUrl());
    raw.send(OPEN('example.com'));
    const open = await raw.waitFor(/^<open /);
    expect(open).toMatch(/from='example\.com'/);
    expect(open).toMatch(/id='[^']+'/);
    const features = await raw.waitFor(/stream:features/);
    expect(features).toContain("xmlns:stream='http://etherx.jabber.org/streams'");
    expect(features).not.toContain('starttls');
    raw.send(CLOSE);
    await raw.waitFor(/^<close /);
    expect((await raw.closed).code).toBe(1000);
  });

  it('refuses a handshake without the xmpp subprotocol (RFC 7395 §3.1)', async () => {
    await expect(openRawWebSocket(gateway.wsUrl(), { protocols: ['chat'] })).rejects.toMatchObject({ status: 400 });
  });

  it('refuses a foreign Origin with 403 and accepts an allowed one', async () => {
    await expect(openRawWebSocket(gateway.wsUrl(), { origin: 'https://evil.example.net' })).rejects.toMatchObject({ status: 403 });
    const ok = await openRawWebSocket(gateway.wsUrl(), { origin: 'https://chat.example.com' });
    ok.ws.close();
  });

  it('answers a domain it does not serve with host-unknown', async () => {
    const raw = await openRawWebSocket(gateway.wsUrl());
    raw.send(OPEN('elsewhere.org'));
    await raw.waitFor(/<host-unknown /);
    await raw.waitFor(/^<close /);
    await raw.closed;
  });

  it('ends a stream that sends an oversized stanza with policy-violation', async () => {
    const raw = await openRawWebSocket(gateway.wsUrl());
    raw.send(OPEN('example.com'));
    await raw.waitFor(/stream:features/);
    raw.send(`<message xmlns='jabber:client' to='bob@example.com'><body>${'x'.repeat(10_000)}</body></message>`);
    await raw.waitFor(/<policy-violation /);
    await raw.closed;
  });

  it.each([
    ['a DOCTYPE', `<!DOCTYPE x><message xmlns='jabber:client'/>`, 'restricted-xml'],
    ['a comment', `<message xmlns='jabber:client'><!-- x --></message>`, 'restricted-xml'],
    ['malformed XML', `<message xmlns='jabber:client'><body></message>`, 'not-well-formed'],
  ])('ends a stream that sends %s with %s', async (_what, text, condition) => {
    const raw = await openRawWebSocket(gateway.wsUrl());
    raw.send(OPEN('example.com'));
    await raw.waitFor(/stream:features/);
    raw.send(text);
    await raw.waitFor(new RegExp(`<${condition} `));
    await raw.closed;
  });

  it('reports remote-connection-failed when the upstream is down, never hanging', async () => {
    const deadPort = await freePort();
    const lonely = await startTestGateway({ upstream: { default: { host: '127.0.0.1', port: deadPort, tls: 'none' } } });
    try {
      const raw = await openRawWebSocket(lonely.wsUrl());
      raw.send(OPEN('example.com'));
      await raw.waitFor(/<remote-connection-failed /);
      await raw.waitFor(/^<close /);
      await raw.closed;
    } finally {
      await lonely.close();
    }
  });

  it('drops a WebSocket that never opens a stream (connection-timeout)', async () => {
    const strict = await startTestGateway({
      upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'none' } },
      limits: { openTimeoutMs: 300 },
    });
    try {
      const raw = await openRawWebSocket(strict.wsUrl());
      await raw.waitFor(/<connection-timeout /, 5_000);
      await raw.closed;
    } finally {
      await strict.close();
    }
  });

  it('closes its open WebSockets when the gateway is closed', async () => {
    const closing = await startTestGateway({ upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'none' } } });
    const raw = await openRawWebSocket(closing.wsUrl());
    raw.send(OPEN('example.com'));
    await raw.waitFor(/stream:features/);
    await closing.close();
    await raw.closed;
    expect(closing.connections.websocket).toBe(0);
  });

  it('serves health and Prometheus metrics on the admin listener', async () => {
    expect((await fetch(gateway.adminUrl('/healthz'))).status).toBe(200);
    expect((await fetch(gateway.adminUrl('/readyz'))).status).toBe(200);
    const metrics = await (await fetch(gateway.adminUrl('/metrics'))).text();
    expect(metrics).toMatch(/xwg_stanzas_total\{transport="websocket",direction="in"\} \d+/);
    expect(metrics).toMatch(/xwg_closes_total\{transport="websocket",reason="client-close"\} \d+/);
    expect(metrics).toMatch(/xwg_refused_total\{transport="websocket",reason="origin"\} 1/);
    expect(metrics).toContain('xwg_upstream_connect_seconds_bucket');
  });
});
