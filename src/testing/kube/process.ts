// Child processes that cannot outlive the test run: each runs under
//   setpriv --pdeathsig SIGTERM -- timeout --kill-after=5s <lifetime> <binary> ...
// so the kernel signals it when this (Node) process dies, even by SIGKILL, and it is killed
// anyway at its deadline. It gets its own process group so stop() can kill the whole chain.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, openSync, closeSync, writeSync } from 'node:fs';
import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  /** Appended to (restarts keep one log per component). */
  logFile: string;
  /** Epoch ms after which the process is killed whatever happens. */
  deadline: number;
  env?: NodeJS.ProcessEnv;
}

export interface ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly pid: number | undefined;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  isRunning(): boolean;
  /**
   * SIGTERM, then SIGKILL to the whole group after `graceMs` (0: SIGKILL at once, a crash).
   * Under `timeout` a graceful stop is capped at 5 s anyway.
   */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function signal(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid !== undefined) signal(-child.pid, sig);
}

/** True while a process of group `pgid` is alive (zombies do not count: their sockets are closed). */
async function groupAlive(pgid: number): Promise<boolean> {
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Fields after the parenthesised command: state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[2] === String(pgid) && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

/** Waits until the whole group is gone, so a restart can bind the same ports again. */
async function waitGroupGone(pgid: number | undefined, timeoutMs = 15_000): Promise<void> {
  if (pgid === undefined) return;
  const until = Date.now() + timeoutMs;
  while ((await groupAlive(pgid)) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Normal exit (and worker-thread pools, where pdeathsig would not fire): kill synchronously.
  process.on('exit', () => {
    for (const child of [...live]) killGroup(child, 'SIGKILL');
  });
}

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(path.delimiter)) {
    const file = path.join(dir, name);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

let wrappers: Promise<{ setpriv?: string; timeout?: string }> | undefined;
function findWrappers(): Promise<{ setpriv?: string; timeout?: string }> {
  wrappers ??= (async () => {
    const [setpriv, timeout] = await Promise.all([onPath('setpriv'), onPath('timeout')]);
    const found: { setpriv?: string; timeout?: string } = {};
    if (setpriv) found.setpriv = setpriv;
    if (timeout) found.timeout = timeout;
    return found;
  })();
  return wrappers;
}

export async function startProcess(opts: ManagedProcessOptions): Promise<ManagedProcess> {
  installExitHook();
  const { setpriv, timeout } = await findWrappers();
  const lifetimeS = Math.max(1, Math.ceil((opts.deadline - Date.now()) / 1000));
  let argv = [opts.command, ...opts.args];
  // timeout forwards the TERM it gets from pdeathsig to the real binary, then KILLs after 5s.
  if (timeout) argv = [timeout, '--kill-after=5s', `${lifetimeS}s`, ...argv];
  if (setpriv) argv = [setpriv, '--pdeathsig', 'SIGTERM', '--', ...argv];

  const fd = openSync(opts.logFile, 'a');
  writeSync(fd, `\n===== ${new Date().toISOString()} starting ${opts.name}: ${[opts.command, ...opts.args].join(' ')}\n`);
  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  live.add(child);
  // Never keep the test process alive just because a server is running.
  child.unref();
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (err) => {
      live.delete(child);
      resolve(`spawn error: ${err.message}`);
    });
  });

  const isRunning = (): boolean => live.has(child);
  return {
    name: opts.name,
    logFile: opts.logFile,
    pid: child.pid,
    exited,
    isRunning,
    async stop(graceMs = 10_000): Promise<void> {
      if (isRunning() && graceMs <= 0) {
        killGroup(child, 'SIGKILL');
        await exited;
      } else if (isRunning()) {
        // Only the leader: timeout forwards it once (k8s binaries exit hard on a second signal).
        signal(child.pid, 'SIGTERM');
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      // Whatever is left of the group goes too; the leader's exit does not mean the binary
      // under it has released its ports yet.
      killGroup(child, 'SIGKILL');
      await waitGroupGone(child.pid);
    },
  };
}

/** Last `lines` lines of a log file, for failure messages. */
export async function tailFile(file: string, lines = 60): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}
