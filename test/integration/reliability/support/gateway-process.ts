// A gateway node as its own process, started by the CLI the way a deployment starts it
// (`node src/cli/main.ts gateway --config file`), bounded by the harness: it can be SIGKILLed (node loss),
// SIGTERMed (drain), and its memory read from /proc.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../../../dev/harness/ports.ts';
import { spawnBounded, type BoundedProcess, type ExitInfo } from '../../../../dev/harness/process.ts';

export interface GatewayProcess {
  readonly name: string;
  readonly port: number;
  /** The admin listener (/metrics, /healthz, /readyz). */
  readonly adminPort: number;
  readonly pid: number;
  readonly process: BoundedProcess;
  url(p?: string): string;
  wsUrl(p?: string): string;
  boshUrl(p?: string): string;
  adminUrl(p?: string): string;
  /** VmRSS and VmHWM (peak) of the node process, in MiB. */
  memory(): { rssMiB: number; peakMiB: number };
  /** V8 heap in use and memory held outside it (Buffers), in MiB, from the node's own process metrics. */
  heap(): Promise<{ heapUsedMiB: number; heapTotalMiB: number; externalMiB: number }>;
  /** Value of one Prometheus sample (first match), or 0. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** JSON log lines so far (pino). */
  logs(): Record<string, unknown>[];
  /** SIGKILL: the node dies without a word. */
  kill(): Promise<ExitInfo>;
  /** SIGTERM: the node drains, then exits. */
  terminate(): Promise<ExitInfo>;
}

export interface GatewayProcessOptions {
  name: string;
  /** Directory for the configuration file. */
  dir: string;
  /** Raw configuration (as a user writes it); listen.port and admin.port are filled in. */
  config: Record<string, unknown>;
  port?: number;
  adminPort?: number;
  maxLifetimeMs?: number;
}

export async function startGatewayProcess(o: GatewayProcessOptions): Promise<GatewayProcess> {
  const port = o.port ?? (await freePort());
  const adminPort = o.adminPort ?? (await freePort());
  const listen = { host: '127.0.0.1', ...(o.config.listen as Record<string, unknown> | undefined), port };
  const admin = { host: '127.0.0.1', ...(o.config.admin as Record<string, unknown> | undefined), port: adminPort };
  const configPath = path.join(o.dir, `gateway-${o.name}-${port}.json`);
  writeFileSync(configPath, JSON.stringify({ nodeName: o.name, ...o.config, listen, admin }, null, 2));
  const proc = spawnBounded({
    command: process.execPath,
    args: [path.resolve('src/cli/main.ts'), 'gateway', '--config', configPath],
    name: `gateway-${o.name}`,
    maxLifetimeMs: o.maxLifetimeMs ?? 40 * 60_000,
    keepLines: 200_000,
  });
  // The log level may hide the 'gateway listening' line: wait for the port itself.
  await proc.waitForPort(port, { timeoutMs: 30_000 });
  const base = `127.0.0.1:${port}`;
  const adminBase = `127.0.0.1:${adminPort}`;
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const text = await (await fetch(`http://${adminBase}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = m[2] ?? '';
      if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) return Number(m[3]);
    }
    return 0;
  };
  return {
    name: o.name,
    port,
    adminPort,
    pid: proc.pid,
    process: proc,
    url: (p = '/') => `http://${base}${p}`,
    wsUrl: (p = '/xmpp-websocket') => `ws://${base}${p}`,
    boshUrl: (p = '/http-bind') => `http://${base}${p}`,
    adminUrl: (p = '/metrics') => `http://${adminBase}${p}`,
    memory() {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
      return { rssMiB: Math.round(kib('VmRSS') / 102.4) / 10, peakMiB: Math.round(kib('VmHWM') / 102.4) / 10 };
    },
    metric,
    async heap() {
      const mib = async (name: string) => Math.round((await metric(name)) / 104_857.6) / 10;
      return {
        heapUsedMiB: await mib('xwg_process_nodejs_heap_size_used_bytes'),
        heapTotalMiB: await mib('xwg_process_nodejs_heap_size_total_bytes'),
        externalMiB: await mib('xwg_process_nodejs_external_memory_bytes'),
      };
    },
    logs() {
      const out: Record<string, unknown>[] = [];
      for (const line of proc.output().split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          out.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // a line cut by the kill
        }
      }
      return out;
    },
    kill: () => proc.kill(),
    async terminate() {
      proc.signal('SIGTERM');
      return proc.exited;
    },
  };
}
