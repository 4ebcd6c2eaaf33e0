// Where the memory of idle WebSocket clients goes: the gateway and the raw pipe, each in one process with its
// own stub, sampled at several client counts (1k, 5k, 9.9k) after a full GC: RSS from process.memoryUsage(), split
// into V8 heap (used, and each space), external memory and array buffers (dev/bench/memory-probe.ts).
import type { LightMode } from '../../dev/bench/light-clients.ts';
import { benchGatewayConfig, memorySnapshot, MEMORY_PROBE_ARGS, spawnGateway, spawnRawPipe, spawnStub, type MemorySnapshot, type Running } from '../../dev/bench/servers.ts';
import { sleep } from '../../dev/bench/stats.ts';
import { imageNodeOptions } from '../../dev/bench/image-runtime.ts';
import { startWorker, type WorkerHandle } from '../../dev/bench/workers.ts';

/** raw-pipe-image-v8: the raw pipe with the V8 options the image gives the gateway (the code's share of the gap alone). */
export type MemoryKind = 'gateway-ws' | 'raw-pipe' | 'raw-pipe-image-v8';

export interface MemoryPoint extends MemorySnapshot {
  clients: number;
}

export interface MemoryCurve {
  kind: MemoryKind;
  /** no client, after a warm-up */
  idle: MemoryPoint;
  points: MemoryPoint[];
  failed: number;
  /** Node options the server ran with beyond the memory probe's (the image's, for the gateway) */
  nodeOptions: string[];
}

const LOCAL_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

export async function measureMemoryCurve(kind: MemoryKind, counts: readonly number[], options: { maxMs: number; log: (line: string) => void; quick?: boolean }): Promise<MemoryCurve> {
  const started: Running[] = [];
  let worker: WorkerHandle | undefined;
  try {
    const stub = await spawnStub({ maxMs: options.maxMs, name: 'stub-memory' });
    started.push(stub);
    const port = stub.ports[0]!;
    let server: Running & { port: number };
    let path: string;
    let mode: LightMode;
    let nodeOptions: string[];
    if (kind === 'gateway-ws') {
      // spawnGateway gives it the image's options.
      nodeOptions = imageNodeOptions();
      server = await spawnGateway({ config: benchGatewayConfig({ host: '127.0.0.1', port, tls: 'none' }), maxMs: options.maxMs, nodeArgs: MEMORY_PROBE_ARGS, name: 'gateway-memory' });
      path = '/xmpp-websocket';
      mode = 'ws';
    } else {
      nodeOptions = kind === 'raw-pipe-image-v8' ? imageNodeOptions() : [];
      server = await spawnRawPipe({ upstreamPorts: [port], maxMs: options.maxMs, nodeArgs: [...nodeOptions, ...MEMORY_PROBE_ARGS] });
      path = '/';
      mode = 'ws-stream';
    }
    started.push(server);
    const light = { mode, host: '127.0.0.1', port: server.port, path, localAddresses: LOCAL_ADDRESSES, domains: ['example.com'] };
    // Warm-up: code compiled and first allocations made before the idle sample.
    const warm = startWorker({ kind: 'scale', light, count: 50, concurrency: 10 }, 60_000);
    await warm.next('ready');
    await warm.close();
    await sleep(options.quick ? 200 : 1000);
    const idle = { clients: 0, ...(await memorySnapshot(server)) };
    const steps = counts.map((c, i) => c - (counts[i - 1] ?? 0));
    worker = startWorker({ kind: 'scale', light, count: counts.at(-1)!, steps, concurrency: 128 }, options.maxMs);
    const points: MemoryPoint[] = [];
    let clients = 0;
    let failed = 0;
    for (let i = 0; i < steps.length; i++) {
      if (i > 0) worker.send({ type: 'go' });
      const r = await worker.next('ready');
      clients += r.ready ?? 0;
      failed += r.failed ?? 0;
      await sleep(options.quick ? 200 : 1500);
      const point = { clients, ...(await memorySnapshot(server)) };
      points.push(point);
      const MiB = 2 ** 20;
      options.log(
        `  ${kind}: ${clients} clients: RSS ${(point.rss / MiB).toFixed(1)} MiB, heap used ${(point.heapUsed / MiB).toFixed(1)}, external ${(point.external / MiB).toFixed(1)} (array buffers ${(point.arrayBuffers / MiB).toFixed(1)})`,
      );
    }
    return { kind, idle, points, failed, nodeOptions };
  } finally {
    await worker?.close().catch(() => {});
    await Promise.allSettled(started.map((s) => s.stop()));
  }
}
