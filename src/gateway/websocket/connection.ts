// One browser WebSocket joined to one upstream c2s stream (RFC 7395).
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { StreamErrorCondition } from '../errors.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { UpstreamRouter } from '../upstream/router.ts';
import type { ClientLeg, UpstreamStream } from '../upstream/types.ts';
import { XmlInputError, type XmlLimits } from '../xml/limits.ts';
import { closeMessage, openMessage, parseClientMessage, streamErrorMessage } from './framing.ts';

export interface ConnectionOptions {
  limits: XmlLimits & { maxBufferedBytes: number; openTimeoutMs: number };
  router: UpstreamRouter;
  metrics: GatewayMetrics;
  log: Logger;
  /** The client reached us over TLS (directly or at a trusted proxy): redirects keep wss. */
  secure: boolean;
  /** The upgraded socket under `ws`: corked while a turn's frames are written, so they leave in one write. */
  socket?: Duplex;
  /** The client's connection, for the upstream's PROXY header. */
  client?: ClientLeg;
}

type Counter = { inc(value?: number): void };
interface Counters {
  stanzasIn: Counter;
  stanzasOut: Counter;
  bytesIn: Counter;
  bytesOut: Counter;
}
// Label lookups hash the label set on every call: resolve the four series once per registry.
const countersByMetrics = new WeakMap<GatewayMetrics, Counters>();
function countersFor(metrics: GatewayMetrics): Counters {
  let c = countersByMetrics.get(metrics);
  if (!c) {
    c = {
      stanzasIn: metrics.stanzas.labels({ transport: 'websocket', direction: 'in' }),
      stanzasOut: metrics.stanzas.labels({ transport: 'websocket', direction: 'out' }),
      bytesIn: metrics.bytes.labels({ transport: 'websocket', direction: 'in' }),
      bytesOut: metrics.bytes.labels({ transport: 'websocket', direction: 'out' }),
    };
    countersByMetrics.set(metrics, c);
  }
  return c;
}

function uncork(connection: WebSocketConnection, socket: Duplex): void {
  connection.corked = false;
  socket.uncork();
}

type State = 'new' | 'open' | 'closed';

export class WebSocketConnection {
  private readonly ws: WebSocket;
  private readonly options: ConnectionOptions;
  private readonly log: Logger;
  private upstream: UpstreamStream | undefined;
  private domain = '';
  private state: State = 'new';
  private readonly counters: Counters;
  /** @internal set while the socket is corked until the next tick */
  corked = false;
  /** Until the client's <open/> (limits.openTimeoutMs); cleared then, or when the connection ends. */
  private openTimer: NodeJS.Timeout | undefined;

  private clearOpenTimer(): void {
    if (this.openTimer) clearTimeout(this.openTimer);
    this.openTimer = undefined;
  }
  get secure(): boolean {
    return this.options.secure;
  }

  /** Set by the keepalive sweep; cleared by every pong. */
  awaitingPong = false;
  private readonly onEnd: () => void;

  constructor(ws: WebSocket, options: ConnectionOptions, onEnd: () => void) {
    this.ws = ws;
    this.options = options;
    this.log = options.log;
    this.onEnd = onEnd;
    this.counters = countersFor(options.metrics);
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('pong', () => {
      this.awaitingPong = false;
    });
    ws.on('close', (code) => this.onSocketClose(code));
    ws.on('error', (err) => this.log.debug({ err: err.message }, 'websocket error'));
    // An upgraded socket that never opens a stream only holds resources (slowloris after the upgrade).
    const openTimeout = options.limits.openTimeoutMs;
    if (openTimeout > 0) {
      this.openTimer = setTimeout(() => {
        this.openTimer = undefined;
        if (this.state === 'new') this.fatal('connection-timeout', 'no <open/> in time');
      }, openTimeout);
      this.openTimer.unref();
    }
  }

  /** Sends a ping; a peer that did not answer the previous one is dropped. */
  keepalive(): void {
    if (this.awaitingPong) {
      this.log.info('client missed a ping: dropping');
      this.finish('dead-peer', false);
      this.ws.terminate();
      return;
    }
    this.awaitingPong = true;
    this.ws.ping();
  }

  /** The gateway is closing: drop the socket and the upstream (resumable), no goodbye. */
  terminate(): void {
    this.finish('gateway-closed', false);
    this.ws.terminate();
  }

