// Writes the XmppWebGateway CRD (crds/xwg.io_xmppwebgateways.yaml) from src/operator/api/.
// Run after changing the API: node scripts/gen-crd.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CRD_FILE, renderCrdYaml } from '../src/operator/api/crd.ts';

const target = fileURLToPath(new URL(`../${CRD_FILE}`, import.meta.url));
writeFileSync(target, renderCrdYaml());
console.log(`wrote ${CRD_FILE}`);
