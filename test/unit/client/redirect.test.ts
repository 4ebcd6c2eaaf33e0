import { describe, expect, it } from 'vitest';
import { followSeeOtherUri, seeOtherUri, type Endpoint, type WebNode } from '../../../src/client/index.ts';

const t1: WebNode = { name: 't1', host: 't1.example.com', websocketUrl: 'wss://t1.example.com/xmpp-websocket', boshUrl: 'https://t1.example.com/http-bind', ready: true };
const t2: WebNode = { name: 't2', host: 't2.example.com', websocketUrl: 'wss://t2.example.com/xmpp-websocket', boshUrl: 'https://t2.example.com/http-bind', ready: true };
const ws: Endpoint = { node: t1, transport: 'websocket', url: t1.websocketUrl! };
const bosh: Endpoint = { node: t1, transport: 'bosh', url: t1.boshUrl! };

describe('seeOtherUri', () => {
  it('reads the RFC 7395 §3.6.1 close element', () => {
    expect(seeOtherUri(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing' see-other-uri='wss://t2.example.com/xmpp-websocket'/>`)).toBe(
      'wss://t2.example.com/xmpp-websocket',
    );
    expect(seeOtherUri(`<close see-other-uri="wss://t2/x?a=1&amp;b=2" xmlns="urn:ietf:params:xml:ns:xmpp-framing" />`)).toBe('wss://t2/x?a=1&b=2');
  });

  it('reads the XEP-0124 terminate body', () => {
    expect(
      seeOtherUri(`<body condition='see-other-uri' type='terminate' xmlns='http://jabber.org/protocol/httpbind'>
  <uri>https://t2.example.com/http-bind?x=1&amp;y=2</uri>
</body>`),
    ).toBe('https://t2.example.com/http-bind?x=1&y=2');
  });

  it('finds nothing in other messages', () => {
    expect(seeOtherUri(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`)).toBeUndefined();
    expect(seeOtherUri(`<close xmlns='jabber:client' see-other-uri='wss://x/'/>`)).toBeUndefined();
    expect(seeOtherUri(`<body type='terminate' condition='system-shutdown' xmlns='http://jabber.org/protocol/httpbind'><uri>https://x/</uri></body>`)).toBeUndefined();
    expect(seeOtherUri(`<message xmlns='jabber:client'><body>see-other-uri</body></message>`)).toBeUndefined();
  });
});

describe('followSeeOtherUri', () => {
  it('maps a URI to the node it belongs to', () => {
    expect(followSeeOtherUri(ws, 'wss://t2.example.com/xmpp-websocket', [t1, t2])).toEqual({ node: t2, transport: 'websocket', url: 'wss://t2.example.com/xmpp-websocket' });
    expect(followSeeOtherUri(bosh, 'https://t2.example.com/other-path', [t1, t2])?.node).toBe(t2);
  });

  it('follows to an unlisted node too', () => {
    expect(followSeeOtherUri(ws, 'wss://t9.example.com/ws', [t1, t2])).toEqual({
      node: { name: 't9.example.com', host: 't9.example.com', websocketUrl: 'wss://t9.example.com/ws', ready: true },
      transport: 'websocket',
      url: 'wss://t9.example.com/ws',
    });
  });

  it('never to a less secure scheme', () => {
    expect(followSeeOtherUri(ws, 'ws://t2.example.com/xmpp-websocket', [t1, t2])).toBeUndefined();
    expect(followSeeOtherUri(bosh, 'http://t2.example.com/http-bind', [t1, t2])).toBeUndefined();
    const plain: Endpoint = { node: t1, transport: 'websocket', url: 'ws://127.0.0.1:5280/xmpp-websocket' };
    expect(followSeeOtherUri(plain, 'wss://t2.example.com/xmpp-websocket')?.url).toBe('wss://t2.example.com/xmpp-websocket');
    expect(followSeeOtherUri(plain, 'ws://127.0.0.1:5281/xmpp-websocket')?.url).toBe('ws://127.0.0.1:5281/xmpp-websocket');
  });

  it('never to another transport, and not to garbage', () => {
    expect(followSeeOtherUri(ws, 'https://t2.example.com/http-bind')).toBeUndefined();
    expect(followSeeOtherUri(bosh, 'wss://t2.example.com/xmpp-websocket')).toBeUndefined();
    expect(followSeeOtherUri(ws, 'javascript:alert(1)')).toBeUndefined();
    expect(followSeeOtherUri(ws, 'http://[bad')).toBeUndefined();
  });
});
