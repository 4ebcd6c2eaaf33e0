// Defaults from a plain JSON Schema, without TypeBox at run time: what TypeBox's Value.Default does for the
// constructs the gateway schema uses (objects, records, arrays, unions of literals, primitives), rule for rule.
// The generator (compile.ts) refuses a schema with anything else, and a unit test compares the two.

/** The JSON Schema keywords the gateway's configuration schema is written with. */
export interface JsonSchema {
  type?: string;
  default?: unknown;
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  [keyword: string]: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';

/** A deep copy of a JSON-like value (TypeBox's Value.Clone for plain data). */
export function cloneValue<T>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneValue) as T;
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.getOwnPropertyNames(value)) out[key] = cloneValue(value[key]);
    return out as T;
  }
  return value;
}

/** The value, its default when undefined, or the default with the value's own keys over it (objects). */
function valueOrDefault(schema: JsonSchema, value: unknown): unknown {
  const fallback = 'default' in schema ? cloneValue(schema.default) : undefined;
  if (value === undefined) return fallback;
  return isObject(value) && isObject(fallback) ? Object.assign(fallback, value) : value;
}

/** Fills in every default of `schema` in `value` (mutated where it is an object) and returns the result. */
export function withDefaults(schema: JsonSchema, value: unknown): unknown {
  if (schema.type === 'array' && schema.items !== undefined) {
    const defaulted = Array.isArray(value) ? value : valueOrDefault(schema, value);
    if (!Array.isArray(defaulted)) return defaulted;
    for (let i = 0; i < defaulted.length; i++) defaulted[i] = withDefaults(schema.items, defaulted[i]);
    return defaulted;
  }
  if (schema.type === 'object' && schema.patternProperties !== undefined) {
    const defaulted = valueOrDefault(schema, value);
    if (!isObject(defaulted)) return defaulted;
    const [pattern, inner] = Object.entries(schema.patternProperties)[0]!;
    // As TypeBox: record values are visited only when their schema has a default of its own.
    if (!('default' in inner)) return defaulted;
    const key = new RegExp(pattern);
    for (const k of Object.getOwnPropertyNames(defaulted)) if (key.test(k)) defaulted[k] = withDefaults(inner, defaulted[k]);
    return defaulted;
  }
  if (schema.type === 'object' && schema.properties !== undefined) {
    const defaulted = valueOrDefault(schema, value);
    if (!isObject(defaulted)) return defaulted;
    for (const [k, inner] of Object.entries(schema.properties)) {
      const v = withDefaults(inner, defaulted[k]);
      if (v !== undefined) defaulted[k] = v;
    }
    return defaulted;
  }
  // Primitives, and unions of literals (no member has a default, so the union's own is the one).
  return valueOrDefault(schema, value);
}

/** Why `withDefaults` would not do what TypeBox does for `schema`, or undefined: checked when generating. */
export function unsupported(schema: JsonSchema, at = '(root)'): string | undefined {
  if (schema.anyOf !== undefined) {
    const bad = schema.anyOf.findIndex((s) => !('const' in s) || 'default' in s);
    return bad >= 0 ? `${at}: a union member that is not a literal` : undefined;
  }
  if (schema.additionalProperties !== undefined && schema.additionalProperties !== false) return `${at}: additionalProperties with a schema`;
  if (schema.patternProperties !== undefined && Object.keys(schema.patternProperties).length !== 1) return `${at}: more than one patternProperties`;
  for (const [k, inner] of Object.entries(schema.properties ?? {})) {
    const why = unsupported(inner, `${at}.${k}`);
    if (why) return why;
  }
  for (const inner of Object.values(schema.patternProperties ?? {})) {
    const why = unsupported(inner, `${at}.*`);
    if (why) return why;
  }
  return schema.items !== undefined ? unsupported(schema.items, `${at}[]`) : undefined;
}
