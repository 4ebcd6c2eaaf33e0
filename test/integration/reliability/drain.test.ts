// CI sample of the drain run, against Prosody and ejabberd (test/chaos/drain.test.ts runs it at full size, Prosody).
import { drainSuite } from './scenarios/drain.ts';
import { SERVER_KINDS } from '../../../dev/harness/xmpp-server.ts';
import { scaleOf } from './support/scale.ts';

for (const server of SERVER_KINDS) drainSuite(scaleOf('ci'), server);
