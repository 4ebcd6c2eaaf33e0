// A real third-party client for the tests: xmpp.js (@xmpp/client) over the gateway's WebSocket.
import { client, xml, type Element, type XmppClient } from '@xmpp/client';

export interface OnlineClient {
  xmpp: XmppClient;
  jid: string;
  /** Stanzas received, in order. */
  received: Element[];
  /** Every element xmpp.js wrote (nonzas included: <auth/>, <authenticate/>, <enable/>…), in order. */
  sent: Element[];
  /** Resolves with the next received stanza matching `predicate`. */
  next(predicate: (e: Element) => boolean, timeoutMs?: number): Promise<Element>;
  sendMessage(to: string, body: string): Promise<void>;
  stop(): Promise<void>;
}

export interface XmppJsOptions {
  service: string;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  /** SASL mechanism to use instead of xmpp.js's own choice (e.g. "PLAIN"). */
  mechanism?: string;
  /** XEP-0388 user-agent id (FAST tokens are bound to it); default: a new random one. */
  userAgentId?: string;
  /** A FAST token (XEP-0484) to try first, as xmpp.js stored it. */
  fastToken?: FastToken;
  /** Called with each FAST token the server hands out. */
  onFastToken?: (token: FastToken) => void;
}

/** What xmpp.js stores of a FAST token. */
export interface FastToken {
  mechanism: string;
  token: string;
  expiry: string;
}

export async function connectXmppJs(options: XmppJsOptions): Promise<OnlineClient> {
  const { mechanism, userAgentId, fastToken, onFastToken, ...rest } = options;
  const credentials =
    mechanism === undefined
      ? undefined
      : (authenticate: (c: object, m: string) => Promise<void>, mechanisms: string[]) => {
          if (!mechanisms.includes(mechanism)) throw new Error(`${mechanism} not offered (offered: ${mechanisms.join(' ')})`);
          return authenticate({ username: options.username, password: options.password }, mechanism);
        };
  const xmpp = client({
    ...rest,
    resource: options.resource ?? 'test',
    ...(credentials ? { credentials } : {}),
    ...(userAgentId ? { userAgent: xml('user-agent', { id: userAgentId }) } : {}),
  });
  xmpp.reconnect.stop();
  let token = fastToken;
  xmpp.fast.fetchToken = async () => token;
  xmpp.fast.saveToken = async (t: FastToken) => {
    token = t;
    onFastToken?.(t);
  };
  xmpp.fast.deleteToken = async () => {
    token = undefined;
  };
  const received: Element[] = [];
  const sent: Element[] = [];
  xmpp.on('send', (element: Element) => void sent.push(element));
  const waiters: Array<{ predicate: (e: Element) => boolean; resolve: (e: Element) => void }> = [];
  xmpp.on('error', () => {});
  xmpp.on('stanza', (stanza: Element) => {
    received.push(stanza);
    for (const w of [...waiters]) {
      if (w.predicate(stanza)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(stanza);
      }
    }
  });
  const online = new Promise<string>((resolve, reject) => {
    xmpp.once('online', (address: { toString(): string }) => resolve(address.toString()));
    xmpp.once('error', reject);
  });
  online.catch(() => {}); // a failed start rejects both; the start's error is the one thrown
  let jid: string;
  try {
    await xmpp.start();
    jid = await online;
  } catch (err) {
    await xmpp.stop().catch(() => {});
    throw err;
  }
  return {
    xmpp,
    jid,
    received,
    sent,
    next(predicate, timeoutMs = 10_000) {
      const found = received.find(predicate);
      if (found) {
        received.splice(received.indexOf(found), 1);
        return Promise.resolve(found);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${jid}: no matching stanza within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          predicate,
          resolve: (e) => {
            clearTimeout(timer);
            received.splice(received.indexOf(e), 1);
            resolve(e);
          },
        });
      });
    },
    sendMessage(to, body) {
      return xmpp.send(xml('message', { to, type: 'chat' }, xml('body', {}, body)));
    },
    async stop() {
      await xmpp.stop().catch(() => {});
    },
  };
}

export { xml };
