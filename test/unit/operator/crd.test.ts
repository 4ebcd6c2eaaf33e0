import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { CRD_FILE, RULES, buildCrd, renderCrdYaml, type JSONSchemaProps } from '../../../src/operator/api/index.ts';
import { schemaAt } from '../../../src/operator/api/openapi.ts';

const committed = fileURLToPath(new URL(`../../../${CRD_FILE}`, import.meta.url));

function walk(s: JSONSchemaProps, path: string, visit: (s: JSONSchemaProps, path: string) => void): void {
  visit(s, path);
  for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, JSONSchemaProps>)) walk(v, `${path}.${k}`, visit);
  if (s.items) walk(s.items as JSONSchemaProps, `${path}[*]`, visit);
  if (typeof s.additionalProperties === 'object') walk(s.additionalProperties as JSONSchemaProps, `${path}{*}`, visit);
}

const root = () => buildCrd().spec.versions[0]!.schema.openAPIV3Schema;

describe('CustomResourceDefinition', () => {
  it(`matches the committed ${CRD_FILE}`, () => {
    const onDisk = readFileSync(committed, 'utf8');
    expect(onDisk === renderCrdYaml(), `${CRD_FILE} is out of date: run \`node scripts/gen-crd.ts\` and commit the result`).toBe(true);
  });

  it('round-trips through YAML unchanged', () => {
    expect(load(renderCrdYaml())).toEqual(JSON.parse(JSON.stringify(buildCrd())));
  });

  it('has a structural schema: a type everywhere, no TypeBox or JSON Schema leftovers', () => {
    walk(root(), '', (s, path) => {
      const intOrString = s['x-kubernetes-int-or-string'] === true;
      if (!intOrString) expect(typeof s.type, `${path} has no type`).toBe('string');
      if (intOrString) expect(s.anyOf).toEqual([{ type: 'integer' }, { type: 'string' }]);
      else expect(s.anyOf, path).toBeUndefined();
      for (const key of ['$id', 'const', 'patternProperties', 'title', 'examples', 'uniqueItems']) expect(s[key], `${path}.${key}`).toBeUndefined();
      expect(s.additionalProperties === false || s.additionalProperties === true, `${path}: additionalProperties must be a schema`).toBe(false);
      for (const k of Object.keys(s)) if (k.startsWith('x-') && !k.startsWith('x-kubernetes-')) throw new Error(`${path}: ${k}`);
    });
  });

  it('bounds every list and string of the spec, so that CEL rules stay within the cost budget', () => {
    const spec = (root().properties as Record<string, JSONSchemaProps>).spec!;
    walk(spec, 'spec', (s, path) => {
      if (s.type === 'array') expect(s.maxItems, `${path} has no maxItems`).toBeTypeOf('number');
      if (s.type === 'string' && !s.enum) expect(s.maxLength, `${path} has no maxLength`).toBeTypeOf('number');
    });
  });

  it('turns literal unions into enums and keeps defaults', () => {
    const spec = (root().properties as Record<string, JSONSchemaProps>).spec!;
    const tls = schemaAt(spec, 'upstream.tls');
    expect(tls).toMatchObject({ type: 'string', enum: ['starttls', 'directTLS', 'none'], default: 'starttls' });
    expect(schemaAt(spec, 'tls').default).toEqual({ selfManaged: {} });
    expect(schemaAt(spec, 'perKubernetesNode.exposure').enum).toEqual(['HostPort', 'NodePort']);
  });

  it('does not list defaulted fields as required (their parent defaults to {})', () => {
    const spec = (root().properties as Record<string, JSONSchemaProps>).spec!;
    expect(schemaAt(spec, 'websocket').required).toBeUndefined();
    expect(schemaAt(spec, 'tls.issuerRef').required).toEqual(['name']);
  });

  it('places every CEL rule where it applies, with a fieldPath that exists', () => {
    const schema = root();
    for (const rule of RULES) {
      for (const at of rule.at) {
        const node = schemaAt(schema, at);
        const rules = node['x-kubernetes-validations'] as { rule: string }[];
        expect(rules.map((r) => r.rule), `${rule.id} at ${at}`).toContain(rule.rule);
        if (rule.fieldPath) expect(() => schemaAt(node, rule.fieldPath!.slice(1))).not.toThrow();
      }
    }
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
  });

  it('names the kind, shows the printer columns and has a status subresource', () => {
    const crd = buildCrd();
    expect(crd.metadata.name).toBe('xmppwebgateways.xwg.io');
    expect(crd.spec.names).toMatchObject({ kind: 'XmppWebGateway', plural: 'xmppwebgateways', shortNames: ['xwg'] });
    expect(crd.spec.scope).toBe('Namespaced');
    const version = crd.spec.versions[0]!;
    expect(version.subresources).toEqual({ status: {} });
    expect(version.additionalPrinterColumns.filter((c) => c.priority === undefined).map((c) => c.name)).toEqual(['Domains', 'Nodes', 'Ready', 'Age']);
  });
});
