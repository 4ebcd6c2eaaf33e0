// Files the gateway reloads when they change (the certificate directory, the node list): fs.watch on their
// directories for a quick reaction, debounced so that the burst of events one update makes (Kubernetes swaps a
// mounted volume's `..data` symlink) becomes one reload, and a poll for what fs.watch misses (some mounted and
// network file systems, a watcher that could not be created).
import fs from 'node:fs';

export interface WatchedPathsOptions {
  /** called, debounced, after a change, and on every poll */
  onChange(): void;
  /** coalesces a burst of watch events (default 100 ms) */
  debounceMs?: number;
  /** reload this often regardless (0: never) */
  pollIntervalMs: number;
  /** react to fs.watch events at all (default true); the poll runs either way */
  watch?: boolean;
  /** a path that cannot be watched, or whose watcher failed: the poll covers it */
  onWatchError?(path: string, err: unknown): void;
}

export class WatchedPaths {
  readonly #o: WatchedPathsOptions;
  readonly #watchers = new Map<string, fs.FSWatcher>();
  readonly #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: WatchedPathsOptions) {
    this.#o = options;
    if (options.pollIntervalMs > 0) this.#poll = setInterval(() => options.onChange(), options.pollIntervalMs).unref();
  }

  /** Watches exactly these paths from now on (new ones added, others closed). */
  set(paths: Iterable<string>): void {
    if (this.#o.watch === false || this.#closed) return;
    const wanted = new Set(paths);
    for (const [p, w] of this.#watchers) {
      if (!wanted.has(p)) {
        w.close();
        this.#watchers.delete(p);
      }
    }
    for (const p of wanted) {
      if (this.#watchers.has(p)) continue;
      try {
        const w = fs.watch(p, { persistent: false }, () => this.changed());
        w.on('error', (err) => {
          w.close();
          this.#watchers.delete(p);
          this.#o.onWatchError?.(p, err);
        });
        this.#watchers.set(p, w);
      } catch (err) {
        this.#o.onWatchError?.(p, err);
      }
    }
  }

  /** Schedules one onChange after the debounce, however many changes come before it. */
  changed(): void {
    if (this.#closed) return;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => this.#o.onChange(), this.#o.debounceMs ?? 100).unref();
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#poll);
    clearTimeout(this.#debounce);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }
}
