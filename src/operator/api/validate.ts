// Offline validation of an XmppWebGateway, as the API server would judge it: defaults applied, then the
// OpenAPI schema (TypeBox compiler), list uniqueness (x-kubernetes-list-type) and the CEL rules (rules.ts,
// in their TypeScript form). Errors name the field: `spec.nodes[1].host: node hosts must be unique`.
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { buildOpenApiSchema } from './crd.ts';
import { applyDefaults } from './defaults.ts';
import type { JSONSchemaProps } from './openapi.ts';
import { RULES, type Violation } from './rules.ts';
import { API_VERSION, KIND, XmppWebGateway, XmppWebGatewaySpec } from './types.ts';

export interface FieldError {
  /** `spec.nodes[1].host`; `(root)` for the resource itself */
  path: string;
  message: string;
}

export type ValidationResult =
  | { ok: true; resource: XmppWebGateway; errors: readonly [] }
  | { ok: false; resource?: undefined; errors: readonly FieldError[] };

export const formatFieldError = (e: FieldError): string => `${e.path}: ${e.message}`;

if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (v) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) && !Number.isNaN(Date.parse(v)));
}

const checkResource = TypeCompiler.Compile(XmppWebGateway);
let structural: JSONSchemaProps | undefined;

export function validateGatewayResource(input: unknown): ValidationResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ path: '(root)', message: 'must be an object' }] };
  }
  const resource = Value.Clone(input) as Record<string, unknown>;
  delete resource.status; // written by the operator through the status subresource, never applied
  if (typeof resource.spec === 'object' && resource.spec !== null) applyDefaults(XmppWebGatewaySpec, resource.spec);

  const errors: FieldError[] = [];
  if (resource.apiVersion !== API_VERSION) errors.push({ path: 'apiVersion', message: `must be ${API_VERSION}` });
  if (resource.kind !== KIND) errors.push({ path: 'kind', message: `must be ${KIND}` });
  errors.push(...schemaErrors(resource));
  structural ??= buildOpenApiSchema();
  errors.push(...listTypeErrors(resource, structural, ''));
  errors.push(...ruleErrors(resource));

  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, resource: resource as XmppWebGateway, errors: [] };
}

// ---------------------------------------------------------------------------------------------------------

/** JSON pointer `/spec/nodes/1/host` → `spec.nodes[1].host`; map keys that are not identifiers in brackets. */
export function fieldPath(pointer: string): string {
  if (pointer === '' || pointer === '/') return '(root)';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (/^[0-9]+$/.test(seg) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

function schemaErrors(resource: unknown): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const e of checkResource.Errors(resource)) {
    const path = fieldPath(e.path);
    if (seen.has(path)) continue; // a union repeats its failure once per member
    seen.add(path);
    out.push({ path, message: describe(e.schema, e.message, e.value) });
  }
  return out;
}

function describe(schema: TSchema, message: string, value: unknown): string {
  const members = (schema as { anyOf?: { const?: unknown }[] }).anyOf;
  if (members?.every((m) => 'const' in m)) {
    return `must be one of ${members.map((m) => JSON.stringify(m.const)).join(', ')} (got ${JSON.stringify(value)})`;
  }
  if (message === 'Unexpected property') return 'unknown field';
  return value === undefined ? message : `${message} (got ${JSON.stringify(value)})`;
}

/** Duplicates in lists declared `x-kubernetes-list-type: set` or `map`, as the API server reports them. */
function listTypeErrors(value: unknown, schema: JSONSchemaProps, path: string): FieldError[] {
  const out: FieldError[] = [];
  if (Array.isArray(value)) {
    const items = schema.items as JSONSchemaProps | undefined;
    const listType = schema['x-kubernetes-list-type'];
    const keys = schema['x-kubernetes-list-map-keys'] as string[] | undefined;
    if (listType === 'set' || listType === 'map') {
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const key =
          listType === 'set'
            ? JSON.stringify(item)
            : JSON.stringify((keys ?? []).map((k) => (item as Record<string, unknown> | null)?.[k]));
        if (seen.has(key)) {
          const shown = listType === 'set' ? key : (keys ?? []).map((k) => `${k}=${JSON.stringify((item as Record<string, unknown>)[k])}`).join(', ');
          out.push({ path: `${path}[${i}]`, message: `duplicate entry (${shown})` });
        }
        seen.add(key);
      });
    }
    if (items) value.forEach((item, i) => out.push(...listTypeErrors(item, items, `${path}[${i}]`)));
  } else if (typeof value === 'object' && value !== null) {
    const props = schema.properties as Record<string, JSONSchemaProps> | undefined;
    const additional = schema.additionalProperties as JSONSchemaProps | undefined;
    for (const [k, v] of Object.entries(value)) {
      const sub = props?.[k] ?? additional;
      if (sub) out.push(...listTypeErrors(v, sub, path === '' ? k : `${path}.${k}`));
    }
  }
  return out;
}

/** Each instance of a rule location in the resource: `spec.nodes[*].host` → every node's host. */
interface Instance {
  path: string;
  value: unknown;
}

function instancesAt(root: unknown, at: string): Instance[] {
  let current: Instance[] = [{ path: '', value: root }];
  if (at === '') return current;
  for (const part of at.split('.')) {
    const [name, ...stars] = part.split('[*]');
    const next: typeof current = [];
    for (const c of current) {
      const v = typeof c.value === 'object' && c.value !== null ? (c.value as Record<string, unknown>)[name!] : undefined;
      if (v === undefined) continue;
      let level: Instance[] = [{ path: c.path === '' ? name! : `${c.path}.${name}`, value: v }];
      for (let i = 0; i < stars.length; i++) {
        level = level.flatMap((l) => (Array.isArray(l.value) ? l.value.map((item, j) => ({ path: `${l.path}[${j}]`, value: item as unknown })) : []));
      }
      next.push(...level);
    }
    current = next;
  }
  return current;
}

function join(base: string, rel: string): string {
  if (rel === '') return base === '' ? '(root)' : base;
  if (base === '') return rel.replace(/^\./, '');
  return rel.startsWith('[') ? base + rel : `${base}.${rel.replace(/^\./, '')}`;
}

function ruleErrors(resource: unknown): FieldError[] {
  const out: FieldError[] = [];
  for (const rule of RULES) {
    for (const at of rule.at) {
      for (const inst of instancesAt(resource, at)) {
        // Like the API server, rules run next to the schema checks, not after them; a rule that cannot read a
        // value of the wrong type says nothing (the schema error is reported above).
        let result: boolean | Violation[];
        try {
          result = rule.check(inst.value as never);
        } catch {
          continue;
        }
        const violations: Violation[] = result === true ? [] : result === false ? [{ path: rule.fieldPath ?? '' }] : result;
        for (const v of violations) {
          out.push({ path: join(inst.path, v.path), message: v.detail ? `${rule.message} (${v.detail})` : rule.message });
        }
      }
    }
  }
  return out;
}
