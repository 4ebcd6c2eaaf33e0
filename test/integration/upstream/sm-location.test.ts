// XEP-0198 §5 location: a server that names its own c2s address in <enabled/> (Prosody with a small test module
// that adds one, proven by Prosody's own WebSocket endpoint) never gets it to the client through the gateway,
// over WebSocket or BOSH; everything else of <enabled/> arrives unchanged.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawBoshSession } from '../../../dev/harness/bosh-http.ts';
import { startTestGateway, type TestGateway } from '../../../dev/harness/gateway.ts';
import { startProsody, type ProsodyServer } from '../../../dev/harness/prosody.ts';
import { OPEN, openRawWebSocket } from '../../../dev/harness/raw-websocket.ts';

const DOMAIN = 'example.com';
const LOCATION = '192.0.2.1:5222';
const MODULES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'prosody-modules');
const SM = 'urn:xmpp:sm:3';

let prosody: ProsodyServer;
let gateway: TestGateway;

beforeAll(async () => {
  prosody = await startProsody({
    domains: [DOMAIN],
    users: [{ user: 'alice', password: 'alice-pw' }],
    websocket: true,
    extraModules: ['test_sm_location'],
    extraConfig: `plugin_paths = { "${MODULES}" }\ntest_sm_location = "${LOCATION}"`,
  });
  gateway = await startTestGateway({ domains: [DOMAIN], upstream: { default: { host: '127.0.0.1', port: prosody.c2sPort, tls: 'none' } } });
});

afterAll(async () => {
  await gateway?.close();
  await prosody?.dispose();
});

/** Logs in over RFC 7395 and asks for resumable stream management; resolves with the <enabled/> message. */
async function enabledOverWebSocket(url: string): Promise<string> {
  const ws = await openRawWebSocket(url);
  try {
    ws.send(OPEN(DOMAIN));
    await ws.waitFor(/PLAIN/);
    ws.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0alice\0alice-pw').toString('base64')}</auth>`);
    await ws.waitFor(/<success/);
    ws.send(OPEN(DOMAIN));
    await ws.waitFor(new RegExp(`<sm[^>]*${SM}`));
    ws.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    await ws.waitFor(/id=["']b1["']/);
    ws.send(`<enable xmlns='${SM}' resume='true'/>`);
    return await ws.waitFor(/<enabled/);
  } finally {
    ws.ws.close();
  }
}

describe('XEP-0198 location', () => {
  it('the server sends one (its own WebSocket endpoint shows it)', async () => {
    expect(await enabledOverWebSocket(prosody.websocketUrl!)).toContain(`location='${LOCATION}'`);
  });

  it('WebSocket through the gateway: <enabled/> without location, resume and id kept', async () => {
    const enabled = await enabledOverWebSocket(gateway.wsUrl());
    expect(enabled).not.toContain('location');
    expect(enabled).toMatch(/resume=["']true["']/);
    expect(enabled).toMatch(/id=["'][^"']+["']/);
  });

  it('BOSH through the gateway: <enabled/> without location', async () => {
    const s = new RawBoshSession(gateway.url('/http-bind'));
    await s.create({ to: DOMAIN });
    await s.login('alice', 'alice-pw', DOMAIN);
    await s.request([`<enable xmlns='${SM}' resume='true'/>`]);
    const enabled = await s.take((e) => e.localName === 'enabled' && e.namespaceURI === SM);
    expect(enabled.hasAttribute('location')).toBe(false);
    expect(enabled.getAttribute('resume')).toBe('true');
    expect(enabled.getAttribute('id')).not.toBe('');
    await s.terminate();
  });
});
