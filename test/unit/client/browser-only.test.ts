// The client ships to browsers. Its imports are checked by the dependency rules (.dependency-cruiser.cjs,
// `client-is-browser-only`); what an import check cannot see is a Node global used without an import.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '../../../src/client');

describe('src/client', () => {
  it('uses no Node global', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) expect(readFileSync(join(dir, f), 'utf8'), f).not.toMatch(/\b(?:require\(|process\.|Buffer\b|__dirname)/);
  });
});
