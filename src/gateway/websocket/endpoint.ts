// The RFC 7395 endpoint: handshake checks, then one WebSocketConnection per socket.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { GatewayConfig } from '../../shared/gateway-config/schema.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { UpstreamRouter } from '../upstream/router.ts';
import { WebSocketConnection } from './connection.ts';
import { drainUntil } from '../server/drain.ts';
import { clientLeg } from '../server/context.ts';
import type { ClientLeg } from '../upstream/types.ts';

export interface WebSocketEndpointOptions {
  config: GatewayConfig;
  router: UpstreamRouter;
  metrics: GatewayMetrics;
  log: Logger;
}

/** §3.1: the `xmpp` subprotocol is required; without it there is no XMPP over this socket. */
export const XMPP_SUBPROTOCOL = 'xmpp';

export class WebSocketEndpoint {
  private readonly wss: WebSocketServer;
  private readonly options: WebSocketEndpointOptions;
  private readonly connections = new Set<WebSocketConnection>();
  private readonly sweep: NodeJS.Timeout | undefined;
  private nextId = 0;

  constructor(options: WebSocketEndpointOptions) {
    this.options = options;
    const { config } = options;
    this.wss = new WebSocketServer({
      noServer: true,
      // A message is one stanza (§3.3.3), so the payload limit is the stanza limit plus framing slack.
      maxPayload: config.limits.maxStanzaBytes * 4 + 1024,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(XMPP_SUBPROTOCOL) ? XMPP_SUBPROTOCOL : false),
    });
    // One timer for every connection: ping all, drop those that missed the last ping.
    const every = config.websocket.pingIntervalMs;
    if (every > 0) {
      this.sweep = setInterval(() => {
        for (const c of this.connections) c.keepalive();
      }, every);
      this.sweep.unref();
    }
  }

  matches(path: string): boolean {
    return this.options.config.websocket.enabled && this.options.config.websocket.paths.includes(path);
  }

  get size(): number {
    return this.connections.size;
  }

  /**
   * Completes the upgrade of an already admitted request (path, Origin and limits checked by the
   * caller). `release` is called when the connection ends.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, context: { id: string; clientAddress: string; secure: boolean }, release: () => void): void {
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(XMPP_SUBPROTOCOL)) {
      this.options.metrics.refused.inc({ transport: 'websocket', reason: 'no-subprotocol' });
      rejectUpgrade(socket, 400, 'the xmpp WebSocket subprotocol is required (RFC 7395 section 3.1)');
      release();
      return;
    }
    // Everything the connection keeps is taken from the request now: no closure below holds the request (its
    // headers) or the upgrade's first bytes for the life of the connection.
    const client = clientLeg(req, context);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, socket, context, client, release));
  }

  private open(ws: WebSocket, socket: Duplex, context: { id: string; clientAddress: string; secure: boolean }, client: ClientLeg, release: () => void): void {
    const log = this.options.log.child({ conn: context.id, client: context.clientAddress, transport: 'websocket' });
    const { metrics, config, router } = this.options;
    metrics.connections.inc({ transport: 'websocket' });
    const connection: WebSocketConnection = new WebSocketConnection(
      ws,
      { limits: config.limits, router, metrics, log, secure: context.secure, socket, client },
      () => {
        if (!this.connections.delete(connection)) return;
        metrics.connections.dec({ transport: 'websocket' });
        release();
      },
    );
    this.connections.add(connection);
    log.info('websocket opened');
  }

  newId(): string {
    this.nextId += 1;
    return `ws-${this.nextId}`;
  }

  /** Sends every client elsewhere; resolves when all are gone or the deadline passes. */
  async drain(seeOtherUri: (secure: boolean) => string | undefined, deadline: Promise<void>): Promise<void> {
    for (const c of [...this.connections]) c.drain(seeOtherUri(c.secure));
    await drainUntil(() => this.connections.size === 0, deadline);
  }

  close(): void {
    if (this.sweep) clearInterval(this.sweep);
    // With noServer and no client tracking, ws leaves open sockets alone: end each one here.
    for (const c of [...this.connections]) c.terminate();
    this.wss.close();
  }
}

/** Answers a refused upgrade with a plain HTTP response, never an exception. */
export function rejectUpgrade(socket: Duplex, status: number, message: string): void {
  const reason = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }[status] ?? 'Error';
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
