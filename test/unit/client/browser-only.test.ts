// The client ships to browsers: nothing from Node, no dependencies, only relative imports.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '../../../src/client');

describe('src/client', () => {
  it('imports only its own modules', () => {
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        expect(m[1], `${f} imports ${m[1]}`).toMatch(/^\.\/[\w-]+\.ts$/);
      }
      expect(text, f).not.toMatch(/\b(?:require\(|process\.|Buffer\b|__dirname)/);
    }
  });
});
