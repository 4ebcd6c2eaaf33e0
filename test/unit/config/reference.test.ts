import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configReference, withReference } from '../../../src/shared/gateway-config/reference.ts';

describe('README configuration reference', () => {
  it('matches the schema (run `node scripts/gen-config-reference.ts` after changing it)', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    expect(readme).toBe(withReference(readme));
  });
  it('lists every key with its default', () => {
    const table = configReference();
    expect(table).toContain('| `limits.maxStanzaBytes` | integer | `262144` |');
    expect(table).toContain('| `upstream.default.tls` |');
    expect(table).toContain(`\`["/xmpp-websocket","/ws"]\``);
  });
});
