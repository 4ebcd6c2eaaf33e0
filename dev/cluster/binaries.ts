// Builds (or finds) the local cluster's binaries: the control plane, the real node (kubelet,
// kube-proxy), kubectl, helm and kwok. Sources are our own tiny Go modules in dev/cluster/go
// (go.mod + go.sum pin every version); outputs are cached outside the checkout, keyed by
// Kubernetes version, in ${XDG_CACHE_HOME:-~/.cache}/xmpp-web-gateway/kube/<version>/.
// KUBEBUILDER_ASSETS (a dir with kube-apiserver and etcd) short-circuits the control-plane build.
//
// Usage: node dev/cluster/binaries.ts [--no-helm] [--no-kwok]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface KubeBinaries {
  /** Directory with the binaries; usable as KUBEBUILDER_ASSETS. */
  dir: string;
  /** Kubernetes version of kube-apiserver, e.g. "v1.34.12". */
  version: string;
  apiserver: string;
  etcd: string;
  controllerManager: string;
  scheduler: string;
  /** Built from the same release as the control plane, so client and server versions match. */
  kubectl: string;
  /** The real node's agents (dev/cluster/node.ts). */
  kubelet: string;
  kubeProxy: string;
  helm?: string;
  kwok?: string;
  /** kwok Stage config (fast node + pod lifecycle) to pass as `kwok --config`. */
  kwokStages?: string;
}

export interface EnsureKubeBinariesOptions {
  /** Build helm too (default true). */
  helm?: boolean;
  /** Build kwok too (default true). */
  kwok?: boolean;
  /** Progress sink (default: stderr). */
  log?: (line: string) => void;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const goRoot = path.join(repoRoot, 'dev', 'cluster', 'go');

interface Recipe {
  /** Directory under dev/cluster/go. */
  module: string;
  /** Output file name -> Go package path. */
  binaries: Record<string, string>;
  ldflags: (gomod: string) => string[];
}

// Without gitVersion the binaries report v0.0.0-master: compatibility-version checks fail and
// the kubelet registers a node of that version.
function kubernetesVersionFlags(gomod: string): string[] {
  const v = requiredVersion(gomod, 'k8s.io/kubernetes');
  const [major, minor] = v.slice(1).split('.');
  const pkg = 'k8s.io/component-base/version';
  return [`-X ${pkg}.gitVersion=${v}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`, `-X ${pkg}.gitTreeState=clean`];
}

const recipes = {
  kubernetes: {
    module: 'kubernetes',
    binaries: {
      'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
      'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
      // Only needed with kwok (fake Nodes); costs little on top of the other two.
      'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
    },
    ldflags: kubernetesVersionFlags,
  },
  node: {
    module: 'node',
    binaries: {
      kubectl: 'k8s.io/kubernetes/cmd/kubectl',
      kubelet: 'k8s.io/kubernetes/cmd/kubelet',
      'kube-proxy': 'k8s.io/kubernetes/cmd/kube-proxy',
    },
    ldflags: kubernetesVersionFlags,
  },
  etcd: {
    module: 'etcd',
    // `go build .` names the output after the module path's last element: etcd.
    binaries: { etcd: '.' },
    ldflags: () => [],
  },
  helm: {
    module: 'helm',
    binaries: { helm: 'helm.sh/helm/v3/cmd/helm' },
    // Mirrors helm's Makefile: version string and the default .Capabilities.KubeVersion.
    ldflags: (gomod) => {
      const clientGo = requiredVersion(gomod, 'k8s.io/client-go').slice(1).split('.');
      const major = String(Number(clientGo[0]) + 1);
      const minor = clientGo[1] ?? '0';
      return [
        `-X helm.sh/helm/v3/internal/version.version=${requiredVersion(gomod, 'helm.sh/helm/v3')}`,
        '-X helm.sh/helm/v3/internal/version.gitTreeState=clean',
        `-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=${major}`,
        `-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${minor}`,
        `-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=${major}`,
        `-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${minor}`,
      ];
    },
  },
  kwok: {
    module: 'kwok',
    binaries: { kwok: 'sigs.k8s.io/kwok/cmd/kwok' },
    ldflags: () => [],
  },
} satisfies Record<string, Recipe>;

// Reproducible: the same go.sum and toolchain give bit-identical binaries (no paths, no
// stamp of this repo's git state into etcd's main package).
const buildFlags = ['-trimpath', '-buildvcs=false'];

/** kwok ships its default Stages as YAML (kwokctl embeds them; the kwok binary does not). */
const kwokStageDirs = ['node/fast', 'node/heartbeat-with-lease', 'pod/fast'];

export function requiredVersion(gomod: string, modulePath: string): string {
  const escaped = modulePath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const m = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm').exec(gomod);
  if (!m?.[1]) throw new Error(`${modulePath} is not required in go.mod`);
  return m[1];
}

export function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(base, 'xmpp-web-gateway', 'kube');
}

