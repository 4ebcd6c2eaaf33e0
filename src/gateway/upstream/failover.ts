// Which server of an upstream to try first: the configured (or SRV) order, except that a server whose
// connect failed recently goes after the others for a short back-off. Pure: the clock is passed in.
import type { Target } from './srv.ts';

const keyOf = (t: Target) => `${t.tls}|${t.host}|${t.port}`;
/** Servers remembered at most (SRV targets of many domains): past it, the expired go, then the oldest. */
const MAX_REMEMBERED = 10_000;

export class FailureMemory {
  readonly #backoffMs: number;
  /** key → time until which the server is tried last */
  readonly #until = new Map<string, number>();

  constructor(backoffMs: number) {
    this.#backoffMs = backoffMs;
  }

  /**
   * `targets` with those in back-off moved to the end, the soonest to recover first; the relative order
   * of the others is kept. A server in back-off is still tried when every other one fails.
   */
  order(targets: readonly Target[], now: number): Target[] {
    if (this.#until.size === 0) return [...targets];
    const fresh: Target[] = [];
    const cooling: { t: Target; until: number }[] = [];
    for (const t of targets) {
      const until = this.#until.get(keyOf(t));
      if (until === undefined) fresh.push(t);
      else if (until <= now) {
        this.#until.delete(keyOf(t));
        fresh.push(t);
      } else cooling.push({ t, until });
    }
    cooling.sort((a, b) => a.until - b.until);
    return [...fresh, ...cooling.map((c) => c.t)];
  }

  failed(target: Target, now: number): void {
    if (this.#backoffMs <= 0) return;
    const key = keyOf(target);
    this.#until.delete(key);
    if (this.#until.size >= MAX_REMEMBERED) {
      for (const [k, until] of this.#until) if (until <= now) this.#until.delete(k);
      // Insertion order is failure order: the oldest failure goes first.
      while (this.#until.size >= MAX_REMEMBERED) this.#until.delete(this.#until.keys().next().value!);
    }
    this.#until.set(key, now + this.#backoffMs);
  }

  succeeded(target: Target): void {
    this.#until.delete(keyOf(target));
  }

  /** Servers in back-off at `now` (for logs and tests). */
  coolingDown(now: number): string[] {
    return [...this.#until].filter(([, until]) => until > now).map(([k]) => k);
  }
}
