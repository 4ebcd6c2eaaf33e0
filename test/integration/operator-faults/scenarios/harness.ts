// Shared pieces of the operator fault scenarios (test/integration/operator-faults, a small sample for CI, and
// test/chaos/operator, the long runs): sizes by scale, a seeded random source, a control plane with the CRD,
// operator replicas as CLI child processes (each with its own log file and metrics port), the gateways the
// scenarios create and change, and the audit that decides convergence: every object carrying our managed-by
// label is listed and compared with what buildDesired (and the selfManaged certificate plan) says should
// exist, content included, certificates checked on their own, status with the latest observedGeneration.
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import type { XmppWebGateway } from '../../../../src/operator/api/types.ts';
import { applyReason, withAppliedHash } from '../../../../src/operator/controller/apply.ts';
import { operatorClusterRole } from '../../../../src/operator/controller/rbac.ts';
import { LABEL_NODE, buildDesired, certificatePlan, names, observeDeployment } from '../../../../src/operator/desired/index.ts';
import type { ControlPlane, ControlPlaneOptions } from '../../../../dev/cluster/control-plane.ts';
import { freePorts } from '../../../../dev/cluster/http.ts';
import { spawnBounded, tailFile, type BoundedProcess } from '../../../../dev/harness/process.ts';
import { REPO, Api, ApiFailure, eventually, gateway, gatewayPath, requestWithType, sleep, startClusterWithCrd, testDir, type Obj } from '../../operator/helpers.ts';

export { Api, ApiFailure, eventually, gateway, gatewayPath, sleep, REPO as REPO_ROOT, type Obj };

// -- sizes

/** ci: the small sample run in CI; chaos: the long runs of `npm run test:chaos`. XWG_CHAOS_SCALE overrides. */
export type Scale = 'ci' | 'chaos';

export function scaleFromEnv(fallback: Scale): Scale {
  const v = process.env.XWG_CHAOS_SCALE;
  return v === 'ci' || v === 'chaos' ? v : fallback;
}

export const sized = <T>(scale: Scale, ci: T, chaos: T): T => (scale === 'ci' ? ci : chaos);

/** mulberry32: the same seed gives the same kill points and changes (XWG_CHAOS_SEED overrides). */
export function seededRandom(defaultSeed: number): { seed: number; next(): number; int(min: number, max: number): number; pick<T>(xs: readonly T[]): T } {
  const env = Number(process.env.XWG_CHAOS_SEED);
  const seed = Number.isInteger(env) && env > 0 ? env : defaultSeed;
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { seed, next, int: (min, max) => min + Math.floor(next() * (max - min + 1)), pick: (xs) => xs[Math.floor(next() * xs.length)]! };
}

/** One line per scenario with its figures, for the run's output. */
export function report(scenario: string, figures: Record<string, unknown>): void {
  console.log(`[operator-faults] ${scenario}: ${JSON.stringify(figures)}`);
}

export const elapsed = (t0: number) => Date.now() - t0;

// -- the cluster

export const IMAGE = 'registry.example.invalid/xmpp-web-gateway:chaos';
export const OPERATOR_NS = 'xwg-system';
export const LEASE_PATH = `/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NS}/leases/xmpp-web-gateway-operator`;

export interface FaultCluster {
  cp: ControlPlane;
  api: Api;
  /** this run's own directory: kubeconfigs, operator logs, audit log */
  dir: string;
  /** the superuser's kubeconfig */
  kubeconfigPath: string;
  operators: OperatorProc[];
  stop(): Promise<void>;
}

export async function startFaultCluster(
  opts: { apiserverArgs?: (dir: string) => Promise<string[]> | string[]; namespaces?: string[] } & Omit<ControlPlaneOptions, 'apiserverArgs'> = {},
): Promise<FaultCluster> {
  const dir = await testDir();
  const { apiserverArgs, namespaces, ...cpOpts } = opts;
  const { cp, api } = await startClusterWithCrd({
    controllerManager: false,
    maxLifetimeMs: 60 * 60_000,
    ...cpOpts,
    ...(apiserverArgs ? { apiserverArgs: await apiserverArgs(dir.dir) } : {}),
  });
  const kubeconfigPath = path.join(dir.dir, 'kubeconfig');
  await writeFile(kubeconfigPath, cp.kubeconfig, { mode: 0o600 });
  for (const ns of [OPERATOR_NS, ...(namespaces ?? [])]) await api.namespace(ns);
  const operators: OperatorProc[] = [];
  return {
    cp,
    api,
    dir: dir.dir,
    kubeconfigPath,
    operators,
    async stop() {
      await Promise.all(operators.map((o) => o.proc.kill()));
      await cp.stop();
      if (process.env.XWG_KUBE_KEEP !== '1') await dir.remove();
    },
  };
}

