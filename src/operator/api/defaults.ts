// Defaulting as the API server does it for structural schemas: a missing field gets its default (a copy),
// then defaulting goes on inside every present field. Unlike TypeBox's Value.Default, a present object is
// never merged with the field's default object.
// https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#defaulting
import type { TSchema } from '@sinclair/typebox';
import { XmppWebGatewaySpec } from './types.ts';

type Schema = {
  type?: string;
  default?: unknown;
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  items?: Schema;
};

/** Returns `value` with defaults filled in (in place for objects and arrays). */
export function applyDefaults<T>(schema: TSchema, value: T): T {
  walk(schema as Schema, value);
  return value;
}

function walk(s: Schema, value: unknown): void {
  if (Array.isArray(value)) {
    if (s.items) for (const item of value) walk(s.items, item);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const obj = value as Record<string, unknown>;
  for (const [k, prop] of Object.entries(s.properties ?? {})) {
    if (obj[k] === undefined && prop.default !== undefined) obj[k] = structuredClone(prop.default);
  }
  const additional = s.patternProperties ? Object.values(s.patternProperties)[0] : undefined;
  for (const [k, v] of Object.entries(obj)) {
    const sub = s.properties?.[k] ?? additional;
    if (sub) walk(sub, v);
  }
}

/** A copy of the resource with the spec's defaults applied, as the API server stores it. Does not validate. */
export function withDefaults<T extends { spec?: unknown }>(resource: T): T {
  const copy = structuredClone(resource);
  copy.spec = applyDefaults(XmppWebGatewaySpec, copy.spec ?? {}) as T['spec'];
  return copy;
}
