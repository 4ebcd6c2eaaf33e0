// A real ejabberd (Debian's 23.01 package) for integration tests, run in the foreground as a
// bounded child process with its own configuration (YAML), Mnesia spool, logs and Erlang node in
// a temp directory, listening on free loopback ports only. The system service is never used.
//
// Quirks worth knowing (ejabberd 23.01 as packaged by Debian 12, /usr/sbin/ejabberdctl):
//   - Called by root, ejabberdctl re-runs itself as the `ejabberd` user (su) unless the ctl config
//     it sources sets EXEC_CMD=as_current_user. The harness writes its own ejabberdctl.cfg and
//     passes --config-dir, so /etc/ejabberd is never read, and runs everything as the caller.
//   - With ERL_DIST_PORT set, the node listens for Erlang distribution on that one port and
//     neither starts nor asks epmd (`-erl_epmd_port P -start_epmd false`); ctl commands connect to
//     the same port (`-dist_listen false`). Each server gets its own node name and random cookie
//     (`-setcookie`, so no ~/.erlang.cookie is read or written), and HOME is its temp directory.
//   - `ejabberdctl foreground` runs beam as a child of the script (no exec): a SIGTERM to the
//     group kills the script at once. stop() uses `ejabberdctl stop` for a clean shutdown.
//   - `ejabberdctl register` needs the node running: users are registered after start.
//   - `connected_users_info` comes from mod_admin_extra (always loaded here).
//   - PLAIN is offered on unencrypted c2s connections (unless starttls_required); with the
//     default auth_password_format (plain) SCRAM-SHA-1/256/512 are offered too, and on TLS
//     (1.2 and 1.3 alike) SCRAM-SHA-*-PLUS with tls-unique. A GS2 'y' flag is accepted even then
//     (no RFC 5802 §6 downgrade check). DIGEST-MD5 and X-OAUTH2 are disabled, as in Debian's config.
//   - Certificates are found by name among `certfiles`; one file per certificate and key.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { dump } from 'js-yaml';
import { freePorts } from './ports.ts';
import { spawnBounded, type BoundedProcess, type ExitInfo } from './process.ts';

const execFileAsync = promisify(execFile);

export const EJABBERDCTL = '/usr/sbin/ejabberdctl';

export interface EjabberdTlsFiles {
  certPath: string;
  keyPath: string;
}

export interface EjabberdUser {
  user: string;
  /** Default: the first domain. */
  domain?: string;
  password: string;
}

export interface EjabberdOptions {
  /** Hosts; default ["example.com"]. */
  domains?: string[];
  /** Users registered (with `ejabberdctl register`) once the server runs. */
  users?: EjabberdUser[];
  /** Load mod_stream_mgmt (XEP-0198); default true. */
  smacks?: boolean;
  /** Seconds a stream-management session stays resumable (resume_timeout); ejabberd's default is 300. */
  smacksResumeTimeoutSeconds?: number;
  /** ejabberd's own WebSocket endpoint (/ws on httpPort); default false. */
  websocket?: boolean;
  /** ejabberd's own BOSH endpoint (/bosh on httpPort); default false. */
  bosh?: boolean;
  /** Certificates (each must cover the names it is used for); STARTTLS is offered on c2s. */
  tls?: EjabberdTlsFiles | EjabberdTlsFiles[];
  /** starttls_required on the c2s port; default false. Needs `tls`. */
  requireEncryption?: boolean;
  /** Also listen for direct TLS (XEP-0368, `tls: true`) on a free port; needs `tls`. */
  directTls?: boolean;
  /** Expect a PROXY protocol header (v1 or v2) on every c2s and HTTP connection (use_proxy_protocol). */
  proxyProtocol?: boolean;
  /** auth_password_format; default "plain" (PLAIN and every SCRAM variant work). */
  authPasswordFormat?: 'plain' | 'scram';
  /** Extra options merged into every c2s listener (plain and direct TLS). */
  c2sOptions?: Record<string, unknown>;
  /** Modules merged over the defaults; a value of null removes a default module. */
  modules?: Record<string, Record<string, unknown> | null>;
  /** Top-level options merged over the generated ones. */
  extraConfig?: Record<string, unknown>;
  /** ejabberd log level; default "info". "debug" logs every stanza. */
  logLevel?: 'debug' | 'info' | 'warning' | 'error';
  /** Hard maximum lifetime of the process; default 30 minutes. */
  maxLifetimeMs?: number;
  /** Time allowed for startup; default 60 s. */
  startTimeoutMs?: number;
  /** Directory for config, spool and logs; default: a new temp directory. */
  dir?: string;
  /** Copy ejabberd's console output to this process's stderr. */
  echo?: boolean;
}

