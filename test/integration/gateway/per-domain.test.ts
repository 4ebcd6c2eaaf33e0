// Per-domain upstreams: one gateway, two XMPP domains, each on its own server: example.com on Prosody 0.12,
// example.net on ejabberd 23.01. Every stream goes to the server of the domain the client names, over
// WebSocket and BOSH alike, and each server sees only its own users.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../dev/harness/gateway.ts';
import { CLOSE, OPEN, openRawWebSocket } from '../../../dev/harness/raw-websocket.ts';
import { connectStrophe, useNodeXhr } from '../../../dev/harness/strophe.ts';
import { connectXmppJs, xml } from '../../../dev/harness/xmpp-js.ts';
import { startXmppServer, type XmppServer } from '../../../dev/harness/xmpp-server.ts';

let prosody: XmppServer;
let ejabberd: XmppServer;
let gateway: TestGateway;
let restoreXhr: (() => void) | undefined;

const DOMAINS = [
  { domain: 'example.com', user: 'alice', password: 'alice-pw', software: /^Prosody$/ },
  { domain: 'example.net', user: 'dave', password: 'dave-pw', software: /^ejabberd$/ },
] as const;

beforeAll(async () => {
  prosody = await startXmppServer('prosody', { domains: ['example.com'], users: [{ user: 'alice', password: 'alice-pw' }] });
  ejabberd = await startXmppServer('ejabberd', { domains: ['example.net'], users: [{ user: 'dave', password: 'dave-pw' }] });
  gateway = await startTestGateway({
    domains: ['example.com', 'example.net'],
    upstream: {
      domains: {
        'example.com': { host: '127.0.0.1', port: prosody.c2sPort, tls: 'none' },
        'example.net': { host: '127.0.0.1', port: ejabberd.c2sPort, tls: 'none' },
      },
    },
  });
  restoreXhr = useNodeXhr().restore;
});

afterAll(async () => {
  restoreXhr?.();
  await gateway?.close();
  await prosody?.dispose();
  await ejabberd?.dispose();
});

describe('per-domain upstreams: example.com on Prosody, example.net on ejabberd, one gateway', () => {
  it.each(DOMAINS)('sends $domain over WebSocket to its own server (disco#info names the software)', async ({ domain, user, password, software }) => {
    const client = await connectXmppJs({ service: gateway.wsUrl(), domain, username: user, password, resource: 'per-domain' });
    try {
      expect(client.jid).toBe(`${user}@${domain}/per-domain`);
      const info = await client.xmpp.iqCaller.request(xml('iq', { type: 'get', to: domain }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
      const identity = info.getChild('query')?.getChild('identity');
      expect(identity?.attrs.category).toBe('server');
      expect(String(identity?.attrs.name)).toMatch(software);
    } finally {
      await client.stop();
    }
  });

  it.each(DOMAINS)('sends $domain over BOSH to its own server', async ({ domain, user, password }) => {
    const client = await connectStrophe({ service: gateway.url('/http-bind'), jid: `${user}@${domain}/bosh`, password, wait: 10 });
    try {
      expect(client.jid).toBe(`${user}@${domain}/bosh`);
      // The creation response names the server the stream reached (XEP-0124 §7.2 `from`).
      expect(client.rawIn[0]).toMatch(new RegExp(` from="${domain.replace('.', '\\.')}"`));
    } finally {
      await client.disconnect();
    }
  });

  it('each server holds only the sessions of its own domain', async () => {
    const alice = await connectXmppJs({ service: gateway.wsUrl(), domain: 'example.com', username: 'alice', password: 'alice-pw', resource: 'seen' });
    const dave = await connectXmppJs({ service: gateway.wsUrl(), domain: 'example.net', username: 'dave', password: 'dave-pw', resource: 'seen' });
    try {
      const onEjabberd = await ejabberd.ejabberd!.connectedUsersInfo();
      expect(onEjabberd.map((s) => s.jid)).toEqual(['dave@example.net/seen']);
      // A user of one server is unknown to the other: no federation between the two.
      await expect(connectXmppJs({ service: gateway.wsUrl(), domain: 'example.net', username: 'alice', password: 'alice-pw' })).rejects.toThrow(/not-authorized/);
    } finally {
      await alice.stop();
      await dave.stop();
    }
  });

  it('answers a domain neither upstream serves with host-unknown', async () => {
    const raw = await openRawWebSocket(gateway.wsUrl());
    raw.send(OPEN('example.org'));
    await raw.waitFor(/<host-unknown /);
    await raw.closed;
    const ok = await openRawWebSocket(gateway.wsUrl());
    ok.send(OPEN('example.net'));
    expect(await ok.waitFor(/^<open /)).toMatch(/from='example\.net'/);
    ok.send(CLOSE);
    await ok.closed;
  });
});
