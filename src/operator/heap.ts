// The operator's V8 heap: small rather than fast. Its work is waiting for the API server, yet under a burst
// (1,000 resources at once) V8's default growth kept ~230 MiB of heap reserved for ~75 MiB live, and did not
// give it back while idle. --optimize-for-size makes V8 grow the heap in smaller steps and collect sooner;
// V8 reads it at each GC decision (Heap::ShouldOptimizeForMemoryUsage), so setting it once the process runs
// takes effect. Measured (bench/RESULTS.md): RSS with 1,000 resources 351 -> 183 MiB with it and a 1 MiB
// semi-space given on the command line; the semi-space size is fixed when V8 starts, so only NODE_OPTIONS
// can set that one.
import { setFlagsFromString } from 'node:v8';

/** For the operator process only (the CLI), never a library caller's process. */
export function preferSmallHeap(): void {
  setFlagsFromString('--optimize-for-size');
}
