// The WebSocket I/O shell's flow control with fake sockets and a fake upstream: which socket it pauses, when it
// reads again, and the drop after limits.maxBufferedBytes behind it as the last resort.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { createGatewayMetrics } from '../../../src/gateway/metrics.ts';
import type { UpstreamRouter } from '../../../src/gateway/upstream/router.ts';
import type { UpstreamEvents, UpstreamStream } from '../../../src/gateway/upstream/types.ts';
import { WebSocketConnection } from '../../../src/gateway/websocket/connection.ts';

const FRAMING = "xmlns='urn:ietf:params:xml:ns:xmpp-framing'";
const OPEN = `<open ${FRAMING} to='example.com' version='1.0'/>`;
const FEATURES = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>";
const MESSAGE = `<message xmlns='jabber:client' to='bob@example.com'><body>${'x'.repeat(1_000)}</body></message>`;
/** limits.maxBufferedBytes; the high-water mark is a quarter of it: 16 KiB. */
const MAX_BUFFERED = 65_536;
const HIGH_WATER = 16_384;

class FakeWs extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  paused = false;
  sent: string[] = [];
  terminated = false;
  send(data: string): void {
    this.sent.push(data);
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  ping(): void {
    this.emit('pinged');
  }
  close(): void {
    this.readyState = 2;
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }
}

class FakeSocket extends EventEmitter {
  writableNeedDrain = false;
  cork(): void {}
  uncork(): void {}
}

function setup() {
  const ws = new FakeWs();
  const socket = new FakeSocket();
  const upstream = { events: undefined as UpstreamEvents | undefined, sent: [] as string[], paused: false, destroyed: false, writableLength: 0 };
  const router: UpstreamRouter = {
    serves: (d) => d === 'example.com',
    connect: (_domain, events) => {
      upstream.events = events;
      const stream: UpstreamStream = {
        open: () => {},
        send: (xml) => void upstream.sent.push(xml),
        close: () => {},
        destroy: () => void (upstream.destroyed = true),
        pause: () => void (upstream.paused = true),
        resume: () => void (upstream.paused = false),
        get writableLength() {
          return upstream.writableLength;
        },
        bytesIn: 0,
        bytesOut: 0,
      };
      return stream;
    },
  };
  const metrics = createGatewayMetrics({ defaultMetrics: false });
  let ended = false;
  const connection = new WebSocketConnection(
    ws as unknown as WebSocket,
    {
      limits: { maxStanzaBytes: 262_144, maxDepth: 64, maxAttributes: 256, maxBufferedBytes: MAX_BUFFERED, openTimeoutMs: 0 },
      router,
      metrics,
      log: pino({ level: 'silent' }),
      secure: false,
      socket: socket as unknown as Duplex,
    },
    () => void (ended = true),
  );
  const message = (text: string) => ws.emit('message', Buffer.from(text), false);
  message(OPEN);
  upstream.events!.opened({ id: 's1', from: 'example.com', version: '1.0' });
  upstream.events!.element(FEATURES, 'features');
  const gauge = async (direction: 'to-client' | 'to-server') =>
    (await metrics.backpressure.get()).values.find((v) => v.labels.transport === 'websocket' && v.labels.direction === direction)?.value ?? 0;
  const closes = async (reason: string) => (await metrics.closes.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  return { ws, socket, upstream, connection, message, gauge, closes, ended: () => ended };
}

describe('WebSocket connection flow control', () => {
  it('pauses the upstream once more than the high-water mark waits for the client, and reads it again on drain', async () => {
    const { ws, socket, upstream, gauge } = setup();
    ws.bufferedAmount = HIGH_WATER;
    socket.writableNeedDrain = true;
    upstream.events!.element(MESSAGE, 'stanza');
    // At the mark, not above it: still reading.
    expect(upstream.paused).toBe(false);
    ws.bufferedAmount = HIGH_WATER + 1;
    upstream.events!.element(MESSAGE, 'stanza');
    expect(upstream.paused).toBe(true);
    expect(await gauge('to-client')).toBe(1);
    // Elements the upstream had already read are still delivered.
    upstream.events!.element(MESSAGE, 'stanza');
    expect(ws.sent.filter((m) => m === MESSAGE)).toHaveLength(3);
    ws.bufferedAmount = 0;
    socket.writableNeedDrain = false;
    socket.emit('drain');
    expect(upstream.paused).toBe(false);
    expect(await gauge('to-client')).toBe(0);
  });

  it('drops a client that does not read only when limits.maxBufferedBytes is passed (the last resort)', async () => {
    const { ws, socket, upstream, gauge, closes, ended } = setup();
    socket.writableNeedDrain = true;
    ws.bufferedAmount = MAX_BUFFERED;
    upstream.events!.element(MESSAGE, 'stanza');
    expect(ws.terminated).toBe(false);
    ws.bufferedAmount = MAX_BUFFERED + 1;
    upstream.events!.element(MESSAGE, 'stanza');
    expect(ws.terminated).toBe(true);
    // Dropped without </stream:stream>: its XEP-0198 session stays resumable upstream.
    expect(upstream.destroyed).toBe(true);
    expect(ended()).toBe(true);
    expect(await closes('slow-consumer')).toBe(1);
    expect(await gauge('to-client')).toBe(0);
  });

  it('pauses the client while the server does not read what it sends, and reads it again once the upstream drains', async () => {
    const { ws, upstream, message, connection, gauge } = setup();
    message(MESSAGE);
    expect(ws.paused).toBe(false);
    upstream.writableLength = HIGH_WATER + 1;
    message(MESSAGE);
    expect(ws.paused).toBe(true);
    expect(await gauge('to-server')).toBe(1);
    // What ws had already read still goes upstream.
    message(MESSAGE);
    expect(upstream.sent.filter((m) => m === MESSAGE)).toHaveLength(3);
    // Paused by the gateway, the client cannot answer pings: the sweep leaves it alone.
    let pings = 0;
    ws.on('pinged', () => pings++);
    connection.keepalive();
    connection.keepalive();
    expect(ws.terminated).toBe(false);
    expect(pings).toBe(0);
    // A drain that still leaves more than the mark changes nothing.
    upstream.events!.drained!();
    expect(ws.paused).toBe(true);
    upstream.writableLength = 0;
    upstream.events!.drained!();
    expect(ws.paused).toBe(false);
    expect(await gauge('to-server')).toBe(0);
    connection.keepalive();
    expect(pings).toBe(1);
  });
});