/** One line of `ejabberdctl connected_users_info`. */
export interface EjabberdSessionInfo {
  jid: string;
  /** e.g. "c2s", "c2s_tls", "http_bind", "websocket". */
  connection: string;
  /** The client address as ejabberd sees it (after PROXY protocol, if any). */
  ip: string;
  port: number;
  priority: string;
  node: string;
  uptimeSeconds: number;
  status: string;
  resource: string;
  statusText: string;
}

export interface EjabberdServer {
  readonly kind: 'ejabberd';
  readonly host: '127.0.0.1';
  readonly c2sPort: number;
  /** Plain HTTP port; only listening when websocket or bosh is enabled. */
  readonly httpPort: number;
  /** Direct TLS c2s port when `directTls` is set. */
  readonly c2sDirectTlsPort: number | undefined;
  /** Erlang distribution port of the node (loopback). */
  readonly distPort: number;
  /** Erlang node name, e.g. xwg_1a2b3c@localhost. */
  readonly nodeName: string;
  readonly domains: readonly string[];
  readonly dir: string;
  readonly configPath: string;
  readonly spoolPath: string;
  /** ejabberd's own log file (logs/ejabberd.log). */
  readonly logPath: string;
  /** ws://127.0.0.1:<httpPort>/ws when `websocket` is set. */
  readonly websocketUrl: string | undefined;
  /** http://127.0.0.1:<httpPort>/bosh when `bosh` is set. */
  readonly boshUrl: string | undefined;
  /** The current process (a new one after restart()). */
  readonly process: BoundedProcess | undefined;
  isRunning(): boolean;
  /** Runs an ejabberdctl command against this node; resolves with its stdout, rejects with a clear error. */
  ctl(args: readonly string[]): Promise<string>;
  /** Registers a user (`ejabberdctl register`); needs the server running. */
  addUser(user: string, domain: string, password: string): Promise<void>;
  /** `ejabberdctl connected_users_info`, parsed. */
  connectedUsersInfo(): Promise<EjabberdSessionInfo[]>;
  /** `ejabberdctl stop` (clean shutdown), SIGKILL to the group after a grace period. */
  stop(): Promise<ExitInfo | undefined>;
  /** SIGKILL: a crash. */
  kill(): Promise<ExitInfo | undefined>;
  /** Starts again (after stop() or kill(), or stops first if running) with the same ports and data. */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  dispose(): Promise<void>;
}

interface Ports {
  c2s: number;
  http: number;
  directTls: number | undefined;
  dist: number;
}

/** Parses `ejabberdctl connected_users_info` (one tab-separated line per session). */
export function parseConnectedUsersInfo(stdout: string): EjabberdSessionInfo[] {
  const sessions: EjabberdSessionInfo[] = [];
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.split('\t');
    if (f.length < 10) throw new Error(`connected_users_info: expected 10 tab-separated fields, got ${f.length}: ${JSON.stringify(line)}`);
    sessions.push({
      jid: f[0]!,
      connection: f[1]!,
      ip: f[2]!,
      port: Number(f[3]),
      priority: f[4]!,
      node: f[5]!,
      uptimeSeconds: Number(f[6]),
      status: f[7]!,
      resource: f[8]!,
      statusText: f.slice(9).join('\t'),
    });
  }
  return sessions;
}

function tlsList(tls: EjabberdOptions['tls']): EjabberdTlsFiles[] {
  if (tls === undefined) return [];
  return Array.isArray(tls) ? tls : [tls];
}

