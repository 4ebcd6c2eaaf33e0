// The XmppWebGateway API (xwg.io/v1alpha1): one TypeBox definition, from which come the TypeScript types,
// the CRD's OpenAPI schema (crd.ts) and the offline validator (validate.ts).
// Bounds (maxItems, maxLength) are part of the contract: the API server prices CEL rules by them.
import { Type, type SchemaOptions, type Static, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox';
import { GatewayConfig } from '../../shared/gateway-config/schema.ts';

export const GROUP = 'xwg.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'XmppWebGateway';
export const LIST_KIND = 'XmppWebGatewayList';
export const PLURAL = 'xmppwebgateways';
export const SINGULAR = 'xmppwebgateway';
export const SHORT_NAMES = ['xwg'];
export const CATEGORIES = ['xmpp'];

/** Most gateway nodes one resource may have (explicit list, replicas or matching Kubernetes Nodes). */
export const MAX_NODES = 100;
/** Longest XmppWebGateway name and node name: `<gateway>-<node>` must stay a 63-character Service name. */
export const MAX_GATEWAY_NAME = 30;
export const MAX_NODE_NAME = 30;

// Patterns are written for both RE2 (the API server) and JavaScript (the validator): no look-around.
export const DNS_LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
export const DNS_NAME_PATTERN = `^${DNS_LABEL}(\\.${DNS_LABEL})*$`;
export const NODE_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const GATEWAY_NAME_PATTERN = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
export const GO_DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';
const QUANTITY_PATTERN = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

const gw = GatewayConfig.properties;

// ---------------------------------------------------------------------------------------------------------
// Building blocks

const DnsName = (description: string) =>
  Type.String({ minLength: 1, maxLength: 253, pattern: DNS_NAME_PATTERN, description });

const ObjectName = (description: string) =>
  Type.String({ minLength: 1, maxLength: 253, pattern: `^${DNS_LABEL}(\\.${DNS_LABEL})*$`, description });

const StringMap = (description: string, maxProperties = 64) =>
  Type.Record(Type.String(), Type.String({ maxLength: 4096 }), { maxProperties, description });

/** An object kept as given (Kubernetes types too large to restate here); shape checked by the API server on the child objects. */
const Preserved = (description: string) =>
  Type.Object({}, { additionalProperties: true, 'x-kubernetes-preserve-unknown-fields': true, description });

const Quantity = Type.Union([Type.Integer(), Type.String()], {
  pattern: QUANTITY_PATTERN,
  'x-kubernetes-int-or-string': true,
});

const Port = (description: string, def?: number) =>
  Type.Integer({ minimum: 1, maximum: 65535, description, ...(def === undefined ? {} : { default: def }) });

/** A union of string literals: becomes `enum` in the CRD. */
function Enum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(values.map((v) => Type.Literal(v)), options) as TUnion<TLiteral<T[number]>[]>;
}

/** Description (and default, when wanted) taken from the gateway's own schema, so both read the same. */
function fromGateway(s: TSchema, extra: string = ''): string {
  const base = typeof s.description === 'string' ? s.description : '';
  const def = s.default === undefined ? '' : ` (gateway default: ${JSON.stringify(s.default)})`;
  return `${base}${def}${extra}`.trim();
}

export const SecretKeyRef = Type.Object(
  {
    name: ObjectName('name of the Secret in the gateway namespace'),
    key: Type.String({ minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$', default: 'ca.crt', description: 'key holding PEM CA certificates' }),
  },
  { additionalProperties: false },
);
export type SecretKeyRef = Static<typeof SecretKeyRef>;

export const ConfigMapKeyRef = Type.Object(
  {
    name: ObjectName('name of the ConfigMap in the gateway namespace'),
    key: Type.String({ minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$', default: 'ca.crt', description: 'key holding PEM CA certificates' }),
  },
  { additionalProperties: false },
);
export type ConfigMapKeyRef = Static<typeof ConfigMapKeyRef>;

// ---------------------------------------------------------------------------------------------------------
// Upstream

export const UpstreamTls = Enum(['starttls', 'directTLS', 'none'] as const, {
  default: 'starttls',
  description:
    'starttls: TLS negotiated inside the XMPP stream (RFC 6120 §5); directTLS: TLS from the first byte (XEP-0368); none: plain TCP, for development only',
});

export const UpstreamProxyProtocol = Enum(['none', 'v1', 'v2'] as const, {
  description: `${fromGateway(gw.upstream.properties.default.properties.proxyProtocol)}; default none`,
});

export const UpstreamServerEntry = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253, description: 'XMPP server host name or address (c2s)' }),
    port: Type.Optional(Port('c2s port; default 5222, or 5223 with directTLS')),
    priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'lower is tried first; default 0' })),
    weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'share among servers of one priority; all 0 (default): in list order' })),
  },
  { additionalProperties: false },
);
export type UpstreamServerEntry = Static<typeof UpstreamServerEntry>;

