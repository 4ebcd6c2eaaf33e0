// One browser WebSocket joined to one upstream c2s stream (RFC 7395): the I/O shell around WebSocketSession.
// It owns the sockets, the open timer and the metrics, feeds the machine every event and carries out its actions.
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { GatewayMetrics, RelayTally } from '../metrics.ts';
import type { UpstreamRouter } from '../upstream/router.ts';
import type { ClientLeg, UpstreamEvents, UpstreamStream } from '../upstream/types.ts';
import type { XmlLimits } from '../xml/limits.ts';
import { highWaterMark } from '../flow-control.ts';
import { WebSocketSession, type WebSocketAction, type WebSocketSessionOptions } from './session.ts';
import { withCode } from '../../shared/errors/codes.ts';

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
type Gauge = Counter & { dec(value?: number): void };
interface Counters {
  relayedIn: RelayTally;
  relayedOut: RelayTally;
  pausedToClient: Gauge;
  pausedToServer: Gauge;
}
// Label lookups hash the label set on every call: resolve the series once per registry.
const countersByMetrics = new WeakMap<GatewayMetrics, Counters>();
function countersFor(metrics: GatewayMetrics): Counters {
  let c = countersByMetrics.get(metrics);
  if (!c) {
    c = {
      relayedIn: metrics.relayTally('websocket', 'in'),
      relayedOut: metrics.relayTally('websocket', 'out'),
      pausedToClient: metrics.backpressure.labels({ transport: 'websocket', direction: 'to-client' }),
      pausedToServer: metrics.backpressure.labels({ transport: 'websocket', direction: 'to-server' }),
    };
    countersByMetrics.set(metrics, c);
  }
  return c;
}

function uncork(connection: WebSocketConnection, socket: Duplex): void {
  connection.corked = false;
  socket.uncork();
}

const now = (): number => performance.now();

// Memory per idle connection is the budget here (bench/RESULTS.md, issue 14): every closure costs a function, a
// feedback cell and a context per connection. So the socket's listeners are shared functions that find their
// connection on the socket, and the session's options are one object per router and limits.
const CONNECTION = Symbol('WebSocketConnection');
type Tagged = WebSocket & { [CONNECTION]: WebSocketConnection };
function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  (this as Tagged)[CONNECTION].message(data, isBinary);
}
function onPong(this: WebSocket): void {
  (this as Tagged)[CONNECTION].pong();
}
function onClose(this: WebSocket, code: number): void {
  (this as Tagged)[CONNECTION].socketClosed(code);
}
function onError(this: WebSocket, err: Error): void {
  (this as Tagged)[CONNECTION].socketError(err);
}

const sessionOptionsByRouter = new WeakMap<UpstreamRouter, Map<ConnectionOptions['limits'], WebSocketSessionOptions>>();
function sessionOptionsFor(router: UpstreamRouter, limits: ConnectionOptions['limits']): WebSocketSessionOptions {
  let byLimits = sessionOptionsByRouter.get(router);
  if (!byLimits) sessionOptionsByRouter.set(router, (byLimits = new Map()));
  let o = byLimits.get(limits);
  if (!o) byLimits.set(limits, (o = { serves: (domain) => router.serves(domain), limits, openTimeoutMs: limits.openTimeoutMs }));
  return o;
}

/** The connection is its upstream's listener (UpstreamEvents), so that no closures are made for it. */
export class WebSocketConnection implements UpstreamEvents {
  readonly #ws: WebSocket;
  readonly #options: ConnectionOptions;
  readonly #log: Logger;
  readonly #session: WebSocketSession;
  readonly #counters: Counters;
  readonly #onEnd: () => void;
  /** Until the machine asks for it to be closed or destroyed. */
  #upstream: UpstreamStream | undefined;
  /** Byte counts of the upstream, kept for the last log line. */
  #upstreamStats: { bytesIn: number; bytesOut: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | undefined;
  /** Bytes held toward one side before the other side's socket is paused (../flow-control.ts). */
  readonly #highWater: number;
  /** Back-pressure: the upstream socket is paused (the client does not read what it is sent). */
  #upstreamPaused = false;
  /** Back-pressure: the client's socket is paused (the server does not read what the client sends). */
  #clientPaused = false;
  /** @internal set while the socket is corked until the next tick */
  corked = false;

