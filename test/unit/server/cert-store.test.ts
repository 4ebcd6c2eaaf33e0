import { once } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { CertStore, type CertStoreOptions } from '../../../src/gateway/server/cert-store.ts';
import { recordingLog, servedCert, tempDir, writePair, writeSecretVolume } from './tls-fixtures.ts';
import { selfSignedCertificate } from '../../../dev/harness/pki.ts';
import { sleep } from '../../../dev/harness/wait.ts';

const A = selfSignedCertificate('a.example', ['a.example', 'www.a.example']);
const B = selfSignedCertificate('b.example', ['b.example', '*.b.example']);
const C = selfSignedCertificate('c.example', []); // CN only
const A2 = selfSignedCertificate('a.example', ['a.example', 'new.a.example']);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function open(dir: string, options: Partial<CertStoreOptions> = {}) {
  const rec = recordingLog();
  const store = await CertStore.open({ dir, log: rec.log, pollIntervalMs: 0, watch: false, ...options });
  cleanups.push(() => store.close());
  return { store, ...rec };
}

/** A TLS server as the listeners build it: SNICallback from the store, the default pair as its own context. */
async function tlsServer(store: CertStore): Promise<number> {
  const server = tls.createServer({ SNICallback: store.SNICallback }, (s) => s.on('error', () => {}).pipe(s));
  const setDefault = () => {
    const d = store.defaultCredentials();
    if (d) server.setSecureContext({ cert: d.cert, key: d.key });
  };
  setDefault();
  store.on('reload', setDefault);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

function layout(): string {
  const dir = tempDir();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writePair(dir, 'a', A);
  mkdirSync(path.join(dir, 'b'));
  writePair(path.join(dir, 'b'), 'tls', B);
  mkdirSync(path.join(dir, 'c'));
  writeSecretVolume(path.join(dir, 'c'), C, 1);
  return dir;
}

describe('CertStore loading', () => {
  it('loads file pairs, plain sub-directories and Kubernetes Secret volumes, indexed by SAN or CN', async () => {
    const { store } = await open(layout());
    expect(store.names()).toEqual(['*.b.example', 'a.example', 'b.example', 'c.example', 'www.a.example']);
    expect(store.certificates().map((c) => c.name).sort()).toEqual(['a', 'b', 'c']);
    expect(store.snapshot().defaultName).toBe('a');
  });

  it('reports notAfter from the certificate', async () => {
    const { store } = await open(layout());
    const a = store.certificates().find((c) => c.name === 'a')!;
    const days = (a.notAfter.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29);
    expect(days).toBeLessThanOrEqual(30);
    expect(a.fingerprint256).toBe(A.fingerprint256);
  });

  it('ignores a .crt without its .key and hidden entries', async () => {
    const dir = layout();
    writeFileSync(path.join(dir, 'lonely.crt'), A.cert);
    writePair(dir, '.hidden', A);
    const { store } = await open(dir);
    expect(store.certificates().map((c) => c.name).sort()).toEqual(['a', 'b', 'c']);
  });

  it('logs a missing directory and serves nothing', async () => {
    const { store, calls } = await open('/nonexistent/certs');
    expect(store.defaultContext()).toBeUndefined();
    expect(calls.some((c) => c.level === 'error')).toBe(true);
  });
});

describe('CertStore SNI selection', () => {
  it('serves the exact name, then a one-label wildcard, then the default', async () => {
    const { store } = await open(layout());
    const port = await tlsServer(store);
    expect((await servedCert(port, 'a.example')).fingerprint256).toBe(A.fingerprint256);
    expect((await servedCert(port, 'WWW.A.EXAMPLE')).fingerprint256).toBe(A.fingerprint256);
    expect((await servedCert(port, 'b.example')).fingerprint256).toBe(B.fingerprint256);
    expect((await servedCert(port, 'chat.b.example')).fingerprint256).toBe(B.fingerprint256);
    expect((await servedCert(port, 'c.example')).fingerprint256).toBe(C.fingerprint256);
    // a wildcard covers one label only
    expect((await servedCert(port, 'deep.chat.b.example')).fingerprint256).toBe(A.fingerprint256);
    expect((await servedCert(port, 'other.example')).fingerprint256).toBe(A.fingerprint256);
    expect((await servedCert(port)).fingerprint256).toBe(A.fingerprint256);
  });

  it('serves listen.defaultCert when set', async () => {
    const { store } = await open(layout(), { defaultCert: 'c' });
    const port = await tlsServer(store);
    expect((await servedCert(port, 'other.example')).fingerprint256).toBe(C.fingerprint256);
    expect((await servedCert(port)).fingerprint256).toBe(C.fingerprint256);
    expect(store.defaultContext()).toBe(store.contextFor('c.example'));
  });

  it('falls back to the first by name, with a warning, when listen.defaultCert is not loaded', async () => {
    const { store, calls } = await open(layout(), { defaultCert: 'missing' });
    expect(store.defaultCredentials()?.name).toBe('a');
    expect(calls.some((c) => c.level === 'warn' && /defaultCert/.test(c.msg ?? ''))).toBe(true);
  });
});

describe('CertStore reload', () => {
  it('picks up replaced files (fs.watch), keeping established connections on their certificate', async () => {
    const dir = layout();
    const { store } = await open(dir, { watch: true });
    const port = await tlsServer(store);

    const old = tls.connect({ host: '127.0.0.1', port, servername: 'a.example', rejectUnauthorized: false });
    await once(old, 'secureConnect');
    cleanups.push(() => old.destroy());

    const reloaded = once(store, 'reload');
    writePair(dir, 'a', A2);
    const [snapshot] = await reloaded;
    expect(snapshot.certificates.find((c: { name: string }) => c.name === 'a').dnsNames).toEqual(['a.example', 'new.a.example']);
    expect(store.names()).toContain('new.a.example');
    expect(store.names()).not.toContain('www.a.example');
    expect((await servedCert(port, 'a.example')).fingerprint256).toBe(A2.fingerprint256);
    expect(old.getPeerCertificate().fingerprint256).toBe(A.fingerprint256);
    old.write('still here');
    const [echo] = await once(old, 'data');
    expect(String(echo)).toBe('still here');
  });

  it('follows a ..data symlink swap in a Secret volume', async () => {
    const dir = layout();
    const { store } = await open(dir, { watch: true });
    const port = await tlsServer(store);
    const C2 = selfSignedCertificate('c.example', ['c.example', 'chat.c.example']);
    const reloaded = once(store, 'reload');
    writeSecretVolume(path.join(dir, 'c'), C2, 2);
    await reloaded;
    expect((await servedCert(port, 'chat.c.example')).fingerprint256).toBe(C2.fingerprint256);
  });

  it('notices changes by polling when fs.watch sees nothing', async () => {
    const dir = layout();
    const { store } = await open(dir, { watch: false, pollIntervalMs: 50 });
    const reloaded = once(store, 'reload');
    writePair(path.join(dir, 'b'), 'tls', A2);
    await reloaded;
    expect(store.certificates().find((c) => c.name === 'b')?.fingerprint256).toBe(A2.fingerprint256);
  });

  it('keeps the previous pair when the new one is mismatched or garbage, logging it once', async () => {
    const dir = layout();
    const { store, calls } = await open(dir);
    const before = store.contextFor('a.example');
    writePair(dir, 'a', { cert: A2.cert, key: A.key });
    await store.reload();
    await store.reload();
    expect(store.contextFor('a.example')).toBe(before);
    expect(calls.filter((c) => c.level === 'error' && c.obj && (c.obj as { name?: string }).name === 'a')).toHaveLength(1);

    writePair(dir, 'a', { cert: 'not a certificate', key: A.key });
    await store.reload();
    expect(store.contextFor('a.example')).toBe(before);
    expect(calls.filter((c) => c.level === 'error')).toHaveLength(2);

    const reloaded = once(store, 'reload');
    writePair(dir, 'a', A2);
    await store.reload();
    await reloaded;
    expect(store.contextFor('a.example')).not.toBe(before);
  });

  it('does not serve a bad pair that never loaded', async () => {
    const dir = layout();
    writePair(dir, 'broken', { cert: B.cert, key: A.key });
    const { store, calls } = await open(dir);
    expect(store.certificates().map((c) => c.name)).not.toContain('broken');
    expect(calls.some((c) => c.level === 'error' && /bad certificate pair/.test(c.msg ?? ''))).toBe(true);
  });

  it('drops a pair whose files are removed and moves the default', async () => {
    const dir = layout();
    const { store } = await open(dir);
    rmSync(path.join(dir, 'a.crt'));
    const reloaded = once(store, 'reload');
    await store.reload();
    const [snapshot] = await reloaded;
    expect(snapshot.defaultName).toBe('b');
    expect(store.contextFor('a.example')).toBe(store.contextFor('b.example'));
  });

  it('stops watching and polling on close', async () => {
    const dir = layout();
    const { store } = await open(dir, { watch: true, pollIntervalMs: 20 });
    store.close();
    let reloads = 0;
    store.on('reload', () => reloads++);
    writePair(dir, 'a', A2);
    // Time in which nothing must happen: a watch event or a 20 ms poll would reload.
    await sleep(250);
    expect(reloads).toBe(0);
  });
});
