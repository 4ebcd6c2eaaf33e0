// The shared control-plane harness against real etcd + kube-apiserver + kube-controller-manager:
// kubectl and @kubernetes/client-node both work, controllers run, and restarts recover.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { ensureKubeBinaries, type KubeBinaries } from '../../../dev/cluster/binaries.ts';
import { startControlPlane, type ControlPlane } from '../../../dev/cluster/control-plane.ts';
import { eventually as poll } from '../../../dev/harness/wait.ts';

const execFileAsync = promisify(execFile);
// The kubectl the project builds with the control plane (dev/cluster/binaries.ts), not one the machine happens to have.
const kubectlPath = () => process.env.KUBECTL ?? binaries.kubectl;

let binaries: KubeBinaries;
let cp: ControlPlane;
let core: CoreV1Api;
let apps: AppsV1Api;

async function kubectl(args: string[], input?: string): Promise<string> {
  const run = execFileAsync(kubectlPath(), ['--kubeconfig', cp.kubeconfigPath, ...args], { timeout: 60_000 });
  if (input !== undefined) run.child.stdin?.end(input);
  return (await run).stdout;
}

const eventually = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000) => poll(what, fn, { timeoutMs, everyMs: 250 });

function deployment(name: string): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'main', image: 'example.invalid/none:1' }] },
      },
    },
  };
}

beforeAll(async () => {
  binaries = await ensureKubeBinaries();
  cp = await startControlPlane({ binaries, log: (l) => console.log(`[control-plane] ${l}`) });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
}, 300_000);

afterAll(async () => {
  await cp?.stop();
}, 120_000);

describe('kube control plane harness', () => {
  it('serves kubectl with the superuser kubeconfig', async () => {
    onTestFailed(async () => console.log(await cp.logs()));
    const version = JSON.parse(await kubectl(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } };
    expect(version.serverVersion.gitVersion).toBe(binaries.version);
    expect(await kubectl(['auth', 'can-i', '*', '*', '--all-namespaces'])).toBe('yes\n');

    await kubectl(['create', 'namespace', 'kubectl-ns']);
    await kubectl(['-n', 'kubectl-ns', 'create', 'configmap', 'settings', '--from-literal=greeting=hello']);
    const cm = JSON.parse(await kubectl(['-n', 'kubectl-ns', 'get', 'configmap', 'settings', '-o', 'json'])) as { data: Record<string, string> };
    expect(cm.data.greeting).toBe('hello');

    await kubectl(['-n', 'kubectl-ns', 'apply', '-f', '-'], JSON.stringify(deployment('web')));
    const rsName = await eventually('a ReplicaSet for Deployment web', async () => {
      const out = await kubectl(['-n', 'kubectl-ns', 'get', 'replicasets', '-l', 'app=web', '-o', 'jsonpath={.items[*].metadata.name}']);
      return out.trim() || undefined;
    });
    expect(rsName).toMatch(/^web-/);
  });

  it('serves @kubernetes/client-node, and the controller-manager reconciles', async () => {
    onTestFailed(async () => console.log(await cp.logs()));
    const namespace = 'client-ns';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'settings' }, data: { a: '1' } } });
    expect((await core.readNamespacedConfigMap({ namespace, name: 'settings' })).data).toEqual({ a: '1' });

    const created = await apps.createNamespacedDeployment({ namespace, body: deployment('api') });
    const rs = await eventually('a ReplicaSet owned by Deployment api', async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace });
      return list.items.find((r) => r.metadata?.ownerReferences?.some((o) => o.uid === created.metadata?.uid));
    });
    expect(rs.spec?.replicas).toBe(1);
    // ReplicaSet -> Pod (stays Pending: no scheduler or kubelet in this configuration).
    await eventually('a Pod for ReplicaSet', async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=api' });
      return pods.items[0];
    });
    // The default ServiceAccount and root CA ConfigMap come from controllers too.
    await eventually('ServiceAccount default', () => core.readNamespacedServiceAccount({ namespace, name: 'default' }));
    await eventually('ConfigMap kube-root-ca.crt', () => core.readNamespacedConfigMap({ namespace, name: 'kube-root-ca.crt' }));
  });

  it('garbage-collects dependents of a deleted owner', async () => {
    onTestFailed(async () => console.log(await cp.logs()));
    const namespace = 'gc-ns';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owner' } } });
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: {
          name: 'dependent',
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }],
        },
        stringData: { k: 'v' },
      },
    });
    await core.deleteNamespacedConfigMap({ namespace, name: 'owner' });
    await eventually('the dependent Secret to be collected', async () => {
      const list = await core.listNamespacedSecret({ namespace, fieldSelector: 'metadata.name=dependent' });
      return list.items.length === 0 ? true : undefined;
    });
  });

  it('exposes apiserver metrics', async () => {
    const metrics = await cp.apiserverMetrics();
    expect(metrics).toMatch(/^apiserver_request_total\{/m);
  });

  it('serves again after restarting the apiserver (graceful) and etcd (killed)', async () => {
    onTestFailed(async () => console.log(await cp.logs()));
    await kubectl(['create', 'configmap', 'before-restart', '--from-literal=x=1']);
    const t0 = Date.now();
    await cp.restartApiServer();
    console.log(`[control-plane] apiserver restart took ${Date.now() - t0} ms`);
    expect(await kubectl(['get', 'configmap', 'before-restart', '-o', 'jsonpath={.data.x}'])).toBe('1');
    // A fresh client after the restart, and the controller-manager reconnected on its own.
    const dep = await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('after-restart') });
    await eventually('a ReplicaSet after the apiserver restart', async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace: 'default', labelSelector: 'app=after-restart' });
      return list.items.find((r) => r.metadata?.ownerReferences?.[0]?.uid === dep.metadata?.uid);
    });

    const t1 = Date.now();
    await cp.restartEtcd({ hard: true });
    console.log(`[control-plane] etcd restart took ${Date.now() - t1} ms`);
    expect((await core.readNamespacedConfigMap({ namespace: 'default', name: 'before-restart' })).data).toEqual({ x: '1' });
  });
});

