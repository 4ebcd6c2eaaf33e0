// Finding the upstream: several servers (priority and weight, failover past a dead one, back-off for it), and
// SRV records (RFC 6120 §3.2.1, XEP-0368) served by a real dnsmasq on loopback that the gateway is pointed at
// by upstream.dns.servers. Distinct HAProxy frontends in front of one Prosody stand for distinct servers: the
// frontend that logs the connection is the server that was chosen. Bad DNS (a malformed answer, a server that
// never answers, target ".") ends the client's stream cleanly with a coded log line.
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino, type Logger } from 'pino';
import { RawBoshSession } from '../../../dev/harness/bosh-http.ts';
import { startDnsmasq, type DnsmasqServer } from '../../../dev/harness/dnsmasq.ts';
import { startTestGateway, type TestGateway } from '../../../dev/harness/gateway.ts';
import { startHaproxy, type HaproxyServer } from '../../../dev/harness/haproxy.ts';
import { createTestPki } from '../../../dev/harness/pki.ts';
import { freePort } from '../../../dev/harness/ports.ts';
import { startProsody, type ProsodyServer } from '../../../dev/harness/prosody.ts';
import { OPEN, openRawWebSocket } from '../../../dev/harness/raw-websocket.ts';

const DOMAIN = 'example.test';
const USER = { user: 'alice', password: 'alice-pw' };

function capturingLog(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { log: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }), lines };
}

let prosody: ProsodyServer;
let servers: HaproxyServer;
let dns: DnsmasqServer;
let dead: number;
let pki: Awaited<ReturnType<typeof createTestPki>>;
const started: TestGateway[] = [];

async function gateway(upstream: Record<string, unknown>, domains = [DOMAIN]): Promise<{ gw: TestGateway; lines: Array<Record<string, unknown>> }> {
  const { log, lines } = capturingLog();
  const gw = await startTestGateway({ domains, upstream: { dns: { servers: [dns.address], timeoutMs: 500, tries: 1, cacheMs: 0 }, ...upstream } }, { log });
  started.push(gw);
  return { gw, lines };
}

/** Opens a stream and resolves with the features (logged in as far as that) or the stream error. */
async function openStream(gw: TestGateway, domain = DOMAIN): Promise<string> {
  const ws = await openRawWebSocket(gw.wsUrl());
  try {
    ws.send(OPEN(domain));
    return await ws.waitFor(/<stream:features|<stream:error/, 10_000);
  } finally {
    ws.ws.close();
  }
}

/**
 * Which HAProxy frontend (= which "server") got each of the `n` connections after the first `before` log
 * lines (HAProxy's log line may reach us after the stream it logs has answered: wait for all `n`).
 */
async function chosen(before: number, n: number): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  while (servers.connections().length < before + n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return servers.connections().slice(before).map((c) => c.frontend);
}

beforeAll(async () => {
  pki = await createTestPki([DOMAIN]);
  prosody = await startProsody({ domains: [DOMAIN], users: [USER], tls: { certPath: pki.leaf.certPath, keyPath: pki.leaf.keyPath }, directTls: true });
  servers = await startHaproxy(
    ['a', 'b', 'c'].map((name) => ({ name, target: { host: '127.0.0.1', port: prosody.c2sPort } })).concat([{ name: 'tls', target: { host: '127.0.0.1', port: prosody.c2sDirectTlsPort! } }]),
  );
  dead = await freePort();
  const p = servers.ports;
  dns = await startDnsmasq({
    srv: [
      { name: `_xmpp-client._tcp.${DOMAIN}`, target: 'xmpp-b.example.test', port: p.b, priority: 10 },
      { name: `_xmpp-client._tcp.${DOMAIN}`, target: 'xmpp-a.example.test', port: p.a, priority: 5 },
      // Failover: the best record is dead.
      { name: '_xmpp-client._tcp.failover.test', target: 'xmpp-a.example.test', port: dead, priority: 0 },
      { name: '_xmpp-client._tcp.failover.test', target: 'xmpp-c.example.test', port: p.c, priority: 1 },
      // XEP-0368: direct TLS preferred by priority.
      { name: '_xmpps-client._tcp.tls.test', target: 'xmpp-a.example.test', port: p.tls, priority: 0 },
      { name: '_xmpp-client._tcp.tls.test', target: 'xmpp-b.example.test', port: p.b, priority: 5 },
      // RFC 2782 ".": decidedly not available.
      { name: '_xmpp-client._tcp.gone.test' },
      // A record that is no use, beside nothing else.
      { name: '_xmpp-client._tcp.port0.test', target: 'xmpp-a.example.test', port: 0 },
    ],
    hosts: {
      'xmpp-a.example.test': ['127.0.0.1'],
      'xmpp-b.example.test': ['127.0.0.1'],
      'xmpp-c.example.test': ['127.0.0.1'],
      // No SRV: RFC 6120 §3.2.2 falls back to the domain itself on 5222.
      'nosrv.test': ['127.0.0.1'],
    },
    local: ['test'],
  });
});

