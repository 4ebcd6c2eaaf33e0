// rulesAllow: RBAC matching of one API call against rules (verbs, groups, resources, subresources,
// non-resource URLs, wildcards), on the operator's own rules and on hand-made ones.
import { describe, expect, it } from 'vitest';
import type { ApiCall } from '../../../src/operator/controller/kube-client.ts';
import { OPERATOR_NON_RESOURCE_RULES, OPERATOR_RBAC_RULES, operatorClusterRole, rulesAllow, type ResourceRule } from '../../../src/operator/controller/rbac.ts';

type Call = Pick<ApiCall, 'verb' | 'group' | 'resource' | 'subresource' | 'nonResourceURL'>;
const c = (verb: Call['verb'], group: string, resource: string, subresource?: string): Call => ({
  verb,
  group,
  resource,
  ...(subresource === undefined ? {} : { subresource }),
});

describe('rulesAllow on the operator rules', () => {
  it.each([
    c('get', 'xwg.io', 'xmppwebgateways'),
    c('list', 'xwg.io', 'xmppwebgateways'),
    c('watch', 'xwg.io', 'xmppwebgateways'),
    c('patch', 'xwg.io', 'xmppwebgateways', 'status'),
    c('patch', '', 'configmaps'),
    c('create', '', 'secrets'),
    c('update', '', 'services'),
    c('delete', 'apps', 'deployments'),
    c('list', 'policy', 'poddisruptionbudgets'),
    c('watch', 'networking.k8s.io', 'ingresses'),
    c('patch', 'cert-manager.io', 'certificates'),
    c('watch', '', 'nodes'),
    c('get', 'coordination.k8s.io', 'leases'),
    c('update', 'coordination.k8s.io', 'leases'),
    c('create', 'events.k8s.io', 'events'),
  ])('allows %o', (call) => {
    expect(rulesAllow(call)).toBe(true);
  });

  it.each([
    // the gateways themselves are read-only; only their status is written, and only by apply (patch)
    [c('update', 'xwg.io', 'xmppwebgateways'), 'write of the spec'],
    [c('patch', 'xwg.io', 'xmppwebgateways'), 'patch without the status subresource'],
    [c('update', 'xwg.io', 'xmppwebgateways', 'status'), 'another verb on status'],
    [c('get', 'xwg.io', 'xmppwebgateways', 'status'), 'a read of the status subresource'],
    // a rule on a resource does not cover its subresources
    [c('patch', 'apps', 'deployments', 'scale'), 'deployments/scale'],
    [c('update', 'apps', 'deployments', 'status'), 'deployments/status'],
    [c('get', '', 'pods', 'log'), 'pods/log'],
    // the group must match: deployments in the core group, or events in the core group
    [c('get', '', 'deployments'), 'deployments in the core group'],
    [c('create', '', 'events'), 'core v1 events'],
    [c('get', 'extensions', 'ingresses'), 'an old group'],
    // verbs: nodes read-only, leases not deleted, events only created
    [c('patch', '', 'nodes'), 'patch nodes'],
    [c('delete', 'coordination.k8s.io', 'leases'), 'delete leases'],
    [c('list', 'coordination.k8s.io', 'leases'), 'list leases'],
    [c('patch', 'events.k8s.io', 'events'), 'patch events'],
    [c('get', '', 'pods'), 'anything else'],
  ])('refuses %o (%s)', (call) => {
    expect(rulesAllow(call)).toBe(false);
  });

  it('treats a missing group as the core group', () => {
    expect(rulesAllow({ verb: 'get', resource: 'secrets' })).toBe(true);
    expect(rulesAllow({ verb: 'get', resource: 'deployments' })).toBe(false);
  });

  it('allows the cert-manager discovery URL, with get only, and no other URL', () => {
    expect(rulesAllow({ verb: 'get', nonResourceURL: '/apis/cert-manager.io/v1' })).toBe(true);
    expect(rulesAllow({ verb: 'get', nonResourceURL: '/apis/cert-manager.io/v1/' })).toBe(false);
    expect(rulesAllow({ verb: 'get', nonResourceURL: '/apis/cert-manager.io' })).toBe(false);
    expect(rulesAllow({ verb: 'get', nonResourceURL: '/apis' })).toBe(false);
    expect(rulesAllow({ verb: 'create', nonResourceURL: '/apis/cert-manager.io/v1' })).toBe(false);
  });

  it('does not match a non-resource URL against resource rules, nor a resource against URL rules', () => {
    const all: ResourceRule[] = [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }];
    expect(rulesAllow({ verb: 'get', nonResourceURL: '/healthz' }, all, [])).toBe(false);
    expect(rulesAllow(c('get', '', 'pods'), [], [{ nonResourceURLs: ['*'], verbs: ['*'] }])).toBe(false);
  });
});

