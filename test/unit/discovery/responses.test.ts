import { describe, expect, it } from 'vitest';
import type { NodeList } from '../../../src/shared/gateway-config/index.ts';
import { discoveryResponse, type DiscoveryRequest } from '../../../src/gateway/discovery/responses.ts';
import { seeded } from './seeded.ts';

const list: NodeList = {
  version: '3',
  domains: ['example.com', 'example2.com'],
  nodes: [
    { name: 't1', host: 't1.example.com', ready: true },
    { name: 't2', host: 't2.example.com', ready: true },
    { name: 't3', host: 't3.example.com', ready: false },
  ],
};
const opts = { secure: true, random: seeded(1) };

function get(url: string, headers: DiscoveryRequest['headers'] = {}, method = 'GET', l: NodeList = list) {
  return discoveryResponse({ method, url, headers: { host: 'example.com', ...headers } }, l, opts);
}

describe('discoveryResponse', () => {
  it('returns null for other paths', () => {
    expect(get('/xmpp-websocket')).toBeNull();
    expect(get('/.well-known/host-meta/extra')).toBeNull();
    expect(get('/')).toBeNull();
  });

  it('serves host-meta as XRD and JRD, readable from any origin', () => {
    const xrd = get('/.well-known/host-meta');
    expect(xrd?.status).toBe(200);
    expect(xrd?.headers['Content-Type']).toBe('application/xrd+xml; charset=utf-8');
    expect(xrd?.headers['Access-Control-Allow-Origin']).toBe('*');
    expect(xrd?.body).toContain('wss://t1.example.com/xmpp-websocket');
    expect(xrd?.body).not.toContain('t3.example.com');

    const jrd = get('/.well-known/host-meta.json');
    expect(jrd?.headers['Content-Type']).toBe('application/jrd+json; charset=utf-8');
    expect(jrd?.headers['Access-Control-Allow-Origin']).toBe('*');
    expect((JSON.parse(jrd?.body ?? '') as { links: unknown[] }).links).toHaveLength(4);
  });

  it('serves the node list with caching headers', () => {
    const res = get('/.well-known/xmpp-web-nodes.json');
    expect(res?.status).toBe(200);
    expect(res?.headers['Content-Type']).toBe('application/json; charset=utf-8');
    expect(res?.headers['Cache-Control']).toBe('public, max-age=10');
    expect(res?.headers['Access-Control-Allow-Origin']).toBe('*');
    expect(res?.headers['Access-Control-Expose-Headers']).toBe('ETag');
    expect(res?.headers.ETag).toMatch(/^W\/"3-[\w-]{16}"$/);
    const doc = JSON.parse(res?.body ?? '') as { version: string; nodes: unknown[] };
    expect(doc.version).toBe('3');
    expect(doc.nodes).toHaveLength(3);
    expect(res?.headers['Content-Length']).toBe(String(Buffer.byteLength(res?.body ?? '')));
  });

  it('keeps the ETag across shuffles and changes it with the content', () => {
    const a = get('/.well-known/xmpp-web-nodes.json');
    const bodies = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = get('/.well-known/xmpp-web-nodes.json');
      expect(r?.headers.ETag).toBe(a?.headers.ETag);
      bodies.add(r?.body ?? '');
    }
    expect(bodies.size).toBeGreaterThan(1);
    const changed = { ...list, nodes: list.nodes.map((n) => ({ ...n, ready: true })) };
    expect(get('/.well-known/xmpp-web-nodes.json', {}, 'GET', changed)?.headers.ETag).not.toBe(a?.headers.ETag);
    expect(get('/.well-known/xmpp-web-nodes.json', {}, 'GET', { ...list, version: '4' })?.headers.ETag).not.toBe(a?.headers.ETag);
  });

  it('answers 304 to a matching If-None-Match, weak or strong, in a list, or *', () => {
    const etag = get('/.well-known/xmpp-web-nodes.json')?.headers.ETag ?? '';
    const strong = etag.replace(/^W\//, '');
    for (const inm of [etag, strong, `"other", ${etag}`, '*']) {
      const r = get('/.well-known/xmpp-web-nodes.json', { 'if-none-match': inm });
      expect(r?.status).toBe(304);
      expect(r?.body).toBe('');
      expect(r?.headers.ETag).toBe(etag);
      expect(r?.headers['Access-Control-Allow-Origin']).toBe('*');
    }
    expect(get('/.well-known/xmpp-web-nodes.json', { 'if-none-match': '"stale"' })?.status).toBe(200);
  });

  it('answers HEAD with the headers of GET and no body', () => {
    const head = get('/.well-known/xmpp-web-nodes.json', {}, 'HEAD');
    expect(head?.status).toBe(200);
    expect(head?.body).toBe('');
    expect(Number(head?.headers['Content-Length'])).toBeGreaterThan(0);
    expect(head?.headers.ETag).toBeDefined();
  });

  it('refuses other methods with 405 and answers a CORS preflight', () => {
    const post = get('/.well-known/host-meta', {}, 'POST');
    expect(post?.status).toBe(405);
    expect(post?.headers.Allow).toBe('GET, HEAD, OPTIONS');
    const pre = get('/.well-known/xmpp-web-nodes.json', { 'access-control-request-method': 'GET' }, 'OPTIONS');
    expect(pre?.status).toBe(204);
    expect(pre?.headers['Access-Control-Allow-Origin']).toBe('*');
    expect(pre?.headers['Access-Control-Allow-Methods']).toContain('GET');
    expect(pre?.headers['Access-Control-Allow-Headers']).toContain('If-None-Match');
  });

  describe('requested domain', () => {
    it('is the Host header without its port', () => {
      expect(get('/.well-known/host-meta', { host: 'example2.com:443' })?.status).toBe(200);
      expect(get('/.well-known/host-meta', { host: 'EXAMPLE.com.' })?.status).toBe(200);
      expect(get('/.well-known/host-meta', { host: 'evil.example' })?.status).toBe(404);
      expect(get('/.well-known/host-meta', { host: undefined })?.status).toBe(404);
    });

    it('is ?domain= when given, whatever the Host', () => {
      expect(get('/.well-known/xmpp-web-nodes.json?domain=example2.com', { host: '127.0.0.1:5280' })?.status).toBe(200);
      expect(get('/.well-known/xmpp-web-nodes.json?domain=other.org', { host: 'example.com' })?.status).toBe(404);
    });

    it("accepts a node's own host, so clients can re-discover from the node they are on", () => {
      expect(get('/.well-known/xmpp-web-nodes.json', { host: 't2.example.com' })?.status).toBe(200);
    });

    it('is anything when the list names no domains', () => {
      expect(get('/.well-known/host-meta', { host: 'whatever.test' }, 'GET', { ...list, domains: [] })?.status).toBe(200);
    });

    it('404 still carries CORS so the browser can read the failure', () => {
      expect(get('/.well-known/host-meta', { host: 'x.test' })?.headers['Access-Control-Allow-Origin']).toBe('*');
    });
  });
});
