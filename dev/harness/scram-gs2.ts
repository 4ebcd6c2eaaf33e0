// A SCRAM-SHA-1 client (RFC 5802) that chooses its GS2 channel-binding flag (§7): 'n' (cannot bind), as
// every web client sends, or 'y' (could bind, but the server offered no -PLUS), as a native client that
// supports channel binding sends when no -PLUS mechanism is offered, which is the case behind the gateway.
// No client library lets a test choose that flag, so the few lines of SCRAM are here, with the server's
// signature checked too. Logs in over a raw WebSocket or a raw BOSH session, so the test sees every element.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { BIND_NS, RawBoshSession, SASL_NS, XBOSH_NS } from './bosh-http.ts';
import type { RawStream } from './raw-c2s.ts';
import { OPEN, openRawWebSocket, type RawWebSocket } from './raw-websocket.ts';

export type Gs2Flag = 'n' | 'y';

const hmac = (key: Buffer, data: string) => createHmac('sha1', key).update(data).digest();

/** RFC 5802 §5.1 saslname: ',' and '=' escaped. */
const saslname = (s: string) => s.replace(/=/g, '=3D').replace(/,/g, '=2C');

/** The client side of one SCRAM-SHA-1 exchange with the given GS2 flag. */
export class ScramClient {
  readonly flag: Gs2Flag;
  private readonly username: string;
  private readonly password: string;
  private readonly nonce = randomBytes(18).toString('base64');
  private clientFirstBare = '';
  private serverSignature: Buffer | undefined;

  constructor(username: string, password: string, flag: Gs2Flag) {
    this.flag = flag;
    this.username = username;
    this.password = password;
  }

  private get gs2Header(): string {
    return `${this.flag},,`;
  }

  /** client-first-message (base64), §7. */
  first(): string {
    this.clientFirstBare = `n=${saslname(this.username)},r=${this.nonce}`;
    return Buffer.from(this.gs2Header + this.clientFirstBare).toString('base64');
  }

  /** client-final-message (base64) for the server-first-message (base64), §3. */
  final(serverFirstBase64: string): string {
    const serverFirst = Buffer.from(serverFirstBase64, 'base64').toString('utf8');
    const attrs = new Map(serverFirst.split(',').map((kv) => [kv.slice(0, 1), kv.slice(2)] as const));
    const nonce = attrs.get('r') ?? '';
    const salt = Buffer.from(attrs.get('s') ?? '', 'base64');
    const iterations = Number(attrs.get('i'));
    if (!nonce.startsWith(this.nonce) || salt.length === 0 || !(iterations > 0)) throw new Error(`bad server-first-message: ${serverFirst}`);
    const salted = pbkdf2Sync(this.password, salt, iterations, 20, 'sha1');
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha1').update(clientKey).digest();
    const withoutProof = `c=${Buffer.from(this.gs2Header).toString('base64')},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`).toString('base64');
  }

  /** Checks the server-final-message (base64, the <success/> text): v= must be the server's signature. */
  verify(serverFinalBase64: string): void {
    const v = /(?:^|,)v=([^,]*)/.exec(Buffer.from(serverFinalBase64, 'base64').toString('utf8'))?.[1];
    const got = Buffer.from(v ?? '', 'base64');
    if (!this.serverSignature || got.length !== this.serverSignature.length || !timingSafeEqual(got, this.serverSignature)) {
      throw new Error('the server signature does not verify');
    }
  }
}

export interface ScramLogin {
  /** Full JID bound after the login. */
  jid: string;
  /** The mechanisms the client was offered before authenticating. */
  offered: string[];
  /** What the server answered to the final message (<success/> or <failure/>), as received. */
  outcome: string;
}

const mechanismsOf = (features: string) => [...features.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]!);
const textOf = (xml: string) => />([^<]*)</.exec(xml)?.[1] ?? '';

