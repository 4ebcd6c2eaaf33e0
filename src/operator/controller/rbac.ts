// Every API call the operator makes, as RBAC rules: the one list from which the ClusterRole is generated,
// and against which a test checks the calls the operator actually makes (kube-client.ts reports each one).
import type { ApiCall } from './kube-client.ts';

export interface ResourceRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export interface NonResourceRule {
  nonResourceURLs: string[];
  verbs: string[];
}

const CHILD_VERBS = ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'];

export const OPERATOR_RBAC_RULES: readonly ResourceRule[] = [
  { apiGroups: ['xwg.io'], resources: ['xmppwebgateways'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['xwg.io'], resources: ['xmppwebgateways/status'], verbs: ['patch'] },
  // Children: server-side apply (patch, and create: an apply that creates is authorized as both), a full
  // update when apply cannot repair an object (update), prune (delete), the caches (list, watch), Secrets
  // named by secretRefs (get).
  { apiGroups: [''], resources: ['configmaps', 'secrets', 'services'], verbs: CHILD_VERBS },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: CHILD_VERBS },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: CHILD_VERBS },
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: CHILD_VERBS },
  { apiGroups: ['cert-manager.io'], resources: ['certificates'], verbs: CHILD_VERBS },
  // Gateway pods get an annotation when their ConfigMap changed, so the kubelet remounts it at once.
  { apiGroups: [''], resources: ['pods'], verbs: ['list', 'patch'] },
  // perKubernetesNode: the Nodes and their labels.
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
  // Leader election.
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
];

/** Discovery of cert-manager; also granted to every authenticated user by the default system:discovery role. */
export const OPERATOR_NON_RESOURCE_RULES: readonly NonResourceRule[] = [{ nonResourceURLs: ['/apis/cert-manager.io/v1'], verbs: ['get'] }];

/** Whether the rules allow a call (wildcards `*` as RBAC has them). */
export function rulesAllow(
  call: Pick<ApiCall, 'verb' | 'group' | 'resource' | 'subresource' | 'nonResourceURL'>,
  rules: readonly ResourceRule[] = OPERATOR_RBAC_RULES,
  nonResource: readonly NonResourceRule[] = OPERATOR_NON_RESOURCE_RULES,
): boolean {
  const has = (list: readonly string[], v: string) => list.includes('*') || list.includes(v);
  if (call.nonResourceURL !== undefined) {
    return nonResource.some((r) => has(r.verbs, call.verb) && r.nonResourceURLs.some((u) => u === call.nonResourceURL || (u.endsWith('*') && call.nonResourceURL!.startsWith(u.slice(0, -1)))));
  }
  const resource = call.subresource === undefined ? (call.resource ?? '') : `${call.resource}/${call.subresource}`;
  return rules.some((r) => has(r.apiGroups, call.group ?? '') && has(r.resources, resource) && has(r.verbs, call.verb));
}

/** A ClusterRole with the operator's rules. */
export function operatorClusterRole(name: string): {
  apiVersion: 'rbac.authorization.k8s.io/v1';
  kind: 'ClusterRole';
  metadata: { name: string };
  rules: (ResourceRule | NonResourceRule)[];
} {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name },
    rules: [...OPERATOR_RBAC_RULES.map((r) => structuredClone(r)), ...OPERATOR_NON_RESOURCE_RULES.map((r) => structuredClone(r))],
  };
}
