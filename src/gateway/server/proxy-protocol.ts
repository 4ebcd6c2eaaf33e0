// PROXY protocol v1 (text) and v2 (binary) headers: a pure parser over the bytes received so far,
// and the one place that reads such a header off a raw socket.
// https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
import net from 'node:net';
import { normalizeAddress } from './client-address.ts';

export interface ProxyAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/** Every way a PROXY header can fail, each documented once. */
export const PROXY_ERRORS = {
  PROXY_ERR_SIGNATURE: 'the connection does not start with a PROXY v1 or v2 signature',
  PROXY_ERR_V1_TOO_LONG: 'no CRLF within the 107 bytes a v1 header may take',
  PROXY_ERR_V1_MALFORMED: 'a v1 line that is not "PROXY TCP4|TCP6 src dst sport dport" or "PROXY UNKNOWN ..."',
  PROXY_ERR_V2_VERSION: 'a v2 header whose version nibble is not 2',
  PROXY_ERR_V2_COMMAND: 'a v2 command other than LOCAL (0) or PROXY (1)',
  PROXY_ERR_V2_FAMILY: 'a v2 address family or transport protocol outside the specification',
  PROXY_ERR_V2_LENGTH: 'a v2 length too short for its address family, or above the configured maximum',
  PROXY_ERR_TIMEOUT: 'the header did not arrive in time',
  PROXY_ERR_CLOSED: 'the connection ended before a complete header',
} as const;
export type ProxyErrorCode = keyof typeof PROXY_ERRORS;

export class ProxyProtocolError extends Error {
  readonly code: ProxyErrorCode;
  constructor(code: ProxyErrorCode, detail?: string) {
    super(detail === undefined ? PROXY_ERRORS[code] : `${PROXY_ERRORS[code]}: ${detail}`);
    this.name = 'ProxyProtocolError';
    this.code = code;
  }
}

/** More bytes are needed. */
export interface ProxyHeaderPending {
  readonly done: false;
  readonly error?: undefined;
}
/** A complete header of `headerLength` bytes; no `source` for v2 LOCAL, v1 UNKNOWN and non-IP families. */
export interface ProxyHeader {
  readonly done: true;
  readonly error?: undefined;
  readonly version: 1 | 2;
  readonly headerLength: number;
  readonly source?: ProxyAddress;
  readonly destination?: ProxyAddress;
}
/** The bytes cannot become a valid header; the connection is to be dropped. */
export interface ProxyHeaderInvalid {
  readonly done: true;
  readonly error: ProxyProtocolError;
}
export type ProxyHeaderResult = ProxyHeaderPending | ProxyHeader | ProxyHeaderInvalid;

export interface ProxyParseOptions {
  /** Largest v2 address+TLV block accepted (the 16-bit length field allows 65535). Default 4096. */
  maxV2Length?: number;
}

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V1_MAX = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED = 16;
const DEFAULT_MAX_V2_LENGTH = 4096;

const PENDING: ProxyHeaderPending = { done: false };
const invalid = (code: ProxyErrorCode, detail?: string): ProxyHeaderInvalid => ({
  done: true,
  error: new ProxyProtocolError(code, detail),
});

/** True when `buf` so far agrees with `signature` (either may be the shorter). */
function agrees(buf: Uint8Array, signature: Uint8Array): boolean {
  const n = Math.min(buf.length, signature.length);
  for (let i = 0; i < n; i++) if (buf[i] !== signature[i]) return false;
  return true;
}

/**
 * Parses the PROXY header at the start of `buf`, everything received so far. Call again with the longer
 * buffer after `{ done: false }`; bytes after `headerLength` belong to the application protocol.
 */
export function parseProxyHeader(buf: Uint8Array, options: ProxyParseOptions = {}): ProxyHeaderResult {
  if (buf.length === 0) return PENDING;
  if (agrees(buf, V2_SIGNATURE)) return buf.length < V2_FIXED ? PENDING : parseV2(buf, options.maxV2Length ?? DEFAULT_MAX_V2_LENGTH);
  if (agrees(buf, V1_PREFIX)) return parseV1(buf);
  return invalid('PROXY_ERR_SIGNATURE');
}

