// A real third-party BOSH client for the tests: Strophe.js on Node (its Node entry installs xmldom's DOM and
// `ws`), with a Node XMLHttpRequest (./xhr.ts) since Node has none and Strophe's BOSH transport needs one.
import { $msg, $pres, Strophe } from 'strophe.js';
import { installXMLHttpRequest, type XhrExchange, type XhrOptions } from './xhr.ts';

type Connection = InstanceType<typeof Strophe.Connection>;

export const Status = Strophe.Status;

// Strophe logs at DEBUG to the console by default.
Strophe.setLogLevel(process.env.XWG_TEST_STROPHE_LOG === 'debug' ? Strophe.LogLevel.DEBUG : Strophe.LogLevel.FATAL);

export interface StropheStatus {
  status: number;
  name: string;
  condition: string | null;
}

export interface StropheClient {
  conn: Connection;
  /** The full JID bound by the server. */
  jid: string;
  /** Raw request bodies as Strophe sent them, in order (Connection.rawOutput). */
  rawOut: string[];
  /** Raw response bodies as Strophe read them (Connection.rawInput). */
  rawIn: string[];
  /** Every connection status change, in order. */
  statuses: StropheStatus[];
  /** Stanzas received (children of response bodies handled by Strophe), in order. */
  received: Element[];
  /** Resolves with (and removes) the next received stanza matching `predicate`. */
  next(predicate: (e: Element) => boolean, timeoutMs?: number): Promise<Element>;
  send(stanza: Element | { tree(): Element }): void;
  sendMessage(to: string, body: string): void;
  sendPresence(attrs?: Record<string, string>): void;
  /** Strophe's disconnect(): an unavailable presence in a type='terminate' request; resolves once DISCONNECTED. */
  disconnect(timeoutMs?: number): Promise<StropheStatus[]>;
  /** Drops everything without telling the server (abort requests, no terminate). */
  kill(): void;
}

export interface StropheOptions {
  /** BOSH URL (http://host:port/http-bind). */
  service: string;
  /** Bare or full JID; the resource, if any, is asked for at bind. */
  jid: string;
  password: string;
  /** BOSH wait asked for (Strophe's default 60). */
  wait?: number;
  hold?: number;
  /** Time allowed to reach CONNECTED. */
  timeoutMs?: number;
  /** SASL mechanisms Strophe may use (default: all it has, best first). */
  mechanisms?: ReadonlyArray<keyof typeof MECHANISMS>;
}

const MECHANISMS = {
  PLAIN: Strophe.SASLPlain,
  'SCRAM-SHA-1': Strophe.SASLSHA1,
  'SCRAM-SHA-256': Strophe.SASLSHA256,
  'SCRAM-SHA-512': Strophe.SASLSHA512,
} as const;

const STATUS_NAMES = Object.fromEntries(Object.entries(Strophe.Status).map(([k, v]) => [v, k])) as Record<number, string>;

let xhrInstalled: { restore: () => void; exchanges: XhrExchange[] } | undefined;

/**
 * Installs the Node XMLHttpRequest global Strophe uses (once; later calls return the same log). Every completed
 * exchange is appended to the returned list.
 */
export function useNodeXhr(options: Omit<XhrOptions, 'observe'> = {}): { exchanges: XhrExchange[]; restore(): void } {
  if (xhrInstalled === undefined) {
    const exchanges: XhrExchange[] = [];
    const restore = installXMLHttpRequest({ ...options, observe: (e) => exchanges.push(e) });
    xhrInstalled = {
      exchanges,
      restore: () => {
        restore();
        xhrInstalled = undefined;
      },
    };
  }
  return { exchanges: xhrInstalled.exchanges, restore: xhrInstalled.restore };
}

/** Logs in with Strophe over BOSH (SASL, stream restart, bind) and resolves once CONNECTED. */
export async function connectStrophe(options: StropheOptions): Promise<StropheClient> {
  useNodeXhr();
  const conn = new Strophe.Connection(options.service, options.mechanisms ? { mechanisms: options.mechanisms.map((m) => MECHANISMS[m]) } : {});
  const rawOut: string[] = [];
  const rawIn: string[] = [];
  const statuses: StropheStatus[] = [];
  const received: Element[] = [];
  const waiters: Array<{ predicate: (e: Element) => boolean; resolve: (e: Element) => void }> = [];
  const statusWaiters: Array<{ want: number[]; resolve: () => void }> = [];
  conn.rawOutput = (data: string) => void rawOut.push(data);
  conn.rawInput = (data: string) => void rawIn.push(data);

  const take = (e: Element): boolean => {
    for (const w of waiters) {
      if (w.predicate(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
        return true;
      }
    }
    return false;
  };

  const timeoutMs = options.timeoutMs ?? 20_000;
  const connected = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`strophe: not connected within ${timeoutMs} ms; statuses ${describe(statuses)}`)), timeoutMs);
    conn.connect(
      options.jid,
      options.password,
      (status: number, condition: string | null) => {
        statuses.push({ status, name: STATUS_NAMES[status] ?? String(status), condition: condition ?? null });
        for (const w of [...statusWaiters]) {
          if (w.want.includes(status)) {
            statusWaiters.splice(statusWaiters.indexOf(w), 1);
            w.resolve();
          }
        }
        if (status === Strophe.Status.CONNECTED) {
          clearTimeout(timer);
          resolve();
        } else if (
          status === Strophe.Status.CONNFAIL ||
          status === Strophe.Status.AUTHFAIL ||
          status === Strophe.Status.DISCONNECTED ||
          status === Strophe.Status.ERROR
        ) {
          clearTimeout(timer);
          reject(new Error(`strophe: ${STATUS_NAMES[status]} ${condition ?? ''}; statuses ${describe(statuses)}`));
        }
      },
      options.wait,
      options.hold,
    );
  });
  conn.addHandler(
    (stanza: Element) => {
      if (!take(stanza)) received.push(stanza);
      return true;
    },
    null,
    null,
  );
  try {
    await connected;
  } catch (err) {
    conn.reset();
    throw err;
  }

  const client: StropheClient = {
    conn,
    jid: conn.jid,
    rawOut,
    rawIn,
    statuses,
    received,
    next(predicate, ms = 10_000) {
      const found = received.find(predicate);
      if (found) {
        received.splice(received.indexOf(found), 1);
        return Promise.resolve(found);
      }
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (e: Element) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`${conn.jid}: no matching stanza within ${ms} ms`));
        }, ms);
        waiters.push(waiter);
      });
    },
    send(stanza) {
      conn.send(stanza as Element);
    },
    sendMessage(to, body) {
      conn.send($msg({ to, type: 'chat' }).c('body').t(body).tree());
    },
    sendPresence(attrs = {}) {
      conn.send($pres(attrs).tree());
    },
    disconnect(ms = 10_000) {
      if (statuses.at(-1)?.status === Strophe.Status.DISCONNECTED) return Promise.resolve(statuses);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`strophe: not disconnected within ${ms} ms; statuses ${describe(statuses)}`)), ms);
        statusWaiters.push({
          want: [Strophe.Status.DISCONNECTED],
          resolve: () => {
            clearTimeout(timer);
            resolve(statuses);
          },
        });
        conn.disconnect('test done');
      });
    },
    kill() {
      conn._proto._abortAllRequests();
      conn.reset();
    },
  };
  return client;
}

function describe(statuses: readonly StropheStatus[]): string {
  return statuses.map((s) => (s.condition ? `${s.name}(${s.condition})` : s.name)).join(' → ') || '(none)';
}
