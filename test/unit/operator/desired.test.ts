import type { KubernetesObject, V1Deployment, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { XmppWebGateway } from '../../../src/operator/api/index.ts';
import { buildDesired, nodeNameForKubernetesNode, resolveNodes, type DesiredContext } from '../../../src/operator/desired/index.ts';
import { withDefaults } from '../../../src/operator/api/index.ts';
import { certManager, ctx, gateway, kubernetesNodes, multiDomain, perKubernetesNode, replicas, twoNodes } from './fixtures.ts';

const context: DesiredContext = { ...ctx, kubernetesNodes };
const of = <T extends KubernetesObject>(objects: KubernetesObject[], kind: string) => objects.filter((o) => o.kind === kind) as T[];

describe('every object', () => {
  it.each([twoNodes, replicas, perKubernetesNode, certManager, multiDomain].map((g) => [g.metadata.name!, g] as const))(
    '%s: is ready for server-side apply and owned by the gateway',
    (_name, gw) => {
      for (const o of buildDesired(gw, context).objects) {
        expect(o.apiVersion).toBeTruthy();
        expect(o.kind).toBeTruthy();
        expect(o.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
        expect(o.metadata?.namespace).toBe('xmpp');
        expect('status' in o).toBe(false);
        expect(o.metadata?.ownerReferences).toEqual([
          { apiVersion: 'xwg.io/v1alpha1', kind: 'XmppWebGateway', name: gw.metadata.name, uid: gw.metadata.uid, controller: true, blockOwnerDeletion: true },
        ]);
        expect(o.metadata?.labels).toMatchObject({
          'app.kubernetes.io/name': 'xmpp-web-gateway',
          'app.kubernetes.io/instance': gw.metadata.name,
          'app.kubernetes.io/managed-by': 'xmpp-web-gateway-operator',
          'xwg.io/gateway': gw.metadata.name,
        });
        if (o.kind === 'Service' && (o as V1Service).spec?.type !== undefined) {
          expect(o.metadata!.name!.length).toBeLessThanOrEqual(63);
        }
      }
    },
  );
});

describe('nodes', () => {
  it('names replicas 1..n with hosts from the template', () => {
    const { nodes } = resolveNodes(withDefaults(replicas), {});
    expect(nodes.map((n) => [n.name, n.host, n.objectName, n.tlsSecretName])).toEqual([
      ['1', 't1.example.net', 'web-1', 'web-1-tls'],
      ['2', 't2.example.net', 'web-2', 'web-2-tls'],
      ['3', 't3.example.net', 'web-3', 'web-3-tls'],
    ]);
  });

  it('takes one node per matching Kubernetes Node, and says which could not be used', () => {
    const { nodes, problems } = resolveNodes(withDefaults(perKubernetesNode), context);
    expect(nodes.map((n) => [n.name, n.host, n.kubernetesNode])).toEqual([
      ['worker-a-dc1-example-org', 'a.edge.example.org', 'worker-a.dc1.example.org'],
      ['worker-b-dc1-example-org', 'b.edge.example.org', 'worker-b.dc1.example.org'],
    ]);
    expect(problems).toEqual(['Kubernetes Node worker-c.dc1.example.org: no label example.org/public-host to take the public host from']);
  });

  it('refuses Kubernetes Nodes with a bad or taken host', () => {
    const bad = [
      { metadata: { name: 'n1', labels: { 'example.org/role': 'edge', 'example.org/public-host': 'same.example.org' } } },
      { metadata: { name: 'n2', labels: { 'example.org/role': 'edge', 'example.org/public-host': 'same.example.org' } } },
      { metadata: { name: 'n3', labels: { 'example.org/role': 'edge', 'example.org/public-host': '10.1.2.3' } } },
    ];
    const { nodes, problems } = resolveNodes(withDefaults(perKubernetesNode), { kubernetesNodes: bad });
    expect(nodes.map((n) => n.name)).toEqual(['n1']);
    expect(problems).toEqual(['Kubernetes Node n2: host same.example.org is taken by another node', 'Kubernetes Node n3: host "10.1.2.3" is not a DNS name']);
  });

  it('derives short, valid, distinct node names from Kubernetes Node names', () => {
    expect(nodeNameForKubernetesNode('worker-1')).toBe('worker-1');
    expect(nodeNameForKubernetesNode('ip-10-0-1-23.eu-west-1.compute.internal')).toMatch(/^ip-10-0-1-23-eu-west-[0-9a-f]{8}$/);
    const a = nodeNameForKubernetesNode('a'.repeat(40) + '.x');
    const b = nodeNameForKubernetesNode('a'.repeat(40) + '.y');
    expect(a).not.toBe(b);
    for (const n of [a, b]) expect(n.length).toBeLessThanOrEqual(30);
  });

  it('publishes the port in URLs when it is not 443', () => {
    const nodePort = gateway('edge', {
      ...perKubernetesNode.spec,
      perKubernetesNode: { nodeSelector: { 'example.org/role': 'edge' }, exposure: 'NodePort', hostFrom: { label: 'example.org/public-host' } },
    });
    const [first] = resolveNodes(withDefaults(nodePort), context).nodes;
    expect(first).toMatchObject({ websocketUrl: 'wss://a.edge.example.org:30443/xmpp-websocket', boshUrl: 'https://a.edge.example.org:30443/http-bind' });
  });

  it('uses secretRefs by node, then by template', () => {
    const { nodes } = resolveNodes(withDefaults(multiDomain), {});
    expect(nodes.map((n) => n.tlsSecretName)).toEqual(['web-a-tls', 'wildcard-web-alpha']);
  });
});

describe('deployments', () => {
  const deployments = (gw: XmppWebGateway, c: DesiredContext = context) => of<V1Deployment>(buildDesired(gw, c).objects, 'Deployment');

  it('roll one pod per node, surge first, with a hardened pod', () => {
    const [d] = deployments(twoNodes);
    expect(d!.spec!.replicas).toBe(1);
    expect(d!.spec!.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const pod = d!.spec!.template.spec!;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0]!.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    expect(pod.containers[0]!.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(pod.containers[0]!.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(pod.containers[0]!.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(pod.containers[0]!.ports).toEqual([
      { name: 'https', containerPort: 5443, protocol: 'TCP' },
      { name: 'http', containerPort: 5280, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9280, protocol: 'TCP' },
    ]);
    expect(pod.volumes?.find((v) => v.name === 'tmp')).toEqual({ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } });
  });

  it('pin perKubernetesNode pods to their Node and recreate them (the host port cannot be held twice)', () => {
    const [d] = deployments(perKubernetesNode);
    expect(d!.spec!.strategy).toEqual({ type: 'Recreate' });
    const pod = d!.spec!.template.spec!;
    expect(pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-a.dc1.example.org'] }] },
    ]);
    // The admin port is never a host port: the Kubernetes Node's own address does not serve metrics.
    expect(pod.containers[0]!.ports).toEqual([
      { name: 'https', containerPort: 5443, protocol: 'TCP', hostPort: 443 },
      { name: 'http', containerPort: 5280, protocol: 'TCP', hostPort: 80 },
      { name: 'metrics', containerPort: 9280, protocol: 'TCP' },
    ]);
    expect(pod.topologySpreadConstraints).toBeUndefined();
  });

  it('apply pod template overrides without losing the operator labels', () => {
    const [d] = deployments(replicas);
    const template = d!.spec!.template;
    expect(template.metadata?.labels).toMatchObject({ team: 'chat', 'xwg.io/node': '1' });
    expect(template.metadata?.annotations).toMatchObject({ 'prometheus.io/scrape': 'true' });
    expect(template.spec!.priorityClassName).toBe('high');
    expect(template.spec!.containers[0]!.env).toEqual([{ name: 'NODE_OPTIONS', value: '--max-old-space-size=768' }]);
    expect(template.spec!.containers[0]!.image).toBe('registry.example.net/xwg:1.2.3');
    expect(template.spec!.terminationGracePeriodSeconds).toBe(50);
    const hijack = gateway('web', { ...replicas.spec, podTemplate: { metadata: { labels: { 'xwg.io/node': 'other' } } } });
    expect(deployments(hijack)[0]!.spec!.template.metadata!.labels!['xwg.io/node']).toBe('1');
  });
});

describe('services, certificates, ingress', () => {
  const nodePort = gateway('edge', {
    ...perKubernetesNode.spec,
    perKubernetesNode: { nodeSelector: { 'example.org/role': 'edge' }, exposure: 'NodePort', nodePorts: { https: 31443, http: 31080 }, hostFrom: { template: '{nodeName}' } },
  });
  const discoveryHost = gateway('chat', { ...twoNodes.spec, discovery: { host: 'web.example.com' }, service: { ports: { https: 443, http: 80 } } });
  it.each([twoNodes, replicas, perKubernetesNode, nodePort, certManager, multiDomain, discoveryHost].map((g) => [g.metadata.name!, g] as const))(
    '%s: no Service (node, discovery, NodePort) exposes the admin port',
    (_name, gw) => {
      const services = of<V1Service>(buildDesired(gw, context).objects, 'Service');
      expect(services.length).toBeGreaterThan(1);
      for (const s of services) {
        for (const p of s.spec!.ports!) {
          expect(p.targetPort, `${s.metadata!.name} ${p.name}`).toMatch(/^https?$/);
          expect(p.name).toMatch(/^https?$/);
        }
      }
    },
  );

  it('annotates node Services for external-dns, under the given annotations', () => {
    const services = of<V1Service>(buildDesired(twoNodes, context).objects, 'Service');
    expect(services.map((s) => [s.metadata!.name, s.spec!.type, s.metadata!.annotations])).toEqual([
      ['chat-t1', 'LoadBalancer', { 'external-dns.alpha.kubernetes.io/hostname': 't1.example.com' }],
      [
        'chat-t2',
        'LoadBalancer',
        { 'external-dns.alpha.kubernetes.io/hostname': 't2.example.com', 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' },
      ],
      ['chat', 'ClusterIP', undefined],
    ]);
    expect(services[0]!.spec!.selector).toEqual({ 'xwg.io/gateway': 'chat', 'xwg.io/node': 't1' });
    expect(services[2]!.spec!.selector).toEqual({ 'xwg.io/gateway': 'chat' });
  });

  it('makes the discovery Service the discovery host\'s entry when there is no Ingress', () => {
    const gw = gateway('chat', { ...twoNodes.spec, discovery: { host: 'web.example.com' } });
    const discovery = of<V1Service>(buildDesired(gw, context).objects, 'Service').find((s) => s.metadata!.name === 'chat')!;
    expect(discovery.spec!.type).toBe('LoadBalancer');
    expect(discovery.metadata!.annotations).toEqual({ 'external-dns.alpha.kubernetes.io/hostname': 'web.example.com' });
  });

  it('builds Certificates only with an issuer and cert-manager installed', () => {
    expect(of(buildDesired(certManager, context).objects, 'Certificate').map((c) => c.metadata!.name)).toEqual(['public-eu1', 'public-us1', 'public-discovery']);
    expect(of(buildDesired(certManager, { ...context, certManagerAvailable: false }).objects, 'Certificate')).toEqual([]);
    expect(of(buildDesired(twoNodes, context).objects, 'Certificate')).toEqual([]);
  });

  it('builds an Ingress only when enabled', () => {
    expect(of(buildDesired(certManager, context).objects, 'Ingress')).toHaveLength(1);
    expect(of(buildDesired(twoNodes, context).objects, 'Ingress')).toHaveLength(0);
  });

  it('puts the ConfigMap first and one PodDisruptionBudget over all nodes', () => {
    const objects = buildDesired(twoNodes, context).objects;
    expect(objects[0]!.kind).toBe('ConfigMap');
    expect(of(objects, 'PodDisruptionBudget')).toMatchObject([{ spec: { maxUnavailable: 1, selector: { matchLabels: { 'xwg.io/gateway': 'chat' } } } }]);
  });
});
