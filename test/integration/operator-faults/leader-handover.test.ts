// Three replicas; the leader killed or frozen while gateways change; the audit log proves one writer at a time (small sample; test/chaos/operator/leader-handover.test.ts runs the same scenario at full size).
import { describe, it } from 'vitest';
import { scaleFromEnv } from './scenarios/harness.ts';
import { leaderHandoverScenario } from './scenarios/leader-handover.ts';

describe('operator faults', () => {
  it('hands over within the lease time and never has two writers', () => leaderHandoverScenario(scaleFromEnv('ci')), 15 * 60_000);
});
