// kube-apiserver and etcd restarted, hard and soft, during convergence and at steady state: the long run of test/integration/operator-faults/control-plane-restarts.test.ts.
import { describe, it } from 'vitest';
import { scaleFromEnv } from '../../integration/operator-faults/scenarios/harness.ts';
import { controlPlaneRestartScenario } from '../../integration/operator-faults/scenarios/control-plane-restarts.ts';

describe('operator faults (chaos)', () => {
  it('converges and reconciles a change after every apiserver and etcd restart', () => controlPlaneRestartScenario(scaleFromEnv('chaos')), 60 * 60_000);
});
