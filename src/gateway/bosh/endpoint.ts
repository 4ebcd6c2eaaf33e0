// The BOSH connection manager's HTTP side (XEP-0124 + XEP-0206): reads bodies within limits,
// feeds the pure session machine, writes its answers, and joins sessions to upstream streams.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../../shared/gateway-config/schema.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { OriginPolicy } from '../server/origin.ts';
import { clientLeg, type RequestContext } from '../server/context.ts';
import type { ClientLeg } from '../upstream/types.ts';
import type { UpstreamRouter } from '../upstream/router.ts';
import type { UpstreamStream } from '../upstream/types.ts';
import { BodyReader, type BodyLimits } from './body.ts';
import { BoshManager } from './manager.ts';
import type { BoshResponse } from './session.ts';
import { drainUntil } from '../server/drain.ts';
import { escapeXml } from '../xml/escape.ts';
import { highWaterMark } from '../flow-control.ts';

/** The short page a GET on a BOSH path answers with. */
export function endpointPage(path: string): string {
  const p = escapeXml(path);
  return (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>XMPP BOSH endpoint</title></head><body>\n' +
    `<h1>XMPP BOSH endpoint</h1>\n<p>This is an XMPP over BOSH endpoint (XEP-0124, XEP-0206) at <code>${p}</code>: ` +
    'set it as the BOSH URL of an XMPP client, which talks to it with POST requests.</p>\n</body></html>\n'
  );
}

export interface BoshEndpointOptions {
  config: GatewayConfig;
  router: UpstreamRouter;
  metrics: GatewayMetrics;
  log: Logger;
  origins: OriginPolicy;
}

interface Reply {
  res: ServerResponse;
  gzip: boolean;
  /** The request's Origin header, echoed in Access-Control-Allow-Origin. */
  origin: string | undefined;
}

/** Bodies this small gain nothing from gzip. */
const GZIP_MIN_BYTES = 1024;
/** A drain ends once no request has arrived for this long (requests already on their way get see-other-uri). */
const DRAIN_QUIET_MS = 500;

export class BoshEndpoint {
  private readonly options: BoshEndpointOptions;
  private readonly manager: BoshManager<Reply>;
  private readonly upstreams = new Map<string, UpstreamStream>();
  /** XEP-0124 §22: a session begun over TLS is continued over TLS only. */
  private readonly secureSessions = new Set<string>();
  private readonly started = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private creatingSecure = false;
  /** The client leg of the request now creating a session (its upstream carries that address). */
  private creatingClient: (() => ClientLeg) | undefined;
  private lastRequestAt = 0;
  private readonly log: Logger;
  private readonly bodyLimits: BodyLimits;
  /** Buffered bytes above which a session's upstream is paused, or its client's requests wait (../flow-control.ts). */
  private readonly highWater: number;
  /** Sessions whose upstream socket is paused: the client does not fetch what is buffered for it. */
  private readonly pausedUpstreams = new Set<string>();
  /** Sessions whose server does not read what the client sends: their next requests wait for the upstream to drain. */
  private readonly congested = new Map<string, (() => void)[]>();
  private readonly pausedToClient: { inc(): void; dec(): void };
  private readonly pausedToServer: { inc(): void; dec(): void };

