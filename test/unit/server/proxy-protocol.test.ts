import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acceptWithProxyProtocol,
  parseProxyHeader,
  PROXY_ERRORS,
  type ProxyAccepted,
  type ProxyErrorCode,
  ProxyProtocolError,
} from '../../../src/gateway/server/proxy-protocol.ts';

const SIG = '0d0a0d0a000d0a515549540a';
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const APP = Buffer.from('GET / HTTP/1.1\r\n');

interface Vector {
  name: string;
  bytes: Buffer;
  version: 1 | 2;
  source?: { address: string; port: number; family: string };
  destination?: { address: string; port: number; family: string };
}

const V1_WORST = 'PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n';

const VECTORS: Vector[] = [
  {
    name: 'v1 TCP4',
    bytes: Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n'),
    version: 1,
    source: { address: '192.0.2.1', port: 56324, family: 'IPv4' },
    destination: { address: '198.51.100.2', port: 443, family: 'IPv4' },
  },
  {
    name: 'v1 TCP6 (normalized)',
    bytes: Buffer.from('PROXY TCP6 2001:DB8:0:0::1 2001:db8::2 4711 443\r\n'),
    version: 1,
    source: { address: '2001:db8::1', port: 4711, family: 'IPv6' },
    destination: { address: '2001:db8::2', port: 443, family: 'IPv6' },
  },
  { name: 'v1 UNKNOWN', bytes: Buffer.from('PROXY UNKNOWN\r\n'), version: 1 },
  { name: 'v1 UNKNOWN at the 107-byte limit', bytes: Buffer.from(V1_WORST), version: 1 },
  {
    name: 'v2 PROXY TCP over IPv4',
    bytes: hex(`${SIG} 21 11 000c c0000201 c6336402 dc04 01bb`),
    version: 2,
    source: { address: '192.0.2.1', port: 56324, family: 'IPv4' },
    destination: { address: '198.51.100.2', port: 443, family: 'IPv4' },
  },
  {
    name: 'v2 PROXY TCP over IPv6',
    bytes: hex(`${SIG} 21 21 0024 20010db8000000000000000000000001 20010db8000000000000000000000002 1267 01bb`),
    version: 2,
    source: { address: '2001:db8::1', port: 4711, family: 'IPv6' },
    destination: { address: '2001:db8::2', port: 443, family: 'IPv6' },
  },
  {
    name: 'v2 IPv4-mapped IPv6 source',
    bytes: hex(`${SIG} 21 21 0024 00000000000000000000ffffc0000201 00000000000000000000ffffc6336402 1267 01bb`),
    version: 2,
    source: { address: '::ffff:192.0.2.1', port: 4711, family: 'IPv6' },
    destination: { address: '::ffff:198.51.100.2', port: 443, family: 'IPv6' },
  },
  {
    name: 'v2 with TLVs after the addresses',
    bytes: hex(`${SIG} 21 11 0013 c0000201 c6336402 dc04 01bb 04 0004 00000000`),
    version: 2,
    source: { address: '192.0.2.1', port: 56324, family: 'IPv4' },
    destination: { address: '198.51.100.2', port: 443, family: 'IPv4' },
  },
  { name: 'v2 LOCAL (health check)', bytes: hex(`${SIG} 20 00 0000`), version: 2 },
  { name: 'v2 LOCAL with a block to discard', bytes: hex(`${SIG} 20 11 000c c0000201 c6336402 dc04 01bb`), version: 2 },
  { name: 'v2 PROXY UNSPEC', bytes: hex(`${SIG} 21 00 0000`), version: 2 },
  { name: 'v2 PROXY over a UNIX socket', bytes: Buffer.concat([hex(`${SIG} 21 31 00d8`), Buffer.alloc(216)]), version: 2 },
];

