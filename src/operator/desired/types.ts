// Inputs and outputs of the desired-state builders. Everything here is data: the builders do no I/O.
import type { KubernetesObject, V1ObjectMeta } from '@kubernetes/client-node';

/** The part of a Kubernetes Node the perKubernetesNode source reads (a V1Node fits). */
export interface KubernetesNodeInfo {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

export interface DesiredContext {
  /** Image of the gateway when spec.image is empty: the operator's own image. */
  defaultImage: string;
  /** Whether cert-manager's Certificate kind is served; without it no Certificate is built (status says why). */
  certManagerAvailable: boolean;
  /** Kubernetes Nodes, for spec.perKubernetesNode (all of them, or already filtered: the selector is applied again). */
  kubernetesNodes?: readonly KubernetesNodeInfo[];
  /** Readiness of each gateway node by name, published in nodes.json; a node not named here is not ready. */
  nodeReadiness?: Readonly<Record<string, boolean>>;
}

/** One gateway node, resolved from whichever node source the spec uses. */
export interface ResolvedNode {
  /** node name: label xwg.io/node, key `<name>.yaml`, entry in the node list */
  name: string;
  /** public host */
  host: string;
  /** `<gateway>-<name>`: Deployment, Service, Certificate */
  objectName: string;
  /** kubernetes.io/tls Secret mounted at /etc/xwg/certs/<name>/ */
  tlsSecretName: string;
  /** replicas source: the index (from 1) */
  index?: number;
  /** perKubernetesNode source: the Kubernetes Node the pod is pinned to */
  kubernetesNode?: string;
  /** Service annotations of this node only (spec.nodes[].serviceAnnotations) */
  serviceAnnotations: Record<string, string>;
  websocketUrl?: string;
  boshUrl?: string;
}

/** cert-manager.io/v1 Certificate, as far as the operator writes it. */
export interface Certificate extends KubernetesObject {
  apiVersion: 'cert-manager.io/v1';
  kind: 'Certificate';
  metadata: V1ObjectMeta;
  spec: {
    secretName: string;
    dnsNames: string[];
    issuerRef: { name: string; kind: string; group: string };
    duration?: string;
    renewBefore?: string;
    privateKey: { algorithm: 'ECDSA'; size: 256; rotationPolicy: 'Always' };
    usages: string[];
    secretTemplate: { labels: Record<string, string> };
  };
}

export interface DesiredState {
  /** every object to apply (server-side apply), ConfigMap first */
  objects: KubernetesObject[];
  nodes: ResolvedNode[];
  /** what could not be built, for the status (e.g. a Kubernetes Node without a host label); the rest is built */
  problems: string[];
}

/** The resource the builders read: an XmppWebGateway as the API server returns it. */
export type { XmppWebGateway } from '../api/types.ts';
