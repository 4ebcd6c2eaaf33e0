// Bounded child processes for the test harness: real servers (Prosody, Chromium, kube-apiserver…)
// that must never outlive the test run.
//
// Every child is started as the leader of its own process group (its pid is the program's own:
// signals and exit status are the program's), with a tiny shell watchdog in the same group.
// The group is killed:
//   - by stop()/kill() (SIGTERM to the group, then SIGKILL after a grace period);
//   - when its hard maximum lifetime runs out (a timer here, backed by the watchdog a few seconds
//     later in case this process is stuck);
//   - when this process exits, however it exits: normal exit, uncaught exception or unhandled
//     rejection ('exit' handler), SIGINT/SIGTERM/SIGHUP (signal handlers), and even SIGKILL or a
//     crash of this process: the kernel sends the program SIGTERM at once (`setpriv --pdeathsig`,
//     where available; it fires when the thread that spawned it ends), and the watchdog, which
//     polls this process's pid once a second, kills the rest of the group;
//   - when the main child exits by itself (leftover grandchildren in the group are killed).
// `exited` resolves only once the whole group is gone, so its ports can be bound again.
// (Not `timeout(1)` as the wrapper: it would be the group leader, turn a SIGHUP into a kill
// a few seconds later, and die of signals it does not forward, such as SIGUSR1.)
//
// Output (stdout and stderr) goes to a log file (appended to) and into a bounded in-memory tail
// that waitForLine() searches.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitForPort as waitForTcpPort } from './ports.ts';

export interface BoundedProcessOptions {
  /** Executable (looked up in PATH) and its arguments. */
  command: string;
  args?: readonly string[];
  /** Short name for logs and errors; default: basename of the command. */
  name?: string;
  cwd?: string;
  /** Environment; merged over process.env unless `replaceEnv` is true. */
  env?: Record<string, string | undefined>;
  replaceEnv?: boolean;
  /** Where stdout and stderr go (appended); default: a new file under os.tmpdir()/xwg-logs/. */
  logPath?: string;
  /** Hard maximum lifetime; default 30 minutes. */
  maxLifetimeMs?: number;
  /** Grace period between SIGTERM and SIGKILL in stop() and at the end of the lifetime; default 5 s. */
  stopGraceMs?: number;
  /** Keep stdin open as a pipe (`process.stdin` of the returned object); default: /dev/null. */
  stdin?: boolean;
  /** Also copy output to this process's stderr, prefixed with the name; default: env XWG_ECHO_CHILD_LOGS=1. */
  echo?: boolean;
  /** Lines kept in memory for waitForLine()/output(); default 5000. */
  keepLines?: number;
  /** Do not keep this process's event loop alive for the child. */
  unref?: boolean;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WaitForLineOptions {
  timeoutMs?: number;
  /** 'start' (default) also matches lines already printed; 'now' only lines printed after the call. */
  since?: 'start' | 'now';
}

export interface BoundedProcess {
  readonly name: string;
  /** Pid of the program, which is also the process group id. */
  readonly pid: number;
  readonly logPath: string;
  /** Resolves once the main process has exited and its whole group is gone (or after 15 s). Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** The exit status once exited, else undefined. */
  exitInfo(): ExitInfo | undefined;
  isRunning(): boolean;
  /** The lines kept in memory, joined. */
  output(): string;
  /** Resolves with the first matching line; rejects on timeout or when the process exits first. */
  waitForLine(pattern: RegExp, options?: WaitForLineOptions): Promise<RegExpMatchArray>;
  /** Resolves when host:port accepts TCP connections; rejects on timeout or when the process exits first. */
  waitForPort(port: number, options?: { host?: string; timeoutMs?: number }): Promise<void>;
  /** Sends a signal to the main process only (default) or to the whole group. */
  signal(signal: NodeJS.Signals, options?: { group?: boolean }): void;
  /** SIGTERM (or `signal`) to the group, SIGKILL after the grace period; resolves on exit. */
  stop(options?: { signal?: NodeJS.Signals; graceMs?: number }): Promise<ExitInfo>;
  /** SIGKILL to the group; resolves on exit. */
  kill(): Promise<ExitInfo>;
  /** The child's stdin when started with `stdin: true`. */
  readonly stdin: NodeJS.WritableStream | null;
}

const DEFAULT_LIFETIME_MS = 30 * 60_000;
const WATCHDOG_EXTRA_SECONDS = 15;
/** How long `exited` waits for the rest of the group to disappear after the main process exits. */
const GROUP_GONE_MS = 15_000;

// $1: pid to watch (this process), $2: hard limit in seconds, then the command.
// Once the limit is reached, or this process or the main process is gone (pdeathsig may have
// killed it first), the watchdog subshell kills the group: it ignores TERM/INT/HUP so that it
// survives its own `kill -TERM 0` long enough to follow up with SIGKILL.
const WRAPPER = `
parent=$1; limit=$2; shift 2
(
  trap '' TERM INT HUP
  i=0
  while [ "$i" -lt "$limit" ] && kill -0 "$parent" 2>/dev/null && kill -0 $$ 2>/dev/null; do
    sleep 1; i=$((i+1))
  done
  kill -TERM 0 2>/dev/null; sleep 3; kill -KILL 0 2>/dev/null
) </dev/null >/dev/null 2>&1 &
exec "$@"
`;

let setprivPath: string | undefined;
/** `setpriv --pdeathsig SIGTERM --` (util-linux) if it works here, else nothing. */
function pdeathsigPrefix(): string[] {
  setprivPath ??= spawnSync('/bin/sh', ['-c', 'p=$(command -v setpriv) && "$p" --pdeathsig SIGTERM -- true && echo "$p"'], {
    encoding: 'utf8',
  }).stdout?.trim() ?? '';
  return setprivPath ? [setprivPath, '--pdeathsig', 'SIGTERM', '--'] : [];
}

const live = new Set<ProcessHandle>();
let handlersInstalled = false;

/** Kills (SIGKILL) every bounded process group still alive. Synchronous: safe in 'exit' handlers. */
export function killAllBoundedProcesses(): void {
  for (const handle of live) handle.killGroupSync('SIGKILL');
}

function installParentHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllBoundedProcesses);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      killAllBoundedProcesses();
      // If nobody else handles the signal, restore the default action (terminate) and re-raise.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, handler);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, handler);
  }
}

