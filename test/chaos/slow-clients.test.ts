// Slow clients and floods at full size: 1,000 slowloris connections of each kind, 100,000 bogus sids, 50,000
// messages to a client that never reads.
import { slowClientsSuite } from '../integration/reliability/scenarios/slow-clients.ts';
import { scaleOf } from '../integration/reliability/support/scale.ts';

slowClientsSuite(scaleOf('chaos'));
