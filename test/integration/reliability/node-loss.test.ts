// CI sample of the node-loss run (test/chaos/node-loss.test.ts runs it at full size).
import { nodeLossSuite } from './scenarios/node-loss.ts';
import { scaleOf } from './support/scale.ts';

nodeLossSuite(scaleOf('ci'));
