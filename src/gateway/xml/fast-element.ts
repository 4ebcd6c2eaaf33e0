// A fast, conservative check of one XML element, for the hot paths (every stanza in both directions).
//
// It accepts only a plain subset of XML: ASCII names, quoted attribute values, the five predefined entities,
// text of valid XML characters. Anything else (comments, PIs, CDATA, DOCTYPE, character references, non-ASCII
// names, limits exceeded, any error at all) makes it answer UNSURE, and the caller hands the input to saxes,
// which decides and reports exactly as before. So the subset it accepts is accepted by saxes too, and every
// refusal, with its condition and message, still comes from saxes.
import type { XmlLimits } from './limits.ts';

export const INCOMPLETE = -1;
const UNSURE = -2;

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

export interface FastElement {
  /** index just past the element's end */
  end: number;
  /** qualified name of the root */
  name: string;
  local: string;
  prefix: string;
  uri: string;
  /** namespace declarations on the root ('' is the default namespace) */
  ns: Record<string, string>;
  /** the root's attributes other than namespace declarations, by qualified name (when asked for) */
  attributes: Record<string, string> | undefined;
}

// Character codes.
const C = {
  TAB: 9,
  LF: 10,
  CR: 13,
  SPACE: 32,
  DQUOTE: 34,
  AMP: 38,
  QUOTE: 39,
  DASH: 45,
  DOT: 46,
  SLASH: 47,
  COLON: 58,
  LT: 60,
  EQ: 61,
  GT: 62,
  BRACKET: 93,
  UNDERSCORE: 95,
} as const;

function isWs(c: number): boolean {
  return c === C.SPACE || c === C.LF || c === C.TAB || c === C.CR;
}

function isNameStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === C.UNDERSCORE;
}

function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === C.UNDERSCORE || c === C.DASH || c === C.DOT;
}

/**
 * Reads an ASCII QName at i; returns the index past it, or INCOMPLETE/UNSURE. `colon` gets the colon's index
 * (or -1) through the shared scratch slot.
 */
let colonAt = -1;
function readName(s: string, i: number): number {
  const n = s.length;
  if (i >= n) return INCOMPLETE;
  if (!isNameStart(s.charCodeAt(i))) return UNSURE;
  colonAt = -1;
  let j = i + 1;
  for (; j < n; j++) {
    const c = s.charCodeAt(j);
    if (isNameChar(c)) continue;
    if (c === C.COLON) {
      if (colonAt >= 0 || j + 1 >= n) return j + 1 >= n ? INCOMPLETE : UNSURE;
      if (!isNameStart(s.charCodeAt(j + 1))) return UNSURE;
      colonAt = j;
      continue;
    }
    if (c >= 0x80) return UNSURE;
    return j;
  }
  return INCOMPLETE;
}

const ENTITIES = ['lt;', 'gt;', 'amp;', 'quot;', 'apos;'];

/** Checks character data s[from, to): valid XML characters, predefined entities only, no ']]>' in text. */
function checkChars(s: string, from: number, to: number, inText: boolean): number {
  for (let k = from; k < to; k++) {
    const c = s.charCodeAt(k);
    if (c >= 0x20 && c < 0xd800) {
      if (c === C.AMP) {
        let ok = false;
        for (const e of ENTITIES) {
          if (s.startsWith(e, k + 1)) {
            k += e.length;
            ok = true;
            break;
          }
        }
        // an unknown reference, or one cut off by the end of the input so far
        if (!ok) return to === s.length && k + 6 > to ? INCOMPLETE : UNSURE;
      } else if (c === C.GT && inText && k >= from + 2 && s.charCodeAt(k - 1) === C.BRACKET && s.charCodeAt(k - 2) === C.BRACKET) {
        return UNSURE;
      } else if (c === C.LT) {
        return UNSURE;
      }
      continue;
    }
    if (c < 0x20) {
      if (c === C.TAB || c === C.LF || c === C.CR) continue;
      return UNSURE;
    }
    if (c <= 0xdbff) {
      // a high surrogate needs its low one
      if (k + 1 >= to) return to === s.length ? INCOMPLETE : UNSURE;
      const d = s.charCodeAt(k + 1);
      if (d < 0xdc00 || d > 0xdfff) return UNSURE;
      k += 1;
      continue;
    }
    if (c <= 0xdfff || c === 0xfffe || c === 0xffff) return UNSURE;
  }
  return 0;
}

