import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../../src/shared/gateway-config/index.ts';
import { DiscoveryEndpoint } from '../../../src/gateway/discovery/endpoint.ts';
import { seeded } from './seeded.ts';

const silent = { info() {}, warn() {}, error() {} };

function config(over: Record<string, unknown> = {}) {
  return parseGatewayConfig({
    nodeName: 't1',
    domains: ['example.com'],
    upstream: { default: { host: 'xmpp.internal' } },
    discovery: {
      nodes: [
        { name: 't1', host: 't1.example.com' },
        { name: 't2', host: 't2.example.com' },
        { name: 't3', host: 't3.example.com', ready: false },
      ],
    },
    ...over,
  });
}

function fakeRes() {
  const out = { status: 0, headers: {} as Record<string, string>, body: '' };
  const res = {
    writeHead(status: number, headers: Record<string, string>) {
      out.status = status;
      out.headers = headers;
      return res;
    },
    end(body: string) {
      out.body = body;
    },
  };
  return { res: res as unknown as ServerResponse, out };
}

const req = (url: string, host = 'example.com') => ({ method: 'GET', url, headers: { host } }) as unknown as IncomingMessage;

describe('DiscoveryEndpoint', () => {
  it('answers discovery paths and leaves others alone', async () => {
    const d = new DiscoveryEndpoint(config(), silent, seeded(1));
    await d.start();
    const { res, out } = fakeRes();
    expect(d.handle(req('/.well-known/host-meta'), res, { clientAddress: '1.2.3.4', secure: true })).toBe(true);
    expect(out.status).toBe(200);
    expect(out.body).toContain("href='wss://t1.example.com/xmpp-websocket'");
    expect(d.handle(req('/http-bind'), fakeRes().res, { clientAddress: '1.2.3.4', secure: true })).toBe(false);
    d.close();
  });

  it('publishes ws/http to a plain request in auto mode without TLS, wss/https when secure is forced', async () => {
    const auto = new DiscoveryEndpoint(config(), silent);
    await auto.start();
    const a = fakeRes();
    auto.handle(req('/.well-known/host-meta.json'), a.res, { clientAddress: 'x', secure: false });
    expect(a.out.body).toContain('ws://t1.example.com/xmpp-websocket');

    const forced = new DiscoveryEndpoint(config({ discovery: { publicScheme: 'secure', nodes: [{ name: 'a', host: 'a' }] } }), silent);
    await forced.start();
    const f = fakeRes();
    forced.handle(req('/.well-known/host-meta.json', 'a'), f.res, { clientAddress: 'x', secure: false });
    expect(f.out.body).toContain('wss://a/xmpp-websocket');
  });

  it('uses the first configured path and leaves out a disabled transport', async () => {
    const d = new DiscoveryEndpoint(config({ websocket: { paths: ['/ws'] }, bosh: { enabled: false } }), silent);
    await d.start();
    const { res, out } = fakeRes();
    d.handle(req('/.well-known/xmpp-web-nodes.json'), res, { clientAddress: 'x', secure: true });
    const doc = JSON.parse(out.body) as { nodes: { websocketUrl?: string; boshUrl?: string }[] };
    expect(doc.nodes.every((n) => n.websocketUrl?.endsWith('/ws') && n.boshUrl === undefined)).toBe(true);
  });

  it('otherNodeUrl: a ready node other than self, for the drain', async () => {
    const d = new DiscoveryEndpoint(config(), silent, seeded(2));
    await d.start();
    for (let i = 0; i < 20; i++) {
      expect(d.otherNodeUrl('t1', 'websocketUrl', true)).toBe('wss://t2.example.com/xmpp-websocket');
      expect(d.otherNodeUrl('t1', 'boshUrl')).toBe('http://t2.example.com/http-bind');
    }
    expect(d.otherNodeUrl('t2', 'boshUrl', true)).toBe('https://t1.example.com/http-bind');
  });
});
