// Builds the gateway configuration from its three sources, then validates it once.
// Precedence: YAML file < XWG_* environment variables < command-line flags.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { GATEWAY_CONFIG_SCHEMA } from '../../shared/gateway-config/compiled.ts';
import type { JsonSchema as TSchema } from '../../shared/gateway-config/defaults.ts';
import { ConfigError } from '../../shared/gateway-config/rules.ts';
import type { GatewayConfig } from '../../shared/gateway-config/schema.ts';
import { parseGatewayConfig } from './parse.ts';

type Json = Record<string, unknown>;

/** `limits.maxStanzaBytes` ⇄ `XWG_LIMITS__MAX_STANZA_BYTES` */
export function envName(key: string): string {
  return 'XWG_' + key.split('.').map((part) => part.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__');
}

function camel(part: string): string {
  return part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The schema node at a dotted key, or undefined when no such key exists. */
function schemaAt(key: string): TSchema | undefined {
  let node: TSchema | undefined = GATEWAY_CONFIG_SCHEMA;
  for (const part of key.split('.')) {
    if (!node) return undefined;
    if (node.type === 'object' && node.properties) node = (node.properties as Record<string, TSchema>)[part];
    else if (node.type === 'object' && node.patternProperties) node = Object.values(node.patternProperties as Record<string, TSchema>)[0];
    else return undefined;
  }
  return node;
}

/** Text from a flag or variable, typed by the schema: numbers, booleans, lists (comma or JSON). */
function typedValue(key: string, text: string, source: string): unknown {
  const node = schemaAt(key);
  if (!node) throw new ConfigError([`${source}: unknown configuration key ${key}`]);
  const type = node.type ?? (node.anyOf ? 'string' : undefined);
  try {
    if (type === 'integer' || type === 'number') {
      if (!/^-?\d+(\.\d+)?$/.test(text.trim())) return text;
      return Number(text);
    }
    if (type === 'boolean') return text === 'true' ? true : text === 'false' ? false : text;
    if (type === 'array') return text.trim().startsWith('[') ? JSON.parse(text) : text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (type === 'object') return JSON.parse(text);
  } catch {
    throw new ConfigError([`${source}: ${key} is not valid JSON`]);
  }
  return text;
}

function setPath(target: Json, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Json;
  }
  node[parts.at(-1)!] = value;
}

interface ConfigSources {
  /** Flags after the subcommand: `--config file`, `--a.b=value` or `--a.b value`. */
  argv: readonly string[];
  env: Record<string, string | undefined>;
  readFile?: (path: string) => string;
  /** Told about XWG_* variables that name no key (tools of ours share the prefix, so not an error). */
  onUnknownVariable?: (name: string) => void;
}

function parseFlags(argv: readonly string[]): { configFile?: string; values: Array<[string, string]> } {
  const values: Array<[string, string]> = [];
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError([`unexpected argument ${JSON.stringify(arg)}`]);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let value = eq === -1 ? undefined : arg.slice(eq + 1);
    if (value === undefined) {
      const next = argv[i + 1];
      // A flag without a value is a boolean switch.
      if (next === undefined || next.startsWith('--')) value = 'true';
      else {
        value = next;
        i += 1;
      }
    }
    if (name === 'config' || name === 'c') configFile = value;
    else values.push([name, value]);
  }
  return { ...(configFile !== undefined ? { configFile } : {}), values };
}

export function loadGatewayConfig(sources: ConfigSources): GatewayConfig {
  const read = sources.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const { configFile, values } = parseFlags(sources.argv);
  const file = configFile ?? sources.env.XWG_CONFIG;
  let raw: Json = {};
  if (file) {
    let text: string;
    try {
      text = read(file);
    } catch (e) {
      throw new ConfigError([`config file ${file}: ${(e as Error).message}`]);
    }
    try {
      // Loaded only when a file is given: a gateway configured by flags and variables never needs a YAML parser.
      const { load: loadYaml } = createRequire(import.meta.url)('js-yaml') as typeof import('js-yaml');
      const parsed = loadYaml(text);
      if (parsed !== undefined && parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
        throw new Error('the top level must be a mapping');
      }
      raw = (parsed as Json | null) ?? {};
    } catch (e) {
      throw new ConfigError([`config file ${file}: ${(e as Error).message}`]);
    }
  }
  for (const [name, text] of Object.entries(sources.env)) {
    if (!name.startsWith('XWG_') || name === 'XWG_CONFIG' || text === undefined) continue;
    // Variables of the test harness and tools share the prefix; only schema keys are configuration.
    const key = name.slice(4).split('__').map(camel).join('.');
    if (!schemaAt(key)) {
      sources.onUnknownVariable?.(name);
      continue;
    }
    setPath(raw, key, typedValue(key, text, name));
  }
  for (const [key, text] of values) setPath(raw, key, typedValue(key, text, `--${key}`));
  return parseGatewayConfig(raw);
}