describe('parseProxyHeader', () => {
  it('has the 107-byte worst case of the specification', () => {
    expect(V1_WORST.length).toBe(107);
  });

  for (const v of VECTORS) {
    it(`${v.name}: pending at every split, then the header, whatever follows`, () => {
      const whole = Buffer.concat([v.bytes, APP]);
      for (let i = 0; i < v.bytes.length; i++) {
        const r = parseProxyHeader(whole.subarray(0, i));
        expect(r, `prefix of ${i} bytes`).toEqual({ done: false });
      }
      for (const input of [v.bytes, whole]) {
        const r = parseProxyHeader(input);
        expect(r.error).toBeUndefined();
        expect(r).toEqual({ done: true, version: v.version, headerLength: v.bytes.length, source: v.source, destination: v.destination });
      }
    });
  }

  const MALFORMED: [string, Buffer, ProxyErrorCode][] = [
    ['plain HTTP', Buffer.from('GET / HTTP/1.1\r\n'), 'PROXY_ERR_SIGNATURE'],
    ['TLS ClientHello', hex('160301020001'), 'PROXY_ERR_SIGNATURE'],
    ['lower-case v1', Buffer.from('proxy TCP4 '), 'PROXY_ERR_SIGNATURE'],
    ['v1 without CRLF in 107 bytes', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(120)}`), 'PROXY_ERR_V1_TOO_LONG'],
    ['v1 CRLF at byte 108', Buffer.from(`${V1_WORST.slice(0, -2)}x\r\n`), 'PROXY_ERR_V1_TOO_LONG'],
    ['v1 bad protocol', Buffer.from('PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n'), 'PROXY_ERR_V1_MALFORMED'],
    ['v1 bad address', Buffer.from('PROXY TCP4 192.0.2 198.51.100.2 1 2\r\n'), 'PROXY_ERR_V1_MALFORMED'],
    ['v1 IPv6 under TCP4', Buffer.from('PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n'), 'PROXY_ERR_V1_MALFORMED'],
    ['v1 port out of range', Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n'), 'PROXY_ERR_V1_MALFORMED'],
    ['v1 double space', Buffer.from('PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n'), 'PROXY_ERR_V1_MALFORMED'],
    ['v1 missing port', Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n'), 'PROXY_ERR_V1_MALFORMED'],
    ['v1 control byte, before CRLF arrives', Buffer.from('PROXY TCP4 192.0.2.1\0'), 'PROXY_ERR_V1_MALFORMED'],
    ['v1 CR without LF', Buffer.from('PROXY UNKNOWN\rX'), 'PROXY_ERR_V1_MALFORMED'],
    ['v2 version 1', hex(`${SIG} 11 11 000c`), 'PROXY_ERR_V2_VERSION'],
    ['v2 command 2', hex(`${SIG} 22 11 000c`), 'PROXY_ERR_V2_COMMAND'],
    ['v2 family 4', hex(`${SIG} 21 41 000c`), 'PROXY_ERR_V2_FAMILY'],
    ['v2 protocol 3', hex(`${SIG} 21 13 000c`), 'PROXY_ERR_V2_FAMILY'],
    ['v2 IPv4 block too short', hex(`${SIG} 21 11 0008`), 'PROXY_ERR_V2_LENGTH'],
    ['v2 IPv6 block too short', hex(`${SIG} 21 21 000c`), 'PROXY_ERR_V2_LENGTH'],
    ['v2 length above the maximum, before the block arrives', hex(`${SIG} 21 11 ffff`), 'PROXY_ERR_V2_LENGTH'],
  ];
  for (const [name, bytes, code] of MALFORMED) {
    it(`rejects ${name} with ${code}`, () => {
      const r = parseProxyHeader(bytes);
      expect(r.error).toBeInstanceOf(ProxyProtocolError);
      expect(r.error?.code).toBe(code);
    });
  }

  it('rejects a wrong signature at its first wrong byte', () => {
    expect(parseProxyHeader(Buffer.from('G')).error?.code).toBe('PROXY_ERR_SIGNATURE');
    expect(parseProxyHeader(hex('0d0a0d0a00')).done).toBe(false);
    expect(parseProxyHeader(hex('0d0a0d0a01')).error?.code).toBe('PROXY_ERR_SIGNATURE');
  });

  it('takes the v2 length limit from the options', () => {
    const tlv = hex(`${SIG} 21 11 0100 c0000201 c6336402 dc04 01bb`);
    expect(parseProxyHeader(tlv, { maxV2Length: 255 }).error?.code).toBe('PROXY_ERR_V2_LENGTH');
    expect(parseProxyHeader(Buffer.concat([tlv, Buffer.alloc(256 - 12)]), { maxV2Length: 256 }).done).toBe(true);
  });

  it('documents every error code once', () => {
    for (const [code, text] of Object.entries(PROXY_ERRORS)) {
      expect(code).toMatch(/^PROXY_ERR_[A-Z0-9_]+$/);
      expect(text.length).toBeGreaterThan(10);
    }
  });
});

describe('acceptWithProxyProtocol', () => {
  const servers: net.Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  /** A server that reads the PROXY header and then echoes what follows it. */
  async function server(timeoutMs = 2000) {
    const results: Promise<ProxyAccepted>[] = [];
    const srv = net.createServer((socket) => {
      const accepted = acceptWithProxyProtocol(socket, timeoutMs);
      accepted.then(({ socket: s }) => s.pipe(s), () => {});
      results.push(accepted);
    });
    servers.push(srv);
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    return { port: (srv.address() as net.AddressInfo).port, results };
  }

  async function connect(port: number) {
    const c = net.connect({ port, host: '127.0.0.1', noDelay: true });
    await once(c, 'connect');
    return c;
  }

  function readAll(c: net.Socket, length: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let n = 0;
      c.on('data', (d: Buffer) => {
        chunks.push(d);
        n += d.length;
        if (n >= length) resolve(Buffer.concat(chunks));
      });
      c.on('close', () => reject(new Error(`closed after ${n} bytes`)));
    });
  }

  const pause = () => new Promise((r) => setTimeout(r, 2));

  for (const v of [VECTORS[0]!, VECTORS[4]!, VECTORS[5]!]) {
    it(`${v.name}: reads the header split at every byte, and hands on the bytes after it`, async () => {
      const { port, results } = await server();
      const whole = Buffer.concat([v.bytes, APP]);
      for (let i = 1; i < whole.length; i++) {
        const c = await connect(port);
        const echoed = readAll(c, APP.length);
        c.write(whole.subarray(0, i));
        await pause();
        c.write(whole.subarray(i));
        expect((await echoed).equals(APP), `split at ${i}`).toBe(true);
        expect((await results.at(-1)!).source).toEqual(v.source);
        c.destroy();
      }
    });
  }

  it('resolves with no source for LOCAL, the socket untouched after the header', async () => {
    const { port, results } = await server();
    const c = await connect(port);
    const echoed = readAll(c, APP.length);
    c.write(Buffer.concat([VECTORS.find((v) => v.name.startsWith('v2 LOCAL ('))!.bytes, APP]));
    expect((await echoed).equals(APP)).toBe(true);
    const accepted = await results[0]!;
    expect(accepted.source).toBeUndefined();
    expect(accepted.version).toBe(2);
    c.destroy();
  });

  it('rejects a malformed header and closes the connection', async () => {
    const { port, results } = await server();
    const c = await connect(port);
    const closed = once(c, 'close');
    c.on('error', () => {});
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect(results[0]!).rejects.toMatchObject({ code: 'PROXY_ERR_SIGNATURE' });
    await closed;
  });

  it('rejects and closes when the header does not arrive in time', async () => {
    const { port, results } = await server(100);
    const c = await connect(port);
    const closed = once(c, 'close');
    c.on('error', () => {});
    c.write('PROXY TCP4 192.0.2.1');
    const started = Date.now();
    await expect(results[0]!).rejects.toMatchObject({ code: 'PROXY_ERR_TIMEOUT' });
    await closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(80);
  });

  it('rejects when the peer closes before a complete header', async () => {
    const { port, results } = await server();
    const c = await connect(port);
    c.end('PROXY TCP4 192.0.2.1');
    await expect(results[0]!).rejects.toMatchObject({ code: 'PROXY_ERR_CLOSED' });
  });
});
