// Forks dev/bench/worker.ts with one job and talks to it over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Job, ParentMessage, WorkerMessage } from './worker.ts';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

export interface WorkerHandle {
  readonly pid: number;
  /** The next message of this type; rejects if the worker reports an error or exits first. */
  next<T extends WorkerMessage['type']>(type: T, timeoutMs?: number): Promise<Extract<WorkerMessage, { type: T }>>;
  send(message: ParentMessage): void;
  /** Asks the worker to close its connections and waits for it to exit. */
  close(): Promise<void>;
  kill(): void;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function startWorker(job: Job, maxMs: number): WorkerHandle {
  const child = fork(WORKER, [JSON.stringify({ ...job, maxMs })], {
    execPath: process.execPath,
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'json',
  });
  live.add(child);
  const queue: WorkerMessage[] = [];
  let failure: Error | undefined;
  const listeners = new Set<() => void>();
  const poke = () => {
    for (const l of [...listeners]) l();
  };
  child.on('message', (m: WorkerMessage) => {
    if (m.type === 'error') failure ??= new Error(`load worker: ${m.message}`);
    else queue.push(m);
    poke();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      failure ??= new Error(`load worker exited (code ${code})`);
      poke();
      resolve(code);
    }),
  );
  return {
    pid: child.pid ?? -1,
    next(type, timeoutMs = maxMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`load worker: no ${type} within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          const i = queue.findIndex((m) => m.type === type);
          if (i >= 0) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(queue.splice(i, 1)[0] as never);
          } else if (failure) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(failure);
          }
        };
        listeners.add(check);
        check();
      });
    },
    send(message) {
      if (child.connected) child.send(message);
    },
    async close() {
      if (child.connected) child.send({ type: 'close' } satisfies ParentMessage);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}
