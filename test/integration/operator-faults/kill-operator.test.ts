// The operator SIGKILLed at random points while gateways converge (small sample; test/chaos/operator runs
// the same scenario at full size).
import { describe, it } from 'vitest';
import { scaleFromEnv } from './scenarios/harness.ts';
import { killOperatorScenario } from './scenarios/kill-operator.ts';

describe('operator faults', () => {
  it('converges to exactly the desired objects after the operator is killed mid-reconcile', () => killOperatorScenario(scaleFromEnv('ci')), 15 * 60_000);
});
