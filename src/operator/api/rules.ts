// Cross-field rules of the XmppWebGateway API, each written twice side by side: as the CEL the API server
// runs (crd.ts puts it under x-kubernetes-validations at `at`) and as the same check in TypeScript
// (validate.ts runs it offline). Values reach both after defaulting, as on the API server.
// CEL cost: every list and string a rule walks is bounded in types.ts (maxItems, maxLength).
import { parseGoDuration } from './duration.ts';
import { GATEWAY_NAME_PATTERN, MAX_GATEWAY_NAME } from './types.ts';
import type {
  HostFrom,
  IssuerRef,
  NodeSpec,
  PerKubernetesNode,
  SecretRefs,
  ServiceSpec,
  Tls,
  Upstream,
  UpstreamDomain,
  XmppWebGatewaySpec,
  Discovery,
} from './types.ts';

/** One failure found by a TypeScript check: `path` is relative to the rule's location ('' = there). */
export interface Violation {
  path: string;
  detail?: string;
}

export type CelReason = 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';

export interface Rule<T = never> {
  /** Stable identifier, for tests and documentation. */
  id: string;
  /** Where the rule sits in the resource: '' (the resource), 'spec', 'spec.nodes', 'spec.nodes[*].host', … */
  at: readonly string[];
  /** The CEL expression; `self` is the value at `at`. */
  rule: string;
  message: string;
  /** CEL fieldPath, relative to `at` (the API server reports the error there). */
  fieldPath?: string;
  reason?: CelReason;
  /** The same rule in TypeScript: true or [] when it holds; false or violations (more precise paths) when not. */
  check(self: T): boolean | Violation[];
}

// Only the rule list is polymorphic; each rule's check is typed by `rule<T>`.
type AnyRule = Rule<any>;
const rule = <T>(r: Rule<T>): AnyRule => r;

function duplicates<T>(items: readonly T[], key: (t: T) => string, field: string): Violation[] {
  const seen = new Set<string>();
  const out: Violation[] = [];
  items.forEach((item, i) => {
    const k = key(item);
    if (seen.has(k)) out.push({ path: `[${i}].${field}`, detail: k });
    seen.add(k);
  });
  return out;
}

const count = (...flags: boolean[]) => flags.filter(Boolean).length;
const has = (v: unknown) => v !== undefined;

const DEFAULT_CERT_DURATION = '2160h';

