// Benches run the gateway and the operator with the Node options the image's runtime stage sets.
import { describe, expect, it } from 'vitest';
import { imageNodeOptions } from '../../../dev/bench/image-runtime.ts';

describe('imageNodeOptions', () => {
  it("reads NODE_OPTIONS from the last stage's ENV, not from the build stage's", () => {
    const dockerfile = ['FROM node AS build', 'ENV NODE_OPTIONS=--max-old-space-size=4096', 'FROM distroless AS runtime', 'ENV NODE_ENV=production \\', '    NODE_OPTIONS="--max-semi-space-size=2 --no-warnings" \\', '    TMPDIR=/tmp'].join('\n');
    expect(imageNodeOptions(dockerfile)).toEqual(['--max-semi-space-size=2', '--no-warnings']);
  });

  it('is empty when the runtime sets none', () => {
    expect(imageNodeOptions('FROM a AS build\nENV NODE_OPTIONS=--x\nFROM b\nENV TMPDIR=/tmp\n')).toEqual([]);
  });

  it('reads the repository Dockerfile by default', () => {
    expect(imageNodeOptions()).toContain('--max-semi-space-size=4');
  });
});
