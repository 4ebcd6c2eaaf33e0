import { describe, expect, it } from 'vitest';
import { connect, DiscoveryError, type NodeDirectory, type WebNode } from '../../../src/client/index.ts';
import { fakeClock, fakeFetch, fakeStorage, seeded } from './fakes.ts';

const node = (name: string, extra: Partial<WebNode> = {}): WebNode => ({
  name,
  host: `${name}.example.com`,
  websocketUrl: `wss://${name}.example.com/xmpp-websocket`,
  boshUrl: `https://${name}.example.com/http-bind`,
  ready: true,
  ...extra,
});
const directory: NodeDirectory = { domains: ['example.com', 'example2.com'], nodes: [node('t1'), node('t2'), node('t3')] };

const base = () => ({ domain: 'example2.com', directory, storage: fakeStorage(), random: seeded(4), now: fakeClock().now, probe: false as const });

describe('connect', () => {
  it('discovers and returns the first endpoint for the XMPP domain', async () => {
    const fetch = fakeFetch({
      'https://example.com/.well-known/xmpp-web-nodes.json': { body: JSON.stringify(directory) },
    });
    const gw = await connect({ domain: 'example2.com', discovery: 'example.com', fetch, storage: null, probe: false });
    expect(gw.domain).toBe('example2.com');
    expect(gw.transport).toBe('websocket');
    expect(gw.url).toMatch(/^wss:\/\/t\d\.example\.com\/xmpp-websocket$/);
    expect(gw.delayMs).toBe(0);
  });

  it('refuses a domain the gateway does not serve', async () => {
    await expect(connect({ ...base(), domain: 'other.org' })).rejects.toMatchObject({ code: 'unknown-domain' });
  });

  it('leaves out nodes the library cannot speak to', async () => {
    const dir = { domains: [], nodes: [node('boshonly', { websocketUrl: undefined }), node('t2')] };
    for (let seed = 0; seed < 10; seed++) {
      const gw = await connect({ ...base(), directory: dir, random: seeded(seed), transports: ['websocket'] });
      expect(gw.node.name).toBe('t2');
    }
    await expect(connect({ ...base(), directory: { domains: [], nodes: [node('x', { ready: false })] } })).rejects.toBeInstanceOf(DiscoveryError);
  });

  it('comes back to the same node on the next page load of the session', async () => {
    const storage = fakeStorage();
    const first = await connect({ ...base(), storage });
    first.failover.succeeded();
    for (let seed = 0; seed < 10; seed++) {
      expect((await connect({ ...base(), storage, random: seeded(seed) })).node.name).toBe(first.node.name);
    }
  });
});

describe('Failover', () => {
  it('fails over to every other node, then backs off', async () => {
    const gw = await connect(base());
    const tried = [gw.node.name];
    let a = await gw.failover.failed();
    tried.push(a!.node.name);
    expect(a!.delayMs).toBe(0);
    a = await gw.failover.failed();
    tried.push(a!.node.name);
    expect(new Set(tried).size).toBe(3);
    a = await gw.failover.failed();
    expect(a!.delayMs).toBeLessThan(500);
    expect(gw.failover.chooser.round).toBe(1);
  });

  it('after a drop returns to the same node after a short jitter', async () => {
    const gw = await connect(base());
    gw.failover.succeeded();
    const a = await gw.failover.dropped();
    expect(a!.node.name).toBe(gw.node.name);
    expect(a!.delayMs).toBeLessThan(500);
  });

  it('follows a redirect next, and avoids the draining node', async () => {
    const gw = await connect(base());
    gw.failover.succeeded();
    const other = directory.nodes.find((n) => n.name !== gw.node.name)!;
    const target = gw.failover.redirect(other.websocketUrl!);
    expect(target?.node).toBe(other);
    const a = await gw.failover.next();
    expect(a).toMatchObject({ url: other.websocketUrl, delayMs: 0, transport: 'websocket' });
    expect(gw.failover.chooser.isFailed(gw.node)).toBe(true);
    expect(gw.failover.chooser.remembered).toBeUndefined();
  });

  it('disconnected() picks the right move for what happened', async () => {
    const gw = await connect(base());
    const first = gw.node.name;
    let a = await gw.failover.disconnected(); // never came up: another node
    expect(a!.node.name).not.toBe(first);
    gw.failover.succeeded();
    const up = a!.node.name;
    a = await gw.failover.disconnected(); // was up: the same node
    expect(a!.node.name).toBe(up);
    const other = directory.nodes.find((n) => n.name !== up)!;
    gw.failover.succeeded();
    gw.failover.redirect(other.websocketUrl!);
    a = await gw.failover.disconnected(); // redirected: there
    expect(a).toMatchObject({ url: other.websocketUrl, delayMs: 0 });
  });

  it('ignores a refused redirect', async () => {
    const gw = await connect(base());
    expect(gw.failover.redirect('ws://t2.example.com/xmpp-websocket')).toBeUndefined();
    expect(gw.failover.chooser.isFailed(gw.node)).toBe(false);
  });

  it('falls back to BOSH when the probe fails, and stops probing once a WebSocket session worked', async () => {
    let probes = 0;
    let works = false;
    const probe = async () => (probes++, works);
    const gw = await connect({ ...base(), probe });
    expect(gw.transport).toBe('bosh');
    works = true;
    const a = await gw.failover.failed();
    expect(a!.transport).toBe('websocket');
    gw.failover.succeeded();
    const before = probes;
    await gw.failover.dropped();
    expect(probes).toBe(before);
  });
});
