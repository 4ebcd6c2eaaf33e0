// The sandbox on real pods: the local cluster's real node runs the gateway image built from the
// Dockerfile; the operator is installed from the kustomize base with that image and reconciles the
// three-node XmppWebGateway into pods; Prosody listens where the pods reach it (the host end of the node's
// veth). Browsers reach the nodes' LoadBalancer Services on 127.0.0.1. Because a browser here cannot
// resolve t1.example.com, a small local "edge" serves the nodes' own list with each URL pointed at the
// node's 127.0.0.1 address, the way DNS and a load balancer would in a real installation.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startLocalCluster, type LocalCluster } from '../cluster/cluster.ts';
import { installOperator } from '../cluster/install.ts';
import { startProsody, type ProsodyServer } from '../harness/prosody.ts';
import { startStaticServer, type StaticServer } from '../harness/static-server.ts';
import { SANDBOX_DOMAIN, SANDBOX_GATEWAY, SANDBOX_NAMESPACE, SANDBOX_USERS } from './local.ts';

const LIFETIME_MS = 12 * 3600_000;

export interface PodSandboxNode {
  name: string;
  websocketUrl: string;
  boshUrl: string;
}

export interface PodSandbox {
  nodes: PodSandboxNode[];
  discoveryUrl: string;
  demoUrl: string;
  kubeconfigPath: string;
  kubectlPath: string;
  cluster: LocalCluster;
  prosody: ProsodyServer;
  stop(): Promise<void>;
}

type Progress = (step: string) => void;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const value = await probe().catch((e: unknown) => ((last = String(e)), undefined));
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (${last})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Serves node t1's published list with every node's URLs on its 127.0.0.1 address. */
async function startEdge(list: () => Promise<unknown>, local: Map<string, number>): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    void (async () => {
      try {
        const body = (await list()) as { nodes: Array<Record<string, unknown> & { name: string }> };
        const nodes = body.nodes.map((n) => {
          const port = local.get(n.name);
          return port ? { ...n, websocketUrl: `ws://127.0.0.1:${port}/xmpp-websocket`, boshUrl: `http://127.0.0.1:${port}/http-bind` } : n;
        });
        res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*', 'cache-control': 'no-store' });
        res.end(JSON.stringify({ ...body, nodes }));
      } catch (e) {
        res.writeHead(502, { 'content-type': 'text/plain' }).end(`node list unavailable: ${String(e)}\n`);
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/.well-known/xmpp-web-nodes.json?domain=${SANDBOX_DOMAIN}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export async function startPodSandbox(progress: Progress): Promise<PodSandbox> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    progress('local cluster: control plane, a real node (containerd, kubelet, kube-proxy) and the gateway image');
    const cluster = await startLocalCluster({ maxLifetimeMs: LIFETIME_MS, log: (l) => progress(`  ${l}`) });
    cleanups.push(() => cluster.stop());

    progress('Prosody with users alice and bob, reachable from the pods');
    const prosody = await startProsody({
      domains: [SANDBOX_DOMAIN],
      users: SANDBOX_USERS.map((u) => ({ user: u, domain: SANDBOX_DOMAIN, password: `${u}-password` })),
      c2sInterfaces: [cluster.node.net.hostIp],
      maxLifetimeMs: LIFETIME_MS,
    });
    cleanups.push(() => prosody.dispose());

    progress('demo page server');
    const demo: StaticServer = await startStaticServer({ mounts: ['src/client/', 'dev/sandbox/demo/', 'node_modules/strophe.js/dist/'] });
    cleanups.push(() => demo.close());

    progress('operator: the kustomize base with the built image, as a pod');
    await installOperator(cluster, 'kustomize', { replicas: 1 });

    progress(`XmppWebGateway ${SANDBOX_NAMESPACE}/${SANDBOX_GATEWAY} with three nodes, run as pods`);
    await cluster.kubectl(['create', 'namespace', SANDBOX_NAMESPACE]);
    const nodeNames = ['t1', 't2', 't3'];
    const resource = {
      apiVersion: 'xwg.io/v1alpha1',
      kind: 'XmppWebGateway',
      metadata: { name: SANDBOX_GATEWAY, namespace: SANDBOX_NAMESPACE },
      spec: {
        domains: [SANDBOX_DOMAIN],
        upstream: { host: cluster.node.net.hostIp, port: prosody.c2sPort, tls: 'none' },
        nodes: nodeNames.map((n) => ({ name: n, host: `${n}.${SANDBOX_DOMAIN}` })),
        service: { ports: { https: 443, http: 80 } },
        allowedOrigins: [demo.origin],
      },
    };
    await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(resource) });
    const local = new Map<string, number>();
    for (const n of nodeNames) local.set(n, (await cluster.loadBalancer.address(SANDBOX_NAMESPACE, `${SANDBOX_GATEWAY}-${n}`, 80, 180_000)).localPort);
    const list = async () => {
      const res = await fetch(`http://127.0.0.1:${local.get('t1')}/.well-known/xmpp-web-nodes.json?domain=${SANDBOX_DOMAIN}`, { signal: AbortSignal.timeout(5_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return res.json();
    };
    await until('three Ready gateway pods publishing three ready nodes', 240_000, async () => {
      const body = (await list()) as { nodes: Array<{ ready: boolean }> };
      return body.nodes.length === 3 && body.nodes.every((n) => n.ready) ? true : undefined;
    });
    const edge = await startEdge(list, local);
    cleanups.push(() => edge.close());

    const nodes = nodeNames.map((name) => ({
      name,
      websocketUrl: `ws://127.0.0.1:${local.get(name)}/xmpp-websocket`,
      boshUrl: `http://127.0.0.1:${local.get(name)}/http-bind`,
    }));
    const demoUrl = `${demo.url('dev/sandbox/demo/index.html')}?domain=${SANDBOX_DOMAIN}&discovery=${encodeURIComponent(edge.url)}`;
    return {
      nodes,
      discoveryUrl: edge.url,
      demoUrl,
      kubeconfigPath: cluster.controlPlane.kubeconfigPath,
      kubectlPath: cluster.controlPlane.binaries.kubectl,
      cluster,
      prosody,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
