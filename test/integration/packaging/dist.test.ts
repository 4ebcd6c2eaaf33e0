// What the image runs, without Docker: dist/ from `npm run build`, production dependencies only (as the
// Dockerfile's build stage leaves them), started as uid 65532 from a tree it cannot write to. Everything the
// image user touches is copied there first (the Node binary, the examples): a checkout may sit in a directory
// only root can enter (mode 0700, like root's home), which uid 65532 cannot reach.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, type Dirent } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { KubernetesObject } from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../../scripts/gen-manifests.ts';
import { freePorts } from '../../../dev/harness/ports.ts';
import { eventually } from '../../../dev/harness/wait.ts';

const execFileAsync = promisify(execFile);
const IMAGE_UID = 65532;
const asImageUser = process.getuid?.() === 0;

const dir = mkdtempSync(path.join(os.tmpdir(), 'xwg-dist-'));
const app = path.join(dir, 'app');
/** The pinned Node, copied out of the checkout (the image has its own). */
const node = path.join(dir, 'node');
const examples = path.join(dir, 'examples');
// npm and tsc under the pinned Node (the one running this test).
const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${path.join(repoRoot, 'node_modules/.bin')}:${process.env.PATH ?? ''}` };

async function npm(args: string[], cwd: string): Promise<string> {
  try {
    return (await execFileAsync('npm', args, { cwd, env, timeout: 300_000, maxBuffer: 16 << 20 })).stdout;
  } catch (e) {
    const { stdout = '', stderr = '' } = e as { stdout?: string; stderr?: string };
    throw new Error(`npm ${args.join(' ')} failed:\n${stdout}\n${stderr}`, { cause: e });
  }
}

/** `node dist/cli/main.js …` in the app directory, as the image user when we can switch to it. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, ['dist/cli/main.js', ...args], {
      cwd: app,
      env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent', TMPDIR: '/tmp', NODE_ENV: 'production' },
      ...(asImageUser ? { uid: IMAGE_UID, gid: IMAGE_UID } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

beforeAll(async () => {
  mkdirSync(app);
  // The build, as the Dockerfile runs it (the npm script), into the temporary app directory.
  // --noEmitOnError: a failed build must leave nothing behind (tsc emits files outside rootDir next to them).
  await npm(['run', 'build', '--', '--outDir', path.join(app, 'dist'), '--noEmitOnError'], repoRoot);
  // Production dependencies only, no install scripts (the Dockerfile's npm ci --ignore-scripts + prune).
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(path.join(repoRoot, f), path.join(app, f));
  await npm(['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], app);
  // And the Dockerfile's own clean-up line, taken from it.
  const rm = /rm -rf ((?:node_modules\/\S+\s*)+)/.exec(readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8'));
  expect(rm, 'the Dockerfile removes the second Node runtime').not.toBeNull();
  for (const p of rm![1]!.trim().split(/\s+/)) rmSync(path.join(app, p), { recursive: true, force: true });
  copyFileSync(process.execPath, node);
  chmodSync(node, 0o755);
  mkdirSync(examples);
  for (const f of readdirSync(path.join(repoRoot, 'examples')).filter((f) => f.endsWith('.yaml'))) copyFileSync(path.join(repoRoot, 'examples', f), path.join(examples, f));
  // Readable by everyone, writable by root only: the image user can write nowhere here.
  chmodSync(dir, 0o755);
}, 600_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dist/ with production dependencies only', () => {
  it('runs as the image user (uid 65532), which needs root to switch to', () => {
    expect(asImageUser, 'run the tests as root (CI does): only root can start a process as uid 65532').toBe(true);
  });

  it('holds no dev dependency and no second Node runtime', () => {
    for (const dev of ['typescript', 'vitest', '@types/ws', 'playwright-core', 'fast-check']) expect(existsSync(path.join(app, 'node_modules', dev)), dev).toBe(false);
    for (const prod of ['ws', 'pino', '@kubernetes/client-node', 'js-yaml', '@sinclair/typebox']) expect(existsSync(path.join(app, 'node_modules', prod)), prod).toBe(true);
    expect(existsSync(path.join(app, 'node_modules/node'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules/.bin/node'))).toBe(false);
  });

  it('holds only modules compiled from src/ (no development code)', () => {
    const files = (readdirSync(path.join(app, 'dist'), { recursive: true, withFileTypes: true }) as Dirent[])
      .filter((e) => e.isFile())
      .map((e) => path.relative(path.join(app, 'dist'), path.join(e.parentPath, e.name)))
      .sort();
    expect(files).toContain('cli/main.js');
    const shipped = new Set(readdirSync(path.join(repoRoot, 'src')));
    for (const f of files) {
      expect(f, 'no development folder').not.toMatch(/^(dev|test|bench|scripts|testing|sandbox)\//);
      expect(shipped.has(f.split('/')[0]!), `${f} is under a src/ folder`).toBe(true);
      const source = f.replace(/(\.d)?\.js(\.map)?$|\.d\.ts(\.map)?$/, '.ts');
      expect(existsSync(path.join(repoRoot, 'src', source)), `${f} comes from src/${source}`).toBe(true);
    }
    expect(files.filter((f) => /sandbox|harness/.test(f))).toEqual([]);
  });

  it('prints the commands', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['gateway', 'operator', 'render', 'validate']) expect(r.stdout).toMatch(new RegExp(`^ {2}${c} `, 'm'));
  });

  it.each([['gateway'], ['operator'], ['render'], ['validate']])('loads %s (its whole module graph) for --help', async (command) => {
    const r = await cli([command, '--help']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^usage: xmpp-web-gateway ${command}`));
  });

  it('renders examples/minimal.yaml as the sources do', async () => {
    const r = await cli(['render', '-f', path.join(examples, 'minimal.yaml')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const docs = loadAll(r.stdout) as KubernetesObject[];
    expect(docs.map((o) => `${o.kind}/${o.metadata?.name}`)).toContain('Deployment/chat-t1');
    const fromSources = await execFileAsync(process.execPath, ['src/cli/main.ts', 'render', '-f', 'examples/minimal.yaml'], { cwd: repoRoot, env });
    expect(docs).toEqual(loadAll(fromSources.stdout));
  });

  it('validates every example', async () => {
    const files = ['minimal.yaml', 'cert-manager.yaml', 'multi-domain.yaml'].flatMap((f) => ['-f', path.join(examples, f)]);
    const r = await cli(['validate', ...files]);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('ok');
  });

  it('runs a gateway node that answers /healthz on its admin port and drains on SIGTERM', async () => {
    const [port, adminPort] = (await freePorts(2)) as [number, number];
    const args = ['dist/cli/main.js', 'gateway', `--listen.port=${port}`, `--admin.port=${adminPort}`, '--upstream.default.host=127.0.0.1', '--drain.deadlineMs=1000'];
    const child = spawn(node, args, {
      cwd: app,
      env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent', TMPDIR: '/tmp' },
      ...(asImageUser ? { uid: IMAGE_UID, gid: IMAGE_UID } : {}),
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const healthz = () => fetch(`http://127.0.0.1:${adminPort}/healthz`).then(async (r) => (await r.text()).trim());
      await eventually(`/healthz answers ok (output so far: ${output})`, async () => (await healthz()) === 'ok', { timeoutMs: 10_000 }).catch((e: Error) => {
        throw new Error(`${e.message}\n${output}`);
      });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, output).toBe(0);
  });
});
