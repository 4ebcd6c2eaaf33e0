// Node loss at full size: 200 WebSocket + 30 BOSH clients × 200 messages (see the scenario).
import { nodeLossSuite } from '../integration/reliability/scenarios/node-loss.ts';
import { scaleOf } from '../integration/reliability/support/scale.ts';

nodeLossSuite(scaleOf('chaos'));