/** The tails of every operator log and of the control plane's, for a failure message. */
export async function dumpLogs(c: FaultCluster | undefined, lines = 60): Promise<void> {
  if (!c) return;
  for (const o of c.operators) console.log(`----- operator ${o.name} (${o.identity ?? '?'}) -----\n${await tailFile(o.logFile, lines)}`);
  console.log(await c.cp.logs(30).catch(() => ''));
}

/** Runs a scenario on a fresh cluster; on failure prints the logs before the cluster (and its files) goes. */
export async function withCluster(opts: Parameters<typeof startFaultCluster>[0], fn: (c: FaultCluster) => Promise<void>): Promise<void> {
  const c = await startFaultCluster(opts);
  try {
    await fn(c);
  } catch (e) {
    await dumpLogs(c);
    throw e;
  } finally {
    await c.stop();
  }
}

/** A kubeconfig (file) that reaches the apiserver through `server` (a proxy) instead. */
export async function kubeconfigVia(c: FaultCluster, server: string, file: string): Promise<string> {
  const kc = JSON.parse(c.cp.kubeconfig) as Obj;
  kc.clusters[0].cluster.server = server;
  const p = path.join(c.dir, file);
  await writeFile(p, JSON.stringify(kc), { mode: 0o600 });
  return p;
}

