import { describe, expect, it } from 'vitest';
import {
  normalizeAddress,
  parseTrustedProxies,
  resolveClientAddress,
  type ClientAddressInput,
} from '../../../src/gateway/server/client-address.ts';

const TRUSTED = ['10.0.0.0/8', '2001:db8:ffff::/48', '192.0.2.7'];
const resolve = (peerAddress: string, headers: ClientAddressInput['headers'], extra: Partial<ClientAddressInput> = {}) =>
  resolveClientAddress({ peerAddress, headers, trustedProxies: TRUSTED, ...extra });

describe('normalizeAddress', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:c000:0201', '192.0.2.1'],
    ['0:0:0:0:0:ffff:192.0.2.1', '192.0.2.1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::1', '::1'],
  ])('%s → %s', (input, out) => expect(normalizeAddress(input)).toBe(out));

  it.each(['unknown', '_hidden', '192.0.2', '[2001:db8::1]', '', '01.2.3.4'])('%s is not an address', (input) => {
    expect(normalizeAddress(input)).toBeUndefined();
  });
});

describe('parseTrustedProxies', () => {
  it('matches addresses and CIDRs of both families, and IPv4-mapped peers', () => {
    const t = parseTrustedProxies([...TRUSTED, '::ffff:172.16.0.0/108']);
    for (const a of ['10.1.2.3', '::ffff:10.1.2.3', '2001:db8:ffff:1::9', '192.0.2.7', '172.16.5.5', '::ffff:172.16.5.5']) expect(t.has(a), a).toBe(true);
    for (const a of ['11.0.0.1', '192.0.2.8', '2001:db8::1', '172.32.0.1', 'unknown']) expect(t.has(a), a).toBe(false);
  });

  it('names every bad entry', () => {
    expect(() => parseTrustedProxies(['10.0.0.0/8', 'proxy.local', '10.0.0.0/33', '::/129', '1.2.3.4/8/9'])).toThrow(
      /"proxy.local", "10.0.0.0\/33", "::\/129", "1.2.3.4\/8\/9"/,
    );
  });
});