const upstreamFields = {
  servers: Type.Optional(
    Type.Array(UpstreamServerEntry, {
      minItems: 1,
      maxItems: 16,
      description: 'several servers instead of host: a failed connect moves on to the next (RFC 2782 order by priority, then weight), a failed server is tried last for a short back-off',
    }),
  ),
  srv: Type.Optional(
    Type.Boolean({
      description: "no host or servers: look up each domain's _xmpp-client._tcp and _xmpps-client._tcp SRV records (RFC 6120 §3.2.1, XEP-0368)",
    }),
  ),
  port: Type.Optional(Port('c2s port of host; default 5222, or 5223 with directTLS')),
  tls: Type.Optional(UpstreamTls),
  proxyProtocol: Type.Optional(UpstreamProxyProtocol),
  serverName: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'name checked in the upstream certificate; default: the XMPP domain' })),
  caSecretRef: Type.Optional(SecretKeyRef),
  caConfigMapRef: Type.Optional(ConfigMapKeyRef),
  insecureSkipVerify: Type.Optional(Type.Boolean({ description: 'accept any upstream certificate: development only' })),
};

export const UpstreamDomain = Type.Object(
  {
    domain: DnsName('XMPP domain (one of spec.domains) this entry serves'),
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'XMPP server host name or address (c2s); exactly one of host, servers and srv' })),
    ...upstreamFields,
  },
  {
    additionalProperties: false,
    description: 'upstream for one domain; replaces the top-level upstream for that domain entirely (unset fields take the gateway defaults, not the top-level values)',
  },
);
export type UpstreamDomain = Static<typeof UpstreamDomain>;

export const Upstream = Type.Object(
  {
    host: Type.Optional(
      Type.String({ minLength: 1, maxLength: 253, description: 'XMPP server host name or address (c2s); one of host, servers and srv is required unless every domain has an entry in domains' }),
    ),
    ...upstreamFields,
    dnsServers: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        maxItems: 3,
        description: `${fromGateway(gw.upstream.properties.dns.properties.servers)}`,
      }),
    ),
    domains: Type.Optional(
      Type.Array(UpstreamDomain, {
        maxItems: 32,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['domain'],
        description: 'per-domain upstream servers',
      }),
    ),
  },
  { additionalProperties: false, description: 'the XMPP server(s) the gateway connects to' },
);
export type Upstream = Static<typeof Upstream>;

// ---------------------------------------------------------------------------------------------------------
// Node sources (exactly one)

export const NodeSpec = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: MAX_NODE_NAME,
      pattern: NODE_NAME_PATTERN,
      description: 'stable node name: objects are named <gateway>-<name>, pods carry the label xwg.io/node=<name>',
    }),
    host: DnsName('public host name under which browsers reach this node, e.g. t1.example.com'),
    serviceAnnotations: Type.Optional(StringMap('annotations for this node\'s Service only, over spec.service.annotations')),
  },
  { additionalProperties: false },
);
export type NodeSpec = Static<typeof NodeSpec>;

export const HostFrom = Type.Object(
  {
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 316, description: 'the public host is the value of this label of the Kubernetes Node' })),
    annotation: Type.Optional(Type.String({ minLength: 1, maxLength: 316, description: 'the public host is the value of this annotation of the Kubernetes Node' })),
    template: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 253,
        pattern: '^([a-z0-9.-]|\\{nodeName\\})+$',
        description: 'the public host is this template with {nodeName} replaced by the Kubernetes Node name, e.g. {nodeName}.edge.example.com',
      }),
    ),
  },
  { additionalProperties: false, description: 'where each node\'s public host comes from: exactly one of label, annotation, template' },
);
export type HostFrom = Static<typeof HostFrom>;

