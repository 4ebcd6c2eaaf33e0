// Waiting, for tests and the harness: on a condition polled until it holds, or on one step bounded in time, each
// failing with a message that names what was awaited. Never on elapsed time alone: `sleep` is only for letting
// time pass in which something must NOT happen (a retry that must not come), and for the poll interval here.

export interface WaitOptions {
  /** give up after this long (default 60 s) */
  timeoutMs?: number;
  /** poll this often (default 100 ms) */
  everyMs?: number;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

/**
 * Polls `probe` until it returns something other than undefined or false, and returns that. A probe that throws
 * counts as not yet; after `timeoutMs` the error names `what` and the last error seen.
 */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitOptions | number = {},
): Promise<Exclude<T, undefined | false>> {
  const { timeoutMs = 60_000, everyMs = 100 } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as Exclude<T, undefined | false>;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${last instanceof Error ? last.message : String(last)}`}`);
    await sleep(everyMs);
  }
}

/** `work`, or an error naming the step when it takes longer than `timeoutMs` (the step itself is not cancelled). */
export async function step<T>(what: string, timeoutMs: number, work: Promise<T> | (() => Promise<T>)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`step "${what}" did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([typeof work === 'function' ? work() : work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
