// PROXY protocol towards the upstream, with real receivers: ejabberd 23.01 with use_proxy_protocol (it reports
// the client address itself, `ejabberdctl connected_users_info`), and HAProxy with accept-proxy in front of
// Prosody 0.12 (Debian's prosody-modules has no mod_net_proxy, so Prosody cannot read the header itself; HAProxy
// parses it strictly and logs the address it carried). Clients connect from 127.0.0.2 and 127.0.0.3 so that
// the addresses differ from the gateway's own. Then the chain HAProxy -> gateway (PROXY in) -> server (PROXY
// out), and both misconfigured pairs: a clean stream error and a coded log line, never a hang.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino, type Logger } from 'pino';
import { compat } from '../../../dev/compat/matrix.ts';
import { RawBoshSession, SASL_NS } from '../../../dev/harness/bosh-http.ts';
import { startEjabberd, type EjabberdServer } from '../../../dev/harness/ejabberd.ts';
import { startTestGateway, type TestGateway } from '../../../dev/harness/gateway.ts';
import { startHaproxy, type HaproxyServer } from '../../../dev/harness/haproxy.ts';
import { startNginx } from '../../../dev/harness/nginx.ts';
import { createTestPki } from '../../../dev/harness/pki.ts';
import { startProsody, type ProsodyServer } from '../../../dev/harness/prosody.ts';
import { OPEN, openRawWebSocket, type RawWebSocket } from '../../../dev/harness/raw-websocket.ts';

const USER = { user: 'alice', password: 'alice-pw' };
const DOMAIN = 'example.com';
/** Long enough for any loopback exchange; the misconfiguration tests assert an answer well before it. */
const ANSWER_MS = 10_000;

/** A pino logger whose JSON lines the test can read. */
function capturingLog(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

async function eventually<T>(read: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = ANSWER_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** RFC 7395 login with SASL PLAIN and resource binding over a raw WebSocket from `localAddress`. */
async function wsLogin(url: string, localAddress: string, headers: Record<string, string> = {}): Promise<RawWebSocket> {
  const ws = await openRawWebSocket(url, { localAddress, headers });
  ws.send(OPEN(DOMAIN));
  await ws.waitFor(/<stream:features[\s\S]*PLAIN/);
  ws.send(`<auth xmlns='${SASL_NS}' mechanism='PLAIN'>${Buffer.from(`\0${USER.user}\0${USER.password}`).toString('base64')}</auth>`);
  await ws.waitFor(/<success/);
  const before = ws.messages.length;
  ws.send(OPEN(DOMAIN));
  await eventually(() => (ws.messages.slice(before).some((m) => m.includes('urn:ietf:params:xml:ns:xmpp-bind')) ? true : undefined), 'bind feature');
  ws.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>pp</resource></bind></iq>");
  await ws.waitFor(/id=["']b1["'][^>]*type=["']result|type=["']result["'][^>]*id=["']b1/);
  return ws;
}

/** The client's own port of a raw WebSocket (what a PROXY header names as the source port). */
const localPort = (ws: RawWebSocket) => (ws.ws as unknown as { _socket: { localPort: number } })._socket.localPort;

/** The stream error a WebSocket client got, with the time it took, or a timeout. */
async function wsStreamError(url: string, localAddress: string): Promise<{ error: string; closed: boolean }> {
  const ws = await openRawWebSocket(url, { localAddress });
  ws.send(OPEN(DOMAIN));
  const error = await ws.waitFor(/<stream:error/, ANSWER_MS);
  await ws.waitFor(/<close /, ANSWER_MS);
  const closed = await Promise.race([ws.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ANSWER_MS))]);
  return { error, closed };
}

const codes = (lines: Array<Record<string, unknown>>) => lines.map((l) => l.code).filter((c) => c !== undefined);