  constructor(ws: WebSocket, options: ConnectionOptions, onEnd: () => void) {
    this.#ws = ws;
    this.#options = options;
    this.#log = options.log;
    this.#onEnd = onEnd;
    this.#counters = countersFor(options.metrics);
    const { router, limits } = options;
    this.#highWater = highWaterMark(limits.maxBufferedBytes);
    this.#session = new WebSocketSession(sessionOptionsFor(router, limits), now());
    (ws as Tagged)[CONNECTION] = this;
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('close', onClose);
    ws.on('error', onError);
    this.#schedule();
  }

  get secure(): boolean {
    return this.#options.secure;
  }

  /** Sends a ping; a peer that did not answer the previous one is dropped. */
  keepalive(): void {
    // A client paused by the gateway cannot be heard answering: its silence is the gateway's doing.
    if (this.#clientPaused) return;
    this.#apply(this.#session.keepalive());
  }

  /** The gateway is closing: drop the socket and the upstream (resumable), no goodbye. */
  terminate(): void {
    this.#apply(this.#session.shutdown());
  }

  /** Drain: send the client elsewhere (RFC 7395 §3.6.1) or tell it the system is going down. */
  drain(seeOtherUri: string | undefined): void {
    this.#apply(this.#session.drain(seeOtherUri));
  }

  /** @internal the socket's listeners (onMessage and the others above) */
  pong(): void {
    this.#session.pong();
  }

  /** @internal */
  socketClosed(code: number): void {
    this.#apply(this.#session.socketClosed(code));
  }

  /** @internal */
  socketError(err: Error): void {
    this.#log.debug({ err: err.message }, 'websocket error');
  }

  /** @internal */
  message(data: Buffer, isBinary: boolean): void {
    this.#apply(this.#session.message(isBinary ? '' : data.toString('utf8'), isBinary), data.length);
    const upstream = this.#upstream;
    if (upstream !== undefined && !this.#clientPaused && upstream.writableLength > this.#highWater) this.#pauseClient();
  }

  /** The server does not read what the client sends: stop reading the client until the upstream drains. */
  #pauseClient(): void {
    this.#clientPaused = true;
    this.#counters.pausedToServer.inc();
    this.#ws.pause();
  }

  #resumeClient(): void {
    if (!this.#clientPaused || (this.#upstream !== undefined && this.#upstream.writableLength > this.#highWater)) return;
    this.#clientPaused = false;
    this.#counters.pausedToServer.dec();
    if (this.#session.state !== 'closed') this.#ws.resume();
  }

  /**
   * The client does not read what it is sent: stop reading its upstream socket until the client's socket drains,
   * so that TCP flow control holds the server back and the gateway keeps about one high-water mark.
   */
  #pauseUpstream(): void {
    const socket = this.#options.socket;
    const upstream = this.#upstream;
    // Above the high-water mark the socket's write() has said no, so 'drain' comes once the queue is empty.
    if (socket === undefined || upstream === undefined || !socket.writableNeedDrain) return;
    this.#upstreamPaused = true;
    this.#counters.pausedToClient.inc();
    upstream.pause();
    socket.once('drain', () => this.#resumeUpstream());
  }

  #resumeUpstream(): void {
    if (!this.#upstreamPaused) return;
    this.#upstreamPaused = false;
    this.#counters.pausedToClient.dec();
    this.#upstream?.resume();
  }

  // UpstreamEvents: called by this connection's upstream stream.
  opened(info: Parameters<UpstreamEvents['opened']>[0]): void {
    this.#apply(this.#session.upstreamOpened(info));
  }

  element(xml: string, kind: Parameters<UpstreamEvents['element']>[1]): void {
    const buffered = this.#ws.bufferedAmount;
    if (buffered > this.#options.limits.maxBufferedBytes && this.#session.state !== 'closed') {
      // A client that does not read: the machine drops it, its session resumable upstream.
      this.#log.warn(withCode('XWG_GW_SLOW_CLIENT', { buffered }), 'client does not read: dropping');
      this.#apply(this.#session.clientStalled());
      return;
    }
    this.#apply(this.#session.upstreamElement(xml, kind));
    if (!this.#upstreamPaused && this.#ws.bufferedAmount > this.#highWater) this.#pauseUpstream();
  }

  closed(): void {
    this.#apply(this.#session.upstreamClosed());
  }

  failed(condition: Parameters<UpstreamEvents['failed']>[0], text: string): void {
    this.#apply(this.#session.upstreamFailed(condition, text));
  }

  drained(): void {
    this.#resumeClient();
  }

  /** Carries out the machine's actions in order; `bytesIn` is the size of the client message that caused them. */
  #apply(actions: readonly WebSocketAction[], bytesIn = 0): void {
    for (const action of actions) {
      switch (action.type) {
        case 'send':
          this.#send(action.xml);
          break;
        case 'deliver':
          this.#counters.relayedOut.add(action.xml.length);
          this.#send(action.xml);
          break;
        case 'forward':
          this.#counters.relayedIn.add(bytesIn);
          this.#upstream?.send(action.xml);
          break;
        case 'openUpstream': {
          const upstream = this.#options.router.connect(action.domain, this, this.#log, this.#options.client);
          this.#upstream = upstream;
          this.#upstreamStats = upstream;
          upstream.open(action.attrs);
          break;
        }
        case 'restartUpstream':
          this.#upstream?.open(action.attrs);
          break;
        case 'closeUpstream':
          this.#upstream?.close();
          this.#upstream = undefined;
          break;
        case 'destroyUpstream':
          this.#upstream?.destroy();
          this.#upstream = undefined;
          break;
        case 'ping':
          this.#ws.ping();
          break;
        case 'closeSocket':
          this.#ws.close(1000);
          break;
        case 'dropSocket':
          this.#ws.terminate();
          break;
        case 'ended':
          this.#ended(action);
          break;
      }
    }
    this.#schedule();
  }

  #ended({ reason, error }: Extract<WebSocketAction, { type: 'ended' }>): void {
    // Whatever the machine left of the upstream (it already ended its stream) is released.
    this.#upstream?.destroy();
    this.#upstream = undefined;
    if (this.#upstreamPaused) this.#counters.pausedToClient.dec();
    if (this.#clientPaused) this.#counters.pausedToServer.dec();
    this.#upstreamPaused = false;
    this.#clientPaused = false;
    if (error?.cause !== undefined) this.#log.error(withCode('XWG_GW_CLIENT_MESSAGE_FAILED', { err: error.cause }), 'unexpected error reading a client message');
    if (error !== undefined) this.#log.info({ condition: error.condition, reason: error.text }, 'stream error');
    if (reason === 'dead-peer') this.#log.info('client missed a ping: dropping');
    this.#options.metrics.closes.inc({ transport: 'websocket', reason });
    this.#log.info({ reason, bytesIn: this.#upstreamStats?.bytesOut ?? 0, bytesOut: this.#upstreamStats?.bytesIn ?? 0 }, 'stream ended');
    this.#onEnd();
  }

  #send(xml: string): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    const socket = this.#options.socket;
    if (socket && !this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(uncork, this, socket);
    }
    this.#ws.send(xml);
  }

  /** Keeps one timer at the machine's next deadline. */
  #schedule(): void {
    const at = this.#session.nextDeadline();
    if (at === this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === undefined) return;
    // A timer may fire a little before `at` (coarser clock): tick() then leaves the deadline, and it is set again.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = undefined;
      this.#apply(this.#session.tick(now()));
    }, Math.max(1, Math.ceil(at - now())));
    this.#timer.unref();
  }
}
