import { once } from 'node:events';
import { rmSync } from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CertStore } from '../../../src/gateway/server/cert-store.ts';
import { createListeners, peerAddressOf, proxySourceOf, type Listeners, type ListenConfig, type ListenersOptions } from '../../../src/gateway/server/listeners.ts';
import { recordingLog, servedCert, tempDir, writePair } from './tls-fixtures.ts';
import { selfSignedCertificate } from '../../../dev/harness/pki.ts';
import { eventually } from '../../../dev/harness/wait.ts';

const A = selfSignedCertificate('a.example');
const B = selfSignedCertificate('b.example');

const listen = (o: Partial<ListenConfig> = {}): ListenConfig => ({
  host: '127.0.0.1',
  port: 0,
  tlsPort: 0,
  certDir: '',
  defaultCert: '',
  proxyProtocol: false,
  trustedProxies: [],
  headerTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  ...o,
});

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** Answers every request with the address the gateway would make trust decisions with. */
const whoAmI = (req: http.IncomingMessage, res: http.ServerResponse) => {
  res.setHeader('Connection', 'close');
  res.end(`peer=${peerAddressOf(req.socket)} source=${JSON.stringify(proxySourceOf(req.socket) ?? null)}`);
};

async function certStore(defaultCert = '') {
  const dir = tempDir();
  writePair(dir, 'a', A);
  writePair(dir, 'b', B);
  const rec = recordingLog();
  const store = await CertStore.open({ dir, defaultCert, log: rec.log, pollIntervalMs: 0, watch: false });
  cleanups.push(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, dir };
}

