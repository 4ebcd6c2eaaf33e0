// CI sample of the upstream restart run (test/chaos/upstream-restart.test.ts runs it at full size).
import { upstreamRestartSuite } from './scenarios/upstream-restart.ts';
import { scaleOf } from './support/scale.ts';

upstreamRestartSuite(scaleOf('ci'));
