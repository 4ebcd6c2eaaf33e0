// PROXY header encoding towards the upstream: literal vectors from proxy-protocol.txt's layouts, and every
// header read back by the gateway's own parser (split at every byte).
import { describe, expect, it } from 'vitest';
import {
  encodeProxyV1,
  encodeProxyV2,
  parseProxyHeader,
  PP2_SUBTYPE_SSL_VERSION,
  PP2_TYPE_AUTHORITY,
  PP2_TYPE_SSL,
  type ProxyHeaderFields,
} from '../../../src/gateway/server/proxy-protocol.ts';
import { proxyHeaderFor } from '../../../src/gateway/upstream/proxy-header.ts';
import type { ClientLeg } from '../../../src/gateway/upstream/types.ts';

const SIG = '0d0a0d0a000d0a515549540a';

/** TLVs after the address block of a v2 header. */
function tlvs(buf: Buffer): Map<number, Buffer> {
  const fam = buf[13]! >> 4;
  const len = buf.readUInt16BE(14);
  const out = new Map<number, Buffer>();
  let at = 16 + [0, 12, 36, 216][fam]!;
  while (at < 16 + len) {
    const type = buf[at]!;
    const l = buf.readUInt16BE(at + 1);
    out.set(type, buf.subarray(at + 3, at + 3 + l));
    at += 3 + l;
  }
  expect(at).toBe(16 + len);
  return out;
}

describe('v1', () => {
  const cases: [string, ProxyHeaderFields, string][] = [
    ['IPv4', { source: { address: '127.0.0.2', port: 40000 }, destination: { address: '127.0.0.1', port: 5280 } }, 'PROXY TCP4 127.0.0.2 127.0.0.1 40000 5280\r\n'],
    ['IPv6 in RFC 5952 form', { source: { address: '2001:DB8:0:0:0:0:0:1', port: 1 }, destination: { address: '::1', port: 443 } }, 'PROXY TCP6 2001:db8::1 ::1 1 443\r\n'],
    ['IPv4-mapped IPv6 is IPv4', { source: { address: '::ffff:192.0.2.7', port: 5 }, destination: { address: '::ffff:127.0.0.1', port: 80 } }, 'PROXY TCP4 192.0.2.7 127.0.0.1 5 80\r\n'],
    ['mixed families become IPv6', { source: { address: '192.0.2.7', port: 5 }, destination: { address: '2001:db8::2', port: 80 } }, 'PROXY TCP6 ::ffff:192.0.2.7 2001:db8::2 5 80\r\n'],
    ['no source: UNKNOWN', { source: undefined, destination: { address: '127.0.0.1', port: 80 } }, 'PROXY UNKNOWN\r\n'],
    ['a source that is not an IP: UNKNOWN', { source: { address: 'unknown', port: 0 }, destination: { address: '127.0.0.1', port: 80 } }, 'PROXY UNKNOWN\r\n'],
    ['a port out of range: UNKNOWN', { source: { address: '127.0.0.2', port: 70000 }, destination: { address: '127.0.0.1', port: 80 } }, 'PROXY UNKNOWN\r\n'],
  ];
  it.each(cases)('%s', (_name, fields, text) => {
    expect(encodeProxyV1(fields).toString('latin1')).toBe(text);
  });
});

