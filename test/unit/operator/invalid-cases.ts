// Invalid XmppWebGateway resources and the field paths the validator must name for each.
import { twoNodes, replicas, perKubernetesNode, certManager, multiDomain } from './fixtures.ts';

type Mutable = Record<string, any>;

function variant(base: object, change: (spec: Mutable, resource: Mutable) => void): Mutable {
  const copy = structuredClone(base) as Mutable;
  change(copy.spec, copy);
  return copy;
}

export interface InvalidCase {
  title: string;
  resource: Mutable;
  /** every one must appear among the errors' paths */
  paths: string[];
}

export const invalidCases: InvalidCase[] = [
  {
    title: 'duplicate node host',
    resource: variant(twoNodes, (s) => (s.nodes[1].host = 't1.example.com')),
    paths: ['spec.nodes[1].host'],
  },
  {
    title: 'duplicate node name',
    resource: variant(twoNodes, (s) => (s.nodes[1].name = 't1')),
    paths: ['spec.nodes[1].name'],
  },
  {
    title: 'host that is not a DNS name',
    resource: variant(twoNodes, (s) => (s.nodes[1].host = 'T2_example.com')),
    paths: ['spec.nodes[1].host'],
  },
  {
    title: 'host that is an IP address',
    resource: variant(twoNodes, (s) => (s.nodes[0].host = '192.0.2.10')),
    paths: ['spec.nodes[0].host'],
  },
  {
    title: 'two node sources',
    resource: variant(twoNodes, (s) => Object.assign(s, { replicas: 2, hostTemplate: 't{index}.example.com' })),
    paths: ['spec'],
  },
  {
    title: 'no node source',
    resource: variant(twoNodes, (s) => delete s.nodes),
    paths: ['spec'],
  },
  {
    title: 'hostTemplate without {index}',
    resource: variant(replicas, (s) => (s.hostTemplate = 'web.example.net')),
    paths: ['spec.hostTemplate'],
  },
  {
    title: 'replicas without hostTemplate',
    resource: variant(replicas, (s) => delete s.hostTemplate),
    paths: ['spec.hostTemplate'],
  },
  {
    title: 'replicas out of range',
    resource: variant(replicas, (s) => (s.replicas = 101)),
    paths: ['spec.replicas'],
  },
  {
    title: 'two certificate sources',
    resource: variant(certManager, (s) => (s.tls.selfManaged = {})),
    paths: ['spec.tls'],
  },
  {
    title: 'issuer kind not known to cert-manager',
    resource: variant(certManager, (s) => (s.tls.issuerRef.kind = 'Vault')),
    paths: ['spec.tls.issuerRef.kind'],
  },
  {
    title: 'renewBefore not shorter than duration',
    resource: variant(certManager, (s) => (s.tls.renewBefore = '720h')),
    paths: ['spec.tls.renewBefore'],
  },
  {
    title: 'upstream override for an unknown domain',
    resource: variant(multiDomain, (s) => (s.upstream.domains[1].domain = 'delta.example')),
    paths: ['spec.upstream.domains[1].domain'],
  },
  {
    title: 'externalTrafficPolicy with ClusterIP',
    resource: variant(replicas, (s) => (s.service.type = 'ClusterIP')),
    paths: ['spec.service.externalTrafficPolicy'],
  },
  {
    title: 'websocket and bosh share a path',
    resource: variant(twoNodes, (s) => Object.assign(s, { websocket: { paths: ['/xmpp'] }, bosh: { paths: ['/bosh', '/xmpp'] } })),
    paths: ['spec.bosh.paths[1]'],
  },
  {
    title: 'path not starting with /',
    resource: variant(twoNodes, (s) => (s.websocket = { paths: ['xmpp-websocket'] })),
    paths: ['spec.websocket.paths[0]'],
  },
  {
    title: 'both transports disabled',
    resource: variant(twoNodes, (s) => Object.assign(s, { websocket: { enabled: false }, bosh: { enabled: false } })),
    paths: ['spec.websocket.enabled'],
  },
  {
    title: 'service type with perKubernetesNode',
    resource: variant(perKubernetesNode, (s) => (s.service.type = 'LoadBalancer')),
    paths: ['spec.service.type'],
  },
  {
    title: 'hostFrom with two sources',
    resource: variant(perKubernetesNode, (s) => (s.perKubernetesNode.hostFrom.template = '{nodeName}.example.org')),
    paths: ['spec.perKubernetesNode.hostFrom'],
  },
  {
    title: 'nodePorts with HostPort exposure',
    resource: variant(perKubernetesNode, (s) => (s.perKubernetesNode.nodePorts = { https: 30443 })),
    paths: ['spec.perKubernetesNode.nodePorts'],
  },
  {
    title: 'secretRefs that miss a node',
    resource: variant(multiDomain, (s) => delete s.tls.secretRefs.nameTemplate),
    paths: ['spec.tls.secretRefs.nodes'],
  },
  {
    title: 'CA from a Secret and a ConfigMap',
    resource: variant(twoNodes, (s) => (s.upstream.caConfigMapRef = { name: 'other-ca' })),
    paths: ['spec.upstream.caConfigMapRef'],
  },
  {
    title: 'no upstream host and a domain without an override',
    resource: variant(multiDomain, (s) => delete s.upstream.host),
    paths: ['spec.upstream.host'],
  },
  {
    title: 'upstream host and servers together',
    resource: variant(twoNodes, (s) => (s.upstream.servers = [{ host: 'b.svc', priority: 1 }])),
    paths: ['spec.upstream.servers'],
  },
  {
    title: 'a per-domain upstream naming no server (no host, servers or srv)',
    resource: variant(multiDomain, (s) => delete s.upstream.domains[1].host),
    paths: ['spec.upstream.domains[1].host'],
  },
  {
    title: 'upstream port without host (SRV)',
    resource: variant(twoNodes, (s) => {
      delete s.upstream.host;
      s.upstream.srv = true;
      s.upstream.port = 5222;
    }),
    paths: ['spec.upstream.port'],
  },
  {
    title: 'unknown PROXY protocol version towards the upstream',
    resource: variant(twoNodes, (s) => (s.upstream.proxyProtocol = 'v3')),
    paths: ['spec.upstream.proxyProtocol'],
  },
  {
    title: 'Ingress without a discovery host',
    resource: variant(certManager, (s) => delete s.discovery.host),
    paths: ['spec.discovery.host'],
  },
  {
    title: 'gateway name too long for child object names',
    resource: variant(twoNodes, (_s, r) => (r.metadata.name = 'a-very-long-gateway-name-that-overflows')),
    paths: ['metadata.name'],
  },
  {
    title: 'unknown field',
    resource: variant(twoNodes, (s) => (s.replica = 3)),
    paths: ['spec.replica'],
  },
  {
    title: 'duplicate domain',
    resource: variant(multiDomain, (s) => s.domains.push('alpha.example')),
    paths: ['spec.domains[3]'],
  },
  {
    title: 'bad enum value',
    resource: variant(twoNodes, (s) => (s.upstream.tls = 'tls')),
    paths: ['spec.upstream.tls'],
  },
];
