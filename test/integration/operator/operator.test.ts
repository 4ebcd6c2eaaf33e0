// The operator against a real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler
// and kwok fake Nodes that run pods to Ready), running in-process as a ServiceAccount bound to exactly the
// ClusterRole generated from OPERATOR_RBAC_RULES: children appear with the desired shape, status follows
// the pods, nodes come and go, drift is corrected, the garbage collector removes children of a deleted
// gateway, a converged operator writes nothing, and every call it made is covered by its RBAC rules.
import { X509Certificate } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { buildDesired } from '../../../src/operator/desired/index.ts';
import { firstDifference } from '../../../src/operator/controller/apply.ts';
import type { ApiCall } from '../../../src/operator/controller/kube-client.ts';
import { operatorClusterRole, rulesAllow } from '../../../src/operator/controller/rbac.ts';
import { startOperator, type Operator } from '../../../src/operator/operator.ts';
import type { XmppWebGateway } from '../../../src/operator/api/types.ts';
import type { ControlPlane } from '../../../dev/cluster/control-plane.ts';
import {
  Api,
  OPERATOR_WRITTEN,
  apiserverWrites,
  condition,
  describeCall,
  diffCounts,
  eventually,
  gateway,
  gatewayPath,
  memoryLogger,
  serviceAccountKubeconfig,
  sleep,
  startClusterWithCrd,
  type Obj,
} from './helpers.ts';

const IMAGE = 'registry.example.invalid/xmpp-web-gateway:test';
const MANAGED = 'app.kubernetes.io%2Fmanaged-by%3Dxmpp-web-gateway-operator';

let cp: ControlPlane;
let api: Api;
let op: Operator;
const calls: ApiCall[] = [];
const log = memoryLogger('debug');

beforeAll(async () => {
  ({ cp, api } = await startClusterWithCrd({ kwok: { nodes: 2 } }));
  await api.namespace('xwg-system');
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromString(await serviceAccountKubeconfig(api, 'xwg-system', 'operator', operatorClusterRole('xmpp-web-gateway-operator')));
  op = await startOperator({
    kubeconfig,
    gatewayImage: IMAGE,
    leaderElection: { namespace: 'xwg-system', leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 1_000 },
    metricsPort: 0,
    metricsHost: '127.0.0.1',
    logger: log.logger,
    // Short, so the steady-state test sees several full passes over every gateway.
    resyncPeriodMs: 5_000,
    retryMaxMs: 5_000,
    processMetrics: false,
    onApiCall: (c) => calls.push(c),
  });
  await op.ready;
  await eventually('leadership', async () => op.isLeader());
}, 10 * 60_000);

afterAll(async () => {
  await op?.stop();
  await cp?.stop();
}, 120_000);

function dumpOnFailure(): void {
  onTestFailed(async () => {
    console.log(`----- operator log -----\n${log.dump(undefined, 150)}`);
    console.log(await cp.logs(40));
  });
}

const list = (ns: string, resource: string, group = '') =>
  api.items(`${group === '' ? '/api/v1' : `/apis/${group}`}/namespaces/${ns}/${resource}?labelSelector=${MANAGED}`);
const names = (items: Obj[]) => items.map((i) => i.metadata.name as string).sort();
const getGateway = (ns: string, name: string) => api.get(gatewayPath(ns, name));

async function waitReady(ns: string, name: string, timeoutMs = 60_000): Promise<Obj> {
  return eventually(
    `${ns}/${name} Ready=True for its generation`,
    async () => {
      const gw = await getGateway(ns, name);
      return condition(gw, 'Ready')?.status === 'True' && gw.status?.observedGeneration === gw.metadata.generation ? gw : undefined;
    },
    timeoutMs,
  );
}

function certOf(secret: Obj): X509Certificate {
  return new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
}

function nodeList(cm: Obj): { version: string; nodes: { name: string; host: string; ready: boolean; websocketUrl?: string }[] } {
  return JSON.parse(cm.data['nodes.json']);
}

