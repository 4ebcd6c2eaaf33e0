// XML escaping for values we place into attributes and text (RFC 6120 §11.1 restricted XML).
const ATTR: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' };

export function escapeXml(value: string): string {
  return value.replace(/[&<>'"]/g, (c) => ATTR[c] ?? c);
}

/** ` name='value'` for each defined entry, escaped. */
export function xmlAttributes(attrs: Record<string, string | number | undefined>): string {
  let out = '';
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined) out += ` ${name}='${escapeXml(String(value))}'`;
  }
  return out;
}
