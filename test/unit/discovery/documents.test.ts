import { describe, expect, it } from 'vitest';
import type { NodeList } from '../../../src/shared/gateway-config/index.ts';
import {
  hostMetaJrd,
  hostMetaLinks,
  hostMetaXrd,
  nodeListDocument,
  nodeUrls,
  shuffle,
  WEBSOCKET_REL,
  XBOSH_REL,
} from '../../../src/gateway/discovery/documents.ts';
import { seeded } from './seeded.ts';

const list: NodeList = {
  version: '7',
  domains: ['example.com', 'example2.com'],
  nodes: [
    { name: 't1', host: 't1.example.com', ready: true },
    { name: 't2', host: 't2.example.com', ready: true },
    { name: 't3', host: 't3.example.com', ready: true },
    { name: 'draining', host: 't4.example.com', ready: false },
  ],
};

describe('nodeUrls', () => {
  const node = { name: 'n', host: 't1.example.com', ready: true };

  it('derives wss/https when secure and ws/http when plain', () => {
    expect(nodeUrls(node, { secure: true })).toEqual({
      websocketUrl: 'wss://t1.example.com/xmpp-websocket',
      boshUrl: 'https://t1.example.com/http-bind',
    });
    expect(nodeUrls(node, { secure: false })).toEqual({
      websocketUrl: 'ws://t1.example.com/xmpp-websocket',
      boshUrl: 'http://t1.example.com/http-bind',
    });
  });

  it('adds the port only to hosts without one, and never the default port', () => {
    const local = { name: 'l', host: '127.0.0.1', ready: true };
    expect(nodeUrls(local, { secure: false, port: 5280 }).websocketUrl).toBe('ws://127.0.0.1:5280/xmpp-websocket');
    expect(nodeUrls({ ...local, host: '127.0.0.1:6000' }, { secure: false, port: 5280 }).boshUrl).toBe('http://127.0.0.1:6000/http-bind');
    expect(nodeUrls(node, { secure: true, port: 443 }).websocketUrl).toBe('wss://t1.example.com/xmpp-websocket');
    expect(nodeUrls({ ...local, host: '::1' }, { secure: false, port: 5280 }).websocketUrl).toBe('ws://[::1]:5280/xmpp-websocket');
    expect(nodeUrls({ ...local, host: '[::1]:7000' }, { secure: false, port: 5280 }).websocketUrl).toBe('ws://[::1]:7000/xmpp-websocket');
  });

  it('uses configured paths', () => {
    expect(nodeUrls(node, { secure: true, websocketPath: '/ws', boshPath: '/bosh' })).toEqual({
      websocketUrl: 'wss://t1.example.com/ws',
      boshUrl: 'https://t1.example.com/bosh',
    });
  });

  it('keeps explicit URLs, dropping insecure ones when secure rather than guessing', () => {
    const explicit = { ...node, websocketUrl: 'ws://t1.example.com:8080/x', boshUrl: 'https://b.example.com/bind' };
    expect(nodeUrls(explicit, { secure: true })).toEqual({ boshUrl: 'https://b.example.com/bind' });
    expect(nodeUrls(explicit, { secure: false })).toEqual({ websocketUrl: 'ws://t1.example.com:8080/x', boshUrl: 'https://b.example.com/bind' });
  });

  it('drops explicit URLs of the wrong scheme or unparsable', () => {
    expect(nodeUrls({ ...node, websocketUrl: 'https://x/ws', boshUrl: 'not a url' }, { secure: true })).toEqual({});
  });
});

