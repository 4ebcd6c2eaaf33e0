// Installs what the integration tests, benchmarks and the sandbox need on this machine, and
// returns quickly when everything is already there:
//   - Debian packages: Prosody 0.12 (+ the Lua libraries it uses), Chromium (browser tests),
//     nginx-light and HAProxy (reverse-proxy tests), openssl (test PKI);
//   - containerd, runc, the CNI plugins, iptables and conntrack (the local cluster's real node),
//     buildah and mmdebstrap (the gateway image and its local base images);
//   - ejabberd and prosody-modules (the second upstream server, the SASL2 modules), dnsmasq (a real DNS
//     server for the SRV tests);
//   - mod_net_proxy (PROXY protocol for Prosody), which Debian 12's prosody-modules lacks: the one Lua file
//     from Debian 13's prosody-modules .deb (deb.debian.org, SHA-256 pinned; the package itself needs
//     prosody >= 13 and is never installed), cached in ~/.cache/xmpp-web-gateway/prosody-modules/
//     (dev/harness/prosody-net-proxy.ts);
//   - the Kubernetes binaries (dev/cluster/binaries.ts: control plane, kubelet, kube-proxy,
//     kubectl, helm, kwok, built from the Go module proxy), unless XWG_SKIP_KUBE=1, with the machine's
//     Go when new enough, else a Go toolchain module from the Go module proxy (dev/go-toolchain.ts).
//
// The services these packages ship (prosody, nginx, haproxy) are never started: a policy-rc.d
// that refuses every start is in place during the install, and a system Prosody found running
// afterwards is stopped so that it holds none of the ports 5222/5269/5280/5281.
//
// Usage: node dev/prepare.ts        (as root; prints what to install otherwise)

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { ensureKubeBinaries } from './cluster/binaries.ts';
import { ensureGo } from './go-toolchain.ts';
import { ensureNetProxyModule } from './harness/prosody-net-proxy.ts';

/** Debian package → why it is needed. */
const PACKAGES: Record<string, string> = {
  prosody: 'upstream XMPP server for integration tests and benchmarks',
  'lua-event': 'Prosody recommends it (libevent backend)',
  'lua-unbound': 'Prosody recommends it (DNS resolver)',
  chromium: 'browser tests (Strophe.js / @xmpp/client in a real page)',
  'fonts-liberation': 'fonts for headless Chromium',
  'nginx-light': 'reverse proxy in front of the gateway (proxy tests)',
  haproxy: 'reverse proxy in front of the gateway, and PROXY protocol receiver in front of Prosody (proxy tests)',
  openssl: 'test PKI (dev/harness/pki.ts)',
  'ca-certificates': 'TLS trust store',
  procps: 'ps/pkill for debugging test processes',
  containerd: 'container runtime of the local cluster\'s real node (its own root and socket, never the system service)',
  runc: 'OCI runtime under containerd',
  'containernetworking-plugins': 'pod network of the real node (bridge, host-local, loopback, portmap)',
  iptables: 'kube-proxy (iptables mode) and the CNI portmap plugin',
  conntrack: 'kube-proxy clears stale UDP/NAT entries with it',
  'busybox-static': 'the local pod sandbox ("pause") image: a static sleep',
  buildah: 'builds the gateway image from the Dockerfile without a Docker engine',
  mmdebstrap: 'builds local stand-ins for the Dockerfile\'s base images (no registry reachable)',
  ejabberd: 'second upstream XMPP server for integration tests',
  'prosody-modules': 'the SASL2 modules for Prosody (its mod_net_proxy comes from Debian 13, see ensureNetProxyModule)',
  dnsmasq: 'a real DNS server on loopback for the SRV record tests',
  unzip: 'unpacks the Go toolchain from the Go module proxy when the machine has none new enough (dev/go-toolchain.ts)',
};

const POLICY_RC_D = '/usr/sbin/policy-rc.d';
const POLICY_MARKER = '# xwg prepare: temporary';
const PROSODY_SYSTEM_PIDFILE = '/run/prosody/prosody.pid';

function log(message: string): void {
  process.stdout.write(`[prepare] ${message}\n`);
}

