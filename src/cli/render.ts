// `xmpp-web-gateway render -f gateway.yaml`: the objects the operator applies for each XmppWebGateway,
// offline, from the same pure builders (desired/). Secrets of selfManaged certificates hold key material
// the operator makes at runtime: they are listed as placeholders, without data.
import { readFileSync } from 'node:fs';
import type { KubernetesObject } from '@kubernetes/client-node';
import { dump } from 'js-yaml';
import { codeOf } from '../shared/errors/codes.ts';
import { parseCommandLine } from './args.ts';
import { printError } from './errors.ts';
import { KIND, formatFieldError, type XmppWebGateway } from '../operator/api/index.ts';
import { buildDesired, certificatePlan, tlsSecretFor, type DesiredContext, type KubernetesNodeInfo } from '../operator/desired/index.ts';
import { checkGateway, describeDocument, isGatewayDocument, readDocuments } from './validate.ts';

/** Where the project publishes its image (Dockerfile, chart values, config/manager); a test keeps them equal. */
export const IMAGE_REPOSITORY = 'ghcr.io/xmpp-web-gateway/xmpp-web-gateway';

export function packageVersion(): string {
  // src/cli/ and dist/cli/ are both two levels below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export const defaultImage = (): string => `${IMAGE_REPOSITORY}:${packageVersion()}`;

const HELP = `usage: xmpp-web-gateway render -f gateway.yaml [options]

Prints, as multi-document YAML, the objects the operator applies for each ${KIND} in the files
(multi-document YAML or JSON, "-" for stdin), without a cluster. Resources are validated first.

options:
  -f, --filename FILE         input (repeatable)
  --image IMAGE               gateway image when spec.image is unset (default: ${IMAGE_REPOSITORY}:<version>)
  --cert-manager              render as if cert-manager is installed (default: when spec.tls.issuerRef is set)
  --no-cert-manager           render as if it is not (no Certificate objects)
  -n, --namespace NS          namespace of resources that name none (default: default)
  --kubernetes-nodes FILE     Kubernetes Nodes for spec.perKubernetesNode (e.g. kubectl get nodes -o yaml)

Secrets of selfManaged certificates are printed as placeholders without data: the operator makes their
keys at runtime. ownerReferences carry the resource's uid when the input has one (kubectl get -o yaml).`;

interface RenderOptions {
  image?: string;
  /** undefined: available exactly when spec.tls.issuerRef is set */
  certManager?: boolean;
  namespace?: string;
  kubernetesNodes?: readonly KubernetesNodeInfo[];
}

interface Rendered {
  /** what the operator applies, in its apply order, plus the selfManaged Secret placeholders after the ConfigMap */
  objects: KubernetesObject[];
  /** the placeholder Secrets among objects */
  placeholders: ReadonlySet<KubernetesObject>;
  /** what the builders could not build (buildDesired().problems) */
  problems: string[];
}

/** The objects of one valid resource. Throws DesiredStateError when the gateway would refuse its config. */
function renderGateway(resource: XmppWebGateway, opts: RenderOptions = {}): Rendered {
  const gw: XmppWebGateway = {
    ...resource,
    metadata: { ...resource.metadata, namespace: resource.metadata.namespace ?? opts.namespace ?? 'default' },
  };
  const ctx: DesiredContext = {
    defaultImage: opts.image ?? defaultImage(),
    certManagerAvailable: opts.certManager ?? gw.spec.tls?.issuerRef !== undefined,
    ...(opts.kubernetesNodes ? { kubernetesNodes: opts.kubernetesNodes } : {}),
  };
  const desired = buildDesired(gw, ctx);
  const plan = certificatePlan(gw, [], new Date(0), ctx);
  // The operator's own Secret builder, emptied: the shape it writes, without the material.
  const secrets: KubernetesObject[] = plan
    ? [{ secretName: plan.ca.secretName, node: undefined as string | undefined }, ...plan.leaves].map((s) => {
        const { data: _material, ...placeholder } = tlsSecretFor(gw, s.secretName, { certPem: '', keyPem: '', caPem: '' }, s.node);
        return placeholder as KubernetesObject;
      })
    : [];
  const objects = [...desired.objects];
  const afterConfigMap = objects.findIndex((o) => o.kind === 'ConfigMap') + 1;
  objects.splice(afterConfigMap, 0, ...secrets);
  return { objects, placeholders: new Set(secrets), problems: desired.problems };
}

const PLACEHOLDER_COMMENT =
  '# Placeholder: the operator creates this Secret at runtime with key material it generates\n' +
  '# (tls.crt, tls.key, ca.crt); render never prints keys. Not to be applied.\n';

function header(source: string, rendered: Rendered): string {
  const uidUnknown = rendered.objects.some((o) => o.metadata?.ownerReferences?.some((r) => r.uid === ''));
  return (
    `# ${source}: rendered by xmpp-web-gateway render ${packageVersion()}; the operator owns these objects.\n` +
    (uidUnknown ? '# ownerReferences[].uid is empty: the API server gives the resource its uid when it stores it.\n' : '')
  );
}

/** Multi-document YAML of every rendered resource, each document headed by a comment when it needs one. */
function renderYaml(parts: readonly { source: string; rendered: Rendered }[]): string {
  const docs: string[] = [];
  for (const { source, rendered } of parts) {
    for (const [i, o] of rendered.objects.entries()) {
      const head = i === 0 ? header(source, rendered) : '';
      const note = rendered.placeholders.has(o) ? PLACEHOLDER_COMMENT : '';
      docs.push(head + note + dump(o, { noRefs: true, lineWidth: -1 }));
    }
  }
  return docs.map((d) => `---\n${d}`).join('');
}

function readNodes(file: string): KubernetesNodeInfo[] {
  return readDocuments([file])
    .map((d) => d.value as KubernetesNodeInfo & { kind?: string })
    .filter((v) => v.kind === 'Node');
}

export async function runRender(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    {
      args: argv,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        image: { type: 'string' },
        'cert-manager': { type: 'boolean' },
        'no-cert-manager': { type: 'boolean' },
        namespace: { type: 'string', short: 'n' },
        'kubernetes-nodes': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    },
    HELP,
  );
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const files = values.filename ?? [];
  if (files.length === 0 || (values['cert-manager'] && values['no-cert-manager'])) {
    printError('XWG_CLI_USAGE', `render: ${files.length === 0 ? '-f is required' : '--cert-manager and --no-cert-manager exclude each other'}\n\n${HELP}`);
    return 2;
  }

  const opts: RenderOptions = {
    ...(values.image === undefined ? {} : { image: values.image }),
    ...(values['cert-manager'] ? { certManager: true } : values['no-cert-manager'] ? { certManager: false } : {}),
    ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
  };
  const parts: { source: string; rendered: Rendered }[] = [];
  let failed = false;
  try {
    if (values['kubernetes-nodes'] !== undefined) opts.kubernetesNodes = readNodes(values['kubernetes-nodes']);
    const docs = readDocuments(files).filter((d) => isGatewayDocument(d.value));
    if (docs.length === 0) {
      printError('XWG_CLI_NO_RESOURCE', `no ${KIND} found in ${files.join(', ')}`);
      return 1;
    }
    for (const doc of docs) {
      const checked = checkGateway(doc.value);
      if (!checked.ok) {
        failed = true;
        printError('XWG_CLI_INVALID_RESOURCE', `${describeDocument(doc)}: ${checked.errors.length} error${checked.errors.length === 1 ? '' : 's'}`);
        for (const e of checked.errors) console.error(`  ${formatFieldError(e)}`);
        continue;
      }
      const rendered = renderGateway(checked.resource, opts);
      for (const p of rendered.problems) printError('XWG_OP_NODES_SKIPPED', `${describeDocument(doc)}: ${p}`);
      if (checked.resource.spec.perKubernetesNode && !opts.kubernetesNodes) {
        printError('XWG_OP_NO_NODES', `${describeDocument(doc)}: spec.perKubernetesNode: no node objects without --kubernetes-nodes (kubectl get nodes -o yaml)`);
      }
      parts.push({ source: describeDocument(doc), rendered });
    }
  } catch (e) {
    // Unreadable input, or (DesiredStateError) a configuration the gateway would refuse.
    printError(codeOf(e) ?? 'XWG_CLI_INPUT_UNREADABLE', e instanceof Error ? e.message : String(e));
    return 1;
  }
  if (failed) return 1;
  process.stdout.write(renderYaml(parts));
  return 0;
}
