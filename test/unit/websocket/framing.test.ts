import { describe, expect, it } from 'vitest';
import { streamErrorElement } from '../../../src/gateway/stream-rules.ts';
import { closeMessage, openMessage, parseClientMessage } from '../../../src/gateway/websocket/framing.ts';
import { XmlInputError } from '../../../src/gateway/xml/limits.ts';
import { parseStandaloneElement, withoutChildren } from '../../../src/gateway/xml/standalone-element.ts';

const L = { maxStanzaBytes: 2048, maxDepth: 8, maxAttributes: 16 };
const conditionOf = (text: string) => {
  try {
    parseClientMessage(text, L);
  } catch (e) {
    if (e instanceof XmlInputError) return e.condition;
    throw e;
  }
  return 'accepted';
};

describe('RFC 7395 framing', () => {
  it('reads <open/> (§3.3.1)', () => {
    expect(parseClientMessage(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example2.com" version="1.0" xml:lang="de"/>`, L)).toEqual({
      kind: 'open',
      to: 'example2.com',
      version: '1.0',
      lang: 'de',
    });
  });
  it('reads <close/> (§3.6)', () => {
    expect(parseClientMessage(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`, L)).toEqual({ kind: 'close' });
  });
  it('passes stanzas and other top-level elements through unchanged', () => {
    const text = `<message xmlns='jabber:client' to='b@example.com'><body>x</body></message>`;
    expect(parseClientMessage(text, L)).toEqual({ kind: 'element', xml: text, local: 'message', uri: 'jabber:client' });
    const auth = `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>`;
    expect(parseClientMessage(auth, L).kind).toBe('element');
    expect(parseClientMessage(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`, L).kind).toBe('element');
  });
  it.each([
    ['<open/> without to', `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`, 'host-unknown'],
    ['a stanza without namespace', `<message to='a@b'/>`, 'invalid-namespace'],
    ['a stanza in a foreign namespace', `<message xmlns='urn:x' to='a@b'/>`, 'invalid-namespace'],
    ['<stream:stream> (§3.3.2)', `<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='x'>`, 'not-well-formed'],
    ['two elements in one message (§3.3.3)', `<message xmlns='jabber:client'/><message xmlns='jabber:client'/>`, 'not-well-formed'],
    ['a partial element', `<message xmlns='jabber:client'>`, 'not-well-formed'],
    ['a DOCTYPE', `<!DOCTYPE m><message xmlns='jabber:client'/>`, 'restricted-xml'],
    ['an XML bomb', `<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><message xmlns='jabber:client'>&b;</message>`, 'restricted-xml'],
    ['an external entity', `<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><message xmlns='jabber:client'>&x;</message>`, 'restricted-xml'],
    ['an oversized stanza', `<message xmlns='jabber:client'><body>${'x'.repeat(3000)}</body></message>`, 'policy-violation'],
    ['deep nesting', `<message xmlns='jabber:client'>${'<a>'.repeat(10)}${'</a>'.repeat(10)}</message>`, 'policy-violation'],
    ['an unknown framing element', `<reopen xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`, 'unsupported-stanza-type'],
    ['an unpaired surrogate as a character reference', `<message xmlns='jabber:client'><body>&#xD800;</body></message>`, 'not-well-formed'],
    ['NUL as a character reference', `<message xmlns='jabber:client'><body>&#0;</body></message>`, 'not-well-formed'],
  ])('refuses %s', (_what, text, condition) => {
    expect(conditionOf(text)).toBe(condition);
  });

  it('builds the server messages', () => {
    expect(openMessage({ from: 'example.com', id: "a'b", version: '1.0', lang: 'en' })).toBe(
      `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.com' id='a&apos;b' version='1.0' xml:lang='en'/>`,
    );
    expect(closeMessage('wss://t2.example.com/xmpp-websocket')).toBe(
      `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing' see-other-uri='wss://t2.example.com/xmpp-websocket'/>`,
    );
    const error = streamErrorElement('policy-violation', 'too <big>');
    expect(parseStandaloneElement(error, L).local).toBe('error');
    expect(error).toContain(`<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>`);
    expect(error).toContain('too &lt;big&gt;');
  });

  it('removes <starttls/> from features, keeping the rest byte for byte (§3.9)', () => {
    const features = `<stream:features xmlns:stream='http://etherx.jabber.org/streams'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`;
    expect(withoutChildren(features, 'urn:ietf:params:xml:ns:xmpp-tls', 'starttls', L)).toBe(
      `<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
    );
  });
});
