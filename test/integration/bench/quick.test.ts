// `node bench/run.ts --quick` runs a tiny size of every bench scenario: this checks only that it works and
// produces numbers (the bench reports against its targets and never fails on them).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchResults } from '../../../bench/run.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
let dir: string | undefined;

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const positive = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n > 0;

describe('bench --quick', () => {
  it('runs every scenario at a tiny size and reports numbers', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'xwg-bench-test-'));
    const out = path.join(dir, 'results.json');
    const started = Date.now();
    const { stdout, code } = await new Promise<{ stdout: string; code: number | null }>((resolve) => {
      execFile(process.execPath, [path.join(REPO, 'bench/run.ts'), '--quick', '--out', out], { cwd: REPO, timeout: 110_000, maxBuffer: 16 << 20 }, (err, so, se) =>
        resolve({ stdout: `${so}\n${se}`, code: err ? ((err as { code?: number }).code ?? -1) : 0 }),
      );
    });
    const elapsed = Date.now() - started;
    expect(code, stdout.slice(-4000)).toBe(0);
    const r = JSON.parse(await readFile(out, 'utf8')) as BenchResults;
    expect(r.quick).toBe(true);
    expect(r.errors).toEqual({});
    // Every part ran: one that cannot (no Prosody, no Kubernetes binaries) fails here with its reason.
    expect(r.skipped, 'parts the bench skipped, with the reason').toEqual({});

    const relayPaths = r.relay!.results.map((m) => m.path);
    expect(relayPaths).toEqual(expect.arrayContaining(['stub/tcp', 'raw-pipe', 'gateway/ws', 'gateway+pp2/ws', 'gateway/bosh']));
    expect(relayPaths).toEqual(expect.arrayContaining(['prosody/tcp', 'prosody/ws', 'prosody/bosh', 'gw→prosody/ws', 'gw→prosody/bosh']));
    for (const m of [...r.relay!.results, ...r.latency!.results, ...r.bosh!.flatMap((b) => b.results)]) {
      expect(positive(m.rate), `${m.path} rate`).toBe(true);
      expect(positive(m.latency.p50) && m.latency.p99 >= m.latency.p50, `${m.path} latency`).toBe(true);
      expect(m.errors, m.path).toEqual([]);
    }
    expect(r.scale!.map((s) => s.kind)).toEqual(expect.arrayContaining(['raw-pipe', 'gateway-ws', 'gateway-bosh']));
    for (const s of r.scale!) {
      expect(s.connected, s.kind).toBe(s.requested);
      expect(Number.isFinite(s.perClientBytes), s.kind).toBe(true);
      expect(positive(s.acceptRate), s.kind).toBe(true);
    }
    expect(r.profile!.summary.top.length).toBeGreaterThan(5);
    for (const curve of [r.memory!.pipe!, r.memory!.pipeImageV8!, r.memory!.gateway!]) {
      expect(curve.points.map((p) => p.clients), curve.kind).toEqual([100, 200]);
      expect(positive(curve.points[1]!.rss - curve.idle.rss), curve.kind).toBe(true);
    }
    expect(positive(r.baseRss!.gateway) && positive(r.baseRss!.bareNode)).toBe(true);
    expect(positive(r.operator!.convergence[0]!.ms)).toBe(true);
    console.log(`[bench] --quick took ${(elapsed / 1000).toFixed(1)} s`);
  }, 120_000);
});
