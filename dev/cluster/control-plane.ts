// A real Kubernetes control plane for integration tests and the local sandbox: etcd,
// kube-apiserver and kube-controller-manager (optionally kube-scheduler + kwok fake nodes),
// all on 127.0.0.1 with free ports, in a fresh temp dir, killed when this process exits
// and in any case after `maxLifetimeMs`.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureKubeBinaries, type KubeBinaries } from './binaries.ts';
import { createKeyPair, createTestCa, type PemFiles } from '../harness/pki.ts';
import { spawnBounded, tailFile, type BoundedProcess } from '../harness/process.ts';
import { freePorts, httpsRequest, type HttpResponse } from './http.ts';

export interface KwokOptions {
  /** Fake Nodes to create (default 1), named kwok-node-0... */
  nodes?: number;
  /**
   * CIDR kwok assigns fake Pod IPs from. Default is loopback so nothing can ever send traffic
   * off the machine; note the apiserver refuses loopback addresses in EndpointSlices.
   */
  podCidr?: string;
}

export interface ControlPlaneOptions {
  /** Hard upper lifetime of every process (default 30 min). */
  maxLifetimeMs?: number;
  /** Start kube-controller-manager (default true): GC, Deployment -> ReplicaSet -> Pod, ... */
  controllerManager?: boolean;
  /** Start kube-scheduler and kwok with fake Nodes that run Pods to Ready (default false). */
  kwok?: boolean | KwokOptions;
  /** Prebuilt binaries (default: ensureKubeBinaries()). */
  binaries?: KubeBinaries;
  /** Extra kube-apiserver flags, e.g. ["--feature-gates=..."]. */
  apiserverArgs?: string[];
  /** Extra kube-controller-manager flags. */
  controllerManagerArgs?: string[];
  /** Keep the temp dir after stop() (default: env XWG_KUBE_KEEP=1). */
  keepDir?: boolean;
  /** Timeout for each component to become ready (default 180 s). */
  readyTimeoutMs?: number;
  /** Progress sink (default: silent). */
  log?: (line: string) => void;
  /**
   * Address kube-apiserver binds and advertises (default 127.0.0.1). A real node's pods reach the
   * apiserver through the `kubernetes` Service, whose endpoint must be this address: then it is the host
   * end of the node's veth pair (dev/cluster/node-network.ts), and Endpoints are reconciled normally.
   */
  bindAddress?: string;
  /** Start kube-scheduler (default: with kwok only); a real node needs it too. */
  scheduler?: boolean;
  /** Service ClusterIP range (default 10.0.0.0/24). */
  serviceCidr?: string;
  /** Admit Pods with ServiceAccount tokens, as real clusters do (default: only with a non-loopback bindAddress). */
  serviceAccounts?: boolean;
}

export interface RestartOptions {
  /** SIGKILL instead of SIGTERM. */
  hard?: boolean;
  /** Pause between stop and start, e.g. to let clients see the outage (default 0). */
  downMs?: number;
}

export interface ControlPlaneLogFiles {
  etcd: string;
  apiserver: string;
  controllerManager?: string;
  scheduler?: string;
  kwok?: string;
}

