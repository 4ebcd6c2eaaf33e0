// Hostile inputs over the wire, for the hostile-input suite (test/integration/reliability/scenarios/hostile.ts)
// and the bench's memory-after-attack measurement (bench/gateway/hostile.ts): XML bombs, DOCTYPEs and external
// entities, deep nesting, unclosed tags, huge attributes and messages, invalid UTF-8, unpaired surrogates, NUL,
// over WebSocket and over BOSH, each with the answer owed.
import { httpRequest, parseBody } from './bosh-http.ts';
import { OPEN, openRawWebSocket } from './raw-websocket.ts';
import { sleep } from './wait.ts';

/** The XMPP domain the attacks name (the test fleet's and the bench stub's). */
export const DOMAIN = 'example.com';
export const M = `<message xmlns='jabber:client' to='victim@${DOMAIN}'>`;
export const BILLION_LAUGHS =
  `<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol "lol">` +
  Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`).join('') +
  `]>`;
export const XXE = `<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`;

export type WsOutcome = { streamError: string } | { closeCode: number };

export interface WsAttack {
  name: string;
  /** Sent before <open/> (default: after the stream is open). */
  preOpen?: boolean;
  payload: string | Buffer;
  /** Send as a binary frame. */
  binary?: boolean;
  expected: WsOutcome;
}

export const wsAttacks: WsAttack[] = [
  { name: 'billion laughs', payload: `${BILLION_LAUGHS}${M}<body>&lol9;</body></message>`, expected: { streamError: 'restricted-xml' } },
  {
    name: 'billion laughs before <open/>',
    preOpen: true,
    payload: `${BILLION_LAUGHS}<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${DOMAIN}'/>`,
    expected: { streamError: 'restricted-xml' },
  },
  { name: 'external entity (XXE)', payload: `${XXE}${M}<body>&xxe;</body></message>`, expected: { streamError: 'restricted-xml' } },
  { name: 'DOCTYPE', payload: `<!DOCTYPE message>${M}</message>`, expected: { streamError: 'restricted-xml' } },
  { name: 'undeclared entity', payload: `${M}<body>&lol9;</body></message>`, expected: { streamError: 'not-well-formed' } },
  {
    name: '10,000-deep nesting',
    payload: `${M}${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}</message>`,
    expected: { streamError: 'policy-violation' },
  },
  { name: '1,000 unclosed tags', payload: `${M}${'<a>'.repeat(1_000)}`, expected: { streamError: 'policy-violation' } },
  { name: '50 unclosed tags (within the depth limit)', payload: `${M}${'<a>'.repeat(50)}`, expected: { streamError: 'not-well-formed' } },
  {
    name: 'huge attribute (300 KB)',
    payload: `<message xmlns='jabber:client' a='${'x'.repeat(300_000)}'/>`,
    expected: { streamError: 'policy-violation' },
  },
  {
    name: '10,000 attributes',
    payload: `<message xmlns='jabber:client' ${Array.from({ length: 10_000 }, (_, i) => `a${i}='1'`).join(' ')}/>`,
    expected: { streamError: 'policy-violation' },
  },
  {
    name: 'huge message (2 MiB, above the frame limit)',
    payload: `${M}<body>${'x'.repeat(2 * 1024 * 1024)}</body></message>`,
    expected: { closeCode: 1009 },
  },
  {
    name: 'invalid UTF-8 in a text frame',
    payload: Buffer.concat([Buffer.from(`${M}<body>`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('</body></message>')]),
    expected: { closeCode: 1007 },
  },
  {
    name: 'unpaired surrogate as UTF-8 bytes (ED A0 80)',
    payload: Buffer.concat([Buffer.from(`${M}<body>`), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('</body></message>')]),
    expected: { closeCode: 1007 },
  },
  { name: 'unpaired surrogate reference', payload: `${M}<body>&#xD800;</body></message>`, expected: { streamError: 'not-well-formed' } },
  { name: 'NUL character', payload: `${M}<body>a\u0000b</body></message>`, expected: { streamError: 'not-well-formed' } },
  { name: 'NUL reference', payload: `${M}<body>&#0;</body></message>`, expected: { streamError: 'not-well-formed' } },
  { name: 'U+FFFE', payload: `${M}<body>\uFFFE</body></message>`, expected: { streamError: 'not-well-formed' } },
  { name: 'binary frame', payload: Buffer.from(`${M}</message>`), binary: true, expected: { streamError: 'unsupported-encoding' } },
  { name: 'stanza before <open/>', preOpen: true, payload: `${M}</message>`, expected: { streamError: 'not-authorized' } },
  {
    name: '<stream:stream> opening tag over WebSocket',
    payload: `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${DOMAIN}'>`,
    expected: { streamError: 'not-well-formed' },
  },
  {
    name: '<stream:stream/> over WebSocket',
    payload: `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${DOMAIN}'/>`,
    expected: { streamError: 'unsupported-stanza-type' },
  },
  { name: 'two elements in one message', payload: `${M}</message>${M}</message>`, expected: { streamError: 'not-well-formed' } },
  { name: 'comment', payload: `${M}<!-- hi --></message>`, expected: { streamError: 'restricted-xml' } },
  { name: 'processing instruction', payload: `${M}<?evil?></message>`, expected: { streamError: 'restricted-xml' } },
];

