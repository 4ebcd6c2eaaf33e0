// Container images for the local cluster's real node, built here without a registry or a Docker engine:
//   - local stand-ins for the Dockerfile's base images (node:24-bookworm-slim, distroless nodejs24), made
//     from Debian packages (mmdebstrap) plus the Node 24 binary of the npm `node` package this checkout pins;
//   - the pod sandbox ("pause") image: busybox-static's sleep;
//   - the gateway image itself, from the project's own Dockerfile with buildah, its base images passed as
//     build arguments (the Dockerfile's defaults stay what users build with).
// Everything is cached outside the checkout (${XDG_CACHE_HOME:-~/.cache}/xmpp-web-gateway/images/), keyed
// by a hash of its inputs, so a second run only imports the archive into containerd.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheRoot as kubeCacheRoot } from './binaries.ts';

const execFileP = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const STAND_IN_BUILD_IMAGE = 'localhost/xwg-stand-in/node:24-bookworm-slim';
export const STAND_IN_RUNTIME_IMAGE = 'localhost/xwg-stand-in/distroless-nodejs24-debian12:nonroot';
export const PAUSE_IMAGE = 'localhost/xwg-stand-in/pause:3.10';
/** The npm bundled into the build stand-in (node:24 images carry npm 11). */
const NPM_VERSION = '11.6.2';
const SUITE = 'bookworm';
const MIRROR = 'http://deb.debian.org/debian';

export interface ImageArchive {
  /** Reference inside the archive and in containerd, e.g. localhost/xmpp-web-gateway:dev-0123abcd. */
  ref: string;
  /** OCI archive (tar) to import with `ctr images import`. */
  archive: string;
  /** Compressed size of the image's layers, bytes. */
  sizeBytes: number;
  /** True when this call built it (false: taken from the cache). */
  built: boolean;
}

type Log = (line: string) => void;

function imagesRoot(): string {
  return path.join(path.dirname(kubeCacheRoot()), 'images');
}

async function exists(file: string): Promise<boolean> {
  return access(file, constants.F_OK).then(
    () => true,
    () => false,
  );
}