/** The Kubernetes version our go.mod pins, e.g. "v1.34.12". */
export async function pinnedKubeVersion(): Promise<string> {
  const gomod = await readFile(path.join(goRoot, 'kubernetes', 'go.mod'), 'utf8');
  return requiredVersion(gomod, 'k8s.io/kubernetes');
}

async function exists(file: string, mode = constants.F_OK): Promise<boolean> {
  try {
    await access(file, mode);
    return true;
  } catch {
    return false;
  }
}

function defaultLog(line: string): void {
  process.stderr.write(`[kube-binaries] ${line}\n`);
}

async function findGo(): Promise<string> {
  const candidates = [
    process.env.GO,
    ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'go')),
    '/usr/local/go/bin/go',
  ];
  for (const c of candidates) if (c && (await exists(c, constants.X_OK))) return c;
  throw new Error('Go toolchain not found (set GO=/path/to/go, or KUBEBUILDER_ASSETS to prebuilt binaries)');
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; logFile?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const log = opts.logFile ? createWriteStream(opts.logFile) : undefined;
    child.stdout.on('data', (d: Buffer) => {
      out.push(d);
      log?.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      out.push(d);
      log?.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      log?.end();
      const text = Buffer.concat(out).toString();
      if (code === 0) resolve(text);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${text.slice(-4000)}`));
    });
  });
}

/** Hash of everything that determines a module's outputs, so a changed go.mod rebuilds. */
async function recipeStamp(recipe: Recipe, gomod: string): Promise<string> {
  const dir = path.join(goRoot, recipe.module);
  const h = createHash('sha256');
  for (const f of (await readdir(dir)).sort()) {
    if (f.endsWith('.go') || f === 'go.mod' || f === 'go.sum') h.update(f).update(await readFile(path.join(dir, f)));
  }
  h.update(JSON.stringify([recipe.binaries, buildFlags, recipe.ldflags(gomod), process.platform, process.arch]));
  return h.digest('hex');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Cross-process lock (mkdir is atomic) so parallel test workers do not build twice. */
async function withLock<T>(dir: string, log: (l: string) => void, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(dir, '.lock');
  let announced = false;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(await readFile(path.join(lock, 'pid'), 'utf8').catch(() => ''));
      if (pid && !isAlive(pid)) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (!announced) log(`waiting for another build (pid ${pid || '?'}) holding ${lock}`);
      announced = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** Builds one recipe into `dir` unless its stamp says the outputs are current. */
async function ensureRecipe(recipe: Recipe, dir: string, log: (l: string) => void, after?: (go: string, env: NodeJS.ProcessEnv) => Promise<void>): Promise<void> {
  const moduleDir = path.join(goRoot, recipe.module);
  const gomod = await readFile(path.join(moduleDir, 'go.mod'), 'utf8');
  const stamp = await recipeStamp(recipe, gomod);
  const stampFile = path.join(dir, `.${recipe.module}.stamp`);
  const names = Object.keys(recipe.binaries);
  const current = async (): Promise<boolean> =>
    (await readFile(stampFile, 'utf8').catch(() => '')) === stamp &&
    (await Promise.all(names.map((n) => exists(path.join(dir, n), constants.X_OK)))).every(Boolean);
  if (await current()) return;

  await withLock(dir, log, async () => {
    if (await current()) return; // another process finished it while we waited
    const go = await findGo();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CGO_ENABLED: '0',
      GOWORK: 'off',
      // go.sum is committed: never rewrite it, fail instead.
      GOFLAGS: '-mod=readonly',
    };
    // Under the lock no other build is running: leftovers are from killed builds.
    for (const f of await readdir(dir)) if (f.startsWith('.build-')) await rm(path.join(dir, f), { recursive: true, force: true });
    const tmp = path.join(dir, `.build-${process.pid}`);
    await mkdir(tmp, { recursive: true });
    const logFile = path.join(dir, `build-${recipe.module}.log`);
    const started = Date.now();
    log(`building ${names.join(', ')} from ${path.relative(repoRoot, moduleDir)} (log: ${logFile}); the first build takes minutes`);
    const heartbeat = setInterval(() => log(`  still building ${names.join(', ')} (${Math.round((Date.now() - started) / 1000)}s)`), 60_000);
    try {
      const ldflags = ['-s', '-w', ...recipe.ldflags(gomod)].join(' ');
      // One `go build` for several commands shares the compile of their common packages.
      await run(go, ['build', ...buildFlags, '-ldflags', ldflags, '-o', tmp + path.sep, ...Object.values(recipe.binaries)], { cwd: moduleDir, env, logFile });
      for (const n of names) await rename(path.join(tmp, n), path.join(dir, n));
      await after?.(go, env);
      await writeFile(stampFile, stamp);
      log(`built ${names.join(', ')} in ${Math.round((Date.now() - started) / 1000)}s`);
    } finally {
      clearInterval(heartbeat);
      await rm(tmp, { recursive: true, force: true });
    }
  });
}

/** Copies kwok's default Stage YAMLs out of the module cache into one config file. */
async function writeKwokStages(go: string, env: NodeJS.ProcessEnv, dir: string): Promise<void> {
  const info = JSON.parse(await run(go, ['list', '-m', '-json', 'sigs.k8s.io/kwok'], { cwd: path.join(goRoot, 'kwok'), env })) as { Dir?: string };
  if (!info.Dir) throw new Error('sigs.k8s.io/kwok is not in the module cache');
  const docs: string[] = [];
  for (const sub of kwokStageDirs) {
    const stageDir = path.join(info.Dir, 'kustomize', 'stage', sub);
    for (const f of (await readdir(stageDir)).sort()) {
      if (f.endsWith('.yaml') && f !== 'kustomization.yaml') docs.push((await readFile(path.join(stageDir, f), 'utf8')).trim());
    }
  }
  await writeFile(path.join(dir, 'kwok-stages.yaml'), docs.join('\n---\n') + '\n');
}

async function apiserverVersion(apiserver: string): Promise<string> {
  const out = await run(apiserver, ['--version'], { cwd: repoRoot, env: process.env });
  return /v\d+\.\d+\.\d+\S*/.exec(out)?.[0] ?? 'unknown';
}

export async function ensureKubeBinaries(opts: EnsureKubeBinariesOptions = {}): Promise<KubeBinaries> {
  const log = opts.log ?? defaultLog;
  const wantHelm = opts.helm ?? true;
  const wantKwok = opts.kwok ?? true;
  const version = await pinnedKubeVersion();
  const dir = path.join(cacheRoot(), version);
  await mkdir(dir, { recursive: true });
  const assets = process.env.KUBEBUILDER_ASSETS;
  const fromAssets = async (name: string): Promise<string | undefined> => {
    const file = assets ? path.join(assets, name) : undefined;
    return file && (await exists(file, constants.X_OK)) ? file : undefined;
  };

  let apiserver = await fromAssets('kube-apiserver');
  let etcd = await fromAssets('etcd');
  let controllerManager = await fromAssets('kube-controller-manager');
  let scheduler = await fromAssets('kube-scheduler');
  if (assets && (!apiserver || !etcd)) throw new Error(`KUBEBUILDER_ASSETS=${assets} lacks kube-apiserver or etcd`);
  if (assets) log(`using KUBEBUILDER_ASSETS=${assets}`);

  if (!apiserver || !controllerManager || !scheduler) {
    // envtest assets lack the controller-manager and scheduler: build ours beside them.
    await ensureRecipe(recipes.kubernetes, dir, log);
    apiserver ??= path.join(dir, 'kube-apiserver');
    controllerManager ??= path.join(dir, 'kube-controller-manager');
    scheduler ??= path.join(dir, 'kube-scheduler');
  }
  if (!etcd) {
    await ensureRecipe(recipes.etcd, dir, log);
    etcd = path.join(dir, 'etcd');
  }
  // kubectl (tests, the sandbox, the README) and the real node's agents: one build shares their packages.
  await ensureRecipe(recipes.node, dir, log);
  const result: KubeBinaries = {
    dir: assets ?? dir,
    version: assets ? await apiserverVersion(apiserver) : version,
    apiserver,
    etcd,
    controllerManager,
    scheduler,
    kubectl: path.join(dir, 'kubectl'),
    kubelet: path.join(dir, 'kubelet'),
    kubeProxy: path.join(dir, 'kube-proxy'),
  };
  if (wantHelm) {
    result.helm = await fromAssets('helm');
    if (!result.helm) {
      await ensureRecipe(recipes.helm, dir, log);
      result.helm = path.join(dir, 'helm');
    }
  }
  if (wantKwok) {
    await ensureRecipe(recipes.kwok, dir, log, (go, env) => writeKwokStages(go, env, dir));
    result.kwok = path.join(dir, 'kwok');
    result.kwokStages = path.join(dir, 'kwok-stages.yaml');
  }
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = new Set(process.argv.slice(2));
  const started = Date.now();
  ensureKubeBinaries({ helm: !args.has('--no-helm'), kwok: !args.has('--no-kwok') }).then(
    (bins) => {
      defaultLog(`ready in ${((Date.now() - started) / 1000).toFixed(1)}s: ${bins.dir}`);
      process.stdout.write(JSON.stringify(bins, null, 2) + '\n');
    },
    (err: unknown) => {
      defaultLog(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    },
  );
}