let roleCreated = false;
/** A ServiceAccount of its own for one operator replica (the audit log tells replicas apart by user). */
export async function serviceAccountKubeconfig(c: FaultCluster, name: string): Promise<string> {
  const role = operatorClusterRole('xwg-chaos-operator');
  if (!roleCreated) {
    try {
      await c.api.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', role);
    } catch (e) {
      if (!(e instanceof ApiFailure && e.status === 409)) throw e;
    }
    roleCreated = true;
  }
  await c.api.create(`/api/v1/namespaces/${OPERATOR_NS}/serviceaccounts`, { metadata: { name } });
  await c.api.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name: `xwg-chaos-${name}` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name },
    subjects: [{ kind: 'ServiceAccount', name, namespace: OPERATOR_NS }],
  });
  const tr = await c.api.create(`/api/v1/namespaces/${OPERATOR_NS}/serviceaccounts/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 7200 },
  });
  const p = path.join(c.dir, `${name}.kubeconfig`);
  await writeFile(
    p,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'harness', cluster: { server: c.cp.server, 'certificate-authority-data': Buffer.from(c.cp.ca).toString('base64') } }],
      users: [{ name, user: { token: tr.status.token } }],
      contexts: [{ name, context: { cluster: 'harness', user: name, namespace: OPERATOR_NS } }],
      'current-context': name,
    }),
    { mode: 0o600 },
  );
  return p;
}

// -- operator replicas (the CLI, as in the Deployment)

export interface OperatorSpawnOptions {
  kubeconfigPath?: string;
  leaseMs?: number;
  renewMs?: number;
  retryMs?: number;
  workers?: number;
  /** wait for /readyz (default true) */
  waitReady?: boolean;
}

export interface LogEvent {
  time: number;
  level: number;
  msg: string;
  [k: string]: unknown;
}

export class OperatorProc {
  readonly name: string;
  readonly proc: BoundedProcess;
  readonly port: number;
  readonly logFile: string;
  readonly startedAt = Date.now();
  identity: string | undefined;

  private constructor(name: string, proc: BoundedProcess, port: number, logFile: string) {
    this.name = name;
    this.proc = proc;
    this.port = port;
    this.logFile = logFile;
  }

  static async start(c: FaultCluster, name: string, o: OperatorSpawnOptions = {}): Promise<OperatorProc> {
    const [port] = (await freePorts(1)) as [number];
    const logFile = path.join(c.dir, `operator-${name}.log`);
    const lease = o.leaseMs ?? 4_000;
    const proc = spawnBounded({
      name: `operator-${name}`,
      command: process.execPath,
      args: [
        path.join(REPO, 'src/cli/main.ts'),
        'operator',
        `--kubeconfig=${o.kubeconfigPath ?? c.kubeconfigPath}`,
        `--leader-election-namespace=${OPERATOR_NS}`,
        `--leader-elect-lease-duration=${lease}ms`,
        `--leader-elect-renew-deadline=${o.renewMs ?? 3_000}ms`,
        `--leader-elect-retry-period=${o.retryMs ?? 1_000}ms`,
        `--metrics-port=${port}`,
        '--metrics-bind-address=127.0.0.1',
        `--gateway-image=${IMAGE}`,
        `--max-concurrent-reconciles=${o.workers ?? 2}`,
        '--log-level=info',
      ],
      cwd: REPO,
      logPath: logFile,
      maxLifetimeMs: 60 * 60_000,
      keepLines: 200,
    });
    const op = new OperatorProc(name, proc, port, logFile);
    c.operators.push(op);
    if (o.waitReady ?? true) await op.waitReady();
    return op;
  }

  async waitReady(timeoutMs = 120_000): Promise<void> {
    await eventually(
      `operator ${this.name} ready`,
      async () => {
        if (!this.proc.isRunning()) throw new Error(`operator ${this.name} exited: ${await tailFile(this.logFile, 20)}`);
        return (await fetch(`http://127.0.0.1:${this.port}/readyz`, { signal: AbortSignal.timeout(5_000) })).status === 200;
      },
      timeoutMs,
      100,
    );
    this.identity ??= (await this.events()).find((e) => typeof e.identity === 'string')?.identity as string | undefined;
  }

  async metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.port}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  }

  /** leader_election_master_status; false when the process does not answer. */
  async isLeader(): Promise<boolean> {
    try {
      return /^leader_election_master_status\{name="xmpp-web-gateway-operator"\} 1$/m.test(await this.metrics());
    } catch {
      return false;
    }
  }

  /** Sum of controller_runtime_reconcile_total with this result (success, requeue_after, error). */
  async reconciles(result?: string): Promise<number> {
    let n = 0;
    for (const line of (await this.metrics()).split('\n')) {
      if (!line.startsWith('controller_runtime_reconcile_total{')) continue;
      if (result !== undefined && !line.includes(`result="${result}"`)) continue;
      n += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return n;
  }

  /** Its pino log, parsed. */
  async events(): Promise<LogEvent[]> {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    const out: LogEvent[] = [];
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as LogEvent);
      } catch {
        // a line cut by SIGKILL
      }
    }
    return out;
  }

  /** SIGKILL to its process group: no release of the Lease, no clean-up. */
  async kill(): Promise<void> {
    await this.proc.kill();
  }
}

export async function leaseHolder(api: Api): Promise<string | undefined> {
  return ((await api.find(LEASE_PATH))?.spec?.holderIdentity as string | undefined) || undefined;
}

/** Waits until `op` holds the Lease and reports it; returns how long that took. */
export async function waitLeader(api: Api, op: OperatorProc, timeoutMs = 90_000): Promise<number> {
  const t0 = Date.now();
  await eventually(`${op.name} leads`, async () => op.identity !== undefined && (await leaseHolder(api)) === op.identity && (await op.isLeader()), timeoutMs, 100);
  return elapsed(t0);
}

// -- gateways

export interface GatewayShape {
  nodes: string[];
  maxConnections?: number;
  tls?: Obj;
}

export const nodeHost = (gw: string, node: string) => `${node}.${gw}.chaos.example`;

export function gatewaySpec(name: string, s: GatewayShape): Obj {
  return {
    domains: ['example.com'],
    upstream: { host: 'xmpp.example.com' },
    nodes: s.nodes.map((n) => ({ name: n, host: nodeHost(name, n) })),
    ...(s.maxConnections === undefined ? {} : { limits: { maxConnections: s.maxConnections } }),
    ...(s.tls === undefined ? {} : { tls: s.tls }),
  };
}

export async function createGateway(api: Api, ns: string, name: string, s: GatewayShape): Promise<Obj> {
  return api.create(gatewayPath(ns), gateway(ns, name, gatewaySpec(name, s)));
}

