// A real Prosody (Debian's 0.12 package) for integration tests and benchmarks, run in the
// foreground as a bounded child process with its own configuration, data and log in a temp
// directory, listening on free loopback ports only. The system service is never used.
//
// Quirks worth knowing (Prosody 0.12.3 as packaged by Debian 12):
//   - `prosody --version` does not exist: unknown options fall through and START the server with
//     the system config. Use prosodyVersion() (`prosodyctl about`).
//   - c2s_require_encryption defaults to true in Prosody; the harness sets it explicitly.
//   - Without allow_unencrypted_plain_auth, SASL PLAIN is not offered on a plain connection;
//     the harness allows it unless encryption is required (SCRAM-SHA-1 is offered either way,
//     since authentication is internal_plain).
//   - mod_tls is only loaded when a certificate is configured: with mod_tls and no certificate,
//     Prosody offers STARTTLS and then fails the handshake.
//   - HTTP (BOSH/WebSocket) requests are routed to a VirtualHost by their Host header; requests for
//     127.0.0.1 go to the first domain (http_default_host).
//   - mod_posix is always loaded on Linux; with -F it writes the pidfile and turns SIGTERM into a
//     clean shutdown and SIGHUP into a config reload.

import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePorts } from './ports.ts';
import { ensureNetProxyModule } from './prosody-net-proxy.ts';
import { spawnBounded, type BoundedProcess, type ExitInfo } from './process.ts';

const execFileAsync = promisify(execFile);

export const PROSODY_MODULE_DIR = '/usr/lib/prosody/modules';

export interface ProsodyTlsFiles {
  certPath: string;
  keyPath: string;
}

export interface ProsodyUser {
  user: string;
  /** Default: the first domain. */
  domain?: string;
  password: string;
}

export interface ProsodyOptions {
  /** VirtualHosts; default ["example.com"]. */
  domains?: string[];
  /** Users registered before the server starts. */
  users?: ProsodyUser[];
  /** Load mod_smacks (XEP-0198); default true. */
  smacks?: boolean;
  /** Seconds a smacks session stays resumable (smacks_hibernation_time); Prosody's default is 600. */
  smacksHibernationSeconds?: number;
  /** Prosody's own WebSocket endpoint (/xmpp-websocket on httpPort); default false. */
  websocket?: boolean;
  /** Prosody's own BOSH endpoint (/http-bind on httpPort); default false. */
  bosh?: boolean;
  /** Serve Prosody's own Prometheus metrics at /metrics on httpPort (mod_http_openmetrics); default false. */
  metrics?: boolean;
  /**
   * Certificate for the domains: one pair for all domains (it must cover them), or one per domain.
   * Loads mod_tls, so STARTTLS is offered.
   */
  tls?: ProsodyTlsFiles | Record<string, ProsodyTlsFiles>;
  /** c2s_require_encryption; default false. Needs `tls`. */
  requireEncryption?: boolean;
  /** Also listen for direct TLS (XEP-0368, c2s_direct_tls_ports) on a free port; needs `tls`. */
  directTls?: boolean;
  /** Offer SASL PLAIN on unencrypted connections; default: !requireEncryption. */
  allowUnencryptedPlain?: boolean;
  /** Extra modules for modules_enabled. */
  extraModules?: string[];
  /** More directories Prosody loads modules from (plugin_paths). */
  pluginPaths?: string[];
  /** More addresses for c2s beside 127.0.0.1, e.g. the host end of a real node's veth, where pods reach it. */
  c2sInterfaces?: string[];
  /**
   * Also listen for c2s behind a PROXY protocol (v1 or v2) sender, on a private loopback port of its own
   * (`proxyC2sPort`), next to the plain c2s port: mod_net_proxy from Debian trixie's prosody-modules
   * (dev/harness/prosody-net-proxy.ts), `proxy_port_mappings = { [port] = "c2s" }`. `trustedProxies` is
   * proxy_trusted_proxies, the addresses allowed to send the header (default ["127.0.0.1"], the gateway's).
   */
  proxyProtocol?: boolean | { trustedProxies?: string[] };
  /** Load mod_admin_shell and its socket, for c2sSessions() (`prosodyctl shell`); default false. */
  adminShell?: boolean;
  /** Lua appended to the global section of the config. */
  extraConfig?: string;
  /** Lua appended inside a VirtualHost section, by domain. */
  vhostConfig?: Record<string, string>;
  /** Prosody log level; default "info". "debug" logs every stanza. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Hard maximum lifetime of the process; default 30 minutes. */
  maxLifetimeMs?: number;
  /** Time allowed for startup; default 30 s. */
  startTimeoutMs?: number;
  /** Directory for config, data and log; default: a new temp directory. */
  dir?: string;
  /** Copy Prosody's log to this process's stderr. */
  echo?: boolean;
}

