// Generates compiled.ts: the gateway's configuration and node-list schemas as plain JSON, and their TypeBox
// checks compiled to code, so that the gateway validates its configuration without loading TypeBox (about
// 14 MiB of RSS in a process meant to start within 60). `npm run gen` writes it; a unit test checks it is current.
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { unsupported } from './defaults.ts';
import { GatewayConfig, NodeList } from './schema.ts';

function part(name: string, schema: TSchema): string {
  const why = unsupported(schema as never);
  if (why !== undefined) throw new Error(`${name}: the run-time defaults cannot follow TypeBox here: ${why}`);
  const code = TypeCompiler.Code(schema, [], { language: 'javascript' });
  return [
    `export const ${name}_SCHEMA: JsonSchema = ${JSON.stringify(schema, null, 2)};`,
    '',
    `export const check${name.split('_').map((w) => w[0] + w.slice(1).toLowerCase()).join('')}: (value: unknown) => boolean = (() => {`,
    code,
    '})();',
  ].join('\n');
}

/** The text of compiled.ts. */
export function compiledModule(): string {
  return [
    '// @ts-nocheck',
    '// Generated from schema.ts by compile.ts (`npm run gen`): do not edit. The check functions are TypeBox\'s',
    '// TypeCompiler.Code output; they need nothing but the language.',
    "import type { JsonSchema } from './defaults.ts';",
    '',
    part('GATEWAY_CONFIG', GatewayConfig),
    '',
    part('NODE_LIST', NodeList),
    '',
  ].join('\n');
}