describe('kube control plane harness with kwok', () => {
  let kcp: ControlPlane;
  beforeAll(async () => {
    kcp = await startControlPlane({ binaries, kwok: { nodes: 2 }, log: (l) => console.log(`[kwok-control-plane] ${l}`) });
  }, 10 * 60_000);
  afterAll(async () => {
    await kcp?.stop();
  });

  it('schedules Deployment Pods onto fake Nodes and reports them Ready', async () => {
    onTestFailed(async () => console.log(await kcp.logs()));
    const kc = new KubeConfig();
    kc.loadFromString(kcp.kubeconfig);
    const kapps = kc.makeApiClient(AppsV1Api);
    const kcore = kc.makeApiClient(CoreV1Api);
    const nodes = await kcore.listNode();
    expect(nodes.items.map((n) => n.metadata?.name).sort()).toEqual(['kwok-node-0', 'kwok-node-1']);

    const body = deployment('ready');
    body.spec!.replicas = 3;
    await kapps.createNamespacedDeployment({ namespace: 'default', body });
    const status = await eventually('3 ready replicas', async () => {
      const d = await kapps.readNamespacedDeploymentStatus({ namespace: 'default', name: 'ready' });
      return d.status?.readyReplicas === 3 ? d.status : undefined;
    });
    expect(status.availableReplicas).toBe(3);
    const pods = await kcore.listNamespacedPod({ namespace: 'default', labelSelector: 'app=ready' });
    for (const pod of pods.items) {
      expect(pod.spec?.nodeName).toMatch(/^kwok-node-/);
      expect(pod.status?.phase).toBe('Running');
      // Fake Pod IPs are loopback: nothing can send traffic off the machine.
      expect(pod.status?.podIP).toMatch(/^127\./);
    }
  });
});
