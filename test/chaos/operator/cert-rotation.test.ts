// selfManaged certificates renewed under a live gateway that reads them from a Kubernetes-style Secret volume: the long run of test/integration/operator-faults/cert-rotation.test.ts.
import { describe, it } from 'vitest';
import { scaleFromEnv } from '../../integration/operator-faults/scenarios/harness.ts';
import { certRotationScenario } from '../../integration/operator-faults/scenarios/cert-rotation.ts';

describe('operator faults (chaos)', () => {
  it('rotates short-lived and near-expiry certificates; the gateway serves them without dropping a connection', () => certRotationScenario(scaleFromEnv('chaos')), 60 * 60_000);
});