export interface ProsodyServer {
  readonly host: '127.0.0.1';
  readonly c2sPort: number;
  /** Plain HTTP port; only listening when websocket, bosh or metrics is enabled. */
  readonly httpPort: number;
  /** Direct TLS c2s port when `directTls` is set. */
  readonly c2sDirectTlsPort: number | undefined;
  /** The c2s port that expects a PROXY header first (mod_net_proxy) when `proxyProtocol` is set. */
  readonly proxyC2sPort: number | undefined;
  readonly domains: readonly string[];
  readonly dir: string;
  readonly configPath: string;
  readonly dataPath: string;
  readonly logPath: string;
  /** ws://127.0.0.1:<httpPort>/xmpp-websocket when `websocket` is set. */
  readonly websocketUrl: string | undefined;
  /** http://127.0.0.1:<httpPort>/http-bind when `bosh` is set. */
  readonly boshUrl: string | undefined;
  /** The current Prosody process (a new one after restart()). */
  readonly process: BoundedProcess | undefined;
  isRunning(): boolean;
  /** Registers (or re-sets the password of) a user with prosodyctl; works whether or not the server runs. */
  addUser(user: string, domain: string, password: string): Promise<void>;
  /**
   * Writes many accounts straight into the data directory (internal_plain storage), without
   * prosodyctl: for benchmarks that need thousands of users. Usernames must already be in
   * nodeprep form (lower case, no spaces).
   */
  addUsersBulk(users: readonly ProsodyUser[]): Promise<void>;
  /** SIGTERM (clean shutdown), SIGKILL after a grace period. */
  stop(): Promise<ExitInfo | undefined>;
  /** SIGKILL: a crash. */
  kill(): Promise<ExitInfo | undefined>;
  /** Starts again (after stop() or kill(), or stops first if running) with the same ports and data. */
  restart(): Promise<void>;
  /** SIGHUP: reload the config file. */
  reload(): void;
  /**
   * The c2s sessions as Prosody itself reports them (`prosodyctl shell "c2s:show(nil, 'jid ip port')"`: full
   * JID, the IP address the session connected from, the server port it came in on). Needs `adminShell`.
   */
  c2sSessions(): Promise<ProsodyC2sSession[]>;
  /** Stops the server and removes its directory. */
  dispose(): Promise<void>;
}

export interface ProsodyC2sSession {
  /** Full JID, or Prosody's placeholder (e.g. "(unauthed)") before authentication. */
  jid: string;
  /** session.ip: with mod_net_proxy, the source address of the PROXY header. */
  ip: string;
  /** The local port of Prosody the connection came in on (the PROXY port or the plain c2s port). */
  serverPort: number;
}

/** Lua string literal. */
function lua(value: string): string {
  return `"${value.replace(/[\\"\n\r\0]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\0': '\\0' })[c] ?? c)}"`;
}

function luaList(values: readonly (string | number)[]): string {
  return `{ ${values.map((v) => (typeof v === 'number' ? String(v) : lua(v))).join(', ')} }`;
}

