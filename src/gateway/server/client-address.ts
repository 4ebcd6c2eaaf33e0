// Who the client is: the peer address, or what trusted proxies in front of us say about it.
import net from 'node:net';

/** Addresses and CIDRs whose forwarding headers are believed. */
export interface TrustedProxies {
  has(address: string): boolean;
}

/**
 * Compiles `listen.trustedProxies` ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7", "::ffff:10.0.0.0/104").
 * Throws a TypeError naming every entry that is neither an address nor a CIDR.
 */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new net.BlockList();
  const bad: string[] = [];
  for (const entry of entries) {
    const [addr = '', prefixText, ...extra] = entry.trim().split('/');
    const ip = normalizeAddress(addr);
    const family = ip === undefined ? 0 : net.isIP(ip);
    let prefix = prefixText === undefined ? (family === 4 ? 32 : 128) : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    // An IPv4-mapped CIDR was normalized to its IPv4 network: shift the prefix with it.
    if (ip !== undefined && family === 4 && net.isIPv6(addr) && prefixText !== undefined) prefix -= 96;
    if (ip === undefined || extra.length > 0 || !(prefix >= 0 && prefix <= (family === 4 ? 32 : 128))) {
      bad.push(entry);
      continue;
    }
    list.addSubnet(ip, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  if (bad.length > 0) throw new TypeError(`listen.trustedProxies: not an address or CIDR: ${bad.map((b) => JSON.stringify(b)).join(', ')}`);
  return {
    has(address) {
      const ip = normalizeAddress(address);
      return ip !== undefined && list.check(ip, net.isIPv4(ip) ? 'ipv4' : 'ipv6');
    },
  };
}

/**
 * The one text form of an address, so that the same client is always the same key: IPv6 in RFC 5952 form
 * without zone, IPv4-mapped IPv6 (`::ffff:192.0.2.1`) as plain IPv4. Undefined when `address` is not an IP.
 */
export function normalizeAddress(address: string): string | undefined {
  if (net.isIPv4(address)) return address;
  const bare = address.split('%')[0]!;
  if (!net.isIPv6(bare)) return undefined;
  const canonical = new net.SocketAddress({ address: bare, family: 'ipv6' }).address;
  return canonical.startsWith('::ffff:') && canonical.includes('.') ? canonical.slice(7) : canonical;
}

export type ForwardingHeader = 'forwarded' | 'x-forwarded-for';

export interface ClientAddressInput {
  /** The TCP peer, or the PROXY protocol source when the listener speaks it. */
  peerAddress: string;
  /** The connection to us is TLS. */
  peerSecure?: boolean;
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  trustedProxies: TrustedProxies | readonly string[];
  /**
   * Headers consulted, first present wins. Default X-Forwarded-For, then Forwarded: the common proxies
   * (ingress-nginx, Envoy, cloud load balancers) append to X-Forwarded-For and pass a client's Forwarded
   * header through untouched, so believing Forwarded first would let clients choose their address there.
   * A deployment whose proxy writes only Forwarded should pass ['forwarded'].
   */
  headerOrder?: readonly ForwardingHeader[];
}

export interface ClientAddress {
  /** Normalized (see normalizeAddress) when it is an IP; the peer address as given otherwise. */
  readonly address: string;
  /** The client reached the first proxy (or us) over TLS. */
  readonly secure: boolean;
  /** Which header supplied `address`; undefined: the peer itself. */
  readonly via?: ForwardingHeader;
}

const compiled = new WeakMap<readonly string[], TrustedProxies>();
const DEFAULT_ORDER: readonly ForwardingHeader[] = ['x-forwarded-for', 'forwarded'];

/**
 * Resolves the client behind trusted proxies: forwarding headers are read only when the peer is trusted,
 * walking the hops right to left past trusted proxies; the first untrusted hop is the client. A hop that is
 * not an IP (`unknown`, an obfuscated `_id`, garbage) ends the walk: nothing further left can be checked, so
 * the nearest known address is the answer.
 */
export function resolveClientAddress(input: ClientAddressInput): ClientAddress {
  const trusted = trustedOf(input.trustedProxies);
  const peer = normalizeAddress(input.peerAddress) ?? input.peerAddress;
  const peerSecure = input.peerSecure ?? false;
  if (!trusted.has(peer)) return { address: peer, secure: peerSecure };

  for (const header of input.headerOrder ?? DEFAULT_ORDER) {
    const value = headerValue(input.headers, header);
    if (value === undefined) continue;
    const hops = header === 'forwarded' ? parseForwarded(value) : parseXForwardedFor(value, headerValue(input.headers, 'x-forwarded-proto'));
    if (hops.length === 0) continue;
    const stop = firstUntrusted(hops, trusted);
    const address = hops[stop]!.for ?? hops[stop + 1]?.for;
    if (address === undefined) return { address: peer, secure: peerSecure };
    const proto = hops[stop]!.proto;
    return { address, secure: proto === undefined ? peerSecure : proto === 'https' || proto === 'wss', via: header };
  }
  return { address: peer, secure: peerSecure };
}

interface Hop {
  /** Normalized IP, undefined when the hop named none. */
  for?: string;
  /** Lower-cased scheme the hop was reached with. */
  proto?: string;
}

/** Index of the rightmost hop that is not a trusted IP; 0 when every hop is trusted. */
function firstUntrusted(hops: readonly Hop[], trusted: TrustedProxies): number {
  for (let i = hops.length - 1; i >= 0; i--) {
    const a = hops[i]!.for;
    if (a === undefined || !trusted.has(a)) return i;
  }
  return 0;
}

function trustedOf(t: TrustedProxies | readonly string[]): TrustedProxies {
  if (!Array.isArray(t)) return t as TrustedProxies;
  const list = t as readonly string[];
  let c = compiled.get(list);
  if (!c) compiled.set(list, (c = parseTrustedProxies(list)));
  return c;
}

function headerValue(headers: ClientAddressInput['headers'], name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(', ');
}

/** A node (RFC 7239 §6) or an X-Forwarded-For entry: IPv4, IPv6, "[IPv6]", either with a port. */
function parseNode(value: string): string | undefined {
  const v = value.trim();
  const direct = normalizeAddress(v);
  if (direct !== undefined) return direct;
  const bracketed = /^\[([^\]]+)\](?::[\w.-]*)?$/.exec(v);
  if (bracketed) return net.isIPv6(bracketed[1]!) ? normalizeAddress(bracketed[1]!) : undefined;
  const v4port = /^([\d.]+):[\w.-]*$/.exec(v);
  return v4port && net.isIPv4(v4port[1]!) ? v4port[1] : undefined;
}

