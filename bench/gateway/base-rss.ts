// Base RSS: the gateway as it ships (`node dist/cli/main.js gateway`, compiled and started the way the image does
// it: dev/bench/image-runtime.ts) with no client, against a bare Node process, sampled side by side.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnBounded, type BoundedProcess } from '../../dev/harness/process.ts';
import { freePort } from '../../dev/harness/ports.ts';
import { rssBytes } from '../../dev/bench/proc.ts';
import { REPO } from '../../dev/bench/servers.ts';
import { median, sleep } from '../../dev/bench/stats.ts';
import { compiledCli, imageNodeOptions } from '../../dev/bench/image-runtime.ts';

export interface BaseRssResult {
  /** bytes, median of the samples */
  gateway: number;
  bareNode: number;
  samples: number;
  /** what ran: the compiled CLI, or the sources under --quick */
  command: string;
}

export async function measureBaseRss(options: { log: (line: string) => void; quick?: boolean }): Promise<BaseRssResult> {
  // --quick checks only that the part works: the sources as they are (type stripping included), no compile.
  const entry = options.quick ? path.join(REPO, 'src/cli/main.ts') : compiledCli();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xwg-bench-base-'));
  const file = path.join(dir, 'gateway.json');
  const port = await freePort();
  // The upstream is never dialled: no client connects.
  const config = {
    upstream: { default: { host: '127.0.0.1', port: 5222, tls: 'none' } },
    listen: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: await freePort() },
    log: { level: 'warn' },
  };
  await writeFile(file, JSON.stringify(config));
  // As the image runs it: with its NODE_OPTIONS.
  const nodeOptions = imageNodeOptions();
  const procs: BoundedProcess[] = [];
  try {
    const gateway = spawnBounded({ command: process.execPath, args: [...nodeOptions, entry, 'gateway', '--config', file], cwd: REPO, name: 'gateway-base', maxLifetimeMs: 120_000 });
    procs.push(gateway);
    const bare = spawnBounded({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 60_000)'], name: 'bare-node', maxLifetimeMs: 120_000 });
    procs.push(bare);
    await gateway.waitForPort(port, { timeoutMs: 30_000 });
    // Start-up garbage is collected by then; both are sampled in the same instants.
    await sleep(options.quick ? 1_000 : 3_000);
    const g: number[] = [];
    const b: number[] = [];
    const samples = options.quick ? 1 : 5;
    for (let i = 0; i < samples; i++) {
      g.push(rssBytes(gateway.pid));
      b.push(rssBytes(bare.pid));
      if (i + 1 < samples) await sleep(500);
    }
    const result = { gateway: median(g), bareNode: median(b), samples, command: `node ${[...nodeOptions, path.relative(REPO, entry)].join(' ')} gateway` };
    options.log(`  base RSS: gateway ${(result.gateway / 2 ** 20).toFixed(1)} MiB, bare Node ${(result.bareNode / 2 ** 20).toFixed(1)} MiB`);
    return result;
  } finally {
    await Promise.allSettled(procs.map((p) => p.stop({ graceMs: 3_000 })));
  }
}
