import type { KubernetesObject, V1ConfigMap, V1Deployment } from '@kubernetes/client-node';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig, parseNodeList } from '../../../src/shared/gateway-config/validate.ts';
import { NODE_LIST_PATH as GATEWAY_NODE_LIST_PATH } from '../../../src/gateway/discovery/responses.ts';
import { buildDesired, CONFIG_HASH_ANNOTATION, DesiredStateError, NODE_LIST_PATH, type DesiredContext } from '../../../src/operator/desired/index.ts';
import type { XmppWebGateway } from '../../../src/operator/api/index.ts';
import { certManager, ctx, gateway, kubernetesNodes, multiDomain, perKubernetesNode, replicas, twoNodes } from './fixtures.ts';

const all: [string, XmppWebGateway][] = [
  ['twoNodes', twoNodes],
  ['replicas', replicas],
  ['perKubernetesNode', perKubernetesNode],
  ['certManager', certManager],
  ['multiDomain', multiDomain],
];
const context: DesiredContext = { ...ctx, kubernetesNodes };

const find = <T extends KubernetesObject>(objects: KubernetesObject[], kind: string, name?: string) =>
  objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name)) as T[];

function hashes(gw: XmppWebGateway, c: DesiredContext = context): Record<string, string> {
  return Object.fromEntries(
    find<V1Deployment>(buildDesired(gw, c).objects, 'Deployment').map((d) => [d.metadata!.name!, d.spec!.template.metadata!.annotations![CONFIG_HASH_ANNOTATION]!]),
  );
}

describe('gateway configuration in the ConfigMap', () => {
  it.each(all)('%s: every node configuration passes the gateway parser', (_name, gw) => {
    const { objects, nodes } = buildDesired(gw, context);
    const [cm] = find<V1ConfigMap>(objects, 'ConfigMap');
    expect(nodes.length).toBeGreaterThan(0);
    for (const node of nodes) {
      const text = cm!.data![`${node.name}.yaml`]!;
      const config = parseGatewayConfig(load(text));
      expect(config.nodeName).toBe(node.name);
      expect(config.domains).toEqual(gw.spec.domains);
      expect(config.listen).toMatchObject({ port: 5280, tlsPort: 5443, certDir: '/etc/xwg/certs', defaultCert: node.name });
      expect(config.discovery.nodesFile).toBe('/etc/xwg/config/nodes.json');
      // The pod runs exactly this file, and mounts its certificate where certDir expects it.
      const [deployment] = find<V1Deployment>(objects, 'Deployment', node.objectName);
      const container = deployment!.spec!.template.spec!.containers[0]!;
      expect(container.args).toEqual(['gateway', '--config', `/etc/xwg/config/${node.name}.yaml`]);
      expect(container.volumeMounts).toContainEqual({ name: 'tls', mountPath: `/etc/xwg/certs/${node.name}`, readOnly: true });
      // Its admin listener is on every pod address, at the container port the probes and PodMonitors name.
      expect(config.admin).toEqual({ host: '0.0.0.0', port: 9280, publicProbes: false });
      const metricsPort = container.ports!.find((p) => p.name === 'metrics');
      expect(metricsPort).toEqual({ name: 'metrics', containerPort: config.admin.port, protocol: 'TCP' });
      for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) expect(probe!.httpGet!.port).toBe('metrics');
    }
    const list = parseNodeList(JSON.parse(cm!.data!['nodes.json']!));
    expect(list.nodes.map((n) => n.name)).toEqual(nodes.map((n) => n.name));
  });

  it('maps limits, BOSH timings and upstream CAs into the gateway configuration', () => {
    const { objects } = buildDesired(replicas, context);
    const config = parseGatewayConfig(load(find<V1ConfigMap>(objects, 'ConfigMap')[0]!.data!['1.yaml']!));
    expect(config.limits).toMatchObject({ maxStanzaBytes: 65536, maxConnections: 20000, maxConnectionsPerAddress: 50 });
    expect(config.bosh).toMatchObject({ maxWait: 30, maxHold: 1, inactivity: 90, maxPause: 60, maxSessions: 5000 });
    expect(config.upstream.default).toEqual({ host: 'ejabberd.chat.svc', port: 5223, tls: 'directTLS' });
    expect(config.drain.deadlineMs).toBe(40_000);
    expect(config.log.level).toBe('debug');

    const multi = buildDesired(multiDomain, context).objects;
    const m = parseGatewayConfig(load(find<V1ConfigMap>(multi, 'ConfigMap')[0]!.data!['a.yaml']!));
    expect(m.upstream.domains['beta.example']?.caFile).toBe('/etc/xwg/upstream-ca/0/ca.crt');
    const pod = find<V1Deployment>(multi, 'Deployment', 'multi-a')[0]!.spec!.template.spec!;
    expect(pod.volumes).toContainEqual({ name: 'upstream-ca-0', configMap: { name: 'beta-ca', items: [{ key: 'bundle.pem', path: 'ca.crt' }] } });
  });

  it('publishes the node list where the gateway serves it', () => {
    expect(NODE_LIST_PATH).toBe(GATEWAY_NODE_LIST_PATH);
  });

  it('refuses a configuration the gateway would refuse', () => {
    // The builder trusts the API server's validation; the gateway's own parser is the last guard.
    const bad = gateway('bad', { ...twoNodes.spec, allowedOrigins: ['https://example.com/path'] });
    expect(() => buildDesired(bad, context)).toThrow(DesiredStateError);
  });
});

describe('config hash', () => {
  it('ignores readiness and node membership: the gateway reloads nodes.json', () => {
    const before = hashes(twoNodes, { ...context, nodeReadiness: {} });
    expect(hashes(twoNodes, { ...context, nodeReadiness: { t1: true, t2: true } })).toEqual(before);
    const three = gateway('chat', { ...twoNodes.spec, nodes: [...twoNodes.spec.nodes!, { name: 't3', host: 't3.example.com' }] });
    const after = hashes(three);
    expect(after['chat-t1']).toBe(before['chat-t1']);
    expect(after['chat-t3']).toBeDefined();
  });

  it('changes for every node when the configuration changes', () => {
    const before = hashes(twoNodes);
    const after = hashes(gateway('chat', { ...twoNodes.spec, limits: { maxConnections: 10 } }));
    expect(after['chat-t1']).not.toBe(before['chat-t1']);
    expect(after['chat-t2']).not.toBe(before['chat-t2']);
  });

  it('changes when the certificate Secret changes, not for Service annotations', () => {
    const before = hashes(multiDomain);
    const annotated = structuredClone(multiDomain);
    annotated.spec.nodes![0]!.serviceAnnotations = { a: 'b' };
    expect(hashes(annotated)).toEqual(before);
    const renamed = structuredClone(multiDomain);
    renamed.spec.tls!.secretRefs!.nameTemplate = 'other-{node}';
    const after = hashes(renamed);
    expect(after['multi-a']).not.toBe(before['multi-a']);
    expect(after['multi-b']).toBe(before['multi-b']); // b has its own Secret, by name
  });
});
