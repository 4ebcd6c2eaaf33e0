// Lightweight XMPP clients for the load generator: SASL PLAIN login, resource binding, then raw text in
// and out. Four transports, one login sequence:
//   ws         RFC 7395 (one element per WebSocket message): our gateway, Prosody's mod_websocket
//   ws-stream  the TCP stream framing inside WebSocket messages: the raw byte pipe
//   tcp        c2s over TCP: Prosody's c2s, the stub
//   bosh       XEP-0124/0206 long polling over keep-alive HTTP/1.1: our gateway, Prosody's mod_bosh
// No XML parser: the bench only needs to find its own messages and a few login markers in the text.
import http from 'node:http';
import net from 'node:net';
import WebSocket from 'ws';

export type Transport = 'ws' | 'ws-stream' | 'tcp' | 'bosh';

export interface Target {
  transport: Transport;
  /** ws(s):// or http:// URL for ws, ws-stream and bosh */
  url?: string;
  /** host and port for tcp */
  host?: string;
  port?: number;
  /** XMPP domain (the stream `to`) */
  domain: string;
}

export interface Account {
  user: string;
  password: string;
  resource: string;
}

export interface Link {
  write(text: string): void;
  /** Set by the owner: every piece of text received, in order. */
  onText: (text: string) => void;
  onClose: (reason: string) => void;
  close(): void;
}

const FRAMING_NS = 'urn:ietf:params:xml:ns:xmpp-framing';
const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl';
const BIND_NS = 'urn:ietf:params:xml:ns:xmpp-bind';