// §2.1 human-readable header format (version 1)
function parseV1(buf: Uint8Array): ProxyHeaderResult {
  const limit = Math.min(buf.length, V1_MAX);
  let cr = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      cr = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return invalid('PROXY_ERR_V1_MALFORMED', `byte 0x${c.toString(16)} at ${i}`);
  }
  if (cr < 0) return buf.length >= V1_MAX ? invalid('PROXY_ERR_V1_TOO_LONG') : PENDING;
  if (cr + 2 > V1_MAX) return invalid('PROXY_ERR_V1_TOO_LONG');
  if (cr + 1 === buf.length) return PENDING;
  if (buf[cr + 1] !== 0x0a) return invalid('PROXY_ERR_V1_MALFORMED', 'CR not followed by LF');
  const headerLength = cr + 2;
  const line = Buffer.from(buf.buffer, buf.byteOffset, cr).toString('latin1');
  const fields = line.split(' ');
  // "UNKNOWN": the receiver must ignore anything presented before the CRLF.
  if (fields[1] === 'UNKNOWN') return { done: true, version: 1, headerLength };
  if (fields.length !== 6 || (fields[1] !== 'TCP4' && fields[1] !== 'TCP6')) return invalid('PROXY_ERR_V1_MALFORMED', JSON.stringify(line));
  const family = fields[1] === 'TCP4' ? 'IPv4' : 'IPv6';
  const source = v1Address(family, fields[2]!, fields[4]!);
  const destination = v1Address(family, fields[3]!, fields[5]!);
  if (!source || !destination) return invalid('PROXY_ERR_V1_MALFORMED', JSON.stringify(line));
  return { done: true, version: 1, headerLength, source, destination };
}

function v1Address(family: 'IPv4' | 'IPv6', address: string, port: string): ProxyAddress | undefined {
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return undefined;
  if (family === 'IPv4') return net.isIPv4(address) ? { address, port: Number(port), family } : undefined;
  if (!net.isIPv6(address) || address.includes('%')) return undefined;
  return { address: new net.SocketAddress({ address, family: 'ipv6' }).address, port: Number(port), family };
}

// §2.2 binary header format (version 2)
function parseV2(buf: Uint8Array, maxLength: number): ProxyHeaderResult {
  const verCmd = buf[12]!;
  const famProto = buf[13]!;
  const length = (buf[14]! << 8) | buf[15]!;
  if (verCmd >> 4 !== 2) return invalid('PROXY_ERR_V2_VERSION', `0x${(verCmd >> 4).toString(16)}`);
  const command = verCmd & 0x0f;
  if (command > 1) return invalid('PROXY_ERR_V2_COMMAND', `0x${command.toString(16)}`);
  if (length > maxLength) return invalid('PROXY_ERR_V2_LENGTH', `${length} > ${maxLength}`);
  const family = famProto >> 4;
  // LOCAL: the receiver must use the real connection endpoints and discard the protocol block.
  if (command === 0) return buf.length < V2_FIXED + length ? PENDING : { done: true, version: 2, headerLength: V2_FIXED + length };
  if (family > 3 || (famProto & 0x0f) > 2) return invalid('PROXY_ERR_V2_FAMILY', `0x${famProto.toString(16)}`);
  const needed = [0, 12, 36, 216][family]!;
  if (length < needed) return invalid('PROXY_ERR_V2_LENGTH', `${length} < ${needed} for family ${family}`);
  if (buf.length < V2_FIXED + length) return PENDING;
  const headerLength = V2_FIXED + length;
  const view = Buffer.from(buf.buffer, buf.byteOffset + V2_FIXED, length);
  if (family === 1) {
    return {
      done: true, version: 2, headerLength,
      source: { address: ipv4(view.subarray(0, 4)), port: view.readUInt16BE(8), family: 'IPv4' },
      destination: { address: ipv4(view.subarray(4, 8)), port: view.readUInt16BE(10), family: 'IPv4' },
    };
  }
  if (family === 2) {
    return {
      done: true, version: 2, headerLength,
      source: { address: ipv6(view.subarray(0, 16)), port: view.readUInt16BE(32), family: 'IPv6' },
      destination: { address: ipv6(view.subarray(16, 32)), port: view.readUInt16BE(34), family: 'IPv6' },
    };
  }
  // UNSPEC or UNIX: nothing to put in place of the peer address.
  return { done: true, version: 2, headerLength };
}

