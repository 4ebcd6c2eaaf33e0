// Who sent a request, once per request: the client address and whether it came over TLS,
// believing forwarding headers and PROXY protocol sources only as the configuration allows.
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import type { GatewayConfig } from '../../shared/gateway-config/schema.ts';
import { resolveClientAddress } from './client-address.ts';
import { proxySourceOf } from './listeners.ts';

export interface RequestContext {
  clientAddress: string;
  /** The browser reached us (or the first trusted proxy) over TLS: published URLs use wss/https. */
  secure: boolean;
}

export function requestContext(req: IncomingMessage, config: GatewayConfig): RequestContext {
  const socket = req.socket;
  const proxied = proxySourceOf(socket);
  const resolved = resolveClientAddress({
    peerAddress: proxied?.address ?? socket.remoteAddress ?? 'unknown',
    peerSecure: socket instanceof TLSSocket,
    headers: req.headers,
    trustedProxies: config.listen.trustedProxies,
  });
  return { clientAddress: resolved.address, secure: resolved.secure };
}
