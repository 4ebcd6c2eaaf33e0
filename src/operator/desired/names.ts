// Names of the objects and paths the operator owns, in one place (the controller looks them up by these).
export const names = {
  /** Deployment, Service and Certificate of a node */
  node: (gateway: string, node: string) => `${gateway}-${node}`,
  /** TLS Secret of a node, when the operator issues it (issuerRef, selfManaged) */
  nodeTlsSecret: (gateway: string, node: string) => `${gateway}-${node}-tls`,
  configMap: (gateway: string) => `${gateway}-config`,
  /** Service over all nodes, Ingress, PodDisruptionBudget */
  discovery: (gateway: string) => gateway,
  discoveryCertificate: (gateway: string) => `${gateway}-discovery`,
  discoveryTlsSecret: (gateway: string) => `${gateway}-discovery-tls`,
  /** NodePort Service of perKubernetesNode with exposure NodePort */
  nodePortService: (gateway: string) => `${gateway}-nodeport`,
  /** CA of selfManaged certificates */
  caSecret: (gateway: string) => `${gateway}-ca`,
  pdb: (gateway: string) => gateway,
} as const;

/** Container ports of the gateway (listen.port, listen.tlsPort). */
export const HTTP_PORT = 5280;
export const HTTPS_PORT = 5443;
/**
 * Container port of the gateway's admin listener (admin.port: /metrics, /healthz, /readyz), named
 * ADMIN_PORT_NAME for probes and PodMonitors. No Service ever exposes it.
 */
export const ADMIN_PORT = 9280;
export const ADMIN_PORT_NAME = 'metrics';

/** Where every node serves the node list (the gateway's NODE_LIST_PATH; a test keeps them equal). */
export const NODE_LIST_PATH = '/.well-known/xmpp-web-nodes.json';

export const CONFIG_DIR = '/etc/xwg/config';
export const CERT_DIR = '/etc/xwg/certs';
export const UPSTREAM_CA_DIR = '/etc/xwg/upstream-ca';
export const NODES_FILE = 'nodes.json';
export const configFileName = (node: string) => `${node}.yaml`;

/** Pod template annotation whose change rolls a node's pod. */
export const CONFIG_HASH_ANNOTATION = 'xwg.io/config-hash';
export const EXTERNAL_DNS_HOSTNAME = 'external-dns.alpha.kubernetes.io/hostname';