function buildConfig(o: EjabberdOptions & { domains: string[] }, ports: Ports): string {
  const certs = tlsList(o.tls);
  const haveTls = certs.length > 0;
  const proxy = o.proxyProtocol ? { use_proxy_protocol: true } : {};
  const c2s: Record<string, unknown> = {
    port: ports.c2s,
    ip: '127.0.0.1',
    module: 'ejabberd_c2s',
    max_stanza_size: 262144,
    ...(haveTls ? { starttls: true, starttls_required: o.requireEncryption ?? false } : {}),
    ...proxy,
    ...o.c2sOptions,
  };
  const listen: Record<string, unknown>[] = [c2s];
  if (ports.directTls !== undefined) listen.push({ ...c2s, port: ports.directTls, tls: true, starttls: false, starttls_required: false });
  if (o.websocket || o.bosh) {
    const handlers: Record<string, string> = {};
    if (o.websocket) handlers['/ws'] = 'ejabberd_http_ws';
    if (o.bosh) handlers['/bosh'] = 'mod_bosh';
    listen.push({ port: ports.http, ip: '127.0.0.1', module: 'ejabberd_http', request_handlers: handlers, ...proxy });
  }
  const modules: Record<string, Record<string, unknown> | null> = {
    mod_admin_extra: {},
    mod_disco: {},
    mod_roster: {},
    mod_ping: {},
    mod_vcard: {},
    ...((o.smacks ?? true) ? { mod_stream_mgmt: o.smacksResumeTimeoutSeconds === undefined ? {} : { resume_timeout: o.smacksResumeTimeoutSeconds } } : {}),
    ...(o.bosh ? { mod_bosh: {} } : {}),
    ...o.modules,
  };
  for (const [name, value] of Object.entries(modules)) if (value === null) delete modules[name];
  const config: Record<string, unknown> = {
    hosts: o.domains,
    loglevel: o.logLevel ?? 'info',
    log_rotate_count: 0,
    ...(haveTls ? { certfiles: certs.flatMap((c) => [c.certPath, c.keyPath]) } : {}),
    listen,
    auth_method: 'internal',
    auth_password_format: o.authPasswordFormat ?? 'plain',
    // As Debian's own ejabberd.yml: no DIGEST-MD5 (deprecated, RFC 6331) and no X-OAUTH2 (no tokens here).
    disable_sasl_mechanisms: ['digest-md5', 'x-oauth2'],
    // Nothing here federates; no s2s listener is configured.
    s2s_access: 'none',
    acme: { auto: false },
    shaper_rules: {},
    modules,
    ...o.extraConfig,
  };
  return `# Generated by the xmpp-web-gateway test harness (dev/harness/ejabberd.ts).\n${dump(config, { lineWidth: -1 })}`;
}

function ctlConfig(dir: string, nodeName: string, cookie: string, ports: Ports): string {
  return [
    '# Generated by the xmpp-web-gateway test harness (dev/harness/ejabberd.ts); sourced by ejabberdctl.',
    `ERLANG_NODE=${nodeName}`,
    `ERL_DIST_PORT=${ports.dist}`,
    'ERL_EPMD_ADDRESS=127.0.0.1',
    `ERL_OPTIONS="-setcookie ${cookie} -kernel inet_dist_use_interface {127,0,0,1} -env ERL_CRASH_DUMP_BYTES 0"`,
    `EJABBERD_PID_PATH=${path.join(dir, 'ejabberd.pid')}`,
    `CONTRIB_MODULES_PATH=${path.join(dir, 'contrib')}`,
    `CONTRIB_MODULES_CONF_DIR=${path.join(dir, 'contrib-conf')}`,
    'EXEC_CMD=as_current_user',
    'EJABBERD_BYPASS_WARNINGS=true',
    '',
  ].join('\n');
}

