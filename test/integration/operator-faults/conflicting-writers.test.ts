// Other field managers and kubectl edits on owned objects; look-alikes that are not ours (small sample; test/chaos/operator/conflicting-writers.test.ts runs the same scenario at full size).
import { describe, it } from 'vitest';
import { scaleFromEnv } from './scenarios/harness.ts';
import { conflictingWritersScenario } from './scenarios/conflicting-writers.ts';

describe('operator faults', () => {
  it('restores its values, keeps the fields of other managers, never deletes what it does not own', () => conflictingWritersScenario(scaleFromEnv('ci')), 15 * 60_000);
});