function missingPackages(names: string[]): string[] {
  const result = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...names], { encoding: 'utf8' });
  if (result.error) {
    // Not a Debian system (no dpkg-query): everything is "missing" as far as we can tell.
    return names;
  }
  const installed = new Set<string>();
  for (const line of result.stdout.split('\n')) {
    const [name, status] = line.trim().split(' ');
    if (name && status === 'installed') installed.add(name.replace(/:.*$/, ''));
  }
  return names.filter((n) => !installed.has(n));
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  log(`$ ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} exited with ${result.status ?? result.signal}`);
}

/** Refuse every service start while installing, unless a policy already does (Docker images ship one). */
function withServicesBlocked<T>(fn: () => T): T {
  let created = false;
  if (!fs.existsSync(POLICY_RC_D)) {
    fs.writeFileSync(POLICY_RC_D, `#!/bin/sh\n${POLICY_MARKER}: refuse to start services during the install\nexit 101\n`, { mode: 0o755 });
    created = true;
  }
  try {
    return fn();
  } finally {
    if (created && fs.readFileSync(POLICY_RC_D, 'utf8').includes(POLICY_MARKER)) fs.rmSync(POLICY_RC_D, { force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a system Prosody (the Debian service), which the tests never use. */
function stopSystemProsody(): void {
  let pid: number | undefined;
  try {
    pid = Number(fs.readFileSync(PROSODY_SYSTEM_PIDFILE, 'utf8').trim());
  } catch {
    return;
  }
  if (!pid || !pidAlive(pid)) return;
  log(`a system Prosody is running (pid ${pid}): stopping it, the tests start their own`);
  spawnSync('service', ['prosody', 'stop'], { stdio: 'inherit' });
  for (let i = 0; i < 50 && pidAlive(pid); i++) spawnSync('sleep', ['0.1']);
  if (pidAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

function installPackages(): void {
  const wanted = Object.keys(PACKAGES);
  const missing = missingPackages(wanted);
  if (missing.length === 0) {
    log(`Debian packages present: ${wanted.join(', ')}`);
    return;
  }
  log(`missing Debian packages: ${missing.join(', ')}`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    const lines = missing.map((p) => `  ${p.padEnd(18)} ${PACKAGES[p]}`);
    process.stderr.write(
      [
        '[prepare] not running as root, so cannot install them. Install as root:',
        `  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing.join(' ')}`,
        ...lines,
        '',
      ].join('\n'),
    );
    process.exit(1);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'l' };
  const apt = ['-o', 'DPkg::Lock::Timeout=300', '-o', 'Dpkg::Use-Pty=0'];
  withServicesBlocked(() => {
    run('apt-get', [...apt, 'update', '-qq'], env);
    run(
      'apt-get',
      [...apt, 'install', '-y', '-qq', '--no-install-recommends', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold', ...missing],
      env,
    );
  });
  const still = missingPackages(wanted);
  if (still.length > 0) throw new Error(`still missing after apt-get install: ${still.join(', ')}`);
  log(`installed: ${missing.join(', ')}`);
}

function checkProsody(): void {
  // Never `prosody --version`: it starts a server with the system config.
  const about = execFileSync('prosodyctl', ['about'], { encoding: 'utf8', timeout: 30_000 });
  const version = /^Prosody (\S+)/m.exec(about)?.[1] ?? 'unknown';
  const modules = ['smacks', 'websocket', 'bosh'].map((m) => `${m}=${fs.existsSync(`/usr/lib/prosody/modules/mod_${m}.lua`) ? 'yes' : 'NO'}`);
  log(`Prosody ${version} (${modules.join(', ')})`);
}

async function prepareKube(): Promise<void> {
  if (process.env.XWG_SKIP_KUBE === '1' || process.env.XWG_SKIP_KUBE === 'true') {
    log('XWG_SKIP_KUBE set: skipping kube-apiserver/etcd');
    return;
  }
  if (!process.env.KUBEBUILDER_ASSETS) {
    // Go builds the binaries: the machine's when new enough, else one from the Go module proxy.
    try {
      await ensureGo(log);
    } catch (e) {
      process.stderr.write(`[prepare] ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    }
  }
  log('Kubernetes binaries: ensureKubeBinaries()');
  const bins = await ensureKubeBinaries();
  log(`Kubernetes binaries ready in ${bins.dir}`);
}

async function main(): Promise<void> {
  const started = Date.now();
  installPackages();
  stopSystemProsody();
  checkProsody();
  try {
    log(`mod_net_proxy in ${await ensureNetProxyModule(log)}`);
  } catch (e) {
    process.stderr.write(`[prepare] ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
  await prepareKube();
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[prepare] failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