describe('host-meta', () => {
  it('lists WebSocket and BOSH links of ready nodes only (XRD)', () => {
    const xrd = hostMetaXrd(list, { secure: true, random: seeded(1) });
    expect(xrd).toContain("<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>");
    expect(xrd.startsWith("<?xml version='1.0' encoding='utf-8'?>")).toBe(true);
    for (const h of ['t1', 't2', 't3']) {
      expect(xrd).toContain(`<Link rel='urn:xmpp:alt-connections:websocket' href='wss://${h}.example.com/xmpp-websocket'/>`);
      expect(xrd).toContain(`<Link rel='urn:xmpp:alt-connections:xbosh' href='https://${h}.example.com/http-bind'/>`);
    }
    expect(xrd).not.toContain('t4.example.com');
  });

  it('escapes attribute values', () => {
    const odd: NodeList = { ...list, nodes: [{ name: 'q', host: 'q', websocketUrl: "wss://q/a?b=1&c='", ready: true }] };
    expect(hostMetaXrd(odd, { secure: true, random: Math.random })).toContain("href='wss://q/a?b=1&#38;c=&#39;'");
  });

  it('publishes only secure links when secure', () => {
    const mixed: NodeList = { ...list, nodes: [{ name: 'm', host: 'm', websocketUrl: 'ws://m/ws', boshUrl: 'http://m/b', ready: true }] };
    expect(hostMetaLinks(mixed, { secure: true, random: Math.random })).toEqual([]);
    expect(hostMetaLinks(mixed, { secure: false, random: Math.random })).toHaveLength(2);
  });

  it('JRD has the same links', () => {
    const jrd = JSON.parse(hostMetaJrd(list, { secure: true, random: seeded(2) })) as { links: { rel: string; href: string }[] };
    expect(jrd.links).toHaveLength(6);
    expect(jrd.links.filter((l) => l.rel === WEBSOCKET_REL).map((l) => l.href).sort()).toEqual([
      'wss://t1.example.com/xmpp-websocket',
      'wss://t2.example.com/xmpp-websocket',
      'wss://t3.example.com/xmpp-websocket',
    ]);
  });

  it('orders both relations by the same shuffle, so first and last links name one node', () => {
    const random = seeded(3);
    for (let i = 0; i < 50; i++) {
      const links = hostMetaLinks(list, { secure: true, random });
      const ws = links.filter((l) => l.rel === WEBSOCKET_REL).map((l) => new URL(l.href).host);
      const bosh = links.filter((l) => l.rel === XBOSH_REL).map((l) => new URL(l.href).host);
      expect(bosh).toEqual(ws);
    }
  });

  it('spreads the first link evenly over ready nodes', () => {
    const random = seeded(42);
    const first = new Map<string, number>();
    const n = 30_000;
    for (let i = 0; i < n; i++) {
      const href = hostMetaLinks(list, { secure: true, random })[0]?.href ?? '';
      first.set(href, (first.get(href) ?? 0) + 1);
    }
    expect(first.size).toBe(3);
    for (const count of first.values()) expect(Math.abs(count / n - 1 / 3)).toBeLessThan(0.015);
  });
});

describe('shuffle', () => {
  it('gives every permutation about equally often (Fisher–Yates, not sort-by-random)', () => {
    const random = seeded(7);
    const seen = new Map<string, number>();
    const n = 60_000;
    for (let i = 0; i < n; i++) {
      const key = shuffle(['a', 'b', 'c'], random).join('');
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    expect(seen.size).toBe(6);
    for (const count of seen.values()) expect(Math.abs(count / n - 1 / 6)).toBeLessThan(0.01);
  });

  it('does not modify its input and survives random() returning values near 1', () => {
    const input = [1, 2, 3];
    expect(shuffle(input, () => 0.9999999999).sort()).toEqual([1, 2, 3]);
    expect(input).toEqual([1, 2, 3]);
  });
});

describe('nodeListDocument', () => {
  it('has version, domains and every node with its URLs and readiness', () => {
    const doc = nodeListDocument(list, { secure: true, random: seeded(5) });
    expect(doc.version).toBe('7');
    expect(doc.domains).toEqual(['example.com', 'example2.com']);
    expect(doc.nodes.map((n) => n.name).sort()).toEqual(['draining', 't1', 't2', 't3']);
    expect(doc.nodes.find((n) => n.name === 'draining')).toEqual({
      name: 'draining',
      host: 't4.example.com',
      websocketUrl: 'wss://t4.example.com/xmpp-websocket',
      boshUrl: 'https://t4.example.com/http-bind',
      ready: false,
    });
  });

  it('omits nodes left without any URL', () => {
    const insecure: NodeList = { ...list, nodes: [{ name: 'x', host: 'x', websocketUrl: 'ws://x/', boshUrl: 'http://x/', ready: true }] };
    expect(nodeListDocument(insecure, { secure: true, random: Math.random }).nodes).toEqual([]);
  });

  it('shuffles the nodes per document', () => {
    const random = seeded(9);
    const orders = new Set<string>();
    for (let i = 0; i < 50; i++) orders.add(nodeListDocument(list, { secure: true, random }).nodes.map((n) => n.name).join());
    expect(orders.size).toBeGreaterThan(10);
  });
});