afterAll(async () => {
  for (const g of started) await g.close();
  await dns?.stop();
  await servers?.stop();
  await prosody?.dispose();
  await pki?.ca.dispose();
});

describe('several servers', () => {
  it('lower priority first; the list order when no weights', async () => {
    const { gw } = await gateway({
      default: { tls: 'none', servers: [{ host: '127.0.0.1', port: servers.ports.a, priority: 1 }, { host: '127.0.0.1', port: servers.ports.b }, { host: '127.0.0.1', port: servers.ports.c }] },
    });
    const before = servers.connections().length;
    expect(await openStream(gw)).toContain('<stream:features');
    expect(await chosen(before, 1)).toEqual(['b']);
  });

  it('a dead server: the next one serves, and the dead one is skipped while it backs off', async () => {
    const { gw, lines } = await gateway({
      failedServerBackoffMs: 60_000,
      default: { tls: 'none', servers: [{ host: '127.0.0.1', port: dead }, { host: '127.0.0.1', port: servers.ports.c }] },
    });
    const before = servers.connections().length;
    expect(await openStream(gw)).toContain('<stream:features');
    const tried = lines.filter((l) => l.code === 'XWG_GW_UPSTREAM_CONNECT_FAILED');
    expect(tried).toHaveLength(1);
    expect(String(tried[0]!.reason)).toMatch(/ECONNREFUSED/);
    // Second stream: the dead server goes last, so no failed attempt comes first.
    expect(await openStream(gw)).toContain('<stream:features');
    expect(lines.filter((l) => l.code === 'XWG_GW_UPSTREAM_CONNECT_FAILED')).toHaveLength(1);
    expect(await chosen(before, 2)).toEqual(['c', 'c']);
  });

  it('every server dead: remote-connection-failed, and the log names each attempt', async () => {
    const other = await freePort();
    const { gw, lines } = await gateway({ default: { tls: 'none', servers: [{ host: '127.0.0.1', port: dead }, { host: '127.0.0.1', port: other }] } });
    const answer = await openStream(gw);
    expect(answer).toContain('remote-connection-failed');
    const final = lines.find((l) => l.code === 'XWG_GW_UPSTREAM_CONNECT_FAILED' && String(l.reason).startsWith('no upstream server reachable'));
    expect(String(final?.reason)).toContain(`127.0.0.1:${dead}`);
    expect(String(final?.reason)).toContain(`127.0.0.1:${other}`);
  });

  it('weights share the load among one priority', async () => {
    const { gw } = await gateway({
      default: { tls: 'none', servers: [{ host: '127.0.0.1', port: servers.ports.a, weight: 1 }, { host: '127.0.0.1', port: servers.ports.b, weight: 1000 }] },
    });
    const before = servers.connections().length;
    for (let i = 0; i < 5; i++) await openStream(gw);
    const counts = (await chosen(before, 5)).reduce<Record<string, number>>((n, f) => ({ ...n, [f]: (n[f] ?? 0) + 1 }), {});
    // 1000:1: a five-in-a-row for the light one is about 1e-15.
    expect(counts.b).toBeGreaterThanOrEqual(4);
  });
});

