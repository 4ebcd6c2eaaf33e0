// Graceful drain at full size: 200 WebSocket + 30 BOSH clients × 200 messages (see the scenario).
import { drainSuite } from '../integration/reliability/scenarios/drain.ts';
import { scaleOf } from '../integration/reliability/support/scale.ts';

drainSuite(scaleOf('chaos'));
