// Connection scale: memory per idle client and the time to accept them. Idle means an open XMPP stream
// (WebSocket: <open/> answered with features; BOSH: a session created and one empty request held), each with
// its upstream connection to the stub.
//
// A process may hold at most RLIMIT_NOFILE descriptors, and each gateway (or raw pipe) client costs two
// (client socket + upstream socket). When `count` does not fit one process, the load is sharded over
// several server processes (each with its own stub and load worker) and the memory is summed: the report
// says so, and gives the single-process per-client figure alongside.
import type { LightMode } from '../../dev/bench/light-clients.ts';
import { openFileLimit, rssBytes } from '../../dev/bench/proc.ts';
import { benchGatewayConfig, metricValue, spawnGateway, spawnRawPipe, spawnStub, startBenchProsody, type Running } from '../../dev/bench/servers.ts';
import { median, sleep } from '../../dev/bench/stats.ts';
import { startWorker, type WorkerHandle } from '../../dev/bench/workers.ts';

export type ScaleKind = 'gateway-ws' | 'gateway-bosh' | 'raw-pipe' | 'prosody-ws';

export interface ScaleResult {
  kind: ScaleKind;
  requested: number;
  connected: number;
  failed: number;
  firstError?: string;
  /** server processes the clients were spread over */
  processes: number;
  /** time to open every connection (workers in parallel), ms */
  acceptMs: number;
  acceptRate: number;
  /** summed over the server processes, bytes */
  rssIdle: number;
  rssLoaded: number;
  perClientBytes: number;
  /** V8 heap used (gateway only, from its /metrics), summed */
  heapIdle?: number;
  heapLoaded?: number;
  perClientHeapBytes?: number;
  /** connections lost between being ready and the memory sample */
  dropped: number;
  /** base + perClient × requested for one process: what a single process would need without the fd limit */
  singleProcessEstimate: number;
  /**
   * RSS growth per client between half and full load: the cost of one more client, without the fixed
   * costs the first thousands bring (V8's young generation grows to its maximum under the allocation burst).
   */
  marginalPerClientBytes?: number;
  note?: string;
}

const PER_WORKER = 15_000;
const LOCAL_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

interface Server extends Running {
  port: number;
  path: string;
  mode: LightMode;
  metrics?: () => Promise<string>;
}

/** Most clients one server process can hold under the descriptor limit it inherits. */
export function perProcessCapacity(kind: ScaleKind): number {
  const fds = openFileLimit();
  const perClient = kind === 'prosody-ws' ? 1 : 2;
  return Math.floor((fds - 200) / perClient);
}

async function heapUsed(server: Server): Promise<number | undefined> {
  if (!server.metrics) return undefined;
  return metricValue(await server.metrics(), 'xwg_process_nodejs_heap_size_used_bytes');
}

