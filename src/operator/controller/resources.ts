// The Kubernetes resources the operator reads and writes, and their REST paths. One table, so the informers,
// the client's call log and the RBAC rules (rbac.ts) all name a resource the same way.
import type { KubernetesObject } from '@kubernetes/client-node';
import { GROUP, KIND, PLURAL, VERSION } from '../api/types.ts';

export interface ResourceType {
  /** API group; '' for the core group */
  group: string;
  version: string;
  /** plural resource name, as in RBAC rules and URLs */
  resource: string;
  kind: string;
  namespaced: boolean;
}

const rt = (group: string, version: string, resource: string, kind: string, namespaced = true): ResourceType => ({
  group,
  version,
  resource,
  kind,
  namespaced,
});

export const GATEWAYS = rt(GROUP, VERSION, PLURAL, KIND);
export const CONFIGMAPS = rt('', 'v1', 'configmaps', 'ConfigMap');
export const SECRETS = rt('', 'v1', 'secrets', 'Secret');
export const SERVICES = rt('', 'v1', 'services', 'Service');
export const DEPLOYMENTS = rt('apps', 'v1', 'deployments', 'Deployment');
const PDBS = rt('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget');
const INGRESSES = rt('networking.k8s.io', 'v1', 'ingresses', 'Ingress');
export const CERTIFICATES = rt('cert-manager.io', 'v1', 'certificates', 'Certificate');
export const NODES = rt('', 'v1', 'nodes', 'Node', false);
/** Gateway pods, only annotated (volume-refresh.ts): never cached, never owned. */
export const PODS = rt('', 'v1', 'pods', 'Pod');
export const LEASES = rt('coordination.k8s.io', 'v1', 'leases', 'Lease');
export const EVENTS = rt('events.k8s.io', 'v1', 'events', 'Event');

/** Kinds of the objects a gateway owns, always served; Certificates join when cert-manager is installed. */
export const OWNED_TYPES: readonly ResourceType[] = [CONFIGMAPS, SECRETS, SERVICES, DEPLOYMENTS, PDBS, INGRESSES];

export const apiVersionOf = (t: ResourceType): string => (t.group === '' ? t.version : `${t.group}/${t.version}`);

export const typeId = (t: ResourceType): string => (t.group === '' ? t.resource : `${t.resource}.${t.group}`);

/** `/api/v1/namespaces/ns/configmaps`, `/apis/apps/v1/deployments` (every namespace) */
export function collectionPath(t: ResourceType, namespace?: string): string {
  const base = t.group === '' ? `/api/${t.version}` : `/apis/${t.group}/${t.version}`;
  return t.namespaced && namespace !== undefined ? `${base}/namespaces/${encodeURIComponent(namespace)}/${t.resource}` : `${base}/${t.resource}`;
}

export function objectPath(t: ResourceType, namespace: string | undefined, name: string, subresource?: string): string {
  return `${collectionPath(t, namespace)}/${encodeURIComponent(name)}${subresource === undefined ? '' : `/${subresource}`}`;
}

/** The type of an object the desired-state builders made, from its apiVersion and kind. */
export function typeOfObject(obj: KubernetesObject): ResourceType {
  const all = [...OWNED_TYPES, CERTIFICATES, GATEWAYS];
  const found = all.find((t) => apiVersionOf(t) === obj.apiVersion && t.kind === obj.kind);
  if (!found) throw new Error(`no resource type for ${obj.apiVersion} ${obj.kind}`);
  return found;
}

/** `namespace/name`, the key of the cache and the work queue. */
export function keyOf(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name ?? ''}` : (obj.metadata?.name ?? '');
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