describe('v2', () => {
  it('IPv4 without TLVs, byte for byte', () => {
    const b = encodeProxyV2({ source: { address: '127.0.0.2', port: 0x1234 }, destination: { address: '10.0.0.1', port: 443 } });
    expect(b.toString('hex')).toBe(`${SIG}2111000c7f0000020a000001123401bb`);
  });

  it('IPv6 addresses in 16 bytes each', () => {
    const b = encodeProxyV2({ source: { address: '2001:db8::1', port: 1 }, destination: { address: '::ffff:1.2.3.4', port: 2 } });
    expect(b.subarray(12, 16).toString('hex')).toBe('21210024');
    expect(b.subarray(16, 32).toString('hex')).toBe('20010db8000000000000000000000001');
    expect(b.subarray(32, 48).toString('hex')).toBe('00000000000000000000ffff01020304');
    expect(b.subarray(48, 52).toString('hex')).toBe('00010002');
  });

  it('carries the authority and the SSL TLV with its version', () => {
    const b = encodeProxyV2({
      source: { address: '127.0.0.3', port: 1 },
      destination: { address: '127.0.0.1', port: 2 },
      authority: 'chat.example.com',
      tls: true,
      tlsVersion: 'TLSv1.3',
    });
    const t = tlvs(b);
    expect(t.get(PP2_TYPE_AUTHORITY)?.toString('utf8')).toBe('chat.example.com');
    const ssl = t.get(PP2_TYPE_SSL)!;
    expect(ssl[0]).toBe(0x01); // PP2_CLIENT_SSL
    expect(ssl.readUInt32BE(1)).not.toBe(0); // no client certificate verified
    expect(ssl[5]).toBe(PP2_SUBTYPE_SSL_VERSION);
    expect(ssl.subarray(8).toString('latin1')).toBe('TLSv1.3');
  });

  it('an authority longer than a host name can be is left out', () => {
    const b = encodeProxyV2({ source: { address: '127.0.0.3', port: 1 }, destination: { address: '127.0.0.1', port: 2 }, authority: 'a'.repeat(256) });
    expect(tlvs(b).has(PP2_TYPE_AUTHORITY)).toBe(false);
    const ok = encodeProxyV2({ source: { address: '127.0.0.3', port: 1 }, destination: { address: '127.0.0.1', port: 2 }, authority: 'a'.repeat(255) });
    expect(tlvs(ok).get(PP2_TYPE_AUTHORITY)?.length).toBe(255);
  });

  it('no SSL TLV for a plain client, no authority when unknown', () => {
    const b = encodeProxyV2({ source: { address: '127.0.0.3', port: 1 }, destination: { address: '127.0.0.1', port: 2 }, tls: false });
    expect(tlvs(b).size).toBe(0);
  });

  it('no usable source: LOCAL with an empty block', () => {
    const b = encodeProxyV2({ source: { address: 'unknown', port: 0 }, destination: { address: '127.0.0.1', port: 2 }, authority: 'x', tls: true });
    expect(b.toString('hex')).toBe(`${SIG}20000000`);
  });
});

describe('read back by the parser, at every split', () => {
  const legs: ProxyHeaderFields[] = [
    { source: { address: '127.0.0.2', port: 40000 }, destination: { address: '127.0.0.1', port: 5280 }, authority: 'a.example', tls: true, tlsVersion: 'TLSv1.2' },
    { source: { address: '2001:db8::7', port: 65535 }, destination: { address: 'fe80::1', port: 1 } },
    { source: { address: '192.0.2.1', port: 0 }, destination: { address: '::1', port: 443 } },
  ];
  for (const [i, fields] of legs.entries()) {
    for (const [name, encode] of [['v1', encodeProxyV1], ['v2', encodeProxyV2]] as const) {
      it(`${name} #${i}`, () => {
        const bytes = Buffer.concat([encode(fields), Buffer.from("<?xml version='1.0'?>")]);
        const whole = parseProxyHeader(bytes);
        if (!whole.done || whole.error) throw new Error(`not parsed: ${JSON.stringify(whole)}`);
        expect(bytes.subarray(whole.headerLength).toString()).toBe("<?xml version='1.0'?>");
        const mapped = (a: string) => (fields.source!.address.includes(':') === fields.destination.address.includes(':') ? a : a.includes(':') ? a : `::ffff:${a}`);
        expect(whole.source?.address).toBe(mapped(fields.source!.address));
        expect(whole.source?.port).toBe(fields.source!.port);
        expect(whole.destination?.port).toBe(fields.destination.port);
        for (let cut = 0; cut < whole.headerLength; cut++) expect(parseProxyHeader(bytes.subarray(0, cut)).done).toBe(false);
      });
    }
  }
});

describe('proxyHeaderFor', () => {
  const leg: ClientLeg = { source: { address: '127.0.0.2', port: 1 }, destination: { address: '127.0.0.1', port: 2 }, authority: 'h', tls: false, tlsVersion: undefined };
  it.each([
    ['none', leg, undefined],
    ['v1', leg, 'PROXY TCP4 127.0.0.2 127.0.0.1 1 2\r\n'],
    ['v1', undefined, 'PROXY UNKNOWN\r\n'],
  ] as const)('%s', (version, client, text) => {
    expect(proxyHeaderFor(version, client)?.toString('latin1')).toBe(text);
  });
  it('v2 without a client leg is LOCAL', () => {
    expect(proxyHeaderFor('v2', undefined)?.toString('hex')).toBe(`${SIG}20000000`);
  });
});
