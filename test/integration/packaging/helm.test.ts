// The Helm chart, rendered by a real helm: lint, defaults, custom values, the values schema, the optional
// ServiceMonitor. cluster.test.ts installs it on a control plane.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { KubernetesObject, V1Deployment, V1Service } from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHART_DIR, repoRoot, splitRules } from '../../../scripts/gen-manifests.ts';
import { ensureKubeBinaries } from '../../../dev/cluster/binaries.ts';
import { packageVersion } from '../../../src/cli/render.ts';
import { withDefaults, type XmppWebGateway } from '../../../src/operator/api/index.ts';
import { buildDesired } from '../../../src/operator/desired/index.ts';

const execFileAsync = promisify(execFile);
let helmBin: string;

async function helm(args: string[]): Promise<string> {
  try {
    return (await execFileAsync(helmBin, args, { cwd: repoRoot, timeout: 60_000, maxBuffer: 16 << 20 })).stdout;
  } catch (e) {
    const { stdout = '', stderr = '' } = e as { stdout?: string; stderr?: string };
    throw new Error(`helm ${args.join(' ')}:\n${stderr}${stdout}`, { cause: e });
  }
}

async function template(...set: string[]): Promise<KubernetesObject[]> {
  const out = await helm(['template', 'xwg', CHART_DIR, '--namespace', 'ops', ...set.flatMap((s) => ['--set', s])]);
  return (loadAll(out) as KubernetesObject[]).filter(Boolean);
}
const one = <T extends KubernetesObject>(docs: KubernetesObject[], kind: string): T => {
  const found = docs.filter((d) => d.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as T;
};

beforeAll(async () => {
  const binaries = await ensureKubeBinaries({ kwok: false });
  helmBin = binaries.helm!;
}, 300_000);

describe('Helm chart', () => {
  it('passes helm lint --strict, with default and with custom values', async () => {
    await helm(['lint', '--strict', CHART_DIR]);
    await helm(['lint', '--strict', CHART_DIR, '--set', 'serviceMonitor.enabled=true', '--set', 'gatewayPodMonitor.enabled=true', '--set', 'watchNamespace=chat', '--set', 'leaderElection.enabled=false', '--set', 'replicaCount=1']);
  });

  it('renders the operator with its defaults', async () => {
    const docs = await template();
    expect(docs.map((d) => d.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
    for (const d of docs.filter((o) => !o.kind!.startsWith('Cluster'))) expect(d.metadata?.namespace, d.kind).toBe('ops');

    const d = one<V1Deployment>(docs, 'Deployment');
    expect(d.metadata?.name).toBe('xwg-xmpp-web-gateway');
    expect(d.spec?.replicas).toBe(2);
    const pod = d.spec!.template.spec!;
    const c = pod.containers[0]!;
    expect(c.image).toBe(`ghcr.io/xmpp-web-gateway/xmpp-web-gateway:${packageVersion()}`);
    expect(c.args).toEqual(['operator', '--leader-elect', '--metrics-port=8080', '--log-level=info']);
    expect(c.env).toEqual([{ name: 'XWG_GATEWAY_IMAGE', value: c.image }]);
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.serviceAccountName).toBe(one(docs, 'ServiceAccount').metadata?.name);
    expect(pod.affinity?.podAntiAffinity).toBeDefined();
    expect(c.resources?.requests).toEqual({ cpu: '50m', memory: '96Mi' });

    expect((one(docs, 'ClusterRole') as unknown as { rules: unknown }).rules).toEqual(splitRules().cluster);
    expect((one(docs, 'Role') as unknown as { rules: unknown }).rules).toEqual(splitRules().leaderElection);
    const svc = one<V1Service>(docs, 'Service');
    expect(svc.spec?.ports).toEqual([{ name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' }]);
    expect(svc.spec?.selector).toEqual(d.spec?.selector?.matchLabels);
  });

  it('takes replicas, image, placement, watch namespace and log level from values', async () => {
    const docs = await template(
      'replicaCount=3',
      'image.repository=registry.example/xwg',
      'image.tag=1.2.3',
      'image.pullPolicy=Always',
      'gatewayImage=registry.example/gw:7',
      'watchNamespace=chat',
      'logLevel=debug',
      'metrics.port=9090',
      'nodeSelector.role=ops',
      'tolerations[0].key=dedicated',
      'tolerations[0].operator=Exists',
      'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=zone',
      'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists',
      'resources.requests.cpu=200m',
      'resources.limits.memory=1Gi',
      'imagePullSecrets[0].name=regcred',
      'priorityClassName=system-cluster-critical',
    );
    const d = one<V1Deployment>(docs, 'Deployment');
    const pod = d.spec!.template.spec!;
    const c = pod.containers[0]!;
    expect(d.spec?.replicas).toBe(3);
    expect(c.image).toBe('registry.example/xwg:1.2.3');
    expect(c.imagePullPolicy).toBe('Always');
    expect(c.args).toEqual(['operator', '--leader-elect', '--namespace=chat', '--metrics-port=9090', '--log-level=debug']);
    expect(c.env).toEqual([{ name: 'XWG_GATEWAY_IMAGE', value: 'registry.example/gw:7' }]);
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: 9090, protocol: 'TCP' }]);
    expect(pod.nodeSelector).toEqual({ role: 'ops' });
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Exists' }]);
    expect(pod.affinity).toEqual({
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }] } },
    });
    expect(c.resources).toEqual({ requests: { cpu: '200m', memory: '96Mi' }, limits: { memory: '1Gi' } });
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(pod.priorityClassName).toBe('system-cluster-critical');
    expect(one<V1Service>(docs, 'Service').spec?.ports?.[0]?.port).toBe(9090);
  });

  it('runs one replica without leader election (no Lease Role), and refuses two', async () => {
    const docs = await template('leaderElection.enabled=false', 'replicaCount=1');
    expect(one<V1Deployment>(docs, 'Deployment').spec!.template.spec!.containers[0]!.args).toContain('--no-leader-elect');
    expect(docs.some((d) => d.kind === 'Role' || d.kind === 'RoleBinding')).toBe(false);
    await expect(template('leaderElection.enabled=false')).rejects.toThrow(/replicaCount > 1 needs leaderElection.enabled/);
  });

  it('adds a ServiceMonitor when asked', async () => {
    const docs = await template('serviceMonitor.enabled=true', 'serviceMonitor.labels.release=prometheus');
    const sm = one<KubernetesObject & { spec: { endpoints: unknown[]; selector: unknown } }>(docs, 'ServiceMonitor');
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.metadata?.labels?.release).toBe('prometheus');
    expect(sm.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }]);
    // It selects the metrics Service by labels that Service carries.
    const svc = one<V1Service>(docs, 'Service');
    expect(sm.spec.selector).toEqual({ matchLabels: svc.spec?.selector });
    expect(svc.metadata?.labels).toMatchObject(svc.spec!.selector!);
  });

  it('adds a PodMonitor for the gateway nodes when asked: their pods, on the admin port the operator names metrics', async () => {
    expect((await template()).some((d) => d.kind === 'PodMonitor')).toBe(false);
    type PodMonitor = KubernetesObject & {
      spec: { selector: { matchLabels: Record<string, string> }; namespaceSelector: unknown; podMetricsEndpoints: { port: string; path: string; relabelings: unknown[] }[] };
    };
    const pm = one<PodMonitor>(await template('gatewayPodMonitor.enabled=true', 'gatewayPodMonitor.labels.release=prometheus'), 'PodMonitor');
    expect(pm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(pm.metadata?.labels?.release).toBe('prometheus');
    expect(pm.spec.namespaceSelector).toEqual({ any: true });
    expect(pm.spec.podMetricsEndpoints).toMatchObject([{ port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }]);

    // What the operator builds: the selector matches its node pods (not the operator's own), the port is theirs.
    const gw = withDefaults({
      apiVersion: 'xwg.io/v1alpha1',
      kind: 'XmppWebGateway',
      metadata: { name: 'chat', namespace: 'xmpp', uid: 'u1', generation: 1 },
      spec: { domains: ['example.com'], upstream: { host: 'prosody.xmpp.svc' }, nodes: [{ name: 't1', host: 't1.example.com' }] },
    } as XmppWebGateway);
    const [deployment] = buildDesired(gw, { defaultImage: 'x', certManagerAvailable: false }).objects.filter((o) => o.kind === 'Deployment') as V1Deployment[];
    const pod = deployment!.spec!.template;
    expect(pod.metadata!.labels).toMatchObject(pm.spec.selector.matchLabels);
    expect(pod.spec!.containers[0]!.ports!.map((p) => p.name)).toContain(pm.spec.podMetricsEndpoints[0]!.port);
    const operatorPod = one<V1Deployment>(await template(), 'Deployment').spec!.template.metadata!.labels!;
    expect(Object.entries(pm.spec.selector.matchLabels).every(([k, v]) => operatorPod[k] === v)).toBe(false);

    const watching = one<PodMonitor>(await template('gatewayPodMonitor.enabled=true', 'watchNamespace=chat'), 'PodMonitor');
    expect(watching.spec.namespaceSelector).toEqual({ matchNames: ['chat'] });
    const listed = one<PodMonitor>(await template('gatewayPodMonitor.enabled=true', 'gatewayPodMonitor.namespaces={a,b}'), 'PodMonitor');
    expect(listed.spec.namespaceSelector).toEqual({ matchNames: ['a', 'b'] });
    await expect(template('gatewayPodMonitor.enabled=true', 'gatewayPodMonitor.interval=often')).rejects.toThrow(/interval/);
  });

  it('leaves out RBAC and the ServiceAccount when asked', async () => {
    const docs = await template('rbac.create=false', 'serviceAccount.create=false', 'serviceAccount.name=existing');
    expect(docs.map((d) => d.kind).sort()).toEqual(['Deployment', 'Service']);
    expect(one<V1Deployment>(docs, 'Deployment').spec!.template.spec!.serviceAccountName).toBe('existing');
  });

  it('refuses values outside its schema', async () => {
    await expect(template('logLevel=loud')).rejects.toThrow(/logLevel/);
    await expect(template('replicaCount=two')).rejects.toThrow(/replicaCount/);
    await expect(template('imag.tag=1')).rejects.toThrow(/imag/);
    await expect(template('watchNamespace=Not_A_Namespace')).rejects.toThrow(/watchNamespace/);
  });

  it('ships the CRD in crds/ (installed by helm install, left out of templates)', async () => {
    const out = await helm(['template', 'xwg', CHART_DIR, '--include-crds']);
    const crd = one(((loadAll(out) as KubernetesObject[]).filter(Boolean)), 'CustomResourceDefinition');
    expect(crd.metadata?.name).toBe('xmppwebgateways.xwg.io');
  });
});
