// The BOSH HTTP layer with fake requests, responses and upstreams: what reaches the session machine.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BoshEndpoint } from '../../../src/gateway/bosh/endpoint.ts';
import { createGatewayMetrics } from '../../../src/gateway/metrics.ts';
import { createOriginPolicy } from '../../../src/gateway/server/origin.ts';
import type { UpstreamRouter } from '../../../src/gateway/upstream/router.ts';
import type { UpstreamEvents, UpstreamStream } from '../../../src/gateway/upstream/types.ts';
import { parseGatewayConfig } from '../../../src/shared/gateway-config/validate.ts';
import { FEATURES } from './helpers.ts';

const NS = "xmlns='http://jabber.org/protocol/httpbind'";

class FakeResponse extends EventEmitter {
  status = 0;
  headers: Record<string, string> = {};
  body = '';
  writableEnded = false;
  destroyed = false;
  setHeader(name: string, value: string): void {
    this.headers[name.toLowerCase()] = value;
  }
  writeHead(status: number, headers: Record<string, string> = {}): this {
    this.status = status;
    for (const [k, v] of Object.entries(headers)) this.headers[k.toLowerCase()] = v;
    return this;
  }
  end(body?: string | Buffer): this {
    this.body = body === undefined ? '' : String(body);
    this.writableEnded = true;
    queueMicrotask(() => this.emit('finish'));
    return this;
  }
}

interface Exchange {
  res: FakeResponse;
  destroyed: () => boolean;
}

interface FakeUpstream {
  events: UpstreamEvents;
  sent: string[];
  destroyed: boolean;
  closed: boolean;
  paused: boolean;
  /** What the fake socket holds toward the server. */
  writableLength: number;
}

function setup(extra: Record<string, unknown> = {}) {
  const config = parseGatewayConfig({ domains: ['example.com'], upstream: { default: { host: '127.0.0.1', port: 5222, tls: 'none' } }, ...extra });
  const upstreams: FakeUpstream[] = [];
  const router: UpstreamRouter = {
    serves: (d) => d === 'example.com',
    connect: (_domain, events) => {
      const u: FakeUpstream = { events, sent: [], destroyed: false, closed: false, paused: false, writableLength: 0 };
      upstreams.push(u);
      const stream: UpstreamStream = {
        open: () => {},
        send: (xml) => void u.sent.push(xml),
        close: () => void (u.closed = true),
        destroy: () => void (u.destroyed = true),
        pause: () => void (u.paused = true),
        resume: () => void (u.paused = false),
        get writableLength() {
          return u.writableLength;
        },
        bytesIn: 0,
        bytesOut: 0,
      };
      return stream;
    },
  };
  const metrics = createGatewayMetrics({ defaultMetrics: false });
  const endpoint = new BoshEndpoint({
    config,
    router,
    metrics,
    log: pino({ level: 'silent' }),
    origins: createOriginPolicy([], () => {}),
  });
  /** One POST with `body` (in the given chunks), over TLS or not. */
  const post = (chunks: string[], secure: boolean): Exchange => {
    const req = new EventEmitter() as EventEmitter & Partial<IncomingMessage>;
    let destroyed = false;
    Object.assign(req, {
      method: 'POST',
      headers: {},
      socket: { destroy: () => void (destroyed = true) },
      pause: () => req,
      resume: () => req,
    });
    const res = new FakeResponse();
    endpoint.handle(req as IncomingMessage, res as unknown as ServerResponse, { clientAddress: '192.0.2.1', secure }, false);
    for (const c of chunks) req.emit('data', Buffer.from(c));
    req.emit('end');
    return { res, destroyed: () => destroyed };
  };
  const paused = async (direction: 'to-client' | 'to-server') =>
    (await metrics.backpressure.get()).values.find((v) => v.labels.transport === 'bosh' && v.labels.direction === direction)?.value ?? 0;
  return { endpoint, upstreams, post, paused };
}

