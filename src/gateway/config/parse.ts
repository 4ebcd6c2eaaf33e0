// The gateway's configuration and node list, validated without loading TypeBox: defaults from the schema as JSON,
// the check TypeBox compiled to code (../../shared/gateway-config/compiled.ts), then the rules beyond the schema.
// Input that fails the check goes to the full validator, loaded only then, whose messages name every bad key.
// Same results as ../../shared/gateway-config/validate.ts, compared by a unit test.
import { createRequire } from 'node:module';
import { checkGatewayConfig, checkNodeList, GATEWAY_CONFIG_SCHEMA, NODE_LIST_SCHEMA } from '../../shared/gateway-config/compiled.ts';
import { cloneValue, withDefaults } from '../../shared/gateway-config/defaults.ts';
import { ConfigError, semanticIssues } from '../../shared/gateway-config/rules.ts';
import type { GatewayConfig, NodeList } from '../../shared/gateway-config/schema.ts';

type FullValidator = typeof import('../../shared/gateway-config/validate.ts');

/** The TypeBox validator, for refused input only: the sibling module of this one's own kind (.ts in a checkout, .js built). */
function fullValidator(): FullValidator {
  const ext = import.meta.url.slice(import.meta.url.lastIndexOf('.'));
  return createRequire(import.meta.url)(`../../shared/gateway-config/validate${ext}`) as FullValidator;
}

/** Runs the full validator on refused input and throws its issues as this module's ConfigError. */
function refuse<T>(parse: (input: unknown) => T, input: unknown): T {
  try {
    // Should the compiled check and TypeBox ever disagree, TypeBox's answer stands.
    return parse(input);
  } catch (e) {
    const issues = (e as { issues?: readonly string[] }).issues;
    if (issues === undefined) throw e;
    throw new ConfigError(issues);
  }
}

/** Applies defaults and validates; throws ConfigError naming every bad key. */
export function parseGatewayConfig(input: unknown): GatewayConfig {
  const value = withDefaults(GATEWAY_CONFIG_SCHEMA, cloneValue(input ?? {}));
  if (!checkGatewayConfig(value)) return refuse(fullValidator().parseGatewayConfig, input);
  const config = value as GatewayConfig;
  const semantic = semanticIssues(config);
  if (semantic.length > 0) throw new ConfigError(semantic);
  return config;
}

export function parseNodeList(input: unknown): NodeList {
  const value = withDefaults(NODE_LIST_SCHEMA, cloneValue(input ?? {}));
  if (!checkNodeList(value)) return refuse(fullValidator().parseNodeList, input);
  return value as NodeList;
}
