import { describe, expect, it } from 'vitest';
import { discover, DiscoveryError, parseXrd, linksToNodes, WEBSOCKET_REL, XBOSH_REL } from '../../../src/client/index.ts';
import { fakeFetch } from './fakes.ts';

const nodeList = JSON.stringify({
  version: '5',
  domains: ['example.com', 'example2.com'],
  nodes: [
    { name: 't1', host: 't1.example.com', websocketUrl: 'wss://t1.example.com/xmpp-websocket', boshUrl: 'https://t1.example.com/http-bind', ready: true },
    { name: 't2', host: 't2.example.com', websocketUrl: 'wss://t2.example.com/xmpp-websocket', ready: false },
    { name: 'bad' },
    { name: 't3', host: 't3.example.com', boshUrl: 'https://t3.example.com/http-bind' },
  ],
});

const xrd = `<?xml version='1.0' encoding='utf-8'?>
<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>
  <!-- <Link rel='urn:xmpp:alt-connections:websocket' href='wss://commented.example/'/> -->
  <Link rel='urn:xmpp:alt-connections:websocket' href='wss://t1.example.com/xmpp-websocket'/>
  <Link rel="urn:xmpp:alt-connections:xbosh" href="https://t1.example.com/http-bind" />
  <Link rel='urn:xmpp:alt-connections:websocket' href='wss://t2.example.com/ws?a=1&amp;b=2'></Link>
  <Link rel='lrdd' href='https://example.com/lrdd'/>
</XRD>`;

