// Watches expire (etcd compacted while the operator is cut off): 410 Gone, relist, reconcile: the long run of test/integration/operator-faults/watch-expiry.test.ts.
import { describe, it } from 'vitest';
import { scaleFromEnv } from '../../integration/operator-faults/scenarios/harness.ts';
import { watchExpiryScenario } from '../../integration/operator-faults/scenarios/watch-expiry.ts';

describe('operator faults (chaos)', () => {
  it('relists after 410 Gone and reconciles what changed while its watches were blind', () => watchExpiryScenario(scaleFromEnv('chaos')), 60 * 60_000);
});
