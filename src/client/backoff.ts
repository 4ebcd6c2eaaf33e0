/**
 * Exponential backoff with full jitter: uniform in [0, min(cap, base·2^(attempt−1))), 0 before the
 * first retry. Full jitter spreads a crowd of clients that failed together over the whole window.
 */
export function backoffDelay(attempt: number, opts: { baseMs: number; capMs: number; random: () => number }): number {
  if (attempt <= 0) return 0;
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(opts.random() * ceiling);
}
