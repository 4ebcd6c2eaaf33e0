// The gateway's listening sockets: plain HTTP on listen.port, HTTPS with SNI on listen.tlsPort, each
// optionally behind a PROXY protocol header. Routing is the caller's (onRequest, onUpgrade).
import type http from 'node:http';
import type https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { GatewayConfig } from '../../shared/gateway-config/index.ts';
import { withCode } from '../../shared/errors/codes.ts';
import type { CertStore, Logger } from './cert-store.ts';
import { nodeHttp, nodeHttps } from './node-http.ts';
import { acceptWithProxyProtocol, ProxyProtocolError, type ProxyAddress } from './proxy-protocol.ts';

export type ListenConfig = GatewayConfig['listen'];

export interface ListenersOptions {
  config: ListenConfig;
  /** Required when the HTTPS listener is enabled. */
  certStore?: CertStore;
  onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  onUpgrade: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;
  log: Logger;
  /**
   * Which listeners to create; default: those whose port is non-zero. A listener enabled here with port 0
   * binds an ephemeral port (tests).
   */
  enable?: { http?: boolean; https?: boolean };
  /** Idle time of a kept-alive connection between requests. Default 65 s: above the 60 s idle timeout of common load balancers, so they never reuse a connection we are closing. */
  keepAliveTimeoutMs?: number;
}

export interface Listeners {
  /** The servers that handle requests; in PROXY mode they never listen themselves and are fed connections. */
  readonly servers: { readonly http?: http.Server; readonly https?: https.Server };
  /** Binds the enabled listeners; resolves with the bound ports (0 for a listener not enabled). */
  start(): Promise<{ port: number; tlsPort: number }>;
  /** Stops accepting connections and closes idle kept-alive ones; open requests and WebSockets carry on. */
  closeListeners(): Promise<void>;
  /**
   * Stops accepting connections only: kept-alive ones stay open, so that a drain answers the requests still
   * arriving on them (closing them now would reset a request already on its way).
   */
  stopAccepting(): void;
  /** Stops accepting and drops every connection still carrying HTTP (upgraded sockets belong to their endpoint). */
  closeAll(): void;
}

const sources = new WeakMap<object, ProxyAddress>();
const destinations = new WeakMap<object, ProxyAddress>();

/** The client address a PROXY header announced for this socket (the raw socket or the TLS socket over it). */
export function proxySourceOf(socket: object): ProxyAddress | undefined {
  // A TLS server wraps the raw socket it was given; Node keeps it as `_parent`.
  return sources.get(socket) ?? sources.get((socket as { _parent?: object })._parent ?? socket);
}

/** The address the client reached at the proxy in front, as its PROXY header announced it. */
export function proxyDestinationOf(socket: object): ProxyAddress | undefined {
  return destinations.get(socket) ?? destinations.get((socket as { _parent?: object })._parent ?? socket);
}

/**
 * The address to make trust decisions with (resolveClientAddress's peerAddress): the PROXY source when
 * there is one, since the TCP peer is then only the layer-4 balancer, else the TCP peer.
 */
export function peerAddressOf(socket: net.Socket): string {
  return proxySourceOf(socket)?.address ?? socket.remoteAddress ?? '';
}

