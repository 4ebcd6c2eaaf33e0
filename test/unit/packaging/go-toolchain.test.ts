// The Go version dev/prepare.ts demands before it builds the Kubernetes binaries.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GO_TOOLCHAIN, requiredGoVersion, versionAtLeast } from '../../../dev/go-toolchain.ts';

describe('Go toolchain', () => {
  it.each([
    ['1.26.8', '1.26.0', true],
    ['1.26', '1.26.0', true],
    ['1.25.9', '1.26.0', false],
    ['1.9', '1.10', false],
    ['2.0', '1.99.99', true],
  ])('%s satisfies %s: %s', (have, need, ok) => expect(versionAtLeast(have, need)).toBe(ok));

  it('takes the highest go directive, and the pinned toolchain satisfies the go.mod files', () => {
    expect(requiredGoVersion(['module a\n\ngo 1.25.0\n', 'module b\ngo 1.26.0\ntoolchain go1.26.1\n', 'module c\n'])).toBe('1.26.0');
    const root = path.join(import.meta.dirname, '../../../dev/cluster/go');
    const mods = readdirSync(root).map((d) => readFileSync(path.join(root, d, 'go.mod'), 'utf8'));
    expect(mods.length).toBeGreaterThan(2);
    expect(versionAtLeast(GO_TOOLCHAIN, requiredGoVersion(mods))).toBe(true);
  });
});
