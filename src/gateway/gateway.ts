// One gateway process: the public listeners and their routes, the WebSocket and BOSH endpoints, discovery,
// the admin listener (health, readiness, metrics) and the drain. Everything is built from one validated
// configuration.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../shared/gateway-config/schema.ts';
import { withCode } from '../shared/errors/codes.ts';
import { BoshEndpoint } from './bosh/endpoint.ts';
import { DiscoveryEndpoint } from './discovery/endpoint.ts';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.ts';
import { createAdminListener, opsEndpointFor, serveOps, type OpsSource } from './server/admin.ts';
import { CertStore } from './server/cert-store.ts';
import { requestContext, type RequestContext } from './server/context.ts';
import { ConnectionLimits } from './server/connection-limits.ts';
import { createListeners } from './server/listeners.ts';
import { createOriginPolicy } from './server/origin.ts';
import { createUpstreamRouter } from './upstream/router.ts';
import { rejectUpgrade, WebSocketEndpoint } from './websocket/endpoint.ts';

export interface GatewayHandle {
  /** Bound ports; 0 for a listener that is off. */
  ports: { http: number; https: number; admin: number };
  metrics: GatewayMetrics;
  /** Stops accepting, reports not ready, sends every client elsewhere; resolves within the drain deadline. */
  drain(): Promise<void>;
  close(): Promise<void>;
  readonly connections: { websocket: number; bosh: number };
}

export interface GatewayOptions {
  /** Tests run several gateways in one process: no process-wide default metrics there. */
  defaultMetrics?: boolean;
}

export async function startGateway(config: GatewayConfig, log: Logger, options: GatewayOptions = {}): Promise<GatewayHandle> {
  const metrics = createGatewayMetrics({ defaultMetrics: options.defaultMetrics ?? true });
  const router = createUpstreamRouter(config, {
    onConnect: (seconds, ok) => (ok ? metrics.upstreamConnect.observe(seconds) : metrics.upstreamFailures.inc()),
  });
  const origins = createOriginPolicy(config.allowedOrigins, (origin) =>
    log.info({ origin }, 'allowing a browser origin: set allowedOrigins to restrict'),
  );
  const limits = new ConnectionLimits(config.limits);
  const certStore =
    config.listen.tlsPort !== 0 ? await CertStore.open({ dir: config.listen.certDir, defaultCert: config.listen.defaultCert, log }) : undefined;
  const discovery = new DiscoveryEndpoint(config, log);
  await discovery.start();
  const websocket = new WebSocketEndpoint({ config, router, metrics, log });
  const bosh = new BoshEndpoint({ config, router, metrics, log, origins });
  let draining = false;
  let started = false;
  const ops: OpsSource = {
    readiness: () => (draining ? 'draining' : started ? 'ready' : 'starting'),
    metrics: async () => ({ contentType: metrics.registry.contentType, text: await metrics.registry.metrics() }),
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const endpoint = opsEndpointFor(path, 'public', config.admin.publicProbes);
    if (endpoint) return serveOps(endpoint, req, res, ops);
    const context = requestContext(req, config);
    if (discovery.handle(req, res, context)) return;
    if (bosh.matches(path)) return bosh.handle(req, res, context, draining);
    if (websocket.matches(path)) return plain(res, 426, 'this is an XMPP WebSocket endpoint (RFC 7395): upgrade required');
    plain(res, 404, 'not found');
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', destroySocket);
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (!websocket.matches(path)) return rejectUpgrade(socket, 404, 'no WebSocket endpoint here');
    const context: RequestContext = requestContext(req, config);
    const refuse = (status: number, reason: string, message: string) => {
      metrics.refused.inc({ transport: 'websocket', reason });
      log.info({ client: context.clientAddress, origin: req.headers.origin, reason }, 'websocket refused');
      rejectUpgrade(socket, status, message);
    };
    if (draining) return refuse(503, 'draining', 'this node is shutting down');
    if (!origins.allows(req.headers.origin)) return refuse(403, 'origin', 'origin not allowed');
    const release = limits.tryAcquire(context.clientAddress);
    if (!release) return refuse(503, 'limit', 'too many connections');
    websocket.upgrade(req, socket, head, { id: websocket.newId(), clientAddress: context.clientAddress, secure: context.secure }, release);
  };

  const listeners = createListeners({ config: config.listen, certStore, onRequest, onUpgrade, log });
  const admin = config.admin.port !== 0 ? createAdminListener({ host: config.admin.host, port: config.admin.port, source: ops, log }) : undefined;
  const bound = await listeners.start();
  let adminPort = 0;
  try {
    // Last, so that a node answering its probes has its public listeners bound.
    if (admin) adminPort = await admin.start();
  } catch (err) {
    listeners.closeAll();
    websocket.close();
    bosh.close();
    discovery.close();
    certStore?.close();
    throw err;
  }
  started = true;
  if (!admin) log.warn(withCode('XWG_GW_ADMIN_DISABLED'), 'admin.port is 0: no /metrics, and no probes unless admin.publicProbes');
  log.info({ http: bound.port, https: bound.tlsPort, admin: adminPort, domains: config.domains }, 'gateway started');

  return {
    ports: { http: bound.port, https: bound.tlsPort, admin: adminPort },
    metrics,
    get connections() {
      return { websocket: websocket.size, bosh: bosh.size };
    },
    async drain() {
      if (draining) return;
      // First: /readyz fails from now on (the admin listener stays open until close), so the node leaves the
      // published list and its Service endpoints while it sends its clients elsewhere.
      draining = true;
      // Kept-alive connections stay open meanwhile: a BOSH request already on its way gets see-other-uri.
      listeners.stopAccepting();
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, config.drain.deadlineMs).unref());
      await Promise.all([
        websocket.drain((secure) => discovery.otherNodeUrl(config.nodeName, 'websocketUrl', secure), deadline),
        bosh.drain(() => discovery.otherNodeUrl(config.nodeName, 'boshUrl'), deadline),
      ]);
      await listeners.closeListeners();
    },
    async close() {
      draining = true;
      websocket.close();
      bosh.close();
      discovery.close();
      certStore?.close();
      await listeners.closeListeners();
      listeners.closeAll();
      admin?.close();
    },
  };
}

/** Module-level, so the listener does not keep each upgrade request alive through a closure. */
function destroySocket(this: Duplex): void {
  this.destroy();
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`${text}\n`);
}