export function createListeners(options: ListenersOptions): Listeners {
  const { config, log } = options;
  const wantHttp = options.enable?.http ?? config.port !== 0;
  const wantHttps = options.enable?.https ?? config.tlsPort !== 0;
  if (wantHttps && !options.certStore) throw new TypeError('createListeners: an HTTPS listener needs a certStore');

  let headersTimeout = config.headerTimeoutMs;
  const requestTimeout = config.requestTimeoutMs;
  if (requestTimeout > 0 && headersTimeout > requestTimeout) {
    log.warn(withCode('XWG_GW_TIMEOUTS_ADJUSTED', { headerTimeoutMs: headersTimeout, requestTimeoutMs: requestTimeout }), 'listen.headerTimeoutMs exceeds requestTimeoutMs; using requestTimeoutMs');
    headersTimeout = requestTimeout;
  }
  // Node checks those timeouts on a timer (default every 30 s): check often enough for them to mean what they say.
  const shortest = Math.min(...[headersTimeout, requestTimeout].filter((t) => t > 0), 120_000);
  const serverOptions: http.ServerOptions = {
    headersTimeout,
    requestTimeout,
    connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(shortest / 4))),
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000,
    noDelay: true,
  };

  const wire = <S extends http.Server>(server: S): S => {
    server.on('request', options.onRequest);
    server.on('upgrade', options.onUpgrade);
    return server;
  };

  const httpServer = wantHttp ? wire(nodeHttp.createServer(serverOptions)) : undefined;

  let httpsServer: https.Server | undefined;
  let applyDefaultCert: (() => void) | undefined;
  const certStore = options.certStore;
  if (wantHttps && certStore) {
    // The TLS handshake gets the time a request head gets: a client stalling it is the same slowloris.
    const handshakeTimeout = headersTimeout > 0 ? headersTimeout : undefined;
    httpsServer = wire(nodeHttps.createServer({ ...serverOptions, handshakeTimeout, SNICallback: certStore.SNICallback }));
    const server = httpsServer;
    // No SNI (a client dialing an IP address) never reaches SNICallback: the server's own context answers.
    applyDefaultCert = () => {
      const creds = certStore.defaultCredentials();
      if (creds) server.setSecureContext({ cert: creds.cert, key: creds.key });
      else log.warn(withCode('XWG_GW_NO_DEFAULT_CERT'), 'no default certificate: TLS clients without SNI will fail');
    };
    applyDefaultCert();
    certStore.on('reload', applyDefaultCert);
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
      log.debug?.({ err: err.message, code: err.code, peer: peerAddressOf(socket) }, 'TLS handshake failed');
    });
  }

  // PROXY mode: raw TCP listeners read the header, then hand the socket to the HTTP(S) server.
  const pending = new Set<net.Socket>();
  const proxyFront = (target: http.Server): net.Server =>
    net.createServer({ noDelay: true }, (socket) => {
      // Stays for the socket's life: an error between the header and the hand-over must not go unheard.
      socket.on('error', () => {});
      pending.add(socket);
      acceptWithProxyProtocol(socket, headersTimeout).then(
        ({ source, destination }) => {
          pending.delete(socket);
          if (source) sources.set(socket, source);
          if (destination) destinations.set(socket, destination);
          target.emit('connection', socket);
        },
        (err: unknown) => {
          pending.delete(socket);
          const code = err instanceof ProxyProtocolError ? err.code : undefined;
          const fields = { err: err instanceof Error ? err.message : String(err), proxyError: code, peer: socket.remoteAddress };
          // Load balancer health checks connect and close without a header.
          if (code === 'PROXY_ERR_CLOSED' || code === undefined) log.debug?.(fields, 'connection closed before its PROXY header');
          else log.warn(withCode('XWG_GW_PROXY_HEADER_INVALID', fields), 'bad PROXY protocol header; connection dropped');
        },
      );
    });

  const bound: { server: net.Server; served?: http.Server; port: number; name: 'port' | 'tlsPort' }[] = [];
  if (httpServer) bound.push(config.proxyProtocol ? { server: proxyFront(httpServer), served: httpServer, port: config.port, name: 'port' } : { server: httpServer, port: config.port, name: 'port' });
  if (httpsServer) bound.push(config.proxyProtocol ? { server: proxyFront(httpsServer), served: httpsServer, port: config.tlsPort, name: 'tlsPort' } : { server: httpsServer, port: config.tlsPort, name: 'tlsPort' });

  const stopListening = () => {
    for (const b of bound) if (b.server.listening) net.Server.prototype.close.call(b.server);
    for (const socket of pending) socket.destroy();
    pending.clear();
  };
  const stopAccepting = () => {
    if (applyDefaultCert) certStore?.off('reload', applyDefaultCert);
    for (const b of bound) {
      // http.Server#close also closes idle kept-alive connections, listening or not (after stopListening); a fed
      // server is closed for that alone.
      if (b.served !== undefined && b.server.listening) b.server.close();
      (b.served ?? (b.server as http.Server)).close();
    }
    for (const socket of pending) socket.destroy();
    pending.clear();
  };

  return {
    servers: { http: httpServer, https: httpsServer },

    async start() {
      const ports = { port: 0, tlsPort: 0 };
      for (const b of bound) {
        try {
          await new Promise<void>((resolve, reject) => {
            b.server.once('error', reject);
            b.server.listen({ port: b.port, host: config.host }, () => {
              b.server.off('error', reject);
              resolve();
            });
          });
        } catch (err) {
          stopAccepting();
          throw err;
        }
        // An HTTP server fed connections starts its header/request timeout checks on 'listening' only.
        b.served?.emit('listening');
        ports[b.name] = (b.server.address() as net.AddressInfo).port;
        log.info({ host: config.host, port: ports[b.name], tls: b.name === 'tlsPort', proxyProtocol: config.proxyProtocol }, 'listening');
      }
      return ports;
    },

    async closeListeners() {
      stopAccepting();
    },

    stopAccepting() {
      stopListening();
    },

    closeAll() {
      stopAccepting();
      httpServer?.closeAllConnections();
      httpsServer?.closeAllConnections();
    },
  };
}
