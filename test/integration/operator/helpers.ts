// Shared pieces of the operator integration tests: the control plane with the CRD installed, raw API calls
// as the superuser, polling, a restricted ServiceAccount for the operator, the apiserver's write counters,
// and an in-memory log that is printed when a test fails.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { pino, type Logger } from 'pino';
import { CRD_FILE } from '../../../src/operator/api/crd.ts';
import type { ApiCall } from '../../../src/operator/controller/kube-client.ts';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../../dev/cluster/control-plane.ts';
import { eventually as poll, step } from '../../../dev/harness/wait.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CERT_MANAGER_CRDS = path.join(REPO, 'test/integration/operator/fixtures/cert-manager-crds.yaml');
export const GATEWAYS = '/apis/xwg.io/v1alpha1';

export type Obj = Record<string, any>;

export { sleep } from '../../../dev/harness/wait.ts';

/** The harness's poll (dev/harness/wait.ts), with the operator tests' interval. */
export function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 200): Promise<Exclude<T, undefined | false>> {
  return poll(what, fn, { timeoutMs, everyMs });
}

export class ApiFailure extends Error {
  readonly status: number;
  readonly body: Obj;
  constructor(method: string, p: string, status: number, body: Obj) {
    super(`${method} ${p}: ${status} ${String(body.message ?? JSON.stringify(body)).slice(0, 500)}`);
    this.status = status;
    this.body = body;
  }
}

/** Raw API calls as the control plane's superuser. */
export class Api {
  readonly cp: ControlPlane;
  constructor(cp: ControlPlane) {
    this.cp = cp;
  }

  async call(method: string, p: string, body?: unknown): Promise<Obj> {
    const res = await this.cp.request(method, p, body);
    const parsed = res.body === '' ? {} : (JSON.parse(res.body) as Obj);
    if (res.status < 200 || res.status >= 300) throw new ApiFailure(method, p, res.status, parsed);
    return parsed;
  }

  get(p: string): Promise<Obj> {
    return this.call('GET', p);
  }

  async find(p: string): Promise<Obj | undefined> {
    try {
      return await this.get(p);
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 404) return undefined;
      throw e;
    }
  }

  async items(p: string): Promise<Obj[]> {
    return ((await this.get(p)).items as Obj[]) ?? [];
  }

  create(p: string, body: unknown): Promise<Obj> {
    return this.call('POST', p, body);
  }

  /** JSON merge patch (ControlPlane.request only sends application/json). */
  mergePatch(p: string, patch: unknown): Promise<Obj> {
    return requestWithType(this.cp, 'PATCH', p, patch, 'application/merge-patch+json');
  }

  delete(p: string): Promise<Obj> {
    return this.call('DELETE', p);
  }

  namespace(name: string): Promise<Obj> {
    return this.create('/api/v1/namespaces', { metadata: { name } });
  }
}

