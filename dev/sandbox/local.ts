// The local sandbox: a real control plane, the operator, Prosody and a three-node XmppWebGateway on
// one machine with no cluster and no container runtime. Every server listens on loopback only.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCrd } from '../../src/operator/api/index.ts';
import { startOperator, type Operator } from '../../src/operator/operator.ts';
import { ensureKubeBinaries } from '../cluster/binaries.ts';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startProsody, type ProsodyServer } from '../harness/prosody.ts';
import { startStaticServer, type StaticServer } from '../harness/static-server.ts';
import { startLocalNodes, type LocalNode } from './local-nodes.ts';

export const SANDBOX_NAMESPACE = 'xwg-sandbox';
export const SANDBOX_GATEWAY = 'chat';
export const SANDBOX_DOMAIN = 'example.com';
export const SANDBOX_USERS = ['alice', 'bob'] as const;
const LIFETIME_MS = 12 * 3600_000;

export interface Sandbox {
  nodes: LocalNode[];
  discoveryUrl: string;
  demoUrl: string;
  kubeconfigPath: string;
  prosody: ProsodyServer;
  stop(): Promise<void>;
}

type Progress = (step: string) => void;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function api(cp: ControlPlane, method: string, apiPath: string, body?: unknown): Promise<unknown> {
  const res = await cp.request(method, apiPath, body);
  if (res.status >= 300 && !(method === 'POST' && res.status === 409)) throw new Error(`${method} ${apiPath}: HTTP ${res.status} ${res.body}`);
  return res.body ? JSON.parse(res.body) : undefined;
}

/** The example resource the sandbox applies: three nodes before the local Prosody. */
export function sandboxGateway(prosodyPort: number, demoOrigin: string): Record<string, unknown> {
  return {
    apiVersion: 'xwg.io/v1alpha1',
    kind: 'XmppWebGateway',
    metadata: { name: SANDBOX_GATEWAY, namespace: SANDBOX_NAMESPACE },
    spec: {
      domains: [SANDBOX_DOMAIN],
      upstream: { host: '127.0.0.1', port: prosodyPort, tls: 'none' },
      nodes: [1, 2, 3].map((i) => ({ name: `t${i}`, host: `t${i}.${SANDBOX_DOMAIN}` })),
      allowedOrigins: [demoOrigin],
    },
  };
}

export async function startLocalSandbox(progress: Progress): Promise<Sandbox> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    const dir = await mkdtemp(path.join(tmpdir(), 'xwg-sandbox-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));

    progress('Kubernetes binaries (built once from the Go module proxy, then cached)');
    const binaries = await ensureKubeBinaries({ helm: false, kwok: true, log: (l) => progress(`  ${l}`) });
    progress(`control plane ${binaries.version}: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok`);
    const cp = await startControlPlane({ binaries, kwok: { nodes: 3 }, maxLifetimeMs: LIFETIME_MS });
    cleanups.push(() => cp.stop());

    progress('CustomResourceDefinition xmppwebgateways.xwg.io');
    await api(cp, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', buildCrd());
    await until('the CRD to be established', 30_000, async () => {
      const res = await cp.request('GET', `/apis/xwg.io/v1alpha1/xmppwebgateways`);
      return res.status === 200 ? true : undefined;
    });

    progress('Prosody on loopback with users alice and bob');
    const prosody = await startProsody({
      domains: [SANDBOX_DOMAIN],
      users: SANDBOX_USERS.map((u) => ({ user: u, domain: SANDBOX_DOMAIN, password: `${u}-password` })),
      maxLifetimeMs: LIFETIME_MS,
    });
    cleanups.push(() => prosody.dispose());

    progress('demo page server');
    const demo: StaticServer = await startStaticServer({ mounts: ['src/client/', 'dev/sandbox/demo/', 'node_modules/strophe.js/dist/'] });
    cleanups.push(() => demo.close());

    progress('operator');
    const operator: Operator = await startOperator({ kubeconfig: cp.kubeconfigPath, leaderElection: false, metricsPort: 0, logLevel: 'warn' });
    cleanups.push(() => operator.stop());
    await operator.ready;

    progress(`XmppWebGateway ${SANDBOX_NAMESPACE}/${SANDBOX_GATEWAY} with three nodes`);
    await api(cp, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SANDBOX_NAMESPACE } });
    await api(cp, 'POST', `/apis/xwg.io/v1alpha1/namespaces/${SANDBOX_NAMESPACE}/xmppwebgateways`, sandboxGateway(prosody.c2sPort, demo.origin));

    const ns = `/api/v1/namespaces/${SANDBOX_NAMESPACE}`;
    const configData = await until('the operator to write the gateway ConfigMap', 60_000, async () => {
      const res = await cp.request('GET', `${ns}/configmaps/${SANDBOX_GATEWAY}-config`);
      return res.status === 200 ? (JSON.parse(res.body) as { data: Record<string, string> }).data : undefined;
    });
    const certificates: Record<string, { cert: string; key: string }> = {};
    for (const node of ['t1', 't2', 't3']) {
      certificates[node] = await until(`the certificate Secret of ${node}`, 60_000, async () => {
        const res = await cp.request('GET', `${ns}/secrets/${SANDBOX_GATEWAY}-${node}-tls`);
        if (res.status !== 200) return undefined;
        const data = (JSON.parse(res.body) as { data: Record<string, string> }).data;
        const decode = (k: string) => Buffer.from(data[k] ?? '', 'base64').toString('utf8');
        return { cert: decode('tls.crt'), key: decode('tls.key') };
      });
    }

    progress('one gateway process per node, from the operator\'s ConfigMap and Secrets');
    const nodes = await startLocalNodes({ configData, certificates }, dir, [demo.origin]);
    cleanups.push(async () => {
      await Promise.all(nodes.map((n) => n.process.stop()));
    });

    const first = nodes[0]!;
    const discoveryUrl = `http://127.0.0.1:${first.port}/.well-known/xmpp-web-nodes.json?domain=${SANDBOX_DOMAIN}`;
    const demoUrl = `${demo.url('dev/sandbox/demo/index.html')}?domain=${SANDBOX_DOMAIN}&discovery=${encodeURIComponent(discoveryUrl)}`;
    return { nodes, discoveryUrl, demoUrl, kubeconfigPath: cp.kubeconfigPath, prosody, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
