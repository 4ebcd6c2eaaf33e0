// prom-client without its index. The index loads every default metric, and one of them (process CPU) loads
// @opentelemetry/api for exemplars the gateway never records: 7 MiB of RSS in a process whose whole base is
// meant to stay within 60 MiB. The classes come from the package's own modules; process CPU is counted here.
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry') as typeof Prom.Registry;
export const Counter = require('prom-client/lib/counter') as typeof Prom.Counter;
export const Gauge = require('prom-client/lib/gauge') as typeof Prom.Gauge;
export const Histogram = require('prom-client/lib/histogram') as typeof Prom.Histogram;
export type Registry = Prom.Registry;

/** prom-client's default metrics (lib/defaultMetrics.js) except process CPU, which processCpu() replaces. */
const DEFAULT_METRICS = [
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'eventLoopLag',
  'processResources',
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
] as const;

type DefaultMetric = (register: Prom.Registry, config: { prefix: string; eventLoopMonitoringPrecision: number }) => void;

/** The same series as prom-client's collectDefaultMetrics({ register, prefix }). */
export function collectDefaultMetrics(register: Prom.Registry, prefix: string): void {
  processCpu(register, prefix);
  for (const name of DEFAULT_METRICS) (require(`prom-client/lib/metrics/${name}`) as DefaultMetric)(register, { prefix, eventLoopMonitoringPrecision: 10 });
}

/** process_cpu_{user,system}_seconds_total and process_cpu_seconds_total, as prom-client names them. */
function processCpu(register: Prom.Registry, prefix: string): void {
  let last = process.cpuUsage();
  const registers = [register];
  // Registered first, so collected first: one reading sets all three.
  new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      this.inc((now.user - last.user) / 1e6);
      system.inc((now.system - last.system) / 1e6);
      total.inc((now.user - last.user + now.system - last.system) / 1e6);
      last = now;
    },
  });
  const system = new Counter({ name: `${prefix}process_cpu_system_seconds_total`, help: 'Total system CPU time spent in seconds.', registers });
  const total = new Counter({ name: `${prefix}process_cpu_seconds_total`, help: 'Total user and system CPU time spent in seconds.', registers });
}
