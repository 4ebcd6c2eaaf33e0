// The idle WebSocket memory curves of issue 14 as text: per-client figures of the gateway and the raw pipe
// measured in the same run (bench/gateway/memory.ts), the split of each into heap, external and array buffers,
// and an ASCII plot of RSS against the client count. Their goals are in dev/bench/targets.ts.
import type { MemoryCurve, MemoryPoint } from './memory.ts';
import { table } from '../../dev/bench/report.ts';

const KiB = 1024;
const MiB = 2 ** 20;

/** Growth per client from the idle sample to a point, bytes, for one field of the snapshot. */
function perClient(curve: MemoryCurve, p: MemoryPoint, field: 'rss' | 'heapUsed' | 'external' | 'arrayBuffers'): number {
  return p.clients > 0 ? (p[field] - curve.idle[field]) / p.clients : Number.NaN;
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
  const series = curves.map((c) => ({ mark: c.kind === 'raw-pipe' ? 'p' : c.kind === 'raw-pipe-image-v8' ? 'q' : 'g', pts: [c.idle, ...c.points].map((p) => [p.clients, p.rss / MiB] as const) }));
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
  lines.push(`       RSS (MiB) against idle clients; g = gateway, p = raw pipe, q = raw pipe with the image's V8 options`);
  return lines.join('\n');
}
