// Limits applied to every XML input, from either side; restricted XML per RFC 6120 §11.1.
import type { SaxesParser } from 'saxes';
import type { StreamErrorCondition } from '../errors.ts';

export interface XmlLimits {
  /** Largest top-level element, in characters of its serialized form. */
  maxStanzaBytes: number;
  /** Deepest nesting below the element that is relayed as a whole (the stanza is depth 1). */
  maxDepth: number;
  maxAttributes: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = { maxStanzaBytes: 262_144, maxDepth: 64, maxAttributes: 256 };

export class XmlInputError extends Error {
  readonly condition: StreamErrorCondition;
  constructor(condition: StreamErrorCondition, message: string) {
    super(message);
    this.name = 'XmlInputError';
    this.condition = condition;
  }
}

/**
 * RFC 6120 §11.1: comments, processing instructions, internal or external DTD subsets
 * and entity references other than the predefined ones are refused. saxes never
 * expands a DTD entity, so an undeclared entity is a well-formedness error.
 */
export function refuseRestrictedXml(parser: SaxesParser, fail: (e: XmlInputError) => void): void {
  parser.on('doctype', () => fail(new XmlInputError('restricted-xml', 'DOCTYPE is not allowed')));
  parser.on('comment', () => fail(new XmlInputError('restricted-xml', 'comments are not allowed')));
  parser.on('processinginstruction', () =>
    fail(new XmlInputError('restricted-xml', 'processing instructions are not allowed')),
  );
}
