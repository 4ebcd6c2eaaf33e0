// The admin listener: /metrics, /healthz and /readyz are served there and nowhere else. Over plain HTTP and
// HTTPS the public listeners answer 404 for /metrics (and for the probes unless admin.publicProbes); a drain
// fails /readyz on the admin port before a single client is sent elsewhere, and the admin port outlives the
// public ones until the process closes.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, type HttpResult } from '../../../dev/harness/bosh-http.ts';
import { startTestGateway, type TestGateway } from '../../../dev/harness/gateway.ts';
import { createTestCa, type TestCa } from '../../../dev/harness/pki.ts';
import { startProsody, type ProsodyServer } from '../../../dev/harness/prosody.ts';
import { OPEN, openRawWebSocket } from '../../../dev/harness/raw-websocket.ts';
import { NODE_LIST_PATH } from '../../../src/gateway/discovery/responses.ts';

let ca: TestCa;
let prosody: ProsodyServer;
let dir: string;
let certDir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'xwg-admin-'));
  ca = await createTestCa({ dir: path.join(dir, 'ca') });
  // IP subjectAltName 127.0.0.1: the tests dial the address.
  const leaf = await ca.issue({ dnsNames: ['a.example.com'] });
  certDir = path.join(dir, 'certs');
  await mkdir(certDir);
  await writeFile(path.join(certDir, 'a.crt'), leaf.chainPem);
  await writeFile(path.join(certDir, 'a.key'), leaf.keyPem);
  prosody = await startProsody({ domains: ['example.com'], users: [{ user: 'alice', domain: 'example.com', password: 'alice-pw' }] });
});

afterAll(async () => {
  await prosody?.dispose();
  await ca?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const startGateway = (extra: Record<string, unknown> = {}) =>
  startTestGateway({ upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'none' } }, listen: { certDir }, ...extra });

const get = (url: string, method = 'GET'): Promise<HttpResult> => httpRequest(url, undefined, { method, ca: ca.certPem, timeoutMs: 10_000 });

type Scheme = 'http' | 'https';
const publicUrl = (gw: TestGateway, scheme: Scheme, p: string) => `${scheme}://127.0.0.1:${scheme === 'http' ? gw.ports.http : gw.ports.https}${p}`;

/** Resolves with the error code of a connection attempt (ECONNREFUSED), or 'connected'. */
function dial(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('default admin settings', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it.each<Scheme>(['http', 'https'])('the public %s listener answers 404 for /metrics, /healthz and /readyz', async (scheme) => {
    for (const p of ['/metrics', '/metrics?name[]=xwg_connections_open', '/healthz', '/readyz']) {
      for (const method of ['GET', 'HEAD']) {
        const res = await get(publicUrl(gateway, scheme, p), method);
        expect(res.status, `${method} ${scheme} ${p}`).toBe(404);
        expect(res.text).not.toContain('xwg_');
      }
    }
    // Not as a WebSocket either.
    const ws = scheme === 'http' ? `ws://127.0.0.1:${gateway.ports.http}/metrics` : `wss://127.0.0.1:${gateway.ports.https}/metrics`;
    await expect(openRawWebSocket(ws, { ca: ca.certPem })).rejects.toMatchObject({ status: 404 });
  });

  it('the public listeners still serve their own routes', async () => {
    for (const scheme of ['http', 'https'] as const) expect((await get(publicUrl(gateway, scheme, NODE_LIST_PATH))).status, scheme).toBe(200);
  });

  it('the admin listener serves /metrics, /healthz and /readyz', async () => {
    const metrics = await get(gateway.adminUrl('/metrics'));
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metrics.text).toMatch(/^# HELP xwg_connections_open /m);
    expect(metrics.text).toContain('xwg_upstream_connect_seconds_bucket');
    const health = await get(gateway.adminUrl('/healthz'));
    expect([health.status, health.text]).toEqual([200, 'ok\n']);
    const ready = await get(gateway.adminUrl('/readyz'));
    expect([ready.status, ready.text]).toEqual([200, 'ready\n']);
    expect((await get(gateway.adminUrl('/healthz'), 'HEAD')).status).toBe(200);
    expect((await get(gateway.adminUrl('/readyz'), 'POST')).status).toBe(405);
  });

  it('the admin listener serves nothing else: no WebSocket, BOSH or discovery', async () => {
    await expect(openRawWebSocket(`ws://127.0.0.1:${gateway.ports.admin}/xmpp-websocket`)).rejects.toMatchObject({ status: 404 });
    expect((await httpRequest(gateway.adminUrl('/http-bind'), "<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='example.com' wait='1' hold='1' ver='1.11'/>")).status).toBe(404);
    expect((await get(gateway.adminUrl(NODE_LIST_PATH))).status).toBe(404);
  });

  it('the admin listener is on loopback (127.0.0.1) only', async () => {
    // 127.0.0.2 is the same machine: a listener on all addresses would answer there.
    expect(await dial(gateway.ports.admin, '127.0.0.2')).toBe('ECONNREFUSED');
    expect(await dial(gateway.ports.admin, '127.0.0.1')).toBe('connected');
  });
});

