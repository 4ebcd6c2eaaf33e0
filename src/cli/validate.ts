// `xmpp-web-gateway validate -f file.yaml`: checks XmppWebGateway resources offline, as the API server
// would (schema, defaults, CEL rules), then builds each one's objects so that a spec the gateway itself
// would refuse is caught too. Errors name the field: `spec.nodes[1].host: node hosts must be unique`.
import { readFileSync } from 'node:fs';
import { loadAll } from 'js-yaml';
import { API_VERSION, GROUP, KIND, formatFieldError, validateGatewayResource, type FieldError, type XmppWebGateway } from '../operator/api/index.ts';
import { DesiredStateError, buildDesired } from '../operator/desired/index.ts';
import { parseCommandLine } from './args.ts';
import { printError } from './errors.ts';
import { formatCoded } from '../shared/errors/codes.ts';

const HELP = `usage: xmpp-web-gateway validate -f file.yaml [-f more.yaml ...]

Checks every ${KIND} (${API_VERSION}) in the files (multi-document YAML or JSON, "-" for stdin;
List objects are opened) against the CRD schema and its rules, with defaults applied as the API
server applies them, then renders its objects. Prints "path: message" for each error.
Documents of other kinds are skipped. Exit status: 0 all valid, 1 errors, 2 usage.`;

/** One YAML document of an input file. */
export interface InputDocument {
  file: string;
  /** 1-based position in the file (items of a List count as their own documents) */
  index: number;
  value: unknown;
}

/** Every document of the files, List items flattened; throws an Error naming the file on a YAML error. */
export function readDocuments(files: readonly string[], stdin: () => string = () => readFileSync(0, 'utf8')): InputDocument[] {
  const out: InputDocument[] = [];
  for (const file of files) {
    const text = file === '-' ? stdin() : readFileSync(file, 'utf8');
    let docs: unknown[];
    try {
      docs = loadAll(text, null, { filename: file });
    } catch (e) {
      throw new Error(`${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    let index = 0;
    for (const doc of docs) {
      if (doc === null || doc === undefined) continue;
      const items = isList(doc) ? doc.items : [doc];
      for (const value of items) out.push({ file, index: ++index, value });
    }
  }
  return out;
}

function isList(doc: unknown): doc is { items: unknown[] } {
  const d = doc as { kind?: unknown; items?: unknown };
  return typeof d === 'object' && typeof d.kind === 'string' && d.kind.endsWith('List') && Array.isArray(d.items);
}

/** Whether a document means to be an XmppWebGateway (so a misspelt kind is reported, not skipped). */
export function isGatewayDocument(value: unknown): boolean {
  const v = value as { apiVersion?: unknown; kind?: unknown } | null;
  if (typeof v !== 'object' || v === null) return false;
  return v.kind === KIND || (typeof v.apiVersion === 'string' && v.apiVersion.startsWith(`${GROUP}/`));
}

export type Checked = { ok: true; resource: XmppWebGateway } | { ok: false; errors: readonly FieldError[] };

/** The API server's judgement (validateGatewayResource), then the builders' (a config the gateway refuses). */
export function checkGateway(value: unknown): Checked {
  const result = validateGatewayResource(value);
  if (!result.ok) return { ok: false, errors: result.errors };
  try {
    buildDesired(result.resource, { defaultImage: 'validate', certManagerAvailable: true });
  } catch (e) {
    if (e instanceof DesiredStateError) return { ok: false, errors: e.issues.map((issue) => ({ path: 'spec', message: `${e.summary}: ${issue}` })) };
    throw e;
  }
  return { ok: true, resource: result.resource };
}

export function describeDocument(doc: InputDocument): string {
  const meta = (doc.value as { metadata?: { name?: unknown; namespace?: unknown } }).metadata;
  const name = typeof meta?.name === 'string' ? meta.name : '(no name)';
  const ns = typeof meta?.namespace === 'string' ? `${meta.namespace}/` : '';
  return `${doc.file}: ${KIND} ${ns}${name} (document ${doc.index})`;
}

export async function runValidate(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    { args: argv, options: { filename: { type: 'string', short: 'f', multiple: true }, help: { type: 'boolean', short: 'h' } }, allowPositionals: false },
    HELP,
  );
  if (typeof parsed === 'number') return parsed;
  const files = parsed.values.filename ?? [];
  if (files.length === 0) {
    printError('XWG_CLI_USAGE', `validate: -f is required\n\n${HELP}`);
    return 2;
  }

  let docs: InputDocument[];
  try {
    docs = readDocuments(files);
  } catch (e) {
    printError('XWG_CLI_INPUT_UNREADABLE', e instanceof Error ? e.message : String(e));
    return 1;
  }
  const gateways = docs.filter((d) => isGatewayDocument(d.value));
  if (gateways.length === 0) {
    printError('XWG_CLI_NO_RESOURCE', `no ${KIND} found in ${files.join(', ')}`);
    return 1;
  }
  let failed = 0;
  for (const doc of gateways) {
    const checked = checkGateway(doc.value);
    if (checked.ok) {
      console.log(`${describeDocument(doc)}: ok`);
      continue;
    }
    failed++;
    console.log(formatCoded('XWG_CLI_INVALID_RESOURCE', `${describeDocument(doc)}: ${checked.errors.length} error${checked.errors.length === 1 ? '' : 's'}`));
    for (const e of checked.errors) console.log(`  ${formatFieldError(e)}`);
  }
  if (failed > 0) return 1;
  console.log('ok');
  return 0;
}
