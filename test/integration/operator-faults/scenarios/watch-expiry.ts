// Scenario 3: watches expire. The apiserver runs without its watch cache (--watch-cache=false: every watch
// is an etcd watch), the operator reaches it through a proxy the test can cut. While the operator is cut off,
// the gateways' children are changed behind its back (a Deployment and a ConfigMap deleted, an object it
// owns but does not want created, a node renamed), many unrelated writes move etcd's revision on, and etcd
// is compacted (etcd's v3 HTTP gateway, POST /v3/kv/compaction): every resourceVersion the operator's caches
// hold is gone. Reconnected, each watch gets 410 Gone, the caches relist, and what happened while they were
// blind is reconciled.
import { expect } from 'vitest';
import {
  OperatorProc,
  clean,
  createGateway,
  dumpLogs,
  elapsed,
  gatewayName,
  gatewayPath,
  kubeconfigVia,
  report,
  setGateway,
  sized,
  sleep,
  startFaultCluster,
  startProxy,
  waitConverged,
  waitLeader,
  audit,
  type CuttableProxy,
  type FaultCluster,
  type Scale,
} from './harness.ts';

const NS = 'expiry';
const SPAM_NS = 'spam';

async function etcd(c: FaultCluster, op: string, body: unknown): Promise<Record<string, any>> {
  const res = await fetch(`${c.cp.etcdUrl}/v3/kv/${op}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(20_000) });
  const json = (await res.json()) as Record<string, any>;
  if (!res.ok) throw new Error(`etcd ${op}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** The first event of a watch from `resourceVersion` (the superuser's, straight to the apiserver). */
async function firstWatchEvent(c: FaultCluster, p: string, resourceVersion: string): Promise<Record<string, any>> {
  const { default: https } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = https.request(`${c.cp.server}${p}?watch=1&resourceVersion=${resourceVersion}&timeoutSeconds=5`, {
      ca: c.cp.ca,
      cert: c.cp.clientCert,
      key: c.cp.clientKey,
      timeout: 20_000,
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
        const nl = text.indexOf('\n');
        if (nl >= 0) {
          resolve(JSON.parse(text.slice(0, nl)) as Record<string, any>);
          req.destroy();
        }
      });
      res.on('end', () => resolve(text.trim() ? (JSON.parse(text) as Record<string, any>) : { type: 'END', status: res.statusCode }));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function watchExpiryScenario(scale: Scale): Promise<void> {
  const gateways = sized(scale, 3, 20);
  const spamWrites = sized(scale, 60, 1000);
  const rounds = sized(scale, 1, 3);
  let c: FaultCluster | undefined;
  let proxy: CuttableProxy | undefined;
  try {
    c = await startFaultCluster({ namespaces: [NS, SPAM_NS], apiserverArgs: () => ['--watch-cache=false'] });
    const api = c.api;
    proxy = await startProxy(c.cp.server);
    const kubeconfigPath = await kubeconfigVia(c, proxy.url, 'proxied.kubeconfig');
    const op = await OperatorProc.start(c, 'w', { kubeconfigPath });
    await waitLeader(api, op);
    for (let i = 0; i < gateways; i++) await createGateway(api, NS, gatewayName(i), { nodes: ['a', 'b', 'c'] });
    await waitConverged(api, NS, 'initial', 180_000);

    const rows: Record<string, unknown>[] = [];
    let serial = 0;
    for (let round = 1; round <= rounds; round++) {
      const relistsBefore = (await op.events()).filter((e) => /410 Gone/.test(e.msg)).length;
      const oldRv = (await api.get(`/api/v1/namespaces/${NS}/configmaps?limit=1`)).metadata.resourceVersion as string;
      proxy.cut();
      const tCut = Date.now();

      // Behind the operator's back.
      const gw0 = gatewayName(0);
      const gw1 = gatewayName(1 % gateways);
      const gw2 = gatewayName(2 % gateways);
      await api.delete(`/apis/apps/v1/namespaces/${NS}/deployments/${gw0}-a`);
      await api.delete(`/api/v1/namespaces/${NS}/configmaps/${gw2}-config`);
      const owner = await api.get(gatewayPath(NS, gw1));
      await api.create(`/api/v1/namespaces/${NS}/configmaps`, {
        metadata: {
          name: `${gw1}-leftover-${round}`,
          labels: { 'app.kubernetes.io/managed-by': 'xmpp-web-gateway-operator', 'xwg.io/gateway': gw1, 'app.kubernetes.io/component': 'config' },
          ownerReferences: [{ apiVersion: 'xwg.io/v1alpha1', kind: 'XmppWebGateway', name: gw1, uid: owner.metadata.uid, controller: true }],
        },
        data: { stale: 'yes' },
      });
      await setGateway(api, NS, gw1, { nodes: ['a', 'b', `x${++serial}`] });
      // Many writes the operator does not see: etcd's revision moves on.
      for (let i = 0; i < spamWrites; i++) {
        const name = `spam-${round}-${i % 20}`;
        if (i < 20) await api.create(`/api/v1/namespaces/${SPAM_NS}/configmaps`, { metadata: { name }, data: { n: String(i) } });
        else await api.mergePatch(`/api/v1/namespaces/${SPAM_NS}/configmaps/${name}`, { data: { n: String(i) } });
      }
      const revision = String((await etcd(c, 'range', { key: Buffer.from('/registry/').toString('base64') })).header.revision);
      await etcd(c, 'compaction', { revision, physical: true });
      // The expiry is real: a watch from before is refused with 410 Gone.
      const ev = await firstWatchEvent(c, `/api/v1/namespaces/${NS}/configmaps`, oldRv);
      expect(ev.type, JSON.stringify(ev)).toBe('ERROR');
      expect(ev.object?.code).toBe(410);
      const before = await audit(api, NS);
      expect(clean(before), 'the changes behind its back show before it reconnects').toBe(false);
      // Keep the operator cut off past its renew deadline: it loses the Lease too.
      await sleep(Math.max(0, 4_000 - elapsed(tCut)));
      proxy.restore();
      const cutMs = elapsed(tCut);

      const tRestore = Date.now();
      const { ms, audit: after } = await waitConverged(api, NS, `after watch expiry, round ${round}`, 180_000);
      const events = (await op.events()).filter((e) => /410 Gone/.test(e.msg));
      const relisted = new Set(events.slice(relistsBefore).map((e) => e.informer as string));
      for (const informer of ['xmppwebgateways.xwg.io', 'configmaps', 'deployments.apps']) {
        expect([...relisted], `the ${informer} cache relisted after 410 Gone`).toContain(informer);
      }
      expect(await api.find(`/api/v1/namespaces/${NS}/configmaps/${gw1}-leftover-${round}`), 'an owned object no longer desired is pruned').toBeUndefined();
      rows.push({
        round,
        cutMs,
        spamWrites,
        compactedRevision: revision,
        watchFromOldRv: `${ev.type} ${ev.object?.code}`,
        relists: events.length - relistsBefore,
        relistedCaches: [...relisted].sort(),
        convergedAfterReconnectMs: ms,
        sinceRestoreMs: elapsed(tRestore),
        objects: after.objects,
        orphans: after.orphans.length,
        duplicates: after.duplicates.length,
      });
    }
    const events = await op.events();
    report('watch expiry (410) and relist', {
      scale,
      gateways,
      rounds: rows,
      leadershipLost: events.filter((e) => /leadership lost/.test(e.msg)).length,
      becameLeader: events.filter((e) => /became leader/.test(e.msg)).length,
      connectionsCut: proxy.cuts,
    });
  } catch (e) {
    await dumpLogs(c);
    throw e;
  } finally {
    await proxy?.close();
    await c?.stop();
  }
}
