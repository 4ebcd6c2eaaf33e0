// TypeBox schema → structural OpenAPI v3 schema, as a CustomResourceDefinition accepts it.
// https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema
// Refuses (throws on) what a CRD cannot say rather than emitting a schema the API server would reject.
import type { TSchema } from '@sinclair/typebox';

export type JSONSchemaProps = { [key: string]: unknown };

/** Keys copied as they are, in this order (so the YAML reads the same way everywhere). */
const SCALAR_KEYS = [
  'format',
  'enum',
  'default',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'multipleOf',
  'nullable',
] as const;

/** TypeBox and JSON Schema keys that have no place in a CRD and carry no meaning there. */
const DROPPED = new Set(['$id', '$schema', 'title', 'examples', 'additionalProperties', 'patternProperties', 'properties', 'items', 'required', 'anyOf', 'const', 'type', 'description']);

export function toStructuralSchema(schema: TSchema, path = '(root)'): JSONSchemaProps {
  const s = schema as Record<string, unknown>;
  const out: JSONSchemaProps = {};
  if (typeof s.description === 'string' && s.description !== '') out.description = s.description;

  if (Array.isArray(s.anyOf)) {
    const members = s.anyOf as Record<string, unknown>[];
    if (s['x-kubernetes-int-or-string'] === true) {
      out.anyOf = [{ type: 'integer' }, { type: 'string' }];
    } else if (members.every((m) => 'const' in m)) {
      // A union of literals is an enum.
      const types = new Set(members.map((m) => typeof m.const));
      if (types.size !== 1) throw new Error(`${path}: enum of mixed types`);
      out.type = jsonType([...types][0]!, path);
      out.enum = members.map((m) => m.const);
    } else {
      throw new Error(`${path}: a CRD schema cannot express this union`);
    }
  } else if ('const' in s) {
    out.type = jsonType(typeof s.const, path);
    out.enum = [s.const];
  } else if (typeof s.type === 'string') {
    out.type = s.type;
  } else if (s['x-kubernetes-preserve-unknown-fields'] !== true) {
    throw new Error(`${path}: no type`);
  }

  for (const key of SCALAR_KEYS) {
    if (key in s && !(key === 'enum' && 'enum' in out)) out[key] = s[key];
  }

  if (s.type === 'object') {
    const props = (s.properties ?? {}) as Record<string, TSchema>;
    const patternProps = s.patternProperties as Record<string, TSchema> | undefined;
    if (Object.keys(props).length > 0) {
      if (patternProps) throw new Error(`${path}: properties and patternProperties together`);
      const converted: Record<string, JSONSchemaProps> = {};
      for (const [name, prop] of Object.entries(props)) converted[name] = toStructuralSchema(prop, `${path}.${name}`);
      out.properties = converted;
      // A defaulted field is never missing on the API server; the default itself (often {}) must validate
      // without it, so it is not listed as required.
      const required = ((s.required ?? []) as string[]).filter((name) => props[name]?.default === undefined);
      if (required.length > 0) out.required = required;
    } else if (patternProps) {
      // Type.Record(Type.String(), V): a map, which a CRD spells additionalProperties.
      const values = Object.values(patternProps);
      if (values.length !== 1) throw new Error(`${path}: more than one patternProperties entry`);
      out.additionalProperties = toStructuralSchema(values[0]!, `${path}.*`);
    }
  }
  if (s.type === 'array') {
    if (s.items === undefined || Array.isArray(s.items)) throw new Error(`${path}: arrays need one items schema`);
    if (s.uniqueItems === true) throw new Error(`${path}: uniqueItems is not allowed; use x-kubernetes-list-type: set`);
    out.items = toStructuralSchema(s.items as TSchema, `${path}[*]`);
  }

  for (const [key, value] of Object.entries(s)) {
    if (key.startsWith('x-kubernetes-')) out[key] = value;
    else if (!DROPPED.has(key) && !(SCALAR_KEYS as readonly string[]).includes(key) && key !== 'uniqueItems') {
      throw new Error(`${path}: ${key} has no place in a CRD schema`);
    }
  }
  return out;
}

function jsonType(t: string, path: string): string {
  if (t === 'string' || t === 'boolean') return t;
  if (t === 'number') return 'number';
  throw new Error(`${path}: no CRD type for ${t}`);
}

/** The schema node at a dotted path ('spec.nodes[*].host'); '' is the root. */
export function schemaAt(root: JSONSchemaProps, at: string): JSONSchemaProps {
  let node = root;
  if (at === '') return node;
  for (const part of at.split('.')) {
    const [name, ...stars] = part.split('[*]');
    const props = node.properties as Record<string, JSONSchemaProps> | undefined;
    const next = props?.[name!];
    if (!next) throw new Error(`no schema at ${at}`);
    node = next;
    for (let i = 1; i < stars.length + 1; i++) {
      const items = node.items as JSONSchemaProps | undefined;
      if (!items) throw new Error(`no items schema at ${at}`);
      node = items;
    }
  }
  return node;
}