export interface ControlPlane {
  /** Temp dir with certs, kubeconfig, etcd data and logs. */
  dir: string;
  /** Server version, e.g. "v1.34.12". */
  version: string;
  /** https://127.0.0.1:<port> */
  server: string;
  kubeconfigPath: string;
  kubeconfig: string;
  /** Bearer token of a superuser (group system:masters). */
  token: string;
  /** PEM CA that signed the apiserver's serving cert. */
  ca: string;
  /** PEM client cert/key of the kubeconfig's superuser. */
  clientCert: string;
  clientKey: string;
  etcdUrl: string;
  binaries: KubeBinaries;
  logFiles: ControlPlaneLogFiles;
  /** Tails of every component log, for failure messages. */
  logs(tailLines?: number): Promise<string>;
  /** Raw API call as the superuser; path like "/api/v1/namespaces". */
  request(method: string, apiPath: string, body?: unknown): Promise<HttpResponse>;
  /** Prometheus text of the apiserver's /metrics. */
  apiserverMetrics(): Promise<string>;
  /**
   * Stops and starts kube-apiserver on the same port; resolves once /readyz is ok.
   * Graceful (SIGTERM, SIGKILL after 5 s: it can hang after closing its port) unless `hard` (SIGKILL, like a crash).
   */
  restartApiServer(opts?: RestartOptions): Promise<void>;
  /** Stops and starts etcd on the same data dir; resolves once the apiserver is ready again. */
  restartEtcd(opts?: RestartOptions): Promise<void>;
  /** Kills everything at once and removes the temp dir (unless kept). Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const THIRTY_MINUTES = 30 * 60_000;
const DEFAULT_SERVICE_CIDR = '10.0.0.0/24';

/** First address of an IPv4 /n range: the `kubernetes` Service's ClusterIP. */
function firstServiceIp(cidr: string): string {
  const [base] = cidr.split('/');
  const parts = base!.split('.').map(Number);
  parts[3] = (parts[3] ?? 0) + 1;
  return parts.join('.');
}

/** CA, apiserver serving cert, client certs (O=system:masters: superuser under RBAC), service-account keys. */
async function createPki(dir: string, serverIps: string[]) {
  const ca = await createTestCa({ dir, name: 'xmpp-web-gateway-harness-ca', validDays: 2 });
  const client = (commonName: string, organizations: string[] = []) =>
    ca.issue({ commonName, organizations, ipAddresses: [], validDays: 2 });
  const [apiserver, admin, controllerManager, scheduler, kwok, frontProxyClient, serviceAccount] = await Promise.all([
    ca.issue({
      commonName: 'kube-apiserver',
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
      ipAddresses: serverIps,
      validDays: 2,
    }),
    client('harness-admin', ['system:masters']),
    // Superuser rather than the narrow bootstrap role: without --use-service-account-credentials
    // every controller runs as this identity.
    client('system:kube-controller-manager', ['system:masters']),
    client('system:kube-scheduler'),
    client('kwok-controller', ['system:masters']),
    // The apiserver's identity towards aggregated API servers (requestheader auth).
    client('front-proxy-client'),
    createKeyPair(dir, 'service-account'),
  ]);
  return { ca, apiserver, admin, controllerManager, scheduler, kwok, frontProxyClient, serviceAccount };
}

function kubeconfigFor(server: string, ca: string, user: PemFiles): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  // JSON is YAML: kubectl and @kubernetes/client-node both read it.
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'harness', cluster: { server, 'certificate-authority-data': b64(ca) } }],
    users: [{ name: 'harness', user: { 'client-certificate-data': b64(user.certPem), 'client-key-data': b64(user.keyPem) } }],
    contexts: [{ name: 'harness', context: { cluster: 'harness', user: 'harness', namespace: 'default' } }],
    'current-context': 'harness',
  }, null, 2) + '\n';
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Dirs to delete if the process exits without stop(). */
const tempDirs = new Set<string>();
let exitHookInstalled = false;
function removeOnExit(dir: string): void {
  tempDirs.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const d of tempDirs) {
      try {
        rmSync(d, { recursive: true, force: true, maxRetries: 2 });
      } catch {
        // best effort: processes may still be writing
      }
    }
  });
}

