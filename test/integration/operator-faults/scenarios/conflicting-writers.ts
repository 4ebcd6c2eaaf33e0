// Scenario 4: other writers. Another field manager server-side-applies (with force) a different replica
// count, container image and Service targetPort on objects the operator owns, adding fields of its own; a
// kubectl-edit-style update (PUT) changes a Service port in place and a replica count. The operator restores
// its values and leaves the other manager's own fields alone. Objects that look like ours (our labels) but
// that the gateway does not own (no owner reference, another gateway as controller, a stale owner uid)
// are never deleted nor changed.
import { expect } from 'vitest';
import {
  IMAGE,
  OperatorProc,
  applyAs,
  createGateway,
  dumpLogs,
  elapsed,
  eventually,
  gatewayName,
  gatewayPath,
  rawRequest,
  report,
  setGateway,
  sized,
  sleep,
  startFaultCluster,
  waitConverged,
  waitLeader,
  type FaultCluster,
  type Obj,
  type Scale,
} from './harness.ts';

const NS = 'conflict';
const OTHER = 'chaos-other-manager';
const EDITOR = 'kubectl-edit';

const deploymentPath = (name?: string) => `/apis/apps/v1/namespaces/${NS}/deployments${name ? `/${name}` : ''}`;
const servicePath = (name?: string) => `/api/v1/namespaces/${NS}/services${name ? `/${name}` : ''}`;
const container = (d: Obj) => (d.spec.template.spec.containers as Obj[]).find((c) => c.name === 'gateway')!;
const managers = (o: Obj) => ((o.metadata.managedFields as Obj[] | undefined) ?? []).map((m) => m.manager as string);

function ourLabels(gw: string, component: string, node?: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'xmpp-web-gateway',
    'app.kubernetes.io/instance': gw,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/managed-by': 'xmpp-web-gateway-operator',
    'xwg.io/gateway': gw,
    ...(node === undefined ? {} : { 'xwg.io/node': node }),
  };
}