export async function measureScale(kind: ScaleKind, count: number, options: { maxMs: number; log: (line: string) => void; concurrency?: number; quick?: boolean }): Promise<ScaleResult> {
  const { log } = options;
  const capacity = perProcessCapacity(kind);
  const processes = Math.max(1, Math.ceil(count / Math.min(capacity, PER_WORKER)));
  const stubCount = kind === 'prosody-ws' ? 0 : Math.max(1, Math.ceil(count / 18_000));
  const started: Running[] = [];
  const workers: WorkerHandle[] = [];
  try {
    const stubs = [];
    for (let i = 0; i < stubCount; i++) {
      const s = await spawnStub({ maxMs: options.maxMs, name: `stub-${i}` });
      started.push(s);
      stubs.push(s);
    }
    const servers: Server[] = [];
    for (let g = 0; g < processes; g++) {
      const upstreamPort = stubs.length ? stubs[g % stubs.length]!.ports[0]! : 0;
      if (kind === 'gateway-ws' || kind === 'gateway-bosh') {
        const gw = await spawnGateway({
          config: benchGatewayConfig({ host: '127.0.0.1', port: upstreamPort, tls: 'none' }),
          maxMs: options.maxMs,
          name: `gateway-${g}`,
        });
        started.push(gw);
        servers.push({ ...gw, path: kind === 'gateway-ws' ? '/xmpp-websocket' : '/http-bind', mode: kind === 'gateway-ws' ? 'ws' : 'bosh' });
      } else if (kind === 'raw-pipe') {
        const pipe = await spawnRawPipe({ upstreamPorts: [upstreamPort], maxMs: options.maxMs });
        started.push(pipe);
        servers.push({ ...pipe, path: '/', mode: 'ws-stream' });
      } else {
        const prosody = await startBenchProsody({ users: 0, maxMs: options.maxMs });
        started.push(prosody);
        servers.push({ ...prosody, port: prosody.server.httpPort, path: '/xmpp-websocket', mode: 'ws' });
      }
    }
    const light = (s: Server) => ({ mode: s.mode, host: '127.0.0.1', port: s.port, path: s.path, localAddresses: LOCAL_ADDRESSES, domains: ['example.com'] });

    // Warm up every server (code loaded and compiled, first allocations made), then take the idle baseline.
    const quick = options.quick ?? false;
    await Promise.all(
      (quick ? [] : servers).map(async (s) => {
        const w = startWorker({ kind: 'scale', light: light(s), count: 50, concurrency: 10 }, 60_000);
        await w.next('ready');
        await w.close();
      }),
    );
    await sleep(quick ? 200 : 1500);
    const rssIdle = servers.map((s) => rssBytes(s.pid));
    const heapIdle = await Promise.all(servers.map(heapUsed));

    const shares = servers.map((_, g) => Math.floor(count / processes) + (g < count % processes ? 1 : 0));
    const concurrency = options.concurrency ?? 256;
    log(`  ${kind}: opening ${count} connections over ${processes} server process(es) (descriptor limit ${openFileLimit()})`);
    const settle = async () => {
      await sleep(quick ? 300 : 2000);
      const samples: number[][] = [];
      for (let i = 0; i < (quick ? 1 : 3); i++) {
        samples.push(servers.map((s) => rssBytes(s.pid)));
        if (!quick) await sleep(500);
      }
      return servers.map((_, g) => median(samples.map((x) => x[g]!)));
    };
    // Half the clients, a sample, then the rest: the slope between the two is the marginal cost per client.
    const halves = shares.map((n) => [Math.floor(n / 2), n - Math.floor(n / 2)]);
    const t0 = performance.now();
    servers.forEach((s, g) =>
      workers.push(startWorker({ kind: 'scale', light: light(s), count: shares[g]!, steps: halves[g]!, concurrency: Math.max(8, Math.floor(concurrency / processes)) }, options.maxMs)),
    );
    const first = await Promise.all(workers.map((w) => w.next('ready')));
    const firstMs = performance.now() - t0;
    const rssHalf = await settle();
    const halfConnected = first.reduce((a, r) => a + (r.ready ?? 0), 0);
    const t1 = performance.now();
    for (const w of workers) w.send({ type: 'go' });
    const second = await Promise.all(workers.map((w) => w.next('ready')));
    const acceptMs = firstMs + (performance.now() - t1);
    const readies = [...first, ...second];
    const connected = readies.reduce((a, r) => a + (r.ready ?? 0), 0);
    const failed = readies.reduce((a, r) => a + (r.failed ?? 0), 0);
    const firstError = readies.find((r) => r.firstError)?.firstError;
    log(`  ${kind}: ${connected} ready, ${failed} failed in ${(acceptMs / 1000).toFixed(1)} s${firstError ? ` (first error: ${firstError})` : ''}`);

    // Let allocations settle, then sample a few times.
    const rssLoaded = await settle();
    const heapLoaded = await Promise.all(servers.map(heapUsed));
    let dropped = 0;
    for (const w of workers) {
      w.send({ type: 'status' });
      const st = await w.next('status', 30_000);
      dropped += st.dropped;
    }
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const perClient = connected > 0 ? (sum(rssLoaded) - sum(rssIdle)) / connected : Number.NaN;
    const haveHeap = heapIdle.every((h) => h !== undefined) && heapLoaded.every((h) => h !== undefined);
    const result: ScaleResult = {
      kind,
      requested: count,
      connected,
      failed,
      ...(firstError ? { firstError } : {}),
      processes,
      acceptMs,
      acceptRate: connected / (acceptMs / 1000),
      rssIdle: sum(rssIdle),
      rssLoaded: sum(rssLoaded),
      perClientBytes: perClient,
      dropped,
      singleProcessEstimate: rssIdle[0]! + perClient * count,
    };
    if (connected > halfConnected) result.marginalPerClientBytes = (sum(rssLoaded) - sum(rssHalf)) / (connected - halfConnected);
    if (haveHeap) {
      result.heapIdle = sum(heapIdle as number[]);
      result.heapLoaded = sum(heapLoaded as number[]);
      result.perClientHeapBytes = connected > 0 ? (result.heapLoaded - result.heapIdle) / connected : Number.NaN;
    }
    if (processes > 1) {
      result.note = `sharded over ${processes} processes: RLIMIT_NOFILE is ${openFileLimit()} here and cannot be raised (no CAP_SYS_RESOURCE), each client needs ${kind === 'prosody-ws' ? 1 : 2} descriptors`;
    }
    log(
      `  ${kind}: RSS ${(result.rssIdle / 2 ** 20).toFixed(0)} → ${(result.rssLoaded / 2 ** 20).toFixed(0)} MiB, ${(perClient / 1024).toFixed(1)} KiB per client` +
        (result.marginalPerClientBytes !== undefined ? ` (marginal ${(result.marginalPerClientBytes / 1024).toFixed(1)} KiB)` : '') +
        (result.perClientHeapBytes !== undefined ? `, heap ${(result.perClientHeapBytes / 1024).toFixed(1)} KiB per client` : '') +
        `, ${dropped} dropped`,
    );
    return result;
  } finally {
    await Promise.allSettled(workers.map((w) => w.close()));
    await Promise.allSettled(started.map((s) => s.stop()));
  }
}