  constructor(options: BoshEndpointOptions) {
    this.options = options;
    const { config, router, metrics, log } = options;
    this.log = log.child({ transport: 'bosh' });
    this.highWater = highWaterMark(config.bosh.maxBufferedBytes);
    this.bodyLimits = { maxBytes: config.bosh.maxBodyBytes, maxDepth: config.limits.maxDepth, maxAttributes: config.limits.maxAttributes };
    this.pausedToClient = metrics.backpressure.labels({ transport: 'bosh', direction: 'to-client' });
    this.pausedToServer = metrics.backpressure.labels({ transport: 'bosh', direction: 'to-server' });
    const now = () => performance.now();
    const relayedIn = metrics.relayTally('bosh', 'in');
    const relayedOut = metrics.relayTally('bosh', 'out');
    const responses = new Map<string, { inc(): void }>();
    this.manager = new BoshManager<Reply>(
      {
        bosh: config.bosh,
        isServed: (domain) => router.serves(domain),
        metrics: {
          sessionCreated: () => metrics.connections.inc({ transport: 'bosh' }),
          response: (outcome) => {
            let counter = responses.get(outcome);
            if (counter === undefined) responses.set(outcome, (counter = metrics.boshRequests.labels({ outcome })));
            counter.inc();
          },
          sessionEnded: (reason) => {
            metrics.connections.dec({ transport: 'bosh' });
            metrics.boshTerminations.inc({ condition: reason });
            metrics.closes.inc({ transport: 'bosh', reason });
          },
          rejected: (condition) => metrics.boshTerminations.inc({ condition }),
        },
      },
      {
        respond: (reply, response) => this.write(reply, response),
        openUpstream: (sid, attrs) => {
          const log = this.log.child({ sid: sid.slice(0, 8) });
          this.started.set(sid, now());
          if (this.creatingSecure) this.secureSessions.add(sid);
          // The elements of one upstream read are buffered as they come and answered together once the read is
          // handled (a microtask): one response carries them all, instead of the first alone and the rest
          // waiting for the client's next request.
          let flushQueued = false;
          const flush = () => {
            flushQueued = false;
            this.manager.flushUpstream(sid, now());
          };
          const upstream = router.connect(
            attrs.to,
            {
              opened: (info) => this.manager.upstreamOpened(sid, info, now()),
              element: (xml, kind) => {
                relayedOut.add(xml.length);
                this.manager.upstreamElement(sid, xml, kind, now(), false);
                if (!flushQueued) {
                  flushQueued = true;
                  queueMicrotask(flush);
                }
                // Buffered until the next request (XEP-0124 §8), and no more than about one high-water mark:
                // the server's socket waits for the client to fetch.
                if (!this.pausedUpstreams.has(sid) && this.manager.bufferedBytes(sid) > this.highWater) {
                  const upstream = this.upstreams.get(sid);
                  if (upstream === undefined) return;
                  this.pausedUpstreams.add(sid);
                  this.pausedToClient.inc();
                  upstream.pause();
                }
              },
              closed: () => this.manager.upstreamClosed(sid, now()),
              failed: (condition, text) => this.manager.upstreamFailed(sid, condition, text, now()),
              drained: () => this.releaseRequests(sid),
            },
            log,
            this.creatingClient?.(),
          );
          this.upstreams.set(sid, upstream);
          upstream.open(attrs);
        },
        restartUpstream: (sid, attrs) => this.upstreams.get(sid)?.open(attrs),
        forward: (sid, payloads) => {
          const upstream = this.upstreams.get(sid);
          if (!upstream) return;
          for (const xml of payloads) {
            relayedIn.add(xml.length);
            upstream.send(xml);
          }
          if (upstream.writableLength > this.highWater && !this.congested.has(sid)) {
            this.congested.set(sid, []);
            this.pausedToServer.inc();
          }
        },
        closeUpstream: (sid) => {
          this.upstreams.get(sid)?.close();
          this.upstreams.delete(sid);
        },
        destroyUpstream: (sid) => {
          this.upstreams.get(sid)?.destroy();
          this.upstreams.delete(sid);
        },
        ended: (sid, reason) => {
          this.upstreams.get(sid)?.destroy();
          this.upstreams.delete(sid);
          this.secureSessions.delete(sid);
          if (this.pausedUpstreams.delete(sid)) this.pausedToClient.dec();
          const waiting = this.congested.get(sid);
          if (waiting !== undefined) {
            this.congested.delete(sid);
            this.pausedToServer.dec();
            // Answered as requests of an ended session are, once this input is done.
            queueMicrotask(() => {
              for (const run of waiting) run();
            });
          }
          const began = this.started.get(sid);
          this.started.delete(sid);
          if (began !== undefined) metrics.boshLifetime.observe((now() - began) / 1000);
          this.log.info({ sid: sid.slice(0, 8), reason }, 'bosh session ended');
        },
        schedule: (at) => {
          if (this.timer) clearTimeout(this.timer);
          this.timer = undefined;
          if (at === undefined) return;
          // Whole milliseconds, rounded up: Node's timer clock is coarser than performance.now(), so a timer
          // may still fire a little early; tick() then announces the same deadline again.
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.manager.tick(now());
          }, Math.max(1, Math.ceil(at - now())));
          this.timer.unref();
        },
      },
    );
    metrics.observeHeldRequests(() => this.manager.heldCount);
  }

  matches(path: string): boolean {
    return this.options.config.bosh.enabled && this.options.config.bosh.paths.includes(path);
  }

  get size(): number {
    return this.manager.sessionCount;
  }

  handle(req: IncomingMessage, res: ServerResponse, context: RequestContext, _draining: boolean): void {
    const { config, origins, metrics } = this.options;
    this.lastRequestAt = performance.now();
    // Draining: every answer is the last on its connection.
    if (this.manager.draining) res.setHeader('Connection', 'close');
    const origin = req.headers.origin;
    if (!origins.allows(origin)) {
      metrics.refused.inc({ transport: 'bosh', reason: 'origin' });
      res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8', Vary: 'Origin' }).end('origin not allowed\n');
      req.resume();
      return;
    }
    if (req.method !== 'POST') return this.answerOther(req, res, origin);
    const reply: Reply = { res, gzip: config.bosh.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')), origin: origin || undefined };
    const reader = new BodyReader(this.bodyLimits);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const result = reader.end();
      // The sid of an unreadable body counts too: it would end its session with bad-request.
      const sid = result.ok ? result.body.attrs.sid : result.error.attrs?.sid;
      if (sid !== undefined && this.secureSessions.has(sid) && !context.secure) {
        // §22: drop the connection, not the session, so a forged plain request cannot end it.
        req.socket.destroy();
        return;
      }
      const handle = () => {
        // A session created by this request opens its upstream synchronously: openUpstream reads this.
        this.creatingSecure = context.secure;
        this.creatingClient = () => clientLeg(req, context);
        this.manager.handle(result, reply, context.clientAddress, performance.now());
        this.creatingSecure = false;
        this.creatingClient = undefined;
        if (sid !== undefined && this.pausedUpstreams.has(sid) && this.manager.bufferedBytes(sid) === 0) this.resumeUpstream(sid);
      };
      // The server does not read what this session sends: its requests wait, bodies read, until the upstream
      // drains (a client holds at most `requests` of them, one more to pause or terminate; any beyond go on).
      const waiting = sid === undefined ? undefined : this.congested.get(sid);
      if (waiting !== undefined && waiting.length <= config.bosh.maxHold + 1) {
        waiting.push(handle);
        return;
      }
      handle();
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      if (!reader.write(chunk)) {
        // Refused (too large, malformed): answer now and read no further.
        res.setHeader('Connection', 'close');
        finish();
        req.pause();
        res.once('finish', () => req.socket.destroy());
      }
    });
    req.on('end', finish);
    req.on('error', () => {
      done = true;
    });
  }

  /** OPTIONS (CORS preflight), GET and HEAD (a page saying what this is), and 405 for anything else. */
  private answerOther(req: IncomingMessage, res: ServerResponse, origin: string | undefined): void {
    const cors: Record<string, string> = origin
      ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' }
      : { 'Access-Control-Allow-Origin': '*' };
    if (req.method === 'OPTIONS') {
      // Browsers preflight text/xml POSTs (XEP-0124 §5 leaves the content type to the client).
      res
        .writeHead(204, {
          ...cors,
          'Access-Control-Allow-Methods': 'POST, OPTIONS',
          'Access-Control-Allow-Headers': 'Content-Type',
          'Access-Control-Max-Age': '86400',
        })
        .end();
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      // As Prosody and ejabberd do: monitors and client set-up screens probe the URL. No session is made.
      const page = endpointPage((req.url ?? '/').split('?', 1)[0]!);
      res
        .writeHead(200, { ...cors, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(Buffer.byteLength(page)), 'Cache-Control': 'no-store' })
        .end(req.method === 'GET' ? page : undefined);
      req.resume();
      return;
    }
    res.writeHead(405, { ...cors, Allow: 'GET, HEAD, POST, OPTIONS', 'Content-Type': 'text/plain; charset=utf-8' }).end('BOSH takes POST requests\n');
    req.resume();
  }

  /**
   * Sends every held request's session elsewhere (see-other-uri) or reports system-shutdown, then keeps
   * answering so what still arrives on kept-alive connections, until they fall quiet.
   */
  async drain(seeOtherUri: () => string | undefined, deadline: Promise<void>): Promise<void> {
    this.manager.drain(performance.now(), seeOtherUri());
    await drainUntil(() => this.manager.heldCount === 0 && performance.now() - this.lastRequestAt >= DRAIN_QUIET_MS, deadline);
  }

  /** The client fetched what was buffered for it: read its server again. */
  private resumeUpstream(sid: string): void {
    this.pausedUpstreams.delete(sid);
    this.pausedToClient.dec();
    this.upstreams.get(sid)?.resume();
  }

  /** The upstream took what the client sent: the requests that waited for it go on, in the order they came. */
  private releaseRequests(sid: string): void {
    const waiting = this.congested.get(sid);
    const upstream = this.upstreams.get(sid);
    if (waiting === undefined || (upstream !== undefined && upstream.writableLength > this.highWater)) return;
    this.congested.delete(sid);
    this.pausedToServer.dec();
    for (const run of waiting) run();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const upstream of this.upstreams.values()) upstream.destroy();
    this.upstreams.clear();
  }

  private write(reply: Reply, response: BoshResponse): void {
    const { res, origin } = reply;
    if (res.writableEnded || res.destroyed) return;
    let body: Buffer | string = response.body;
    // A flat list: writeHead takes it without building and walking a headers object for every response.
    const headers = ['Content-Type', response.contentType, 'Cache-Control', 'no-store', 'Access-Control-Allow-Origin', origin ?? '*'];
    let vary = origin === undefined ? undefined : 'Origin';
    if (reply.gzip && body.length >= GZIP_MIN_BYTES) {
      body = gzipSync(body);
      headers.push('Content-Encoding', 'gzip');
      vary = vary === undefined ? 'Accept-Encoding' : `${vary}, Accept-Encoding`;
    }
    if (vary !== undefined) headers.push('Vary', vary);
    res.writeHead(response.status, headers).end(body);
  }
}
