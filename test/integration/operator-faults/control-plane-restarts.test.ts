// kube-apiserver and etcd restarted, hard and soft, during convergence and at steady state (small sample; test/chaos/operator/control-plane-restarts.test.ts runs the same scenario at full size).
import { describe, it } from 'vitest';
import { scaleFromEnv } from './scenarios/harness.ts';
import { controlPlaneRestartScenario } from './scenarios/control-plane-restarts.ts';

describe('operator faults', () => {
  it('converges and reconciles a change after every apiserver and etcd restart', () => controlPlaneRestartScenario(scaleFromEnv('ci')), 15 * 60_000);
});