async function started(options: Partial<ListenersOptions> & { config: ListenConfig }) {
  const rec = recordingLog();
  const listeners = createListeners({
    onRequest: whoAmI,
    onUpgrade: (_req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n'),
    log: rec.log,
    ...options,
  });
  const ports = await listeners.start();
  cleanups.push(() => listeners.closeAll());
  return { listeners, ports, calls: rec.calls };
}

/** Writes `chunks` on a fresh connection (a pause between them) and returns everything read until close. */
async function exchange(port: number, chunks: (string | Buffer)[]): Promise<string> {
  const c = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await once(c, 'connect');
  const data: Buffer[] = [];
  c.on('data', (d: Buffer) => data.push(d));
  c.on('error', () => {});
  const closed = once(c, 'close');
  for (const chunk of chunks) {
    if (!c.writable) break;
    c.write(chunk);
    await new Promise((r) => setTimeout(r, 5));
  }
  await closed;
  return Buffer.concat(data).toString('latin1');
}

const GET = 'GET / HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\n\r\n';
const SIG = '0d0a0d0a000d0a515549540a';

describe('HTTP listener', () => {
  it('serves requests and upgrades on an ephemeral port', async () => {
    const { ports, listeners } = await started({ config: listen(), enable: { http: true } });
    expect(ports.port).toBeGreaterThan(0);
    expect(ports.tlsPort).toBe(0);
    expect(listeners.servers.https).toBeUndefined();
    expect(await exchange(ports.port, [GET])).toMatch(/^HTTP\/1.1 200 OK[\s\S]*peer=127.0.0.1 source=null$/);
    expect(await exchange(ports.port, ['GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n'])).toMatch(/^HTTP\/1.1 101/);
  });

  it('answers 408 to a request head that does not arrive in time (slowloris)', async () => {
    // The request timeout (60 s) outlasts the test: a 408 here can only come from the header timeout.
    const { ports } = await started({ config: listen({ headerTimeoutMs: 300, requestTimeoutMs: 60_000 }), enable: { http: true } });
    const t0 = Date.now();
    expect(await exchange(ports.port, ['GET / HTTP/1.1\r\nHost: x\r\n'])).toMatch(/^HTTP\/1.1 408/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('stops accepting on closeListeners while an open request completes', async () => {
    let respond: (() => void) | undefined;
    const { ports, listeners } = await started({
      config: listen(),
      enable: { http: true },
      onRequest: (_req, res) => {
        respond = () => res.end('late');
      },
    });
    const inFlight = exchange(ports.port, [GET]);
    await eventually('the request reached the server', () => respond !== undefined, 5_000);
    await listeners.closeListeners();
    const refused = net.connect(ports.port, '127.0.0.1');
    await expect(once(refused, 'connect')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    respond!();
    expect(await inFlight).toMatch(/late$/);
  });

  it('stopAccepting refuses new connections but keeps a kept-alive one serving; closeListeners then closes it', async () => {
    const { ports, listeners } = await started({
      config: listen(),
      enable: { http: true },
      onRequest: (_req, res) => res.end('ok'),
    });
    const c = net.connect({ port: ports.port, host: '127.0.0.1' });
    await once(c, 'connect');
    let data = '';
    c.on('data', (d: Buffer) => (data += d.toString('latin1')));
    const keepAlive = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    c.write(keepAlive);
    await vi.waitFor(() => expect(data).toMatch(/ok$/));
    // A drain begins while this connection is idle: a request already on its way must still be answered.
    listeners.stopAccepting();
    const refused = net.connect(ports.port, '127.0.0.1');
    await expect(once(refused, 'connect')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    c.write(keepAlive);
    await vi.waitFor(() => expect(data.match(/ok/g)).toHaveLength(2));
    const closed = once(c, 'close');
    await listeners.closeListeners();
    await closed;
  });

  it('rejects start when the port is taken', async () => {
    const { ports } = await started({ config: listen(), enable: { http: true } });
    const second = createListeners({ config: listen({ port: ports.port }), onRequest: whoAmI, onUpgrade: () => {}, log: recordingLog().log });
    await expect(second.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe('HTTPS listener', () => {
  it('serves the certificate SNI asks for, and the default without SNI', async () => {
    const { store } = await certStore('b');
    const { ports } = await started({ config: listen(), enable: { https: true }, certStore: store });
    expect(ports.tlsPort).toBeGreaterThan(0);
    const a = await servedCert(ports.tlsPort, 'a.example');
    const b = await servedCert(ports.tlsPort, 'b.example');
    expect(a.cn).toBe('a.example');
    expect(b.cn).toBe('b.example');
    expect(a.fingerprint256).not.toBe(b.fingerprint256);
    expect((await servedCert(ports.tlsPort)).fingerprint256).toBe(B.fingerprint256);
  });

  it('answers HTTPS requests', async () => {
    const { store } = await certStore();
    const { ports } = await started({ config: listen(), enable: { https: true }, certStore: store });
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: ports.tlsPort, servername: 'b.example', ca: B.cert, headers: { host: 'b.example' } }, (res) => {
          res.setEncoding('utf8');
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    expect(body).toMatch(/^peer=127.0.0.1/);
  });

  it('serves a reloaded default certificate to clients without SNI', async () => {
    const { store, dir } = await certStore();
    const { ports } = await started({ config: listen(), enable: { https: true }, certStore: store });
    expect((await servedCert(ports.tlsPort)).fingerprint256).toBe(A.fingerprint256);
    const A2 = selfSignedCertificate('a.example');
    writePair(dir, 'a', A2);
    await store.reload();
    expect((await servedCert(ports.tlsPort)).fingerprint256).toBe(A2.fingerprint256);
  });

  it('drops a client that stalls the TLS handshake after the header timeout', async () => {
    const { store } = await certStore();
    // Nothing else would end it before the test's own timeout: the request timeout is 60 s.
    const { ports } = await started({ config: listen({ headerTimeoutMs: 200, requestTimeoutMs: 60_000 }), enable: { https: true }, certStore: store });
    const t0 = Date.now();
    expect(await exchange(ports.tlsPort, [])).toBe('');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
  });

  it('needs a certificate store', () => {
    expect(() => createListeners({ config: listen({ tlsPort: 8443 }), onRequest: whoAmI, onUpgrade: () => {}, log: recordingLog().log })).toThrow(/certStore/);
  });
});

describe('PROXY protocol', () => {
  const proxied = { config: listen({ proxyProtocol: true }), enable: { http: true } };

  it('v1 in front of HTTP gives the source address', async () => {
    const { ports } = await started(proxied);
    const reply = await exchange(ports.port, [`PROXY TCP4 203.0.113.7 192.0.2.1 51000 80\r\n${GET}`]);
    expect(reply).toMatch(/peer=203.0.113.7 source=\{"address":"203.0.113.7","port":51000,"family":"IPv4"\}$/);
  });

  it('v1 split across writes', async () => {
    const { ports } = await started(proxied);
    const reply = await exchange(ports.port, ['PROXY TCP6 2001:db8::7 2001', `:db8::1 51000 80\r\nGET / HT`, 'TP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(reply).toMatch(/peer=2001:db8::7 /);
  });

  it('v2 in front of HTTP gives the source address', async () => {
    const { ports } = await started(proxied);
    const header = Buffer.from(`${SIG}2111000c cb007107 c0000201 c738 0050`.replaceAll(' ', ''), 'hex');
    const reply = await exchange(ports.port, [Buffer.concat([header, Buffer.from(GET)])]);
    expect(reply).toMatch(/peer=203.0.113.7 source=\{"address":"203.0.113.7","port":51000,"family":"IPv4"\}$/);
  });

  it('v2 LOCAL keeps the real peer', async () => {
    const { ports } = await started(proxied);
    const reply = await exchange(ports.port, [Buffer.concat([Buffer.from(`${SIG}20000000`, 'hex'), Buffer.from(GET)])]);
    expect(reply).toMatch(/peer=127.0.0.1 source=null$/);
  });

  it('drops a connection without a header, logged', async () => {
    const { ports, calls } = await started(proxied);
    expect(await exchange(ports.port, [GET])).toBe('');
    expect(calls.some((c) => c.level === 'warn' && (c.obj as { code?: string; proxyError?: string }).code === 'XWG_GW_PROXY_HEADER_INVALID' && (c.obj as { proxyError?: string }).proxyError === 'PROXY_ERR_SIGNATURE')).toBe(true);
  });

  it('keeps slowloris protection on the HTTP server it feeds', async () => {
    // As above: only the header timeout can answer 408 within the test.
    const { ports } = await started({ ...proxied, config: listen({ proxyProtocol: true, headerTimeoutMs: 300, requestTimeoutMs: 60_000 }) });
    expect(await exchange(ports.port, ['PROXY UNKNOWN\r\nGET / HTTP/1.1\r\nHost: x\r\n'])).toMatch(/^HTTP\/1.1 408/);
  });

  it('times out a connection that never sends its header', async () => {
    const { ports } = await started({ ...proxied, config: listen({ proxyProtocol: true, headerTimeoutMs: 200 }) });
    expect(await exchange(ports.port, ['PROXY TCP4 203.0.113.7'])).toBe('');
  });

  it('in front of HTTPS: the header, then the TLS handshake; the source reaches the request', async () => {
    const { store } = await certStore();
    const { ports } = await started({ config: listen({ proxyProtocol: true }), enable: { https: true }, certStore: store });
    const raw = net.connect({ port: ports.tlsPort, host: '127.0.0.1' });
    await once(raw, 'connect');
    raw.write('PROXY TCP6 2001:db8::7 2001:db8::1 51000 443\r\n');
    const secure = tls.connect({ socket: raw, servername: 'b.example', rejectUnauthorized: false });
    await once(secure, 'secureConnect');
    expect(secure.getPeerCertificate().fingerprint256).toBe(B.fingerprint256);
    const data: Buffer[] = [];
    secure.on('data', (d: Buffer) => data.push(d));
    secure.write(GET);
    await once(secure, 'end');
    expect(Buffer.concat(data).toString()).toMatch(/peer=2001:db8::7 source=\{"address":"2001:db8::7","port":51000,"family":"IPv6"\}$/);
    secure.destroy();
  });
});

describe('PROXY protocol in front of HTTPS, header and ClientHello in one segment', () => {
  /** Relays to `port`, holding the client's first bytes back until they can be written as one chunk. */
  async function coalescingRelay(port: number, holdMs = 50) {
    const firstWrites: number[] = [];
    const relay = net.createServer((client) => {
      const upstream = net.connect(port, '127.0.0.1');
      const held: Buffer[] = [];
      const hold = (d: Buffer) => held.push(d);
      client.on('data', hold);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      setTimeout(() => {
        client.off('data', hold);
        const first = Buffer.concat(held);
        firstWrites.push(first.length);
        upstream.write(first);
        client.pipe(upstream).pipe(client);
      }, holdMs);
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    cleanups.push(() => relay.close());
    return { port: (relay.address() as net.AddressInfo).port, firstWrites };
  }

  it('hands the bytes after the header to the TLS server', async () => {
    const { store } = await certStore();
    const { ports } = await started({ config: listen({ proxyProtocol: true }), enable: { https: true }, certStore: store });
    const relay = await coalescingRelay(ports.tlsPort);
    const header = 'PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n';
    const raw = net.connect({ port: relay.port, host: '127.0.0.1' });
    await once(raw, 'connect');
    raw.write(header);
    const secure = tls.connect({ socket: raw, servername: 'a.example', rejectUnauthorized: false });
    await once(secure, 'secureConnect');
    expect(relay.firstWrites[0]).toBeGreaterThan(header.length);
    expect(secure.getPeerCertificate().fingerprint256).toBe(A.fingerprint256);
    const data: Buffer[] = [];
    secure.on('data', (d: Buffer) => data.push(d));
    secure.write(GET);
    await once(secure, 'end');
    expect(Buffer.concat(data).toString()).toMatch(/peer=203.0.113.7 /);
    secure.destroy();
  });
});

describe('Listeners API', () => {
  it('exposes the servers it created', async () => {
    const { store } = await certStore();
    const l: Listeners = createListeners({ config: listen({ port: 1, tlsPort: 2 }), certStore: store, onRequest: whoAmI, onUpgrade: () => {}, log: recordingLog().log });
    expect(l.servers.http).toBeDefined();
    expect(l.servers.https).toBeDefined();
    expect(l.servers.http!.headersTimeout).toBe(10_000);
    expect(l.servers.http!.requestTimeout).toBe(120_000);
    expect(l.servers.http!.keepAliveTimeout).toBe(65_000);
  });
});
