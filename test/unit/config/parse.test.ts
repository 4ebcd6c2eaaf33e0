// The gateway's lean configuration parser (no TypeBox at run time) against the TypeBox validator it stands in
// for: the same configuration, defaults included, or the same refusal, for every input; and the generated
// module it runs on matches the schema.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig as leanConfig, parseNodeList as leanNodes } from '../../../src/gateway/config/parse.ts';
import { compiledModule } from '../../../src/shared/gateway-config/compile.ts';
import { GATEWAY_CONFIG_SCHEMA, NODE_LIST_SCHEMA } from '../../../src/shared/gateway-config/compiled.ts';
import type { JsonSchema } from '../../../src/shared/gateway-config/defaults.ts';
import { ConfigError, parseGatewayConfig as fullConfig, parseNodeList as fullNodes } from '../../../src/shared/gateway-config/validate.ts';
import { readFileSync } from 'node:fs';

type Outcome = { ok: unknown } | { issues: readonly string[] };
function outcome(parse: (input: unknown) => unknown, input: unknown): Outcome {
  try {
    return { ok: parse(input) };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { issues: e.issues };
  }
}

/** Inputs shaped by the schema: mostly valid values, some of the wrong type or out of range, keys left out. */
function inputOf(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  const wrong = fc.constantFrom<unknown>('x', -1, 1.5, true, null, [], {});
  const valid = ((): fc.Arbitrary<unknown> => {
    if (schema.anyOf) return fc.constantFrom(...schema.anyOf.map((s) => s.const));
    if (schema.type === 'integer') return fc.integer({ min: (schema.minimum as number | undefined) ?? 0, max: Math.min((schema.maximum as number | undefined) ?? 100_000, 100_000) });
    if (schema.type === 'boolean') return fc.boolean();
    if (schema.type === 'string') return schema.pattern === '^/' ? fc.constantFrom('/a', '/b', '/ws') : fc.constantFrom('example.com', '127.0.0.1', 'a', 'https://chat.example.com', '');
    if (schema.type === 'array' && schema.items) return depth > 3 ? fc.constant([]) : fc.array(inputOf(schema.items, depth + 1).filter((v) => v !== undefined), { maxLength: 2 });
    if (schema.type === 'object' && schema.patternProperties) {
      const inner = Object.values(schema.patternProperties)[0]!;
      return depth > 3 ? fc.constant({}) : fc.dictionary(fc.constantFrom('example.com', 'example.net'), inputOf(inner, depth + 1), { maxKeys: 2 });
    }
    if (schema.type === 'object' && schema.properties) {
      const props = Object.fromEntries(Object.entries(schema.properties).map(([k, s]) => [k, inputOf(s, depth + 1)]));
      return fc.record(props, { requiredKeys: [] });
    }
    return fc.anything();
  })();
  return fc.oneof({ weight: 30, arbitrary: valid }, { weight: 1, arbitrary: wrong }, { weight: 8, arbitrary: fc.constant(undefined) });
}

describe('lean configuration parser', () => {
  it('runs on a compiled.ts that matches the schema (run `node scripts/gen-config-validator.ts` after changing it)', () => {
    const file = readFileSync(new URL('../../../src/shared/gateway-config/compiled.ts', import.meta.url), 'utf8');
    expect(file).toBe(compiledModule());
  });

  it('gives what the TypeBox validator gives: the same configuration with its defaults, or the same issues', () => {
    // Valid configurations come out of the random ones often enough only with the one required key set.
    const configs = inputOf(GATEWAY_CONFIG_SCHEMA).map((c) =>
      c !== null && typeof c === 'object' && !Array.isArray(c)
        ? { ...c, upstream: { default: { host: '127.0.0.1' }, ...((c as { upstream?: object }).upstream ?? {}) } }
        : c,
    );
    let accepted = 0;
    fc.assert(
      fc.property(configs, (input) => {
        const full = outcome(fullConfig, input);
        if ('ok' in full) accepted++;
        expect(outcome(leanConfig, input)).toEqual(full);
      }),
      { numRuns: 3000, seed: 14 },
    );
    // Both branches were exercised.
    expect(accepted).toBeGreaterThan(100);
    expect(accepted).toBeLessThan(2900);
  });

  it('gives what the TypeBox validator gives for node lists', () => {
    fc.assert(
      fc.property(inputOf(NODE_LIST_SCHEMA), (input) => {
        expect(outcome(leanNodes, input)).toEqual(outcome(fullNodes, input));
      }),
      { numRuns: 2000, seed: 14 },
    );
  });

  it('refuses with the messages of the full validator, and keeps the rules beyond the schema', () => {
    const bad = outcome(leanConfig, { upstream: { default: { host: '127.0.0.1' } }, limits: { maxStanzaBytes: 'big' } });
    expect(bad).toEqual({ issues: [expect.stringMatching(/^limits\.maxStanzaBytes: /)] });
    const clash = outcome(leanConfig, { upstream: { default: { host: '127.0.0.1' } }, admin: { port: 5280 } });
    expect(clash).toEqual({ issues: ['admin.port: must differ from listen.port and listen.tlsPort (the admin listener is never a public one)'] });
  });
});
