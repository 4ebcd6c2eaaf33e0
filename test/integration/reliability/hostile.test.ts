// CI sample of the hostile-input run (test/chaos/hostile.test.ts repeats every attack 100 times).
import { hostileSuite } from './scenarios/hostile.ts';
import { scaleOf } from './support/scale.ts';

hostileSuite(scaleOf('ci'));