  /** Drain: send the client elsewhere (RFC 7395 §3.6.1) or tell it the system is going down. */
  drain(seeOtherUri: string | undefined): void {
    if (this.state === 'closed') return;
    if (seeOtherUri) this.sendRaw(closeMessage(seeOtherUri));
    else this.sendError('system-shutdown');
    // The upstream is dropped without </stream:stream> so the client can resume (XEP-0198) elsewhere.
    this.finish(seeOtherUri ? 'see-other-uri' : 'system-shutdown', false);
    this.ws.close(1000);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.state === 'closed') return;
    if (isBinary) {
      // §3.2: XMPP is carried in text messages only.
      this.fatal('unsupported-encoding', 'binary message');
      return;
    }
    const text = data.toString('utf8');
    let message;
    try {
      message = parseClientMessage(text, this.options.limits);
    } catch (e) {
      if (e instanceof XmlInputError) this.fatal(e.condition, e.message);
      else {
        // A bug must end this stream, never the process that serves every other one.
        this.log.error({ err: e }, 'unexpected error reading a client message');
        this.fatal('internal-server-error', 'unexpected error');
      }
      return;
    }
    switch (message.kind) {
      case 'open':
        this.open(message);
        return;
      case 'close':
        this.clientClose();
        return;
      case 'element':
        if (this.state !== 'open' || !this.upstream) {
          this.fatal('not-authorized', 'element before <open/>');
          return;
        }
        this.counters.stanzasIn.inc();
        this.counters.bytesIn.inc(data.length);
        this.upstream.send(message.xml);
    }
  }

  private open(message: { to: string; version?: string; lang?: string; from?: string }): void {
    const attrs = {
      to: message.to,
      ...(message.version ? { version: message.version } : {}),
      ...(message.lang ? { lang: message.lang } : {}),
      ...(message.from ? { from: message.from } : {}),
    };
    if (this.upstream) {
      // A restart keeps the domain the stream was opened for.
      if (message.to.toLowerCase() !== this.domain) {
        this.fatal('host-unknown', 'restart to another domain');
        return;
      }
      this.upstream.open(attrs);
      return;
    }
    const { router } = this.options;
    if (!router.serves(message.to)) {
      // RFC 6120 §4.9.1.3: the error is delivered within an opened stream (sendError opens it).
      this.domain = message.to;
      this.fatal('host-unknown', `domain ${message.to} is not served here`);
      return;
    }
    this.domain = message.to.toLowerCase();
    this.state = 'open';
    this.clearOpenTimer();
    this.upstream = router.connect(
      this.domain,
      {
        opened: (info) => this.sendRaw(openMessage(info)),
        element: (xml, kind) => this.fromUpstream(xml, kind),
        closed: () => {
          this.sendRaw(closeMessage());
          this.finish('upstream-closed', false);
          this.ws.close(1000);
        },
        failed: (condition, text) => this.fatal(condition, text, false),
      },
      this.log,
      this.options.client,
    );
    this.upstream.open(attrs);
  }

  private fromUpstream(xml: string, kind: 'features' | 'stanza' | 'error'): void {
    if (this.state === 'closed') return;
    if (this.ws.bufferedAmount > this.options.limits.maxBufferedBytes) {
      // A client that does not read: drop it, and keep its session resumable upstream.
      this.log.warn({ buffered: this.ws.bufferedAmount }, 'client does not read: dropping');
      this.finish('slow-consumer', false);
      this.ws.terminate();
      return;
    }
    this.counters.stanzasOut.inc();
    this.counters.bytesOut.inc(xml.length);
    this.sendRaw(xml);
    if (kind === 'error') {
      // §3.6: a stream error is followed by <close/>; the server's </stream:stream> follows upstream.
      this.sendRaw(closeMessage());
      this.finish('upstream-stream-error', true);
      this.ws.close(1000);
    }
  }

  private clientClose(): void {
    this.sendRaw(closeMessage());
    this.finish('client-close', true);
    this.ws.close(1000);
  }

  /** A stream error toward the client, then <close/> (RFC 7395 §3.6). */
  private fatal(condition: StreamErrorCondition, text: string, closeUpstream = true): void {
    if (this.state === 'closed') return;
    this.log.info({ condition, reason: text }, 'stream error');
    this.sendError(condition, text);
    this.finish(condition, closeUpstream);
    this.ws.close(1000);
  }

  private sendError(condition: StreamErrorCondition, text?: string): void {
    if (this.state === 'new') this.sendRaw(openMessage({ from: this.domain || 'gateway', id: '', version: '1.0' }));
    this.sendRaw(streamErrorMessage(condition, text));
    this.sendRaw(closeMessage());
  }

  private sendRaw(xml: string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const socket = this.options.socket;
    if (socket && !this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(uncork, this, socket);
    }
    this.ws.send(xml);
  }

  /**
   * Ends the relay once. A clean end closes the upstream stream; otherwise the TCP connection is
   * dropped without </stream:stream> so the server keeps an XEP-0198 session resumable.
   */
  private finish(reason: string, cleanUpstream: boolean): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearOpenTimer();
    if (cleanUpstream) this.upstream?.close();
    else this.upstream?.destroy();
    this.options.metrics.closes.inc({ transport: 'websocket', reason });
    this.log.info({ reason, bytesIn: this.upstream?.bytesOut ?? 0, bytesOut: this.upstream?.bytesIn ?? 0 }, 'stream ended');
    this.onEnd();
  }

  private onSocketClose(code: number): void {
    // The socket went away without <close/>: drop the upstream uncleanly (resumable).
    this.finish(code === 1000 ? 'socket-closed' : 'connection-lost', false);
  }
}