/** Replaces the spec through a merge patch (lists whole): a new generation. */
export async function setGateway(api: Api, ns: string, name: string, s: GatewayShape): Promise<Obj> {
  return api.mergePatch(gatewayPath(ns, name), { spec: gatewaySpec(name, s) });
}

export const gatewayName = (i: number) => `gw${String(i).padStart(3, '0')}`;

// -- what exists, and what should

export const OWNED_KINDS = [
  { kind: 'ConfigMap', path: '/api/v1', resource: 'configmaps' },
  { kind: 'Secret', path: '/api/v1', resource: 'secrets' },
  { kind: 'Service', path: '/api/v1', resource: 'services' },
  { kind: 'Deployment', path: '/apis/apps/v1', resource: 'deployments' },
  { kind: 'PodDisruptionBudget', path: '/apis/policy/v1', resource: 'poddisruptionbudgets' },
  { kind: 'Ingress', path: '/apis/networking.k8s.io/v1', resource: 'ingresses' },
] as const;
const MANAGED_SELECTOR = 'labelSelector=app.kubernetes.io%2Fmanaged-by%3Dxmpp-web-gateway-operator';

export async function listManaged(api: Api, ns: string): Promise<Obj[]> {
  const lists = await Promise.all(
    OWNED_KINDS.map(async (k) => (await api.items(`${k.path}/namespaces/${ns}/${k.resource}?${MANAGED_SELECTOR}`)).map((o) => ({ ...o, kind: k.kind }))),
  );
  return lists.flat();
}

export async function listGateways(api: Api, ns: string): Promise<XmppWebGateway[]> {
  return (await api.items(gatewayPath(ns))) as unknown as XmppWebGateway[];
}

export interface Audit {
  gateways: number;
  objects: number;
  /** desired objects that do not exist */
  missing: string[];
  /** objects of ours that should not exist: owned by a gateway that does not want them, or by none */
  orphans: string[];
  /** more than one object in one role (kind, component, node) of one gateway */
  duplicates: string[];
  /** desired objects whose live content differs from the desired content */
  drift: string[];
  /** selfManaged certificates that are not valid for their node, or not signed by the gateway's CA */
  badCerts: string[];
  /** gateways whose status is not of their latest generation */
  staleStatus: string[];
  /** look-alikes (our labels, not owned by the gateway they name) that the scenario made and that are gone */
  lookAlikesGone: string[];
}

export const clean = (a: Audit) =>
  [a.missing, a.orphans, a.duplicates, a.drift, a.badCerts, a.staleStatus, a.lookAlikesGone].every((l) => l.length === 0);

export const summary = (a: Audit) =>
  JSON.stringify(
    Object.fromEntries(Object.entries(a).map(([k, v]) => [k, Array.isArray(v) ? (v.length > 8 ? [...v.slice(0, 8), `… ${v.length - 8} more`] : v) : v])),
  );

const ref = (o: Obj) => `${o.kind} ${o.metadata.name}`;
const controllerRef = (o: Obj): Obj | undefined => (o.metadata.ownerReferences as Obj[] | undefined)?.find((r) => r.controller === true);

export interface AuditOptions {
  /** objects (`Kind name`) the scenario made to look like ours: they must still exist, and are not orphans */
  lookAlikes?: readonly string[];
  /** check certificates only on their own, not against the renewal plan (renewals are due all the time) */
  renewing?: boolean;
  now?: Date;
}

