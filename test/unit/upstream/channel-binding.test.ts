// Channel-binding offers of the upstream (SCRAM-*-PLUS, XEP-0440, TLS-bound FAST) leave the features, and
// nothing else does; input split anywhere, odd spacing and namespaces by prefix included.
import { describe, expect, it } from 'vitest';
import { withoutChannelBinding } from '../../../src/gateway/upstream/channel-binding.ts';
import { DEFAULT_XML_LIMITS, XmlInputError } from '../../../src/gateway/xml/limits.ts';

const F = (inner: string) => `<stream:features xmlns:stream='http://etherx.jabber.org/streams'>${inner}</stream:features>`;
const SASL = (...mechs: string[]) => `<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${mechs.map((m) => `<mechanism>${m}</mechanism>`).join('')}</mechanisms>`;

describe('withoutChannelBinding', () => {
  it.each([
    ['Prosody over TLS 1.2', F(SASL('SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1', 'SCRAM-SHA-1-PLUS', 'PLAIN')), F(SASL('SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN')), ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS']],
    [
      'ejabberd 23.01 (PLUS listed first)',
      F(SASL('PLAIN', 'SCRAM-SHA-512-PLUS', 'SCRAM-SHA-512', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-1')),
      F(SASL('PLAIN', 'SCRAM-SHA-512', 'SCRAM-SHA-1')),
      ['SCRAM-SHA-512-PLUS', 'SCRAM-SHA-1-PLUS'],
    ],
    ['no binding offered: unchanged', F(SASL('SCRAM-SHA-1', 'PLAIN')), F(SASL('SCRAM-SHA-1', 'PLAIN')), []],
    ['only PLUS: an empty list is what the client may use', F(SASL('SCRAM-SHA-1-PLUS')), F(`<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'></mechanisms>`), ['SCRAM-SHA-1-PLUS']],
    [
      'XEP-0440 channel-binding types',
      F(`${SASL('SCRAM-SHA-1')}<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-server-end-point'/><channel-binding type='tls-exporter'/></sasl-channel-binding><sm xmlns='urn:xmpp:sm:3'/>`),
      F(`${SASL('SCRAM-SHA-1')}<sm xmlns='urn:xmpp:sm:3'/>`),
      ['sasl-channel-binding'],
    ],
    [
      'SASL2 with FAST inline: bound HT mechanisms go, HT-*-NONE stays',
      F(
        `<authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>SCRAM-SHA-1</mechanism><inline><bind xmlns='urn:xmpp:bind:0'/><fast xmlns='urn:xmpp:fast:0'><mechanism>HT-SHA-256-NONE</mechanism><mechanism>HT-SHA-256-UNIQ</mechanism><mechanism>HT-SHA-256-ENDP</mechanism><mechanism>HT-SHA-256-EXPR</mechanism></fast></inline></authentication>`,
      ),
      F(`<authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-1</mechanism><inline><bind xmlns='urn:xmpp:bind:0'/><fast xmlns='urn:xmpp:fast:0'><mechanism>HT-SHA-256-NONE</mechanism></fast></inline></authentication>`),
      ['SCRAM-SHA-1-PLUS', 'HT-SHA-256-UNIQ', 'HT-SHA-256-ENDP', 'HT-SHA-256-EXPR'],
    ],
    [
      'namespace by prefix, spacing and whitespace around the name',
      F(`<s:mechanisms xmlns:s="urn:ietf:params:xml:ns:xmpp-sasl">\n  <s:mechanism> SCRAM-SHA-1-PLUS </s:mechanism>\n  <s:mechanism>PLAIN</s:mechanism>\n</s:mechanisms>`),
      F(`<s:mechanisms xmlns:s="urn:ietf:params:xml:ns:xmpp-sasl">\n  \n  <s:mechanism>PLAIN</s:mechanism>\n</s:mechanisms>`),
      ['SCRAM-SHA-1-PLUS'],
    ],
    [
      'a -PLUS name in another namespace, or in an attribute, is not an offer',
      F(`<x xmlns='urn:example'><mechanism>SCRAM-SHA-1-PLUS</mechanism></x><c xmlns='http://jabber.org/protocol/caps' node='HT-x-PLUS' ver='a'/>`),
      F(`<x xmlns='urn:example'><mechanism>SCRAM-SHA-1-PLUS</mechanism></x><c xmlns='http://jabber.org/protocol/caps' node='HT-x-PLUS' ver='a'/>`),
      [],
    ],
    ['non-ASCII before the cut', F(`<x xmlns='urn:example' n='Ärger 💬'/>${SASL('SCRAM-SHA-1-PLUS', 'PLAIN')}`), F(`<x xmlns='urn:example' n='Ärger 💬'/>${SASL('PLAIN')}`), ['SCRAM-SHA-1-PLUS']],
  ])('%s', (_name, input, output, removed) => {
    const result = withoutChannelBinding(input, DEFAULT_XML_LIMITS);
    expect(result.xml).toBe(output);
    expect(result.removed).toEqual(removed);
  });

  it.each([
    ['not well-formed', F(SASL('SCRAM-SHA-1-PLUS')).replace('</stream:features>', ''), 'not-well-formed'],
    ['a comment (restricted XML)', F(`<!-- -PLUS -->${SASL('PLAIN')}`), 'restricted-xml'],
    ['too deep', F(`${'<a xmlns="urn:x">'.repeat(70)}-PLUS${'</a>'.repeat(70)}`), 'policy-violation'],
  ])('refuses %s with a stream error condition', (_name, input, condition) => {
    expect(() => withoutChannelBinding(input, DEFAULT_XML_LIMITS)).toThrow(XmlInputError);
    try {
      withoutChannelBinding(input, DEFAULT_XML_LIMITS);
    } catch (e) {
      expect((e as XmlInputError).condition).toBe(condition);
    }
  });

  it('returns the input unchanged when there is nothing to look at', () => {
    const input = F(SASL('SCRAM-SHA-1', 'PLAIN'));
    expect(withoutChannelBinding(input, DEFAULT_XML_LIMITS).xml).toBe(input);
  });
});