/** Resolves once the server answers a stream header on the c2s port. */
async function probeC2s(port: number, domain: string, timeoutMs: number, proc: BoundedProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!proc.isRunning()) throw new Error(`ejabberd exited during startup; log ${proc.logPath}:\n${proc.output().split('\n').slice(-30).join('\n')}`);
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
        if (/<stream:stream[\s>]/.test(got)) done(true);
      });
      socket.on('error', () => done(false));
      socket.on('close', () => done(false));
      socket.write(
        `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
      );
    });
    if (answered) return;
    if (Date.now() >= deadline) throw new Error(`ejabberd did not answer on c2s port ${port} within ${timeoutMs} ms; log ${proc.logPath}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** ejabberd's version from the package (`ejabberdctl` needs a node for its own `status`). */
export async function ejabberdVersion(): Promise<string> {
  const { stdout } = await execFileAsync('dpkg-query', ['-W', '-f', '${Version}', 'ejabberd'], { timeout: 30_000 });
  const m = /^(?:\d+:)?([\d.]+)/.exec(stdout.trim());
  if (!m?.[1]) throw new Error(`dpkg-query: no ejabberd version in ${JSON.stringify(stdout)}`);
  return m[1];
}

const BIND_FAILURE = /eaddrinuse|Address already in use|the name .* seems to be in use|Protocol 'inet_tcp': register\/listen error/i;

/** Starts ejabberd (see the module comment) and resolves once its ports accept connections and users exist. */
export async function startEjabberd(options: EjabberdOptions = {}): Promise<EjabberdServer> {
  const domains = [...(options.domains ?? ['example.com'])];
  if (domains.length === 0) throw new Error('startEjabberd: no domains');
  if (!existsSync(EJABBERDCTL)) throw new Error(`startEjabberd: ${EJABBERDCTL} not found; run \`node dev/prepare.ts\` (as root) first`);
  if (options.requireEncryption && !options.tls) throw new Error('startEjabberd: requireEncryption needs tls');
  if (options.directTls && !options.tls) throw new Error('startEjabberd: directTls needs tls');
  const o = { ...options, domains };
  const dir = options.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'xwg-ejabberd-')));
  const spoolPath = path.join(dir, 'spool');
  const logsDir = path.join(dir, 'logs');
  for (const d of [spoolPath, logsDir, path.join(dir, 'contrib'), path.join(dir, 'contrib-conf')]) await fs.mkdir(d, { recursive: true });
  const configPath = path.join(dir, 'ejabberd.yml');
  const ctlConfigPath = path.join(dir, 'ejabberdctl.cfg');
  const logPath = path.join(logsDir, 'ejabberd.log');
  const consolePath = path.join(logsDir, 'console.log');
  // Erlang only resolves what inetrc names: the node's host part, localhost, is 127.0.0.1.
  await fs.writeFile(path.join(dir, 'inetrc'), '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n');
  const nodeName = `xwg_${randomBytes(4).toString('hex')}@localhost`;
  const cookie = randomBytes(16).toString('hex');
  const startTimeoutMs = o.startTimeoutMs ?? 60_000;
  const firstDomain = domains[0]!;

  let ports: Ports = { c2s: 0, http: 0, directTls: undefined, dist: 0 };
  let current: BoundedProcess | undefined;

  const allocatePorts = async (): Promise<void> => {
    const [c2s, http, directTls, dist] = await freePorts(4);
    ports = { c2s: c2s!, http: http!, directTls: o.directTls ? directTls : undefined, dist: dist! };
    await fs.writeFile(configPath, buildConfig(o, ports));
    await fs.writeFile(ctlConfigPath, ctlConfig(dir, nodeName, cookie, ports));
  };

  const baseArgs = (): string[] => ['--config-dir', dir, '--config', configPath, '--ctl-config', ctlConfigPath, '--logs', logsDir, '--spool', spoolPath];
  const env = (): Record<string, string> => ({ HOME: dir, EJABBERD_BYPASS_WARNINGS: 'true' });

  const ctl = async (args: readonly string[]): Promise<string> => {
    try {
      const { stdout } = await execFileAsync(EJABBERDCTL, [...baseArgs(), ...args], { timeout: 60_000, cwd: dir, env: { ...process.env, ...env() } });
      return stdout;
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string; code?: number };
      throw new Error(`ejabberdctl ${args.join(' ')} failed (exit ${e.code ?? '?'}): ${(e.stdout ?? '').trim()} ${(e.stderr ?? '').trim()}`.trim());
    }
  };

  const addUser = async (user: string, domain: string, password: string): Promise<void> => {
    if (!domains.includes(domain)) throw new Error(`addUser: ${domain} is not one of ${domains.join(', ')}`);
    if (!current?.isRunning()) throw new Error('addUser: ejabberd is not running (ejabberdctl register needs the node)');
    await ctl(['register', user, domain, password]);
  };

  const launch = async (): Promise<void> => {
    const proc = spawnBounded({
      command: EJABBERDCTL,
      args: [...baseArgs(), 'foreground'],
      name: `ejabberd:${ports.c2s}`,
      cwd: dir,
      env: env(),
      logPath: consolePath,
      maxLifetimeMs: o.maxLifetimeMs ?? 30 * 60_000,
      echo: o.echo,
    });
    current = proc;
    const started = proc.waitForLine(/ejabberd \S+ is started in the node/, { timeoutMs: startTimeoutMs, since: 'now' });
    const failed = proc.waitForLine(BIND_FAILURE, { timeoutMs: startTimeoutMs + 1_000, since: 'now' });
    failed.catch(() => {});
    let outcome: string;
    try {
      outcome = await Promise.race([started.then(() => 'ready'), failed.then((m) => m.input ?? m[0])]);
    } catch (err) {
      // Exited before starting: a port taken by someone else shows up in the output.
      const bind = BIND_FAILURE.exec(proc.output());
      if (bind) throw Object.assign(new Error(`ejabberd could not bind: ${bind[0]}`), { bindFailure: true });
      throw err;
    }
    if (outcome !== 'ready') {
      await proc.kill();
      throw Object.assign(new Error(`ejabberd could not bind: ${outcome}`), { bindFailure: true });
    }
    await proc.waitForPort(ports.c2s, { timeoutMs: startTimeoutMs });
    if (ports.directTls !== undefined) await proc.waitForPort(ports.directTls, { timeoutMs: startTimeoutMs });
    if (o.websocket || o.bosh) await proc.waitForPort(ports.http, { timeoutMs: startTimeoutMs });
    // A c2s listener expecting a PROXY header answers nothing to a bare stream header.
    if (!o.proxyProtocol) await probeC2s(ports.c2s, firstDomain, startTimeoutMs, proc);
    const late = BIND_FAILURE.exec(proc.output());
    if (late) {
      await proc.kill();
      throw Object.assign(new Error(`ejabberd could not bind: ${late[0]}`), { bindFailure: true });
    }
  };

  await allocatePorts();
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      await current?.kill();
      if (!(err as { bindFailure?: boolean }).bindFailure || attempt >= 3) throw err;
      await allocatePorts();
    }
  }

  const stop = async (): Promise<ExitInfo | undefined> => {
    const proc = current;
    if (!proc?.isRunning()) return proc?.exitInfo();
    await ctl(['stop']).catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      proc.exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), 15_000);
      }),
    ]);
    clearTimeout(timer);
    return inTime ? proc.exited : proc.kill();
  };

  const server: EjabberdServer = {
    kind: 'ejabberd',
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
    get distPort() {
      return ports.dist;
    },
    nodeName,
    domains,
    dir,
    configPath,
    spoolPath,
    logPath,
    get websocketUrl() {
      return o.websocket ? `ws://127.0.0.1:${ports.http}/ws` : undefined;
    },
    get boshUrl() {
      return o.bosh ? `http://127.0.0.1:${ports.http}/bosh` : undefined;
    },
    get process() {
      return current;
    },
    isRunning: () => current?.isRunning() ?? false,
    ctl,
    addUser,
    connectedUsersInfo: async () => parseConnectedUsersInfo(await ctl(['connected_users_info'])),
    stop,
    kill: async () => (current ? current.kill() : undefined),
    restart: async () => {
      if (current?.isRunning()) await stop();
      await launch();
    },
    dispose: async () => {
      await stop();
      if (!options.dir) await fs.rm(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const u of o.users ?? []) await addUser(u.user, u.domain ?? firstDomain, u.password);
  } catch (err) {
    await server.dispose();
    throw err;
  }
  return server;
}
