// The README's configuration reference, generated from the schema so the two never disagree.
import type { TSchema } from '@sinclair/typebox';
import { GatewayConfig } from './schema.ts';

const REFERENCE_START = '<!-- config-reference:start -->';
const REFERENCE_END = '<!-- config-reference:end -->';

function typeOf(node: TSchema): string {
  if (node.anyOf) return (node.anyOf as TSchema[]).map((n) => (n.const !== undefined ? `\`${String(n.const)}\`` : typeOf(n))).join(' \\| ');
  if (node.type === 'array') return `list of ${typeOf(node.items as TSchema)}`;
  if (node.type === 'object' && node.patternProperties) return 'map';
  return String(node.type ?? 'value');
}

function rows(node: TSchema, prefix: string, out: string[]): void {
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, TSchema>)) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (child.type === 'object' && child.properties) {
      rows(child, key, out);
      continue;
    }
    const def = child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``;
    out.push(`| \`${key}\` | ${typeOf(child)} | ${def} | ${(child.description ?? '').replaceAll('|', '\\|')} |`);
  }
}

export function configReference(): string {
  const out = ['| key | type | default | meaning |', '| --- | --- | --- | --- |'];
  rows(GatewayConfig, '', out);
  return out.join('\n');
}

/** The README text with the reference section replaced by the current one. */
export function withReference(readme: string): string {
  const start = readme.indexOf(REFERENCE_START);
  const end = readme.indexOf(REFERENCE_END);
  if (start < 0 || end < start) throw new Error('README has no configuration reference markers');
  return `${readme.slice(0, start + REFERENCE_START.length)}\n${configReference()}\n${readme.slice(end)}`;
}
