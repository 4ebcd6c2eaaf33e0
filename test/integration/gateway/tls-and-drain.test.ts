// Upstream TLS (STARTTLS and XEP-0368 direct TLS) toward Prosody 0.12 and ejabberd 23.01 with a test CA and
// the name checked, what clients are told of channel binding when that link is TLS, browser-side TLS chosen by
// SNI with certificates rotated in place, and the SIGTERM drain of a gateway process started by the CLI.
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compat } from '../../../dev/compat/matrix.ts';
import { startTestGateway, type TestGateway } from '../../../dev/harness/gateway.ts';
import { createTestCa, type TestCa } from '../../../dev/harness/pki.ts';
import { eventually } from '../../../dev/harness/wait.ts';
import { freePorts } from '../../../dev/harness/ports.ts';
import { spawnBounded } from '../../../dev/harness/process.ts';
import { RawStream } from '../../../dev/harness/raw-c2s.ts';
import { CLOSE, OPEN, openRawWebSocket } from '../../../dev/harness/raw-websocket.ts';
import { scramAuthC2s, scramLoginBosh, scramLoginWebSocket } from '../../../dev/harness/scram-gs2.ts';
import { connectStrophe, useNodeXhr } from '../../../dev/harness/strophe.ts';
import { connectXmppJs } from '../../../dev/harness/xmpp-js.ts';
import { SERVER_KINDS, SERVER_LABELS, startXmppServer, type ServerKind, type XmppServer } from '../../../dev/harness/xmpp-server.ts';

let ca: TestCa;
let otherCa: TestCa;
const servers = {} as Record<ServerKind, XmppServer>;
let prosody: XmppServer;
let dir: string;
let restoreXhr: (() => void) | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'xwg-tls-'));
  ca = await createTestCa({ dir: path.join(dir, 'ca') });
  otherCa = await createTestCa({ dir: path.join(dir, 'other-ca') });
  const serverCert = await ca.issue({ dnsNames: ['example.com'] });
  for (const kind of SERVER_KINDS) {
    servers[kind] = await startXmppServer(kind, {
      domains: ['example.com'],
      users: [
        { user: 'alice', domain: 'example.com', password: 'alice-pw' },
        { user: 'bob', domain: 'example.com', password: 'bob-pw' },
      ],
      tls: { certPath: serverCert.certPath, keyPath: serverCert.keyPath },
      requireEncryption: true,
      directTls: true,
    });
  }
  prosody = servers.prosody;
  restoreXhr = useNodeXhr().restore;
});

