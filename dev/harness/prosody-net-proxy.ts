// mod_net_proxy (PROXY protocol v1 and v2 for Prosody) from Debian's prosody-modules, for Prosody 0.12.
//
// Debian 12's prosody-modules (the installed package) has no mod_net_proxy; Debian 13's has it, but that
// package depends on prosody >= 13 and is never installed here. Its module works on 0.12 (its README says so,
// and test/integration/upstream/proxy-protocol.test.ts shows it), so this file takes the one Lua file out of
// the trixie .deb: downloaded once from deb.debian.org (SHA-256 pinned), kept outside the checkout in
// ${XDG_CACHE_HOME:-~/.cache}/xmpp-web-gateway/prosody-modules/<version>/, and unpacked with dpkg-deb into a
// plugin folder that holds mod_net_proxy.lua alone (a plugin_paths entry that can shadow no other module).
// dev/prepare.ts calls it, so a fresh machine has it before the tests; the Prosody harness calls it again
// (a no-op once cached). Any failure is an Error with a one-line reason, never a silent skip.

import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const NET_PROXY_DEB = {
  version: '0.0~hg20250402.f315edc39f3d+dfsg-2',
  url: 'http://deb.debian.org/debian/pool/main/p/prosody-modules/prosody-modules_0.0~hg20250402.f315edc39f3d+dfsg-2_all.deb',
  sha256: 'f8f0bc7427a31620666cd518b0df40f11a239b40fa9a013ecc7983370c0c1a38',
  /** The module inside the package's data archive. */
  member: './usr/lib/prosody/modules/mod_net_proxy/mod_net_proxy.lua',
} as const;

const DOWNLOAD_TIMEOUT_MS = 120_000;

/** ${XDG_CACHE_HOME:-~/.cache}/xmpp-web-gateway/prosody-modules/<version>, as dev/go-toolchain.ts names its cache. */
export function netProxyCacheDir(): string {
  const root = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(root, 'xmpp-web-gateway', 'prosody-modules', NET_PROXY_DEB.version);
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The pinned .deb, from the cache or from deb.debian.org; its path. */
async function debFile(dir: string): Promise<string> {
  const file = path.join(dir, path.basename(new URL(NET_PROXY_DEB.url).pathname).replace(/%7E/gi, '~'));
  if (existsSync(file) && sha256(await fs.readFile(file)) === NET_PROXY_DEB.sha256) return file;
  let body: Buffer;
  try {
    const res = await fetch(NET_PROXY_DEB.url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    body = Buffer.from(await res.arrayBuffer());
  } catch (e) {
    throw new Error(`mod_net_proxy: downloading ${NET_PROXY_DEB.url} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const got = sha256(body);
  if (got !== NET_PROXY_DEB.sha256) {
    throw new Error(`mod_net_proxy: ${NET_PROXY_DEB.url} has SHA-256 ${got}, expected ${NET_PROXY_DEB.sha256}`);
  }
  await fs.mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, body);
  await fs.rename(tmp, file);
  return file;
}

/**
 * A plugin folder holding mod_net_proxy.lua (for Prosody's plugin_paths), made once and then reused.
 * Throws an Error whose message is one line saying what failed.
 */
export async function ensureNetProxyModule(log: (line: string) => void = () => {}): Promise<string> {
  const dir = netProxyCacheDir();
  const plugins = path.join(dir, 'plugins');
  const module = path.join(plugins, 'mod_net_proxy.lua');
  if (existsSync(module)) return plugins;
  log(`mod_net_proxy: fetching prosody-modules ${NET_PROXY_DEB.version} (Debian trixie) into ${dir}`);
  const deb = await debFile(dir);
  const work = await fs.mkdtemp(path.join(dir, 'extract-'));
  try {
    // dpkg-deb --fsys-tarfile writes the data archive as a plain tar, whatever its compression.
    const tarPath = path.join(work, 'data.tar');
    try {
      const { stdout } = await execFileAsync('dpkg-deb', ['--fsys-tarfile', deb], { encoding: 'buffer', maxBuffer: 64 << 20, timeout: 60_000 });
      await fs.writeFile(tarPath, stdout);
      await execFileAsync('tar', ['-x', '-f', tarPath, '-C', work, NET_PROXY_DEB.member], { timeout: 60_000 });
    } catch (e) {
      const err = e as Error & { stderr?: Buffer | string };
      const why = (err.stderr?.toString().trim() || err.message).split('\n')[0];
      throw new Error(`mod_net_proxy: unpacking ${deb} failed (dpkg-deb and tar are needed): ${why}`, { cause: e });
    }
    const extracted = path.join(work, NET_PROXY_DEB.member);
    if (!existsSync(extracted)) throw new Error(`mod_net_proxy: ${deb} holds no ${NET_PROXY_DEB.member}`);
    await fs.mkdir(plugins, { recursive: true });
    const tmp = `${module}.${process.pid}.tmp`;
    await fs.copyFile(extracted, tmp);
    await fs.rename(tmp, module);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
  log(`mod_net_proxy: ${module}`);
  return plugins;
}
