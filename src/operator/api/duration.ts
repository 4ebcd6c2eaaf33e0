// Go duration strings (`2160h`, `1h30m`, `90s`), as CEL's duration() and cert-manager read them.
import { GO_DURATION_PATTERN } from './types.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const whole = new RegExp(GO_DURATION_PATTERN);

/** Milliseconds of a Go duration limited to the units the API accepts (h, m, s, ms); undefined if malformed. */
export function parseGoDuration(text: string): number | undefined {
  if (!whole.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
  }
  return Number.isFinite(total) ? total : undefined;
}
