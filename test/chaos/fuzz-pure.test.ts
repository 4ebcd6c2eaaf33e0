// Parser and session-machine fuzzing at full size: 150,000 runs per property (XWG_FUZZ_RUNS overrides), over a
// million cases in total.
import { fuzzPureSuite } from '../integration/reliability/scenarios/fuzz-pure.ts';
import { scaleOf } from '../integration/reliability/support/scale.ts';

fuzzPureSuite(scaleOf('chaos'));
