// The drain of a whole gateway (gateway.ts): what reaches a draining node on a connection it already had.
import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { startTestGateway } from '../../../dev/harness/gateway.ts';

const BODY = "<body xmlns='http://jabber.org/protocol/httpbind' rid='1' sid='unknown' ver='1.11'/>";
const POST = `POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;

describe('gateway drain', () => {
  it('answers a BOSH request arriving on a kept-alive connection during the drain with see-other-uri, then closes it', async () => {
    const gateway = await startTestGateway({
      nodeName: 'a',
      upstream: { default: { host: '127.0.0.1', port: 9, tls: 'none' } },
      discovery: { nodes: [{ name: 'b', host: 'b.example', boshUrl: 'https://b.example/http-bind', ready: true }] },
      drain: { deadlineMs: 5_000 },
    });
    try {
      const c = net.connect({ port: gateway.ports.http, host: '127.0.0.1' });
      await once(c, 'connect');
      let data = '';
      c.on('data', (d: Buffer) => (data += d.toString('utf8')));
      c.on('error', () => {});
      const closed = once(c, 'close');
      c.write(POST);
      await vi.waitFor(() => expect(data).toContain("condition='item-not-found'"));
      // The drain begins while the connection is idle; the client's next request is already on its way.
      const drained = gateway.drain();
      c.write(POST);
      await vi.waitFor(() => expect(data).toContain("condition='see-other-uri'"));
      expect(data).toContain('<uri>https://b.example/http-bind</uri>');
      expect(data.split('HTTP/1.1 ').at(-1)).toMatch(/^200 [\s\S]*\r\nConnection: close\r\n/i);
      await closed;
      await drained;
    } finally {
      await gateway.close();
    }
  });
});
