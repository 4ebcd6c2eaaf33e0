// The PROXY header (v1 or v2) an upstream connection starts with, from the client's leg.
// The encoding lives beside the parser in ../server/proxy-protocol.ts.
import type { UpstreamProxyProtocol } from '../../shared/gateway-config/schema.ts';
import { encodeProxyV1, encodeProxyV2, type ProxyHeaderFields } from '../server/proxy-protocol.ts';
import type { ClientLeg } from './types.ts';

/**
 * The header to write first, or undefined for `none`. Without a client leg (a connection of the gateway's
 * own) the header still comes, as v1 UNKNOWN / v2 LOCAL: a server that expects one refuses any other start.
 */
export function proxyHeaderFor(version: UpstreamProxyProtocol, client: ClientLeg | undefined): Buffer | undefined {
  if (version === 'none') return undefined;
  const fields: ProxyHeaderFields = client
    ? { source: client.source, destination: client.destination, authority: client.authority, tls: client.tls, tlsVersion: client.tlsVersion }
    : { source: undefined, destination: { address: '0.0.0.0', port: 0 } };
  return version === 'v1' ? encodeProxyV1(fields) : encodeProxyV2(fields);
}
