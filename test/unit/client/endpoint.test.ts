import { afterEach, describe, expect, it } from 'vitest';
import { pickEndpoint, webSocketProbe, type WebNode } from '../../../src/client/index.ts';
import { FakeWebSocket } from './fakes.ts';

const both: WebNode = { name: 'a', host: 'a', websocketUrl: 'wss://a/xmpp-websocket', boshUrl: 'https://a/http-bind', ready: true };

describe('pickEndpoint', () => {
  it('prefers WebSocket', async () => {
    expect(await pickEndpoint(both)).toEqual({ node: both, transport: 'websocket', url: 'wss://a/xmpp-websocket' });
  });

  it('takes BOSH when asked to or when the probe fails', async () => {
    expect((await pickEndpoint(both, { preferWebSocket: false }))?.transport).toBe('bosh');
    expect(await pickEndpoint(both, { probe: async () => false })).toEqual({ node: both, transport: 'bosh', url: 'https://a/http-bind' });
    expect((await pickEndpoint(both, { probe: async () => true }))?.transport).toBe('websocket');
  });

  it('does not probe when there is nothing to fall back to', async () => {
    let probed = false;
    const probe = async () => ((probed = true), false);
    expect((await pickEndpoint({ ...both, boshUrl: undefined }, { probe }))?.transport).toBe('websocket');
    expect((await pickEndpoint(both, { probe, transports: ['websocket'] }))?.transport).toBe('websocket');
    expect(probed).toBe(false);
  });

  it('uses what the node and the library have in common, or nothing', async () => {
    const boshOnly = { ...both, websocketUrl: undefined };
    expect((await pickEndpoint(boshOnly))?.transport).toBe('bosh');
    expect(await pickEndpoint(boshOnly, { transports: ['websocket'] })).toBeUndefined();
  });
});

describe('webSocketProbe', () => {
  afterEach(() => {
    FakeWebSocket.throwOnConstruct = false;
  });
  const timers: (() => void)[] = [];
  const opts = {
    WebSocket: FakeWebSocket,
    setTimeout: (fn: () => void) => (timers.push(fn), timers.length),
    clearTimeout: () => {},
  };

  it("opens with the 'xmpp' subprotocol and closes again", async () => {
    const p = webSocketProbe(opts)('wss://a/xmpp-websocket');
    const ws = FakeWebSocket.last!;
    expect(ws.url).toBe('wss://a/xmpp-websocket');
    expect(ws.protocols).toBe('xmpp');
    ws.open('xmpp');
    expect(await p).toBe(true);
    expect(ws.closed).toBe(1000);
  });

  it("fails when the server did not agree to 'xmpp' (RFC 7395 §3.3)", async () => {
    const p = webSocketProbe(opts)('wss://a/');
    FakeWebSocket.last!.open('');
    expect(await p).toBe(false);
  });

  it('fails on error, on timeout, and when the URL is refused', async () => {
    const p1 = webSocketProbe(opts)('wss://a/');
    FakeWebSocket.last!.fail();
    expect(await p1).toBe(false);

    const p2 = webSocketProbe(opts)('wss://a/');
    timers.at(-1)!();
    expect(await p2).toBe(false);
    expect(FakeWebSocket.last!.closed).toBe(1000);

    FakeWebSocket.throwOnConstruct = true;
    expect(await webSocketProbe(opts)('nonsense')).toBe(false);
  });
});
