// Live fuzzing at full size: 20,000 WebSocket and 20,000 BOSH cases against a running node, canaries chatting.
import { fuzzLiveSuite } from '../integration/reliability/scenarios/fuzz-live.ts';
import { scaleOf } from '../integration/reliability/support/scale.ts';

fuzzLiveSuite(scaleOf('chaos'));
