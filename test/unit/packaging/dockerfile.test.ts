// A static reading of the Dockerfile (no Docker engine here): what it copies exists and survives
// .dockerignore, stages refer to stages, the build's output is what the runtime starts, and the runtime is
// the hardened one the Deployments expect. test/integration/packaging/dist.test.ts runs the same steps.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../scripts/gen-manifests.ts';
import { imageNodeOptions } from '../../../dev/bench/image-runtime.ts';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  base: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions (continuations joined, comments dropped) grouped by stage. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [op = '', ...rest] = line.split(/\s+/);
    const instr = { op: op.toUpperCase(), args: rest.join(' ') };
    if (instr.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instr.args)!;
      stages.push({ base: m[1]!, ...(m[2] ? { name: m[2] } : {}), instructions: [] });
    } else if (stages.length === 0 && instr.op === 'ARG') {
      const [k, v = ''] = instr.args.split('=');
      args.set(k!, v);
    } else stages.at(-1)?.instructions.push(instr);
  }
  return { args, stages };
}

/** .dockerignore as Docker reads it, for the simple patterns we use: the last matching line decides. */
function ignored(patterns: string[], file: string): boolean {
  let out = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const p = (negate ? raw.slice(1) : raw).replace(/\/$/, '');
    const matches = p === '*' || file === p || file.startsWith(`${p}/`);
    if (matches) out = !negate;
  }
  return out;
}

const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
const { args, stages } = parseDockerfile(dockerfile);
const dockerignore = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const build = stages.find((s) => s.name === 'build')!;
const runtime = stages.at(-1)!;
const jsonArray = (s: string) => JSON.parse(s) as string[];

describe('Dockerfile', () => {
  it('has a Node 24 build stage and a small Node 24 runtime stage', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    expect(build.base).toBe('${BUILD_IMAGE}');
    expect(runtime.base).toBe('${RUNTIME_IMAGE}');
    expect(args.get('BUILD_IMAGE')).toMatch(/^node:24-/);
    expect(args.get('RUNTIME_IMAGE')).toMatch(/^gcr\.io\/distroless\/nodejs24-.*:nonroot$/);
  });

  it('copies from the context only files that exist and that .dockerignore lets through', () => {
    const sources = stages.flatMap((s) => s.instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1)));
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources) {
      const rel = src.replace(/^\.\//, '');
      expect(existsSync(path.join(repoRoot, rel)), `${rel} exists`).toBe(true);
      expect(ignored(dockerignore, rel), `${rel} passes .dockerignore`).toBe(false);
    }
    // What the build needs, and no test code or local state.
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/cli/main.ts']) expect(ignored(dockerignore, f), f).toBe(false);
    for (const f of ['node_modules/x', 'dist/cli/main.js', '.git/HEAD', 'test/unit/x.ts', 'dev/harness/prosody.ts', '.ci/run']) expect(ignored(dockerignore, f), f).toBe(true);
  });

  it('builds with the package scripts and ships production dependencies only, without a second Node', () => {
    const runs = build.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    expect(runs).toMatch(/npm ci --ignore-scripts/);
    expect(runs).toMatch(/npm run build/);
    expect(runs).toMatch(/npm prune --omit=dev/);
    expect(runs).toMatch(/rm -rf node_modules\/node /);
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    const tsconfig = JSON.parse(readFileSync(path.join(repoRoot, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(tsconfig.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: 'src' });
  });

  it('takes into the runtime only what the build stage made, and starts dist/cli/main.js', () => {
    const copies = runtime.instructions.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies.every((c) => c.startsWith('--from=build '))).toBe(true);
    expect(copies.map((c) => c.split(/\s+/)[1])).toEqual(['/src/package.json', '/src/node_modules', '/src/dist']);
    const workdir = runtime.instructions.find((i) => i.op === 'WORKDIR')!.args;
    expect(workdir).toBe('/app');
    const entrypoint = jsonArray(runtime.instructions.find((i) => i.op === 'ENTRYPOINT')!.args);
    expect(entrypoint).toEqual(['node', '/app/dist/cli/main.js']);
    // dist/cli/main.js is src/cli/main.ts compiled (rootDir src → outDir dist).
    expect(existsSync(path.join(repoRoot, 'src/cli/main.ts'))).toBe(true);
    expect(jsonArray(runtime.instructions.find((i) => i.op === 'CMD')!.args)).toEqual(['operator']);
    // `node` resolves on PATH in the distroless image.
    expect(runtime.instructions.find((i) => i.op === 'ENV')!.args).toMatch(/PATH=\/nodejs\/bin:/);
  });

  it("caps V8's young generation in the runtime (NODE_OPTIONS), which the benches read from here", () => {
    expect(runtime.instructions.find((i) => i.op === 'ENV')!.args).toMatch(/(^|\s)NODE_OPTIONS=--max-semi-space-size=4(\s|$)/);
    expect(imageNodeOptions(dockerfile)).toEqual(['--max-semi-space-size=4']);
  });

  it('runs as uid 65532, as the operator\'s and the gateway\'s pods require', () => {
    expect(runtime.instructions.find((i) => i.op === 'USER')?.args).toBe('65532:65532');
    expect(runtime.instructions.some((i) => i.op === 'RUN')).toBe(false);
  });

  it('carries the OCI labels', () => {
    const labels = runtime.instructions.filter((i) => i.op === 'LABEL').map((i) => i.args).join(' ');
    for (const key of ['title', 'description', 'licenses', 'version', 'revision', 'created', 'source']) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
  });
});
