// A minimal, fast XMPP c2s server for the bench, so that the gateway (not the XMPP server) is the
// bottleneck: it accepts plain TCP, answers the stream header with features, accepts SASL PLAIN
// blindly, binds the resource asked for, answers other IQs with an empty result, and routes
// <message to='…'/> between its connected sessions (full JID, or the first session of a bare JID).
//
// It only understands what the bench's own clients send (no '>' inside attribute values, no CDATA,
// no comments): it is a load target, not an XMPP server. Loopback only, bounded lifetime.
//
// `proxyPorts` more ports expect a PROXY protocol header (v1 or v2) first, as a server behind a gateway with
// upstream proxyProtocol does.
//
// As a program: node dev/bench/xmpp-stub.ts [--ports N] [--proxy-ports N] [--max-seconds S]
// prints one line `STUB {"ports":[…],"proxyPorts":[…],"pid":…}` once listening.
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { acceptWithProxyProtocol } from '../../src/gateway/server/proxy-protocol.ts';

const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl';
const BIND_NS = 'urn:ietf:params:xml:ns:xmpp-bind';
const FEATURES_AUTH = `<stream:features><mechanisms xmlns='${SASL_NS}'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`;
const FEATURES_BIND = `<stream:features><bind xmlns='${BIND_NS}'/></stream:features>`;

interface Conn {
  socket: net.Socket;
  buf: string;
  pos: number;
  depth: number;
  elStart: number;
  domain: string;
  user: string;
  jid: string;
  authed: boolean;
  corked: boolean;
}

export interface XmppStub {
  ports: number[];
  /** Ports that read a PROXY header before the stream. */
  proxyPorts: number[];
  /** Connected sockets right now. */
  readonly connections: number;
  close(): Promise<void>;
}

let streamIds = 0;

function attr(el: string, name: string, end: number): string | undefined {
  // The attribute in the start tag only (up to `end`), quoted either way.
  let i = el.indexOf(` ${name}=`);
  if (i < 0 || i > end) return undefined;
  i += name.length + 2;
  const q = el[i];
  const close = el.indexOf(q!, i + 1);
  return close < 0 ? undefined : el.slice(i + 1, close);
}

