// The installation manifests (config/, charts/xmpp-web-gateway/, examples/) against their sources: the
// generated parts are up to date, RBAC is exactly the operator's rules, one image and version everywhere.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import { load, loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { CHART_DIR, generatedFiles, repoRoot } from '../../../scripts/gen-manifests.ts';
import { IMAGE_REPOSITORY, packageVersion } from '../../../src/cli/render.ts';
import { formatFieldError, validateGatewayResource, withDefaults, type XmppWebGateway } from '../../../src/operator/api/index.ts';
import { OPERATOR_NON_RESOURCE_RULES, OPERATOR_RBAC_RULES } from '../../../src/operator/controller/rbac.ts';
import { defaultGatewayImage } from '../../../src/operator/operator.ts';
import { buildDesired } from '../../../src/operator/desired/index.ts';
import { ADMIN_PORT, ADMIN_PORT_NAME } from '../../../src/operator/desired/names.ts';

const twoNodeGateway = withDefaults({
  apiVersion: 'xwg.io/v1alpha1',
  kind: 'XmppWebGateway',
  metadata: { name: 'chat', namespace: 'xmpp', uid: 'u1', generation: 1 },
  spec: { domains: ['example.com'], upstream: { host: 'prosody.xmpp.svc' }, nodes: [{ name: 't1', host: 't1.example.com' }, { name: 't2', host: 't2.example.com' }] },
} as XmppWebGateway);
const read = (file: string) => readFileSync(path.join(repoRoot, file), 'utf8');
const yaml = <T>(file: string) => load(read(file)) as T;

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
}
interface Role {
  kind: string;
  metadata: { name: string };
  rules: Rule[];
}

describe('generated manifests', () => {
  it.each([...generatedFiles().entries()])('%s is up to date', (file, content) => {
    expect(read(file) === content, `${file} is out of date: run \`node scripts/gen-manifests.ts\` and commit the result`).toBe(true);
  });

  it('grant exactly the operator\'s rules: Leases in its own namespace, the rest cluster-wide', () => {
    const cluster = yaml<Role>('config/rbac/role.yaml');
    const leader = yaml<Role>('config/rbac/leader-election-role.yaml');
    expect(cluster.kind).toBe('ClusterRole');
    expect(leader.kind).toBe('Role');
    const all = [...cluster.rules, ...leader.rules];
    expect(all).toHaveLength(OPERATOR_RBAC_RULES.length + OPERATOR_NON_RESOURCE_RULES.length);
    expect(all).toEqual(expect.arrayContaining([...OPERATOR_RBAC_RULES, ...OPERATOR_NON_RESOURCE_RULES]));
    expect(leader.rules.every((r) => r.apiGroups?.join() === 'coordination.k8s.io' && r.resources?.join() === 'leases')).toBe(true);
    expect(cluster.rules.some((r) => r.resources?.includes('leases'))).toBe(false);
    // No wildcard anywhere.
    for (const r of all) for (const v of [...(r.apiGroups ?? []), ...(r.resources ?? []), ...r.verbs]) expect(v).not.toBe('*');
  });

  it('bind the roles to the ServiceAccount the Deployment runs as', () => {
    const sa = yaml<{ metadata: { name: string } }>('config/rbac/service-account.yaml');
    for (const file of ['config/rbac/role-binding.yaml', 'config/rbac/leader-election-role-binding.yaml']) {
      const b = yaml<{ roleRef: { kind: string; name: string }; subjects: { kind: string; name: string }[] }>(file);
      expect(b.subjects).toEqual([expect.objectContaining({ kind: 'ServiceAccount', name: sa.metadata.name })]);
    }
    expect(yaml<{ roleRef: { name: string } }>('config/rbac/role-binding.yaml').roleRef.name).toBe(yaml<Role>('config/rbac/role.yaml').metadata.name);
    expect(yaml<{ roleRef: { name: string } }>('config/rbac/leader-election-role-binding.yaml').roleRef.name).toBe(
      yaml<Role>('config/rbac/leader-election-role.yaml').metadata.name,
    );
    const deployment = yaml<{ spec: { template: { spec: { serviceAccountName: string } } } }>('config/manager/deployment.yaml');
    expect(deployment.spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
  });
});

describe('one image and one version everywhere', () => {
  const version = packageVersion();

  it('render, the operator, the chart, the kustomize base and the Dockerfile name the same image', () => {
    expect(defaultGatewayImage({})).toBe(`${IMAGE_REPOSITORY}:${version}`);
    const chart = yaml<{ version: string; appVersion: string }>(`${CHART_DIR}/Chart.yaml`);
    expect(chart.appVersion).toBe(version);
    expect(chart.version).toBe(version);
    expect(yaml<{ image: { repository: string; tag: string } }>(`${CHART_DIR}/values.yaml`).image).toMatchObject({ repository: IMAGE_REPOSITORY, tag: '' });
    const kustomization = yaml<{ images: { name: string; newTag: string }[] }>('config/default/kustomization.yaml');
    expect(kustomization.images).toEqual([{ name: IMAGE_REPOSITORY, newTag: version }]);
    const container = yaml<{ spec: { template: { spec: { containers: { image: string; env: { name: string; value: string }[] }[] } } } }>(
      'config/manager/deployment.yaml',
    ).spec.template.spec.containers[0]!;
    expect(container.image).toBe(IMAGE_REPOSITORY);
    expect(container.env).toContainEqual({ name: 'XWG_GATEWAY_IMAGE', value: IMAGE_REPOSITORY });
    expect(read('Dockerfile')).toMatch(new RegExp(`^ARG VERSION=${version.replaceAll('.', '\\.')}$`, 'm'));
  });
});

describe('the operator Deployment of config/manager', () => {
  type Container = {
    args: string[];
    securityContext: Record<string, unknown>;
    livenessProbe: { httpGet: { path: string; port: string } };
    readinessProbe: { httpGet: { path: string; port: string } };
    ports: { name: string; containerPort: number }[];
    resources: { requests: Record<string, string>; limits: Record<string, string> };
  };
  const d = yaml<{ spec: { replicas: number; template: { spec: { securityContext: Record<string, unknown>; containers: Container[] } } } }>(
    'config/manager/deployment.yaml',
  );
  const pod = d.spec.template.spec;
  const c = pod.containers[0]!;

  it('runs two replicas with leader election', () => {
    expect(d.spec.replicas).toBe(2);
    expect(c.args[0]).toBe('operator');
    expect(c.args).toContain('--leader-elect');
  });

  it('is hardened and bounded', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.resources.limits.memory).toBeDefined();
  });

  it('probes /healthz and /readyz on the metrics port, which the Service exposes', () => {
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    const port = c.ports.find((p) => p.name === 'metrics')!;
    expect(c.args).toContain(`--metrics-port=${port.containerPort}`);
    const svc = yaml<{ spec: { ports: { port: number; targetPort: string }[] } }>('config/manager/service.yaml');
    expect(svc.spec.ports).toEqual([expect.objectContaining({ port: port.containerPort, targetPort: 'metrics' })]);
  });
});

