// Operational endpoints (/healthz, /readyz, /metrics) and the admin listener that serves them. The admin
// listener is plain HTTP on its own address and port and serves nothing else; the public listeners answer
// the probes only with admin.publicProbes, and /metrics never (anyone could read the figures, and make the
// node build the text as often as they like).
import type http from 'node:http';
import type net from 'node:net';
import type { Logger } from './cert-store.ts';
import { nodeHttp } from './node-http.ts';

export type OpsEndpoint = 'healthz' | 'readyz' | 'metrics';
export type ListenerKind = 'admin' | 'public';

const OPS_PATHS: Readonly<Record<string, OpsEndpoint>> = { '/healthz': 'healthz', '/readyz': 'readyz', '/metrics': 'metrics' };

/** The operational endpoint `path` names on a listener of this kind; undefined: none there (other routes, or 404). */
export function opsEndpointFor(path: string, listener: ListenerKind, publicProbes: boolean): OpsEndpoint | undefined {
  const endpoint = OPS_PATHS[path];
  if (endpoint === undefined || listener === 'admin') return endpoint;
  return publicProbes && endpoint !== 'metrics' ? endpoint : undefined;
}

export type Readiness = 'starting' | 'ready' | 'draining';

export interface OpsAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const text = (status: number, body: string, headers: Record<string, string> = {}): OpsAnswer => ({
  status,
  headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers },
  body: `${body}\n`,
});

/**
 * The answer to a probe, or undefined for /metrics (the caller renders the registry). Probes are GET (the
 * kubelet, load balancers) or HEAD; /readyz fails from the first moment of a drain, while the process still
 * answers /healthz, so the node leaves the published list and its Service endpoints before it stops.
 */
export function opsAnswer(endpoint: OpsEndpoint, method: string | undefined, readiness: Readiness): OpsAnswer | undefined {
  if (method !== 'GET' && method !== 'HEAD') return text(405, 'method not allowed', { Allow: 'GET, HEAD' });
  if (endpoint === 'healthz') return text(200, 'ok');
  if (endpoint === 'readyz') return readiness === 'ready' ? text(200, 'ready') : text(503, readiness);
  return undefined;
}

export interface OpsSource {
  readiness(): Readiness;
  /** Prometheus text of the registry. */
  metrics(): Promise<{ contentType: string; text: string }>;
}

export function serveOps(endpoint: OpsEndpoint, req: http.IncomingMessage, res: http.ServerResponse, source: OpsSource): void {
  const answer = opsAnswer(endpoint, req.method, source.readiness());
  if (answer) return send(res, answer);
  source.metrics().then(
    (m) => send(res, { status: 200, headers: { 'Content-Type': m.contentType, 'Cache-Control': 'no-store' }, body: m.text }),
    () => send(res, text(500, 'metrics failed')),
  );
}

function send(res: http.ServerResponse, answer: OpsAnswer): void {
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

export interface AdminListenerOptions {
  host: string;
  port: number;
  source: OpsSource;
  log: Logger;
}

export interface AdminListener {
  /** Binds; resolves with the bound port. */
  start(): Promise<number>;
  /** Stops accepting and drops every connection (Prometheus keeps its own alive). */
  close(): void;
}

/** Probes and scrapes are small GETs: a slow one is a broken client. */
const ADMIN_TIMEOUT_MS = 10_000;

export function createAdminListener(options: AdminListenerOptions): AdminListener {
  const { host, port, source, log } = options;
  const server = nodeHttp.createServer({ headersTimeout: ADMIN_TIMEOUT_MS, requestTimeout: ADMIN_TIMEOUT_MS, connectionsCheckingInterval: 2_500 }, (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const endpoint = opsEndpointFor(path, 'admin', false);
    if (endpoint) return serveOps(endpoint, req, res, source);
    send(res, text(404, 'not found: this is the admin listener (/metrics, /healthz, /readyz)'));
  });
  // No WebSocket here: an upgrade request is refused, not left hanging.
  server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'));
  return {
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const bound = (server.address() as net.AddressInfo).port;
      log.info({ host, port: bound }, 'admin listening (/metrics, /healthz, /readyz)');
      return bound;
    },
    close() {
      server.close();
      server.closeAllConnections();
    },
  };
}
