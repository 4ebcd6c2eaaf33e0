// CI sample of the parser and session-machine fuzzing (~2,000 cases per property; test/chaos/fuzz.test.ts runs
// over a million).
import { fuzzPureSuite } from './scenarios/fuzz-pure.ts';
import { scaleOf } from './support/scale.ts';

fuzzPureSuite(scaleOf('ci'));
