// Who sent a request, once per request: the client address and whether it came over TLS,
// believing forwarding headers and PROXY protocol sources only as the configuration allows.
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import type { GatewayConfig } from '../../shared/gateway-config/schema.ts';
import { normalizeAddress, resolveClientAddress } from './client-address.ts';
import { proxyDestinationOf, proxySourceOf } from './listeners.ts';
import type { ClientLeg } from '../upstream/types.ts';

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

/**
 * The client's connection as the upstream is told of it (PROXY protocol towards the upstream): computed
 * once per upstream stream, not per request.
 */
export function clientLeg(req: IncomingMessage, context: RequestContext): ClientLeg {
  const socket = req.socket;
  const proxied = proxySourceOf(socket);
  const peer = proxied?.address ?? socket.remoteAddress ?? '';
  const viaHeader = context.clientAddress !== (normalizeAddress(peer) ?? peer);
  const destination = proxyDestinationOf(socket) ?? { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
  const sni = socket instanceof TLSSocket ? (socket as TLSSocket & { servername?: string | false }).servername : undefined;
  const host = req.headers.host;
  return {
    // A forwarding header names an address only; the port there is the proxy's, not the client's.
    source: { address: context.clientAddress, port: viaHeader ? 0 : (proxied?.port ?? socket.remotePort ?? 0) },
    destination: { address: destination.address, port: destination.port },
    authority: (typeof sni === 'string' && sni !== '' ? sni : host ? hostOnly(host) : undefined) || undefined,
    tls: context.secure,
    tlsVersion: socket instanceof TLSSocket ? (socket.getProtocol() ?? undefined) : undefined,
  };
}

/** "chat.example.com:443" → "chat.example.com", "[2001:db8::1]:443" → "2001:db8::1". */
function hostOnly(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') > 0 ? host.indexOf(']') : undefined);
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}