async function run(command: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(command, args, { cwd: opts.cwd ?? repoRoot, timeout: opts.timeoutMs ?? 20 * 60_000, maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${(err.stderr ?? '').slice(-4000)}${(err.stdout ?? '').slice(-2000)}`);
  }
}

/** buildah on its own storage in the cache (vfs: works on any filesystem, no overlay-on-overlay). */
function buildah(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const store = path.join(imagesRoot(), 'buildah');
  return run('buildah', ['--root', path.join(store, 'root'), '--runroot', path.join(store, 'runroot'), '--storage-driver', 'vfs', ...args], opts);
}

async function imagePresent(ref: string): Promise<boolean> {
  return buildah(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', ref]).then(
    () => true,
    () => false,
  );
}

/** Cross-process lock: two test files or a sandbox and a test never build the same image twice. */
async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(imagesRoot(), `.${name}.lock`);
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(await readFile(path.join(lock, 'pid'), 'utf8').catch(() => '0'));
      let alive = false;
      try {
        if (pid) process.kill(pid, 0);
        alive = pid > 0;
      } catch {
        alive = false;
      }
      if (!alive) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** The pinned Node 24 binary the npm `node` package installed into this checkout. */
async function pinnedNodeBinary(): Promise<string> {
  // The package's install script puts the platform's binary in its bin/ (and may prune the platform package).
  const candidates = [
    path.join(repoRoot, 'node_modules', 'node', 'bin', 'node'),
    path.join(repoRoot, 'node_modules', 'node', 'node_modules', `node-linux-${process.arch}`, 'bin', 'node'),
  ];
  for (const c of candidates) if (await exists(c)) return c;
  throw new Error(`the npm "node" package's binary is missing (looked in ${candidates.join(', ')}): run npm ci`);
}

interface StandInRecipe {
  ref: string;
  inputs: unknown[];
  build(work: string, log: Log): Promise<void>;
}

async function ensureStandIn(recipe: StandInRecipe, log: Log): Promise<void> {
  const stamp = createHash('sha256').update(JSON.stringify(recipe.inputs)).digest('hex');
  const stampFile = path.join(imagesRoot(), `${recipe.ref.replace(/[^a-z0-9.-]+/gi, '_')}.stamp`);
  const current = async () => (await readFile(stampFile, 'utf8').catch(() => '')) === stamp && (await imagePresent(recipe.ref));
  if (await current()) return;
  await withLock('stand-ins', async () => {
    if (await current()) return;
    const work = await mkdtemp(path.join(imagesRoot(), '.work-'));
    const started = Date.now();
    log(`building ${recipe.ref} (local stand-in: no registry is reachable)`);
    try {
      await recipe.build(work, log);
      await writeFile(stampFile, stamp);
      log(`built ${recipe.ref} in ${Math.round((Date.now() - started) / 1000)} s`);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
}

/** A container from scratch, filled by `fill`, committed as `ref` with the given config flags. */
async function commitFromScratch(ref: string, fill: (container: string) => Promise<void>, config: string[]): Promise<void> {
  const container = (await buildah(['from', '--name', `xwg-stand-in-${process.pid}-${Date.now()}`, 'scratch'])).trim();
  try {
    await fill(container);
    if (config.length) await buildah(['config', ...config, container]);
    await buildah(['commit', '--rm', container, ref]);
  } catch (e) {
    await buildah(['rm', container]).catch(() => {});
    throw e;
  }
}

const PASSWD = 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n';
const GROUP = 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n';

function runtimeRecipe(node: string, nodeDigest: string): StandInRecipe {
  // distroless/nodejs: glibc, libstdc++, CA certificates, tzdata, /etc/passwd with nonroot, node at
  // /nodejs/bin/node, no shell and no package manager (packages extracted, no maintainer scripts run).
  const packages = ['base-files', 'netbase', 'tzdata', 'libc6', 'libgcc-s1', 'libstdc++6', 'ca-certificates'];
  return {
    ref: STAND_IN_RUNTIME_IMAGE,
    inputs: ['runtime-v1', SUITE, packages, nodeDigest],
    async build(work) {
      const rootfs = path.join(work, 'rootfs.tar');
      await run('mmdebstrap', ['--quiet', '--variant=extract', `--include=${packages.join(',')}`, SUITE, rootfs, MIRROR]);
      const extra = path.join(work, 'extra');
      await mkdir(path.join(extra, 'nodejs', 'bin'), { recursive: true });
      await mkdir(path.join(extra, 'etc', 'ssl', 'certs'), { recursive: true });
      await mkdir(path.join(extra, 'home', 'nonroot'), { recursive: true });
      await mkdir(path.join(extra, 'tmp'), { recursive: true });
      await run('cp', [node, path.join(extra, 'nodejs', 'bin', 'node')]);
      // ca-certificates' bundle is made by its maintainer script, which extract does not run.
      await run('cp', ['/etc/ssl/certs/ca-certificates.crt', path.join(extra, 'etc', 'ssl', 'certs', 'ca-certificates.crt')]);
      await writeFile(path.join(extra, 'etc', 'passwd'), PASSWD);
      await writeFile(path.join(extra, 'etc', 'group'), GROUP);
      await chmod(path.join(extra, 'tmp'), 0o1777);
      await run('chown', ['65532:65532', path.join(extra, 'home', 'nonroot')]);
      await commitFromScratch(
        STAND_IN_RUNTIME_IMAGE,
        async (c) => {
          await buildah(['add', c, rootfs, '/']);
          await buildah(['copy', c, extra, '/']);
        },
        ['--user', '65532:65532', '--workingdir', '/home/nonroot', '--entrypoint', '["/nodejs/bin/node"]', '--env', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'],
      );
    },
  };
}

function buildRecipe(node: string, nodeDigest: string, hostCas: string): StandInRecipe {
  // node:24-bookworm-slim: Debian minbase with node and npm in /usr/local. The build stage's `npm ci` must
  // reach the registry as the host does: where the host trusts extra CAs (an egress proxy), so does the
  // stand-in (its Debian bundle is replaced by the host's, and NODE_EXTRA_CA_CERTS follows the host's).
  const extraCas = process.env.NODE_EXTRA_CA_CERTS ? ['--env', 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt'] : [];
  return {
    ref: STAND_IN_BUILD_IMAGE,
    inputs: ['build-v2', SUITE, NPM_VERSION, nodeDigest, hostCas, extraCas],
    async build(work) {
      const rootfs = path.join(work, 'rootfs.tar');
      await run('mmdebstrap', ['--quiet', '--variant=minbase', '--include=ca-certificates', SUITE, rootfs, MIRROR]);
      const extra = path.join(work, 'extra');
      const lib = path.join(extra, 'usr', 'local', 'lib', 'node_modules');
      await mkdir(path.join(extra, 'usr', 'local', 'bin'), { recursive: true });
      await mkdir(path.join(extra, 'etc', 'ssl', 'certs'), { recursive: true });
      await run('cp', ['/etc/ssl/certs/ca-certificates.crt', path.join(extra, 'etc', 'ssl', 'certs', 'ca-certificates.crt')]);
      await mkdir(lib, { recursive: true });
      await run('cp', [node, path.join(extra, 'usr', 'local', 'bin', 'node')]);
      const tarball = (await run('npm', ['pack', `npm@${NPM_VERSION}`, '--silent', '--pack-destination', work])).trim().split('\n').pop()!;
      await mkdir(path.join(lib, 'npm'));
      await run('tar', ['-xzf', path.join(work, tarball), '-C', path.join(lib, 'npm'), '--strip-components=1']);
      await symlink('../lib/node_modules/npm/bin/npm-cli.js', path.join(extra, 'usr', 'local', 'bin', 'npm'));
      await symlink('../lib/node_modules/npm/bin/npx-cli.js', path.join(extra, 'usr', 'local', 'bin', 'npx'));
      await commitFromScratch(
        STAND_IN_BUILD_IMAGE,
        async (c) => {
          await buildah(['add', c, rootfs, '/']);
          await buildah(['copy', c, extra, '/']);
        },
        ['--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...extraCas, '--cmd', '["node"]'],
      );
    },
  };
}

function pauseRecipe(): StandInRecipe {
  return {
    ref: PAUSE_IMAGE,
    inputs: ['pause-v1'],
    async build() {
      // The sandbox container only holds the pod's namespaces: a static sleep is enough.
      await commitFromScratch(
        PAUSE_IMAGE,
        async (c) => {
          await buildah(['copy', c, '/bin/busybox', '/busybox']);
        },
        ['--entrypoint', '["/busybox","sleep","2147483647"]', '--user', '65535:65535'],
      );
    },
  };
}

/** Builds the stand-in base images and the pause image unless cached. */
export async function ensureBaseImages(log: Log = () => {}): Promise<void> {
  await mkdir(imagesRoot(), { recursive: true });
  const node = await pinnedNodeBinary();
  const nodeDigest = createHash('sha256').update(await readFile(node)).digest('hex');
  const hostCas = createHash('sha256').update(await readFile('/etc/ssl/certs/ca-certificates.crt').catch(() => '')).digest('hex');
  for (const recipe of [runtimeRecipe(node, nodeDigest), buildRecipe(node, nodeDigest, hostCas), pauseRecipe()]) await ensureStandIn(recipe, log);
}

/** Files the Dockerfile's build context lets through (.dockerignore: manifests, TS config, src/). */
async function contextFiles(): Promise<string[]> {
  const files = ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];
  const walk = async (dir: string): Promise<void> => {
    for (const e of (await readdir(path.join(repoRoot, dir), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) await walk(rel);
      else if (e.isFile()) files.push(rel);
    }
  };
  await walk('src');
  return files;
}

async function contextHash(): Promise<string> {
  const h = createHash('sha256').update('gateway-image-v1');
  for (const f of await contextFiles()) h.update(f).update('\0').update(await readFile(path.join(repoRoot, f))).update('\0');
  return h.digest('hex');
}

async function saveArchive(ref: string, archive: string): Promise<void> {
  const tmp = `${archive}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  await buildah(['push', '--quiet', ref, `oci-archive:${tmp}:${ref}`]);
  await rename(tmp, archive);
}

/** The archive of an image already in the buildah store (the stand-ins, the pause image). */
export async function archiveOf(ref: string): Promise<ImageArchive> {
  const archive = path.join(imagesRoot(), `${ref.replace(/[^a-z0-9.-]+/gi, '_')}.oci.tar`);
  const stampFile = `${archive}.id`;
  const id = (await buildah(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', ref])).trim();
  let built = false;
  if ((await readFile(stampFile, 'utf8').catch(() => '')) !== id || !(await exists(archive))) {
    await saveArchive(ref, archive);
    await writeFile(stampFile, id);
    built = true;
  }
  return { ref, archive, sizeBytes: (await stat(archive)).size, built };
}

export interface GatewayImageOptions {
  log?: Log;
  /** VERSION build argument (default: package.json's version). */
  version?: string;
}

/**
 * The gateway image from the project's own Dockerfile, tagged localhost/xmpp-web-gateway:dev-<hash of the
 * build context>: the same sources give the same tag, so pods of an unchanged checkout reuse the cached image.
 */
export async function ensureGatewayImage(opts: GatewayImageOptions = {}): Promise<ImageArchive> {
  const log = opts.log ?? (() => {});
  await ensureBaseImages(log);
  const hash = await contextHash();
  const ref = `localhost/xmpp-web-gateway:dev-${hash.slice(0, 12)}`;
  const archive = path.join(imagesRoot(), `xmpp-web-gateway-${hash.slice(0, 12)}.oci.tar`);
  if (await exists(archive)) return { ref, archive, sizeBytes: (await stat(archive)).size, built: false };
  return withLock('gateway', async () => {
    if (await exists(archive)) return { ref, archive, sizeBytes: (await stat(archive)).size, built: false };
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const started = Date.now();
    log(`building ${ref} from the Dockerfile with buildah (npm ci inside the build stage: a minute or two)`);
    const revision = (await run('git', ['rev-parse', 'HEAD']).catch(() => 'unknown')).trim();
    await buildah(
      [
        'bud',
        '--isolation',
        'chroot',
        // The build stage's npm ci reaches the registry as the host does.
        '--network',
        'host',
        // Base images come from the local store only (--pull takes its value after '=').
        '--pull=never',
        '--layers=false',
        '--build-arg',
        `BUILD_IMAGE=${STAND_IN_BUILD_IMAGE}`,
        '--build-arg',
        `RUNTIME_IMAGE=${STAND_IN_RUNTIME_IMAGE}`,
        '--build-arg',
        `VERSION=${opts.version ?? pkg.version}`,
        '--build-arg',
        `REVISION=${revision}`,
        '--tag',
        ref,
        '--file',
        'Dockerfile',
        '.',
      ],
      { cwd: repoRoot, timeoutMs: 30 * 60_000 },
    );
    await saveArchive(ref, archive);
    // Intermediate stages and older dev tags: the archive is the cache, the store only a workspace.
    await buildah(['rmi', ref]).catch(() => {});
    await buildah(['rmi', '--prune']).catch(() => {});
    const sizeBytes = (await stat(archive)).size;
    log(`built ${ref} in ${Math.round((Date.now() - started) / 1000)} s (${(sizeBytes / 1048576).toFixed(1)} MiB archive)`);
    return { ref, archive, sizeBytes, built: true };
  });
}