afterAll(async () => {
  restoreXhr?.();
  for (const server of Object.values(servers)) await server.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** A gateway whose log lines (pino JSON) the test reads. */
async function loggedGateway(config: Record<string, unknown>): Promise<{ gateway: TestGateway; lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const gateway = await startTestGateway(config, { log: pino({ level: 'debug' }, sink) });
  return { gateway, lines };
}

describe.each(SERVER_KINDS.map((kind) => [SERVER_LABELS[kind], kind] as const))('TLS toward the upstream server: %s', (_label, kind) => {
  const upstream = (extra: Record<string, unknown>) => ({ upstream: { default: { host: '127.0.0.1', caFile: ca.certPath, ...extra } } });

  it('negotiates STARTTLS, verifying the server against the configured CA; xmpp.js (WebSocket) and Strophe (BOSH) log in', async ({ task }) => {
    compat(task, { server: kind, transport: 'websocket', feature: 'starttls' }, { server: kind, transport: 'bosh', feature: 'starttls' });
    const gateway = await startTestGateway(upstream({ port: servers[kind].c2sPort, tls: 'starttls' }));
    try {
      const alice = await connectXmppJs({ service: gateway.wsUrl(), domain: 'example.com', username: 'alice', password: 'alice-pw' });
      expect(alice.jid).toMatch(/^alice@example\.com\//);
      await alice.stop();
      const bob = await connectStrophe({ service: gateway.url('/http-bind'), jid: 'bob@example.com/starttls', password: 'bob-pw', wait: 10 });
      expect(bob.jid).toBe('bob@example.com/starttls');
      await bob.disconnect();
    } finally {
      await gateway.close();
    }
  });

  it('connects with direct TLS (XEP-0368); xmpp.js (WebSocket) and Strophe (BOSH) log in', async ({ task }) => {
    compat(task, { server: kind, transport: 'websocket', feature: 'direct-tls' }, { server: kind, transport: 'bosh', feature: 'direct-tls' });
    const gateway = await startTestGateway(upstream({ port: servers[kind].c2sDirectTlsPort, tls: 'directTLS' }));
    try {
      const alice = await connectXmppJs({ service: gateway.wsUrl(), domain: 'example.com', username: 'alice', password: 'alice-pw' });
      expect(alice.jid).toMatch(/^alice@example\.com\//);
      await alice.stop();
      const bob = await connectStrophe({ service: gateway.url('/http-bind'), jid: 'bob@example.com/direct', password: 'bob-pw', wait: 10 });
      expect(bob.jid).toBe('bob@example.com/direct');
      await bob.disconnect();
    } finally {
      await gateway.close();
    }
  });

  it("offers clients no channel binding to its own TLS session; a client sending the GS2 'y' flag logs in over both transports", async ({ task }) => {
    compat(task, { server: kind, transport: 'websocket', feature: 'gs2-y' }, { server: kind, transport: 'bosh', feature: 'gs2-y' });
    // What the server offers on a TLS link like the gateway's (Node's defaults: TLS 1.3 where the server has it).
    const direct = await RawStream.connectTls(servers[kind].c2sDirectTlsPort!, 'example.com', ca.certPem);
    direct.open('example.com');
    const offeredOnTls = await direct.until(/<\/stream:features>/);
    direct.close();
    expect(offeredOnTls).toContain('SCRAM-SHA-1');
    // ejabberd 23.01 binds SCRAM to tls-unique even on TLS 1.3; Prosody 0.12 offers no channel binding there.
    if (kind === 'ejabberd') expect(offeredOnTls).toContain('SCRAM-SHA-1-PLUS');

    const gateway = await startTestGateway(upstream({ port: servers[kind].c2sPort, tls: 'starttls' }));
    try {
      const raw = await openRawWebSocket(gateway.wsUrl());
      raw.send(OPEN('example.com'));
      const features = await raw.waitFor(/stream:features/);
      expect(features).toContain('<mechanism>SCRAM-SHA-1</mechanism>');
      expect(features).not.toMatch(/-PLUS<|sasl-channel-binding/);
      raw.send(CLOSE);
      await raw.closed;

      const ws = await scramLoginWebSocket(gateway.wsUrl(), { domain: 'example.com', username: 'alice', password: 'alice-pw', flag: 'y', resource: 'gs2-ws' });
      expect(ws.jid).toBe('alice@example.com/gs2-ws');
      expect(ws.offered.some((m) => m.endsWith('-PLUS'))).toBe(false);
      ws.raw.ws.close();
      const bosh = await scramLoginBosh(gateway.url('/http-bind'), { domain: 'example.com', username: 'bob', password: 'bob-pw', flag: 'y', resource: 'gs2-bosh' });
      expect(bosh.jid).toBe('bob@example.com/gs2-bosh');
      await bosh.session.terminate();
    } finally {
      await gateway.close();
    }
    // Why Prosody accepts 'y' here: the gateway's link is TLS 1.3, where tls-unique does not exist (RFC 9266).
    if (kind === 'prosody') expect(servers[kind].process?.output()).toMatch(/Stream encrypted \(TLSv1\.3 /);
  });

  it('refuses an upstream certificate from an unknown CA with remote-connection-failed and a coded log line', async () => {
    const { gateway, lines } = await loggedGateway({ upstream: { default: { host: '127.0.0.1', port: servers[kind].c2sPort, tls: 'starttls', caFile: otherCa.certPath } } });
    try {
      const raw = await openRawWebSocket(gateway.wsUrl());
      raw.send(OPEN('example.com'));
      await raw.waitFor(/<remote-connection-failed /);
      await raw.closed;
      const metrics = await (await fetch(gateway.adminUrl('/metrics'))).text();
      expect(metrics).toMatch(/xwg_upstream_connect_failures_total [1-9]/);
      const line = lines.find((l) => l.code === 'XWG_GW_UPSTREAM_TLS_FAILED');
      expect(String(line?.reason)).toMatch(/certificate not signed by a trusted CA .*set the upstream caFile/);
    } finally {
      await gateway.close();
    }
  });

  it('refuses an upstream certificate for another name (STARTTLS and direct TLS), saying which name was checked', async () => {
    for (const [tls, port, code] of [
      ['starttls', servers[kind].c2sPort, 'XWG_GW_UPSTREAM_TLS_FAILED'],
      ['directTLS', servers[kind].c2sDirectTlsPort, 'XWG_GW_UPSTREAM_CONNECT_FAILED'],
    ] as const) {
      const { gateway, lines } = await loggedGateway(upstream({ port, tls, serverName: 'xmpp.other.example' }));
      try {
        const raw = await openRawWebSocket(gateway.wsUrl());
        raw.send(OPEN('example.com'));
        await raw.waitFor(/<remote-connection-failed /);
        await raw.closed;
        const line = lines.find((l) => l.code === code && /certificate name check failed/.test(String(l.reason)));
        expect(line, `${tls}: ${JSON.stringify(lines.filter((l) => l.code))}`).toBeDefined();
        // Either the certificate's names are listed, or the server said it has none for that name (SNI).
        expect(String(line!.reason)).toMatch(/for xmpp\.other\.example: (.*DNS:example\.com|the server has no certificate for that name).*set the upstream serverName/);
      } finally {
        await gateway.close();
      }
    }
  });

  it('refuses plain TCP when the server requires encryption and the gateway is told none', async () => {
    const gateway = await startTestGateway({ upstream: { default: { host: '127.0.0.1', port: servers[kind].c2sPort, tls: 'none' } } });
    try {
      // The server offers only STARTTLS on this stream; the gateway hides it, so the client cannot log in.
      const raw = await openRawWebSocket(gateway.wsUrl());
      raw.send(OPEN('example.com'));
      const features = await raw.waitFor(/stream:features/);
      expect(features).not.toContain('starttls');
      expect(features).not.toContain('PLAIN');
      raw.send(CLOSE);
      await raw.closed;
    } finally {
      await gateway.close();
    }
  });
});

// The servers' own behaviour on a TLS link like the gateway's, which the decision above rests on
// (docs/upstream-tls.md): RFC 5802 §6 lets a server that offers channel binding refuse the 'y' flag.
describe("what each server does with the GS2 'y' flag on its own TLS links", () => {
  it.each([
    ['prosody', 'TLSv1.2', true, 'malformed-request'],
    ['prosody', 'TLSv1.3', false, 'success'],
    ['ejabberd', 'TLSv1.2', true, 'success'],
    ['ejabberd', 'TLSv1.3', true, 'success'],
  ] as const)('%s over %s: offers -PLUS %s, answers y with %s', async (kind, version, plus, outcome) => {
    const stream = await RawStream.connectTls(servers[kind].c2sDirectTlsPort!, 'example.com', ca.certPem, version);
    try {
      const result = await scramAuthC2s(stream, { domain: 'example.com', username: 'alice', password: 'alice-pw', flag: 'y' });
      expect(result.offered.some((m) => m.endsWith('-PLUS'))).toBe(plus);
      expect(result.outcome).toBe(outcome);
    } finally {
      stream.close();
    }
  });
});

describe('wss for browsers', () => {
  it('chooses the certificate by SNI and serves a rotated one without restart or dropped connections', async () => {
    const certDir = path.join(dir, 'served');
    const t1 = await ca.issue({ dnsNames: ['t1.example.com'], label: 't1' });
    const t2 = await ca.issue({ dnsNames: ['t2.example.com'], label: 't2' });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(certDir, { recursive: true });
    for (const [name, cert] of [['t1', t1], ['t2', t2]] as const) {
      writeFileSync(path.join(certDir, `${name}.crt`), cert.certPem);
      writeFileSync(path.join(certDir, `${name}.key`), cert.keyPem);
    }
    const gateway = await startTestGateway({
      upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'starttls', caFile: ca.certPath } },
      listen: { certDir, defaultCert: 't1' },
    });
    const wss = (servername: string) =>
      openRawWebSocket(`wss://127.0.0.1:${gateway.ports.https}/xmpp-websocket`, { ca: ca.certPem, servername });
    const servedBy = (raw: Awaited<ReturnType<typeof wss>>) => ((raw.ws as unknown as { _socket: TLSSocket })._socket.getPeerCertificate().fingerprint256);
    try {
      const a = await wss('t1.example.com');
      const b = await wss('t2.example.com');
      expect(servedBy(a)).toBe(t1.fingerprint256);
      expect(servedBy(b)).toBe(t2.fingerprint256);
      b.send(OPEN('example.com'));
      await b.waitFor(/stream:features/);

      // cert-manager renews in place: new files, same names.
      const renewed = await ca.issue({ dnsNames: ['t2.example.com'], label: 't2-renewed' });
      writeFileSync(path.join(certDir, 't2.key'), renewed.keyPem);
      writeFileSync(path.join(certDir, 't2.crt'), renewed.certPem);
      await eventually(
        'the renewed certificate served',
        async () => {
          const c = await wss('t2.example.com');
          const served = servedBy(c);
          c.ws.close();
          return served === renewed.fingerprint256;
        },
        { timeoutMs: 15_000, everyMs: 250 },
      );
      // The connection made before the rotation still carries its stream.
      b.send(CLOSE);
      await b.waitFor(/^<close /);
      a.ws.close();
    } finally {
      await gateway.close();
    }
  });
});

describe('SIGTERM drain of a gateway process', () => {
  async function startCliGateway(nodesFor: (port: number) => unknown[]) {
    const [port, adminPort] = (await freePorts(2)) as [number, number];
    const nodes = nodesFor(port);
    const configPath = path.join(dir, `gw-${port}.yaml`);
    writeFileSync(
      configPath,
      JSON.stringify({
        nodeName: 't1',
        listen: { host: '127.0.0.1', port },
        admin: { port: adminPort },
        upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'starttls', caFile: ca.certPath } },
        discovery: { nodes, publicScheme: 'plain' },
        drain: { deadlineMs: 5_000 },
      }),
    );
    const child = spawnBounded({
      command: process.execPath,
      args: [path.resolve('src/cli/main.ts'), 'gateway', '--config', configPath],
      name: 'gateway',
      maxLifetimeMs: 120_000,
    });
    await child.waitForLine(/gateway listening/, { timeoutMs: 20_000 });
    return { child, url: `ws://127.0.0.1:${port}/xmpp-websocket`, port };
  }

  it('sends every client to another node with see-other-uri and exits', async () => {
    const { child, url } = await startCliGateway((port) => [
      { name: 't1', host: '127.0.0.1', websocketUrl: `ws://127.0.0.1:${port}/xmpp-websocket`, ready: true },
      { name: 't2', host: 't2.example.com', websocketUrl: 'ws://t2.example.com/xmpp-websocket', ready: true },
    ]);
    const clients = await Promise.all(Array.from({ length: 5 }, () => openRawWebSocket(url)));
    for (const c of clients) c.send(OPEN('example.com'));
    await Promise.all(clients.map((c) => c.waitFor(/stream:features/)));
    child.signal('SIGTERM');
    for (const c of clients) {
      expect(await c.waitFor(/^<close /)).toContain(`see-other-uri='ws://t2.example.com/xmpp-websocket'`);
      await c.closed;
    }
    const exit = await child.exited;
    expect(exit.code).toBe(0);
    expect(child.output()).toMatch(/"msg":"stopped"/);
  });

  it('reports system-shutdown when no other node is ready', async () => {
    const { child, url } = await startCliGateway(() => []);
    const client = await openRawWebSocket(url);
    client.send(OPEN('example.com'));
    await client.waitFor(/stream:features/);
    child.signal('SIGTERM');
    await client.waitFor(/<system-shutdown /);
    await client.closed;
    expect((await child.exited).code).toBe(0);
  });
});
