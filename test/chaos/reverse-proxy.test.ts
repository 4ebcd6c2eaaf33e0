// Through nginx at full size: 100 clients, a WebSocket idle for 65 s behind a 10 s proxy_read_timeout.
import { reverseProxySuite } from '../integration/reliability/scenarios/reverse-proxy.ts';
import { scaleOf } from '../integration/reliability/support/scale.ts';

reverseProxySuite(scaleOf('chaos'));