class ProcessHandle implements BoundedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  readonly exited: Promise<ExitInfo>;
  readonly stdin: NodeJS.WritableStream | null;

  private readonly child: ChildProcess;
  private readonly log: fs.WriteStream;
  private readonly lines: string[] = [];
  private readonly keepLines: number;
  private readonly echo: boolean;
  private readonly listeners = new Set<(line: string) => void>();
  private readonly closeListeners = new Set<() => void>();
  private partial: { stdout: string; stderr: string } = { stdout: '', stderr: '' };
  private exit: ExitInfo | undefined;
  private closed = false;
  private readonly lifetimeTimer: NodeJS.Timeout;
  private readonly stopGraceMs: number;

  constructor(options: BoundedProcessOptions) {
    this.name = options.name ?? path.basename(options.command);
    this.keepLines = options.keepLines ?? 5000;
    this.echo = options.echo ?? process.env.XWG_ECHO_CHILD_LOGS === '1';
    this.stopGraceMs = options.stopGraceMs ?? 5_000;
    const maxLifetimeMs = options.maxLifetimeMs ?? DEFAULT_LIFETIME_MS;
    this.logPath = options.logPath ?? defaultLogPath(this.name);
    fs.mkdirSync(path.dirname(this.logPath), { recursive: true });
    this.log = fs.createWriteStream(this.logPath, { flags: 'a' });
    this.log.on('error', (err) => process.stderr.write(`[${this.name}] log ${this.logPath}: ${err.message}\n`));
    const args = options.args ?? [];
    this.log.write(`# ${new Date().toISOString()} start: ${[options.command, ...args].join(' ')}\n`);

    const hardLimitSeconds = Math.ceil(maxLifetimeMs / 1000) + WATCHDOG_EXTRA_SECONDS;
    const env = options.replaceEnv ? { ...options.env } : { ...process.env, ...options.env };
    installParentHandlers();
    this.child = spawn(
      '/bin/sh',
      ['-c', WRAPPER, 'xwg-bounded', String(process.pid), String(hardLimitSeconds), ...pdeathsigPrefix(), options.command, ...args],
      {
        cwd: options.cwd,
        env,
        detached: true, // new process group, led by the child
        stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      },
    );
    if (this.child.pid === undefined) {
      // spawn of /bin/sh itself failed; 'error' follows on the next tick.
      this.pid = -1;
    } else {
      this.pid = this.child.pid;
      live.add(this);
    }
    this.stdin = this.child.stdin;

    this.child.stdout?.on('data', (chunk: Buffer) => this.onData('stdout', chunk));
    this.child.stderr?.on('data', (chunk: Buffer) => this.onData('stderr', chunk));

    this.exited = new Promise<ExitInfo>((resolve) => {
      const finish = (info: ExitInfo): void => {
        if (this.exit !== undefined) return;
        this.exit = info;
        // Take down anything left in the group (the watchdog, grandchildren), and resolve only once
        // the group is gone (a member that was just killed stays visible until it is reaped).
        this.killGroupSync('SIGKILL');
        live.delete(this);
        clearTimeout(this.lifetimeTimer);
        // Output written just before exit is still in the pipe: resolve once stdio closed too.
        const stdioClosed = new Promise<void>((done) => {
          if (this.closed) return done();
          this.closeListeners.add(done);
          setTimeout(done, 2_000).unref();
        });
        void Promise.all([this.waitGroupGone(GROUP_GONE_MS), stdioClosed]).then(([gone]) => {
          if (!this.log.writableEnded) this.log.write(
            `# ${new Date().toISOString()} exit: code=${info.code} signal=${info.signal}${gone ? '' : ` (process group still present after ${GROUP_GONE_MS} ms)`}\n`,
          );
          resolve(info);
        });
      };
      this.child.once('exit', (code, signal) => finish({ code, signal }));
      this.child.once('error', (err) => {
        this.writeLine('stderr', `spawn error: ${err.message}`);
        finish({ code: null, signal: null });
        this.markClosed();
      });
    });
    this.child.once('close', () => this.markClosed());

    this.lifetimeTimer = setTimeout(() => {
      this.writeLine('stderr', `# maximum lifetime of ${maxLifetimeMs} ms reached: stopping`);
      void this.stop();
    }, maxLifetimeMs);
    this.lifetimeTimer.unref();
    if (options.unref) this.setRef(false);
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') {
        const rest = this.partial[stream];
        this.partial[stream] = '';
        this.writeLine(stream, rest);
      }
    }
    for (const listener of [...this.closeListeners]) listener();
    void this.exited.then(() => this.log.end());
  }

  private onData(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const text = this.partial[stream] + chunk.toString('utf8');
    const parts = text.split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const line of parts) this.writeLine(stream, line.endsWith('\r') ? line.slice(0, -1) : line);
  }

  private writeLine(stream: 'stdout' | 'stderr', line: string): void {
    if (!this.log.writableEnded) this.log.write(`${line}\n`);
    if (this.echo) process.stderr.write(`[${this.name}] ${line}\n`);
    this.lines.push(line);
    if (this.lines.length > this.keepLines) this.lines.splice(0, this.lines.length - this.keepLines);
    for (const listener of [...this.listeners]) listener(line);
  }

  killGroupSync(signal: NodeJS.Signals): void {
    if (this.pid <= 0) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is gone.
    }
  }

  /** Whether any live (not zombie) process is still in the group. */
  groupAlive(): boolean {
    return this.pid > 0 && processGroupAlive(this.pid);
  }

  private async waitGroupGone(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.groupAlive()) {
      if (Date.now() >= deadline) return false;
      this.killGroupSync('SIGKILL');
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  exitInfo(): ExitInfo | undefined {
    return this.exit;
  }

  isRunning(): boolean {
    return this.exit === undefined && this.pid > 0;
  }

  output(): string {
    return this.lines.join('\n');
  }

  private tail(n = 30): string {
    return this.lines.slice(-n).join('\n');
  }

  waitForLine(pattern: RegExp, options: WaitForLineOptions = {}): Promise<RegExpMatchArray> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    if ((options.since ?? 'start') === 'start') {
      for (const line of this.lines) {
        const m = line.match(pattern);
        if (m) return Promise.resolve(m);
      }
    }
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.listeners.delete(onLine);
        this.closeListeners.delete(onClose);
      };
      const onLine = (line: string): void => {
        const m = line.match(pattern);
        if (m) {
          cleanup();
          resolve(m);
        }
      };
      const onClose = (): void => {
        cleanup();
        const info = this.exit;
        reject(
          new Error(
            `${this.name}: exited (code=${info?.code ?? null} signal=${info?.signal ?? null}) before printing a line matching ${pattern}; log ${this.logPath}; last lines:\n${this.tail()}`,
          ),
        );
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms; log ${this.logPath}; last lines:\n${this.tail()}`));
      }, timeoutMs);
      this.listeners.add(onLine);
      this.closeListeners.add(onClose);
      if (this.closed) onClose();
    });
  }

  async waitForPort(port: number, options: { host?: string; timeoutMs?: number } = {}): Promise<void> {
    try {
      await waitForTcpPort(port, {
        ...options,
        abort: () =>
          this.exit === undefined ? undefined : `${this.name} exited (code=${this.exit.code} signal=${this.exit.signal})`,
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}; log ${this.logPath}; last lines:\n${this.tail()}`);
    }
  }

  signal(signal: NodeJS.Signals, options: { group?: boolean } = {}): void {
    if (!this.isRunning()) return;
    if (options.group) {
      this.killGroupSync(signal);
      return;
    }
    try {
      process.kill(this.pid, signal);
    } catch {
      // already gone
    }
  }

  /** Whether the child and its output pipes keep this process alive (`unref` ones do again during stop()/kill()). */
  private setRef(ref: boolean): void {
    for (const h of [this.child, this.child.stdout, this.child.stderr] as Array<{ ref?(): void; unref?(): void } | null>) {
      if (ref) h?.ref?.();
      else h?.unref?.();
    }
  }

  async stop(options: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<ExitInfo> {
    if (this.exit !== undefined) return this.exited;
    this.setRef(true);
    const graceMs = options.graceMs ?? this.stopGraceMs;
    this.killGroupSync(options.signal ?? 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.writeLine('stderr', `# did not exit within ${graceMs} ms of ${options.signal ?? 'SIGTERM'}: SIGKILL`);
      this.killGroupSync('SIGKILL');
    }
    return this.exited;
  }

  async kill(): Promise<ExitInfo> {
    if (this.exit !== undefined) return this.exited;
    this.setRef(true);
    this.killGroupSync('SIGKILL');
    return this.exited;
  }
}

/**
 * Whether process group `pgid` has a member that is not a zombie. Zombies are ignored: they hold
 * no ports or memory, and PID 1 on some machines reaps orphans only every couple of seconds.
 * Reads /proc (Linux); elsewhere falls back to kill(-pgid, 0), which also counts zombies.
 */
export function processGroupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

/** The last `lines` lines of a log file (all runs appended to it), for failure messages. */
export async function tailFile(file: string, lines = 60): Promise<string> {
  const text = await fs.promises.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

function defaultLogPath(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return path.join(os.tmpdir(), 'xwg-logs', `${safe}-${stamp}-${process.pid}-${Math.random().toString(36).slice(2, 8)}.log`);
}

/** Starts a bounded child process (see the module comment). */
export function spawnBounded(options: BoundedProcessOptions): BoundedProcess {
  return new ProcessHandle(options);
}

/** Number of bounded processes started by this process that are still running. */
export function liveBoundedProcessCount(): number {
  return live.size;
}
