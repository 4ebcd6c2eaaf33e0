// Every command the README shows, as written, from a checkout: the sh blocks line by line, the inline commands, and
// the command-line synopsis. Those that can run here run (the CLI through npx, kubectl against a real control plane
// with the kubectl the project builds); the few that cannot (npm ci and npm test are this suite's own start, docker
// needs an engine and a registry) are checked for what they name. A new command in the README fails this test until
// it is given one of those treatments.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureKubeBinaries, type KubeBinaries } from '../../../dev/cluster/binaries.ts';
import { startControlPlane, type ControlPlane } from '../../../dev/cluster/control-plane.ts';
import { freePorts } from '../../../dev/harness/ports.ts';
import { eventually, step } from '../../../dev/harness/wait.ts';
import { repoRoot } from '../../../scripts/gen-manifests.ts';

const README = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
const work = mkdtempSync(path.join(os.tmpdir(), 'xwg-readme-'));
/** The README's command words, as a user types them: the checkout's tools first (npx, the pinned node, kubectl). */
let env: NodeJS.ProcessEnv;
let binaries: KubeBinaries;
let cp: ControlPlane | undefined;

/** Lines of ```sh blocks (comments cut), inline code that starts with a command, and the synopsis block. */
function readmeCommands(): { sh: string[]; inline: string[]; synopsis: string[] } {
  const sh: string[] = [];
  const synopsis: string[] = [];
  for (const m of README.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)) {
    const lines = m[2]!.split('\n').filter((l) => l.trim() !== '');
    if (m[1] === 'sh') sh.push(...lines.map((l) => l.replace(/\s+#.*$/, '').trim()));
    else if (m[1] === '' && lines.every((l) => l.startsWith('xmpp-web-gateway '))) synopsis.push(...lines);
  }
  const inline = [...README.replace(/^```[\s\S]*?^```/gm, '').matchAll(/`((?:npm|npx|node|kubectl|helm|docker|xmpp-web-gateway) [^`]*)`/g)].map((m) => m[1]!);
  return { sh, inline, synopsis };
}

function sh(command: string, cwd: string, timeoutMs = 120_000): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', command], { cwd, env, timeout: timeoutMs, maxBuffer: 32 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, output: `${stdout}\n${stderr}` }),
    );
  });
}

/** The README's example resource, saved as the gateway.yaml its commands name. */
function exampleResource(): string {
  const m = /^ {2}```yaml\n([\s\S]*?)^ {2}```/m.exec(README);
  expect(m, 'the README shows an XmppWebGateway').not.toBeNull();
  return m![1]!.replace(/^ {2}/gm, '');
}

beforeAll(async () => {
  binaries = await step('Kubernetes binaries (built by node dev/prepare.ts)', 60_000, () => ensureKubeBinaries({ helm: false, kwok: false }));
  env = { ...process.env, PATH: [path.join(repoRoot, 'node_modules/.bin'), path.dirname(binaries.kubectl), process.env.PATH ?? ''].join(':') };
  cp = await step('start the control plane', 180_000, () => startControlPlane({ binaries, log: (l) => console.log(`[control-plane] ${l}`) }));
  env.KUBECONFIG = cp.kubeconfigPath;
});

afterAll(async () => {
  await cp?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('README commands, as written', () => {
  const { sh: lines, inline, synopsis } = readmeCommands();

  it('finds the commands', () => {
    expect(lines.length).toBeGreaterThan(3);
    expect(inline.length).toBeGreaterThan(2);
    expect(synopsis).toHaveLength(4);
  });

  it('runs every one, or checks what it names when it cannot run here', async () => {
    const resourceDir = path.join(work, 'resource');
    const configDir = path.join(work, 'config');
    for (const d of [resourceDir, configDir]) rmSync(d, { recursive: true, force: true });
    await sh(`mkdir -p ${resourceDir} ${configDir}`, work);
    writeFileSync(path.join(resourceDir, 'gateway.yaml'), exampleResource());
    const handled: string[] = [];

    for (const full of [...lines, ...inline]) {
      for (const command of full.split(/\s*&&\s*/)) {
        const words = command.split(/\s+/);
        if (command === 'npm ci') {
          // This suite's own first step (it reinstalls the tree under every test): the lock it installs from.
          expect(existsSync(path.join(repoRoot, 'package-lock.json'))).toBe(true);
        } else if (words[0] === 'npm' && (words[1] === 'test' || words[1] === 'run')) {
          const script = words[1] === 'test' ? 'test' : words[2]!;
          expect(pkg.scripts[script], `npm script ${script}`).toBeDefined();
        } else if (words[0] === 'docker') {
          // Needs a Docker engine and a registry: the build context and the tag it pushes.
          expect(existsSync(path.join(repoRoot, 'Dockerfile'))).toBe(true);
          if (words[1] === 'push') expect(lines.join('\n')).toContain(`docker build -t ${words[2]} .`);
        } else if (words[0] === 'kubectl' || words[0] === 'node') {
          const r = await sh(command, repoRoot);
          expect(r.code, `${command}\n${r.output}`).toBe(0);
        } else if (words[0] === 'npx' || words[0] === 'xmpp-web-gateway') {
          const sub = words[0] === 'npx' ? words[2] : words[1];
          if (sub === undefined) {
            // The command named in a sentence: it is there and answers.
            const r = await sh(`${command} --help`, repoRoot);
            expect(r.code, `${command} --help\n${r.output}`).toBe(0);
          } else if (sub === 'gateway') {
            await runGateway(command, configDir);
          } else {
            const cwd = command.includes('examples/') ? repoRoot : resourceDir;
            const r = await sh(command, cwd);
            expect(r.code, `${command}\n${r.output}`).toBe(0);
          }
        } else {
          throw new Error(`the README shows a command this test does not know how to run: ${command}`);
        }
        handled.push(command);
      }
    }
    // The operator came out of `kubectl apply -k config/default` as the README has it.
    const deployment = await cp!.request('GET', '/apis/apps/v1/namespaces/xmpp-web-gateway-system/deployments/xmpp-web-gateway-operator');
    expect(deployment.status, deployment.body).toBe(200);
    console.log(`[readme] ${handled.length} commands:\n  ${handled.join('\n  ')}`);
  });

  it('shows a command line whose every command answers --help', async () => {
    for (const line of synopsis) {
      const sub = line.split(/\s+/)[1]!;
      const r = await sh(`npx xmpp-web-gateway ${sub} --help`, repoRoot);
      expect(r.code, r.output).toBe(0);
      expect(r.output).toMatch(new RegExp(`usage: xmpp-web-gateway ${sub}`));
    }
  });
});

/** `xmpp-web-gateway gateway --config gateway.yaml`: a node from a small config file, up, then drained. */
async function runGateway(command: string, dir: string): Promise<void> {
  const [port, admin] = (await freePorts(2)) as [number, number];
  writeFileSync(path.join(dir, 'gateway.yaml'), `listen: { host: 127.0.0.1, port: ${port} }\nadmin: { host: 127.0.0.1, port: ${admin} }\nupstream: { default: { host: 127.0.0.1 } }\n`);
  const child = spawn('/bin/sh', ['-c', `exec ${command}`], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    await eventually(`${command}: /healthz on the admin port`, async () => (await fetch(`http://127.0.0.1:${admin}/healthz`)).ok, { timeoutMs: 20_000 }).catch((e: Error) => {
      throw new Error(`${e.message}\n${output}`);
    });
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited, output).toBe(0);
}