export async function wsAttack(url: string, a: WsAttack): Promise<{ outcome: WsOutcome | { other: string }; cleanClose: boolean }> {
  const raw = await openRawWebSocket(url);
  if (!a.preOpen) {
    raw.send(OPEN(DOMAIN));
    await raw.waitFor(/stream:features/);
  }
  raw.ws.send(a.payload, { binary: a.binary === true });
  const closed = await Promise.race([raw.closed, sleep(15_000).then(() => undefined)]);
  if (closed === undefined) {
    raw.ws.terminate();
    return { outcome: { other: 'no close within 15 s' }, cleanClose: false };
  }
  const error = raw.messages.find((m) => m.includes('<stream:error'));
  const condition = error && /<([a-z-]+) xmlns='urn:ietf:params:xml:ns:xmpp-streams'/.exec(error)?.[1];
  const cleanClose = closed.code === 1000 && raw.messages.at(-1)?.startsWith('<close ') === true;
  if (condition) return { outcome: { streamError: condition }, cleanClose };
  return { outcome: { closeCode: closed.code }, cleanClose };
}

export interface BoshAttack {
  name: string;
  body: () => Buffer | string;
  /** Expected: an HTTP status (legacy client, §17.1) or a terminal condition. */
  expected: { status: 400 } | { condition: string };
}

export const CREATE = (extra = '') =>
  `<body xmlns='http://jabber.org/protocol/httpbind' rid='1000' to='${DOMAIN}' wait='5' hold='1' ver='1.11' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'${extra}>`;
export const boshAttacks: BoshAttack[] = [
  { name: 'billion laughs', body: () => `${BILLION_LAUGHS}${CREATE()}</body>`, expected: { status: 400 } },
  { name: 'external entity (XXE)', body: () => `${XXE}${CREATE()}&xxe;</body>`, expected: { status: 400 } },
  {
    name: '10,000-deep nesting',
    body: () => `${CREATE()}${M}${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}</message></body>`,
    expected: { condition: 'bad-request' },
  },
  { name: '1,000 unclosed tags', body: () => `${CREATE()}${M}${'<a>'.repeat(1_000)}`, expected: { condition: 'bad-request' } },
  { name: 'huge attribute (300 KB)', body: () => `${CREATE(` a='${'x'.repeat(300_000)}'`)}</body>`, expected: { condition: 'bad-request' } },
  {
    name: '5 MiB body',
    body: () => `${CREATE()}${M}<body>${'x'.repeat(5 * 1024 * 1024)}</body></message></body>`,
    expected: { condition: 'bad-request' },
  },
  {
    name: 'invalid UTF-8',
    body: () => Buffer.concat([Buffer.from(`${CREATE()}${M}<body>`), Buffer.from([0xc3, 0x28]), Buffer.from('</body></message></body>')]),
    expected: { condition: 'bad-request' },
  },
  {
    name: 'unpaired surrogate as UTF-8 bytes',
    body: () => Buffer.concat([Buffer.from(`${CREATE()}${M}<body>`), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('</body></message></body>')]),
    expected: { condition: 'bad-request' },
  },
  { name: 'NUL', body: () => `${CREATE()}${M}<body>\u0000</body></message></body>`, expected: { condition: 'bad-request' } },
  { name: 'comment', body: () => `${CREATE()}<!-- x --></body>`, expected: { condition: 'bad-request' } },
];

export async function boshAttack(url: string, a: BoshAttack): Promise<{ status: number; condition?: string; error?: string; ms: number }> {
  const t0 = performance.now();
  try {
    const res = await httpRequest(url, a.body(), { timeoutMs: 15_000 });
    const ms = Math.round(performance.now() - t0);
    if (res.status !== 200) return { status: res.status, ms };
    return { status: 200, condition: parseBody(res.text).attrs.condition, ms };
  } catch (err) {
    // A body refused before it was all sent: the gateway answered and closed while we were still writing.
    return { status: 0, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message, ms: Math.round(performance.now() - t0) };
  }
}