describe('discover', () => {
  it('fetches the node list of a domain over https, from any origin without credentials', async () => {
    const fetch = fakeFetch({ 'https://example.com/.well-known/xmpp-web-nodes.json': { body: nodeList } });
    const dir = await discover('Example.com', { fetch });
    expect(fetch.calls).toHaveLength(1);
    expect(fetch.calls[0]?.init).toMatchObject({ mode: 'cors', credentials: 'omit', headers: { Accept: 'application/json' } });
    expect(dir.version).toBe('5');
    expect(dir.domains).toEqual(['example.com', 'example2.com']);
    expect(dir.nodes).toEqual([
      { name: 't1', host: 't1.example.com', websocketUrl: 'wss://t1.example.com/xmpp-websocket', boshUrl: 'https://t1.example.com/http-bind', ready: true },
      { name: 't2', host: 't2.example.com', websocketUrl: 'wss://t2.example.com/xmpp-websocket', ready: false },
      { name: 't3', host: 't3.example.com', boshUrl: 'https://t3.example.com/http-bind', ready: true },
    ]);
  });

  it('falls back to host-meta.json (JRD) when the node list is absent', async () => {
    const fetch = fakeFetch({
      'https://example.com/.well-known/host-meta.json': {
        body: JSON.stringify({
          links: [
            { rel: XBOSH_REL, href: 'https://t2.example.com/http-bind' },
            { rel: WEBSOCKET_REL, href: 'wss://t2.example.com/xmpp-websocket' },
            { rel: WEBSOCKET_REL, href: 'wss://t1.example.com/xmpp-websocket' },
            { rel: 'other', href: 'https://x/' },
          ],
        }),
      },
    });
    const dir = await discover('example.com', { fetch });
    expect(fetch.calls.map((c) => c.url)).toEqual([
      'https://example.com/.well-known/xmpp-web-nodes.json',
      'https://example.com/.well-known/host-meta.json',
    ]);
    expect(dir.domains).toEqual(['example.com']);
    expect(dir.nodes).toEqual([
      { name: 't2.example.com', host: 't2.example.com', boshUrl: 'https://t2.example.com/http-bind', websocketUrl: 'wss://t2.example.com/xmpp-websocket', ready: true },
      { name: 't1.example.com', host: 't1.example.com', websocketUrl: 'wss://t1.example.com/xmpp-websocket', ready: true },
    ]);
  });

  it('falls back to host-meta (XRD) after network errors and bad documents', async () => {
    const fetch = fakeFetch({
      'https://example.com/.well-known/xmpp-web-nodes.json': new TypeError('Failed to fetch'),
      'https://example.com/.well-known/host-meta.json': { body: '<html>oops</html>' },
      'https://example.com/.well-known/host-meta': { body: xrd },
    });
    const dir = await discover('example.com', { fetch });
    expect(fetch.calls[2]?.init.headers.Accept).toBe('application/xrd+xml, text/xml');
    expect(dir.nodes.map((n) => [n.host, n.websocketUrl, n.boshUrl])).toEqual([
      ['t1.example.com', 'wss://t1.example.com/xmpp-websocket', 'https://t1.example.com/http-bind'],
      ['t2.example.com', 'wss://t2.example.com/ws?a=1&b=2', undefined],
    ]);
  });

  it('fails with every attempt explained', async () => {
    const fetch = fakeFetch({ 'https://example.com/.well-known/host-meta.json': { status: 500, body: '' } });
    const err = await discover('example.com', { fetch }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiscoveryError);
    expect((err as DiscoveryError).code).toBe('not-found');
    expect((err as DiscoveryError).attempts).toEqual([
      'https://example.com/.well-known/xmpp-web-nodes.json: HTTP 404',
      'https://example.com/.well-known/host-meta.json: HTTP 500',
      expect.stringContaining('https://example.com/.well-known/host-meta: HTTP 404'),
    ]);
  });

  it('fetches a given URL as is and recognises the document by content', async () => {
    const fetch = fakeFetch({ 'https://t2.example.com/.well-known/xmpp-web-nodes.json': { body: nodeList } });
    const dir = await discover('https://t2.example.com/.well-known/xmpp-web-nodes.json', { fetch });
    expect(dir.nodes).toHaveLength(3);
    const fetch2 = fakeFetch({ 'https://example.com/hm': { body: xrd } });
    expect((await discover('https://example.com/hm', { fetch: fetch2 })).nodes).toHaveLength(2);
  });

  it('refuses http: documents and drops ws:/http: endpoints unless insecure is allowed (XEP-0156 §2.2)', async () => {
    const plain = JSON.stringify({
      nodes: [
        { name: 'a', host: '127.0.0.1:5280', websocketUrl: 'ws://127.0.0.1:5280/xmpp-websocket', boshUrl: 'http://127.0.0.1:5280/http-bind' },
        { name: 'b', host: 'b', websocketUrl: 'wss://b/xmpp-websocket', boshUrl: 'http://b/http-bind' },
      ],
    });
    const url = 'http://127.0.0.1:5280/.well-known/xmpp-web-nodes.json';
    const fetch = fakeFetch({ [url]: { body: plain }, 'https://x.test/n.json': { body: plain } });
    await expect(discover(url, { fetch })).rejects.toMatchObject({ code: 'insecure' });
    expect(fetch.calls).toHaveLength(0);
    expect((await discover(url, { fetch, allowInsecure: true })).nodes).toHaveLength(2);
    expect((await discover('https://x.test/n.json', { fetch })).nodes).toEqual([{ name: 'b', host: 'b', websocketUrl: 'wss://b/xmpp-websocket', ready: true }]);
  });

  it('resolves relative URLs against the document', async () => {
    const fetch = fakeFetch({
      'https://example.com/.well-known/xmpp-web-nodes.json': {
        body: JSON.stringify({ nodes: [{ name: 'a', host: 'example.com', boshUrl: '/http-bind' }] }),
        url: 'https://www.example.com/.well-known/xmpp-web-nodes.json',
      },
    });
    expect((await discover('example.com', { fetch })).nodes[0]?.boshUrl).toBe('https://www.example.com/http-bind');
  });

  it('does not swallow an abort', async () => {
    const ac = new AbortController();
    ac.abort();
    const fetch = fakeFetch({ 'https://example.com/.well-known/xmpp-web-nodes.json': new DOMException('aborted', 'AbortError') });
    await expect(discover('example.com', { fetch, signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(fetch.calls).toHaveLength(1);
  });
});

describe('parseXrd', () => {
  it('reads Link elements in any quoting, with entities, prefixed or not', () => {
    expect(parseXrd(`<x:XRD xmlns:x='http://docs.oasis-open.org/ns/xri/xrd-1.0'><x:Link href="wss://a/&#x3f;q" rel='${WEBSOCKET_REL}'/></x:XRD>`)).toEqual([
      { rel: WEBSOCKET_REL, href: 'wss://a/?q' },
    ]);
  });

  it('refuses a document that is not an XRD', () => {
    expect(() => parseXrd('<html><Link rel="x" href="y"></html>')).toThrow(/not an XRD/);
  });

  it('linksToNodes ignores unparsable hrefs', () => {
    expect(linksToNodes([{ rel: WEBSOCKET_REL, href: 'wss://[bad' }])).toEqual([]);
  });
});