export const PerKubernetesNode = Type.Object(
  {
    nodeSelector: Type.Record(Type.String(), Type.String({ maxLength: 63 }), {
      minProperties: 1,
      maxProperties: 16,
      description: 'labels a Kubernetes Node must carry to get a gateway node (all must match)',
    }),
    exposure: Enum(['HostPort', 'NodePort'] as const, {
      default: 'HostPort',
      description:
        'HostPort: the pod binds the Kubernetes Node\'s ports spec.service.ports (443, and 80 if set); updates recreate the pod (the port cannot be held twice). NodePort: one NodePort Service with externalTrafficPolicy Local; published URLs carry the node port',
    }),
    hostFrom: HostFrom,
    nodePorts: Type.Optional(
      Type.Object(
        {
          https: Type.Integer({ minimum: 30000, maximum: 32767, default: 30443, description: 'node port of HTTPS/WSS' }),
          http: Type.Optional(Type.Integer({ minimum: 30000, maximum: 32767, description: 'node port of plain HTTP (BOSH over http, health); unset: none' })),
        },
        { additionalProperties: false, description: 'node ports, with exposure NodePort only' },
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      'bare metal: one gateway node per Kubernetes Node matching nodeSelector, named after it (dots become dashes; names longer than 30 characters are shortened with a hash), its pod pinned to that Node',
  },
);
export type PerKubernetesNode = Static<typeof PerKubernetesNode>;

// ---------------------------------------------------------------------------------------------------------
// Transports

const Paths = (def: unknown) =>
  Type.Array(Type.String({ minLength: 1, maxLength: 128, pattern: '^/[^\\s?#]*$' }), {
    minItems: 1,
    maxItems: 8,
    default: def,
    'x-kubernetes-list-type': 'set',
    description: 'URL paths, each starting with /; the first is the one published in the node list',
  });

export const Websocket = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'serve XMPP over WebSocket (RFC 7395)' }),
    paths: Paths(gw.websocket.properties.paths.default),
  },
  { additionalProperties: false, default: {} },
);
export type Websocket = Static<typeof Websocket>;

const boshProps = gw.bosh.properties;
export const Bosh = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'serve XMPP over BOSH (XEP-0124, XEP-0206)' }),
    paths: Paths(boshProps.paths.default),
    wait: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, description: fromGateway(boshProps.maxWait) })),
    hold: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, description: fromGateway(boshProps.maxHold) })),
    inactivity: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, description: fromGateway(boshProps.inactivity) })),
    maxPause: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: fromGateway(boshProps.maxPause) })),
  },
  { additionalProperties: false, default: {} },
);
export type Bosh = Static<typeof Bosh>;

// ---------------------------------------------------------------------------------------------------------
// Certificates (exactly one source)

export const IssuerRef = Type.Object(
  {
    name: ObjectName('name of the issuer'),
    kind: Type.String({
      minLength: 1,
      maxLength: 63,
      pattern: '^[A-Z][A-Za-z0-9]*$',
      default: 'Issuer',
      description: 'Issuer or ClusterIssuer for cert-manager.io; any kind for an external issuer group',
    }),
    group: Type.String({ minLength: 1, maxLength: 253, default: 'cert-manager.io', description: 'API group of the issuer' }),
  },
  { additionalProperties: false, description: 'cert-manager issues one Certificate per node' },
);
export type IssuerRef = Static<typeof IssuerRef>;

export const SecretRefs = Type.Object(
  {
    nameTemplate: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        pattern: '^([a-z0-9.-]|\\{node\\})+$',
        description: 'Secret name with {node} replaced by the node name, e.g. {node}-tls; used for nodes not listed in nodes',
      }),
    ),
    nodes: Type.Optional(
      Type.Array(
        Type.Object(
          {
            node: Type.String({ minLength: 1, maxLength: MAX_NODE_NAME, pattern: NODE_NAME_PATTERN, description: 'node name' }),
            secretName: ObjectName('kubernetes.io/tls Secret (tls.crt, tls.key) for this node'),
          },
          { additionalProperties: false },
        ),
        {
          maxItems: MAX_NODES,
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['node'],
          description: 'Secret of each node by name',
        },
      ),
    ),
  },
  { additionalProperties: false, description: 'existing kubernetes.io/tls Secrets, managed outside the operator' },
);
export type SecretRefs = Static<typeof SecretRefs>;

