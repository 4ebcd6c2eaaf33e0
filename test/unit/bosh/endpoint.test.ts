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

function setup() {
  const config = parseGatewayConfig({ domains: ['example.com'], upstream: { default: { host: '127.0.0.1', port: 5222, tls: 'none' } } });
  const upstreams: { events: UpstreamEvents; sent: string[]; destroyed: boolean; closed: boolean }[] = [];
  const router: UpstreamRouter = {
    serves: (d) => d === 'example.com',
    connect: (_domain, events) => {
      const u = { events, sent: [] as string[], destroyed: false, closed: false };
      upstreams.push(u);
      const stream: UpstreamStream = {
        open: () => {},
        send: (xml) => void u.sent.push(xml),
        close: () => void (u.closed = true),
        destroy: () => void (u.destroyed = true),
        bytesIn: 0,
        bytesOut: 0,
      };
      return stream;
    },
  };
  const endpoint = new BoshEndpoint({
    config,
    router,
    metrics: createGatewayMetrics({ defaultMetrics: false }),
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
  return { endpoint, upstreams, post };
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('BOSH endpoint', () => {
  it('drops plain requests naming a session begun over TLS, readable or not, and the session lives on (§22)', () => {
    const { endpoint, upstreams, post } = setup();
    const created = post([`<body ${NS} rid='100' to='example.com' ver='1.11' wait='60' hold='1'/>`], true);
    upstreams[0]!.events.element(FEATURES, 'features');
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

  it('answers a held request when its wait runs out, even if the timer fires a little early', async () => {
    // Node's timer clock is coarser than performance.now(): a timer may fire just before the deadline.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let clock = 1_000;
    vi.spyOn(performance, 'now').mockImplementation(() => clock);
    const { endpoint, upstreams, post } = setup();
    const created = post([`<body ${NS} rid='100' to='example.com' ver='1.11' wait='2' hold='1'/>`], false);
    upstreams[0]!.events.element(FEATURES, 'features');
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
});