/** Prosody's datamanager encoding of path components: every non-alphanumeric byte as %xx. */
function storeEncode(s: string): string {
  return Array.from(Buffer.from(s, 'utf8'))
    .map((b) => (/[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`))
    .join('');
}

function luaPasswordFile(password: string): string {
  return `return {\n\t["password"] = ${lua(password)};\n};\n`;
}

/** Prosody's version, from `prosodyctl about` (never `prosody --version`, which starts a server). */
export async function prosodyVersion(): Promise<string> {
  const { stdout } = await execFileAsync('prosodyctl', ['about'], { timeout: 30_000 });
  const m = /^Prosody (\S+)/m.exec(stdout);
  if (!m?.[1]) throw new Error(`prosodyctl about: no version in output:\n${stdout}`);
  return m[1];
}

/** Whether Prosody's module directory has mod_<name> (as a file or a directory). */
export function prosodyModuleAvailable(name: string): boolean {
  return existsSync(path.join(PROSODY_MODULE_DIR, `mod_${name}.lua`)) || existsSync(path.join(PROSODY_MODULE_DIR, `mod_${name}`));
}

/** Resolves once Prosody answers a stream header on the c2s port. */
async function probeC2s(port: number, domain: string, timeoutMs: number, proc: BoundedProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!proc.isRunning()) throw new Error(`prosody exited during startup; log ${proc.logPath}:\n${proc.output().split('\n').slice(-30).join('\n')}`);
    const answered = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      let got = '';
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), Math.max(100, Math.min(5_000, deadline - Date.now())));
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        got += chunk;
        if (got.includes('<stream:stream')) done(true);
      });
      socket.on('error', () => done(false));
      socket.on('close', () => done(false));
      socket.write(
        `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
      );
    });
    if (answered) return;
    if (Date.now() >= deadline) throw new Error(`prosody did not answer on c2s port ${port} within ${timeoutMs} ms; log ${proc.logPath}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Ports {
  c2s: number;
  http: number;
  directTls: number | undefined;
  proxyC2s: number | undefined;
}

function buildConfig(o: Required<Pick<ProsodyOptions, 'domains'>> & ProsodyOptions, dir: string, ports: Ports, netProxyPlugins: string | undefined): string {
  const tlsFor = (domain: string): ProsodyTlsFiles | undefined => {
    if (!o.tls) return undefined;
    if ('certPath' in o.tls && typeof o.tls.certPath === 'string') return o.tls as ProsodyTlsFiles;
    return (o.tls as Record<string, ProsodyTlsFiles>)[domain];
  };
  const haveTls = o.domains.some((d) => tlsFor(d) !== undefined);
  const requireEncryption = o.requireEncryption ?? false;
  const httpWanted = Boolean(o.websocket || o.bosh || o.metrics);
  const modules = ['roster', 'saslauth', 'disco', 'ping'];
  if (haveTls) modules.push('tls');
  if (o.smacks ?? true) modules.push('smacks');
  if (o.websocket) modules.push('websocket');
  if (o.bosh) modules.push('bosh');
  if (o.metrics) modules.push('http_openmetrics');
  if (o.adminShell) modules.push('admin_shell');
  if (ports.proxyC2s !== undefined) modules.push('net_proxy');
  modules.push(...(o.extraModules ?? []));
  const pluginPaths = [...(netProxyPlugins ? [netProxyPlugins] : []), ...(o.pluginPaths ?? [])];
  const firstDomain = o.domains[0] ?? 'example.com';

  const lines: string[] = [
    '-- Generated by the xmpp-web-gateway test harness (dev/harness/prosody.ts).',
    'run_as_root = true',
    `pidfile = ${lua(path.join(dir, 'prosody.pid'))}`,
    `data_path = ${lua(path.join(dir, 'data'))}`,
    `certificates = ${lua(path.join(dir, 'certs'))}`,
    `plugin_paths = ${luaList(pluginPaths)}`,
    'use_ipv6 = false',
    'interfaces = { "127.0.0.1" }',
    'local_interfaces = { "127.0.0.1" }',
    `c2s_ports = { ${ports.c2s} }`,
    `c2s_interfaces = ${luaList(['127.0.0.1', ...(o.c2sInterfaces ?? [])])}`,
    `c2s_direct_tls_ports = { ${ports.directTls ?? ''} }`,
    'legacy_ssl_ports = { }',
    's2s_ports = { }',
    'component_ports = { }',
    `http_ports = { ${httpWanted ? ports.http : ''} }`,
    'http_interfaces = { "127.0.0.1" }',
    'https_ports = { }',
    'https_interfaces = { "127.0.0.1" }',
    `http_default_host = ${lua(firstDomain)}`,
    `log = { { levels = { min = ${lua(o.logLevel ?? 'info')} }, to = "console" } }`,
    `modules_enabled = ${luaList(modules)}`,
    // s2s is auto-loaded by Prosody; nothing here federates.
    'modules_disabled = { "s2s", "s2s_auth_certs", "s2s_bidi", "dialback" }',
    'authentication = "internal_plain"',
    'storage = "internal"',
    `c2s_require_encryption = ${requireEncryption}`,
    's2s_require_encryption = false',
    `allow_unencrypted_plain_auth = ${o.allowUnencryptedPlain ?? !requireEncryption}`,
    'consider_websocket_secure = true',
    'consider_bosh_secure = true',
    'http_default_cors_enabled = true',
  ];
  // Direct TLS without SNI gets the first domain's certificate (with SNI, each domain's own).
  const defaultTls = tlsFor(firstDomain) ?? o.domains.map(tlsFor).find((t) => t !== undefined);
  if (ports.directTls !== undefined && defaultTls) {
    lines.push(`c2s_direct_tls_ssl = { certificate = ${lua(defaultTls.certPath)}; key = ${lua(defaultTls.keyPath)}; }`);
  }
  if (ports.proxyC2s !== undefined) {
    const trusted = (typeof o.proxyProtocol === 'object' ? o.proxyProtocol.trustedProxies : undefined) ?? ['127.0.0.1'];
    lines.push(
      // mod_net_proxy listens on the mapped ports itself (its service is "proxy") and hands each connection to c2s
      // once the header is read; the plain c2s port above expects none.
      `proxy_port_mappings = { [${ports.proxyC2s}] = "c2s" }`,
      'proxy_interfaces = { "127.0.0.1" }',
      `proxy_trusted_proxies = ${luaList(trusted)}`,
    );
  }
  if (o.adminShell) lines.push(`admin_socket = ${lua(path.join(dir, 'prosody.sock'))}`);
  if (o.smacksHibernationSeconds !== undefined) lines.push(`smacks_hibernation_time = ${o.smacksHibernationSeconds}`);
  if (o.metrics) lines.push('statistics = "internal"', 'openmetrics_allow_ips = { "127.0.0.1" }');
  if (o.extraConfig) lines.push('', o.extraConfig);
  for (const domain of o.domains) {
    lines.push('', `VirtualHost ${lua(domain)}`);
    const tls = tlsFor(domain);
    if (tls) lines.push(`\tssl = { certificate = ${lua(tls.certPath)}; key = ${lua(tls.keyPath)}; }`);
    const extra = o.vhostConfig?.[domain];
    if (extra) lines.push(extra);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The rows of `c2s:show(nil, 'jid ip port')`: a header line (`JID | IP address | Port`), then one line per session
 * with the columns separated by " | " (a JID longer than 32 characters is cut short with "…"; an unauthenticated
 * session shows as `[ip]:port@host`), then "OK: N c2s sessions shown".
 */
export function parseC2sShow(output: string): ProsodyC2sSession[] {
  const sessions: ProsodyC2sSession[] = [];
  for (const line of output.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length !== 3 || cells[0] === 'JID' || !/^\d+$/.test(cells[2]!)) continue;
    sessions.push({ jid: cells[0]!, ip: cells[1]!, serverPort: Number(cells[2]) });
  }
  return sessions;
}

/** Starts Prosody (see the module comment) and resolves once its ports accept connections. */
export async function startProsody(options: ProsodyOptions = {}): Promise<ProsodyServer> {
  const domains = [...(options.domains ?? ['example.com'])];
  if (domains.length === 0) throw new Error('startProsody: no domains');
  if (!existsSync('/usr/bin/prosody')) {
    throw new Error('startProsody: /usr/bin/prosody not found; run `node dev/prepare.ts` (as root) first');
  }
  if (options.requireEncryption && !options.tls) throw new Error('startProsody: requireEncryption needs tls');
  if (options.directTls && !options.tls) throw new Error('startProsody: directTls needs tls');
  const o = { ...options, domains };
  const dir = options.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'xwg-prosody-')));
  await fs.mkdir(path.join(dir, 'data'), { recursive: true });
  await fs.mkdir(path.join(dir, 'certs'), { recursive: true });
  const configPath = path.join(dir, 'prosody.cfg.lua');
  const dataPath = path.join(dir, 'data');
  const logPath = path.join(dir, 'prosody.log');
  const httpWanted = Boolean(o.websocket || o.bosh || o.metrics);
  const startTimeoutMs = o.startTimeoutMs ?? 30_000;
  const firstDomain = domains[0]!;

  let ports: Ports = { c2s: 0, http: 0, directTls: undefined, proxyC2s: undefined };
  const netProxyPlugins = o.proxyProtocol ? await ensureNetProxyModule() : undefined;
  let current: BoundedProcess | undefined;

  const allocatePorts = async (): Promise<void> => {
    const [c2s, http, directTls, proxyC2s] = await freePorts(4);
    ports = { c2s: c2s!, http: http!, directTls: o.directTls ? directTls : undefined, proxyC2s: o.proxyProtocol ? proxyC2s : undefined };
    await fs.writeFile(configPath, buildConfig(o, dir, ports, netProxyPlugins));
  };

  const prosodyctl = async (args: string[]): Promise<void> => {
    try {
      await execFileAsync('prosodyctl', ['--config', configPath, ...args], { timeout: 60_000, cwd: dir });
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`prosodyctl ${args[0]} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  };

  const addUser = async (user: string, domain: string, password: string): Promise<void> => {
    if (!domains.includes(domain)) throw new Error(`addUser: ${domain} is not one of ${domains.join(', ')}`);
    await prosodyctl(['register', user, domain, password]);
  };

  const addUsersBulk = async (users: readonly ProsodyUser[]): Promise<void> => {
    for (const u of users) {
      const domain = u.domain ?? domains[0]!;
      if (!domains.includes(domain)) throw new Error(`addUsersBulk: ${domain} is not one of ${domains.join(', ')}`);
      if (!/^[a-z0-9._\-]+$/.test(u.user)) throw new Error(`addUsersBulk: username ${JSON.stringify(u.user)} is not in simple nodeprep form`);
      const accounts = path.join(dataPath, storeEncode(domain), 'accounts');
      await fs.mkdir(accounts, { recursive: true });
      await fs.writeFile(path.join(accounts, `${storeEncode(u.user)}.dat`), luaPasswordFile(u.password));
    }
  };

  const launch = async (): Promise<void> => {
    const proc = spawnBounded({
      command: 'prosody',
      args: ['-F', '--config', configPath],
      name: `prosody:${ports.c2s}`,
      cwd: dir,
      logPath,
      maxLifetimeMs: o.maxLifetimeMs ?? 30 * 60_000,
      echo: o.echo,
    });
    current = proc;
    const ready = proc.waitForLine(/Activated service 'c2s' on (?:.*, )?\[127\.0\.0\.1\]:(\d+)/, { timeoutMs: startTimeoutMs, since: 'now' });
    const failed = proc.waitForLine(/Failed to open server port|Error binding encrypted port|Address already in use/, {
      timeoutMs: startTimeoutMs + 1_000,
      since: 'now',
    });
    failed.catch(() => {});
    const outcome = await Promise.race([
      ready.then(() => 'ready' as const),
      failed.then((m) => m[0]),
    ]);
    if (outcome !== 'ready') {
      await proc.stop();
      throw Object.assign(new Error(`prosody could not bind: ${outcome}`), { bindFailure: true });
    }
    await proc.waitForPort(ports.c2s, { timeoutMs: startTimeoutMs });
    // The listening socket exists before startup has finished (vhosts, pidfile, signal handlers):
    // Prosody only answers once its event loop runs, which is after all of that.
    await probeC2s(ports.c2s, firstDomain, startTimeoutMs, proc);
    if (httpWanted) await proc.waitForPort(ports.http, { timeoutMs: startTimeoutMs });
    if (ports.directTls !== undefined) await proc.waitForPort(ports.directTls, { timeoutMs: startTimeoutMs });
    if (ports.proxyC2s !== undefined) await proc.waitForPort(ports.proxyC2s, { timeoutMs: startTimeoutMs });
    // The bind failure for a later service (http after c2s) shows up after the c2s line.
    const lateFailure = proc.output().match(/Failed to open server port[^\n]*/);
    if (lateFailure) {
      await proc.stop();
      throw Object.assign(new Error(`prosody could not bind: ${lateFailure[0]}`), { bindFailure: true });
    }
  };

  await allocatePorts();
  for (const u of o.users ?? []) await addUser(u.user, u.domain ?? domains[0]!, u.password);
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      if (!(err as { bindFailure?: boolean }).bindFailure || attempt >= 3) {
        await current?.kill();
        throw err;
      }
      await allocatePorts();
    }
  }

  const server: ProsodyServer = {
    host: '127.0.0.1',
    get c2sPort() {
      return ports.c2s;
    },
    get httpPort() {
      return ports.http;
    },
    get c2sDirectTlsPort() {
      return ports.directTls;
    },
    get proxyC2sPort() {
      return ports.proxyC2s;
    },
    domains,
    dir,
    configPath,
    dataPath,
    logPath,
    get websocketUrl() {
      return o.websocket ? `ws://127.0.0.1:${ports.http}/xmpp-websocket` : undefined;
    },
    get boshUrl() {
      return o.bosh ? `http://127.0.0.1:${ports.http}/http-bind` : undefined;
    },
    get process() {
      return current;
    },
    isRunning: () => current?.isRunning() ?? false,
    addUser,
    addUsersBulk,
    stop: async () => (current ? current.stop({ graceMs: 5_000 }) : undefined),
    kill: async () => (current ? current.kill() : undefined),
    restart: async () => {
      if (current?.isRunning()) await current.stop({ graceMs: 5_000 });
      await launch();
    },
    reload: () => current?.signal('SIGHUP'),
    c2sSessions: async () => {
      if (!o.adminShell) throw new Error('c2sSessions: start Prosody with adminShell: true');
      let stdout: string;
      try {
        ({ stdout } = await execFileAsync('prosodyctl', ['--config', configPath, 'shell', "c2s:show(nil, 'jid ip port')"], { timeout: 30_000, cwd: dir }));
      } catch (err) {
        const e = err as Error & { stdout?: string; stderr?: string };
        throw new Error(`prosodyctl shell c2s:show failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      }
      return parseC2sShow(stdout);
    },
    dispose: async () => {
      if (current?.isRunning()) await current.stop({ graceMs: 5_000 });
      if (!options.dir) await fs.rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}