export const Tls = Type.Object(
  {
    issuerRef: Type.Optional(IssuerRef),
    secretRefs: Type.Optional(SecretRefs),
    selfManaged: Type.Optional(
      Type.Object({}, {
        additionalProperties: false,
        description: 'the operator keeps a CA (Secret <gateway>-ca, which clients must trust) and issues node certificates itself; for development and closed networks',
      }),
    ),
    extraDnsNames: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: `^(\\*\\.)?${DNS_LABEL}(\\.${DNS_LABEL})*$` }), {
        maxItems: 16,
        'x-kubernetes-list-type': 'set',
        description: 'names added to every node certificate besides the node host',
      }),
    ),
    duration: Type.Optional(Type.String({ maxLength: 32, pattern: GO_DURATION_PATTERN, description: 'certificate lifetime, e.g. 2160h (default 2160h)' })),
    renewBefore: Type.Optional(
      Type.String({ maxLength: 32, pattern: GO_DURATION_PATTERN, description: 'renew this long before expiry (default: a third of the lifetime)' }),
    ),
  },
  {
    additionalProperties: false,
    default: { selfManaged: {} },
    description: 'node certificates: exactly one of issuerRef, secretRefs, selfManaged; when spec.tls is absent, selfManaged',
  },
);
export type Tls = Static<typeof Tls>;

// ---------------------------------------------------------------------------------------------------------
// Services, discovery

export const ServiceSpec = Type.Object(
  {
    type: Type.Optional(
      Enum(['LoadBalancer', 'NodePort', 'ClusterIP'] as const, {
        description: 'type of each node\'s Service (default LoadBalancer); not allowed with perKubernetesNode',
      }),
    ),
    annotations: Type.Optional(StringMap('annotations for every node Service')),
    externalDnsHostname: Type.Boolean({
      default: true,
      description: 'annotate each node Service with external-dns.alpha.kubernetes.io/hostname: <node host>',
    }),
    externalTrafficPolicy: Type.Optional(Enum(['Cluster', 'Local'] as const, { description: 'for type LoadBalancer or NodePort' })),
    loadBalancerClass: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'for type LoadBalancer' })),
    ports: Type.Object(
      {
        https: Port('Service port of HTTPS/WSS (container port 5443)', 443),
        http: Type.Optional(Port('Service port of plain HTTP (container port 5280); unset: not exposed')),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);
export type ServiceSpec = Static<typeof ServiceSpec>;

export const Discovery = Type.Object(
  {
    host: Type.Optional(
      DnsName(
        'host name where clients fetch the node list, e.g. xmpp-web.example.com; served by the Ingress when enabled, otherwise by the discovery Service (of spec.service.type) and added to every node certificate',
      ),
    ),
    ingress: Type.Optional(
      Type.Object(
        {
          enabled: Type.Boolean({ default: false }),
          className: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'IngressClass name' })),
          annotations: Type.Optional(StringMap('annotations of the Ingress')),
          tlsSecretName: Type.Optional(
            ObjectName('TLS Secret of the Ingress; default <gateway>-discovery-tls, issued like the node certificates (required with secretRefs)'),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, description: 'a Service over all nodes (<gateway>), and optionally a public host for it' },
);
export type Discovery = Static<typeof Discovery>;

const limitProps = gw.limits.properties;
export const Limits = Type.Object(
  {
    maxStanzaBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 16_777_216, description: fromGateway(limitProps.maxStanzaBytes) })),
    maxConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: fromGateway(limitProps.maxConnections, ' per node') })),
    maxConnectionsPerAddress: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: fromGateway(limitProps.maxConnectionsPerAddress) })),
    maxBufferedBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1_073_741_824, description: fromGateway(limitProps.maxBufferedBytes) })),
    maxBoshSessions: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: fromGateway(boshProps.maxSessions, ' per node') })),
    maxBoshSessionsPerAddress: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: fromGateway(boshProps.maxSessionsPerAddress) })),
  },
  { additionalProperties: false, description: 'per-node limits, written into each node\'s gateway configuration' },
);
export type Limits = Static<typeof Limits>;

