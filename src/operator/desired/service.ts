// Services: one per node (its public entry: LoadBalancer by default, with the external-dns hostname),
// one over all nodes for discovery (<gateway>), and with perKubernetesNode NodePort one NodePort Service.
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { XmppWebGateway } from '../api/types.ts';
import { discoveryServedByNodes } from './certificate.ts';
import { objectMeta, selectorFor } from './labels.ts';
import { EXTERNAL_DNS_HOSTNAME, names } from './names.ts';
import type { ResolvedNode } from './types.ts';

type ServiceType = 'LoadBalancer' | 'NodePort' | 'ClusterIP';

/** The public ports only: the admin port (metrics, probes) is never a target of any Service. */
function ports(gw: XmppWebGateway, alwaysHttp: boolean): V1ServicePort[] {
  const p = gw.spec.service?.ports ?? { https: 443 };
  const out: V1ServicePort[] = [{ name: 'https', port: p.https, targetPort: 'https', protocol: 'TCP' }];
  const http = p.http ?? (alwaysHttp ? (p.https === 80 ? 8080 : 80) : undefined);
  if (http !== undefined) out.push({ name: 'http', port: http, targetPort: 'http', protocol: 'TCP' });
  return out;
}

function service(
  gw: XmppWebGateway,
  name: string,
  type: ServiceType,
  annotations: Record<string, string>,
  selector: Record<string, string>,
  servicePorts: V1ServicePort[],
  node?: string,
): V1Service {
  const svc = gw.spec.service;
  const external = type !== 'ClusterIP';
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(gw, name, node === undefined ? 'discovery' : 'node', { ...(node === undefined ? {} : { node }), annotations }),
    spec: {
      type,
      selector,
      ports: servicePorts,
      ...(external && svc?.externalTrafficPolicy ? { externalTrafficPolicy: svc.externalTrafficPolicy } : {}),
      ...(type === 'LoadBalancer' && svc?.loadBalancerClass ? { loadBalancerClass: svc.loadBalancerClass } : {}),
    },
  };
}

function externalType(gw: XmppWebGateway): ServiceType {
  return gw.spec.perKubernetesNode ? 'ClusterIP' : (gw.spec.service?.type ?? 'LoadBalancer');
}

function dnsAnnotation(gw: XmppWebGateway, type: ServiceType, host: string): Record<string, string> {
  return type !== 'ClusterIP' && gw.spec.service?.externalDnsHostname !== false ? { [EXTERNAL_DNS_HOSTNAME]: host } : {};
}

/** The node's own Service: selects only that node's pod. */
export function nodeServiceFor(gw: XmppWebGateway, node: ResolvedNode): V1Service {
  const type = externalType(gw);
  const annotations = { ...dnsAnnotation(gw, type, node.host), ...gw.spec.service?.annotations, ...node.serviceAnnotations };
  return service(gw, node.objectName, type, annotations, selectorFor(gw, node.name), ports(gw, false), node.name);
}

/**
 * The Service over every node. ClusterIP, except when spec.discovery.host is set without an Ingress: then
 * it is the discovery host's public entry (type and annotations of spec.service, external-dns hostname).
 * Always has an http port, the Ingress backend.
 */
export function discoveryServiceFor(gw: XmppWebGateway): V1Service {
  const host = gw.spec.discovery?.host;
  const type = host !== undefined && discoveryServedByNodes(gw) ? externalType(gw) : 'ClusterIP';
  const annotations = type === 'ClusterIP' || host === undefined ? {} : { ...dnsAnnotation(gw, type, host), ...gw.spec.service?.annotations };
  return service(gw, names.discovery(gw.metadata.name ?? ''), type, annotations, selectorFor(gw), ports(gw, true));
}

/** perKubernetesNode with exposure NodePort: every Kubernetes Node answers on the node port with its own pod. */
export function nodePortServiceFor(gw: XmppWebGateway): V1Service | undefined {
  const pkn = gw.spec.perKubernetesNode;
  if (pkn?.exposure !== 'NodePort') return undefined;
  const nodePorts = pkn.nodePorts ?? { https: 30443 };
  const p = gw.spec.service?.ports ?? { https: 443 };
  const servicePorts: V1ServicePort[] = [{ name: 'https', port: p.https, targetPort: 'https', protocol: 'TCP', nodePort: nodePorts.https }];
  if (nodePorts.http !== undefined) {
    servicePorts.push({ name: 'http', port: p.http ?? (p.https === 80 ? 8080 : 80), targetPort: 'http', protocol: 'TCP', nodePort: nodePorts.http });
  }
  const svc = service(gw, names.nodePortService(gw.metadata.name ?? ''), 'NodePort', {}, selectorFor(gw), servicePorts);
  svc.metadata!.labels!['app.kubernetes.io/component'] = 'node';
  // Local: a connection is answered by the pod on the Node it reached, never forwarded to another Node.
  svc.spec!.externalTrafficPolicy = 'Local';
  return svc;
}