function parseXForwardedFor(value: string, protoValue: string | undefined): Hop[] {
  const hops: Hop[] = value.split(',').map((entry) => {
    const address = parseNode(entry);
    return address === undefined ? {} : { for: address };
  });
  if (protoValue !== undefined) {
    // One entry per hop when every proxy appended; otherwise only the nearest proxy's (rightmost) is its own.
    const protos = protoValue.split(',').map((p) => p.trim().toLowerCase());
    hops.forEach((hop, i) => {
      hop.proto = protos.length === hops.length ? protos[i] : protos[protos.length - 1];
    });
  }
  return hops;
}

// RFC 7239 §4: Forwarded = 1#forwarded-element; forwarded-element = [pair] *( ";" [pair] ); pair = token "=" value
function parseForwarded(value: string): Hop[] {
  const hops: Hop[] = [];
  for (const element of splitOutsideQuotes(value, ',')) {
    const hop: Hop = {};
    for (const pair of splitOutsideQuotes(element, ';')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim().toLowerCase();
      const raw = unquote(pair.slice(eq + 1).trim());
      if (name === 'for') {
        const address = parseNode(raw);
        if (address !== undefined) hop.for = address;
      } else if (name === 'proto') {
        hop.proto = raw.toLowerCase();
      }
    }
    hops.push(hop);
  }
  return hops;
}

function splitOutsideQuotes(s: string, sep: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === sep) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts.filter((p) => p.trim() !== '');
}

function unquote(v: string): string {
  if (v.length < 2 || !v.startsWith('"') || !v.endsWith('"')) return v;
  return v.slice(1, -1).replace(/\\(.)/g, '$1');
}
