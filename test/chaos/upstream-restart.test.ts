// Upstream restarts and crashes at full size: 200 WebSocket + 20 BOSH clients, five cycles of each.
import { upstreamRestartSuite } from '../integration/reliability/scenarios/upstream-restart.ts';
import { scaleOf } from '../integration/reliability/support/scale.ts';

upstreamRestartSuite(scaleOf('chaos'));
