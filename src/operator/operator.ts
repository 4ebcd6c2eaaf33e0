// The operator process, assembled: API client, caches and controller, leader election, events, metrics and
// health endpoints. startOperator() is what the CLI runs and what the integration tests start in-process.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { Controller } from './controller/controller.ts';
import { EventRecorder } from './controller/events.ts';
import { KubeClient, type ApiCall } from './controller/kube-client.ts';
import { loadCredentials, type Credentials } from './controller/kubeconfig.ts';
import { LeaderElector } from './controller/leader.ts';
import { OperatorMetrics, startHealthServer, type HealthServer } from './controller/metrics.ts';

export const DEFAULT_LEASE_NAME = 'xmpp-web-gateway-operator';
const FIELD_MANAGER = 'xmpp-web-gateway';
const REPORTING_CONTROLLER = 'xwg.io/xmpp-web-gateway-operator';
const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The gateway image when a resource names none: XWG_GATEWAY_IMAGE, else this release's image. */
export function defaultGatewayImage(env: NodeJS.ProcessEnv = process.env): string {
  return env.XWG_GATEWAY_IMAGE || `ghcr.io/xmpp-web-gateway/xmpp-web-gateway:${packageVersion()}`;
}

export interface LeaderElectionOptions {
  /** namespace of the Lease; default: the operator's own (in a cluster), else the watched namespace, else default */
  namespace?: string;
  /** default xmpp-web-gateway-operator */
  leaseName?: string;
  /** default <hostname>_<random uuid> */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface OperatorOptions {
  /** kubeconfig file or a loaded KubeConfig (or other Credentials); default: $KUBECONFIG, else in-cluster */
  kubeconfig?: string | KubeConfig | Credentials;
  /** watch one namespace; default all */
  namespace?: string;
  /** image of gateways that name none; default defaultGatewayImage() */
  gatewayImage?: string;
  /** default true; false runs the workers unconditionally (one replica only) */
  leaderElection?: boolean | LeaderElectionOptions;
  /** port of /healthz, /readyz, /metrics (default 8080; 0: any free port; false: no server) */
  metricsPort?: number | false;
  /** default 0.0.0.0 */
  metricsHost?: string;
  logger?: Logger;
  /** when no logger is given (default info) */
  logLevel?: string;
  workers?: number;
  resyncPeriodMs?: number;
  certManagerCheckMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  watchBackoff?: { initialMs: number; maxMs: number };
  /** every API call the operator makes (tests check them against the RBAC rules) */
  onApiCall?: (call: ApiCall) => void;
  /** process metrics (CPU, memory, event loop) in /metrics; default true */
  processMetrics?: boolean;
}

export interface Operator {
  readonly identity: string;
  /** port of the health and metrics server, when there is one */
  readonly metricsPort: number | undefined;
  readonly metrics: OperatorMetrics;
  readonly controller: Controller;
  readonly events: EventRecorder;
  /** resolves once every cache has synced */
  readonly ready: Promise<void>;
  /** holds the Lease (always true without leader election) */
  isLeader(): boolean;
  /** stops the workers, releases the Lease, stops the caches and the server */
  stop(): Promise<void>;
}

function leaseNamespace(o: OperatorOptions, le: LeaderElectionOptions): string {
  if (le.namespace) return le.namespace;
  if (existsSync(SERVICE_ACCOUNT_NAMESPACE)) {
    const ns = readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
    if (ns) return ns;
  }
  return o.namespace ?? 'default';
}

export async function startOperator(o: OperatorOptions = {}): Promise<Operator> {
  const le: LeaderElectionOptions | undefined = o.leaderElection === false ? undefined : o.leaderElection === true || o.leaderElection === undefined ? {} : o.leaderElection;
  const identity = le?.identity ?? `${hostname()}_${randomUUID()}`;
  const log = (o.logger ?? pino({ level: o.logLevel ?? 'info' })).child({ identity });
  const kc = await loadCredentials(o.kubeconfig);
  const metrics = new OperatorMetrics({ defaultMetrics: o.processMetrics ?? true });
  const version = packageVersion();
  const client = KubeClient.fromKubeConfig(kc, {
    userAgent: `xmpp-web-gateway-operator/${version}`,
    fieldManager: FIELD_MANAGER,
    onCall: (c) => {
      metrics.recordCall(c);
      o.onApiCall?.(c);
    },
  });

  let stopping = false;
  let leader: LeaderElector | undefined;
  // Every write of the controller and the events goes through this gate.
  const writer = client.withWriteGate(() => !stopping && (leader ? leader.isLeader() : true));
  const events = new EventRecorder({ client: writer, reportingController: REPORTING_CONTROLLER, reportingInstance: identity, log });
  const controller = new Controller({
    client,
    writer,
    events,
    metrics,
    log,
    defaultImage: o.gatewayImage ?? defaultGatewayImage(),
    ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
    ...(o.workers === undefined ? {} : { workers: o.workers }),
    ...(o.resyncPeriodMs === undefined ? {} : { resyncPeriodMs: o.resyncPeriodMs }),
    ...(o.certManagerCheckMs === undefined ? {} : { certManagerCheckMs: o.certManagerCheckMs }),
    ...(o.retryBaseMs === undefined ? {} : { retryBaseMs: o.retryBaseMs }),
    ...(o.retryMaxMs === undefined ? {} : { retryMaxMs: o.retryMaxMs }),
    ...(o.watchBackoff === undefined ? {} : { watchBackoff: o.watchBackoff }),
  });
  controller.start();

  let server: HealthServer | undefined;
  if (o.metricsPort !== false) {
    server = await startHealthServer({
      port: o.metricsPort ?? 8080,
      ...(o.metricsHost === undefined ? {} : { host: o.metricsHost }),
      registry: metrics.registry,
      ready: () => controller.hasSynced(),
    });
    log.info({ port: server.port }, 'serving /healthz, /readyz and /metrics');
  }

  const abort = new AbortController();
  const ready = controller.waitForSync(abort.signal).then(() => log.info('caches synced'));
  ready.catch(() => {});
  let leaderRun: Promise<void> | undefined;
  let workersStopped: Promise<void> = Promise.resolve();
  if (le) {
    const leaseName = le.leaseName ?? DEFAULT_LEASE_NAME;
    metrics.leaderStatus.set({ name: leaseName }, 0);
    leader = new LeaderElector(
      client,
      {
        namespace: leaseNamespace(o, le),
        name: leaseName,
        identity,
        ...(le.leaseDurationMs === undefined ? {} : { leaseDurationMs: le.leaseDurationMs }),
        ...(le.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: le.renewDeadlineMs }),
        ...(le.retryPeriodMs === undefined ? {} : { retryPeriodMs: le.retryPeriodMs }),
      },
      {
        onStartedLeading: () => {
          metrics.leaderStatus.set({ name: leaseName }, 1);
          controller.startWorkers();
        },
        onStoppedLeading: () => {
          metrics.leaderStatus.set({ name: leaseName }, 0);
          workersStopped = controller.stopWorkers();
        },
        onNewLeader: (holder) => log.info({ leader: holder ?? null }, 'leader observed'),
      },
      log,
    );
    leaderRun = leader.run(abort.signal);
  } else {
    controller.startWorkers();
  }

  let stopped: Promise<void> | undefined;
  return {
    identity,
    metricsPort: server?.port,
    metrics,
    controller,
    events,
    ready,
    isLeader: () => (leader ? leader.isLeader() : !stopping),
    stop: () =>
      (stopped ??= (async () => {
        log.info('stopping');
        await controller.stopWorkers();
        await workersStopped;
        await events.flush();
        stopping = true;
        abort.abort();
        await leaderRun;
        await leader?.release();
        await controller.stop();
        await server?.close();
        log.info('stopped');
      })()),
  };
}
