// Writing children without writing needlessly: an object is applied (server-side apply, force) only when
// the live object in the cache does not already hold what the desired object sets, or when the desired
// object changed since the last apply. The first check catches edits by others (drift), the second the
// fields the operator stops setting (a subset check cannot see a removal): every applied object carries
// the hash of its desired form in an annotation.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { XmppWebGateway } from '../api/types.ts';
import { hashOf, canonicalJson } from '../desired/hash.ts';
import { LABEL_GATEWAY, MANAGER } from '../desired/labels.ts';

export const APPLIED_HASH_ANNOTATION = 'xwg.io/applied-hash';
const MANAGED_BY = 'app.kubernetes.io/managed-by';

/** The object to apply: the desired object plus the hash of itself. */
export function withAppliedHash<T extends KubernetesObject>(desired: T): T {
  const copy = structuredClone(desired);
  copy.metadata = { ...copy.metadata, annotations: { ...copy.metadata?.annotations, [APPLIED_HASH_ANNOTATION]: hashOf(desired, 20) } };
  return copy;
}

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isEmpty = (v: Json) => (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);

// Resource quantities come back canonical ("0.5" → "500m"): compare their values where they occur.
const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;
const SUFFIX: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

export function quantityValue(v: Json): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  const m = QUANTITY.exec(v);
  if (!m) return undefined;
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  return base * (SUFFIX[m[3] ?? ''] ?? Number.NaN);
}

function quantityPath(path: string): boolean {
  // A resource name that is no identifier (ephemeral-storage, hugepages-2Mi, nvidia.com/gpu) is a ["…"] step.
  return /\.resources\.(limits|requests)[.[]|\.sizeLimit$/.test(path);
}

function sameScalar(desired: Json, live: Json, path: string): boolean {
  if (desired === live) return true;
  if (quantityPath(path)) {
    const a = quantityValue(desired);
    const b = quantityValue(live);
    return a !== undefined && b !== undefined && Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  }
  return false;
}

/**
 * The first path where `live` does not hold what `desired` sets, or undefined when it holds all of it.
 * Fields only the live object has (defaults, status, other managers' fields) are ignored. Lists of scalars
 * must be equal; in lists of objects each desired item must match a live item, in order (other managers
 * may add items to granular lists, as server-side apply allows).
 */
export function firstDifference(desired: Json, live: Json, path = ''): string | undefined {
  if (desired === undefined || desired === null) return undefined;
  if (isEmpty(desired) && (live === undefined || live === null || isEmpty(live))) return undefined;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live)) return path || '(root)';
    if (desired.every((d) => !isObject(d) && !Array.isArray(d))) {
      if (desired.length !== live.length) return path;
      const i = desired.findIndex((d, j) => !sameScalar(d, live[j], `${path}[${j}]`));
      return i < 0 ? undefined : `${path}[${i}]`;
    }
    let j = 0;
    for (let i = 0; i < desired.length; i++) {
      while (j < live.length && firstDifference(desired[i], live[j], `${path}[${i}]`) !== undefined) j++;
      if (j === live.length) return firstDifference(desired[i], live[i], `${path}[${i}]`) ?? `${path}[${i}]`;
      j++;
    }
    return undefined;
  }
  if (isObject(desired)) {
    if (!isObject(live)) return path || '(root)';
    for (const [k, v] of Object.entries(desired)) {
      const sub = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
      const d = firstDifference(v, live[k], sub);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return sameScalar(desired, live, path) ? undefined : path || '(root)';
}

/** Why `target` (withAppliedHash) must be applied over `live`, or undefined when it need not be. */
export function applyReason(target: KubernetesObject, live: KubernetesObject | undefined): string | undefined {
  if (!live) return 'absent';
  if (live.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] !== target.metadata?.annotations?.[APPLIED_HASH_ANNOTATION]) {
    return 'desired state changed';
  }
  const d = firstDifference(target, live);
  return d === undefined ? undefined : `differs at ${d.replace(/^\./, '')}`;
}

/**
 * The live object with every field the desired object sets replaced by the desired value, lists whole: a
 * full update (PUT) that repairs what server-side apply cannot, e.g. a list item whose key another manager
 * changed (a Service port edited from 443 to 8443: applying port 443 again would add a second "https").
 */
export function overlay<T>(live: T, desired: unknown): T {
  if (!isObject(live) || !isObject(desired)) return structuredClone(desired) as T;
  const out: Record<string, Json> = { ...live };
  for (const [k, v] of Object.entries(desired)) {
    if (v === undefined) continue;
    out[k] = isObject(v) && isObject(live[k]) ? overlay(live[k], v) : structuredClone(v);
  }
  return out as T;
}

/** Whether `obj` is a child of this gateway that the operator made: its controller owner and our labels. */
export function isOwnedBy(obj: KubernetesObject, gw: XmppWebGateway): boolean {
  const uid = gw.metadata.uid;
  const labels = obj.metadata?.labels ?? {};
  return (
    uid !== undefined &&
    labels[MANAGED_BY] === MANAGER &&
    labels[LABEL_GATEWAY] === gw.metadata.name &&
    (obj.metadata?.ownerReferences ?? []).some((r) => r.uid === uid && r.controller === true)
  );
}

/** Status as written: compared as canonical JSON (key order and undefined fields do not count). */
export function sameStatus(a: unknown, b: unknown): boolean {
  return canonicalJson(strip(a ?? {})) === canonicalJson(strip(b ?? {}));
}

function strip(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v)) as unknown;
}
