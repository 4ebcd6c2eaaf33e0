// Three replicas; the leader killed or frozen while gateways change; the audit log proves one writer at a time: the long run of test/integration/operator-faults/leader-handover.test.ts.
import { describe, it } from 'vitest';
import { scaleFromEnv } from '../../integration/operator-faults/scenarios/harness.ts';
import { leaderHandoverScenario } from '../../integration/operator-faults/scenarios/leader-handover.ts';

describe('operator faults (chaos)', () => {
  it('hands over within the lease time and never has two writers', () => leaderHandoverScenario(scaleFromEnv('chaos')), 60 * 60_000);
});
