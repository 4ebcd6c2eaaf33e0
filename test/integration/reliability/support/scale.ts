// One test body, two sizes: the CI sample (test/integration/reliability) and the long chaos run (test/chaos).
// XWG_CHAOS_SCALE=ci|chaos overrides the size a file asks for.

import { eventually as poll } from '../../../../dev/harness/wait.ts';
export type Scale = 'ci' | 'chaos';

export function scaleOf(fileDefault: Scale): Scale {
  const env = process.env.XWG_CHAOS_SCALE;
  if (env === 'ci' || env === 'chaos') return env;
  if (env !== undefined && env !== '') throw new Error(`XWG_CHAOS_SCALE must be ci or chaos, not ${JSON.stringify(env)}`);
  return fileDefault;
}

export function sized<T>(scale: Scale, sizes: Record<Scale, T>): T {
  return sizes[scale];
}

/** Writes a test's figures to the test output, one line, easy to grep: `[figures] <title> {...}`. */
export function report(title: string, figures: Record<string, unknown>): void {
  console.log(`[figures] ${title} ${JSON.stringify(figures)}`);
}

export { sleep } from '../../../../dev/harness/wait.ts';

/** Polls `check` until it holds (dev/harness/wait.ts); throws with `what` after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000, everyMs = 50): Promise<void> {
  await poll(what, check, { timeoutMs, everyMs });
}

/** Runs `f` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, f: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i]!, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