const ipv4 = (b: Buffer): string => `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;

function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // RFC 5952 text form (zero compression, ::ffff:a.b.c.d for mapped addresses), as socket.remoteAddress shows it.
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

export interface ProxyAccepted {
  readonly socket: net.Socket;
  readonly version: 1 | 2;
  /** The client as the proxy saw it; undefined for LOCAL/UNKNOWN (health checks): keep the socket's own peer. */
  readonly source: ProxyAddress | undefined;
  /** The address the client reached at the proxy; undefined with `source`. */
  readonly destination: ProxyAddress | undefined;
}

/**
 * Reads the PROXY header off a freshly accepted socket. Bytes read past the header are put back with
 * `socket.unshift`, so whoever takes the socket next sees the stream from its first application byte.
 * On a malformed header, an early end or `timeoutMs` (0: none) the socket is destroyed and the promise rejects.
 */
export function acceptWithProxyProtocol(socket: net.Socket, timeoutMs: number, options: ProxyParseOptions = {}): Promise<ProxyAccepted> {
  return new Promise((resolve, reject) => {
    let received: Buffer = Buffer.alloc(0);
    const timer = timeoutMs > 0 ? setTimeout(() => fail(new ProxyProtocolError('PROXY_ERR_TIMEOUT', `${timeoutMs} ms`)), timeoutMs) : undefined;

    const cleanup = () => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', fail);
    };
    function fail(err: Error) {
      cleanup();
      socket.destroy();
      reject(err);
    }
    function onEnd() {
      fail(new ProxyProtocolError('PROXY_ERR_CLOSED', `after ${received.length} bytes`));
    }
    function onReadable() {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
        const result = parseProxyHeader(received, options);
        if (result.error) return fail(result.error);
        if (result.done) {
          cleanup();
          const rest = received.subarray(result.headerLength);
          if (rest.length > 0) socket.unshift(rest);
          resolve({ socket, version: result.version, source: result.source, destination: result.destination });
          return;
        }
      }
    }

    socket.on('readable', onReadable);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', fail);
  });
}

// -- Encoding: the header the gateway writes towards its upstream (same specification, §2.1 and §2.2).

/** What a PROXY header tells the receiver about the client's connection. */
export interface ProxyHeaderFields {
  /** The client; undefined (or not an IP) gives v1 UNKNOWN / v2 LOCAL: the receiver keeps the real peer. */
  readonly source: { readonly address: string; readonly port: number } | undefined;
  /** The address the client connected to. */
  readonly destination: { readonly address: string; readonly port: number };
  /** v2 only: PP2_TYPE_AUTHORITY, the host name the client used (SNI, else Host). */
  readonly authority?: string | undefined;
  /** v2 only: PP2_TYPE_SSL, the client's connection was TLS; `tlsVersion` (e.g. "TLSv1.3") when known. */
  readonly tls?: boolean;
  readonly tlsVersion?: string | undefined;
}

/** §2.2.1 and §2.2.5 type values. */
export const PP2_TYPE_AUTHORITY = 0x02;
export const PP2_TYPE_SSL = 0x20;
export const PP2_SUBTYPE_SSL_VERSION = 0x21;
const PP2_CLIENT_SSL = 0x01;

/** Both ends as one family: an IPv4 end beside an IPv6 one becomes IPv4-mapped IPv6. */
function endpoints(f: ProxyHeaderFields): { family: 4 | 6; src: string; dst: string; sport: number; dport: number } | undefined {
  if (!f.source) return undefined;
  // IPv4-mapped addresses (a dual-stack listener) count as IPv4; zones are dropped.
  const src = normalizeAddress(f.source.address);
  const dst = normalizeAddress(f.destination.address);
  if (src === undefined || dst === undefined || !validPort(f.source.port) || !validPort(f.destination.port)) return undefined;
  const s = net.isIP(src);
  const d = net.isIP(dst);
  const mapped = (a: string, fam: number) => (fam === 4 ? `::ffff:${a}` : a);
  if (s === 4 && d === 4) return { family: 4, src, dst, sport: f.source.port, dport: f.destination.port };
  return { family: 6, src: mapped(src, s), dst: mapped(dst, d), sport: f.source.port, dport: f.destination.port };
}

const validPort = (p: number) => Number.isInteger(p) && p >= 0 && p <= 65535;

/** §2.1: "PROXY TCP4|TCP6 src dst sport dport\r\n", or "PROXY UNKNOWN\r\n" when the source is not an IP. */
export function encodeProxyV1(f: ProxyHeaderFields): Buffer {
  const e = endpoints(f);
  if (!e) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  // RFC 5952 text for IPv6, as the parser reads it back.
  const text = (a: string) => (e.family === 6 ? new net.SocketAddress({ address: a, family: 'ipv6' }).address : a);
  return Buffer.from(`PROXY TCP${e.family} ${text(e.src)} ${text(e.dst)} ${e.sport} ${e.dport}\r\n`, 'latin1');
}

/** §2.2: signature, PROXY (or LOCAL) over TCP, the addresses, then the TLVs. */
export function encodeProxyV2(f: ProxyHeaderFields): Buffer {
  const e = endpoints(f);
  const tlvs: Buffer[] = [];
  // A host name is at most 253 bytes; anything longer the client made up is not passed on.
  const authority = f.authority ? Buffer.from(f.authority, 'utf8') : undefined;
  if (e && authority && authority.length <= 255) tlvs.push(tlv(PP2_TYPE_AUTHORITY, authority));
  if (e && f.tls) {
    // §2.2.5: client bit field, then a 32-bit verify result: non-zero, as no client certificate was verified.
    const head = Buffer.from([PP2_CLIENT_SSL, 0, 0, 0, 1]);
    const sub = f.tlsVersion ? [tlv(PP2_SUBTYPE_SSL_VERSION, Buffer.from(f.tlsVersion, 'latin1'))] : [];
    tlvs.push(tlv(PP2_TYPE_SSL, Buffer.concat([head, ...sub])));
  }
  const addressLength = !e ? 0 : e.family === 4 ? 12 : 36;
  const tlvLength = tlvs.reduce((n, t) => n + t.length, 0);
  const out = Buffer.alloc(V2_FIXED + addressLength + tlvLength);
  V2_SIGNATURE.copy(out, 0);
  if (!e) {
    // LOCAL: the receiver uses the connection's own endpoints (§2.2, command 0x0), family UNSPEC.
    out[12] = 0x20;
    out[13] = 0x00;
    return out;
  }
  out[12] = 0x21;
  out[13] = e.family === 4 ? 0x11 : 0x21;
  out.writeUInt16BE(addressLength + tlvLength, 14);
  let at = V2_FIXED;
  if (e.family === 4) {
    at = writeIpv4(out, at, e.src);
    at = writeIpv4(out, at, e.dst);
  } else {
    at = writeIpv6(out, at, e.src);
    at = writeIpv6(out, at, e.dst);
  }
  at = out.writeUInt16BE(e.sport, at);
  at = out.writeUInt16BE(e.dport, at);
  for (const t of tlvs) at += t.copy(out, at);
  return out;
}

function tlv(type: number, value: Buffer): Buffer {
  const b = Buffer.alloc(3 + value.length);
  b[0] = type;
  b.writeUInt16BE(value.length, 1);
  value.copy(b, 3);
  return b;
}

function writeIpv4(out: Buffer, at: number, address: string): number {
  for (const part of address.split('.')) out[at++] = Number(part);
  return at;
}

function writeIpv6(out: Buffer, at: number, address: string): number {
  // Expand "::" and a dotted IPv4 tail into eight 16-bit groups.
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  for (const g of groups) at = out.writeUInt16BE(parseInt(g, 16), at);
  return at;
}
