// Latency samples and percentiles for the bench: a growable Float64Array, sorted once at the end.

export class Samples {
  private data = new Float64Array(1024);
  private n = 0;

  add(value: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = value;
  }

  get count(): number {
    return this.n;
  }

  /** Percentiles (0..100) of the samples so far, in the samples' unit; NaN when empty. */
  percentiles(ps: readonly number[]): number[] {
    if (this.n === 0) return ps.map(() => Number.NaN);
    const sorted = this.data.slice(0, this.n).sort();
    return ps.map((p) => sorted[Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1))]!);
  }

  summary(): LatencySummary {
    const [p50, p90, p99, max] = this.percentiles([50, 90, 99, 100]);
    return { count: this.n, p50: p50!, p90: p90!, p99: p99!, max: max! };
  }
}

export interface LatencySummary {
  count: number;
  /** milliseconds */
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A number for tables: fixed decimals, thousands separated. */
export function fmt(value: number | undefined, decimals = 0): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}