// Scratch state, reused between calls (the check is synchronous and not re-entrant).
const names: string[] = [];
const decls: string[] = [];
const frames: number[] = [];
const attrNames: string[] = [];
const attrValues: string[] = [];
const attrColons: number[] = [];

function lookup(prefix: string, inherited: Readonly<Record<string, string>> | undefined): string | undefined {
  for (let k = decls.length - 2; k >= 0; k -= 2) if (decls[k] === prefix) return decls[k + 1];
  if (prefix === 'xml') return XML_NS;
  return inherited?.[prefix] ?? (prefix === '' ? '' : undefined);
}

/**
 * The element starting at s[start] ('<'): its end and root facts, INCOMPLETE when s ends inside it (a stream
 * may bring the rest), or UNSURE when the fast check cannot vouch for it (then saxes must decide).
 * `inherited` are the namespaces in scope around it (the stream header's).
 */
export function fastElement(
  s: string,
  start: number,
  limits: XmlLimits,
  inherited: Readonly<Record<string, string>> | undefined,
  wantAttributes: boolean,
): FastElement | number {
  names.length = 0;
  decls.length = 0;
  frames.length = 0;
  const n = s.length;
  if (start >= n) return INCOMPLETE;
  if (s.charCodeAt(start) !== C.LT) return UNSURE;
  let i = start;
  let root: FastElement | undefined;
  for (;;) {
    // s[i] is '<'
    if (i + 1 >= n) return INCOMPLETE;
    const c1 = s.charCodeAt(i + 1);
    if (c1 === C.SLASH) {
      const nameEnd = readName(s, i + 2);
      if (nameEnd < 0) return nameEnd;
      const name = s.slice(i + 2, nameEnd);
      if (name !== names[names.length - 1]) return UNSURE;
      let j = nameEnd;
      while (j < n && isWs(s.charCodeAt(j))) j++;
      if (j >= n) return INCOMPLETE;
      if (s.charCodeAt(j) !== C.GT) return UNSURE;
      names.pop();
      decls.length = frames.pop()!;
      i = j + 1;
      if (names.length === 0) {
        root!.end = i;
        return root!;
      }
    } else {
      const nameEnd = readName(s, i + 1);
      if (nameEnd < 0) return nameEnd;
      const elColon = colonAt;
      const name = s.slice(i + 1, nameEnd);
      frames.push(decls.length);
      attrNames.length = 0;
      attrValues.length = 0;
      attrColons.length = 0;
      let j = nameEnd;
      let selfClosing = false;
      for (;;) {
        const wsFrom = j;
        while (j < n && isWs(s.charCodeAt(j))) j++;
        if (j >= n) return INCOMPLETE;
        const c = s.charCodeAt(j);
        if (c === C.GT) {
          j += 1;
          break;
        }
        if (c === C.SLASH) {
          if (j + 1 >= n) return INCOMPLETE;
          if (s.charCodeAt(j + 1) !== C.GT) return UNSURE;
          selfClosing = true;
          j += 2;
          break;
        }
        if (j === wsFrom) return UNSURE; // attributes are separated by whitespace
        const an = readName(s, j);
        if (an < 0) return an;
        const attrColon = colonAt < 0 ? -1 : colonAt - j;
        const attrName = s.slice(j, an);
        j = an;
        while (j < n && isWs(s.charCodeAt(j))) j++;
        if (j >= n) return INCOMPLETE;
        if (s.charCodeAt(j) !== C.EQ) return UNSURE;
        j += 1;
        while (j < n && isWs(s.charCodeAt(j))) j++;
        if (j >= n) return INCOMPLETE;
        const q = s.charCodeAt(j);
        if (q !== C.QUOTE && q !== C.DQUOTE) return UNSURE;
        const close = s.indexOf(q === C.QUOTE ? "'" : '"', j + 1);
        if (close < 0) return INCOMPLETE;
        const bad = checkChars(s, j + 1, close, false);
        if (bad !== 0) return UNSURE;
        for (let k = 0; k < attrNames.length; k++) if (attrNames[k] === attrName) return UNSURE;
        attrNames.push(attrName);
        attrValues.push(s.slice(j + 1, close));
        attrColons.push(attrColon);
        j = close + 1;
        if (attrNames.length > limits.maxAttributes) return UNSURE;
      }
      // Namespace declarations first: they apply to the element and its attributes.
      let own: Record<string, string> | undefined;
      for (let k = 0; k < attrNames.length; k++) {
        const an = attrNames[k]!;
        const value = attrValues[k]!;
        let prefix: string;
        if (an === 'xmlns') prefix = '';
        else if (attrColons[k] === 5 && an.startsWith('xmlns:')) {
          prefix = an.slice(6);
          if (value === '' || prefix === 'xml' || prefix === 'xmlns') return UNSURE;
        } else continue;
        // saxes trims a namespace name (so ' ' undeclares a prefix, which XML 1.0 forbids): let it judge those
        if (value === XML_NS || value === XMLNS_NS || value.includes('&') || (value !== '' && (isWs(value.charCodeAt(0)) || isWs(value.charCodeAt(value.length - 1))))) return UNSURE;
        decls.push(prefix, value);
        if (root === undefined) (own ??= {})[prefix] = value;
      }
      const elPrefix = elColon < 0 ? '' : name.slice(0, elColon - (i + 1));
      if (elPrefix === 'xmlns' || elPrefix === 'xml') return UNSURE;
      const uri = lookup(elPrefix, inherited);
      if (uri === undefined) return UNSURE;
      let prefixedLocals: string[] | undefined;
      for (let k = 0; k < attrNames.length; k++) {
        const colon = attrColons[k]!;
        if (colon < 0) continue;
        const an = attrNames[k]!;
        const p = an.slice(0, colon);
        if (p === 'xmlns') continue;
        if (lookup(p, inherited) === undefined) return UNSURE;
        // two prefixed attributes with one local name might be one expanded name: let saxes judge
        const local = an.slice(colon + 1);
        if (prefixedLocals?.includes(local)) return UNSURE;
        (prefixedLocals ??= []).push(local);
      }
      names.push(name);
      if (names.length > limits.maxDepth) return UNSURE;
      if (root === undefined) {
        let attributes: Record<string, string> | undefined;
        if (wantAttributes) {
          attributes = {};
          for (let k = 0; k < attrNames.length; k++) {
            const an = attrNames[k]!;
            if (an === 'xmlns' || (attrColons[k] === 5 && an.startsWith('xmlns:'))) continue;
            const v = attrValues[k]!;
            // saxes decodes entities and normalizes whitespace in values: leave those to it
            for (let x = 0; x < v.length; x++) {
              const c = v.charCodeAt(x);
              if (c === C.AMP || c === C.TAB || c === C.LF || c === C.CR) return UNSURE;
            }
            attributes[an] = v;
          }
        }
        root = { end: 0, name, local: elColon < 0 ? name : name.slice(elColon - i), prefix: elPrefix, uri, ns: own ?? {}, attributes };
      }
      i = j;
      if (selfClosing) {
        names.pop();
        decls.length = frames.pop()!;
        if (names.length === 0) {
          root.end = i;
          return root;
        }
      }
    }
    // character data up to the next tag
    const lt = s.indexOf('<', i);
    const bad = checkChars(s, i, lt < 0 ? n : lt, true);
    if (bad !== 0) return bad;
    if (lt < 0) return INCOMPLETE;
    i = lt;
  }
}
