// The error table is the one vocabulary: docs/errors.md is generated from it, every code in it is reported
// somewhere, every warning and error log line carries one, and the operator's reasons all come from it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS_DOC, errorsReference } from '../../../scripts/gen-errors-reference.ts';
import { CodedError, ERRORS, STATE_REASONS, codeOf, formatCoded, reasonOf, type ErrorEntry } from '../../../src/shared/errors/codes.ts';

const src = path.resolve(import.meta.dirname, '../../../src');
const sources = (readdirSync(src, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.ts'))
  .map((f) => ({ file: `src/${f}`, text: readFileSync(path.join(src, f), 'utf8') }));
const table = ERRORS as Record<string, ErrorEntry>;

describe('docs/errors.md', () => {
  it('matches the error table (run `npm run gen` after changing src/shared/errors/codes.ts)', () => {
    expect(readFileSync(ERRORS_DOC, 'utf8')).toBe(errorsReference());
  });

  it('lists every code with its meaning, what to do, and its reason', () => {
    const doc = errorsReference();
    expect(doc).toContain('| `XWG_OP_INVALID_SPEC` | `InvalidSpec` | the XmppWebGateway breaks a rule of the CRD');
    for (const code of Object.keys(ERRORS)) expect(doc).toContain(`| \`${code}\` |`);
  });
});

describe('the error table', () => {
  it('names each code after its area, with a meaning and an action', () => {
    const prefix = { gateway: 'XWG_GW_', operator: 'XWG_OP_', cli: 'XWG_CLI_' };
    for (const [code, e] of Object.entries(table)) {
      expect(code).toMatch(/^XWG_[A-Z]+_[A-Z0-9_]+$/);
      expect(code.startsWith(prefix[e.area]), code).toBe(true);
      expect(e.meaning.length, code).toBeGreaterThan(10);
      expect(e.action.length, code).toBeGreaterThan(5);
      expect(e.meaning, code).not.toContain('\n');
    }
  });

  it('gives every operator reason once, in CamelCase, errors and states alike', () => {
    const reasons = [...Object.values(table).flatMap((e) => (e.reason === undefined ? [] : [e.reason])), ...Object.keys(STATE_REASONS)];
    expect(new Set(reasons).size).toBe(reasons.length);
    for (const r of reasons) expect(r).toMatch(/^[A-Z][A-Za-z]+$/);
    expect(reasonOf('XWG_OP_TLS_SECRET_MISSING')).toBe('SecretMissing');
  });

  it('has no code that nothing reports', () => {
    const elsewhere = sources.filter((s) => s.file !== 'src/shared/errors/codes.ts').map((s) => s.text).join('\n');
    const unused = Object.keys(table).filter((code) => !elsewhere.includes(`'${code}'`));
    expect(unused).toEqual([]);
  });

  it('carries codes on errors, and prints them first', () => {
    const e = new CodedError('XWG_CLI_USAGE', '--port: not a number');
    expect(codeOf(e)).toBe('XWG_CLI_USAGE');
    expect(codeOf(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBeUndefined();
    expect(codeOf('text')).toBeUndefined();
    expect(formatCoded(e.code, e.message)).toBe('XWG_CLI_USAGE: --port: not a number');
  });
});

describe('shipped code', () => {
  it('gives every warning and error log line a code from the table', () => {
    const call = /\b(?:log|logger|#log|this\.log)\??\.(?:warn|error|fatal)\(\s*/g;
    const uncoded: string[] = [];
    for (const { file, text } of sources) {
      for (const m of text.matchAll(call)) {
        const rest = text.slice(m.index + m[0].length, m.index + m[0].length + 200);
        if (!rest.startsWith('withCode(')) uncoded.push(`${file}: ${text.slice(m.index, m.index + m[0].length + 80).split('\n')[0]}`);
      }
    }
    expect(uncoded).toEqual([]);
  });

  it('parses no error message to decide anything', () => {
    for (const { file, text } of sources) expect(text, file).not.toMatch(/\.message\.(?:split|match|includes|startsWith|replace)\(|\.test\((?:e|err|error)\.message\)/);
  });

  it('takes every operator condition and Event reason from the table', () => {
    const known = new Set([...Object.values(table).flatMap((e) => (e.reason === undefined ? [] : [e.reason])), ...Object.keys(STATE_REASONS)]);
    const operator = sources.filter((s) => s.file.startsWith('src/operator/'));
    const literals = operator.flatMap(({ file, text }) => [...text.matchAll(/\b(?:normal|warning)\(\s*[\w.]+(?: as \w+)?,\s*'([A-Za-z]+)'/g)].map((m) => ({ file, reason: m[1]! })));
    expect(literals.length).toBeGreaterThan(3);
    for (const { file, reason } of literals) expect(known.has(reason), `${file}: Event reason ${reason}`).toBe(true);
    for (const { file, text } of operator.filter((s) => s.file.includes('/desired/'))) expect(text, file).not.toMatch(/reason: '[A-Z]/);
  });
});
