// Opens an RFC 7395 WebSocket to a gateway node and prints the first framed reply; exit 1 without one.
// usage: node test/e2e/websocket-check.ts <wss-url> <tls-server-name> <ca-file> <xmpp-domain>
import { readFileSync } from 'node:fs';
import { openRawWebSocket } from '../../dev/harness/raw-websocket.ts';

const [url, servername, caFile, domain] = process.argv.slice(2);
if (!url || !servername || !caFile || !domain) {
  console.error('usage: node test/e2e/websocket-check.ts <wss-url> <tls-server-name> <ca-file> <xmpp-domain>');
  process.exit(2);
}
const ws = await openRawWebSocket(url, { ca: readFileSync(caFile), servername });
ws.send(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="${domain}" version="1.0"/>`);
// <open/> when the upstream answers; <stream:error/> or <close/> when it cannot be reached: either way
// TLS (the node's certificate by SNI), the Service, the pod and the WebSocket endpoint all worked.
const reply = await ws.waitFor(/<open |<close |<stream:error/, 15_000);
console.log(`reply: ${reply}`);
ws.ws.close();
