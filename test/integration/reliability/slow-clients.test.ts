// CI sample of the slow-client and flood run (test/chaos/slow-clients.test.ts runs it at full size).
import { slowClientsSuite } from './scenarios/slow-clients.ts';
import { scaleOf } from './support/scale.ts';

slowClientsSuite(scaleOf('ci'));
