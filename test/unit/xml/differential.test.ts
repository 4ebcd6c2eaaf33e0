// The fast XML path must decide exactly as the saxes-only reference it replaced (bench/xml/differential.ts),
// checked here with a fixed seed and size so that a failure is repeatable:
//   node bench/xml/differential.ts 3000 20250601
import { describe, expect, it } from 'vitest';
import { runDifferential } from '../../../bench/xml/differential.ts';

const RUNS = 3_000;
const SEED = 20_250_601;

describe('fast XML path against the reference parser', () => {
  it(`agrees on ${RUNS} elements, streams and byte streams each (seed ${SEED})`, () => {
    expect(runDifferential(RUNS, SEED)).toEqual({ checked: 3 * RUNS });
  }, 60_000);
});
