// Long run: 50 gateways of 3 nodes, the operator SIGKILLed 20 times while they converge.
import { describe, it } from 'vitest';
import { scaleFromEnv } from '../../integration/operator-faults/scenarios/harness.ts';
import { killOperatorScenario } from '../../integration/operator-faults/scenarios/kill-operator.ts';

describe('operator faults (chaos)', () => {
  it(
    'converges to exactly the desired objects after the operator is killed mid-reconcile',
    () => killOperatorScenario(scaleFromEnv('chaos')),
    60 * 60_000,
  );
});