describe('rulesAllow with wildcards', () => {
  it('`*` matches any verb, group or resource, subresources included', () => {
    const verbs: ResourceRule[] = [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['*'] }];
    expect(rulesAllow(c('deletecollection' as Call['verb'], 'apps', 'deployments'), verbs, [])).toBe(true);
    expect(rulesAllow(c('get', 'apps', 'statefulsets'), verbs, [])).toBe(false);

    const groups: ResourceRule[] = [{ apiGroups: ['*'], resources: ['deployments'], verbs: ['get'] }];
    expect(rulesAllow(c('get', 'apps', 'deployments'), groups, [])).toBe(true);
    expect(rulesAllow(c('get', '', 'deployments'), groups, [])).toBe(true);

    const resources: ResourceRule[] = [{ apiGroups: [''], resources: ['*'], verbs: ['get'] }];
    expect(rulesAllow(c('get', '', 'pods'), resources, [])).toBe(true);
    expect(rulesAllow(c('get', '', 'pods', 'log'), resources, [])).toBe(true);
    expect(rulesAllow(c('get', 'apps', 'deployments'), resources, [])).toBe(false);
  });

  it('an explicit resource/subresource rule covers only that subresource', () => {
    const rules: ResourceRule[] = [{ apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['update'] }];
    expect(rulesAllow(c('update', 'apps', 'deployments', 'scale'), rules, [])).toBe(true);
    expect(rulesAllow(c('update', 'apps', 'deployments'), rules, [])).toBe(false);
    expect(rulesAllow(c('update', 'apps', 'deployments', 'status'), rules, [])).toBe(false);
  });

  it('non-resource URLs: exact, prefix with a trailing `*`, or everything', () => {
    const rules = [
      { nonResourceURLs: ['/healthz', '/metrics/*'], verbs: ['get'] },
      { nonResourceURLs: ['*'], verbs: ['head'] },
    ];
    const url = (verb: string, u: string) => rulesAllow({ verb: verb as Call['verb'], nonResourceURL: u }, [], rules);
    expect(url('get', '/healthz')).toBe(true);
    expect(url('get', '/healthz/etcd')).toBe(false);
    expect(url('get', '/metrics/cadvisor')).toBe(true);
    expect(url('get', '/metrics')).toBe(false);
    expect(url('head', '/anything/at/all')).toBe(true);
    expect(url('post', '/healthz')).toBe(false);
  });

  it('no rules allow nothing', () => {
    expect(rulesAllow(c('get', '', 'pods'), [], [])).toBe(false);
  });
});

describe('operatorClusterRole', () => {
  it('holds exactly the rules, as copies', () => {
    const role = operatorClusterRole('xwg-operator');
    expect(role.rules).toEqual([...OPERATOR_RBAC_RULES, ...OPERATOR_NON_RESOURCE_RULES]);
    (role.rules[0] as ResourceRule).verbs.push('delete');
    expect(OPERATOR_RBAC_RULES[0]!.verbs).not.toContain('delete');
  });

  it('grants no wildcards', () => {
    for (const r of operatorClusterRole('x').rules) {
      expect(JSON.stringify(r)).not.toContain('"*"');
    }
  });
});
