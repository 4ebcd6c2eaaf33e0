// Watches expire (etcd compacted while the operator is cut off): 410 Gone, relist, reconcile (small sample; test/chaos/operator/watch-expiry.test.ts runs the same scenario at full size).
import { describe, it } from 'vitest';
import { scaleFromEnv } from './scenarios/harness.ts';
import { watchExpiryScenario } from './scenarios/watch-expiry.ts';

describe('operator faults', () => {
  it('relists after 410 Gone and reconciles what changed while its watches were blind', () => watchExpiryScenario(scaleFromEnv('ci')), 15 * 60_000);
});
