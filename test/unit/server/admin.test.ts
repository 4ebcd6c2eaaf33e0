// The operational endpoints: which listener serves which, the probe answers, and the admin listener itself.
import { once } from 'node:events';
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { createAdminListener, opsAnswer, opsEndpointFor, type ListenerKind, type OpsSource, type Readiness } from '../../../src/gateway/server/admin.ts';
import { recordingLog } from './tls-fixtures.ts';

describe('opsEndpointFor', () => {
  it.each<[string, ListenerKind, boolean, string | undefined]>([
    ['/metrics', 'admin', false, 'metrics'],
    ['/healthz', 'admin', false, 'healthz'],
    ['/readyz', 'admin', false, 'readyz'],
    ['/metrics', 'public', false, undefined],
    ['/metrics', 'public', true, undefined],
    ['/healthz', 'public', false, undefined],
    ['/readyz', 'public', false, undefined],
    ['/healthz', 'public', true, 'healthz'],
    ['/readyz', 'public', true, 'readyz'],
    ['/metrics/', 'admin', false, undefined],
    ['/xmpp-websocket', 'admin', false, undefined],
    ['/http-bind', 'public', true, undefined],
  ])('%s on the %s listener (publicProbes %s): %s', (path, listener, publicProbes, expected) => {
    expect(opsEndpointFor(path, listener, publicProbes)).toBe(expected);
  });
});

describe('opsAnswer', () => {
  it.each<['healthz' | 'readyz', string, Readiness, number, string]>([
    ['healthz', 'GET', 'ready', 200, 'ok\n'],
    ['healthz', 'GET', 'draining', 200, 'ok\n'],
    ['healthz', 'HEAD', 'starting', 200, 'ok\n'],
    ['readyz', 'GET', 'ready', 200, 'ready\n'],
    ['readyz', 'GET', 'draining', 503, 'draining\n'],
    ['readyz', 'GET', 'starting', 503, 'starting\n'],
    ['readyz', 'POST', 'ready', 405, 'method not allowed\n'],
    ['healthz', 'DELETE', 'ready', 405, 'method not allowed\n'],
  ])('%s %s while %s: %i', (endpoint, method, readiness, status, body) => {
    const answer = opsAnswer(endpoint, method, readiness)!;
    expect(answer.status).toBe(status);
    expect(answer.body).toBe(body);
    expect(answer.headers['Cache-Control']).toBe('no-store');
    if (status === 405) expect(answer.headers.Allow).toBe('GET, HEAD');
  });

  it('leaves /metrics to the registry, for GET only', () => {
    expect(opsAnswer('metrics', 'GET', 'draining')).toBeUndefined();
    expect(opsAnswer('metrics', 'PUT', 'ready')?.status).toBe(405);
  });
});

describe('admin listener', () => {
  it('serves the probes and the registry, 404 for anything else, and refuses upgrades', async () => {
    let readiness: Readiness = 'ready';
    const source: OpsSource = { readiness: () => readiness, metrics: async () => ({ contentType: 'text/plain; version=0.0.4', text: 'xwg_up 1\n' }) };
    const admin = createAdminListener({ host: '127.0.0.1', port: 0, source, log: recordingLog().log });
    const port = await admin.start();
    const get = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${port}${path}`, init);
    try {
      const metrics = await get('/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4');
      expect(await metrics.text()).toBe('xwg_up 1\n');
      expect((await get('/healthz')).status).toBe(200);
      expect((await get('/readyz?verbose')).status).toBe(200);
      readiness = 'draining';
      expect((await get('/readyz')).status).toBe(503);
      expect((await get('/healthz')).status).toBe(200);
      expect((await get('/http-bind', { method: 'POST', body: '<body/>' })).status).toBe(404);
      const upgrade = http.request({ host: '127.0.0.1', port, path: '/xmpp-websocket', headers: { Connection: 'Upgrade', Upgrade: 'websocket' } });
      upgrade.end();
      const [refused] = (await once(upgrade, 'response')) as [http.IncomingMessage];
      expect(refused.statusCode).toBe(404);
      refused.resume();
    } finally {
      admin.close();
    }
  });

  it('answers 500 when the registry fails', async () => {
    const source: OpsSource = { readiness: () => 'ready', metrics: () => Promise.reject(new Error('collect failed')) };
    const admin = createAdminListener({ host: '127.0.0.1', port: 0, source, log: recordingLog().log });
    const port = await admin.start();
    try {
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(500);
    } finally {
      admin.close();
    }
  });
});
