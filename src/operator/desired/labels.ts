// Labels, selectors, owner references and metadata shared by every object the operator writes.
import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { API_VERSION, KIND, type XmppWebGateway } from '../api/types.ts';

export const LABEL_GATEWAY = 'xwg.io/gateway';
export const LABEL_NODE = 'xwg.io/node';
const APP_NAME = 'xmpp-web-gateway';
export const MANAGER = 'xmpp-web-gateway-operator';

export type Component = 'node' | 'config' | 'discovery' | 'certificate' | 'disruption-budget';

const gatewayName = (gw: XmppWebGateway) => gw.metadata.name ?? '';

/** Labels of every object of a gateway; `node` adds xwg.io/node. */
export function labelsFor(gw: XmppWebGateway, component: Component, node?: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': APP_NAME,
    'app.kubernetes.io/instance': gatewayName(gw),
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/managed-by': MANAGER,
    [LABEL_GATEWAY]: gatewayName(gw),
    ...(node === undefined ? {} : { [LABEL_NODE]: node }),
  };
}

/** Pods of a gateway, or of one node: the labels selectors use (immutable in a Deployment, so kept minimal). */
export function selectorFor(gw: XmppWebGateway, node?: string): Record<string, string> {
  return { [LABEL_GATEWAY]: gatewayName(gw), ...(node === undefined ? {} : { [LABEL_NODE]: node }) };
}

export function ownerReference(gw: XmppWebGateway): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: gatewayName(gw),
    uid: gw.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** metadata of a child object: name, namespace, labels, owner; annotations only when there are some. */
export function objectMeta(
  gw: XmppWebGateway,
  name: string,
  component: Component,
  opts: { node?: string; annotations?: Record<string, string> } = {},
): V1ObjectMeta {
  const meta: V1ObjectMeta = {
    name,
    namespace: gw.metadata.namespace ?? 'default',
    labels: labelsFor(gw, component, opts.node),
  };
  if (opts.annotations && Object.keys(opts.annotations).length > 0) meta.annotations = sortKeys(opts.annotations);
  meta.ownerReferences = [ownerReference(gw)];
  return meta;
}

export function sortKeys<V>(map: Record<string, V>): Record<string, V> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