const TEMP_PREFIX = 'xwg-kube-';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temp dirs of runs that died by SIGKILL (their processes died with them). */
async function sweepStaleDirs(): Promise<void> {
  const tmp = os.tmpdir();
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    const d = path.join(tmp, name);
    const pid = Number(await readFile(path.join(d, 'owner.pid'), 'utf8').catch(() => ''));
    const kept = await access(path.join(d, 'KEEP')).then(() => true, () => false);
    if (pid && !kept && !isAlive(pid)) await rm(d, { recursive: true, force: true }).catch(() => {});
  }
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? ((): void => {});
  const started = Date.now();
  const deadline = started + (opts.maxLifetimeMs ?? THIRTY_MINUTES);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 180_000;
  const kwok: Required<KwokOptions> | undefined = opts.kwok
    ? { nodes: 1, podCidr: '127.128.0.1/16', ...(opts.kwok === true ? {} : opts.kwok) }
    : undefined;
  const withKcm = opts.controllerManager ?? true;
  const keepDir = opts.keepDir ?? process.env.XWG_KUBE_KEEP === '1';

  const binaries = opts.binaries ?? (await ensureKubeBinaries({ helm: false, kwok: Boolean(kwok) }));
  if (kwok && (!binaries.kwok || !binaries.kwokStages)) throw new Error('kwok requested but binaries.kwok is missing');

  await sweepStaleDirs();
  const dir = await mkdtemp(path.join(os.tmpdir(), TEMP_PREFIX));
  await writeFile(path.join(dir, 'owner.pid'), String(process.pid));
  if (keepDir) await writeFile(path.join(dir, 'KEEP'), 'kept for inspection; delete by hand\n');
  else removeOnExit(dir);
  const file = (n: string): string => path.join(dir, n);
  await mkdir(file('etcd-data'), { mode: 0o700 });
  const bindAddress = opts.bindAddress ?? '127.0.0.1';
  const loopback = bindAddress.startsWith('127.');
  const serviceCidr = opts.serviceCidr ?? DEFAULT_SERVICE_CIDR;
  const serviceAccounts = opts.serviceAccounts ?? !loopback;
  const pki = await createPki(file('pki'), [...new Set(['127.0.0.1', bindAddress, firstServiceIp(serviceCidr)])]);
  const token = randomBytes(24).toString('hex');
  await writeFile(file('tokens.csv'), `${token},harness-admin,harness-admin,"system:masters"\n`, { mode: 0o600 });

  const [apiPort, etcdClientPort, etcdPeerPort, kcmPort, schedPort, kwokPort] = (await freePorts(6)) as [number, number, number, number, number, number];
  const server = `https://${bindAddress}:${apiPort}`;
  const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
  const kubeconfig = kubeconfigFor(server, pki.ca.certPem, pki.admin);
  const kubeconfigPath = file('kubeconfig');
  await writeFile(kubeconfigPath, kubeconfig, { mode: 0o600 });
  const componentKubeconfig = async (name: string, pair: PemFiles): Promise<string> => {
    const p = file(`${name}.kubeconfig`);
    await writeFile(p, kubeconfigFor(server, pki.ca.certPem, pair), { mode: 0o600 });
    return p;
  };

  const logFiles: ControlPlaneLogFiles = { etcd: file('etcd.log'), apiserver: file('kube-apiserver.log') };
  const admin = { ca: pki.ca.certPem, cert: pki.admin.certPem, key: pki.admin.keyPem };
  const request = (method: string, apiPath: string, body?: unknown): Promise<HttpResponse> =>
    httpsRequest(server + apiPath, admin, { method, body });

  const procs: Record<string, BoundedProcess | undefined> = {};
  const logs = async (tailLines = 60): Promise<string> => {
    const parts: string[] = [];
    for (const [name, f] of Object.entries(logFiles)) {
      if (f) parts.push(`----- ${name} (${f}) -----\n${await tailFile(f, tailLines)}`);
    }
    return parts.join('\n');
  };

  /** Polls `check` until true; fails early, with logs, if `proc` dies. */
  const waitFor = async (what: string, proc: BoundedProcess, check: () => Promise<boolean>): Promise<void> => {
    const until = Date.now() + readyTimeoutMs;
    let lastError = '';
    for (;;) {
      if (!proc.isRunning()) {
        const { code, signal } = await proc.exited;
        throw new Error(`${proc.name} exited (code=${code} signal=${signal}) before ${what}:\n${await tailFile(proc.logPath, 80)}`);
      }
      try {
        if (await check()) return;
      } catch (e) {
        lastError = e instanceof Error ? e.message : String(e);
      }
      if (Date.now() > until) {
        throw new Error(`timed out after ${readyTimeoutMs} ms waiting for ${what} (${lastError}):\n${await tailFile(proc.logPath, 80)}`);
      }
      await sleep(250);
    }
  };

  // unref: a running server never keeps this process alive by itself.
  const start = (name: string, command: string, args: string[], logPath: string): BoundedProcess =>
    spawnBounded({ name, command, args, cwd: dir, logPath, maxLifetimeMs: Math.max(1_000, deadline - Date.now()), unref: true });

  const startEtcd = async (): Promise<void> => {
    const peer = `http://127.0.0.1:${etcdPeerPort}`;
    const p = start('etcd', binaries.etcd, [
      '--name=harness',
      `--data-dir=${file('etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=harness=${peer}`,
      '--initial-cluster-state=new',
      // Test data is disposable: skipping fsync makes the apiserver several times faster.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ], logFiles.etcd);
    procs.etcd = p;
    await waitFor('etcd /health', p, async () => {
      const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(5000) });
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    });
  };

  const apiserverReady = async (): Promise<boolean> => (await request('GET', '/readyz')).body === 'ok';
  const startApiserver = async (): Promise<void> => {
    const p = start('kube-apiserver', binaries.apiserver, [
      `--advertise-address=${bindAddress}`,
      `--bind-address=${bindAddress}`,
      `--secure-port=${apiPort}`,
      `--cert-dir=${file('apiserver-certs')}`,
      `--tls-cert-file=${pki.apiserver.certPath}`,
      `--tls-private-key-file=${pki.apiserver.keyPath}`,
      `--client-ca-file=${pki.ca.certPath}`,
      `--token-auth-file=${file('tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--etcd-servers=${etcdUrl}`,
      `--service-cluster-ip-range=${serviceCidr}`,
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${pki.serviceAccount.publicKeyPath}`,
      `--service-account-signing-key-file=${pki.serviceAccount.privateKeyPath}`,
      '--allow-privileged=true',
      // As envtest: Pods need no ServiceAccount to exist first (no race with the SA controller). Pods on a
      // real node need their tokens, as in any cluster.
      ...(serviceAccounts ? [] : ['--disable-admission-plugins=ServiceAccount']),
      // Endpoints may not hold a loopback advertise address; with a real node they must exist.
      `--endpoint-reconciler-type=${loopback ? 'none' : 'lease'}`,
      // The kubelet's serving address is the node's InternalIP (logs, exec, port-forward).
      '--kubelet-preferred-address-types=InternalIP',
      `--kubelet-client-certificate=${pki.admin.certPath}`,
      `--kubelet-client-key=${pki.admin.keyPath}`,
      '--profiling=false',
      // Real clusters set these; without them controller-manager and scheduler log errors
      // forever about the missing requestheader CA in extension-apiserver-authentication.
      `--requestheader-client-ca-file=${pki.ca.certPath}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${pki.frontProxyClient.certPath}`,
      `--proxy-client-key-file=${pki.frontProxyClient.keyPath}`,
      ...(opts.apiserverArgs ?? []),
    ], logFiles.apiserver);
    procs.apiserver = p;
    await waitFor('kube-apiserver /readyz', p, apiserverReady);
  };

  const healthz = (port: number) => async (): Promise<boolean> =>
    (await httpsRequest(`https://127.0.0.1:${port}/healthz`, { insecure: true })).body === 'ok';

  const startControllerManager = async (): Promise<void> => {
    logFiles.controllerManager = file('kube-controller-manager.log');
    const kc = await componentKubeconfig('controller-manager', pki.controllerManager);
    const p = start('kube-controller-manager', binaries.controllerManager, [
      `--kubeconfig=${kc}`,
      `--authentication-kubeconfig=${kc}`,
      `--authorization-kubeconfig=${kc}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--cert-dir=${file('kcm-certs')}`,
      '--leader-elect=false',
      '--controllers=*',
      `--service-cluster-ip-range=${serviceCidr}`,
      `--root-ca-file=${pki.ca.certPath}`,
      `--service-account-private-key-file=${pki.serviceAccount.privateKeyPath}`,
      `--cluster-signing-cert-file=${pki.ca.certPath}`,
      `--cluster-signing-key-file=${pki.ca.keyPath}`,
      ...(opts.controllerManagerArgs ?? []),
    ], logFiles.controllerManager);
    procs.controllerManager = p;
    await waitFor('kube-controller-manager /healthz', p, healthz(kcmPort));
  };

  const startScheduler = async (): Promise<void> => {
    logFiles.scheduler = file('kube-scheduler.log');
    const skc = await componentKubeconfig('scheduler', pki.scheduler);
    const sched = start('kube-scheduler', binaries.scheduler, [
      `--kubeconfig=${skc}`,
      `--authentication-kubeconfig=${skc}`,
      `--authorization-kubeconfig=${skc}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      `--cert-dir=${file('scheduler-certs')}`,
      '--leader-elect=false',
    ], logFiles.scheduler);
    procs.scheduler = sched;
    await waitFor('kube-scheduler /healthz', sched, healthz(schedPort));
  };

  const startKwok = async (k: Required<KwokOptions>): Promise<void> => {
    logFiles.kwok = file('kwok.log');
    const kkc = await componentKubeconfig('kwok', pki.kwok);
    const kw = start('kwok', binaries.kwok!, [
      `--kubeconfig=${kkc}`,
      `--config=${binaries.kwokStages!}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--node-ip=127.0.0.1',
      `--cidr=${k.podCidr}`,
      `--server-address=127.0.0.1:${kwokPort}`,
      '--node-lease-duration-seconds=40',
    ], logFiles.kwok);
    procs.kwok = kw;

    const names = Array.from({ length: k.nodes }, (_, i) => `kwok-node-${i}`);
    for (const name of names) {
      const res = await request('POST', '/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
        },
      });
      if (res.status !== 201 && res.status !== 409) throw new Error(`creating Node ${name}: ${res.status} ${res.body}`);
    }
    for (const name of names) {
      await waitFor(`Node ${name} Ready`, kw, async () => {
        const res = await request('GET', `/api/v1/nodes/${name}`);
        const node = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
        return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      });
    }
  };

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      clearTimeout(lifetimeTimer);
      // Everything is disposable: kill at once rather than wait for graceful shutdowns.
      await Promise.all(Object.values(procs).map((p) => p?.kill()));
      if (!keepDir) {
        await rm(dir, { recursive: true, force: true, maxRetries: 3 });
        tempDirs.delete(dir);
      }
      log(`control plane stopped after ${Math.round((Date.now() - started) / 1000)}s${keepDir ? `; kept ${dir}` : ''}`);
    })();
    return stopped;
  };
  // Node-side twin of the processes' own deadline: also cleans the temp dir.
  const lifetimeTimer = setTimeout(() => void stop(), Math.max(0, deadline - Date.now()));
  lifetimeTimer.unref();

  try {
    log(`starting control plane ${binaries.version} in ${dir}`);
    await startEtcd();
    await startApiserver();
    log(`kube-apiserver ready at ${server} after ${Date.now() - started} ms`);
    if (withKcm) {
      await startControllerManager();
      log(`kube-controller-manager healthy after ${Date.now() - started} ms`);
    }
    if (opts.scheduler ?? Boolean(kwok)) {
      await startScheduler();
      log(`kube-scheduler healthy after ${Date.now() - started} ms`);
    }
    if (kwok) {
      await startKwok(kwok);
      log(`kube-scheduler, kwok and ${kwok.nodes} Ready fake Node(s) after ${Date.now() - started} ms`);
    }
    log(`control plane ready after ${Date.now() - started} ms`);
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    dir,
    version: binaries.version,
    server,
    kubeconfigPath,
    kubeconfig,
    token,
    ca: pki.ca.certPem,
    clientCert: pki.admin.certPem,
    clientKey: pki.admin.keyPem,
    etcdUrl,
    binaries,
    logFiles,
    logs,
    request,
    async apiserverMetrics(): Promise<string> {
      const res = await request('GET', '/metrics');
      if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${res.body}`);
      return res.body;
    },
    async restartApiServer(r: RestartOptions = {}): Promise<void> {
      await (r.hard ? procs.apiserver?.kill() : procs.apiserver?.stop({ graceMs: 5_000 }));
      if (r.downMs) await sleep(r.downMs);
      await startApiserver();
    },
    async restartEtcd(r: RestartOptions = {}): Promise<void> {
      await (r.hard ? procs.etcd?.kill() : procs.etcd?.stop({ graceMs: 5_000 }));
      if (r.downMs) await sleep(r.downMs);
      await startEtcd();
      const api = procs.apiserver;
      if (api) await waitFor('kube-apiserver /readyz after etcd restart', api, apiserverReady);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
