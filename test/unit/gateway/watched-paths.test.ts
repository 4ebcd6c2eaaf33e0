// The one file watcher of the gateway (certificates, node list): debounced watch events, a poll, and watch
// errors reported instead of thrown.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WatchedPaths } from '../../../src/gateway/watched-paths.ts';
import { eventually, sleep } from '../../../dev/harness/wait.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'xwg-watch-'));
  dirs.push(d);
  return d;
};
let watched: WatchedPaths | undefined;
afterEach(() => {
  watched?.close();
  vi.useRealTimers();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('WatchedPaths', () => {
  it('turns a burst of changes into one call after the debounce', () => {
    vi.useFakeTimers();
    const onChange = vi.fn();
    watched = new WatchedPaths({ onChange, pollIntervalMs: 0, debounceMs: 100 });
    for (let i = 0; i < 5; i++) {
      watched.changed();
      vi.advanceTimersByTime(50);
    }
    expect(onChange).not.toHaveBeenCalled();
    vi.advanceTimersByTime(100);
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it('polls on its interval whether or not anything is watched, and stops when closed', () => {
    vi.useFakeTimers();
    const onChange = vi.fn();
    watched = new WatchedPaths({ onChange, pollIntervalMs: 1000 });
    vi.advanceTimersByTime(3_500);
    expect(onChange).toHaveBeenCalledTimes(3);
    watched.close();
    watched.changed();
    vi.advanceTimersByTime(5_000);
    expect(onChange).toHaveBeenCalledTimes(3);
  });

  it('reacts to a file written in a watched directory, and no longer once the directory is dropped', async () => {
    const a = tmp();
    const b = tmp();
    let calls = 0;
    watched = new WatchedPaths({ onChange: () => void calls++, pollIntervalMs: 0, debounceMs: 20 });
    watched.set([a]);
    writeFileSync(path.join(a, 'x'), '1');
    await eventually('a change reported', () => calls >= 1, 5_000);
    watched.set([b]);
    const before = calls;
    writeFileSync(path.join(b, 'y'), '1');
    await eventually('the new directory watched', () => calls > before, 5_000);
    const after = calls;
    writeFileSync(path.join(a, 'x'), '2');
    // Time in which nothing must happen: a is no longer watched (the debounce is 20 ms).
    await sleep(300);
    expect(calls).toBe(after);
  });

  it('reports a path it cannot watch, and does not throw', () => {
    const errors: string[] = [];
    watched = new WatchedPaths({ onChange: () => {}, pollIntervalMs: 0, onWatchError: (p) => errors.push(p) });
    const missing = path.join(tmp(), 'missing');
    expect(() => watched!.set([missing])).not.toThrow();
    expect(errors).toEqual([missing]);
  });
});
