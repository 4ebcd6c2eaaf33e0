// The configuration error and the rules beyond the schema (pairs of keys that must agree): without TypeBox, so
// the gateway's lean parser (src/gateway/config/parse.ts) and the full validator (validate.ts) share them.
import { CodedError } from '../errors/codes.ts';
import type { GatewayConfig } from './schema.ts';

export class ConfigError extends CodedError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super('XWG_GW_CONFIG_INVALID', `invalid configuration:\n  - ${issues.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** `/limits/maxDepth` → `limits.maxDepth` */
export function keyOf(path: string): string {
  return path.replace(/^\//, '').replaceAll('/', '.') || '(root)';
}

/** The rules no schema keyword expresses; [] when the configuration keeps them all. */
export function semanticIssues(c: GatewayConfig): string[] {
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
