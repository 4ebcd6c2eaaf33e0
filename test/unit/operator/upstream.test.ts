// spec.upstream in the CRD: several servers, SRV, PROXY protocol and DNS servers, refused when contradictory,
// and written into the gateway's own configuration as the gateway reads it (tls: the CRD's default, starttls).
import { describe, expect, it } from 'vitest';
import { validateGatewayResource } from '../../../src/operator/api/validate.ts';
import { effectiveGatewayConfig, gatewayConfigFor } from '../../../src/operator/desired/index.ts';
import type { ResolvedNode } from '../../../src/operator/desired/types.ts';
import { gateway } from './fixtures.ts';

const node = { name: 't1', host: 't1.example.com' } as ResolvedNode;
const spec = (upstream: Record<string, unknown>, domains = ['example.com']) => ({
  domains,
  upstream,
  nodes: [{ name: 't1', host: 't1.example.com' }],
});

describe('spec.upstream → gateway upstream', () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ['host with PROXY v2', { host: 'xmpp.svc', proxyProtocol: 'v2' }, { default: { host: 'xmpp.svc', tls: 'starttls', proxyProtocol: 'v2' } }],
    [
      'several servers',
      { servers: [{ host: 'a.svc', priority: 1 }, { host: 'b.svc', port: 5223, weight: 3 }], tls: 'directTLS' },
      { default: { servers: [{ host: 'a.svc', priority: 1 }, { host: 'b.svc', port: 5223, weight: 3 }], tls: 'directTLS' } },
    ],
    ['SRV with DNS servers', { srv: true, dnsServers: ['10.96.0.10'] }, { default: { tls: 'starttls' }, dns: { servers: ['10.96.0.10'] } }],
    [
      'a domain on SRV beside a default host',
      { host: 'xmpp.svc', domains: [{ domain: 'example.com', srv: true, proxyProtocol: 'v1' }] },
      { default: { host: 'xmpp.svc', tls: 'starttls' }, domains: { 'example.com': { tls: 'starttls', proxyProtocol: 'v1' } } },
    ],
  ];
  it.each(cases)('%s', (_name, upstream, written) => {
    const checked = validateGatewayResource(gateway('chat', spec(upstream)));
    if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
    const config = gatewayConfigFor(checked.resource, node);
    expect(config.upstream).toEqual(written);
    // The gateway reads it back with its own parser and defaults.
    expect(effectiveGatewayConfig(config).upstream.default?.proxyProtocol).toBe((written.default as { proxyProtocol?: string }).proxyProtocol);
  });
});

describe('refused specs', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['nothing names a server', {}, 'spec.upstream.host'],
    ['host and servers', { host: 'a', servers: [{ host: 'b' }] }, 'spec.upstream.servers'],
    ['host and srv', { host: 'a', srv: true }, 'spec.upstream.servers'],
    ['port without host', { servers: [{ host: 'b' }], port: 5222 }, 'spec.upstream.port'],
    ['a domain entry naming nothing', { host: 'a', domains: [{ domain: 'example.com' }] }, 'spec.upstream.domains[0].host'],
    ['an unknown PROXY version', { host: 'a', proxyProtocol: 'v3' }, 'spec.upstream.proxyProtocol'],
    ['an empty server list', { servers: [] }, 'spec.upstream.servers'],
  ];
  it.each(cases)('%s', (_name, upstream, path) => {
    const checked = validateGatewayResource(gateway('chat', spec(upstream)));
    expect(checked.ok).toBe(false);
    expect(checked.errors.map((e) => e.path)).toContain(path);
  });
});
