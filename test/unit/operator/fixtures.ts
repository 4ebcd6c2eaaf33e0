// Sample XmppWebGateway resources shared by the operator tests.
import type { XmppWebGateway } from '../../../src/operator/api/types.ts';
import type { DesiredContext, KubernetesNodeInfo } from '../../../src/operator/desired/index.ts';

type Spec = XmppWebGateway['spec'];

export function gateway(name: string, spec: Record<string, unknown>, extra: { generation?: number } = {}): XmppWebGateway {
  return {
    apiVersion: 'xwg.io/v1alpha1',
    kind: 'XmppWebGateway',
    metadata: { name, namespace: 'xmpp', uid: `uid-${name}`, generation: extra.generation ?? 1 },
    spec: spec as Spec,
  };
}

export const ctx: DesiredContext = {
  defaultImage: 'ghcr.io/example/xmpp-web-gateway:0.1.0',
  certManagerAvailable: true,
};

/** Two explicit nodes, self-managed certificates (no spec.tls), one upstream with a private CA. */
export const twoNodes = gateway('chat', {
  domains: ['example.com'],
  upstream: { host: 'prosody.xmpp.svc.cluster.local', caSecretRef: { name: 'prosody-ca' } },
  nodes: [
    { name: 't1', host: 't1.example.com' },
    { name: 't2', host: 't2.example.com', serviceAnnotations: { 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' } },
  ],
});

/** replicas + hostTemplate, plain-HTTP port exposed, limits, log level, pod overrides. */
export const replicas = gateway('web', {
  domains: ['example.net'],
  upstream: { host: 'ejabberd.chat.svc', port: 5223, tls: 'directTLS' },
  replicas: 3,
  hostTemplate: 't{index}.example.net',
  service: { ports: { https: 443, http: 80 }, externalTrafficPolicy: 'Local', annotations: { 'example.com/team': 'chat' } },
  limits: { maxStanzaBytes: 65536, maxConnections: 20000, maxConnectionsPerAddress: 50, maxBoshSessions: 5000 },
  bosh: { wait: 30, hold: 1, inactivity: 90, maxPause: 60 },
  logLevel: 'debug',
  drainSeconds: 40,
  image: 'registry.example.net/xwg:1.2.3',
  imagePullPolicy: 'IfNotPresent',
  resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  podTemplate: {
    metadata: { labels: { team: 'chat' }, annotations: { 'prometheus.io/scrape': 'true' } },
    priorityClassName: 'high',
    container: { env: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=768' }] },
  },
});

/** Bare metal: one node per Kubernetes Node labelled role=edge, host from a label, host ports. */
export const perKubernetesNode = gateway('edge', {
  domains: ['example.org'],
  upstream: { host: 'xmpp.example.org' },
  perKubernetesNode: {
    nodeSelector: { 'example.org/role': 'edge' },
    hostFrom: { label: 'example.org/public-host' },
  },
  service: { ports: { https: 443, http: 80 } },
  tolerations: [{ key: 'example.org/edge', operator: 'Exists', effect: 'NoSchedule' }],
});

export const kubernetesNodes: KubernetesNodeInfo[] = [
  { metadata: { name: 'worker-b.dc1.example.org', labels: { 'example.org/role': 'edge', 'example.org/public-host': 'b.edge.example.org' } } },
  { metadata: { name: 'worker-a.dc1.example.org', labels: { 'example.org/role': 'edge', 'example.org/public-host': 'a.edge.example.org' } } },
  { metadata: { name: 'worker-c.dc1.example.org', labels: { 'example.org/role': 'edge' } } },
  { metadata: { name: 'control-plane', labels: { 'node-role.kubernetes.io/control-plane': '' } } },
];

/** cert-manager ClusterIssuer, extra names, a discovery host behind an Ingress. */
export const certManager = gateway('public', {
  domains: ['example.com'],
  upstream: { host: 'prosody.xmpp.svc' },
  nodes: [
    { name: 'eu1', host: 'eu1.xmpp-web.example.com' },
    { name: 'us1', host: 'us1.xmpp-web.example.com' },
  ],
  tls: { issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' }, extraDnsNames: ['xmpp-web.example.com'], duration: '720h', renewBefore: '240h' },
  discovery: { host: 'xmpp-web.example.com', ingress: { enabled: true, className: 'nginx', annotations: { 'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600' } } },
  allowedOrigins: ['https://chat.example.com'],
});

/** Several domains on different servers, existing Secrets by template, WebSocket only. */
export const multiDomain = gateway('multi', {
  domains: ['alpha.example', 'beta.example', 'gamma.example'],
  upstream: {
    host: 'xmpp.alpha.example',
    domains: [
      { domain: 'beta.example', host: 'xmpp.beta.example', port: 5223, tls: 'directTLS', caConfigMapRef: { name: 'beta-ca', key: 'bundle.pem' } },
      { domain: 'gamma.example', host: 'gamma-dev.svc', tls: 'none' },
    ],
  },
  nodes: [
    { name: 'a', host: 'a.web.alpha.example' },
    { name: 'b', host: 'b.web.alpha.example' },
  ],
  tls: { secretRefs: { nameTemplate: 'web-{node}-tls', nodes: [{ node: 'b', secretName: 'wildcard-web-alpha' }] } },
  bosh: { enabled: false },
  websocket: { paths: ['/xmpp-websocket'] },
  allowedOrigins: ['https://alpha.example', 'https://beta.example'],
  service: { type: 'NodePort' },
});