export async function startXmppStub(options: { ports?: number; proxyPorts?: number; host?: string } = {}): Promise<XmppStub> {
  const host = options.host ?? '127.0.0.1';
  const full = new Map<string, Conn>();
  const bare = new Map<string, Conn>();
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();

  const uncork = (c: Conn) => {
    c.corked = false;
    c.socket.uncork();
  };
  const write = (c: Conn, data: string) => {
    if (c.socket.destroyed) return;
    if (!c.corked) {
      c.corked = true;
      c.socket.cork();
      process.nextTick(uncork, c);
    }
    c.socket.write(data);
  };

  const header = (c: Conn, el: string) => {
    c.domain = attr(el, 'to', el.length) ?? 'localhost';
    streamIds += 1;
    write(
      c,
      `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s${streamIds}' from='${c.domain}' version='1.0'>` +
        (c.authed ? FEATURES_BIND : FEATURES_AUTH),
    );
  };

  const element = (c: Conn, el: string) => {
    const tagEnd = el.indexOf('>');
    if (el.startsWith('<message')) {
      const to = attr(el, 'to', tagEnd);
      if (to === undefined) return;
      const target = full.get(to) ?? bare.get(to);
      if (target === undefined) return;
      write(target, `<message from='${c.jid}'${el.slice(8)}`);
      return;
    }
    if (el.startsWith('<iq')) {
      const id = attr(el, 'id', tagEnd) ?? '';
      if (el.includes(BIND_NS)) {
        const r = /<resource>([^<]*)<\/resource>/.exec(el);
        const resource = r?.[1] || `r${streamIds}`;
        c.jid = `${c.user}@${c.domain}/${resource}`;
        full.set(c.jid, c);
        const b = `${c.user}@${c.domain}`;
        if (!bare.has(b)) bare.set(b, c);
        write(c, `<iq type='result' id='${id}'><bind xmlns='${BIND_NS}'><jid>${c.jid}</jid></bind></iq>`);
        return;
      }
      const type = attr(el, 'type', tagEnd);
      if (type === 'get' || type === 'set') write(c, `<iq type='result' id='${id}' from='${c.domain}'/>`);
      return;
    }
    if (el.startsWith('<auth')) {
      const b64 = el.slice(tagEnd + 1, el.lastIndexOf('</auth>'));
      const parts = Buffer.from(b64, 'base64').toString('utf8').split('\0');
      c.user = (parts[1] || 'anonymous').toLowerCase();
      c.authed = true;
      // RFC 6120 §6.4.6: the client restarts the stream; its new header comes at depth 0.
      c.depth = 0;
      write(c, `<success xmlns='${SASL_NS}'/>`);
    }
    // presence and anything else: accepted and ignored
  };

  const onData = (c: Conn, chunk: string) => {
    let s = c.buf.length === 0 ? chunk : c.buf + chunk;
    let pos = c.pos;
    for (;;) {
      const lt = s.indexOf('<', pos);
      if (lt < 0) {
        pos = s.length;
        break;
      }
      const gt = s.indexOf('>', lt);
      if (gt < 0) {
        pos = lt;
        break;
      }
      const next = s.charCodeAt(lt + 1);
      pos = gt + 1;
      if (next === 63 /* ? */) continue;
      if (next === 47 /* / */) {
        c.depth -= 1;
        if (c.depth === 1) element(c, s.slice(c.elStart, gt + 1));
        else if (c.depth === 0) {
          write(c, '</stream:stream>');
          c.socket.end();
          return;
        }
        continue;
      }
      const selfClosing = s.charCodeAt(gt - 1) === 47;
      if (c.depth === 0) {
        c.depth = 1;
        header(c, s.slice(lt, gt + 1));
      } else if (c.depth === 1) {
        c.elStart = lt;
        if (selfClosing) element(c, s.slice(lt, gt + 1));
        else c.depth = 2;
      } else if (!selfClosing) c.depth += 1;
    }
    // Keep only what is still needed: the element in progress, or the incomplete tag.
    const keepFrom = c.depth > 1 ? c.elStart : pos;
    c.buf = keepFrom >= s.length ? '' : s.slice(keepFrom);
    c.pos = pos - keepFrom;
    c.elStart -= keepFrom;
    s = '';
  };

  const onConnection = (socket: net.Socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    const c: Conn = { socket, buf: '', pos: 0, depth: 0, elStart: 0, domain: '', user: '', jid: '', authed: false, corked: false };
    socket.on('data', (chunk: string) => onData(c, chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      sockets.delete(socket);
      if (c.jid !== '') {
        if (full.get(c.jid) === c) full.delete(c.jid);
        const b = c.jid.slice(0, c.jid.indexOf('/'));
        if (bare.get(b) === c) {
          bare.delete(b);
          for (const [j, other] of full) {
            if (j.startsWith(`${b}/`)) {
              bare.set(b, other);
              break;
            }
          }
        }
      }
    });
  };

  const count = options.ports ?? 1;
  const proxied = options.proxyPorts ?? 0;
  const afterProxyHeader = (socket: net.Socket) => {
    socket.on('error', () => {});
    acceptWithProxyProtocol(socket, 10_000).then(() => onConnection(socket), () => socket.destroy());
  };
  for (let i = 0; i < count + proxied; i++) {
    const server = net.createServer({ noDelay: true }, i < count ? onConnection : afterProxyHeader);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: 0, host, backlog: 4096 }, () => resolve());
    });
    servers.push(server);
  }
  const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;
  return {
    ports: servers.slice(0, count).map(portOf),
    proxyPorts: servers.slice(count).map(portOf),
    get connections() {
      return sockets.size;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

function argValue(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const maxSeconds = argValue('--max-seconds', 1800);
  const stub = await startXmppStub({ ports: argValue('--ports', 1), proxyPorts: argValue('--proxy-ports', 0) });
  console.log(`STUB ${JSON.stringify({ ports: stub.ports, proxyPorts: stub.proxyPorts, pid: process.pid })}`);
  setTimeout(() => process.exit(0), maxSeconds * 1000).unref();
  setInterval(() => {}, 1 << 30);
  const stop = () => void stub.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
