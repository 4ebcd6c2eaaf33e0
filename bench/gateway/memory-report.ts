// The memory goals of issue 14 as text: per-client figures of the gateway against the raw pipe measured in the
// same run (bench/gateway/memory.ts), the split of each into heap, external and array buffers, an ASCII plot of RSS
// against the client count, and the base RSS against a bare Node (bench/gateway/base-rss.ts).
import type { BaseRssResult } from './base-rss.ts';
import type { MemoryCurve, MemoryPoint } from './memory.ts';

const KiB = 1024;
const MiB = 2 ** 20;

export const IDLE_WS_RATIO_GOAL = 1.25;
export const BASE_RSS_GOAL = 60 * MiB;

export interface GoalLine {
  what: string;
  goal: string;
  measured: string;
  reference: string;
  ratio: string;
  met: boolean;
}

/** Growth per client from the idle sample to a point, bytes, for one field of the snapshot. */
function perClient(curve: MemoryCurve, p: MemoryPoint, field: 'rss' | 'heapUsed' | 'external' | 'arrayBuffers'): number {
  return p.clients > 0 ? (p[field] - curve.idle[field]) / p.clients : Number.NaN;
}

const last = (c: MemoryCurve): MemoryPoint | undefined => c.points.at(-1);

export function memoryGoals(curves: { pipe?: MemoryCurve; gateway?: MemoryCurve }, base: BaseRssResult | undefined): GoalLine[] {
  const out: GoalLine[] = [];
  const { pipe, gateway } = curves;
  const p = pipe && last(pipe);
  const g = gateway && last(gateway);
  if (pipe && gateway && p && g) {
    const ours = perClient(gateway, g, 'rss');
    const ref = perClient(pipe, p, 'rss');
    out.push({
      what: `idle WebSocket client, RSS per connection at ${g.clients} clients (pipe: ${p.clients})`,
      goal: `≤ ${IDLE_WS_RATIO_GOAL}× the raw pipe`,
      measured: `${(ours / KiB).toFixed(1)} KiB`,
      reference: `raw pipe ${(ref / KiB).toFixed(1)} KiB`,
      ratio: `${(ours / ref).toFixed(2)}×`,
      met: ours / ref <= IDLE_WS_RATIO_GOAL,
    });
  }
  if (base) {
    out.push({
      what: `gateway base RSS, no client (${base.command})`,
      goal: `≤ ${BASE_RSS_GOAL / MiB} MiB`,
      measured: `${(base.gateway / MiB).toFixed(1)} MiB`,
      reference: `bare Node ${(base.bareNode / MiB).toFixed(1)} MiB`,
      ratio: `${(base.gateway / base.bareNode).toFixed(2)}×`,
      met: base.gateway <= BASE_RSS_GOAL,
    });
  }
  return out;
}

export function goalLinesText(lines: GoalLine[]): string[] {
  return lines.map((l) => `GOAL ${l.what}: ${l.measured} vs ${l.reference} (${l.ratio}); goal ${l.goal}: ${l.met ? 'met' : 'NOT met'}`);
}

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** RSS against clients, and where each client's bytes are: the same columns for both servers. */
export function memoryTable(curves: MemoryCurve[]): string {
  const rows: (string | number)[][] = [];
  for (const c of curves) {
    for (const p of [c.idle, ...c.points]) {
      const f = (field: 'rss' | 'heapUsed' | 'external' | 'arrayBuffers') => (p.clients > 0 ? (perClient(c, p, field) / KiB).toFixed(2) : '');
      rows.push([c.kind, p.clients, (p.rss / MiB).toFixed(1), (p.heapUsed / MiB).toFixed(1), (p.external / MiB).toFixed(1), (p.arrayBuffers / MiB).toFixed(2), f('rss'), f('heapUsed'), f('external'), f('arrayBuffers')]);
    }
  }
  return table(['server', 'clients', 'RSS MiB', 'heap used MiB', 'external MiB', 'array buffers MiB', 'RSS KiB/client', 'heap KiB/client', 'external KiB/client', 'array buffers KiB/client'], rows);
}

/** A text plot of RSS (MiB) against clients; one letter per server, `*` where they meet. */
export function asciiPlot(curves: MemoryCurve[], size = { width: 60, height: 16 }): string {
  const series = curves.map((c) => ({ mark: c.kind === 'raw-pipe' ? 'p' : 'g', pts: [c.idle, ...c.points].map((p) => [p.clients, p.rss / MiB] as const) }));
  const all = series.flatMap((s) => s.pts);
  if (all.length === 0) return '';
  const maxX = Math.max(...all.map(([x]) => x)) || 1;
  const maxY = Math.max(...all.map(([, y]) => y));
  const grid = Array.from({ length: size.height + 1 }, () => Array.from({ length: size.width + 1 }, () => ' '));
  for (const s of series) {
    // Straight segments between the samples, so the slope (the cost per client) shows.
    for (let i = 1; i < s.pts.length; i++) {
      const [x0, y0] = s.pts[i - 1]!;
      const [x1, y1] = s.pts[i]!;
      const steps = size.width;
      for (let k = 0; k <= steps; k++) {
        const x = x0 + ((x1 - x0) * k) / steps;
        const y = y0 + ((y1 - y0) * k) / steps;
        const col = Math.round((x / maxX) * size.width);
        const row = size.height - Math.round((y / maxY) * size.height);
        const cell = grid[row]![col]!;
        grid[row]![col] = cell === ' ' || cell === s.mark ? s.mark : '*';
      }
    }
  }
  const lines = grid.map((cells, r) => {
    const y = maxY * (1 - r / size.height);
    return `${r % 4 === 0 ? y.toFixed(0).padStart(5) : '     '} |${cells.join('')}`;
  });
  lines.push(`      +${'-'.repeat(size.width + 1)}`);
  lines.push(`       0${' '.repeat(size.width - String(maxX).length)}${maxX}`);
  lines.push(`       RSS (MiB) against idle clients; g = gateway, p = raw pipe`);
  return lines.join('\n');
}