describe('resolveClientAddress', () => {
  it('uses the peer, and ignores every forwarding header, when the peer is not trusted', () => {
    const spoofed = {
      'x-forwarded-for': '203.0.113.9',
      forwarded: 'for=203.0.113.9;proto=https',
      'x-forwarded-proto': 'https',
    };
    expect(resolve('198.51.100.20', spoofed)).toEqual({ address: '198.51.100.20', secure: false });
    expect(resolve('::ffff:198.51.100.20', spoofed, { peerSecure: true })).toEqual({ address: '198.51.100.20', secure: true });
  });

  it('takes X-Forwarded-For from a trusted peer', () => {
    expect(resolve('10.0.0.5', { 'x-forwarded-for': '203.0.113.9' })).toEqual({ address: '203.0.113.9', secure: false, via: 'x-forwarded-for' });
    expect(resolve('::ffff:10.0.0.5', { 'x-forwarded-for': '203.0.113.9' }).address).toBe('203.0.113.9');
  });

  it('walks right to left past trusted proxies; the first untrusted hop is the client', () => {
    // The client sent "6.6.6.6" itself; two trusted proxies appended.
    expect(resolve('10.0.0.5', { 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.0.0.4' }).address).toBe('203.0.113.9');
    expect(resolve('10.0.0.5', { 'x-forwarded-for': ['6.6.6.6', '203.0.113.9, 192.0.2.7'] }).address).toBe('203.0.113.9');
    expect(resolve('10.0.0.5', { 'x-forwarded-for': '2001:db8:1::1, [2001:db8:ffff::2]:8443' }).address).toBe('2001:db8:1::1');
  });

  it('answers the leftmost hop when every hop is trusted', () => {
    expect(resolve('10.0.0.5', { 'x-forwarded-for': '10.0.0.3, 10.0.0.4' }).address).toBe('10.0.0.3');
  });

  it('accepts X-Forwarded-For entries with ports', () => {
    expect(resolve('10.0.0.5', { 'x-forwarded-for': '203.0.113.9:51234' }).address).toBe('203.0.113.9');
  });

  it('stops at a hop that is not an address and answers the nearest known one', () => {
    expect(resolve('10.0.0.5', { 'x-forwarded-for': '203.0.113.9, garbage, 10.0.0.4' }).address).toBe('10.0.0.4');
    expect(resolve('10.0.0.5', { 'x-forwarded-for': 'unknown' })).toEqual({ address: '10.0.0.5', secure: false });
    expect(resolve('10.0.0.5', { 'x-forwarded-for': '' })).toEqual({ address: '10.0.0.5', secure: false });
  });

  describe('Forwarded (RFC 7239)', () => {
    const fwd = (peer: string, value: string | string[], extra: Partial<ClientAddressInput> = {}) =>
      resolve(peer, { forwarded: value }, extra);

    it('reads for= and proto= of the client hop', () => {
      expect(fwd('10.0.0.5', 'for=192.0.2.60;proto=https;by=203.0.113.43')).toEqual({ address: '192.0.2.60', secure: true, via: 'forwarded' });
    });

    it('reads quoted IPv6 with a port, case-insensitive names', () => {
      expect(fwd('10.0.0.5', 'For="[2001:db8:cafe::17]:4711";PROTO=HTTP').address).toBe('2001:db8:cafe::17');
      expect(fwd('10.0.0.5', 'for="[2001:DB8:CAFE:0::17]"').address).toBe('2001:db8:cafe::17');
    });

    it('walks elements right to left past trusted proxies', () => {
      expect(fwd('10.0.0.5', 'for=6.6.6.6, for=198.51.100.17;proto=https, for=10.0.0.4;proto=http')).toEqual({
        address: '198.51.100.17',
        secure: true,
        via: 'forwarded',
      });
      expect(fwd('10.0.0.5', ['for=6.6.6.6', 'for=198.51.100.17, for="[2001:db8:ffff::1]"']).address).toBe('198.51.100.17');
    });

    it('does not take obfuscated identifiers or unknown as addresses', () => {
      expect(fwd('10.0.0.5', 'for=_hidden, for=10.0.0.4').address).toBe('10.0.0.4');
      expect(fwd('10.0.0.5', 'for="_a,b;c";proto=https').address).toBe('10.0.0.5');
      expect(fwd('10.0.0.5', 'for=unknown').address).toBe('10.0.0.5');
      expect(fwd('10.0.0.5', 'for="[2001:db8::1]:_port"').address).toBe('2001:db8::1');
    });

    it('keeps commas and semicolons inside quoted values', () => {
      expect(fwd('10.0.0.5', 'for=192.0.2.60;ext="a,b;c=d", for=10.0.0.4').address).toBe('192.0.2.60');
    });
  });

  describe('which header', () => {
    const both = { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=6.6.6.6' };

    it('believes X-Forwarded-For before Forwarded by default', () => {
      expect(resolve('10.0.0.5', both).address).toBe('203.0.113.9');
      expect(resolve('10.0.0.5', { forwarded: 'for=198.51.100.1' }).address).toBe('198.51.100.1');
    });

    it('believes only the headers named in headerOrder', () => {
      expect(resolve('10.0.0.5', both, { headerOrder: ['forwarded'] }).address).toBe('6.6.6.6');
      expect(resolve('10.0.0.5', { forwarded: 'for=6.6.6.6' }, { headerOrder: ['x-forwarded-for'] }).address).toBe('10.0.0.5');
    });
  });

  describe('secure', () => {
    it('believes X-Forwarded-Proto from a trusted peer only', () => {
      const h = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' };
      expect(resolve('10.0.0.5', h).secure).toBe(true);
      expect(resolve('198.51.100.20', h).secure).toBe(false);
    });

    it('pairs X-Forwarded-Proto entries with hops, or takes the nearest proxy’s own', () => {
      expect(resolve('10.0.0.5', { 'x-forwarded-for': '203.0.113.9, 10.0.0.4', 'x-forwarded-proto': 'https, http' }).secure).toBe(true);
      // a client-sent "https" in front of the proxy's "http"
      expect(resolve('10.0.0.5', { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https, http' }).secure).toBe(false);
    });

    it('falls back to the connection itself when no proto is forwarded', () => {
      expect(resolve('10.0.0.5', { 'x-forwarded-for': '203.0.113.9' }, { peerSecure: true }).secure).toBe(true);
      expect(resolve('10.0.0.5', {}, { peerSecure: true })).toEqual({ address: '10.0.0.5', secure: true });
    });

    it('accepts wss as secure', () => {
      expect(resolve('10.0.0.5', { forwarded: 'for=203.0.113.9;proto=wss' }).secure).toBe(true);
    });
  });

  it('accepts a compiled TrustedProxies', () => {
    const trustedProxies = parseTrustedProxies(['127.0.0.1']);
    expect(resolveClientAddress({ peerAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.9' }, trustedProxies }).address).toBe('203.0.113.9');
  });
});
