// CI sample of the live fuzzing over a real WebSocket and real BOSH HTTP (test/chaos/fuzz-live.test.ts runs
// 20,000 cases of each). XWG_FUZZ_SEED replays a run.
import { fuzzLiveSuite } from './scenarios/fuzz-live.ts';
import { scaleOf } from './support/scale.ts';

fuzzLiveSuite(scaleOf('ci'));
