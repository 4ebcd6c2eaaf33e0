// The Go toolchain that builds the Kubernetes binaries (dev/cluster/binaries.ts): the one on this machine when it
// is new enough for every go.mod under dev/cluster/go, else a pinned release taken from the Go module proxy's
// toolchain modules (golang.org/toolchain, the ones the go command's GOTOOLCHAIN downloads), unpacked once into
// ${XDG_CACHE_HOME:-~/.cache}/xmpp-web-gateway/go/. Either way GO names it for the build; when neither works,
// one line says what is missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The release fetched when the machine has no Go, or one too old. */
export const GO_TOOLCHAIN = '1.26.8';
/** SHA-256 of the proxy's zip for linux/amd64 (other platforms rely on HTTPS alone). */
const ZIP_SHA256: Record<string, string> = {
  'linux-amd64': '30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7',
};

const GO_ROOT = path.join(import.meta.dirname, 'cluster', 'go');

/** `1.26.0` ≤ `1.26.8`: numeric, part by part; a missing part counts as 0. */
export function versionAtLeast(have: string, need: string): boolean {
  const a = have.split('.').map(Number);
  const b = need.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/** The highest `go` directive of the given go.mod texts. */
export function requiredGoVersion(goMods: readonly string[]): string {
  let need = '0';
  for (const text of goMods) {
    const v = /^go (\d+(?:\.\d+)*)\s*$/m.exec(text)?.[1];
    if (v && !versionAtLeast(need, v)) need = v;
  }
  return need;
}

/** `go1.26.8` → `1.26.8`; undefined when the binary does not answer. */
function versionOf(go: string): string | undefined {
  const r = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, GOTOOLCHAIN: 'local' } });
  return r.status === 0 ? /^go(\d+(?:\.\d+)*)/.exec(r.stdout.trim())?.[1] : undefined;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function platform(): string {
  const arch = { x64: 'amd64', arm64: 'arm64', arm: 'armv6l', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' }[process.arch as string];
  if (!arch || process.platform !== 'linux') throw new Error(`no Go toolchain module for ${process.platform}/${process.arch}: install Go ≥ the go.mod version yourself and set GO`);
  return `linux-${arch}`;
}

/** The Go module proxy: the first http(s) entry of GOPROXY, else the public one. */
function proxy(): string {
  const first = (process.env.GOPROXY ?? '').split(/[,|]/).find((p) => /^https?:\/\//.test(p));
  return (first ?? 'https://proxy.golang.org').replace(/\/$/, '');
}

async function fetchToolchain(version: string, into: string, log: (l: string) => void): Promise<string> {
  const plat = platform();
  const module = `v0.0.1-go${version}.${plat}`;
  const url = `${proxy()}/golang.org/toolchain/@v/${module}.zip`;
  const go = path.join(into, 'bin', 'go');
  if (executable(go) && versionOf(go) === version) return go;
  if (spawnSync('unzip', ['-v'], { stdio: 'ignore' }).status !== 0) throw new Error('unzip is missing (Debian package unzip) to unpack the Go toolchain');
  log(`Go ${version}: fetching ${url}`);
  const res = await fetch(url, { signal: AbortSignal.timeout(600_000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const zip = Buffer.from(await res.arrayBuffer());
  const sha = createHash('sha256').update(zip).digest('hex');
  const want = version === GO_TOOLCHAIN ? ZIP_SHA256[plat] : undefined;
  if (want && sha !== want) throw new Error(`${url}: SHA-256 ${sha}, expected ${want}`);
  log(`Go ${version}: ${zip.length} bytes, SHA-256 ${sha}${want ? ' (as pinned)' : ''}`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'xwg-go-'));
  try {
    writeFileSync(path.join(tmp, 'go.zip'), zip);
    execFileSync('unzip', ['-q', path.join(tmp, 'go.zip'), '-d', path.join(tmp, 'x')], { stdio: 'inherit', timeout: 300_000 });
    // The zip holds golang.org/toolchain@<module>/{bin,pkg,src,…}.
    const root = path.join(tmp, 'x', 'golang.org', `toolchain@${module}`);
    if (!existsSync(path.join(root, 'bin', 'go'))) throw new Error(`${url}: no bin/go inside (${readdirSync(path.join(tmp, 'x')).join(', ')})`);
    rmSync(into, { recursive: true, force: true });
    mkdirSync(path.dirname(into), { recursive: true });
    renameSync(root, into);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const got = versionOf(go);
  if (got !== version) throw new Error(`${go} reports ${got ?? 'nothing'}, not ${version}`);
  log(`Go ${version} unpacked in ${into}`);
  return go;
}

/**
 * A Go new enough for dev/cluster/go, as GO in this process's environment (binaries.ts looks there first).
 * Throws an Error whose message is one line naming what is missing.
 */
export async function ensureGo(log: (l: string) => void): Promise<string> {
  const need = requiredGoVersion(readdirSync(GO_ROOT).flatMap((d) => (existsSync(path.join(GO_ROOT, d, 'go.mod')) ? [readFileSync(path.join(GO_ROOT, d, 'go.mod'), 'utf8')] : [])));
  const candidates = [process.env.GO, ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'go')), '/usr/local/go/bin/go'];
  let seen: string | undefined;
  for (const c of candidates) {
    if (!c || !executable(c)) continue;
    const v = versionOf(c);
    if (v && versionAtLeast(v, need)) {
      process.env.GO = c;
      log(`Go ${v} at ${c} (go.mod needs ${need})`);
      return c;
    }
    seen ??= `${c} is Go ${v ?? '(no answer)'}`;
  }
  const cache = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'xmpp-web-gateway', 'go', `go${GO_TOOLCHAIN}`);
  log(`no Go ≥ ${need} on this machine (${seen ?? 'none found'}): using go${GO_TOOLCHAIN} from the Go module proxy`);
  try {
    const go = await fetchToolchain(GO_TOOLCHAIN, cache, log);
    process.env.GO = go;
    return go;
  } catch (e) {
    throw new Error(
      `Go ≥ ${need} is needed to build the Kubernetes binaries; ${seen ?? 'none is installed'}, and fetching go${GO_TOOLCHAIN} failed (${e instanceof Error ? e.message : String(e)}): install Go, or set GO=/path/to/go, or KUBEBUILDER_ASSETS to prebuilt binaries`,
      { cause: e },
    );
  }
}
