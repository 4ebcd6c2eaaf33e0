// The operator's own kubeconfig reading (controller/kubeconfig.ts): the cases it handles itself give the same
// request options as client-node's KubeConfig; the others go to client-node.
import { mkdtempSync, writeFileSync } from 'node:fs';
import type https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { fromKubeconfigText, loadCredentials } from '../../../src/operator/controller/kubeconfig.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'other', cluster: { server: 'https://10.9.9.9' } }, { name: 'c', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': b64('CA PEM'), ...cluster } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });
}

async function options(c: { applyToHTTPSOptions(o: https.RequestOptions): Promise<void> }): Promise<Record<string, string | undefined>> {
  const o: https.RequestOptions = {};
  await c.applyToHTTPSOptions(o);
  const s = (v: unknown) => (v === undefined ? undefined : Buffer.isBuffer(v) ? v.toString() : String(v));
  return { ca: s(o.ca), cert: s(o.cert), key: s(o.key), auth: s((o.headers as Record<string, string> | undefined)?.Authorization), reject: s(o.rejectUnauthorized) };
}

describe('kubeconfig credentials without client-node', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'xwg-kc-'));
  writeFileSync(path.join(dir, 'token'), 'file-token\n');
  writeFileSync(path.join(dir, 'client.crt'), 'CERT PEM');
  const cases: [string, string][] = [
    ['a token', kubeconfig({ token: 'abc' })],
    ['a client certificate (data and file)', kubeconfig({ 'client-certificate': 'client.crt', 'client-key-data': b64('KEY PEM') })],
    ['insecure-skip-tls-verify', kubeconfig({ token: 't' }, { 'insecure-skip-tls-verify': true, 'certificate-authority-data': undefined })],
  ];
  for (const [what, text] of cases) {
    it(`reads ${what} as client-node does`, async () => {
      const file = path.join(dir, 'config');
      writeFileSync(file, text);
      const ours = fromKubeconfigText(text, dir)!;
      expect(ours).toBeDefined();
      const theirs = new KubeConfig();
      theirs.loadFromFile(file);
      expect(ours.getCurrentCluster()?.server).toBe(theirs.getCurrentCluster()?.server);
      const [a, b] = [await options(ours), await options(theirs)];
      expect(a.ca).toBe(b.ca);
      expect(a.cert).toBe(b.cert);
      expect(a.key).toBe(b.key);
      expect(a.auth).toBe(b.auth);
      expect(a.reject ?? 'true').toBe(b.reject ?? 'true');
    });
  }

  it('reads a token file relative to the kubeconfig, as kubectl does (client-node ignores tokenFile)', async () => {
    const c = fromKubeconfigText(kubeconfig({ tokenFile: 'token' }), dir)!;
    expect((await options(c)).auth).toBe('Bearer file-token');
  });

  it('leaves exec plugins and proxies to client-node', async () => {
    expect(fromKubeconfigText(kubeconfig({ exec: { command: 'x', apiVersion: 'client.authentication.k8s.io/v1' } }), dir)).toBeUndefined();
    expect(fromKubeconfigText(kubeconfig({ token: 't' }, { 'proxy-url': 'http://proxy:3128' }), dir)).toBeUndefined();
    const file = path.join(dir, 'exec-config');
    writeFileSync(file, kubeconfig({ exec: { command: 'x', apiVersion: 'client.authentication.k8s.io/v1' } }));
    expect(await loadCredentials(file)).toBeInstanceOf(KubeConfig);
  });

  it('passes a loaded KubeConfig through', async () => {
    const kc = new KubeConfig();
    expect(await loadCredentials(kc)).toBe(kc);
  });
});
