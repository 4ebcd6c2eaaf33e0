// Hostile inputs over the wire, every attack 100 times, with the node's memory read before and after.
import { hostileSuite } from '../integration/reliability/scenarios/hostile.ts';
import { scaleOf } from '../integration/reliability/support/scale.ts';

hostileSuite(scaleOf('chaos'));
