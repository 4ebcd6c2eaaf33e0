// Rewrites src/shared/gateway-config/compiled.ts (the configuration schemas as JSON and their compiled checks).
import { writeFileSync } from 'node:fs';
import { compiledModule } from '../src/shared/gateway-config/compile.ts';

writeFileSync(new URL('../src/shared/gateway-config/compiled.ts', import.meta.url), compiledModule());
console.log('src/shared/gateway-config/compiled.ts updated');