/** The end of one upstream read: the endpoint answers for the elements it brought in a microtask. */
const endOfRead = () => Promise.resolve();

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('BOSH endpoint', () => {
  it('drops plain requests naming a session begun over TLS, readable or not, and the session lives on (§22)', async () => {
    const { endpoint, upstreams, post } = setup();
    const created = post([`<body ${NS} rid='100' to='example.com' ver='1.11' wait='60' hold='1'/>`], true);
    upstreams[0]!.events.element(FEATURES, 'features');
    await endOfRead();
    const sid = /sid='([^']+)'/.exec(created.res.body)![1]!;
    expect(endpoint.size).toBe(1);
    const forged = [
      [`<body ${NS} rid='101' sid='${sid}' type='terminate'/>`],
      [`<body ${NS} rid='101' sid='${sid}'><oops></body>`],
      [`<body ${NS} rid='101' sid='${sid}'>`, '<presence/>'.repeat(30_000), '</body>'],
    ];
    for (const chunks of forged) {
      const x = post(chunks, false);
      expect(x.destroyed()).toBe(true);
      expect(x.res.writableEnded).toBe(false);
    }
    expect(endpoint.size).toBe(1);
    expect(upstreams[0]!.destroyed || upstreams[0]!.closed).toBe(false);
    // Over TLS the same unreadable body reaches the session.
    const ok = post([`<body ${NS} rid='101' sid='${sid}'><oops></body>`], true);
    expect(ok.res.body).toMatch(/condition='bad-request'/);
    expect(endpoint.size).toBe(0);
    endpoint.close();
  });

  it('answers a held request once for all the elements of one upstream read (XEP-0124 §8)', async () => {
    const { endpoint, upstreams, post } = setup();
    const created = post([`<body ${NS} rid='100' to='example.com' ver='1.11' wait='60' hold='1'/>`], false);
    const u = upstreams[0]!;
    u.events.element(FEATURES, 'features');
    await endOfRead();
    const sid = /sid='([^']+)'/.exec(created.res.body)![1]!;
    const held = post([`<body ${NS} rid='101' sid='${sid}'/>`], false);
    for (let i = 0; i < 3; i++) u.events.element(`<message xmlns='jabber:client' id='m${i}'/>`, 'stanza');
    expect(held.res.writableEnded).toBe(false);
    await endOfRead();
    expect(held.res.body).toBe(
      `<body xmlns='http://jabber.org/protocol/httpbind'><message xmlns='jabber:client' id='m0'/><message xmlns='jabber:client' id='m1'/><message xmlns='jabber:client' id='m2'/></body>`,
    );
    endpoint.close();
  });

  it('answers a held request when its wait runs out, even if the timer fires a little early', async () => {
    // Node's timer clock is coarser than performance.now(): a timer may fire just before the deadline.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let clock = 1_000;
    vi.spyOn(performance, 'now').mockImplementation(() => clock);
    const { endpoint, upstreams, post } = setup();
    const created = post([`<body ${NS} rid='100' to='example.com' ver='1.11' wait='2' hold='1'/>`], false);
    upstreams[0]!.events.element(FEATURES, 'features');
    await endOfRead();
    const sid = /sid='([^']+)'/.exec(created.res.body)![1]!;
    const held = post([`<body ${NS} rid='101' sid='${sid}'/>`], false);
    // Deadline 3 000; the timer (2 000 ms) fires while performance.now() still reads 2 999.6.
    clock = 2_999.6;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(held.res.writableEnded).toBe(false);
    clock = 3_000.2;
    await vi.advanceTimersByTimeAsync(1);
    expect(held.res.body).toBe("<body xmlns='http://jabber.org/protocol/httpbind'/>");
    endpoint.close();
  });
  it('pauses the upstream once more than the high-water mark waits for the next request, and reads it again once fetched', async () => {
    // bosh.maxBufferedBytes 65 536: high-water mark 16 KiB (a quarter), so the last resort stays out of reach.
    const { endpoint, upstreams, post, paused } = setup({ bosh: { maxBufferedBytes: 65_536 } });
    const created = post([`<body ${NS} rid='100' to='example.com' ver='1.11' wait='60' hold='1'/>`], false);
    const u = upstreams[0]!;
    u.events.element(FEATURES, 'features');
    await endOfRead();
    const sid = /sid='([^']+)'/.exec(created.res.body)![1]!;
    const stanza = `<message xmlns='jabber:client' to='a@example.com'><body>${'x'.repeat(1_000)}</body></message>`;
    // No request held: everything is buffered for the next one.
    let sent = 0;
    while (!u.paused && sent < 100) {
      u.events.element(stanza, 'stanza');
      sent++;
    }
    expect(u.paused).toBe(true);
    expect(sent).toBe(Math.floor(16_384 / Buffer.byteLength(stanza)) + 1);
    expect(await paused('to-client')).toBe(1);
    const fetch = post([`<body ${NS} rid='101' sid='${sid}'/>`], false);
    expect(fetch.res.body.split('<message ').length - 1).toBe(sent);
    expect(u.paused).toBe(false);
    expect(await paused('to-client')).toBe(0);
    expect(endpoint.size).toBe(1);
    endpoint.close();
  });

  it('holds the requests of a session whose server does not read until the upstream drains, then handles them in order', async () => {
    const { endpoint, upstreams, post, paused } = setup({ bosh: { maxBufferedBytes: 65_536 } });
    const created = post([`<body ${NS} rid='100' to='example.com' ver='1.11' wait='60' hold='1'/>`], false);
    const u = upstreams[0]!;
    u.events.element(FEATURES, 'features');
    await endOfRead();
    const sid = /sid='([^']+)'/.exec(created.res.body)![1]!;
    // The server stops reading: the socket keeps what the first request sends.
    u.writableLength = 20_000;
    const first = post([`<body ${NS} rid='101' sid='${sid}'><message xmlns='jabber:client' to='a@example.com'><body>1</body></message></body>`], false);
    expect(u.sent).toHaveLength(1);
    expect(await paused('to-server')).toBe(1);
    const second = post([`<body ${NS} rid='102' sid='${sid}'><message xmlns='jabber:client' to='a@example.com'><body>2</body></message></body>`], false);
    // Read, not handled: nothing more goes to the server, and the first request is still held (hold=1).
    expect(u.sent).toHaveLength(1);
    expect(first.res.writableEnded).toBe(false);
    // A drain that leaves more than the high-water mark changes nothing.
    u.events.drained!();
    expect(u.sent).toHaveLength(1);
    u.writableLength = 0;
    u.events.drained!();
    expect(u.sent).toHaveLength(2);
    expect(u.sent[1]).toContain('<body>2</body>');
    // rid 102 arrived: the held rid 101 is answered (hold=1), 102 is held.
    expect(first.res.writableEnded).toBe(true);
    expect(second.res.writableEnded).toBe(false);
    expect(await paused('to-server')).toBe(0);
    endpoint.close();
  });
});