/** SCRAM-SHA-1 with `flag`, restart and bind over a raw RFC 7395 WebSocket. Rejects on SASL failure. */
export async function scramLoginWebSocket(url: string, o: { domain: string; username: string; password: string; flag: Gs2Flag; resource?: string }): Promise<ScramLogin & { raw: RawWebSocket }> {
  const raw = await openRawWebSocket(url);
  raw.send(OPEN(o.domain));
  const features = await raw.waitFor(/<stream:features/);
  const offered = mechanismsOf(features);
  const scram = new ScramClient(o.username, o.password, o.flag);
  raw.send(`<auth xmlns='${SASL_NS}' mechanism='SCRAM-SHA-1'>${scram.first()}</auth>`);
  const challenge = await raw.waitFor(/<challenge |<failure /);
  if (!challenge.startsWith('<challenge')) throw Object.assign(new Error(`SASL refused the first message: ${challenge}`), { outcome: challenge, offered });
  raw.send(`<response xmlns='${SASL_NS}'>${scram.final(textOf(challenge))}</response>`);
  const outcome = await raw.waitFor(/<success |<failure /);
  if (!outcome.startsWith('<success')) throw Object.assign(new Error(`SASL failed: ${outcome}`), { outcome, offered });
  scram.verify(textOf(outcome));
  raw.send(OPEN(o.domain));
  await raw.waitFor(/<stream:features[\s\S]*urn:ietf:params:xml:ns:xmpp-bind/);
  raw.send(`<iq xmlns='jabber:client' type='set' id='gs2-bind'><bind xmlns='${BIND_NS}'><resource>${o.resource ?? 'gs2'}</resource></bind></iq>`);
  const bound = await raw.waitFor(/id=['"]gs2-bind['"]/);
  const jid = /<jid>([^<]+)<\/jid>/.exec(bound)?.[1];
  if (!jid) throw new Error(`bind failed: ${bound}`);
  return { jid, offered, outcome, raw };
}

/** The same over a raw BOSH session (XEP-0206). */
export async function scramLoginBosh(url: string, o: { domain: string; username: string; password: string; flag: Gs2Flag; resource?: string }): Promise<ScramLogin & { session: RawBoshSession }> {
  const session = new RawBoshSession(url);
  await session.create({ to: o.domain });
  const features = await session.take((e) => e.localName === 'features');
  const offered = [...features.getElementsByTagNameNS(SASL_NS, 'mechanism')].map((m) => m.textContent ?? '');
  const scram = new ScramClient(o.username, o.password, o.flag);
  await session.request([`<auth xmlns='${SASL_NS}' mechanism='SCRAM-SHA-1'>${scram.first()}</auth>`]);
  const challenge = await session.take((e) => e.namespaceURI === SASL_NS && (e.localName === 'challenge' || e.localName === 'failure'));
  if (challenge.localName !== 'challenge') throw Object.assign(new Error(`SASL refused the first message: ${String(challenge)}`), { outcome: String(challenge), offered });
  await session.request([`<response xmlns='${SASL_NS}'>${scram.final(challenge.textContent ?? '')}</response>`]);
  const outcome = await session.take((e) => e.namespaceURI === SASL_NS && (e.localName === 'success' || e.localName === 'failure'));
  if (outcome.localName !== 'success') throw Object.assign(new Error(`SASL failed: ${String(outcome)}`), { outcome: String(outcome), offered });
  scram.verify(outcome.textContent ?? '');
  await session.request([], { 'xmpp:restart': 'true', 'xmlns:xmpp': XBOSH_NS, to: o.domain, 'xml:lang': 'en' });
  await session.take((e) => e.localName === 'features');
  await session.request([`<iq xmlns='jabber:client' type='set' id='gs2-bind'><bind xmlns='${BIND_NS}'><resource>${o.resource ?? 'gs2'}</resource></bind></iq>`]);
  const iq = await session.take((e) => e.localName === 'iq' && e.getAttribute('id') === 'gs2-bind');
  const jid = iq.getElementsByTagNameNS(BIND_NS, 'jid').item(0)?.textContent;
  if (!jid) throw new Error(`bind failed: ${String(iq)}`);
  return { jid, offered, outcome: String(outcome), session };
}

/**
 * SCRAM-SHA-1 with `flag` on an open c2s stream (a server's own port), after its features: resolves with
 * 'success' or the failure condition, and the mechanisms offered.
 */
export async function scramAuthC2s(stream: RawStream, o: { domain: string; username: string; password: string; flag: Gs2Flag }): Promise<{ outcome: string; offered: string[] }> {
  stream.open(o.domain);
  const offered = mechanismsOf(await stream.until(/<\/stream:features>/));
  const scram = new ScramClient(o.username, o.password, o.flag);
  stream.send(`<auth xmlns='${SASL_NS}' mechanism='SCRAM-SHA-1'>${scram.first()}</auth>`);
  let reply = await stream.until(/<\/challenge>|<\/failure>|<failure[^>]*\/>/);
  if (reply.includes('challenge')) {
    stream.send(`<response xmlns='${SASL_NS}'>${scram.final(/<challenge[^>]*>([^<]*)</.exec(reply)?.[1] ?? '')}</response>`);
    reply = await stream.until(/<\/success>|<success[^>]*\/>|<\/failure>/);
  }
  if (reply.includes('<success')) return { outcome: 'success', offered };
  return { outcome: /<failure[^>]*>\s*<([a-z-]+)/.exec(reply)?.[1] ?? reply, offered };
}
