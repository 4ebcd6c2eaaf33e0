// The gateway process loads only what a gateway runs: never the operator, the Kubernetes client, the sandbox or the
// development tooling, and YAML only when a configuration file is given. Each module loaded costs base RSS (issue 14:
// at most 60 MiB), so a stray import shows up here rather than in a bench. A module hook (module.registerHooks) in
// the child lists every module it loads, printed once the gateway listens.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePorts } from '../../../dev/harness/ports.ts';
import { spawnBounded, type BoundedProcess } from '../../../dev/harness/process.ts';

const HOOK = `
import { registerHooks } from 'node:module';
const seen = [];
registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });
process.on('SIGUSR2', () => console.log('LOADED ' + JSON.stringify(seen)));
`;

let child: BoundedProcess | undefined;
afterEach(async () => {
  await child?.stop({ graceMs: 5_000 });
  child = undefined;
});

async function loadedBy(args: string[], port: number): Promise<string[]> {
  child = spawnBounded({
    command: process.execPath,
    args: ['--import', `data:text/javascript,${encodeURIComponent(HOOK)}`, path.resolve('src/cli/main.ts'), 'gateway', ...args],
    name: 'gateway-modules',
    maxLifetimeMs: 60_000,
  });
  await child.waitForPort(port, { timeoutMs: 20_000 });
  child.signal('SIGUSR2');
  const m = await child.waitForLine(/^LOADED (\[.*\])$/, { timeoutMs: 10_000 });
  return JSON.parse(m[1]!) as string[];
}

describe('the gateway process', () => {
  it('loads no operator, Kubernetes client, YAML, sandbox or development module', async () => {
    const [port, admin] = await freePorts(2);
    const loaded = await loadedBy(
      [`--listen.host=127.0.0.1`, `--listen.port=${port}`, `--admin.host=127.0.0.1`, `--admin.port=${admin}`, '--upstream.default.host=127.0.0.1', '--upstream.default.port=5222'],
      port!,
    );
    expect(loaded.some((u) => u.includes('/src/gateway/gateway.ts'))).toBe(true);
    const forbidden = [/\/src\/operator\//, /@kubernetes\/client-node/, /\/js-yaml\//, /\/dev\//, /\/test\//, /\/scripts\//, /@peculiar\//, /@sinclair\/typebox/];
    expect(loaded.filter((u) => forbidden.some((f) => f.test(u)))).toEqual([]);
  });
});