// ---------------------------------------------------------------------------------------------------------
// Pods

export const Toleration = Type.Object(
  {
    key: Type.Optional(Type.String({ maxLength: 316 })),
    operator: Type.Optional(Enum(['Exists', 'Equal'] as const)),
    value: Type.Optional(Type.String({ maxLength: 63 })),
    effect: Type.Optional(Enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const)),
    tolerationSeconds: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);

export const EnvVar = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 253 }),
    value: Type.Optional(Type.String({ maxLength: 32768 })),
    valueFrom: Type.Optional(Preserved('as in a container\'s env[].valueFrom')),
  },
  { additionalProperties: false },
);
export type EnvVar = Static<typeof EnvVar>;

export const Resources = Type.Object(
  {
    limits: Type.Optional(Type.Record(Type.String(), Quantity, { maxProperties: 16 })),
    requests: Type.Optional(Type.Record(Type.String(), Quantity, { maxProperties: 16 })),
  },
  { additionalProperties: false, description: 'compute resources of the gateway container (default: requests cpu 100m, memory 128Mi)' },
);
export type Resources = Static<typeof Resources>;

export const PodTemplate = Type.Object(
  {
    metadata: Type.Optional(
      Type.Object(
        {
          labels: Type.Optional(StringMap('extra pod labels; the operator\'s own labels win')),
          annotations: Type.Optional(StringMap('extra pod annotations; the operator\'s own annotations win')),
        },
        { additionalProperties: false },
      ),
    ),
    serviceAccountName: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    priorityClassName: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    runtimeClassName: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    imagePullSecrets: Type.Optional(
      Type.Array(Type.Object({ name: ObjectName('Secret name') }, { additionalProperties: false }), { maxItems: 8 }),
    ),
    podSecurityContext: Type.Optional(Preserved('fields replace those of the operator\'s pod securityContext, one level deep')),
    container: Type.Optional(
      Type.Object(
        {
          env: Type.Optional(Type.Array(EnvVar, { maxItems: 64, description: 'environment of the gateway container' })),
          securityContext: Type.Optional(Preserved('fields replace those of the operator\'s container securityContext, one level deep')),
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'overrides of the node pods. Maps merge (operator keys win for labels it selects on); securityContext fields replace the operator\'s one level deep',
  },
);
export type PodTemplate = Static<typeof PodTemplate>;

// ---------------------------------------------------------------------------------------------------------
// Spec

export const XmppWebGatewaySpec = Type.Object(
  {
    domains: Type.Array(DnsName('XMPP domain'), {
      minItems: 1,
      maxItems: 32,
      'x-kubernetes-list-type': 'set',
      description: 'XMPP domains (virtual hosts) served; a stream to any other domain gets host-unknown',
    }),
    upstream: Upstream,

    nodes: Type.Optional(
      Type.Array(NodeSpec, {
        minItems: 1,
        maxItems: MAX_NODES,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
        description: 'node source 1 of 3: an explicit list of nodes',
      }),
    ),
    replicas: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_NODES,
        description: 'node source 2 of 3: this many nodes, named 1..replicas (objects <gateway>-1, …), hosts from hostTemplate; scaling down removes the highest',
      }),
    ),
    hostTemplate: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 240,
        pattern: '^([a-z0-9.-]|\\{index\\})+$',
        description: 'with replicas: public host of node i, {index} replaced by i (from 1), e.g. t{index}.example.com',
      }),
    ),
    perKubernetesNode: Type.Optional(PerKubernetesNode),

    websocket: Type.Optional(Websocket),
    bosh: Type.Optional(Bosh),
    tls: Type.Optional(Tls),
    service: Type.Optional(ServiceSpec),
    discovery: Type.Optional(Discovery),
    allowedOrigins: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: '^(\\*|[a-zA-Z][a-zA-Z0-9+.-]*://[^/\\s]+)$' }), {
        maxItems: 64,
        'x-kubernetes-list-type': 'set',
        description: 'Origins allowed to open WebSockets and BOSH sessions ("*" or exact origins like https://chat.example.com); empty: all, logged',
      }),
    ),
    limits: Type.Optional(Limits),
    logLevel: Type.Optional(
      Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, { description: 'gateway log level (gateway default: info)' }),
    ),
    drainSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 3600,
        description: 'time a stopping node has to close its streams (gateway default: 20); the pod grace period is this plus 10 seconds',
      }),
    ),

    image: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'gateway image; default: the operator\'s own image' })),
    imagePullPolicy: Type.Optional(Enum(['Always', 'IfNotPresent', 'Never'] as const)),
    resources: Type.Optional(Resources),
    nodeSelector: Type.Optional(StringMap('node selector of the node pods', 32)),
    tolerations: Type.Optional(Type.Array(Toleration, { maxItems: 32 })),
    affinity: Type.Optional(
      Preserved('pod affinity; default: prefer one node pod per Kubernetes Node (pod anti-affinity on kubernetes.io/hostname)'),
    ),
    topologySpreadConstraints: Type.Optional(
      Type.Array(Preserved('a topology spread constraint'), {
        maxItems: 8,
        description: 'default: spread node pods across topology.kubernetes.io/zone, maxSkew 1, ScheduleAnyway',
      }),
    ),
    podTemplate: Type.Optional(PodTemplate),
  },
  {
    additionalProperties: false,
    description: 'a fleet of XMPP web gateway nodes, each with its own public host, Deployment, Service and certificate',
  },
);
export type XmppWebGatewaySpec = Static<typeof XmppWebGatewaySpec>;