/** Lists everything and compares it with the desired state of every gateway of the namespace. */
export async function audit(api: Api, ns: string, o: AuditOptions = {}): Promise<Audit> {
  const [gateways, objects] = await Promise.all([listGateways(api, ns), listManaged(api, ns)]);
  const now = o.now ?? new Date();
  const a: Audit = { gateways: gateways.length, objects: objects.length, missing: [], orphans: [], duplicates: [], drift: [], badCerts: [], staleStatus: [], lookAlikesGone: [] };
  const lookAlikes = new Set(o.lookAlikes ?? []);
  const byUid = new Map(gateways.map((g) => [g.metadata.uid!, g]));
  const owned = new Map<string, Obj[]>();
  for (const obj of objects) {
    const r = controllerRef(obj);
    const gw = r?.kind === 'XmppWebGateway' ? byUid.get(r.uid as string) : undefined;
    if (lookAlikes.has(ref(obj))) continue;
    if (!gw || gw.metadata.name !== obj.metadata.labels?.['xwg.io/gateway']) {
      a.orphans.push(`${ref(obj)} (owner ${r ? `${r.name} ${r.uid}` : 'none'})`);
      continue;
    }
    const list = owned.get(gw.metadata.uid!) ?? [];
    list.push(obj);
    owned.set(gw.metadata.uid!, list);
  }
  const present = new Set(objects.map(ref));
  for (const l of lookAlikes) if (!present.has(l)) a.lookAlikesGone.push(l);

  for (const gw of gateways) {
    const name = gw.metadata.name!;
    if (gw.status?.observedGeneration !== gw.metadata.generation) {
      a.staleStatus.push(`${name} observedGeneration ${gw.status?.observedGeneration ?? '-'} of ${gw.metadata.generation}`);
    }
    const mine = owned.get(gw.metadata.uid!) ?? [];
    const live = new Map(mine.map((x) => [ref(x), x]));
    const roles = new Map<string, string[]>();
    for (const x of mine) {
      const role = `${x.kind}/${x.metadata.labels?.['app.kubernetes.io/component'] ?? '?'}/${x.metadata.labels?.[LABEL_NODE] ?? ''}`;
      roles.set(role, [...(roles.get(role) ?? []), x.metadata.name as string]);
    }
    for (const [role, ns2] of roles) if (ns2.length > 1) a.duplicates.push(`${name}: ${role}: ${ns2.join(', ')}`);

    const readiness = Object.fromEntries(
      mine.filter((x) => x.kind === 'Deployment').map((d) => [d.metadata.labels?.[LABEL_NODE] as string, observeDeployment(d as V1Deployment).ready]),
    );
    let desired;
    try {
      desired = buildDesired(gw, { defaultImage: IMAGE, certManagerAvailable: false, nodeReadiness: readiness });
    } catch (e) {
      a.drift.push(`${name}: desired state not buildable: ${String(e)}`);
      continue;
    }
    const wanted = new Set<string>();
    for (const d of desired.objects) {
      const id = ref(d as Obj);
      wanted.add(id);
      const l = live.get(id);
      if (!l) {
        a.missing.push(`${name}: ${id}`);
        continue;
      }
      const why = applyReason(withAppliedHash(d), { ...(l as KubernetesObject), apiVersion: d.apiVersion! });
      if (why !== undefined) a.drift.push(`${name}: ${id}: ${why}`);
    }
    // Secrets: the CA and one per node, checked as certificates.
    const secrets = mine.filter((x) => x.kind === 'Secret');
    const caName = names.caSecret(name);
    const leafNames = desired.nodes.map((n) => n.tlsSecretName);
    for (const s of [caName, ...leafNames]) {
      wanted.add(`Secret ${s}`);
      if (!live.has(`Secret ${s}`)) a.missing.push(`${name}: Secret ${s}`);
    }
    const ca = live.get(`Secret ${caName}`);
    if (ca) {
      const caProblem = checkCa(ca, now);
      if (caProblem) a.badCerts.push(`${name}: ${caProblem}`);
      else
        for (const n of desired.nodes) {
          const leaf = live.get(`Secret ${n.tlsSecretName}`);
          if (!leaf) continue;
          const p = checkLeaf(leaf, ca, n.host, now);
          if (p) a.badCerts.push(`${name}: ${p}`);
        }
    }
    if (!o.renewing && ca) {
      const plan = certificatePlan(gw, secrets as never, now);
      for (const step of [plan?.ca, ...(plan?.leaves ?? [])]) {
        if (step && step.action !== 'keep') a.badCerts.push(`${name}: plan says ${step.action} ${step.secretName}: ${step.reason}`);
      }
    }
    for (const x of mine) if (!wanted.has(ref(x))) a.orphans.push(`${ref(x)} (of ${name}, not desired)`);
  }
  return a;
}

const pemOf = (s: Obj, key: string) => Buffer.from((s.data?.[key] as string | undefined) ?? '', 'base64').toString('utf8');

function checkCa(s: Obj, now: Date): string | undefined {
  try {
    const cert = new X509Certificate(pemOf(s, 'tls.crt'));
    if (!cert.ca) return `${ref(s)}: not a CA`;
    if (!cert.checkPrivateKey(createPrivateKey(pemOf(s, 'tls.key')))) return `${ref(s)}: key does not match`;
    if (new Date(cert.validTo) <= now || new Date(cert.validFrom) > now) return `${ref(s)}: not valid now`;
    return undefined;
  } catch (e) {
    return `${ref(s)}: ${String(e)}`;
  }
}

