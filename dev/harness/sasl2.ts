// SASL2 (XEP-0388) with Bind2 (XEP-0386) and FAST (XEP-0484) over a raw BOSH session, for the transport
// xmpp.js does not speak: one <authenticate/> in, one <success/> out, and the stream goes on without a
// restart (XEP-0388 §2.6: none follows SASL2). The FAST mechanism is HT-SHA-256-NONE (§3.3: no channel
// binding, which is all a client behind the gateway can use).
import { createHmac } from 'node:crypto';
import { escapeAttr, RawBoshSession } from './bosh-http.ts';
import { openRawWebSocket, type RawWebSocket } from './raw-websocket.ts';

export const SASL2_NS = 'urn:xmpp:sasl:2';
export const BIND2_NS = 'urn:xmpp:bind:0';
export const FAST_NS = 'urn:xmpp:fast:0';

export interface Sasl2Login {
  /** <authorization-identifier/> of the success: the full JID once Bind2 bound a resource. */
  jid: string;
  /** A FAST token handed out with the success, if one was asked for. */
  token: string | undefined;
  /** The <success/>, serialized. */
  success: string;
  /** The <authenticate/> sent. */
  authenticate: string;
}

export type Sasl2Credentials = { password: string } | { fastToken: string };

/** XEP-0484 §3.3 HT-SHA-256-NONE initial response: authcid NUL HMAC-SHA-256(token, "Initiator"). */
export function htSha256NoneResponse(user: string, token: string): string {
  const mac = createHmac('sha256', token).update('Initiator').digest();
  return Buffer.concat([Buffer.from(`${user}\0`, 'utf8'), mac]).toString('base64');
}

/** The <authenticate/> for a password (PLAIN, asking for a token) or a FAST token, with Bind2. */
export function authenticateElement(user: string, credentials: Sasl2Credentials, userAgentId: string, tag: string): string {
  const agent = `<user-agent id='${escapeAttr(userAgentId)}'><software>xwg test</software></user-agent>`;
  const bind = `<bind xmlns='${BIND2_NS}'><tag>${escapeAttr(tag)}</tag></bind>`;
  if ('password' in credentials) {
    const plain = Buffer.from(`\0${user}\0${credentials.password}`, 'utf8').toString('base64');
    return `<authenticate xmlns='${SASL2_NS}' mechanism='PLAIN'><initial-response>${plain}</initial-response>${agent}${bind}<request-token xmlns='${FAST_NS}' mechanism='HT-SHA-256-NONE'/></authenticate>`;
  }
  return `<authenticate xmlns='${SASL2_NS}' mechanism='HT-SHA-256-NONE'><initial-response>${htSha256NoneResponse(user, credentials.fastToken)}</initial-response>${agent}${bind}<fast xmlns='${FAST_NS}'/></authenticate>`;
}

export interface Sasl2Options {
  domain: string;
  user: string;
  credentials: Sasl2Credentials;
  userAgentId: string;
  /** Bind2 <tag/>: the resource is <tag>~<suffix>. */
  tag?: string;
}

const outcomeOf = (xml: string) => ({
  jid: /<authorization-identifier>([^<]*)</.exec(xml)?.[1] ?? '',
  token: /<token [^>]*token=['"]([^'"]+)['"]/.exec(xml)?.[1],
});

/**
 * Opens a raw RFC 7395 WebSocket at `url` and logs in with SASL2 + Bind2; rejects on <failure/>. The stream
 * header names the account (`from`), as FAST needs (the server offers it for a known user only).
 */
export async function wsSasl2Login(url: string, o: Sasl2Options): Promise<Sasl2Login & { raw: RawWebSocket }> {
  const raw = await openRawWebSocket(url);
  raw.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${escapeAttr(o.domain)}' from='${escapeAttr(`${o.user}@${o.domain}`)}' version='1.0'/>`);
  const features = await raw.waitFor(/<stream:features/);
  if (!features.includes(SASL2_NS)) throw new Error(`no SASL2 offered: ${features}`);
  const authenticate = authenticateElement(o.user, o.credentials, o.userAgentId, o.tag ?? 'ws');
  raw.send(authenticate);
  const outcome = await raw.waitFor(new RegExp(`^<(success|failure) xmlns=['"]${SASL2_NS}`));
  if (!outcome.startsWith('<success')) throw new Error(`SASL2 failed: ${outcome}`);
  return { ...outcomeOf(outcome), success: outcome, authenticate, raw };
}

/** Creates a BOSH session at `url` (naming the account in `from`) and logs in with SASL2 + Bind2; rejects on <failure/>. */
export async function boshSasl2Login(url: string, o: Sasl2Options): Promise<Sasl2Login & { session: RawBoshSession }> {
  const session = new RawBoshSession(url);
  await session.create({ to: o.domain, attrs: { from: `${o.user}@${o.domain}` } });
  const features = await session.take((e) => e.localName === 'features');
  if (features.getElementsByTagNameNS(SASL2_NS, 'authentication').length === 0) throw new Error(`no SASL2 offered: ${String(features)}`);
  const authenticate = authenticateElement(o.user, o.credentials, o.userAgentId, o.tag ?? 'bosh');
  await session.request([authenticate]);
  const outcome = await session.take((e) => e.namespaceURI === SASL2_NS && (e.localName === 'success' || e.localName === 'failure'));
  if (outcome.localName !== 'success') throw new Error(`SASL2 failed: ${String(outcome)}`);
  const jid = outcome.getElementsByTagNameNS(SASL2_NS, 'authorization-identifier').item(0)?.textContent ?? '';
  const token = outcome.getElementsByTagNameNS(FAST_NS, 'token').item(0)?.getAttribute('token') ?? undefined;
  return { session, jid, token, success: String(outcome), authenticate };
}