describe('PROXY towards Prosody, read by HAProxy (accept-proxy) in front of it', () => {
  let prosody: ProsodyServer;
  let receiver: HaproxyServer;
  const gateways: Record<string, TestGateway> = {};
  const logs: Record<string, ReturnType<typeof capturingLog>> = {};

  beforeAll(async () => {
    prosody = await startProsody({ domains: [DOMAIN], users: [USER] });
    receiver = await startHaproxy([{ name: 'recv', acceptProxy: true, target: { host: '127.0.0.1', port: prosody.c2sPort } }]);
    const to = (port: number, proxyProtocol: string) => ({ domains: [DOMAIN], upstream: { default: { host: '127.0.0.1', port, tls: 'none', proxyProtocol } } });
    const plan: Record<string, ReturnType<typeof to>> = {
      v1: to(receiver.ports.recv!, 'v1'),
      v2: to(receiver.ports.recv!, 'v2'),
      // Misconfigured pairs: the receiver expects a header and gets none; Prosody expects none and gets one.
      none: to(receiver.ports.recv!, 'none'),
      v1Direct: to(prosody.c2sPort, 'v1'),
      v2Direct: to(prosody.c2sPort, 'v2'),
    };
    for (const [name, config] of Object.entries(plan)) {
      logs[name] = capturingLog();
      gateways[name] = await startTestGateway(config, { log: logs[name]!.log });
    }
  });

  afterAll(async () => {
    for (const g of Object.values(gateways)) await g.close();
    await receiver?.stop();
    await prosody?.dispose();
  });

  it.each([
    ['v1', '127.0.0.2'],
    ['v2', '127.0.0.3'],
  ] as const)('WebSocket %s: the server side sees the client %s and the listener it reached, and the login works', async (version, address) => {
    const gw = gateways[version]!;
    const ws = await wsLogin(gw.wsUrl(), address, { Host: 'chat.example.test' });
    const seen = await receiver.waitForConnection('recv', (c) => c.client === `${address}:${localPort(ws)}`);
    expect(seen.destination).toBe(`127.0.0.1:${gw.ports.http}`);
    // PP2_TYPE_AUTHORITY exists in v2 only: the Host the client used.
    expect(seen.authority).toBe(version === 'v2' ? 'chat.example.test' : undefined);
    ws.ws.close();
  });

  it.each([
    ['v1', '127.0.0.3', '127.0.0.2'],
    ['v2', '127.0.0.2', '127.0.0.3'],
  ] as const)('BOSH %s: one session is one upstream connection, carrying the address of the request that created it (%s)', async (version, creator, later) => {
    const gw = gateways[version]!;
    const before = receiver.connections().length;
    const s = new RawBoshSession(gw.url('/http-bind'), { localAddress: creator });
    await s.create({ to: DOMAIN });
    // Every later request comes from another address: the session's upstream stays the one it has.
    s.localAddress = later;
    expect(await s.login(USER.user, USER.password, DOMAIN)).toMatch(/^alice@example\.com\//);
    const seen = receiver.connections().slice(before).filter((c) => c.client.startsWith('127.0.0.'));
    expect(seen.map((c) => c.client.split(':')[0])).toEqual([creator]);
    expect(seen[0]!.destination).toBe(`127.0.0.1:${gw.ports.http}`);
    await s.terminate();
  });

  it('a server that expects a header and gets none: the client gets remote-connection-failed and the log says why', async () => {
    const { error, closed } = await wsStreamError(gateways.none!.wsUrl(), '127.0.0.2');
    expect(error).toContain('remote-connection-failed');
    expect(closed).toBe(true);
    expect(codes(logs.none!.lines)).toContain('XWG_GW_UPSTREAM_CLOSED_BEFORE_STREAM');
    const s = new RawBoshSession(gateways.none!.url('/http-bind'), { localAddress: '127.0.0.3' });
    const res = await s.create({ to: DOMAIN, timeoutMs: ANSWER_MS });
    expect(res.body.attrs).toMatchObject({ type: 'terminate', condition: 'remote-connection-failed' });
  });

  it.each(['v1Direct', 'v2Direct'])('%s: a server that does not expect the header: remote-connection-failed, logged as a refused PROXY header', async (name) => {
    const { error, closed } = await wsStreamError(gateways[name]!.wsUrl(), '127.0.0.2');
    expect(error).toContain('remote-connection-failed');
    expect(error).not.toContain('not-well-formed');
    expect(closed).toBe(true);
    expect(codes(logs[name]!.lines)).toContain('XWG_GW_UPSTREAM_PROXY_REFUSED');
    const s = new RawBoshSession(gateways[name]!.url('/http-bind'), { localAddress: '127.0.0.3' });
    const res = await s.create({ to: DOMAIN, timeoutMs: ANSWER_MS });
    expect(res.body.attrs).toMatchObject({ type: 'terminate', condition: 'remote-connection-failed' });
  });

  it('behind nginx: the trusted X-Forwarded-For address goes upstream, with port 0 (a header names no port)', async () => {
    const gw = await startTestGateway({
      domains: [DOMAIN],
      listen: { trustedProxies: ['127.0.0.1'] },
      upstream: { default: { host: '127.0.0.1', port: receiver.ports.recv!, tls: 'none', proxyProtocol: 'v1' } },
    });
    const nginx = await startNginx({ locations: [{ path: '/xmpp-websocket', upstream: `http://127.0.0.1:${gw.ports.http}` }] });
    try {
      const ws = await wsLogin(nginx.wsUrl(), '127.0.0.2');
      await receiver.waitForConnection('recv', (c) => c.client === '127.0.0.2:0');
      ws.ws.close();
    } finally {
      await nginx.stop();
      await gw.close();
    }
  });

  it('chain: HAProxy (send-proxy-v2) -> gateway (PROXY in) -> HAProxy (accept-proxy) -> Prosody keeps the original client', async () => {
    const gw = await startTestGateway({
      domains: [DOMAIN],
      listen: { proxyProtocol: true },
      upstream: { default: { host: '127.0.0.1', port: receiver.ports.recv!, tls: 'none', proxyProtocol: 'v2' } },
    });
    const front = await startHaproxy([{ name: 'front', target: { host: '127.0.0.1', port: gw.ports.http }, sendProxy: 'v2' }]);
    try {
      const ws = await wsLogin(`ws://127.0.0.1:${front.ports.front}/xmpp-websocket`, '127.0.0.3');
      const original = `127.0.0.3:${localPort(ws)}`;
      // (HAProxy also logs the harness's own port probe: look for the client's line.)
      await front.waitForConnection('front', (c) => c.client === original);
      const seen = await receiver.waitForConnection('recv', (c) => c.client === original);
      // The listener the client reached is HAProxy's, as its header said.
      expect(seen.destination).toBe(`127.0.0.1:${front.ports.front}`);
      ws.ws.close();
    } finally {
      await front.stop();
      await gw.close();
    }
  });
});

describe('PROXY towards ejabberd (use_proxy_protocol), which reports the address itself', () => {
  let ejabberd: EjabberdServer;
  const gateways: Record<string, TestGateway> = {};
  const logs: Record<string, ReturnType<typeof capturingLog>> = {};

  beforeAll(async () => {
    ejabberd = await startEjabberd({ domains: [DOMAIN], users: [USER], proxyProtocol: true });
    for (const version of ['v1', 'v2', 'none'] as const) {
      logs[version] = capturingLog();
      gateways[version] = await startTestGateway(
        { domains: [DOMAIN], upstream: { default: { host: '127.0.0.1', port: ejabberd.c2sPort, tls: 'none', proxyProtocol: version } } },
        { log: logs[version]!.log },
      );
    }
  });

  afterAll(async () => {
    for (const g of Object.values(gateways)) await g.close();
    await ejabberd?.dispose();
  });

  /** The address ejabberd reports for the session bound to `resource`-less alice from `address`. */
  const sessionFrom = (address: string) =>
    eventually(async () => {
      const sessions = await ejabberd.connectedUsersInfo();
      return sessions.find((s) => s.jid.startsWith('alice@example.com/') && s.ip.replace(/^::ffff:/, '') === address);
    }, `an ejabberd session from ${address}`);

  it.for([
    ['v1', '127.0.0.2'],
    ['v2', '127.0.0.3'],
  ] as const)('WebSocket %s from %s: connected_users_info names the client', async ([version, address], { task }) => {
    compat(task, { server: 'ejabberd', transport: 'websocket', feature: version === 'v1' ? 'proxy-v1' : 'proxy-v2' });
    const ws = await wsLogin(gateways[version]!.wsUrl(), address);
    const session = await sessionFrom(address);
    expect(session.port).toBe(localPort(ws));
    ws.ws.close();
  });

  it.for([
    ['v1', '127.0.0.3'],
    ['v2', '127.0.0.2'],
  ] as const)('BOSH %s from %s: connected_users_info names the client that created the session', async ([version, address], { task }) => {
    compat(task, { server: 'ejabberd', transport: 'bosh', feature: version === 'v1' ? 'proxy-v1' : 'proxy-v2' });
    const s = new RawBoshSession(gateways[version]!.url('/http-bind'), { localAddress: address });
    await s.create({ to: DOMAIN });
    await s.login(USER.user, USER.password, DOMAIN);
    await sessionFrom(address);
    await s.terminate();
  });

  it('no header to an ejabberd that expects one: remote-connection-failed and a coded log line, not a hang', async () => {
    const { error, closed } = await wsStreamError(gateways.none!.wsUrl(), '127.0.0.2');
    expect(error).toContain('remote-connection-failed');
    expect(closed).toBe(true);
    expect(codes(logs.none!.lines)).toContain('XWG_GW_UPSTREAM_CLOSED_BEFORE_STREAM');
  });

  it('chain: HAProxy (send-proxy) -> gateway (PROXY in) -> ejabberd: the session carries the original client', async () => {
    const gw = await startTestGateway({
      domains: [DOMAIN],
      listen: { proxyProtocol: true },
      upstream: { default: { host: '127.0.0.1', port: ejabberd.c2sPort, tls: 'none', proxyProtocol: 'v2' } },
    });
    const front = await startHaproxy([{ name: 'front', target: { host: '127.0.0.1', port: gw.ports.http }, sendProxy: 'v1' }]);
    try {
      const ws = await wsLogin(`ws://127.0.0.1:${front.ports.front}/xmpp-websocket`, '127.0.0.2');
      const session = await sessionFrom('127.0.0.2');
      expect(session.port).toBe(localPort(ws));
      ws.ws.close();
    } finally {
      await front.stop();
      await gw.close();
    }
  });
});

describe('PROXY before TLS: ejabberd over STARTTLS and direct TLS', () => {
  let ejabberd: EjabberdServer;
  let pki: Awaited<ReturnType<typeof createTestPki>>;
  const gateways: Record<string, TestGateway> = {};

  beforeAll(async () => {
    pki = await createTestPki([DOMAIN]);
    ejabberd = await startEjabberd({ domains: [DOMAIN], users: [USER], proxyProtocol: true, tls: { certPath: pki.leaf.certPath, keyPath: pki.leaf.keyPath }, directTls: true });
    gateways.starttls = await startTestGateway({
      domains: [DOMAIN],
      upstream: { default: { host: '127.0.0.1', port: ejabberd.c2sPort, tls: 'starttls', caFile: pki.ca.certPath, proxyProtocol: 'v2' } },
    });
    gateways.directTLS = await startTestGateway({
      domains: [DOMAIN],
      upstream: { default: { host: '127.0.0.1', port: ejabberd.c2sDirectTlsPort!, tls: 'directTLS', caFile: pki.ca.certPath, proxyProtocol: 'v1' } },
    });
  });

  afterAll(async () => {
    for (const g of Object.values(gateways)) await g.close();
    await ejabberd?.dispose();
    await pki?.ca.dispose();
  });

  it.each([
    ['starttls', '127.0.0.2'],
    ['directTLS', '127.0.0.3'],
  ] as const)('%s: the header goes first, TLS follows, and ejabberd names the client %s on a TLS session', async (mode, address) => {
    const ws = await wsLogin(gateways[mode]!.wsUrl(), address);
    const session = await eventually(async () => {
      const sessions = await ejabberd.connectedUsersInfo();
      return sessions.find((x) => x.ip.replace(/^::ffff:/, '') === address);
    }, `an ejabberd session from ${address}`);
    expect(session.port).toBe(localPort(ws));
    expect(session.connection).toMatch(/tls/);
    ws.ws.close();
  });
});
