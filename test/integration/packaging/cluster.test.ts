// The installation paths against a real control plane (etcd, kube-apiserver, kube-controller-manager; no
// kubelet, so pods are created but never run): the Helm chart (helm install, and its rendered output applied
// server-side), the kustomize base (kubectl kustomize | kubectl apply --server-side), the examples, and the
// operator itself started with the installed ServiceAccount's token and the installed Deployment's args.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import { load, loadAll } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { ensureKubeBinaries, type KubeBinaries } from '../../../dev/cluster/binaries.ts';
import { CHART_DIR, repoRoot, splitRules } from '../../../scripts/gen-manifests.ts';
import { runValidate } from '../../../src/cli/validate.ts';
import { startControlPlane, type ControlPlane } from '../../../dev/cluster/control-plane.ts';
import { spawnBounded, type BoundedProcess } from '../../../dev/harness/process.ts';
import { eventually as poll } from '../../../dev/harness/wait.ts';

const execFileAsync = promisify(execFile);
// The kubectl the project builds with the control plane (dev/cluster/binaries.ts), not one the machine happens to have.
const kubectlPath = () => process.env.KUBECTL ?? binaries.kubectl;
const SYSTEM_NS = 'xmpp-web-gateway-system';
const OPERATOR_SA = `system:serviceaccount:${SYSTEM_NS}:xmpp-web-gateway-operator`;
const EXAMPLES = ['minimal.yaml', 'cert-manager.yaml', 'multi-domain.yaml'];

let binaries: KubeBinaries;
let cp: ControlPlane;
const work = mkdtempSync(path.join(os.tmpdir(), 'xwg-packaging-'));