describe('admin.publicProbes', () => {
  it.each<Scheme>(['http', 'https'])('puts /healthz and /readyz on the public %s listener too, never /metrics', async (scheme) => {
    const gateway = await startGateway({ admin: { publicProbes: true } });
    try {
      const health = await get(publicUrl(gateway, scheme, '/healthz'));
      expect([health.status, health.text]).toEqual([200, 'ok\n']);
      const ready = await get(publicUrl(gateway, scheme, '/readyz'));
      expect([ready.status, ready.text]).toEqual([200, 'ready\n']);
      expect((await get(publicUrl(gateway, scheme, '/metrics'))).status).toBe(404);
      expect((await get(gateway.adminUrl('/metrics'))).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });
});

describe('admin.port 0', () => {
  it('runs no admin listener, and the public listeners still refuse /metrics', async () => {
    const gateway = await startGateway({ admin: { port: 0 } });
    try {
      expect(gateway.ports.admin).toBe(0);
      expect(() => gateway.adminUrl()).toThrow(/no admin listener/);
      for (const scheme of ['http', 'https'] as const) expect((await get(publicUrl(gateway, scheme, '/metrics'))).status).toBe(404);
    } finally {
      await gateway.close();
    }
  });
});

describe('drain', () => {
  it('fails /readyz on the admin port before any client is sent elsewhere; the admin port outlives the public ones', async () => {
    const gateway = await startGateway({
      nodeName: 'a',
      discovery: { nodes: [{ name: 'b', host: 'b.example.com', websocketUrl: 'wss://b.example.com/xmpp-websocket', ready: true }] },
      drain: { deadlineMs: 10_000 },
    });
    try {
      expect((await get(gateway.adminUrl('/readyz'))).status).toBe(200);
      const client = await openRawWebSocket(`wss://127.0.0.1:${gateway.ports.https}/xmpp-websocket`, { ca: ca.certPem });
      client.send(OPEN('example.com'));
      await client.waitFor(/stream:features/);

      // Asked the moment the client learns it must leave: readiness must already have failed by then.
      let askedOnSeeOther: Promise<[HttpResult, HttpResult]> | undefined;
      client.ws.on('message', (data) => {
        if (askedOnSeeOther === undefined && /see-other-uri=/.test(data.toString())) {
          askedOnSeeOther = Promise.all([get(gateway.adminUrl('/readyz')), get(gateway.adminUrl('/healthz'))]);
        }
      });
      const drained = gateway.drain();
      expect(await client.waitFor(/^<close /)).toContain("see-other-uri='wss://b.example.com/xmpp-websocket'");
      expect(askedOnSeeOther).toBeDefined();
      const [ready, health] = await askedOnSeeOther!;
      expect([ready.status, ready.text]).toEqual([503, 'draining\n']);
      // Alive all the same: the kubelet must not restart a draining node.
      expect(health.status).toBe(200);
      await client.closed;
      await drained;

      // Drained, not yet closed (the CLI closes right after): the public listeners are gone, the admin one answers.
      expect(await dial(gateway.ports.http)).toBe('ECONNREFUSED');
      expect(await dial(gateway.ports.https)).toBe('ECONNREFUSED');
      expect((await get(gateway.adminUrl('/readyz'))).status).toBe(503);
      expect((await get(gateway.adminUrl('/metrics'))).text).toMatch(/^xwg_closes_total\{transport="websocket",reason="see-other-uri"\} 1$/m);
    } finally {
      await gateway.close();
    }
    expect(await dial(gateway.ports.admin)).toBe('ECONNREFUSED');
  });
});