export const RULES: readonly AnyRule[] = [
  // -- the resource
  rule<{ metadata: { name?: string } }>({
    id: 'gateway-name',
    at: [''],
    rule: `self.metadata.name.size() <= ${MAX_GATEWAY_NAME} && self.metadata.name.matches('${GATEWAY_NAME_PATTERN}')`,
    message: `metadata.name must be a DNS label of at most ${MAX_GATEWAY_NAME} characters starting with a letter (child objects are named <gateway>-<node>)`,
    check: (self) => {
      const name = self.metadata.name ?? '';
      return name.length <= MAX_GATEWAY_NAME && new RegExp(GATEWAY_NAME_PATTERN).test(name) ? true : [{ path: 'metadata.name', detail: name }];
    },
  }),

  // -- spec
  rule<XmppWebGatewaySpec>({
    id: 'one-node-source',
    at: ['spec'],
    rule: '[has(self.nodes), has(self.replicas), has(self.perKubernetesNode)].filter(x, x).size() == 1',
    message: 'exactly one node source must be set: nodes, replicas (with hostTemplate) or perKubernetesNode',
    check: (s) => count(has(s.nodes), has(s.replicas), has(s.perKubernetesNode)) === 1,
  }),
  rule<XmppWebGatewaySpec>({
    id: 'replicas-host-template',
    at: ['spec'],
    rule: 'has(self.replicas) == has(self.hostTemplate)',
    message: 'replicas and hostTemplate go together: set both or neither',
    fieldPath: '.hostTemplate',
    check: (s) => has(s.replicas) === has(s.hostTemplate),
  }),
  rule<XmppWebGatewaySpec>({
    id: 'upstream-domain-known',
    at: ['spec'],
    rule: '!has(self.upstream.domains) || self.upstream.domains.all(d, d.domain in self.domains)',
    message: 'each upstream.domains entry must name one of spec.domains',
    fieldPath: '.upstream.domains',
    check: (s) =>
      (s.upstream.domains ?? []).flatMap((d, i) =>
        s.domains.includes(d.domain) ? [] : [{ path: `upstream.domains[${i}].domain`, detail: d.domain }],
      ),
  }),
  rule<XmppWebGatewaySpec>({
    id: 'upstream-host',
    at: ['spec'],
    rule:
      "has(self.upstream.host) || has(self.upstream.servers) || (has(self.upstream.srv) && self.upstream.srv) || (has(self.upstream.domains) && self.domains.all(d, self.upstream.domains.exists(u, u.domain == d)))",
    message: 'one of upstream.host, upstream.servers and upstream.srv is required unless every domain has an upstream.domains entry',
    fieldPath: '.upstream.host',
    reason: 'FieldValueRequired',
    check: (s) =>
      has(s.upstream.host) || has(s.upstream.servers) || s.upstream.srv === true || s.domains.every((d) => (s.upstream.domains ?? []).some((u) => u.domain === d)),
  }),
  rule<XmppWebGatewaySpec>({
    id: 'transport-paths-distinct',
    at: ['spec'],
    rule:
      '!has(self.websocket) || !has(self.websocket.paths) || !has(self.bosh) || !has(self.bosh.paths) || !self.bosh.paths.exists(p, p in self.websocket.paths)',
    message: 'websocket.paths and bosh.paths must not share a path',
    fieldPath: '.bosh.paths',
    check: (s) =>
      (s.bosh?.paths ?? []).flatMap((p, i) => ((s.websocket?.paths ?? []).includes(p) ? [{ path: `bosh.paths[${i}]`, detail: p }] : [])),
  }),
  rule<XmppWebGatewaySpec>({
    id: 'one-transport',
    at: ['spec'],
    rule:
      '!(has(self.websocket) && has(self.websocket.enabled) && !self.websocket.enabled && has(self.bosh) && has(self.bosh.enabled) && !self.bosh.enabled)',
    message: 'at least one of websocket and bosh must be enabled',
    fieldPath: '.websocket.enabled',
    check: (s) => !(s.websocket?.enabled === false && s.bosh?.enabled === false),
  }),
  rule<XmppWebGatewaySpec>({
    id: 'per-kubernetes-node-service',
    at: ['spec'],
    rule:
      '!has(self.perKubernetesNode) || !has(self.service) || (!has(self.service.type) && !has(self.service.externalTrafficPolicy) && !has(self.service.loadBalancerClass))',
    message:
      'service.type, service.externalTrafficPolicy and service.loadBalancerClass do not apply with perKubernetesNode (node Services are ClusterIP; see perKubernetesNode.exposure)',
    fieldPath: '.service',
    reason: 'FieldValueForbidden',
    check: (s) =>
      !has(s.perKubernetesNode) ||
      (['type', 'externalTrafficPolicy', 'loadBalancerClass'] as const).flatMap((k) =>
        s.service?.[k] === undefined ? [] : [{ path: `service.${k}` }],
      ),
  }),
  rule<XmppWebGatewaySpec>({
    id: 'secret-refs-ingress-secret',
    at: ['spec'],
    rule:
      '!has(self.tls) || !has(self.tls.secretRefs) || !has(self.discovery) || !has(self.discovery.ingress) || !self.discovery.ingress.enabled || has(self.discovery.ingress.tlsSecretName)',
    message: 'with tls.secretRefs, an enabled discovery.ingress needs tlsSecretName',
    fieldPath: '.discovery.ingress.tlsSecretName',
    reason: 'FieldValueRequired',
    check: (s) => !has(s.tls?.secretRefs) || s.discovery?.ingress?.enabled !== true || has(s.discovery.ingress.tlsSecretName),
  }),
  rule<XmppWebGatewaySpec>({
    id: 'secret-refs-cover-nodes',
    at: ['spec'],
    rule:
      '!has(self.nodes) || !has(self.tls) || !has(self.tls.secretRefs) || has(self.tls.secretRefs.nameTemplate) || (has(self.tls.secretRefs.nodes) && self.nodes.all(n, self.tls.secretRefs.nodes.exists(r, r.node == n.name)))',
    message: 'without tls.secretRefs.nameTemplate, tls.secretRefs.nodes must name a Secret for every node',
    fieldPath: '.tls.secretRefs.nodes',
    reason: 'FieldValueRequired',
    check: (s) => {
      const refs = s.tls?.secretRefs;
      if (!s.nodes || !refs || has(refs.nameTemplate)) return true;
      return s.nodes.flatMap((n) =>
        (refs.nodes ?? []).some((r) => r.node === n.name) ? [] : [{ path: 'tls.secretRefs.nodes', detail: `no Secret for node ${n.name}` }],
      );
    },
  }),
  rule<XmppWebGatewaySpec>({
    id: 'discovery-host-distinct',
    at: ['spec'],
    rule: '!has(self.discovery) || !has(self.discovery.host) || !has(self.nodes) || !self.nodes.exists(n, n.host == self.discovery.host)',
    message: 'discovery.host must differ from every node host',
    fieldPath: '.discovery.host',
    check: (s) => !s.discovery?.host || !(s.nodes ?? []).some((n) => n.host === s.discovery?.host),
  }),

  // -- nodes
  rule<NodeSpec[]>({
    id: 'node-names-unique',
    at: ['spec.nodes'],
    rule: 'self.all(a, self.exists_one(b, b.name == a.name))',
    message: 'node names must be unique',
    check: (nodes) => duplicates(nodes, (n) => n.name, 'name'),
  }),
  rule<NodeSpec[]>({
    id: 'node-hosts-unique',
    at: ['spec.nodes'],
    rule: 'self.all(a, self.exists_one(b, b.host == a.host))',
    message: 'node hosts must be unique',
    check: (nodes) => duplicates(nodes, (n) => n.host, 'host'),
  }),
  rule<string>({
    id: 'host-not-ip',
    at: ['spec.nodes[*].host', 'spec.discovery.host'],
    rule: "!self.matches('^[0-9.]+$')",
    message: 'must be a DNS name, not an IP address',
    check: (host) => !/^[0-9.]+$/.test(host),
  }),
  rule<string>({
    id: 'host-template-index',
    at: ['spec.hostTemplate'],
    rule: "self.contains('{index}')",
    message: 'must contain {index}',
    check: (t) => t.includes('{index}'),
  }),
  rule<HostFrom>({
    id: 'host-from-one',
    at: ['spec.perKubernetesNode.hostFrom'],
    rule: '[has(self.label), has(self.annotation), has(self.template)].filter(x, x).size() == 1',
    message: 'exactly one of label, annotation, template must be set',
    check: (h) => count(has(h.label), has(h.annotation), has(h.template)) === 1,
  }),
  rule<string>({
    id: 'host-from-template-node-name',
    at: ['spec.perKubernetesNode.hostFrom.template'],
    rule: "self.contains('{nodeName}')",
    message: 'must contain {nodeName}',
    check: (t) => t.includes('{nodeName}'),
  }),
  rule<PerKubernetesNode>({
    id: 'node-ports-with-node-port',
    at: ['spec.perKubernetesNode'],
    rule: "!has(self.nodePorts) || self.exposure == 'NodePort'",
    message: 'nodePorts apply to exposure NodePort only',
    fieldPath: '.nodePorts',
    reason: 'FieldValueForbidden',
    check: (p) => !has(p.nodePorts) || p.exposure === 'NodePort',
  }),
  rule<{ https: number; http?: number }>({
    id: 'node-ports-distinct',
    at: ['spec.perKubernetesNode.nodePorts', 'spec.service.ports'],
    rule: '!has(self.http) || self.http != self.https',
    message: 'http and https ports must differ',
    fieldPath: '.http',
    check: (p) => p.http === undefined || p.http !== p.https,
  }),

  // -- upstream
  rule<Upstream>({
    id: 'upstream-one-source',
    at: ['spec.upstream'],
    rule: "[has(self.host), has(self.servers), has(self.srv) && self.srv].filter(x, x).size() <= 1",
    message: 'at most one of host, servers and srv',
    fieldPath: '.servers',
    check: (u) => count(has(u.host), has(u.servers), u.srv === true) <= 1,
  }),
  rule<UpstreamDomain>({
    id: 'upstream-domain-one-source',
    at: ['spec.upstream.domains[*]'],
    rule: "[has(self.host), has(self.servers), has(self.srv) && self.srv].filter(x, x).size() == 1",
    message: 'exactly one of host, servers and srv',
    fieldPath: '.host',
    check: (u) => count(has(u.host), has(u.servers), u.srv === true) === 1,
  }),
  rule<Upstream | UpstreamDomain>({
    id: 'upstream-port-needs-host',
    at: ['spec.upstream', 'spec.upstream.domains[*]'],
    rule: '!has(self.port) || has(self.host)',
    message: 'port goes with host (each of servers has its own port; SRV records name theirs)',
    fieldPath: '.port',
    check: (u) => !has(u.port) || has(u.host),
  }),
  rule<Upstream | UpstreamDomain>({
    id: 'upstream-one-ca',
    at: ['spec.upstream', 'spec.upstream.domains[*]'],
    rule: '!(has(self.caSecretRef) && has(self.caConfigMapRef))',
    message: 'at most one of caSecretRef and caConfigMapRef',
    fieldPath: '.caConfigMapRef',
    check: (u) => !(has(u.caSecretRef) && has(u.caConfigMapRef)),
  }),
  rule<Upstream | UpstreamDomain>({
    id: 'upstream-tls-options',
    at: ['spec.upstream', 'spec.upstream.domains[*]'],
    rule:
      "!has(self.tls) || self.tls != 'none' || !(has(self.caSecretRef) || has(self.caConfigMapRef) || has(self.serverName) || has(self.insecureSkipVerify))",
    message: 'caSecretRef, caConfigMapRef, serverName and insecureSkipVerify need tls starttls or directTLS',
    fieldPath: '.tls',
    check: (u) => u.tls !== 'none' || !(has(u.caSecretRef) || has(u.caConfigMapRef) || has(u.serverName) || has(u.insecureSkipVerify)),
  }),

  // -- certificates
  rule<Tls>({
    id: 'one-certificate-source',
    at: ['spec.tls'],
    rule: '[has(self.issuerRef), has(self.secretRefs), has(self.selfManaged)].filter(x, x).size() == 1',
    message: 'exactly one certificate source must be set: issuerRef, secretRefs or selfManaged',
    check: (t) => count(has(t.issuerRef), has(t.secretRefs), has(t.selfManaged)) === 1,
  }),
  rule<Tls>({
    id: 'certificate-duration-minimum',
    at: ['spec.tls'],
    rule: "!has(self.duration) || duration(self.duration) >= duration('1h')",
    message: 'duration must be at least 1h',
    fieldPath: '.duration',
    check: (t) => t.duration === undefined || (parseGoDuration(t.duration) ?? 0) >= 3_600_000,
  }),
  rule<Tls>({
    id: 'renew-before-duration',
    at: ['spec.tls'],
    rule: `!has(self.renewBefore) || duration(self.renewBefore) < (has(self.duration) ? duration(self.duration) : duration('${DEFAULT_CERT_DURATION}'))`,
    message: `renewBefore must be shorter than duration (default ${DEFAULT_CERT_DURATION})`,
    fieldPath: '.renewBefore',
    check: (t) =>
      t.renewBefore === undefined ||
      (parseGoDuration(t.renewBefore) ?? Infinity) < (parseGoDuration(t.duration ?? DEFAULT_CERT_DURATION) ?? 0),
  }),
  rule<Tls>({
    id: 'secret-refs-no-issuing-options',
    at: ['spec.tls'],
    rule: '!has(self.secretRefs) || !(has(self.extraDnsNames) || has(self.duration) || has(self.renewBefore))',
    message: 'extraDnsNames, duration and renewBefore do not apply to secretRefs (the operator does not issue those certificates)',
    reason: 'FieldValueForbidden',
    check: (t) =>
      !has(t.secretRefs) ||
      (['extraDnsNames', 'duration', 'renewBefore'] as const).flatMap((k) => (t[k] === undefined ? [] : [{ path: k }])),
  }),
  rule<IssuerRef>({
    id: 'issuer-kind',
    at: ['spec.tls.issuerRef'],
    rule: "self.group != 'cert-manager.io' || self.kind in ['Issuer', 'ClusterIssuer']",
    message: 'kind must be Issuer or ClusterIssuer for group cert-manager.io',
    fieldPath: '.kind',
    check: (r) => r.group !== 'cert-manager.io' || r.kind === 'Issuer' || r.kind === 'ClusterIssuer',
  }),
  rule<SecretRefs>({
    id: 'secret-refs-source',
    at: ['spec.tls.secretRefs'],
    rule: 'has(self.nameTemplate) || has(self.nodes)',
    message: 'set nameTemplate, nodes, or both',
    reason: 'FieldValueRequired',
    check: (r) => has(r.nameTemplate) || has(r.nodes),
  }),
  rule<string>({
    id: 'secret-name-template-node',
    at: ['spec.tls.secretRefs.nameTemplate'],
    rule: "self.contains('{node}')",
    message: 'must contain {node}',
    check: (t) => t.includes('{node}'),
  }),

  // -- services, discovery
  rule<ServiceSpec>({
    id: 'external-traffic-policy-type',
    at: ['spec.service'],
    rule: "!has(self.externalTrafficPolicy) || !has(self.type) || self.type != 'ClusterIP'",
    message: 'externalTrafficPolicy needs type LoadBalancer or NodePort',
    fieldPath: '.externalTrafficPolicy',
    reason: 'FieldValueForbidden',
    check: (s) => !has(s.externalTrafficPolicy) || s.type !== 'ClusterIP',
  }),
  rule<ServiceSpec>({
    id: 'load-balancer-class-type',
    at: ['spec.service'],
    rule: "!has(self.loadBalancerClass) || !has(self.type) || self.type == 'LoadBalancer'",
    message: 'loadBalancerClass needs type LoadBalancer',
    fieldPath: '.loadBalancerClass',
    reason: 'FieldValueForbidden',
    check: (s) => !has(s.loadBalancerClass) || s.type === undefined || s.type === 'LoadBalancer',
  }),
  rule<Discovery>({
    id: 'discovery-ingress-host',
    at: ['spec.discovery'],
    rule: '!has(self.ingress) || !self.ingress.enabled || has(self.host)',
    message: 'discovery.ingress needs discovery.host',
    fieldPath: '.host',
    reason: 'FieldValueRequired',
    check: (d) => d.ingress?.enabled !== true || has(d.host),
  }),
];