// ---------------------------------------------------------------------------------------------------------
// Status

export const CONDITION_TYPES = ['Ready', 'Progressing', 'Degraded', 'CertificatesReady'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

/** metav1.Condition, as the Kubernetes API conventions define it. */
export const Condition = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' }),
    status: Enum(['True', 'False', 'Unknown'] as const),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    lastTransitionTime: Type.String({ format: 'date-time' }),
    reason: Type.String({ minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
    message: Type.String({ maxLength: 32768 }),
  },
  { additionalProperties: false },
);
export type Condition = Static<typeof Condition>;

export const NodeStatus = Type.Object(
  {
    name: Type.String(),
    host: Type.String(),
    websocketUrl: Type.Optional(Type.String()),
    boshUrl: Type.Optional(Type.String()),
    ready: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type NodeStatus = Static<typeof NodeStatus>;

export const XmppWebGatewayStatus = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64', description: 'metadata.generation this status describes' })),
    conditions: Type.Optional(
      Type.Array(Condition, {
        maxItems: 16,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
        description: 'Ready, Progressing, Degraded, CertificatesReady',
      }),
    ),
    nodes: Type.Optional(
      Type.Array(NodeStatus, {
        maxItems: MAX_NODES,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
        description: 'the nodes, as published in the node list',
      }),
    ),
    readyNodes: Type.Optional(Type.String({ description: 'ready nodes over all nodes, e.g. 2/3' })),
    discoveryUrl: Type.Optional(
      Type.String({ description: 'node list on the discovery host (for the first domain; ?domain= selects another), when spec.discovery.host is set' }),
    ),
  },
  { additionalProperties: false },
);
export type XmppWebGatewayStatus = Static<typeof XmppWebGatewayStatus>;

// ---------------------------------------------------------------------------------------------------------
// The resource

/** The part of ObjectMeta the operator reads; the API server owns the rest. */
export const ObjectMeta = Type.Object(
  {
    name: Type.Optional(Type.String()),
    namespace: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    resourceVersion: Type.Optional(Type.String()),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: true },
);

export const XmppWebGateway = Type.Object(
  {
    apiVersion: Type.String(),
    kind: Type.String(),
    metadata: ObjectMeta,
    spec: XmppWebGatewaySpec,
    status: Type.Optional(XmppWebGatewayStatus),
  },
  { additionalProperties: false },
);
export type XmppWebGateway = Static<typeof XmppWebGateway>;