describe('SRV records through the configured DNS server', () => {
  it('_xmpp-client._tcp: the best priority serves, over WebSocket and BOSH', async () => {
    const { gw } = await gateway({ default: { tls: 'none' } });
    const before = servers.connections().length;
    expect(await openStream(gw)).toContain('<stream:features');
    const s = new RawBoshSession(gw.url('/http-bind'));
    await s.create({ to: DOMAIN });
    expect(await s.login(USER.user, USER.password, DOMAIN)).toMatch(/^alice@example\.test\//);
    expect(await chosen(before, 2)).toEqual(['a', 'a']);
    expect(dns.queries()).toContain(`query[SRV] _xmpp-client._tcp.${DOMAIN} from 127.0.0.1`);
    // Target host names are resolved by the configured server too.
    expect(dns.queries()).toContain('query[A] xmpp-a.example.test from 127.0.0.1');
  });

  it('the best record is dead: the next record serves', async () => {
    const { gw, lines } = await gateway({ default: { tls: 'none' } }, ['failover.test']);
    const before = servers.connections().length;
    // Prosody answers for example.test only: the stream error it sends proves the stream reached server c.
    const answer = await openStream(gw, 'failover.test');
    expect(answer).toMatch(/host-unknown/);
    expect(await chosen(before, 1)).toEqual(['c']);
    expect(lines.some((l) => l.code === 'XWG_GW_UPSTREAM_CONNECT_FAILED' && l.upstream === `xmpp-a.example.test:${dead}`)).toBe(true);
  });

  it('_xmpps-client (XEP-0368) with a better priority: direct TLS, with the certificate checked', async () => {
    const { gw } = await gateway({ domains: { 'tls.test': { caFile: pki.ca.certPath, serverName: DOMAIN } } }, ['tls.test']);
    const before = servers.connections().length;
    const answer = await openStream(gw, 'tls.test');
    // Through TLS to Prosody, which serves example.test only: host-unknown from the server itself.
    expect(answer).toMatch(/host-unknown/);
    expect(await chosen(before, 1)).toEqual(['tls']);
    // Without the test CA the same certificate is refused; the STARTTLS record (next priority) is tried then.
    const { gw: untrusted, lines } = await gateway({ domains: { 'tls.test': { serverName: DOMAIN } } }, ['tls.test']);
    await openStream(untrusted, 'tls.test');
    expect(lines.some((l) => l.code === 'XWG_GW_UPSTREAM_CONNECT_FAILED' && l.upstream === `xmpp-a.example.test:${servers.ports.tls}`)).toBe(true);
  });

  it('target ".": remote-connection-failed, XWG_GW_UPSTREAM_SRV_UNAVAILABLE', async () => {
    const { gw, lines } = await gateway({ default: { tls: 'none' } }, ['gone.test']);
    expect(await openStream(gw, 'gone.test')).toContain('remote-connection-failed');
    expect(lines.map((l) => l.code)).toContain('XWG_GW_UPSTREAM_SRV_UNAVAILABLE');
  });

  it('no SRV records: the domain itself on port 5222 (RFC 6120 §3.2.2)', async () => {
    const { gw, lines } = await gateway({ default: { tls: 'none' } }, ['nosrv.test']);
    // Nothing listens on 5222 on a test machine (system services are never started): the attempt names it.
    expect(await openStream(gw, 'nosrv.test')).toContain('remote-connection-failed');
    expect(lines.some((l) => String(l.reason).includes('nosrv.test:5222'))).toBe(true);
  });

  it('only unusable records (port 0): a DNS failure naming the record, not a fallback', async () => {
    const { gw, lines } = await gateway({ default: { tls: 'none' } }, ['port0.test']);
    expect(await openStream(gw, 'port0.test')).toContain('remote-connection-failed');
    const line = lines.find((l) => l.code === 'XWG_GW_UPSTREAM_DNS_FAILED');
    expect(String(line?.reason)).toContain('_xmpp-client._tcp.port0.test: port 0');
  });
});

describe('a DNS server that misbehaves', () => {
  /** A UDP "DNS server" that answers every query with `reply(query)`, or not at all. */
  async function udpServer(reply: ((q: Buffer) => Buffer) | undefined): Promise<{ address: string; close(): Promise<void> }> {
    const socket = dgram.createSocket('udp4');
    socket.on('message', (msg, rinfo) => {
      if (reply) socket.send(reply(msg), rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    return { address: `127.0.0.1:${socket.address().port}`, close: () => new Promise((r) => socket.close(() => r())) };
  }

  it.each([
    // The query's id and a response header claiming one SRV answer, then bytes that are no answer at all.
    ['a malformed answer', (q: Buffer) => Buffer.concat([q.subarray(0, 2), Buffer.from([0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]), Buffer.from([0xc0, 0xff, 0xff])])],
    ['no answer at all', undefined],
  ] as const)('%s: remote-connection-failed and XWG_GW_UPSTREAM_DNS_FAILED', async (_name, reply) => {
    const bad = await udpServer(reply);
    try {
      const { log, lines } = capturingLog();
      const gw = await startTestGateway({ domains: [DOMAIN], upstream: { default: { tls: 'none' }, dns: { servers: [bad.address], timeoutMs: 300, tries: 1, cacheMs: 0 } } }, { log });
      started.push(gw);
      expect(await openStream(gw)).toContain('remote-connection-failed');
      expect(lines.map((l) => l.code)).toContain('XWG_GW_UPSTREAM_DNS_FAILED');
    } finally {
      await bad.close();
    }
  });
});