async function run(command: string, args: string[], input?: string): Promise<string> {
  const child = execFile(command, args, { cwd: repoRoot, timeout: 120_000, maxBuffer: 32 << 20 });
  const done = new Promise<string>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${path.basename(command)} ${args.join(' ')}: exit ${code}\n${stderr}${stdout}`))));
  });
  child.stdin?.on('error', () => {}); // a command that exits without reading its input
  if (input === undefined) child.stdin?.end();
  else child.stdin?.end(input);
  return done;
}
const kubectl = (args: string[], input?: string) => run(kubectlPath(), ['--kubeconfig', cp.kubeconfigPath, ...args], input);
const helm = (args: string[]) => run(binaries.helm!, args);
const getJson = async <T>(args: string[]) => JSON.parse(await kubectl([...args, '-o', 'json'])) as T;

const eventually = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000) => poll(what, fn, { timeoutMs, everyMs: 250 });

const byKind = (docs: KubernetesObject[], kind: string) => docs.filter((d) => d?.kind === kind);
const rulesOf = (o: KubernetesObject) => (o as unknown as { rules: unknown[] }).rules;

beforeAll(async () => {
  binaries = await ensureKubeBinaries({ kwok: false });
  cp = await startControlPlane({ binaries, controllerManager: true, log: (l) => console.log(`[control-plane] ${l}`) });
}, 300_000);

afterAll(async () => {
  await cp?.stop();
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('Helm chart', () => {
  it('installs with helm install, the CRD from crds/ included', async () => {
    onTestFailed(async () => console.log(await cp.logs()));
    await helm(['install', 'xwg', CHART_DIR, '--namespace', 'helm-system', '--create-namespace', '--kubeconfig', cp.kubeconfigPath]);
    await eventually('the CRD to be Established', async () => {
      const crd = await getJson<{ status?: { conditions?: { type: string; status: string }[] } }>(['get', 'crd', 'xmppwebgateways.xwg.io']);
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') || undefined;
    });
    const d = await getJson<V1Deployment>(['-n', 'helm-system', 'get', 'deployment', 'xwg-xmpp-web-gateway']);
    expect(d.spec?.replicas).toBe(2);
    expect(d.spec?.template.spec?.containers[0]?.image).toBe(`ghcr.io/xmpp-web-gateway/xmpp-web-gateway:${(load(readFileSync(path.join(repoRoot, CHART_DIR, 'Chart.yaml'), 'utf8')) as { appVersion: string }).appVersion}`);
    for (const [kind, name] of [['serviceaccount', 'xwg-xmpp-web-gateway'], ['service', 'xwg-xmpp-web-gateway-metrics'], ['role', 'xwg-xmpp-web-gateway-leader-election'], ['rolebinding', 'xwg-xmpp-web-gateway-leader-election']] as const) {
      await kubectl(['-n', 'helm-system', 'get', kind, name]);
    }
    const clusterRole = await getJson<KubernetesObject>(['get', 'clusterrole', 'xwg-xmpp-web-gateway']);
    expect(rulesOf(clusterRole)).toEqual(splitRules().cluster);
    await kubectl(['get', 'clusterrolebinding', 'xwg-xmpp-web-gateway']);
    // The ReplicaSet controller creates the pods (they never run here: no kubelet).
    await eventually('operator pods from the chart', async () => {
      const pods = await getJson<{ items: unknown[] }>(['-n', 'helm-system', 'get', 'pods', '-l', 'app.kubernetes.io/instance=xwg']);
      return pods.items.length === 2 || undefined;
    });
  });

  it('renders with custom values, and the API server accepts the result (CRDs included)', async () => {
    const out = await helm([
      'template', 'edge', CHART_DIR, '--namespace', 'tmpl', '--include-crds',
      '--set', 'replicaCount=3', '--set', 'image.tag=9.9.9', '--set', 'watchNamespace=chat', '--set', 'gatewayImage=registry.example/gw:1',
      '--set', 'nodeSelector.role=ops', '--set', 'serviceMonitor.enabled=false', '--set', 'logLevel=debug',
    ]);
    const docs = (loadAll(out) as KubernetesObject[]).filter(Boolean);
    expect(byKind(docs, 'CustomResourceDefinition')).toHaveLength(1);
    await kubectl(['create', 'namespace', 'tmpl']);
    await kubectl(['apply', '--server-side', '-f', '-'], out);
    const d = await getJson<V1Deployment>(['-n', 'tmpl', 'get', 'deployment', 'edge-xmpp-web-gateway']);
    expect(d.spec?.replicas).toBe(3);
    const c = d.spec!.template.spec!.containers[0]!;
    expect(c.image).toBe('ghcr.io/xmpp-web-gateway/xmpp-web-gateway:9.9.9');
    expect(c.args).toEqual(['operator', '--leader-elect', '--namespace=chat', '--metrics-port=8080', '--log-level=debug']);
    expect(c.env).toContainEqual({ name: 'XWG_GATEWAY_IMAGE', value: 'registry.example/gw:1' });
    expect(d.spec!.template.spec!.nodeSelector).toEqual({ role: 'ops' });
  });
});

describe('kustomize base (config/default)', () => {
  let rendered: KubernetesObject[];

  it('renders with kubectl kustomize and applies server-side', async () => {
    onTestFailed(async () => console.log(await cp.logs()));
    const out = await kubectl(['kustomize', 'config/default']);
    rendered = (loadAll(out) as KubernetesObject[]).filter(Boolean);
    expect(rendered.map((o) => `${o.kind}/${o.metadata?.name}`).sort()).toEqual(
      [
        'ClusterRole/xmpp-web-gateway-operator',
        'ClusterRoleBinding/xmpp-web-gateway-operator',
        'CustomResourceDefinition/xmppwebgateways.xwg.io',
        'Deployment/xmpp-web-gateway-operator',
        `Namespace/${SYSTEM_NS}`,
        'Role/xmpp-web-gateway-leader-election',
        'RoleBinding/xmpp-web-gateway-leader-election',
        'Service/xmpp-web-gateway-operator-metrics',
        'ServiceAccount/xmpp-web-gateway-operator',
      ].sort(),
    );
    await kubectl(['apply', '--server-side', '-f', '-'], out);
    for (const o of rendered) {
      const ns = o.metadata?.namespace;
      await kubectl([...(ns ? ['-n', ns] : []), 'get', o.kind!.toLowerCase(), o.metadata!.name!]);
    }
    const cr = await getJson<KubernetesObject>(['get', 'clusterrole', 'xmpp-web-gateway-operator']);
    expect(rulesOf(cr)).toEqual(splitRules().cluster);
    const role = await getJson<KubernetesObject>(['-n', SYSTEM_NS, 'get', 'role', 'xmpp-web-gateway-leader-election']);
    expect(rulesOf(role)).toEqual(splitRules().leaderElection);
  });

  it('makes pods that the restricted Pod Security level admits', async () => {
    // The namespace enforces `restricted`: a pod spec short of it would be refused, and no pod would appear.
    const pods = await eventually('both operator pods', async () => {
      const list = await getJson<{ items: { spec: { securityContext: Record<string, unknown> } }[] }>(['-n', SYSTEM_NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=operator']);
      return list.items.length === 2 ? list.items : undefined;
    });
    expect(pods[0]!.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  });

  it('grants the operator\'s ServiceAccount what it needs and no more', async () => {
    const can = async (args: string[]) => {
      try {
        return (await kubectl(['auth', 'can-i', '--as', OPERATOR_SA, ...args])).trim();
      } catch (e) {
        // `can-i` exits 1 when the answer is no.
        if (/\bno\b/.test(String(e))) return 'no';
        throw e;
      }
    };
    const expectations: [string[], string][] = [
      [['watch', 'xmppwebgateways.xwg.io', '--all-namespaces'], 'yes'],
      [['patch', 'xmppwebgateways.xwg.io', '--subresource=status', '-n', 'chat'], 'yes'],
      [['patch', 'xmppwebgateways.xwg.io', '-n', 'chat'], 'no'],
      [['patch', 'deployments.apps', '-n', 'chat'], 'yes'],
      [['delete', 'secrets', '-n', 'chat'], 'yes'],
      [['list', 'nodes'], 'yes'],
      [['patch', 'nodes'], 'no'],
      [['get', 'pods', '-n', 'chat'], 'no'],
      [['create', 'events.events.k8s.io', '-n', 'chat'], 'yes'],
      [['update', 'leases.coordination.k8s.io', '-n', SYSTEM_NS], 'yes'],
      [['update', 'leases.coordination.k8s.io', '-n', 'chat'], 'no'],
      [['create', 'clusterroles.rbac.authorization.k8s.io'], 'no'],
      [['delete', 'customresourcedefinitions.apiextensions.k8s.io'], 'no'],
    ];
    const answers = await Promise.all(expectations.map(async ([args]) => [args.join(' '), await can(args)]));
    expect(Object.fromEntries(answers)).toEqual(Object.fromEntries(expectations.map(([args, want]) => [args.join(' '), want])));
  });

  it('runs the operator with the installed ServiceAccount and the installed Deployment\'s arguments', async () => {
    const deployment = rendered.find((o) => o.kind === 'Deployment') as V1Deployment;
    const container = deployment.spec!.template.spec!.containers[0]!;
    const token = (await kubectl(['-n', SYSTEM_NS, 'create', 'token', 'xmpp-web-gateway-operator', '--duration=1h'])).trim();
    const kubeconfig = path.join(work, 'operator.kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: cp.server, 'certificate-authority-data': Buffer.from(cp.ca).toString('base64') } }],
        users: [{ name: 'operator', user: { token } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'operator' } }],
        'current-context': 'c',
      }),
    );
    // Outside a pod there is no service-account namespace file: the Lease namespace is given instead, and
    // any free port replaces the metrics port.
    const args = [
      ...container.args!.filter((a) => !a.startsWith('--metrics-port')),
      '--kubeconfig', kubeconfig, '--leader-election-namespace', SYSTEM_NS, '--metrics-port', '0',
    ];
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));
    const log = path.join(work, 'operator.log');
    const operator: BoundedProcess = spawnBounded({
      name: 'operator',
      command: process.execPath,
      args: [path.join(repoRoot, 'src/cli/main.ts'), ...args],
      cwd: repoRoot,
      logPath: log,
      maxLifetimeMs: 10 * 60_000,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      replaceEnv: true,
    });
    onTestFailed(() => console.log(readFileSync(log, 'utf8').split('\n').slice(-80).join('\n')));
    try {
      await kubectl(['create', 'namespace', 'demo']);
      await kubectl(['-n', 'demo', 'apply', '--server-side', '-f', 'examples/minimal.yaml']);
      const d = await eventually('Deployment chat-t1 from the operator', () => getJson<V1Deployment>(['-n', 'demo', 'get', 'deployment', 'chat-t1']), 90_000);
      expect(d.spec?.template.spec?.containers[0]?.image).toBe(env.XWG_GATEWAY_IMAGE);
      for (const name of ['chat-ca', 'chat-t1-tls', 'chat-t2-tls']) await eventually(`Secret ${name}`, () => kubectl(['-n', 'demo', 'get', 'secret', name]));
      await kubectl(['-n', 'demo', 'get', 'configmap', 'chat-config']);
      await eventually('a status with conditions', async () => {
        const gw = await getJson<{ status?: { conditions?: { type: string }[] } }>(['-n', 'demo', 'get', 'xmppwebgateway', 'chat']);
        return gw.status?.conditions?.some((c) => c.type === 'Ready') || undefined;
      });
      const lease = await getJson<{ spec?: { holderIdentity?: string } }>(['-n', SYSTEM_NS, 'get', 'lease', 'xmpp-web-gateway-operator']);
      expect(lease.spec?.holderIdentity).toBeTruthy();
      expect(readFileSync(log, 'utf8')).not.toMatch(/forbidden/i);
    } finally {
      await operator.stop({ graceMs: 15_000 });
    }
  });
});

describe('examples', () => {
  it('are accepted by the API server (CRD schema and CEL rules)', async () => {
    await kubectl(['create', 'namespace', 'examples']);
    for (const file of EXAMPLES) await kubectl(['-n', 'examples', 'apply', '--server-side', '-f', `examples/${file}`]);
    const names = (await kubectl(['-n', 'examples', 'get', 'xmppwebgateways', '-o', 'jsonpath={.items[*].metadata.name}'])).split(' ').sort();
    expect(names).toEqual(['chat', 'public', 'web']);
  });

  it('are refused by the API server where validate refuses them, naming the same field', async () => {
    const cases: { name: string; spec: Record<string, unknown>; field: string }[] = [
      { name: 'bad-port', spec: { upstream: { host: 'x', port: 70000 } }, field: 'spec.upstream.port' },
      { name: 'dup-hosts', spec: { nodes: [{ name: 'a', host: 'a.example.com' }, { name: 'b', host: 'a.example.com' }] }, field: 'spec.nodes' },
      { name: 'two-sources', spec: { replicas: 2, hostTemplate: 't{index}.example.com' }, field: 'spec' },
    ];
    for (const c of cases) {
      const minimal = load(readFileSync(path.join(repoRoot, 'examples/minimal.yaml'), 'utf8')) as { spec: Record<string, unknown> };
      const resource = { apiVersion: 'xwg.io/v1alpha1', kind: 'XmppWebGateway', metadata: { name: c.name }, spec: { ...minimal.spec, ...c.spec } };
      const file = path.join(work, `${c.name}.yaml`);
      writeFileSync(file, JSON.stringify(resource));
      const server = await kubectl(['-n', 'examples', 'apply', '--dry-run=server', '-f', file]).then(
        () => 'accepted',
        (e: Error) => e.message,
      );
      expect(server, c.name).toContain(c.field);
      const lines: string[] = [];
      const log = console.log;
      console.log = (...a: unknown[]) => void lines.push(a.join(' '));
      try {
        expect(await runValidate(['-f', file]), c.name).toBe(1);
      } finally {
        console.log = log;
      }
      expect(lines.join('\n'), c.name).toMatch(new RegExp(`^ {2}${c.field.replace(/[.[\]]/g, '\\$&')}[.:\\[]`, 'm'));
    }
  });
});
