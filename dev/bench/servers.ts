// The servers under test, each its own bounded process on loopback (dev/harness/process.ts), so that
// their memory and CPU are their own: the XMPP stub, the raw pipe, the gateway (the real CLI), Prosody.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../harness/ports.ts';
import { spawnBounded, type BoundedProcess } from '../harness/process.ts';
import { startProsody, type ProsodyServer } from '../harness/prosody.ts';
import { imageNodeOptions } from './image-runtime.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const STUB = fileURLToPath(new URL('./xmpp-stub.ts', import.meta.url));
const PIPE = fileURLToPath(new URL('./raw-pipe.ts', import.meta.url));

export interface Running {
  name: string;
  pid: number;
  proc: BoundedProcess;
  stop(): Promise<void>;
}

async function started(proc: BoundedProcess, tag: string): Promise<Record<string, unknown>> {
  const m = await proc.waitForLine(new RegExp(`^${tag} (\\{.*\\})$`), { timeoutMs: 30_000 });
  return JSON.parse(m[1]!) as Record<string, unknown>;
}

export async function spawnStub(options: { ports?: number; proxyPorts?: number; maxMs: number; name?: string }): Promise<Running & { ports: number[]; proxyPorts: number[] }> {
  const proc = spawnBounded({
    command: process.execPath,
    args: [STUB, '--ports', String(options.ports ?? 1), '--proxy-ports', String(options.proxyPorts ?? 0), '--max-seconds', String(Math.ceil(options.maxMs / 1000))],
    name: options.name ?? 'xmpp-stub',
    maxLifetimeMs: options.maxMs + 10_000,
  });
  const info = await started(proc, 'STUB');
  return { name: 'stub', pid: proc.pid, proc, ports: info.ports as number[], proxyPorts: (info.proxyPorts as number[] | undefined) ?? [], stop: async () => void (await proc.stop({ graceMs: 3_000 })) };
}

export async function spawnRawPipe(options: { upstreamPorts: number[]; maxMs: number; nodeArgs?: string[] }): Promise<Running & { port: number; url: string }> {
  const proc = spawnBounded({
    command: process.execPath,
    args: [...(options.nodeArgs ?? []), PIPE, '--upstream-ports', options.upstreamPorts.join(','), '--max-seconds', String(Math.ceil(options.maxMs / 1000))],
    name: 'raw-pipe',
    maxLifetimeMs: options.maxMs + 10_000,
  });
  const info = await started(proc, 'PIPE');
  const port = info.port as number;
  return { name: 'raw-pipe', pid: proc.pid, proc, port, url: `ws://127.0.0.1:${port}/`, stop: async () => void (await proc.stop({ graceMs: 3_000 })) };
}

export interface GatewayProcess extends Running {
  port: number;
  wsUrl: string;
  boshUrl: string;
  /** Reads the gateway's own /metrics (on its admin listener). */
  metrics(): Promise<string>;
}

/** Limits raised for the bench: thousands of clients come from one address. */
export function benchGatewayConfig(upstream: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    upstream: { default: upstream, ...((extra.upstream as object | undefined) ?? {}) },
    limits: { maxConnections: 1_000_000, maxConnectionsPerAddress: 1_000_000, ...((extra.limits as object | undefined) ?? {}) },
    bosh: { maxSessions: 1_000_000, maxSessionsPerAddress: 1_000_000, ...((extra.bosh as object | undefined) ?? {}) },
    drain: { deadlineMs: 1_000 },
    log: { level: 'warn' },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => !['upstream', 'limits', 'bosh'].includes(k))),
  };
}

/** The real CLI (`node src/cli/main.ts gateway --config f.yaml`) in its own process. */
export async function spawnGateway(options: {
  config: Record<string, unknown>;
  maxMs: number;
  /** Node options before the script, e.g. ['--cpu-prof', '--cpu-prof-dir=…'], after the image's own. */
  nodeArgs?: string[];
  /** Run with the Node options the image sets (dev/bench/image-runtime.ts); default true. */
  imageNodeOptions?: boolean;
  /** Environment over the bench's own. */
  env?: Record<string, string>;
  name?: string;
}): Promise<GatewayProcess> {
  const port = await freePort();
  const adminPort = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xwg-bench-gw-'));
  const file = path.join(dir, 'gateway.yaml');
  const config = {
    ...options.config,
    listen: { host: '127.0.0.1', port, ...((options.config.listen as object | undefined) ?? {}) },
    admin: { host: '127.0.0.1', port: adminPort, ...((options.config.admin as object | undefined) ?? {}) },
  };
  // JSON is YAML.
  await writeFile(file, JSON.stringify(config, null, 2));
  const proc = spawnBounded({
    command: process.execPath,
    args: [...(options.imageNodeOptions === false ? [] : imageNodeOptions()), ...(options.nodeArgs ?? []), path.join(REPO, 'src/cli/main.ts'), 'gateway', '--config', file],
    cwd: REPO,
    ...(options.env ? { env: options.env } : {}),
    name: options.name ?? 'gateway',
    maxLifetimeMs: options.maxMs,
    stopGraceMs: 10_000,
  });
  await proc.waitForPort(port, { timeoutMs: 30_000 });
  const base = `127.0.0.1:${port}`;
  return {
    name: options.name ?? 'gateway',
    pid: proc.pid,
    proc,
    port,
    wsUrl: `ws://${base}/xmpp-websocket`,
    boshUrl: `http://${base}/http-bind`,
    metrics: async () => (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text(),
    stop: async () => void (await proc.stop({ graceMs: 10_000 })),
  };
}

/** Node options that make a server answer memorySnapshot() (./memory-probe.ts). */
export const MEMORY_PROBE_ARGS = ['--expose-gc', '--import', fileURLToPath(new URL('./memory-probe.ts', import.meta.url))];

export interface MemorySnapshot {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** V8 heap spaces, bytes used */
  spaces: Record<string, number>;
  /** V8 heap spaces, bytes committed */
  spacesCommitted?: Record<string, number>;
}

const probes = new WeakMap<BoundedProcess, number>();
/** After a full GC: process.memoryUsage() and the heap spaces of a server started with MEMORY_PROBE_ARGS. */
export async function memorySnapshot(server: Running): Promise<MemorySnapshot> {
  const n = (probes.get(server.proc) ?? 0) + 1;
  probes.set(server.proc, n);
  server.proc.signal('SIGUSR2');
  const m = await server.proc.waitForLine(new RegExp(`^MEMORY ${n} (\\{.*\\})$`), { timeoutMs: 30_000 });
  return JSON.parse(m[1]!) as MemorySnapshot;
}

export interface BenchProsody extends Running {
  server: ProsodyServer;
}

/** Prosody with its own WebSocket and BOSH endpoints, and `users` accounts u0… with password "pw". */
export async function startBenchProsody(options: { users: number; maxMs: number }): Promise<BenchProsody> {
  const server = await startProsody({
    domains: ['example.com'],
    smacks: false,
    websocket: true,
    bosh: true,
    maxLifetimeMs: options.maxMs,
  });
  await server.addUsersBulk(Array.from({ length: options.users }, (_, i) => ({ user: `u${i}`, password: 'pw' })));
  return { name: 'prosody', pid: server.process!.pid, proc: server.process!, server, stop: () => server.dispose() };
}

/** A value from Prometheus text: the first sample of `name` (with any labels). */
export function metricValue(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}
