import { describe, expect, it } from 'vitest';
import { formatFieldError, validateGatewayResource } from '../../../src/operator/api/index.ts';
import { certManager, multiDomain, perKubernetesNode, replicas, twoNodes } from './fixtures.ts';
import { invalidCases } from './invalid-cases.ts';

describe('validateGatewayResource', () => {
  it.each([
    ['twoNodes', twoNodes],
    ['replicas', replicas],
    ['perKubernetesNode', perKubernetesNode],
    ['certManager', certManager],
    ['multiDomain', multiDomain],
  ])('accepts %s', (_name, resource) => {
    const result = validateGatewayResource(resource);
    expect(result.errors.map(formatFieldError)).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it('applies the schema defaults, as the API server does', () => {
    const result = validateGatewayResource(twoNodes);
    if (!result.ok) throw new Error('invalid');
    const spec = result.resource.spec;
    expect(spec.tls).toEqual({ selfManaged: {} });
    expect(spec.upstream.tls).toBe('starttls');
    expect(spec.upstream.caSecretRef).toEqual({ name: 'prosody-ca', key: 'ca.crt' });
    expect(spec.websocket).toEqual({ enabled: true, paths: ['/xmpp-websocket', '/ws'] });
    expect(spec.service).toEqual({ externalDnsHostname: true, ports: { https: 443 } });
  });

  it('never merges a present object with its default', () => {
    const result = validateGatewayResource(certManager);
    if (!result.ok) throw new Error('invalid');
    expect(result.resource.spec.tls?.selfManaged).toBeUndefined();
    expect(result.resource.spec.tls?.issuerRef).toEqual({ name: 'letsencrypt', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  });

  it.each(invalidCases)('refuses $title', ({ resource, paths }) => {
    const result = validateGatewayResource(resource);
    expect(result.ok).toBe(false);
    const got = result.errors.map((e) => e.path);
    for (const p of paths) expect(got, result.errors.map(formatFieldError).join('\n')).toContain(p);
  });

  it('names the field and the rule in each message', () => {
    const result = validateGatewayResource(invalidCases[0]!.resource);
    expect(result.errors.map(formatFieldError)).toContain('spec.nodes[1].host: node hosts must be unique (t1.example.com)');
  });

  it('refuses what is not an XmppWebGateway', () => {
    expect(validateGatewayResource('nope').errors).toEqual([{ path: '(root)', message: 'must be an object' }]);
    const wrongKind = validateGatewayResource({ ...twoNodes, apiVersion: 'v1', kind: 'ConfigMap' });
    expect(wrongKind.errors.map((e) => e.path)).toEqual(expect.arrayContaining(['apiVersion', 'kind']));
  });

  it('ignores the status, which is never applied', () => {
    expect(validateGatewayResource({ ...twoNodes, status: { bogus: true } }).ok).toBe(true);
  });
});
