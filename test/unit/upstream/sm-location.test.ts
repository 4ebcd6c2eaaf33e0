// XEP-0198 <enabled location='…'/> loses the attribute and nothing else.
import { describe, expect, it } from 'vitest';
import { withoutLocation } from '../../../src/gateway/upstream/sm-location.ts';

describe('withoutLocation', () => {
  it.each([
    ["<enabled xmlns='urn:xmpp:sm:3' id='a' resume='true' location='10.1.2.3:5222'/>", "<enabled xmlns='urn:xmpp:sm:3' id='a' resume='true'/>"],
    ['<enabled xmlns="urn:xmpp:sm:3" location="[2001:db8::1]:5222" resume="true" id="x"/>', '<enabled xmlns="urn:xmpp:sm:3" resume="true" id="x"/>'],
    ["<enabled location = 'h' xmlns='urn:xmpp:sm:3'></enabled>", "<enabled xmlns='urn:xmpp:sm:3'></enabled>"],
    // A value holding the other quote, '>' or the word location stays as it is.
    ["<enabled xmlns='urn:xmpp:sm:3' id='a\"location=\"b>' location='h'/>", "<enabled xmlns='urn:xmpp:sm:3' id='a\"location=\"b>'/>"],
    ["<enabled xmlns='urn:xmpp:sm:3' id='location' resume='true'/>", "<enabled xmlns='urn:xmpp:sm:3' id='location' resume='true'/>"],
    // A prefixed attribute of that local name is another attribute.
    ["<enabled xmlns='urn:xmpp:sm:3' xmlns:x='urn:x' x:location='h'/>", "<enabled xmlns='urn:xmpp:sm:3' xmlns:x='urn:x' x:location='h'/>"],
    ["<enabled xmlns='urn:xmpp:sm:3'/>", "<enabled xmlns='urn:xmpp:sm:3'/>"],
  ])('%s', (input, output) => {
    expect(withoutLocation(input)).toBe(output);
  });
});
