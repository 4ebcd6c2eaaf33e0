// XEP-0198 §5: <enabled resume='true' location='host:port'/> names the server's own c2s address for
// resumption. A browser cannot dial it, and a native client reading it would go around the gateway, so
// clients never see it: resumption comes back through the gateway, which reaches the upstream itself.
export const SM_NS = 'urn:xmpp:sm:3';

/**
 * `xml` (one well-formed element, as the stream scanner produced it) without its `location` attribute.
 * Attribute values never contain their own quote character, so the start tag splits on quotes safely.
 */
export function withoutLocation(xml: string): string {
  const at = findAttribute(xml, 'location');
  if (!at) return xml;
  return xml.slice(0, at.start) + xml.slice(at.end);
}

/** Range of ` name='value'` (with its leading whitespace) in the start tag, if present. */
function findAttribute(xml: string, name: string): { start: number; end: number } | undefined {
  let i = xml.indexOf('<') + 1;
  while (i < xml.length && !/[\s/>]/.test(xml[i]!)) i++; // element name
  for (;;) {
    const wsStart = i;
    while (i < xml.length && /\s/.test(xml[i]!)) i++;
    if (i >= xml.length || xml[i] === '>' || xml[i] === '/') return undefined;
    const nameStart = i;
    while (i < xml.length && !/[\s=]/.test(xml[i]!)) i++;
    const attr = xml.slice(nameStart, i);
    while (i < xml.length && xml[i] !== '=') i++;
    i++;
    while (i < xml.length && /\s/.test(xml[i]!)) i++;
    const quote = xml[i];
    if (quote !== '"' && quote !== "'") return undefined;
    const close = xml.indexOf(quote, i + 1);
    if (close < 0) return undefined;
    i = close + 1;
    if (attr === name) return { start: wsStart, end: i };
  }
}