describe('the PodMonitor of config/prometheus', () => {
  type PodMonitor = {
    kind: string;
    metadata: { namespace: string };
    spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string; path: string }[] };
  };
  const pm = yaml<PodMonitor>('config/prometheus/podmonitor.yaml');

  it('selects the gateway node pods the operator builds, on their admin port, and no operator pod', () => {
    expect(pm.kind).toBe('PodMonitor');
    const [deployment] = buildDesired(twoNodeGateway, { defaultImage: 'x', certManagerAvailable: false }).objects.filter((o) => o.kind === 'Deployment') as V1Deployment[];
    const pod = deployment!.spec!.template;
    expect(pod.metadata!.labels).toMatchObject(pm.spec.selector.matchLabels);
    expect(pm.spec.podMetricsEndpoints).toMatchObject([{ port: ADMIN_PORT_NAME, path: '/metrics' }]);
    expect(pod.spec!.containers[0]!.ports).toContainEqual(expect.objectContaining({ name: ADMIN_PORT_NAME, containerPort: ADMIN_PORT }));
    const operatorPod = yaml<{ spec: { template: { metadata: { labels: Record<string, string> } } } }>('config/manager/deployment.yaml').spec.template.metadata.labels;
    expect(Object.entries(pm.spec.selector.matchLabels).every(([k, v]) => operatorPod[k] === v)).toBe(false);
  });

  it('is an option: config/default lists it only as a comment', () => {
    expect(yaml<{ resources: string[] }>('config/default/kustomization.yaml').resources).not.toContain('../prometheus');
    expect(read('config/default/kustomization.yaml')).toMatch(/^ {2}# - \.\.\/prometheus$/m);
    expect(yaml<{ resources: string[] }>('config/prometheus/kustomization.yaml').resources).toEqual(['podmonitor.yaml']);
  });
});

describe('examples', () => {
  const files = readdirSync(path.join(repoRoot, 'examples')).filter((f) => f.endsWith('.yaml'));

  it('are the three documented ones', () => {
    expect(files.sort()).toEqual(['cert-manager.yaml', 'minimal.yaml', 'multi-domain.yaml']);
  });

  it.each(files)('%s passes validateGatewayResource', (file) => {
    const docs = loadAll(read(`examples/${file}`));
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) {
      const result = validateGatewayResource(doc);
      expect(result.errors.map(formatFieldError)).toEqual([]);
    }
  });
});

describe('docs/install.md', () => {
  it('carries config/argocd/health.lua unchanged in its argocd-cm snippet', () => {
    const doc = read('docs/install.md');
    const block = /<!-- argocd-health:start -->\n```yaml\n([\s\S]*?)```\n<!-- argocd-health:end -->/.exec(doc);
    expect(block, 'the argocd-health block').not.toBeNull();
    const cm = load(block![1]!) as { data: Record<string, string> };
    expect(cm.data['resource.customizations.health.xwg.io_XmppWebGateway']).toBe(read('config/argocd/health.lua'));
  });
});