function streamHeader(domain: string): string {
  return `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;
}

/** Collects text during login and resolves waits on patterns, consuming up to the match. */
class Inbox {
  private text = '';
  private waiter: { re: RegExp; resolve: (m: RegExpExecArray) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  private failure: Error | undefined;

  push(text: string): void {
    this.text += text;
    this.check();
  }

  fail(error: Error): void {
    this.failure = error;
    if (this.waiter) {
      clearTimeout(this.waiter.timer);
      this.waiter.reject(error);
      this.waiter = undefined;
    }
  }

  waitFor(re: RegExp, what: string, timeoutMs = 30_000): Promise<RegExpExecArray> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`login: no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.text.slice(-500))}`));
      }, timeoutMs);
      this.waiter = { re, resolve, reject, timer };
      this.check();
    });
  }

  private check(): void {
    const w = this.waiter;
    if (!w) return;
    if (/<stream:error|type=['"]terminate['"]|<failure /.test(this.text)) {
      this.fail(new Error(`login failed: ${this.text.slice(-500)}`));
      return;
    }
    const m = w.re.exec(this.text);
    if (!m) return;
    this.text = this.text.slice(m.index + m[0].length);
    clearTimeout(w.timer);
    this.waiter = undefined;
    w.resolve(m);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Links

function wsLink(url: string, binaryOk: boolean): Promise<Link> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['xmpp'], { perMessageDeflate: false, handshakeTimeout: 30_000 });
    const link: Link = {
      write: (text) => ws.send(text),
      onText: () => {},
      onClose: () => {},
      close: () => ws.terminate(),
    };
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary && !binaryOk) return;
      link.onText(data.toString('utf8'));
    });
    ws.once('open', () => resolve(link));
    ws.once('error', reject);
    ws.on('close', (code) => link.onClose(`websocket closed ${code}`));
  });
}

function tcpLink(host: string, port: number): Promise<Link> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    socket.setEncoding('utf8');
    const link: Link = {
      write: (text) => socket.write(text),
      onText: () => {},
      onClose: () => {},
      close: () => socket.destroy(),
    };
    socket.on('data', (text: string) => link.onText(text));
    socket.once('connect', () => resolve(link));
    socket.once('error', reject);
    socket.on('close', () => link.onClose('tcp closed'));
  });
}

/**
 * XEP-0124 long polling with `hold` 1 (so `requests` 2): one request is always outstanding; queued
 * stanzas go out in a second request, which makes the server answer the held one.
 */
export class BoshLink implements Link {
  onText: (text: string) => void = () => {};
  onClose: (reason: string) => void = () => {};
  private readonly url: URL;
  private readonly agent: http.Agent;
  private rid = Math.floor(Math.random() * 1e9) + 1;
  private sid = '';
  private requests = 2;
  private outstanding = 0;
  private queue: string[] = [];
  private restartPending = false;
  private closed = false;
  private started = false;

  constructor(url: string, agent: http.Agent) {
    this.url = new URL(url);
    this.agent = agent;
  }

  async create(domain: string): Promise<void> {
    this.outstanding += 1;
    const body = await this.post(
      `<body content='text/xml; charset=utf-8' hold='1' rid='${this.rid}' to='${domain}' ver='1.6' wait='60' xml:lang='en' xmpp:version='1.0' xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'/>`,
    );
    this.outstanding -= 1;
    const sid = /\bsid=['"]([^'"]+)['"]/.exec(body);
    if (!sid) throw new Error(`BOSH session creation refused: ${body.slice(0, 300)}`);
    this.sid = sid[1]!;
    const requests = /\brequests=['"](\d+)['"]/.exec(body);
    if (requests) this.requests = Number(requests[1]);
    this.started = true;
    this.deliver(body);
    this.pump();
  }

  write(text: string): void {
    this.queue.push(text);
    this.pump();
  }

  restart(domain: string): void {
    this.restartPending = true;
    this.restartTo = domain;
    this.pump();
  }

  private restartTo = '';

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.sid !== '') {
      this.rid += 1;
      this.post(`<body rid='${this.rid}' sid='${this.sid}' type='terminate' xmlns='http://jabber.org/protocol/httpbind'/>`).catch(() => {});
    }
  }

  private pollScheduled = false;

  private pump(): void {
    // An empty poll waits one turn of the event loop, so stanzas queued meanwhile ride on it instead (as
    // Strophe batches): two requests sent back to back on two connections may arrive out of order.
    if (!this.closed && this.started && this.outstanding === 0 && this.queue.length === 0 && !this.restartPending) {
      if (!this.pollScheduled) {
        this.pollScheduled = true;
        setImmediate(() => {
          this.pollScheduled = false;
          if (this.outstanding === 0) this.send();
          else this.pump();
        });
      }
      return;
    }
    while (!this.closed && this.started && this.outstanding < this.requests && (this.queue.length > 0 || this.restartPending)) this.send();
  }

  private send(): void {
    if (this.closed) return;
    {
      this.rid += 1;
      let body: string;
      if (this.restartPending) {
        this.restartPending = false;
        body = `<body rid='${this.rid}' sid='${this.sid}' to='${this.restartTo}' xml:lang='en' xmpp:restart='true' xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'/>`;
      } else if (this.queue.length > 0) {
        body = `<body rid='${this.rid}' sid='${this.sid}' xmlns='http://jabber.org/protocol/httpbind'>${this.queue.join('')}</body>`;
        this.queue = [];
      } else {
        body = `<body rid='${this.rid}' sid='${this.sid}' xmlns='http://jabber.org/protocol/httpbind'/>`;
      }
      this.outstanding += 1;
      this.post(body).then(
        (text) => {
          this.outstanding -= 1;
          this.deliver(text);
          this.pump();
        },
        (err: Error) => {
          this.outstanding -= 1;
          if (!this.closed) {
            this.closed = true;
            this.onClose(`BOSH request failed: ${err.message}`);
          }
        },
      );
    }
  }

  private deliver(body: string): void {
    if (/type=['"]terminate['"]/.test(body)) {
      this.onText(body);
      if (!this.closed) {
        this.closed = true;
        this.onClose(`BOSH terminate: ${body.slice(0, 200)}`);
      }
      return;
    }
    const gt = body.indexOf('>', body.indexOf('<body'));
    if (gt < 0 || body.charCodeAt(gt - 1) === 47) return;
    const end = body.lastIndexOf('</body>');
    if (end > gt) this.onText(body.slice(gt + 1, end));
  }

  private post(body: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        agent: this.agent,
        method: 'POST',
        host: this.url.hostname,
        port: this.url.port,
        path: this.url.pathname,
        headers: { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(body) },
      });
      req.setTimeout(120_000, () => req.destroy(new Error('BOSH request timed out')));
      req.on('error', reject);
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`))));
        res.on('error', reject);
      });
      req.end(body);
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Login

export interface Session {
  jid: string;
  link: Link;
}

/** Opens a link, authenticates with SASL PLAIN and binds `account.resource`. */
export async function login(target: Target, account: Account, agent?: http.Agent): Promise<Session> {
  const inbox = new Inbox();
  const { domain } = target;
  let link: Link;
  let bosh: BoshLink | undefined;
  const rfc7395 = target.transport === 'ws';
  const open = rfc7395 ? `<open xmlns='${FRAMING_NS}' to='${domain}' version='1.0'/>` : streamHeader(domain);
  switch (target.transport) {
    case 'ws':
    case 'ws-stream':
      link = await wsLink(target.url!, target.transport === 'ws-stream');
      break;
    case 'tcp':
      link = await tcpLink(target.host ?? '127.0.0.1', target.port!);
      break;
    case 'bosh':
      bosh = new BoshLink(target.url!, agent ?? new http.Agent({ keepAlive: true }));
      link = bosh;
      break;
  }
  link.onText = (text) => inbox.push(text);
  link.onClose = (reason) => inbox.fail(new Error(reason));
  if (bosh) await bosh.create(domain);
  else link.write(open);
  await inbox.waitFor(/<\/stream:features>/, 'stream features');
  const plain = Buffer.from(`\0${account.user}\0${account.password}`).toString('base64');
  link.write(`<auth xmlns='${SASL_NS}' mechanism='PLAIN'>${plain}</auth>`);
  await inbox.waitFor(/<success[^>]*>/, 'SASL success');
  if (bosh) bosh.restart(domain);
  else link.write(open);
  await inbox.waitFor(/<\/stream:features>/, 'stream features after SASL');
  link.write(`<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='${BIND_NS}'><resource>${account.resource}</resource></bind></iq>`);
  const jid = await inbox.waitFor(/<jid>([^<]+)<\/jid>/, 'bind result');
  return { jid: jid[1]!, link };
}

// ---------------------------------------------------------------------------------------------------------
// Messages

/**
 * Finds complete <message> elements in a text stream (chunks may split them anywhere) and reports the
 * value of each one's id attribute.
 */
export class MessageScanner {
  private carry = '';
  private readonly onId: (id: string) => void;

  constructor(onId: (id: string) => void) {
    this.onId = onId;
  }

  push(text: string): void {
    const s = this.carry.length === 0 ? text : this.carry + text;
    let from = 0;
    for (;;) {
      const end = s.indexOf('</message>', from);
      if (end < 0) break;
      const start = s.lastIndexOf('<message', end);
      const tagEnd = s.indexOf('>', start);
      let i = s.indexOf(" id='", start);
      if (i < 0 || i > tagEnd) i = s.indexOf(' id="', start);
      if (start >= from && i >= 0 && i < tagEnd) {
        const q = s[i + 4]!;
        this.onId(s.slice(i + 5, s.indexOf(q, i + 5)));
      }
      from = end + 10;
    }
    const open = s.indexOf('<message', from);
    this.carry = open >= 0 ? s.slice(open) : s.slice(Math.max(from, s.length - 9));
  }
}

/** A chat message of about `bytes` bytes (as the client sends it) whose id carries `id`. */
export function chatMessage(to: string, id: string, bytes: number): string {
  const head = `<message xmlns='jabber:client' to='${to}' id='${id}' type='chat'><body>`;
  const tail = '</body></message>';
  return head + 'x'.repeat(Math.max(1, bytes - head.length - tail.length)) + tail;
}