describe('operator', () => {
  it('creates every child with the desired shape, and reports Ready once the pods are', async () => {
    dumpOnFailure();
    const ns = 'create';
    await api.namespace(ns);
    const created = await api.create(
      gatewayPath(ns),
      gateway(ns, 'chat', {
        domains: ['example.com'],
        upstream: { host: 'prosody.xmpp.svc.cluster.local' },
        nodes: [
          { name: 't1', host: 't1.example.com' },
          { name: 't2', host: 't2.example.com' },
          { name: 't3', host: 't3.example.com' },
        ],
        discovery: { host: 'xmpp-web.example.com', ingress: { enabled: true, className: 'nginx' } },
      }),
    );
    // From the moment the API server stored it (its first create of the kind is slow: not ours to count).
    const t0 = Date.now();
    await eventually('the first status', async () => (await getGateway(ns, 'chat')).status?.observedGeneration === 1, 60_000, 25);
    const applied = Date.now() - t0;
    const gw = await waitReady(ns, 'chat');
    const converged = Date.now() - t0;
    console.log(`[operator] 3-node gateway: every child applied and status written ${applied} ms after the create; Ready=True (pods ready on kwok) after ${converged} ms`);
    const uid = created.metadata.uid as string;

    // Status: conditions for this generation, every node ready, URLs published.
    expect(gw.status.observedGeneration).toBe(1);
    expect(gw.status.readyNodes).toBe('3/3');
    expect(condition(gw, 'Ready')).toMatchObject({ status: 'True', reason: 'AllNodesReady', observedGeneration: 1 });
    expect(condition(gw, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    expect(condition(gw, 'CertificatesReady')).toMatchObject({ status: 'True', reason: 'AllCertificatesReady' });
    await eventually('Progressing=False', async () => condition(await getGateway(ns, 'chat'), 'Progressing')?.status === 'False');
    expect(gw.status.nodes.map((n: Obj) => [n.name, n.host, n.ready])).toEqual([
      ['t1', 't1.example.com', true],
      ['t2', 't2.example.com', true],
      ['t3', 't3.example.com', true],
    ]);
    expect(gw.status.nodes[0].websocketUrl).toMatch(/^wss:\/\/t1\.example\.com\//);
    expect(gw.status.discoveryUrl).toBe('https://xmpp-web.example.com/.well-known/xmpp-web-nodes.json?domain=example.com');

    // Objects: names, ownership.
    const deployments = await list(ns, 'deployments', 'apps/v1');
    const services = await list(ns, 'services');
    const secrets = await list(ns, 'secrets');
    expect(names(deployments)).toEqual(['chat-t1', 'chat-t2', 'chat-t3']);
    expect(names(services)).toEqual(['chat', 'chat-t1', 'chat-t2', 'chat-t3']);
    expect(names(secrets)).toEqual(['chat-ca', 'chat-discovery-tls', 'chat-t1-tls', 'chat-t2-tls', 'chat-t3-tls']);
    expect(names(await list(ns, 'configmaps'))).toEqual(['chat-config']);
    expect(names(await list(ns, 'poddisruptionbudgets', 'policy/v1'))).toEqual(['chat']);
    expect(names(await list(ns, 'ingresses', 'networking.k8s.io/v1'))).toEqual(['chat']);
    for (const o of [...deployments, ...services, ...secrets]) {
      expect(o.metadata.ownerReferences).toEqual([
        { apiVersion: 'xwg.io/v1alpha1', kind: 'XmppWebGateway', name: 'chat', uid, controller: true, blockOwnerDeletion: true },
      ]);
      expect(o.metadata.labels['xwg.io/gateway']).toBe('chat');
    }

    // Shape: every field the builders set is in the live object (the builders are golden-tested).
    const readiness = { t1: true, t2: true, t3: true };
    const desired = buildDesired(gw as XmppWebGateway, { defaultImage: IMAGE, certManagerAvailable: false, nodeReadiness: readiness });
    for (const d of desired.objects) {
      const plural = { ConfigMap: 'configmaps', Service: 'services', Deployment: 'deployments', PodDisruptionBudget: 'poddisruptionbudgets', Ingress: 'ingresses' }[
        d.kind as string
      ]!;
      const base = d.apiVersion === 'v1' ? '/api/v1' : `/apis/${d.apiVersion}`;
      const live = await eventually(`${d.kind} ${d.metadata?.name} as desired`, async () => {
        const l = await api.get(`${base}/namespaces/${ns}/${plural}/${d.metadata?.name}`);
        return firstDifference(d, l) === undefined ? l : undefined;
      });
      expect(firstDifference(d, live), `${d.kind} ${d.metadata?.name}`).toBeUndefined();
    }
    const t1 = deployments.find((d) => d.metadata.name === 'chat-t1')!;
    expect(t1.spec.replicas).toBe(1);
    expect(t1.spec.template.spec.containers[0].image).toBe(IMAGE);
    expect(t1.spec.template.spec.volumes.find((v: Obj) => v.name === 'tls').secret.secretName).toBe('chat-t1-tls');
    expect(services.find((s) => s.metadata.name === 'chat-t1')!.metadata.annotations['external-dns.alpha.kubernetes.io/hostname']).toBe('t1.example.com');

    // The ConfigMap: the node list (with readiness) and one configuration per node.
    const cm = await api.get(`/api/v1/namespaces/${ns}/configmaps/chat-config`);
    expect(Object.keys(cm.data).sort()).toEqual(['nodes.json', 't1.yaml', 't2.yaml', 't3.yaml']);
    await eventually('every node ready in nodes.json', async () =>
      nodeList(await api.get(`/api/v1/namespaces/${ns}/configmaps/chat-config`)).nodes.every((n) => n.ready),
    );
    expect(nodeList(cm).nodes.map((n) => n.host)).toEqual(['t1.example.com', 't2.example.com', 't3.example.com']);
    const t2Config = load(cm.data['t2.yaml']) as Obj;
    expect(t2Config).toMatchObject({ nodeName: 't2', domains: ['example.com'], upstream: { default: { host: 'prosody.xmpp.svc.cluster.local' } } });

    // selfManaged certificates: a CA, and per node a certificate for its host signed by it.
    const ca = certOf(secrets.find((s) => s.metadata.name === 'chat-ca')!);
    expect(ca.ca).toBe(true);
    for (const [secret, host] of [
      ['chat-t1-tls', 't1.example.com'],
      ['chat-t3-tls', 't3.example.com'],
      ['chat-discovery-tls', 'xmpp-web.example.com'],
    ] as const) {
      const s = secrets.find((x) => x.metadata.name === secret)!;
      expect(s.type).toBe('kubernetes.io/tls');
      const cert = certOf(s);
      expect(cert.subjectAltName).toBe(`DNS:${host}`);
      expect(cert.checkIssued(ca) && cert.verify(ca.publicKey)).toBe(true);
      expect(Buffer.from(s.data['ca.crt'], 'base64').toString()).toBe(ca.toString());
    }

    // Events about the gateway.
    const events = await api.items(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
    const mine = events.filter((e) => e.regarding?.name === 'chat' && e.reportingController === 'xwg.io/xmpp-web-gateway-operator');
    expect(mine.map((e) => e.reason)).toEqual(expect.arrayContaining(['Created', 'CertificateIssued']));
    expect(mine.find((e) => e.reason === 'Created')!.note).toMatch(/^Created ConfigMap chat-config, Secret chat-ca, .*Deployment chat-t3, PodDisruptionBudget chat, Ingress chat$/);
  });

  it('adds and removes nodes', async () => {
    dumpOnFailure();
    const ns = 'scale';
    await api.namespace(ns);
    await api.create(
      gatewayPath(ns),
      gateway(ns, 'web', { domains: ['example.net'], upstream: { host: 'xmpp.example.net' }, nodes: [{ name: 'a', host: 'a.example.net' }, { name: 'b', host: 'b.example.net' }] }),
    );
    await waitReady(ns, 'web');
    expect(names(await list(ns, 'deployments', 'apps/v1'))).toEqual(['web-a', 'web-b']);

    await api.mergePatch(gatewayPath(ns, 'web'), {
      spec: { nodes: [{ name: 'a', host: 'a.example.net' }, { name: 'b', host: 'b.example.net' }, { name: 'c', host: 'c.example.net' }] },
    });
    await eventually('node c', async () => {
      const [d, s, sec, cm] = await Promise.all([list(ns, 'deployments', 'apps/v1'), list(ns, 'services'), list(ns, 'secrets'), api.get(`/api/v1/namespaces/${ns}/configmaps/web-config`)]);
      return (
        names(d).includes('web-c') &&
        names(s).includes('web-c') &&
        names(sec).includes('web-c-tls') &&
        nodeList(cm).nodes.map((n) => n.name).join() === 'a,b,c' &&
        cm.data['c.yaml'] !== undefined
      );
    });
    const three = await waitReady(ns, 'web');
    expect(three.status.observedGeneration).toBe(2);
    expect(three.status.readyNodes).toBe('3/3');

    await api.mergePatch(gatewayPath(ns, 'web'), { spec: { nodes: [{ name: 'b', host: 'b.example.net' }, { name: 'c', host: 'c.example.net' }] } });
    await eventually('node a removed', async () => {
      const [d, s, sec, cm] = await Promise.all([list(ns, 'deployments', 'apps/v1'), list(ns, 'services'), list(ns, 'secrets'), api.get(`/api/v1/namespaces/${ns}/configmaps/web-config`)]);
      return (
        names(d).join() === 'web-b,web-c' &&
        names(s).join() === 'web,web-b,web-c' &&
        names(sec).join() === 'web-b-tls,web-c-tls,web-ca' &&
        Object.keys(cm.data).sort().join() === 'b.yaml,c.yaml,nodes.json'
      );
    });
    const two = await waitReady(ns, 'web');
    expect(two.status.nodes.map((n: Obj) => n.name)).toEqual(['b', 'c']);
    const events = await api.items(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
    const deleted = events.find((e) => e.reason === 'Deleted')?.note as string;
    for (const gone of ['Deployment web-a', 'Service web-a', 'Secret web-a-tls']) expect(deleted).toContain(gone);
  });

  it('restores children that were edited or deleted', async () => {
    dumpOnFailure();
    const ns = 'drift';
    await api.namespace(ns);
    await api.create(
      gatewayPath(ns),
      gateway(ns, 'dr', { domains: ['example.org'], upstream: { host: 'xmpp.example.org' }, nodes: [{ name: 'n1', host: 'n1.example.org' }, { name: 'n2', host: 'n2.example.org' }] }),
    );
    await waitReady(ns, 'dr');
    const deploy = (n: string) => `/apis/apps/v1/namespaces/${ns}/deployments/${n}`;
    const svc = (n: string) => `/api/v1/namespaces/${ns}/services/${n}`;
    const secret = (n: string) => `/api/v1/namespaces/${ns}/secrets/${n}`;

    // Scaled by hand: back to one replica.
    await api.mergePatch(deploy('dr-n1'), { spec: { replicas: 3 } });
    await eventually('replicas restored', async () => (await api.get(deploy('dr-n1'))).spec.replicas === 1);

    // A port changed (a key of the Service's port list, which server-side apply alone cannot repair).
    const before = await api.get(svc('dr-n1'));
    const ports = structuredClone(before.spec.ports) as Obj[];
    ports[0]!.port = 8443;
    await api.mergePatch(svc('dr-n1'), { spec: { ports } });
    await eventually('Service port restored', async () => {
      const s = await api.get(svc('dr-n1'));
      return s.spec.ports.length === before.spec.ports.length && s.spec.ports[0].port === 443 && s.spec.ports[0].name === 'https';
    });
    expect((await api.get(svc('dr-n1'))).spec.clusterIP).toBe(before.spec.clusterIP);

    // A label of ours removed.
    await api.mergePatch(svc('dr-n2'), { metadata: { labels: { 'app.kubernetes.io/managed-by': null } } });
    await eventually('label restored', async () => (await api.get(svc('dr-n2'))).metadata.labels['app.kubernetes.io/managed-by'] === 'xmpp-web-gateway-operator');

    // A certificate overwritten with junk: issued again, for the right host, by the same CA.
    const ca = certOf(await api.get(secret('dr-ca')));
    await api.mergePatch(secret('dr-n1-tls'), { data: { 'tls.crt': Buffer.from('junk').toString('base64') } });
    await eventually('certificate reissued', async () => {
      try {
        const cert = certOf(await api.get(secret('dr-n1-tls')));
        return cert.subjectAltName === 'DNS:n1.example.org' && cert.checkIssued(ca) && cert.verify(ca.publicKey);
      } catch {
        return false;
      }
    });

    // Deleted objects come back.
    const oldUid = (await api.get(deploy('dr-n2'))).metadata.uid;
    await api.delete(deploy('dr-n2'));
    await api.delete(`/api/v1/namespaces/${ns}/configmaps/dr-config`);
    await api.delete(secret('dr-n2-tls'));
    await eventually('Deployment recreated', async () => {
      const d = await api.find(deploy('dr-n2'));
      return d !== undefined && d.metadata.uid !== oldUid && d.metadata.deletionTimestamp === undefined;
    });
    await eventually('ConfigMap recreated', () => api.find(`/api/v1/namespaces/${ns}/configmaps/dr-config`));
    await eventually('Secret recreated', async () => certOf(await api.get(secret('dr-n2-tls'))).subjectAltName === 'DNS:n2.example.org');
    await waitReady(ns, 'dr');
  });

  it('leaves the deletion of a gateway\'s children to the garbage collector', async () => {
    dumpOnFailure();
    const ns = 'gc';
    await api.namespace(ns);
    await api.create(gatewayPath(ns), gateway(ns, 'gone', { domains: ['example.com'], upstream: { host: 'x.example.com' }, replicas: 2, hostTemplate: 'g{index}.example.com' }));
    await eventually('children', async () => (await list(ns, 'deployments', 'apps/v1')).length === 2);
    const before = calls.length;
    await api.delete(gatewayPath(ns, 'gone'));
    await eventually(
      'every child collected',
      async () => {
        const all = await Promise.all([
          list(ns, 'deployments', 'apps/v1'),
          list(ns, 'services'),
          list(ns, 'secrets'),
          list(ns, 'configmaps'),
          list(ns, 'poddisruptionbudgets', 'policy/v1'),
        ]);
        return all.every((l) => l.length === 0);
      },
      // kube-controller-manager's garbage collector learns of the CRD at its next discovery resync (30 s).
      120_000,
    );
    // The garbage collector did it: the operator sent no DELETE in that namespace.
    expect(calls.slice(before).filter((c) => c.namespace === ns && c.verb === 'delete')).toEqual([]);
  });

  it('perKubernetesNode: one node per matching Kubernetes Node, as Nodes come and go', async () => {
    dumpOnFailure();
    const ns = 'edge';
    await api.namespace(ns);
    await api.create(
      gatewayPath(ns),
      gateway(ns, 'edge', {
        domains: ['example.org'],
        upstream: { host: 'xmpp.example.org' },
        perKubernetesNode: { nodeSelector: { type: 'kwok' }, hostFrom: { template: '{nodeName}.edge.example.org' } },
      }),
    );
    const ready = await waitReady(ns, 'edge');
    expect(ready.status.nodes.map((n: Obj) => [n.name, n.host])).toEqual([
      ['kwok-node-0', 'kwok-node-0.edge.example.org'],
      ['kwok-node-1', 'kwok-node-1.edge.example.org'],
    ]);
    const d0 = await api.get(`/apis/apps/v1/namespaces/${ns}/deployments/edge-kwok-node-0`);
    expect(d0.spec.strategy.type).toBe('Recreate');
    expect(d0.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['kwok-node-0'] }] },
    ]);
    expect(d0.spec.template.spec.containers[0].ports.find((p: Obj) => p.name === 'https').hostPort).toBe(443);

    // A new matching Node (run by kwok): a new gateway node, pinned to it, ready.
    await api.create('/api/v1/nodes', {
      metadata: {
        name: 'kwok-node-2',
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: { 'kubernetes.io/hostname': 'kwok-node-2', 'kubernetes.io/os': 'linux', type: 'kwok' },
      },
    });
    try {
      await eventually('a gateway node on kwok-node-2, ready', async () => {
        const gw = await getGateway(ns, 'edge');
        return gw.status?.readyNodes === '3/3' && condition(gw, 'Ready')?.status === 'True';
      });
      const pods = await api.items(`/api/v1/namespaces/${ns}/pods?labelSelector=xwg.io%2Fnode%3Dkwok-node-2`);
      expect(pods.map((p) => p.spec.nodeName)).toEqual(['kwok-node-2']);

      // The Node stops matching: its gateway node goes.
      await api.mergePatch('/api/v1/nodes/kwok-node-2', { metadata: { labels: { type: null } } });
      await eventually('node kwok-node-2 removed', async () => (await api.find(`/apis/apps/v1/namespaces/${ns}/deployments/edge-kwok-node-2`)) === undefined);
      expect(JSON.parse((await api.get(`/api/v1/namespaces/${ns}/configmaps/edge-config`)).data['nodes.json']).nodes.map((n: Obj) => n.name)).toEqual([
        'kwok-node-0',
        'kwok-node-1',
      ]);
    } finally {
      await api.delete('/api/v1/nodes/kwok-node-2');
    }
    await waitReady(ns, 'edge');
  });

  it('makes no writes once converged', async () => {
    dumpOnFailure();
    const ns = 'steady';
    await api.namespace(ns);
    await api.create(
      gatewayPath(ns),
      gateway(ns, 'calm', {
        domains: ['example.com'],
        upstream: { host: 'xmpp.example.com' },
        replicas: 3,
        hostTemplate: 'c{index}.example.com',
        service: { ports: { https: 443, http: 80 } },
        resources: { requests: { cpu: '0.1', memory: '0.125Gi' } },
      }),
    );
    await waitReady(ns, 'calm');
    for (const [n, name] of [['create', 'chat'], ['scale', 'web'], ['drift', 'dr'], ['edge', 'edge']] as const) await waitReady(n, name);
    await eventually('every gateway settled', async () => {
      const all = await api.items(`${'/apis/xwg.io/v1alpha1'}/xmppwebgateways`);
      return all.every((g) => condition(g, 'Progressing')?.status === 'False' && condition(g, 'Ready')?.status === 'True');
    });
    await sleep(3_000);

    const operatorWrites = () => calls.filter((c) => !['get', 'list', 'watch'].includes(c.verb) && c.resource !== 'leases');
    const reconciles = async () => (await op.metrics.reconcileTotal.get()).values.reduce((a, v) => a + v.value, 0);
    const writesBefore = apiserverWrites(await cp.apiserverMetrics(), OPERATOR_WRITTEN);
    const opBefore = operatorWrites().length;
    const reconcilesBefore = await reconciles();
    await sleep(25_000);
    const writes = diffCounts(writesBefore, apiserverWrites(await cp.apiserverMetrics(), OPERATOR_WRITTEN));
    const ownWrites = operatorWrites().slice(opBefore);
    const passes = (await reconciles()) - reconcilesBefore;
    console.log(`[operator] steady state, 25 s: ${passes} reconciles, apiserver writes to operator-written resources ${JSON.stringify(writes)}, operator writes (leases excluded) ${ownWrites.length}`);
    expect(ownWrites).toEqual([]);
    expect(writes).toEqual({});
    // The resync ran (every 5 s over 5 gateways): the absence of writes is not the absence of work.
    expect(passes).toBeGreaterThanOrEqual(15);
  });

  it('makes only calls its RBAC rules allow', () => {
    expect(calls.length).toBeGreaterThan(0);
    const forbidden = calls.filter((c) => c.status === 403);
    expect(forbidden).toEqual([]);
    const uncovered = calls.filter((c) => !rulesAllow(c));
    expect(uncovered).toEqual([]);
    const used = [...new Set(calls.map(describeCall))].sort();
    console.log(`[operator] API calls made (group/resource verb):\n  ${used.join('\n  ')}`);
    for (const expected of ['apps/deployments patch', 'apps/deployments watch', '/services delete', '/nodes watch', 'xwg.io/xmppwebgateways/status patch', 'coordination.k8s.io/leases update']) {
      expect(used).toContain(expected);
    }
  });
});

