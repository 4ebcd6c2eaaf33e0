// selfManaged certificates renewed under a live gateway that reads them from a Kubernetes-style Secret volume (small sample; test/chaos/operator/cert-rotation.test.ts runs the same scenario at full size).
import { describe, it } from 'vitest';
import { scaleFromEnv } from './scenarios/harness.ts';
import { certRotationScenario } from './scenarios/cert-rotation.ts';

describe('operator faults', () => {
  it('rotates short-lived and near-expiry certificates; the gateway serves them without dropping a connection', () => certRotationScenario(scaleFromEnv('ci')), 15 * 60_000);
});