export async function conflictingWritersScenario(scale: Scale): Promise<void> {
  const gateways = sized(scale, 2, 10);
  const rounds = sized(scale, 1, 5);
  let c: FaultCluster | undefined;
  try {
    c = await startFaultCluster({ namespaces: [NS] });
    const cl = c;
    const api = c.api;
    const op = await OperatorProc.start(c, 'cw');
    await waitLeader(api, op);
    for (let i = 0; i < gateways; i++) await createGateway(api, NS, gatewayName(i), { nodes: ['a', 'b', 'c'], maxConnections: 10 });
    await waitConverged(api, NS, 'initial', 180_000);

    const restores: Record<string, number[]> = { ssaReplicasImage: [], ssaServiceTargetPort: [], putServicePort: [], putReplicas: [] };
    const timed = async (what: keyof typeof restores, check: () => Promise<boolean>) => {
      const t0 = Date.now();
      await eventually(`operator restores ${what}`, async () => (await check()) || undefined, 90_000, 100);
      restores[what]!.push(elapsed(t0));
    };

    let injected = 0;
    for (let round = 1; round <= rounds; round++) {
      for (let i = 0; i < gateways; i++) {
        const g = gatewayName(i);
        // 1. SSA with force by another manager: replicas, image; plus an annotation and an env var of its own.
        await applyAs(cl, OTHER, deploymentPath(`${g}-a`), {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: `${g}-a`, namespace: NS, annotations: { 'other.example/owner': `team-${round}` } },
          spec: { replicas: 5, template: { spec: { containers: [{ name: 'gateway', image: 'other.example/not-ours:1', env: [{ name: 'OTHER_VAR', value: `kept-${round}` }] }] } } },
        });
        injected++;
        await timed('ssaReplicasImage', async () => {
          const d = await api.get(deploymentPath(`${g}-a`));
          return d.spec.replicas === 1 && container(d).image === IMAGE;
        });
        const d = await api.get(deploymentPath(`${g}-a`));
        expect(d.metadata.annotations['other.example/owner'], 'the other manager\'s annotation').toBe(`team-${round}`);
        expect((container(d).env as Obj[] | undefined)?.find((e) => e.name === 'OTHER_VAR')?.value, 'the other manager\'s env var').toBe(`kept-${round}`);
        expect(managers(d)).toContain(OTHER);

        // 2. SSA with force: the targetPort of the operator's https port, and a label of its own.
        await applyAs(cl, OTHER, servicePath(`${g}-a`), {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: `${g}-a`, namespace: NS, labels: { 'other.example/tier': `edge-${round}` } },
          spec: { ports: [{ port: 443, protocol: 'TCP', targetPort: 9443 }] },
        });
        injected++;
        await timed('ssaServiceTargetPort', async () => {
          const s = await api.get(servicePath(`${g}-a`));
          return (s.spec.ports as Obj[]).length === 1 && s.spec.ports[0].targetPort === 'https';
        });
        expect((await api.get(servicePath(`${g}-a`))).metadata.labels['other.example/tier'], 'the other manager\'s label').toBe(`edge-${round}`);

        // 3. kubectl edit: the https port changed in place (443 → 8443), an annotation added.
        const svc = await api.get(servicePath(`${g}-b`));
        svc.spec.ports[0].port = 8443;
        svc.metadata.annotations = { ...svc.metadata.annotations, 'other.example/edited': `yes-${round}` };
        await rawRequest(cl, 'PUT', `${servicePath(`${g}-b`)}?fieldManager=${EDITOR}`, svc);
        injected++;
        await timed('putServicePort', async () => {
          const s = await api.get(servicePath(`${g}-b`));
          const ports = s.spec.ports as Obj[];
          return ports.length === 1 && ports[0]!.port === 443 && ports[0]!.name === 'https';
        });
        expect((await api.get(servicePath(`${g}-b`))).metadata.annotations['other.example/edited'], 'the editor\'s annotation').toBe(`yes-${round}`);

        // 4. kubectl edit: replicas and image of another node.
        const dep = await api.get(deploymentPath(`${g}-b`));
        dep.spec.replicas = 3;
        container(dep).image = 'other.example/edited:2';
        await rawRequest(cl, 'PUT', `${deploymentPath(`${g}-b`)}?fieldManager=${EDITOR}`, dep);
        injected++;
        await timed('putReplicas', async () => {
          const x = await api.get(deploymentPath(`${g}-b`));
          return x.spec.replicas === 1 && container(x).image === IMAGE;
        });
      }
    }

    // Look-alikes: our labels, but not the gateway's own children.
    const g0 = await api.get(gatewayPath(NS, gatewayName(0)));
    const g1 = await api.get(gatewayPath(NS, gatewayName(1)));
    const n0 = gatewayName(0);
    const lookAlikes: Obj[] = [
      {
        path: `/api/v1/namespaces/${NS}/configmaps`,
        obj: { metadata: { name: `${n0}-lookalike`, labels: ourLabels(n0, 'config') }, data: { mine: 'no owner reference' } },
        ref: `ConfigMap ${n0}-lookalike`,
      },
      {
        path: deploymentPath(),
        obj: {
          metadata: {
            name: `${n0}-impostor`,
            labels: ourLabels(n0, 'node', 'zz'),
            ownerReferences: [{ apiVersion: 'xwg.io/v1alpha1', kind: 'XmppWebGateway', name: g1.metadata.name, uid: g1.metadata.uid, controller: true }],
          },
          spec: {
            replicas: 0,
            selector: { matchLabels: { 'xwg.io/gateway': n0, 'xwg.io/node': 'zz' } },
            template: { metadata: { labels: { 'xwg.io/gateway': n0, 'xwg.io/node': 'zz' } }, spec: { containers: [{ name: 'x', image: 'other.example/x:1' }] } },
          },
        },
        ref: `Deployment ${n0}-impostor`,
      },
      {
        path: `/api/v1/namespaces/${NS}/secrets`,
        obj: {
          metadata: {
            name: `${n0}-stale-tls`,
            labels: ourLabels(n0, 'certificate', 'a'),
            ownerReferences: [{ apiVersion: 'xwg.io/v1alpha1', kind: 'XmppWebGateway', name: n0, uid: '00000000-0000-4000-8000-000000000000', controller: true }],
          },
          data: { note: Buffer.from('a gateway of the same name, long gone').toString('base64') },
        },
        ref: `Secret ${n0}-stale-tls`,
      },
      {
        path: servicePath(),
        obj: {
          metadata: {
            name: `${n0}-shared`,
            labels: ourLabels(n0, 'node', 'a'),
            ownerReferences: [{ apiVersion: 'xwg.io/v1alpha1', kind: 'XmppWebGateway', name: n0, uid: g0.metadata.uid, controller: false }],
          },
          spec: { type: 'ClusterIP', ports: [{ port: 80 }], selector: { app: 'other' } },
        },
        ref: `Service ${n0}-shared`,
      },
    ];
    const rvs = new Map<string, string>();
    for (const l of lookAlikes) {
      const created = await api.create(l.path as string, l.obj);
      rvs.set(l.ref as string, created.metadata.resourceVersion as string);
    }
    // Changes to both gateways: each is reconciled (and pruned) at least once more.
    const t0 = Date.now();
    for (const i of [0, 1]) await setGateway(api, NS, gatewayName(i), { nodes: ['a', 'b', 'c'], maxConnections: 1000 + i });
    const { audit: final, ms } = await waitConverged(api, NS, 'with look-alikes', 120_000, { lookAlikes: lookAlikes.map((l) => l.ref as string) });
    await sleep(3_000);
    for (const l of lookAlikes) {
      const [kind, name] = (l.ref as string).split(' ') as [string, string];
      const live = await api.find(`${l.path as string}/${name}`);
      expect(live, `${kind} ${name} survives`).toBeDefined();
      expect(live!.metadata.resourceVersion, `${kind} ${name} is not written`).toBe(rvs.get(l.ref as string));
    }
    const again = await waitConverged(api, NS, 'with look-alikes, later', 60_000, { lookAlikes: lookAlikes.map((l) => l.ref as string) });

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    report('conflicting writers and look-alikes', {
      scale,
      gateways,
      rounds,
      conflictsInjected: injected,
      restoreMs: Object.fromEntries(Object.entries(restores).map(([k, v]) => [k, { n: v.length, median: median(v), max: Math.max(...v) }])),
      lookAlikes: lookAlikes.length,
      lookAlikesSurvived: lookAlikes.length - again.audit.lookAlikesGone.length,
      convergedWithLookAlikesMs: ms,
      objects: final.objects,
      orphans: final.orphans.length,
      duplicates: final.duplicates.length,
    });
  } catch (e) {
    await dumpLogs(c);
    throw e;
  } finally {
    await c?.stop();
  }
}
