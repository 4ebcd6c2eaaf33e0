// The practical ceiling for a WebSocket-to-XMPP gateway in Node: a byte pipe between a WebSocket (the same
// `ws` library and settings as the gateway) and a TCP connection to the upstream, with no XML work at all.
// Clients speak the TCP stream framing (<stream:stream>) inside WebSocket messages; whatever the upstream
// sends goes back as binary messages, chunk by chunk. Loopback only, bounded lifetime.
//
// As a program: node dev/bench/raw-pipe.ts --upstream-ports P1,P2 [--max-seconds S]
// prints one line `PIPE {"port":…,"pid":…}` once listening.
import http from 'node:http';
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { WebSocketServer } from 'ws';

export interface RawPipe {
  port: number;
  close(): Promise<void>;
}

export async function startRawPipe(options: { upstreamPorts: number[]; upstreamHost?: string }): Promise<RawPipe> {
  const upstreamHost = options.upstreamHost ?? '127.0.0.1';
  let next = 0;
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: false,
    clientTracking: false,
    maxPayload: 1 << 20,
    handleProtocols: (protocols) => (protocols.has('xmpp') ? 'xmpp' : false),
  });
  wss.on('connection', (ws) => {
    const port = options.upstreamPorts[next++ % options.upstreamPorts.length]!;
    const tcp = net.connect({ host: upstreamHost, port, noDelay: true });
    ws.on('message', (data: Buffer) => tcp.write(data));
    tcp.on('data', (chunk) => ws.send(chunk));
    ws.on('close', () => tcp.destroy());
    ws.on('error', () => tcp.destroy());
    tcp.on('close', () => ws.terminate());
    tcp.on('error', () => ws.terminate());
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const ports = (arg('--upstream-ports') ?? '').split(',').filter(Boolean).map(Number);
  if (ports.length === 0) throw new Error('--upstream-ports is required');
  const pipe = await startRawPipe({ upstreamPorts: ports });
  console.log(`PIPE ${JSON.stringify({ port: pipe.port, pid: process.pid })}`);
  setTimeout(() => process.exit(0), Number(arg('--max-seconds') ?? 1800) * 1000).unref();
  const stop = () => void pipe.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