function checkLeaf(s: Obj, caSecret: Obj, host: string, now: Date): string | undefined {
  try {
    const ca = new X509Certificate(pemOf(caSecret, 'tls.crt'));
    const cert = new X509Certificate(pemOf(s, 'tls.crt'));
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return `${ref(s)}: not signed by the gateway's CA`;
    if (!cert.checkPrivateKey(createPrivateKey(pemOf(s, 'tls.key')))) return `${ref(s)}: key does not match`;
    if (cert.checkHost(host) === undefined) return `${ref(s)}: not valid for ${host}`;
    if (new Date(cert.validTo) <= now || new Date(cert.validFrom) > now) return `${ref(s)}: not valid now (${cert.validFrom} – ${cert.validTo})`;
    if (pemOf(s, 'ca.crt').trim() !== pemOf(caSecret, 'tls.crt').trim()) return `${ref(s)}: ca.crt is not the gateway's CA`;
    return undefined;
  } catch (e) {
    return `${ref(s)}: ${String(e)}`;
  }
}

/** Polls the audit until it is clean; returns how long that took and the last audit. */
export async function waitConverged(api: Api, ns: string, what: string, timeoutMs: number, o: AuditOptions = {}): Promise<{ ms: number; audit: Audit }> {
  const t0 = Date.now();
  let last: Audit | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await audit(api, ns, o);
      lastError = undefined;
      if (clean(last)) return { ms: elapsed(t0), audit: last };
    } catch (e) {
      lastError = e;
    }
    if (elapsed(t0) > timeoutMs) {
      throw new Error(`${what}: not converged after ${timeoutMs} ms: ${last ? summary(last) : ''} ${lastError ? String(lastError) : ''}`);
    }
    await sleep(1_000);
  }
}

/** sha256 fingerprint of tls.crt of every Secret of ours. */
export async function certFingerprints(api: Api, ns: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const s of await api.items(`/api/v1/namespaces/${ns}/secrets?${MANAGED_SELECTOR}`)) {
    out.set(s.metadata.name as string, createHash('sha256').update(pemOf(s, 'tls.crt')).digest('hex').slice(0, 16));
  }
  return out;
}

/** resourceVersion of every object of ours and of every gateway (a status write changes it). */
export async function resourceVersions(api: Api, ns: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const o of await listManaged(api, ns)) out.set(ref(o), o.metadata.resourceVersion as string);
  for (const g of await listGateways(api, ns)) out.set(`XmppWebGateway ${g.metadata.name}`, g.metadata.resourceVersion!);
  return out;
}

export function changed(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => before.get(k) !== after.get(k)).sort();
}

/** The number of gateways whose status is of their latest generation. */
export async function convergedGateways(api: Api, ns: string): Promise<number> {
  return (await listGateways(api, ns)).filter((g) => g.status?.observedGeneration === g.metadata.generation).length;
}

// -- a TCP proxy in front of the apiserver, to cut the operator off

export interface CuttableProxy {
  url: string;
  /** connections cut so far */
  readonly cuts: number;
  /** closes every connection; refuses new ones until restore() */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startProxy(target: string): Promise<CuttableProxy> {
  const t = new URL(target);
  const sockets = new Set<net.Socket>();
  let blocked = false;
  let cuts = 0;
  const server = net.createServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(t.port), t.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    get cuts() {
      return cuts;
    },
    cut() {
      blocked = true;
      cuts += sockets.size / 2;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      blocked = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

// -- writes of other clients

/** A request as the superuser with a content type of choice (server-side apply, merge patch). */
export function rawRequest(c: FaultCluster, method: string, p: string, body: unknown, contentType = 'application/json'): Promise<Obj> {
  return requestWithType(c.cp, method, p, body, contentType);
}

/** Server-side apply with force under another field manager. */
export function applyAs(c: FaultCluster, manager: string, p: string, obj: Obj): Promise<Obj> {
  return rawRequest(c, 'PATCH', `${p}?fieldManager=${encodeURIComponent(manager)}&force=true`, obj, 'application/apply-patch+yaml');
}