/** A request as the superuser with a content type of choice (server-side apply, merge patch); strings go as they are. */
export async function requestWithType(cp: ControlPlane, method: string, p: string, body: unknown, contentType: string): Promise<Obj> {
  return new Promise((resolve, reject) => {
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    const req = https.request(cp.server + p, {
      method,
      ca: cp.ca,
      cert: cp.clientCert,
      key: cp.clientKey,
      headers: { 'content-type': contentType, accept: 'application/json' },
      timeout: 20_000,
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const parsed = text === '' ? {} : (JSON.parse(text) as Obj);
        if ((res.statusCode ?? 0) >= 300) reject(new ApiFailure(method, p, res.statusCode ?? 0, parsed));
        else resolve(parsed);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${p}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function installCrds(api: Api, docs: Obj[]): Promise<void> {
  for (const doc of docs) {
    try {
      await api.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', doc);
    } catch (e) {
      if (!(e instanceof ApiFailure && e.status === 409)) throw e;
    }
  }
  for (const doc of docs) {
    const name = doc.metadata.name as string;
    await eventually(`CRD ${name} established`, async () => {
      const crd = await api.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
      return (crd.status?.conditions as Obj[] | undefined)?.some((c) => c.type === 'Established' && c.status === 'True');
    });
  }
  // Discovery follows the Established condition by a moment.
  for (const doc of docs) {
    const gv = `${doc.spec.group}/${doc.spec.versions[0].name}`;
    await eventually(`${gv} ${doc.spec.names.plural} in discovery`, async () =>
      ((await api.find(`/apis/${gv}`))?.resources as Obj[] | undefined)?.some((r) => r.name === doc.spec.names.plural),
    );
  }
}

export function yamlDocs(file: string): Obj[] {
  return (loadAll(readFileSync(file, 'utf8')) as Obj[]).filter((d) => d !== null && d !== undefined);
}

/** A control plane with the XmppWebGateway CRD (as committed in crds/) installed. */
export async function startClusterWithCrd(opts: ControlPlaneOptions = {}): Promise<{ cp: ControlPlane; api: Api }> {
  const cp = await step('start the control plane', 180_000, () => startControlPlane({ log: (l) => console.log(`[control-plane] ${l}`), ...opts }));
  const api = new Api(cp);
  await step('install the CRD', 60_000, () => installCrds(api, yamlDocs(path.join(REPO, CRD_FILE))));
  return { cp, api };
}

export function gateway(namespace: string, name: string, spec: Obj): Obj {
  return { apiVersion: 'xwg.io/v1alpha1', kind: 'XmppWebGateway', metadata: { name, namespace }, spec };
}

export const gatewayPath = (ns: string, name?: string) => `${GATEWAYS}/namespaces/${ns}/xmppwebgateways${name ? `/${name}` : ''}`;

export function condition(gw: Obj | undefined, type: string): Obj | undefined {
  return (gw?.status?.conditions as Obj[] | undefined)?.find((c) => c.type === type);
}

/** pino into memory; dump() for failure messages. */
export function memoryLogger(level = 'debug'): { logger: Logger; lines: string[]; dump(filter?: RegExp, max?: number): string } {
  const lines: string[] = [];
  const logger = pino(
    { level },
    {
      write(s: string) {
        lines.push(s.trimEnd());
        if (lines.length > 20_000) lines.splice(0, 5_000);
      },
    },
  );
  return { logger, lines, dump: (filter, max = 200) => lines.filter((l) => !filter || filter.test(l)).slice(-max).join('\n') };
}

/** The superuser's KubeConfig, from the text (files in the control plane's directory may be swept by other runs). */
export function kubeConfigOf(cp: ControlPlane): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(cp.kubeconfig);
  return kc;
}

/** A ServiceAccount bound to a ClusterRole, and a kubeconfig (JSON text) with a token of it. */
export async function serviceAccountKubeconfig(api: Api, namespace: string, name: string, clusterRole: Obj): Promise<string> {
  await api.create(`/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name } });
  await api.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', clusterRole);
  await api.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name: clusterRole.metadata.name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole.metadata.name },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  });
  const tr = await api.create(`/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 7200 },
  });
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'harness', cluster: { server: api.cp.server, 'certificate-authority-data': Buffer.from(api.cp.ca).toString('base64') } }],
    users: [{ name, user: { token: tr.status.token } }],
    contexts: [{ name, context: { cluster: 'harness', user: name, namespace } }],
    'current-context': name,
  });
}

/** A directory of this test file's own (kubeconfigs and logs of operator processes). */
export async function testDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xwg-operator-test-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);

/**
 * Write requests the apiserver served, from apiserver_request_total, by `group/resource[/subresource] VERB`.
 * `include` picks the series (resource, subresource).
 */
export function apiserverWrites(metrics: string, include: (resource: string, subresource: string, group: string) => boolean): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const verb = labels.verb ?? '';
    if (!WRITE_VERBS.has(verb) || !include(labels.resource ?? '', labels.subresource ?? '', labels.group ?? '')) continue;
    const key = `${labels.group ? `${labels.group}/` : ''}${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''} ${verb}`;
    out.set(key, (out.get(key) ?? 0) + value);
  }
  return out;
}

export function diffCounts(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** The resources the operator writes, as the apiserver names them; status only of its own gateways. */
export const OPERATOR_WRITTEN = (resource: string, subresource: string): boolean =>
  ['configmaps', 'secrets', 'services', 'deployments', 'poddisruptionbudgets', 'ingresses', 'certificates', 'xmppwebgateways'].includes(resource) &&
  (subresource === '' || (resource === 'xmppwebgateways' && subresource === 'status'));

/** `apps/deployments patch`, `/apis/cert-manager.io/v1 get` */
export function describeCall(c: ApiCall): string {
  if (c.nonResourceURL !== undefined) return `${c.nonResourceURL} ${c.verb}`;
  return `${c.group ?? ''}/${c.resource}${c.subresource ? `/${c.subresource}` : ''} ${c.verb}`;
}
