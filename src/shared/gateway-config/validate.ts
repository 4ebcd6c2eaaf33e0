// Validation of a gateway configuration, once, at the edge: defaults applied, every error named by its key.
import { Value } from '@sinclair/typebox/value';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { GatewayConfig, NodeList } from './schema.ts';
import { ConfigError, keyOf, semanticIssues } from './rules.ts';

export { ConfigError, keyOf } from './rules.ts';

const checkConfig = TypeCompiler.Compile(GatewayConfig);
const checkNodeList = TypeCompiler.Compile(NodeList);

function collect(check: { Errors(v: unknown): Iterable<{ path: string; message: string; value: unknown }> }, value: unknown): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of check.Errors(value)) {
    // A union failure repeats for every branch; one line per key is what a person needs.
    const key = keyOf(e.path);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(`${key}: ${e.message} (got ${JSON.stringify(e.value)})`);
  }
  return out;
}

/** Applies defaults and validates; throws ConfigError naming every bad key. */
export function parseGatewayConfig(input: unknown): GatewayConfig {
  const value = Value.Default(GatewayConfig, Value.Clone(input ?? {}));
  const issues = collect(checkConfig, value);
  if (issues.length > 0) throw new ConfigError(issues);
  const config = value as GatewayConfig;
  const semantic = semanticIssues(config);
  if (semantic.length > 0) throw new ConfigError(semantic);
  return config;
}

export function parseNodeList(input: unknown): NodeList {
  const value = Value.Default(NodeList, Value.Clone(input ?? {}));
  const issues = collect(checkNodeList, value);
  if (issues.length > 0) throw new ConfigError(issues);
  return value as NodeList;
}
