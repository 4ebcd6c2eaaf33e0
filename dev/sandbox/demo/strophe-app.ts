// Strophe.js (browser build) with our client library, wired the way docs/client.md tells users to wire it.
// The sandbox's demo page and the browser tests drive it through `window.app` and read `window.app.state`.
import { $msg, $pres, Strophe } from 'strophe.js';
import { connect, seeOtherUri, type GatewayConnection } from '../../../src/client/index.ts';

type Connection = InstanceType<typeof Strophe.Connection>;

export interface ChooseOptions {
  domain: string;
  /** Domain or document URL to discover from; default `domain`. */
  discovery?: string;
  /** Accept ws:/http: nodes and documents: local development only (the sandbox). */
  allowInsecure?: boolean;
}

export interface LoginOptions extends ChooseOptions {
  jid: string;
  password: string;
}

/** One session that came up: authenticated and bound. */
export interface Session {
  n: number;
  node: string;
  transport: string;
  url: string;
  jid: string;
}

export interface Choice {
  node: string;
  transport: string;
  url: string;
  /** The node sessionStorage remembered before this choice, if any. */
  remembered: string | null;
  nodes: string[];
}

export interface AppState {
  events: string[];
  sessions: Session[];
  messages: Array<{ from: string; body: string; session: number }>;
  /** Redirects (see-other-uri) seen. */
  redirects: string[];
  status: string;
}

export interface StropheApp {
  state: AppState;
  choose(opts: ChooseOptions): Promise<Choice>;
  /** Connects (discovery, node choice, failover loop) and resolves with the first session. */
  login(opts: LoginOptions): Promise<Session>;
  /** Resolves with the session numbered `n` (1-based) once it is up. */
  waitSession(n: number, timeoutMs?: number): Promise<Session>;
  send(to: string, body: string): void;
  logout(): void;
}

declare global {
  interface Window {
    app: StropheApp;
  }
}

const STATUS_NAMES = Object.fromEntries(Object.entries(Strophe.Status).map(([k, v]) => [v, k])) as Record<number, string>;
const state: AppState = { events: [], sessions: [], messages: [], redirects: [], status: 'idle' };
let gw: GatewayConnection | undefined;
let conn: Connection | undefined;
let loggingOut = false;
const sessionWaiters: Array<() => void> = [];

function show(id: string, text: string): void {
  const el = document.getElementById(id);
  if (el) el.textContent = text;
}

function event(text: string): void {
  const line = `${new Date().toISOString().slice(11, 23)} ${text}`;
  state.events.push(line);
  const log = document.getElementById('log');
  if (log) log.textContent += `${line}\n`;
}

async function choose(opts: ChooseOptions): Promise<Choice> {
  const remembered = sessionStorage.getItem(`xmpp-web-gateway:${opts.domain.toLowerCase()}:node`);
  gw = await connect({
    domain: opts.domain,
    ...(opts.discovery !== undefined && { discovery: opts.discovery }),
    ...(opts.allowInsecure !== undefined && { allowInsecure: opts.allowInsecure }),
  });
  event(`chose ${gw.node.name} ${gw.transport} ${gw.url}`);
  show('node', gw.node.name);
  show('transport', gw.transport);
  return { node: gw.node.name, transport: gw.transport, url: gw.url, remembered, nodes: gw.directory.nodes.map((n) => n.name) };
}

function start(g: GatewayConnection, url: string, jid: string, password: string): void {
  const endpoint = g.failover.current;
  const node = endpoint?.node.name ?? '?';
  const transport = endpoint?.transport ?? '?';
  const c = new Strophe.Connection(url);
  conn = c;
  let ended = false;
  show('node', node);
  show('transport', transport);
  // Every server message passes here, so a draining node's see-other-uri is seen.
  c.rawInput = (data: string) => {
    const uri = seeOtherUri(data);
    if (uri === undefined) return;
    const target = g.failover.redirect(uri);
    state.redirects.push(uri);
    event(`see-other-uri ${uri} -> ${target ? target.node.name : 'refused'}`);
  };
  c.addHandler(
    (m: Element) => {
      const body = m.getElementsByTagName('body')[0]?.textContent ?? '';
      state.messages.push({ from: m.getAttribute('from') ?? '', body, session: state.sessions.length });
      return true;
    },
    null,
    'message',
    'chat',
  );
  event(`connecting to ${node} ${url}`);
  c.connect(jid, password, (status: number, condition?: string | null) => {
    state.status = STATUS_NAMES[status] ?? String(status);
    show('status', state.status);
    event(`${state.status}${condition ? ` (${condition})` : ''} @${node}`);
    if (status === Strophe.Status.CONNECTED) {
      g.failover.succeeded();
      c.send($pres());
      state.sessions.push({ n: state.sessions.length + 1, node, transport, url, jid: c.jid });
      for (const w of sessionWaiters.splice(0)) w();
    }
    if (status === Strophe.Status.DISCONNECTED && !ended && conn === c && !loggingOut) {
      ended = true;
      void g.failover.disconnected().then((next) => {
        if (next === undefined) {
          event('failover: no node left');
          return;
        }
        event(`failover: next ${next.node.name} ${next.transport} in ${next.delayMs} ms`);
        setTimeout(() => start(g, next.url, jid, password), next.delayMs);
      });
    }
  });
}

function waitSession(n: number, timeoutMs = 30_000): Promise<Session> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no session ${n} within ${timeoutMs} ms; events:\n${state.events.join('\n')}`)), timeoutMs);
    const check = () => {
      const s = state.sessions[n - 1];
      if (s === undefined) {
        sessionWaiters.push(check);
        return;
      }
      clearTimeout(timer);
      resolve(s);
    };
    check();
  });
}

window.app = {
  state,
  choose,
  async login(opts) {
    if (gw === undefined) await choose(opts);
    start(gw as GatewayConnection, (gw as GatewayConnection).url, opts.jid, opts.password);
    return waitSession(state.sessions.length + 1);
  },
  waitSession,
  send(to, body) {
    if (conn === undefined) throw new Error('not connected');
    conn.send($msg({ to, type: 'chat' }).c('body').t(body));
  },
  logout() {
    loggingOut = true;
    conn?.disconnect('logout');
  },
};
event('ready');
