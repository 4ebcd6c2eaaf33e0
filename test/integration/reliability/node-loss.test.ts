// CI sample of the node-loss run, against Prosody and ejabberd (test/chaos/node-loss.test.ts runs it at full size, Prosody).
import { nodeLossSuite } from './scenarios/node-loss.ts';
import { SERVER_KINDS } from '../../../dev/harness/xmpp-server.ts';
import { scaleOf } from './support/scale.ts';

for (const server of SERVER_KINDS) nodeLossSuite(scaleOf('ci'), server);
