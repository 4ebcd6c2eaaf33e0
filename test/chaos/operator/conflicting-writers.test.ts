// Other field managers and kubectl edits on owned objects; look-alikes that are not ours: the long run of test/integration/operator-faults/conflicting-writers.test.ts.
import { describe, it } from 'vitest';
import { scaleFromEnv } from '../../integration/operator-faults/scenarios/harness.ts';
import { conflictingWritersScenario } from '../../integration/operator-faults/scenarios/conflicting-writers.ts';

describe('operator faults (chaos)', () => {
  it('restores its values, keeps the fields of other managers, never deletes what it does not own', () => conflictingWritersScenario(scaleFromEnv('chaos')), 60 * 60_000);
});
