// The gateway's hot path under the WebSocket relay load, profiled with node --cpu-prof in a gateway of its own
// (the profiler slows it down, so its rate is not compared with the others).
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { summarizeProfile, type ProfileSummary } from '../../dev/bench/cpuprofile.ts';
import { benchGatewayConfig, spawnGateway } from '../../dev/bench/servers.ts';
import type { BenchEnv } from './env.ts';
import { measureOnce, type RelayLoad } from './relay.ts';

export async function measureRelayForProfile(env: BenchEnv, load: RelayLoad, maxMs: number): Promise<{ rate: number; summary: ProfileSummary; file: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xwg-bench-profile-'));
  const gateway = await spawnGateway({
    config: benchGatewayConfig({ host: '127.0.0.1', port: env.stub.ports[0], tls: 'none' }),
    maxMs,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    name: 'gateway-profiled',
  });
  let rate: number;
  try {
    const m = await measureOnce(
      { name: 'gateway/ws (profiled)', target: { transport: 'ws', url: gateway.wsUrl, domain: 'example.com' }, pids: [{ name: 'gateway', pid: gateway.pid }] },
      load,
    );
    rate = m.result.rate;
  } finally {
    // The profile is written when the process exits (SIGTERM: drain, then exit).
    await gateway.stop();
  }
  const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  return { rate, summary: summarizeProfile(path.join(dir, file), 25), file: path.join(dir, file) };
}
