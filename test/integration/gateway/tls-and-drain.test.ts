// Upstream TLS (STARTTLS and XEP-0368 direct TLS) with a test CA, browser-side TLS chosen by SNI with
// certificates rotated in place, and the SIGTERM drain of a gateway process started by the CLI.
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway } from '../../../dev/harness/gateway.ts';
import { createTestCa, type TestCa } from '../../../dev/harness/pki.ts';
import { freePorts } from '../../../dev/harness/ports.ts';
import { spawnBounded } from '../../../dev/harness/process.ts';
import { startProsody, type ProsodyServer } from '../../../dev/harness/prosody.ts';
import { CLOSE, OPEN, openRawWebSocket } from '../../../dev/harness/raw-websocket.ts';
import { connectXmppJs } from '../../../dev/harness/xmpp-js.ts';

let ca: TestCa;
let otherCa: TestCa;
let prosody: ProsodyServer;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'xwg-tls-'));
  ca = await createTestCa({ dir: path.join(dir, 'ca') });
  otherCa = await createTestCa({ dir: path.join(dir, 'other-ca') });
  const serverCert = await ca.issue({ dnsNames: ['example.com'] });
  prosody = await startProsody({
    domains: ['example.com'],
    users: [{ user: 'alice', domain: 'example.com', password: 'alice-pw' }],
    tls: { certPath: serverCert.certPath, keyPath: serverCert.keyPath },
    requireEncryption: true,
    directTls: true,
  });
});

afterAll(async () => {
  await prosody?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('TLS toward the upstream server', () => {
  it('negotiates STARTTLS, verifying the server against the configured CA', async () => {
    const gateway = await startTestGateway({
      upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'starttls', caFile: ca.certPath } },
    });
    try {
      const alice = await connectXmppJs({ service: gateway.wsUrl(), domain: 'example.com', username: 'alice', password: 'alice-pw' });
      expect(alice.jid).toMatch(/^alice@example\.com\//);
      await alice.stop();
    } finally {
      await gateway.close();
    }
  });

  it('connects with direct TLS (XEP-0368)', async () => {
    const gateway = await startTestGateway({
      upstream: { default: { host: '127.0.0.1', port: prosody.c2sDirectTlsPort, tls: 'directTLS', caFile: ca.certPath } },
    });
    try {
      const alice = await connectXmppJs({ service: gateway.wsUrl(), domain: 'example.com', username: 'alice', password: 'alice-pw' });
      await alice.stop();
    } finally {
      await gateway.close();
    }
  });

  it('refuses an upstream certificate from an unknown CA with remote-connection-failed', async () => {
    const gateway = await startTestGateway({
      upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'starttls', caFile: otherCa.certPath } },
    });
    try {
      const raw = await openRawWebSocket(gateway.wsUrl());
      raw.send(OPEN('example.com'));
      await raw.waitFor(/<remote-connection-failed /);
      await raw.closed;
      const metrics = await (await fetch(gateway.adminUrl('/metrics'))).text();
      expect(metrics).toMatch(/xwg_upstream_connect_failures_total [1-9]/);
    } finally {
      await gateway.close();
    }
  });

  it('refuses plain TCP when the server requires encryption and the gateway is told none', async () => {
    const gateway = await startTestGateway({ upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'none' } } });
    try {
      // Prosody offers only STARTTLS on this stream; the gateway hides it, so the client cannot log in.
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
      const deadline = Date.now() + 15_000;
      let served = '';
      while (Date.now() < deadline) {
        const c = await wss('t2.example.com');
        served = servedBy(c);
        c.ws.close();
        if (served === renewed.fingerprint256) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(served).toBe(renewed.fingerprint256);
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
