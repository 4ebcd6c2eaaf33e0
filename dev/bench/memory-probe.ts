// Preloaded into a server under the bench (`node --expose-gc --import dev/bench/memory-probe.ts …`): on SIGUSR2
// it collects garbage and prints one line `MEMORY <n> {json}` with process.memoryUsage() and V8's heap spaces
// (bytes used), so the bench reads where a process's memory is, the same way for the gateway and the raw pipe.
import { writeSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

let n = 0;
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  const spaces: Record<string, number> = {};
  // Committed, not only used: after a full GC the young generation is empty but keeps the size it grew to.
  const spacesCommitted: Record<string, number> = {};
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_used_size > 0) spaces[s.space_name] = s.space_used_size;
    if (s.space_size > 0) spacesCommitted[s.space_name] = s.space_size;
  }
  writeSync(1, `MEMORY ${++n} ${JSON.stringify({ ...process.memoryUsage(), spaces, spacesCommitted })}\n`);
});
