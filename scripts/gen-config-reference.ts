// Rewrites the configuration reference in README.md from the schema.
import { readFileSync, writeFileSync } from 'node:fs';
import { withReference } from '../src/shared/gateway-config/reference.ts';

const path = new URL('../README.md', import.meta.url);
writeFileSync(path, withReference(readFileSync(path, 'utf8')));
console.log('README.md configuration reference updated');
