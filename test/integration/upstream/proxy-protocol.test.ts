// PROXY protocol towards the upstream, with real receivers. HAProxy with accept-proxy in front of Prosody parses
// the header strictly and logs every field (the destination, v2's authority), and Prosody's plain c2s port shows
// what a server that expects no header does with one. Then the servers that read the header themselves, one
// parametrised suite: Prosody 0.12 with mod_net_proxy (from Debian trixie's prosody-modules, see
// dev/harness/prosody-net-proxy.ts) on a c2s port of its own, reporting the address in `c2s:show()`, and
// ejabberd 23.01 with use_proxy_protocol (`ejabberdctl connected_users_info`). Clients connect from 127.0.0.2 and
// 127.0.0.3 so that the addresses differ from the gateway's own. Then the chain HAProxy -> gateway (PROXY in) ->
// server (PROXY out), and the misconfigured pairs: a clean stream error and a coded log line, never a hang.
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
import type { ServerKind } from '../../../dev/harness/xmpp-server.ts';

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

describe('PROXY read by HAProxy (accept-proxy) in front of Prosody, which logs every field', () => {
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

/** One XMPP server with a c2s port that expects a PROXY header, and its own report of who is connected. */
interface ProxyReceiver {
  /** The c2s port that expects the header. */
  readonly port: number;
  /** The sessions the server reports, with the address it has for each (from the header). */
  sessions(): Promise<Array<{ jid: string; ip: string }>>;
  /** Resolves once the server has named `address`:`port` (the client's own port) as a client. */
  sawClientPort(address: string, port: number): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * The servers that read the header themselves. Sending none to such a port: ejabberd closes the connection at
 * once; Prosody's mod_net_proxy waits in silence for a header (it gives up only after 256 bytes, more than a stream
 * header), so the gateway's open timeout ends it, with a log line that says nothing came back.
 */
const RECEIVERS: ReadonlyArray<{
  server: ServerKind;
  title: string;
  noHeader: string;
  /** A v1 header with source port 0 (the address came from X-Forwarded-For): mod_net_proxy refuses it (v2 it takes). */
  portZeroV1: 'accepted' | 'refused';
  start: () => Promise<ProxyReceiver>;
}> = [
  {
    server: 'prosody',
    title: 'Prosody 0.12 (mod_net_proxy), which reports the address in c2s:show()',
    noHeader: 'XWG_GW_UPSTREAM_OPEN_TIMEOUT',
    portZeroV1: 'refused',
    start: async () => {
      const prosody = await startProsody({ domains: [DOMAIN], users: [USER], proxyProtocol: { trustedProxies: ['127.0.0.1'] }, adminShell: true });
      const port = prosody.proxyC2sPort!;
      return {
        port,
        // Only sessions that came in on the PROXY port; session.ip is what the header said.
        sessions: async () => (await prosody.c2sSessions()).filter((x) => x.serverPort === port),
        sawClientPort: async (address, clientPort) => {
          await eventually(
            () => (prosody.process!.output().includes(`Passing proxied connection ${address}:${clientPort} to service c2s`) ? true : undefined),
            `Prosody's mod_net_proxy naming ${address}:${clientPort}`,
          );
        },
        dispose: () => prosody.dispose(),
      };
    },
  },
  {
    server: 'ejabberd',
    title: 'ejabberd 23.01 (use_proxy_protocol), which reports the address in connected_users_info',
    noHeader: 'XWG_GW_UPSTREAM_CLOSED_BEFORE_STREAM',
    portZeroV1: 'accepted',
    start: async () => {
      const ejabberd = await startEjabberd({ domains: [DOMAIN], users: [USER], proxyProtocol: true });
      const sessions = async () => (await ejabberd.connectedUsersInfo()).map((x) => ({ ...x, ip: x.ip.replace(/^::ffff:/, '') }));
      return {
        port: ejabberd.c2sPort,
        sessions,
        sawClientPort: async (address, clientPort) => {
          await eventually(async () => (await sessions()).find((x) => x.ip === address && x.port === clientPort), `an ejabberd session from ${address}:${clientPort}`);
        },
        dispose: () => ejabberd.dispose(),
      };
    },
  },
];

// One suite per server (a loop rather than describe.each, whose $title would be quoted and cut short).
for (const { server, title, noHeader, portZeroV1, start } of RECEIVERS) describe(`PROXY towards ${title}`, () => {
  let receiver: ProxyReceiver;
  const gateways: Record<string, TestGateway> = {};
  const logs: Record<string, ReturnType<typeof capturingLog>> = {};
  /** Short, so that a server which waits in silence is given up on well within ANSWER_MS. */
  const CONNECT_TIMEOUT_MS = 3_000;

  beforeAll(async () => {
    receiver = await start();
    for (const version of ['v1', 'v2', 'none'] as const) {
      logs[version] = capturingLog();
      gateways[version] = await startTestGateway(
        {
          domains: [DOMAIN],
          upstream: { connectTimeoutMs: CONNECT_TIMEOUT_MS, default: { host: '127.0.0.1', port: receiver.port, tls: 'none', proxyProtocol: version } },
        },
        { log: logs[version]!.log },
      );
    }
  });

  afterAll(async () => {
    for (const g of Object.values(gateways)) await g.close();
    await receiver?.dispose();
  });

  /** The session of alice that the server reports from `address`. */
  const sessionFrom = (address: string) =>
    eventually(async () => (await receiver.sessions()).find((s) => s.jid.startsWith('alice@example.com/') && s.ip === address), `a ${server} session from ${address}`);
  /** Resolves once the server reports no session from `address` any more (so the next test starts clean). */
  const noSessionFrom = (address: string) =>
    eventually(async () => ((await receiver.sessions()).some((s) => s.ip === address) ? undefined : true), `no ${server} session from ${address}`);

  it.for([
    ['v1', '127.0.0.2'],
    ['v2', '127.0.0.3'],
  ] as const)('WebSocket %s from %s: the server names the client, its port too', async ([version, address], { task }) => {
    compat(task, { server, transport: 'websocket', feature: version === 'v1' ? 'proxy-v1' : 'proxy-v2' });
    const ws = await wsLogin(gateways[version]!.wsUrl(), address);
    await sessionFrom(address);
    await receiver.sawClientPort(address, localPort(ws));
    ws.ws.close();
    await noSessionFrom(address);
  });

  it.for([
    ['v1', '127.0.0.3', '127.0.0.2'],
    ['v2', '127.0.0.2', '127.0.0.3'],
  ] as const)('BOSH %s: the server names the client that created the session (%s), not the one of later requests', async ([version, creator, later], { task }) => {
    compat(task, { server, transport: 'bosh', feature: version === 'v1' ? 'proxy-v1' : 'proxy-v2' });
    const s = new RawBoshSession(gateways[version]!.url('/http-bind'), { localAddress: creator });
    await s.create({ to: DOMAIN });
    s.localAddress = later;
    await s.login(USER.user, USER.password, DOMAIN);
    await sessionFrom(creator);
    expect((await receiver.sessions()).filter((x) => x.ip === later)).toEqual([]);
    await s.terminate();
    await noSessionFrom(creator);
  });

  it('no header to a server that expects one: remote-connection-failed and a coded log line, not a hang', async () => {
    const { error, closed } = await wsStreamError(gateways.none!.wsUrl(), '127.0.0.2');
    expect(error).toContain('remote-connection-failed');
    expect(closed).toBe(true);
    const line = logs.none!.lines.find((l) => l.code === noHeader);
    expect(line, `a log line with ${noHeader}`).toBeDefined();
    expect(JSON.stringify(line)).toMatch(/PROXY header \(proxyProtocol\)/);
    const s = new RawBoshSession(gateways.none!.url('/http-bind'), { localAddress: '127.0.0.3' });
    const res = await s.create({ to: DOMAIN, timeoutMs: ANSWER_MS });
    expect(res.body.attrs).toMatchObject({ type: 'terminate', condition: 'remote-connection-failed' });
  });

  it.for([
    ['v1', portZeroV1],
    ['v2', 'accepted'],
  ] as const)('behind nginx, the X-Forwarded-For address with port 0 in a %s header: %s', async ([version, outcome]) => {
    const log = capturingLog();
    const gw = await startTestGateway(
      {
        domains: [DOMAIN],
        listen: { trustedProxies: ['127.0.0.1'] },
        upstream: { default: { host: '127.0.0.1', port: receiver.port, tls: 'none', proxyProtocol: version } },
      },
      { log: log.log },
    );
    const nginx = await startNginx({ locations: [{ path: '/xmpp-websocket', upstream: `http://127.0.0.1:${gw.ports.http}` }] });
    try {
      if (outcome === 'accepted') {
        const ws = await wsLogin(nginx.wsUrl(), '127.0.0.2');
        await sessionFrom('127.0.0.2');
        ws.ws.close();
        await noSessionFrom('127.0.0.2');
      } else {
        const { error, closed } = await wsStreamError(nginx.wsUrl(), '127.0.0.2');
        expect(error).toContain('remote-connection-failed');
        expect(closed).toBe(true);
        expect(codes(log.lines)).toContain('XWG_GW_UPSTREAM_PROXY_REFUSED');
      }
    } finally {
      await nginx.stop();
      await gw.close();
    }
  });

  it('chain: HAProxy (send-proxy) -> gateway (PROXY in) -> server (PROXY v2 out): the session carries the original client', async () => {
    const gw = await startTestGateway({
      domains: [DOMAIN],
      listen: { proxyProtocol: true },
      upstream: { default: { host: '127.0.0.1', port: receiver.port, tls: 'none', proxyProtocol: 'v2' } },
    });
    const front = await startHaproxy([{ name: 'front', target: { host: '127.0.0.1', port: gw.ports.http }, sendProxy: 'v1' }]);
    try {
      const ws = await wsLogin(`ws://127.0.0.1:${front.ports.front}/xmpp-websocket`, '127.0.0.2');
      const original = `127.0.0.2:${localPort(ws)}`;
      await front.waitForConnection('front', (c) => c.client === original);
      await sessionFrom('127.0.0.2');
      await receiver.sawClientPort('127.0.0.2', localPort(ws));
      ws.ws.close();
      await noSessionFrom('127.0.0.2');
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
