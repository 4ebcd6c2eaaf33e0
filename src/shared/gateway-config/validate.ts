// Validation of a gateway configuration, once, at the edge: defaults applied, every error named by its key.
import { Value } from '@sinclair/typebox/value';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { GatewayConfig, NodeList } from './schema.ts';
import { CodedError } from '../errors/codes.ts';

export class ConfigError extends CodedError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super('XWG_GW_CONFIG_INVALID', `invalid configuration:\n  - ${issues.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

const checkConfig = TypeCompiler.Compile(GatewayConfig);
const checkNodeList = TypeCompiler.Compile(NodeList);

/** `/limits/maxDepth` → `limits.maxDepth` */
export function keyOf(path: string): string {
  return path.replace(/^\//, '').replaceAll('/', '.') || '(root)';
}

function collect(check: { Errors(v: unknown): Iterable<{ path: string; message: string; value: unknown }> }, value: unknown): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of check.Errors(value)) {
    // A union failure repeats for every branch; one line per key is what a person needs.
    const key = keyOf(e.path);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(`${key}: ${e.message} (got ${JSON.stringify(e.value)})`);
  }
  return out;
}

function semanticIssues(c: GatewayConfig): string[] {
  const issues: string[] = [];
  if (c.listen.port === 0 && c.listen.tlsPort === 0) issues.push('listen: at least one of listen.port and listen.tlsPort must be set');
  if (c.listen.tlsPort !== 0 && c.listen.certDir === '') issues.push('listen.certDir: required when listen.tlsPort is set');
  if (c.listen.tlsPort !== 0 && c.listen.tlsPort === c.listen.port) issues.push('listen.tlsPort: must differ from listen.port');
  if (c.admin.port !== 0 && (c.admin.port === c.listen.port || c.admin.port === c.listen.tlsPort)) {
    issues.push('admin.port: must differ from listen.port and listen.tlsPort (the admin listener is never a public one)');
  }
  for (const d of c.domains) {
    if (!c.upstream.domains[d] && !c.upstream.default) issues.push(`upstream.default: required, domain ${d} has no upstream.domains entry`);
  }
  if (c.domains.length === 0 && !c.upstream.default) issues.push('upstream.default: required when domains is empty');
  const upstreams = [...(c.upstream.default ? [['upstream.default', c.upstream.default] as const] : []), ...Object.entries(c.upstream.domains).map(([d, u]) => [`upstream.domains.${d}`, u] as const)];
  for (const [key, u] of upstreams) {
    if (u.host !== undefined && u.servers !== undefined) issues.push(`${key}: host and servers are exclusive`);
    if (u.port !== undefined && u.host === undefined) issues.push(`${key}.port: needs host (each of servers has its own port; SRV records name theirs)`);
  }
  for (const s of c.upstream.dns.servers) {
    if (!/^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|\[[0-9a-fA-F:.]+\](:\d{1,5})?|[0-9a-fA-F:]*:[0-9a-fA-F:.]+)$/.test(s)) {
      issues.push(`upstream.dns.servers: ${JSON.stringify(s)} is not an address like 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:53`);
    }
  }
  for (const p of [...c.websocket.paths, ...c.bosh.paths]) {
    if ((c.websocket.enabled && c.websocket.paths.includes(p)) && (c.bosh.enabled && c.bosh.paths.includes(p))) {
      issues.push(`bosh.paths: ${p} is also a websocket path`);
      break;
    }
  }
  for (const o of c.allowedOrigins) {
    if (o !== '*' && !/^[a-z][a-z0-9+.-]*:\/\/[^/]+$/i.test(o)) issues.push(`allowedOrigins: ${JSON.stringify(o)} is not an origin like https://chat.example.com`);
  }
  return issues;
}

/** Applies defaults and validates; throws ConfigError naming every bad key. */
export function parseGatewayConfig(input: unknown): GatewayConfig {
  const value = Value.Default(GatewayConfig, Value.Clone(input ?? {}));
  const issues = collect(checkConfig, value);
  if (issues.length > 0) throw new ConfigError(issues);
  const config = value as GatewayConfig;
  const semantic = semanticIssues(config);
  if (semantic.length > 0) throw new ConfigError(semantic);
  return config;
}

export function parseNodeList(input: unknown): NodeList {
  const value = Value.Default(NodeList, Value.Clone(input ?? {}));
  const issues = collect(checkNodeList, value);
  if (issues.length > 0) throw new ConfigError(issues);
  return value as NodeList;
}
