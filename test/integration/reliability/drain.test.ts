// CI sample of the drain run (test/chaos/drain.test.ts runs it at full size).
import { drainSuite } from './scenarios/drain.ts';
import { scaleOf } from './support/scale.ts';

drainSuite(scaleOf('ci'));
