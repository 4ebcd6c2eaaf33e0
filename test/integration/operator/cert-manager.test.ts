// spec.tls.issuerRef: without cert-manager the status says so; once cert-manager's CRDs are served (the
// operator looks again periodically) one Certificate per node and one for the discovery Ingress appear,
// their readiness reaches the status, and leaving issuerRef removes them again.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { ApiCall } from '../../../src/operator/controller/kube-client.ts';
import { rulesAllow } from '../../../src/operator/controller/rbac.ts';
import { startOperator, type Operator } from '../../../src/operator/operator.ts';
import type { ControlPlane } from '../../../dev/cluster/control-plane.ts';
import {
  Api,
  CERT_MANAGER_CRDS,
  condition,
  describeCall,
  eventually,
  gateway,
  gatewayPath,
  installCrds,
  kubeConfigOf,
  memoryLogger,
  startClusterWithCrd,
  yamlDocs,
  type Obj,
} from './helpers.ts';

let cp: ControlPlane;
let api: Api;
let op: Operator;
const calls: ApiCall[] = [];
const log = memoryLogger('debug');
const NS = 'certs';
const CERTS = `/apis/cert-manager.io/v1/namespaces/${NS}/certificates`;

beforeAll(async () => {
  ({ cp, api } = await startClusterWithCrd({ controllerManager: false }));
  await api.namespace(NS);
  op = await startOperator({
    kubeconfig: kubeConfigOf(cp),
    leaderElection: false,
    metricsPort: false,
    logger: log.logger,
    processMetrics: false,
    certManagerCheckMs: 500,
    onApiCall: (c) => calls.push(c),
  });
  await op.ready;
}, 10 * 60_000);

afterAll(async () => {
  await op?.stop();
  await cp?.stop();
}, 120_000);

const getGateway = () => api.get(gatewayPath(NS, 'pub'));

describe('cert-manager Certificates', () => {
  it('without cert-manager: CertificatesReady=False, reason CertManagerMissing', async () => {
    onTestFailed(() => console.log(log.dump(undefined, 100)));
    await api.create(
      gatewayPath(NS),
      gateway(NS, 'pub', {
        domains: ['example.com'],
        upstream: { host: 'prosody.xmpp.svc' },
        nodes: [
          { name: 'eu1', host: 'eu1.xmpp-web.example.com' },
          { name: 'us1', host: 'us1.xmpp-web.example.com' },
        ],
        tls: { issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' }, extraDnsNames: ['xmpp-web.example.com'], duration: '720h', renewBefore: '240h' },
        discovery: { host: 'xmpp-web.example.com', ingress: { enabled: true, className: 'nginx' } },
      }),
    );
    const gw = await eventually('status', async () => {
      const g = await getGateway();
      return g.status?.observedGeneration === 1 ? g : undefined;
    });
    expect(op.controller.certManagerAvailable).toBe(false);
    expect(condition(gw, 'CertificatesReady')).toMatchObject({ status: 'False', reason: 'CertManagerMissing' });
    expect(condition(gw, 'CertificatesReady')!.message).toContain('install cert-manager');
    expect(condition(gw, 'Degraded')).toMatchObject({ status: 'True', reason: 'CertManagerMissing' });
    // The rest is there; nothing of selfManaged's (no CA, no Secrets).
    const deployments = await api.items(`/apis/apps/v1/namespaces/${NS}/deployments`);
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['pub-eu1', 'pub-us1']);
    expect(await api.find(`/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/pub`)).toBeDefined();
    expect(await api.items(`/api/v1/namespaces/${NS}/secrets`)).toEqual([]);
  });

  it('with cert-manager: one Certificate per node and one for the discovery Ingress', async () => {
    onTestFailed(() => console.log(log.dump(undefined, 100)));
    await installCrds(api, yamlDocs(CERT_MANAGER_CRDS));
    await api.create('/apis/cert-manager.io/v1/clusterissuers', { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'letsencrypt' }, spec: { acme: {} } });
    const certs = await eventually('three Certificates', async () => {
      const items = await api.items(CERTS);
      return items.length === 3 ? items : undefined;
    });
    const uid = (await getGateway()).metadata.uid;
    const byName = Object.fromEntries(certs.map((c) => [c.metadata.name, c])) as Record<string, Obj>;
    expect(Object.keys(byName).sort()).toEqual(['pub-discovery', 'pub-eu1', 'pub-us1']);
    expect(byName['pub-eu1']!.spec).toEqual({
      secretName: 'pub-eu1-tls',
      dnsNames: ['eu1.xmpp-web.example.com', 'xmpp-web.example.com'],
      issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer', group: 'cert-manager.io' },
      duration: '720h',
      renewBefore: '240h',
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      usages: ['server auth', 'digital signature'],
      secretTemplate: { labels: expect.objectContaining({ 'xwg.io/gateway': 'pub', 'xwg.io/node': 'eu1', 'app.kubernetes.io/managed-by': 'xmpp-web-gateway-operator' }) },
    });
    expect(byName['pub-discovery']!.spec).toMatchObject({ secretName: 'pub-discovery-tls', dnsNames: ['xmpp-web.example.com'] });
    for (const c of certs) expect(c.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'XmppWebGateway', name: 'pub', uid, controller: true })]);
    const ingress = await api.get(`/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/pub`);
    expect(ingress.spec.tls).toEqual([{ hosts: ['xmpp-web.example.com'], secretName: 'pub-discovery-tls' }]);

    const waiting = await eventually('CertificatesReady waits for cert-manager', async () => {
      const g = await getGateway();
      return condition(g, 'CertificatesReady')?.reason !== 'CertManagerMissing' ? g : undefined;
    });
    expect(condition(waiting, 'CertificatesReady')).toMatchObject({ status: 'False', reason: 'Issuing' });
    expect(condition(waiting, 'Degraded')?.reason).not.toBe('CertManagerMissing');

    // cert-manager's part: the Certificates become Ready.
    for (const c of certs) {
      await api.mergePatch(`${CERTS}/${c.metadata.name}/status`, {
        status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] },
      });
    }
    await eventually('CertificatesReady=True', async () => condition(await getGateway(), 'CertificatesReady')?.status === 'True');
  });

  it('leaving issuerRef for selfManaged removes the Certificates', async () => {
    onTestFailed(() => console.log(log.dump(undefined, 100)));
    await api.mergePatch(gatewayPath(NS, 'pub'), { spec: { tls: { issuerRef: null, duration: null, renewBefore: null, selfManaged: {} } } });
    await eventually('Certificates removed', async () => (await api.items(CERTS)).length === 0);
    const secrets = await eventually('selfManaged Secrets', async () => {
      const names = (await api.items(`/api/v1/namespaces/${NS}/secrets`)).map((s) => s.metadata.name).sort();
      return names.length === 4 ? names : undefined;
    });
    expect(secrets).toEqual(['pub-ca', 'pub-discovery-tls', 'pub-eu1-tls', 'pub-us1-tls']);
    await eventually('CertificatesReady=True', async () => {
      const g = await getGateway();
      return g.status?.observedGeneration === 2 && condition(g, 'CertificatesReady')?.status === 'True';
    });
  });

  it('made only calls its RBAC rules allow', () => {
    const uncovered = calls.filter((c) => !rulesAllow(c)).map(describeCall);
    expect(uncovered).toEqual([]);
    expect(calls.map(describeCall)).toEqual(expect.arrayContaining(['cert-manager.io/certificates patch', 'cert-manager.io/certificates delete', '/apis/cert-manager.io/v1 get']));
  });
});
