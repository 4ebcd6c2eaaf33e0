// The upstream keys of the gateway configuration: defaults, and the contradictions refused with the key named.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseGatewayConfig } from '../../../src/shared/gateway-config/validate.ts';

const issues = (upstream: Record<string, unknown>): string[] => {
  try {
    parseGatewayConfig({ domains: ['example.com'], upstream });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return [...e.issues];
    throw e;
  }
};

describe('upstream configuration', () => {
  it('defaults: no PROXY header, system DNS, a short back-off', () => {
    const c = parseGatewayConfig({ upstream: { default: { host: 'xmpp' } } });
    expect(c.upstream.default?.proxyProtocol).toBeUndefined();
    expect(c.upstream.dns).toEqual({ servers: [], timeoutMs: 2_000, tries: 2, cacheMs: 30_000 });
    expect(c.upstream.failedServerBackoffMs).toBe(10_000);
  });

  it.each([
    ['one host', { default: { host: 'xmpp', proxyProtocol: 'v2' } }],
    ['several servers', { default: { servers: [{ host: 'a', priority: 0, weight: 5 }, { host: 'b', port: 5223 }] } }],
    ['SRV (no host, no servers)', { default: { tls: 'starttls' }, dns: { servers: ['192.0.2.53', '192.0.2.54:5353', '[2001:db8::53]:53', '2001:db8::53'] } }],
  ])('accepts %s', (_name, upstream) => {
    expect(issues(upstream)).toEqual([]);
  });

  it.each([
    ['host and servers', { default: { host: 'a', servers: [{ host: 'b' }] } }, 'upstream.default: host and servers are exclusive'],
    ['port without host', { default: { servers: [{ host: 'b' }], port: 5222 } }, 'upstream.default.port: needs host'],
    ['port without host, per domain', { default: { host: 'a' }, domains: { 'example.com': { port: 5222 } } }, 'upstream.domains.example.com.port: needs host'],
    ['an unknown PROXY version', { default: { host: 'a', proxyProtocol: 'v3' } }, 'upstream.default.proxyProtocol'],
    ['an empty server list', { default: { servers: [] } }, 'upstream.default.servers'],
    ['a weight out of range', { default: { servers: [{ host: 'a', weight: 70_000 }] } }, 'upstream.default.servers.0.weight'],
    ['a DNS server that is a name', { default: { host: 'a' }, dns: { servers: ['dns.example.com'] } }, 'upstream.dns.servers: "dns.example.com" is not an address'],
  ])('refuses %s', (_name, upstream, expected) => {
    expect(issues(upstream).some((i) => i.startsWith(expected))).toBe(true);
  });
});
