// CI sample of the reverse-proxy run through Debian's nginx (test/chaos/reverse-proxy.test.ts idles longer and
// carries more clients).
import { reverseProxySuite } from './scenarios/reverse-proxy.ts';
import { scaleOf } from './support/scale.ts';

reverseProxySuite(scaleOf('ci'));
