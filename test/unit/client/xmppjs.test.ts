import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { attachFailover, connect, type NodeDirectory } from '../../../src/client/index.ts';
import { fakeStorage, seeded } from './fakes.ts';

const directory: NodeDirectory = {
  domains: ['example2.com'],
  nodes: ['t1', 't2', 't3'].map((n) => ({ name: n, host: `${n}.example.com`, websocketUrl: `wss://${n}.example.com/xmpp-websocket`, ready: true })),
};

class FakeXmpp extends EventEmitter {
  options: { service?: string; domain?: string } = {};
  parser: EventEmitter | null = null;
  streamManagement = new EventEmitter();
  reconnect = { delay: 1000, scheduled: 0, scheduleReconnect: () => void this.reconnect.scheduled++ };
}

async function setup() {
  const gw = await connect({ domain: 'example2.com', directory, transports: ['websocket'], storage: fakeStorage(), random: seeded(8) });
  const xmpp = new FakeXmpp();
  xmpp.options = { service: gw.url, domain: gw.domain };
  const detach = attachFailover(xmpp, gw.failover);
  return { gw, xmpp, detach };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('attachFailover (xmpp.js)', () => {
  it('points the reconnect at another node when connecting failed', async () => {
    const { gw, xmpp } = await setup();
    xmpp.emit('disconnect', { clean: false });
    await tick();
    expect(xmpp.options.service).not.toBe(gw.url);
    expect(xmpp.options.service).toMatch(/^wss:\/\/t\d\.example\.com\/xmpp-websocket$/);
    expect(xmpp.reconnect.scheduled).toBe(1);
    expect(xmpp.reconnect.delay).toBe(0);
    expect(xmpp.options.domain).toBe('example2.com');
  });

  it('reconnects to the same node after an established session drops', async () => {
    const { gw, xmpp } = await setup();
    xmpp.emit('online');
    xmpp.emit('disconnect', { clean: false });
    await tick();
    expect(xmpp.options.service).toBe(gw.url);
    expect(xmpp.reconnect.delay).toBeLessThan(500);
  });

  it('counts a XEP-0198 resumption as the session being up', async () => {
    const { gw, xmpp } = await setup();
    xmpp.streamManagement.emit('resumed');
    xmpp.emit('disconnect', { clean: false });
    await tick();
    expect(xmpp.options.service).toBe(gw.url);
  });

  it("follows <close see-other-uri='…'/> (RFC 7395 §3.6.1)", async () => {
    const { gw, xmpp } = await setup();
    xmpp.parser = new EventEmitter();
    xmpp.emit('open');
    xmpp.emit('online');
    const other = directory.nodes.find((n) => n.name !== gw.node.name)!.websocketUrl!;
    xmpp.parser.emit('end', { attrs: { xmlns: 'urn:ietf:params:xml:ns:xmpp-framing', 'see-other-uri': other } });
    xmpp.emit('disconnect', { clean: true });
    await tick();
    expect(xmpp.options.service).toBe(other);
    expect(xmpp.reconnect.delay).toBe(0);
  });

  it('detaches', async () => {
    const { xmpp, detach } = await setup();
    detach();
    expect(xmpp.listenerCount('disconnect')).toBe(0);
    expect(xmpp.listenerCount('online')).toBe(0);
    expect(xmpp.listenerCount('open')).toBe(0);
    expect(xmpp.streamManagement.listenerCount('resumed')).toBe(0);
  });
});
