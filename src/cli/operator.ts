// `xmpp-web-gateway operator`: runs the Kubernetes operator; on SIGTERM stops its workers, releases the
// leader Lease and exits.
import { pino } from 'pino';
import { parseGoDuration } from '../operator/api/duration.ts';
import { preferSmallHeap } from '../operator/heap.ts';
import { DEFAULT_LEASE_NAME, defaultGatewayImage, startOperator } from '../operator/operator.ts';
import { withCode } from '../shared/errors/codes.ts';
import { parseCommandLine } from './args.ts';
import { printError } from './errors.ts';

const HELP = `usage: xmpp-web-gateway operator [options]

Reconciles XmppWebGateway resources (xwg.io/v1alpha1) into gateway nodes.

options:
  --kubeconfig <file>                     kubeconfig (default: $KUBECONFIG, else in-cluster)
  --namespace <ns>                        watch one namespace (default: all)
  --leader-elect[=true|false]             elect a leader through a Lease (default true)
  --leader-election-namespace <ns>        namespace of the Lease (default: the operator's own)
  --lease-name <name>                     default ${DEFAULT_LEASE_NAME}
  --leader-elect-lease-duration <d>       default 15s
  --leader-elect-renew-deadline <d>       default 10s
  --leader-elect-retry-period <d>         default 2s
  --metrics-port <port>                   /healthz, /readyz, /metrics (default 8080; 0: any)
  --metrics-bind-address <host>           default 0.0.0.0
  --gateway-image <image>                 default $XWG_GATEWAY_IMAGE, else ${defaultGatewayImage({})}
  --max-concurrent-reconciles <n>         default 8
  --log-level <level>                     fatal, error, warn, info, debug, trace (default info)`;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** `--leader-elect=false` and `--leader-elect=true` as the boolean flag parseArgs knows. */
function normalizeBooleans(argv: string[]): string[] {
  return argv.map((a) => (a === '--leader-elect=false' ? '--no-leader-elect' : a === '--leader-elect=true' ? '--leader-elect' : a));
}

class UsageError extends Error {}

function duration(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseGoDuration(v);
  if (ms === undefined || ms <= 0) throw new UsageError(`--${flag}: not a duration like 15s: ${JSON.stringify(v)}`);
  return ms;
}

function integer(flag: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag}: must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

export async function runOperator(argv: string[]): Promise<number | void> {
  const parsed = parseCommandLine(
    {
      args: normalizeBooleans(argv),
      allowNegative: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        'leader-elect': { type: 'boolean', default: true },
        'leader-election-namespace': { type: 'string' },
        'lease-name': { type: 'string' },
        'leader-elect-lease-duration': { type: 'string' },
        'leader-elect-renew-deadline': { type: 'string' },
        'leader-elect-retry-period': { type: 'string' },
        'metrics-port': { type: 'string' },
        'metrics-bind-address': { type: 'string' },
        'gateway-image': { type: 'string' },
        'max-concurrent-reconciles': { type: 'string' },
        'log-level': { type: 'string' },
      },
    },
    HELP,
  );
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;

  let options;
  try {
    const level = values['log-level'] ?? 'info';
    if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level: one of ${LOG_LEVELS.join(', ')}`);
    const leaseDurationMs = duration('leader-elect-lease-duration', values['leader-elect-lease-duration']);
    const renewDeadlineMs = duration('leader-elect-renew-deadline', values['leader-elect-renew-deadline']);
    const retryPeriodMs = duration('leader-elect-retry-period', values['leader-elect-retry-period']);
    const workers = integer('max-concurrent-reconciles', values['max-concurrent-reconciles'], 1, 64);
    options = {
      level,
      metricsPort: integer('metrics-port', values['metrics-port'], 0, 65535) ?? 8080,
      leaderElection: values['leader-elect']
        ? {
            ...(values['leader-election-namespace'] === undefined ? {} : { namespace: values['leader-election-namespace'] }),
            ...(values['lease-name'] === undefined ? {} : { leaseName: values['lease-name'] }),
            ...(leaseDurationMs === undefined ? {} : { leaseDurationMs }),
            ...(renewDeadlineMs === undefined ? {} : { renewDeadlineMs }),
            ...(retryPeriodMs === undefined ? {} : { retryPeriodMs }),
          }
        : (false as const),
      ...(workers === undefined ? {} : { workers }),
    };
  } catch (e) {
    if (e instanceof UsageError) {
      printError('XWG_CLI_USAGE', e.message);
      return 2;
    }
    throw e;
  }

  const log = pino({ level: options.level, base: { component: 'operator' } });
  let operator;
  try {
    preferSmallHeap();
    operator = await startOperator({
      logger: log,
      ...(values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig }),
      ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
      gatewayImage: values['gateway-image'] ?? defaultGatewayImage(),
      leaderElection: options.leaderElection,
      metricsPort: options.metricsPort,
      ...(values['metrics-bind-address'] === undefined ? {} : { metricsHost: values['metrics-bind-address'] }),
      ...(options.workers === undefined ? {} : { workers: options.workers }),
    });
  } catch (e) {
    log.fatal(withCode('XWG_OP_START_FAILED', { err: e instanceof Error ? e.message : String(e) }), 'could not start');
    return 1;
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn(withCode('XWG_OP_FORCED_EXIT', { signal }), 'second signal: exiting at once');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    // Bounded: a hung API server must not keep the pod in Terminating for its whole grace period.
    setTimeout(() => {
      log.error(withCode('XWG_OP_SHUTDOWN_TIMEOUT'), 'shutdown did not finish in time: exiting');
      process.exit(1);
    }, 25_000).unref();
    await operator.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // The watches and the server keep the process alive until a signal ends it.
}
