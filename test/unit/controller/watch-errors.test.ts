// What KubeClient.watch makes of a 410 Gone, so the informer relists: an ERROR event carrying a Status with
// code 410 mid-stream, and an HTTP 410 answer to the watch request. node:http is replaced by an in-memory
// stand-in (no sockets).
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { beforeEach, describe, expect, it, vi } from 'vitest';

interface FakeResponse {
  status: number;
  lines: string[];
  /** keep the stream open after the lines */
  open?: boolean;
}

const http = vi.hoisted(() => {
  const state = { next: [] as FakeResponse[], requests: [] as { url: string; method: string }[] };
  return state;
});

vi.mock('node:http', () => {
  class Agent {
    constructor(_o?: unknown) {}
  }
  const request = (url: URL, opts: { method: string; signal?: AbortSignal }) => {
    const req = new EventEmitter() as EventEmitter & { setTimeout(): void; end(): void; destroy(e?: Error): void };
    http.requests.push({ url: url.toString(), method: opts.method });
    req.setTimeout = () => {};
    req.destroy = () => {};
    req.end = () => {
      const spec = http.next.shift() ?? { status: 500, lines: [] };
      const res = new PassThrough() as PassThrough & { statusCode: number };
      res.statusCode = spec.status;
      for (const l of spec.lines) res.write(`${l}\n`);
      if (!spec.open) res.end();
      opts.signal?.addEventListener('abort', () => res.destroy(new Error('aborted')));
      queueMicrotask(() => req.emit('response', res));
    };
    return req;
  };
  return { default: { request, Agent }, request, Agent };
});

const { KubeClient, isGone, ApiError } = await import('../../../src/operator/controller/kube-client.ts');
const { CONFIGMAPS } = await import('../../../src/operator/controller/resources.ts');

function client() {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'http://kube.invalid', skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return KubeClient.fromKubeConfig(kc);
}

const cm = (name: string, rv: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv } });

beforeEach(() => {
  http.next.length = 0;
  http.requests.length = 0;
});

describe('KubeClient.watch and 410 Gone', () => {
  it('yields the events, then throws a 410 ApiError for an ERROR event with code 410', async () => {
    http.next.push({
      status: 200,
      lines: [
        JSON.stringify({ type: 'ADDED', object: cm('a', '5') }),
        JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'too old resource version: 1 (5)', reason: 'Expired', code: 410 } }),
      ],
    });
    const seen: string[] = [];
    let error: unknown;
    try {
      for await (const ev of client().watch(CONFIGMAPS, { namespace: 'ns', resourceVersion: '1' })) seen.push(`${ev.type} ${ev.object.metadata?.name}`);
    } catch (e) {
      error = e;
    }
    expect(seen).toEqual(['ADDED a']);
    expect(isGone(error)).toBe(true);
    expect((error as InstanceType<typeof ApiError>).reason).toBe('Expired');
    expect(http.requests[0]?.url).toContain('/api/v1/namespaces/ns/configmaps?watch=1');
    expect(http.requests[0]?.url).toContain('resourceVersion=1');
  });

  it('throws a 410 ApiError when the watch request itself is answered 410', async () => {
    http.next.push({ status: 410, lines: [JSON.stringify({ kind: 'Status', message: 'too old', reason: 'Gone', code: 410 })] });
    const iterate = async () => {
      for await (const _ of client().watch(CONFIGMAPS, { resourceVersion: '1' })) void _;
    };
    await expect(iterate()).rejects.toSatisfy(isGone);
  });

  it('an ERROR event with another code is no 410 (the informer backs off instead of relisting)', async () => {
    http.next.push({ status: 200, lines: [JSON.stringify({ type: 'ERROR', object: { kind: 'Status', message: 'internal', code: 500 } })] });
    let error: unknown;
    try {
      for await (const _ of client().watch(CONFIGMAPS)) void _;
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ApiError);
    expect(isGone(error)).toBe(false);
    expect((error as InstanceType<typeof ApiError>).status).toBe(500);
  });

  it('ends quietly when the server closes the stream (its timeout)', async () => {
    http.next.push({ status: 200, lines: [JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } })] });
    const seen: string[] = [];
    for await (const ev of client().watch(CONFIGMAPS)) seen.push(ev.type);
    expect(seen).toEqual(['BOOKMARK']);
  });
});
