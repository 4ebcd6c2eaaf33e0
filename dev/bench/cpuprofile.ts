// Summarizes a V8 .cpuprofile (node --cpu-prof): self and total time per function, busiest first.
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface ProfileEntry {
  function: string;
  /** file:line, shortened to the package or the repository path */
  location: string;
  /** share of the non-idle samples spent in the function itself */
  self: number;
  /** share of the non-idle samples with the function on the stack */
  total: number;
}

export interface ProfileSummary {
  /** non-idle samples / all samples */
  busy: number;
  samples: number;
  top: ProfileEntry[];
  /** self time by area: our gateway code, saxes, ws, node internals, GC, … */
  areas: Record<string, number>;
}

function shorten(url: string): string {
  if (url === '') return '';
  const p = url.replace(/^file:\/\//, '');
  const nm = p.lastIndexOf('node_modules/');
  if (nm >= 0) return p.slice(nm + 'node_modules/'.length);
  const src = p.indexOf('/src/');
  if (src >= 0) return p.slice(src + 1);
  return path.basename(p);
}

function area(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (functionName === '(garbage collector)') return 'gc';
  if (functionName === '(program)') return 'program';
  if (url.includes('node_modules/saxes')) return 'saxes';
  if (url.includes('node_modules/ws/')) return 'ws';
  if (url.includes('node_modules/prom-client')) return 'prom-client';
  if (url.includes('node_modules/pino')) return 'pino';
  if (url.includes('/src/gateway/xml/')) return 'gateway xml';
  if (url.includes('/src/gateway/')) return 'gateway other';
  if (url.startsWith('node:')) return 'node internals';
  if (url === '') return 'native/builtins';
  return 'other';
}

export function summarizeProfile(file: string, topN = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}|${shorten(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  let all = 0;
  let idle = 0;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const areas: Record<string, number> = {};
  for (const n of profile.nodes) {
    const hits = n.hitCount ?? 0;
    all += hits;
    if (n.callFrame.functionName === '(idle)') {
      idle += hits;
      continue;
    }
    if (hits === 0) continue;
    const k = key(n);
    self.set(k, (self.get(k) ?? 0) + hits);
    const a = area(n);
    areas[a] = (areas[a] ?? 0) + hits;
    // Inclusive time: each function once per stack, however often it recurs.
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const k2 = key(byId.get(id)!);
      if (seen.has(k2)) continue;
      seen.add(k2);
      total.set(k2, (total.get(k2) ?? 0) + hits);
    }
  }
  const busy = all - idle;
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([k, hits]) => {
      const [fn, location] = k.split('|') as [string, string];
      return { function: fn, location, self: hits / busy, total: (total.get(k) ?? 0) / busy };
    });
  for (const a of Object.keys(areas)) areas[a] = areas[a]! / busy;
  return { busy: busy / Math.max(1, all), samples: all, top, areas };
}

/** The hottest stacks' callers: total time of functions, by inclusive share, for a quick tree view. */
export function topInclusive(file: string, topN = 25): ProfileEntry[] {
  const s = summarizeProfile(file, 100000);
  return [...s.top].sort((a, b) => b.total - a.total).slice(0, topN);
}
