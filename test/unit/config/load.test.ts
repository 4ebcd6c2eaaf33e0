import { describe, expect, it } from 'vitest';
import { envName, loadGatewayConfig } from '../../../src/gateway/config/load.ts';
import { ConfigError } from '../../../src/shared/gateway-config/validate.ts';

const files: Record<string, string> = {
  'gw.yaml': 'domains: [example.com]\nupstream:\n  default: { host: 127.0.0.1, port: 5222, tls: none }\nlimits:\n  maxStanzaBytes: 1000\n',
  'bad.yaml': 'limits: [1, 2',
  'list.yaml': '- a\n- b\n',
};
const readFile = (p: string) => {
  const text = files[p];
  if (text === undefined) throw new Error('ENOENT: no such file');
  return text;
};
const errorOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return 'no error';
};

describe('gateway configuration', () => {
  it('merges file < environment < flags, typed by the schema', () => {
    const config = loadGatewayConfig({
      argv: ['--config', 'gw.yaml', '--limits.maxStanzaBytes=3000', '--allowedOrigins', 'https://a.example,https://b.example', '--listen.proxyProtocol'],
      env: { XWG_LIMITS__MAX_STANZA_BYTES: '2000', XWG_LIMITS__MAX_DEPTH: '9', XWG_WEBSOCKET__PING_INTERVAL_MS: '0' },
      readFile,
    });
    expect(config.limits.maxStanzaBytes).toBe(3000);
    expect(config.limits.maxDepth).toBe(9);
    expect(config.websocket.pingIntervalMs).toBe(0);
    expect(config.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.listen.proxyProtocol).toBe(true);
    expect(config.upstream.default).toEqual({ host: '127.0.0.1', port: 5222, tls: 'none' });
    expect(config.websocket.paths).toEqual(['/xmpp-websocket', '/ws']);
  });

  it('puts the admin listener on loopback port 9280 by default, off with port 0, probes off the public ports', () => {
    const defaults = loadGatewayConfig({ argv: ['--upstream.default.host=x'], env: {} });
    expect(defaults.admin).toEqual({ host: '127.0.0.1', port: 9280, publicProbes: false });
    const pod = loadGatewayConfig({ argv: ['--upstream.default.host=x', '--admin.host=0.0.0.0', '--admin.publicProbes'], env: { XWG_ADMIN__PORT: '0' } });
    expect(pod.admin).toEqual({ host: '0.0.0.0', port: 0, publicProbes: true });
  });

  it('names environment variables after keys', () => {
    expect(envName('limits.maxStanzaBytes')).toBe('XWG_LIMITS__MAX_STANZA_BYTES');
    expect(envName('nodeName')).toBe('XWG_NODE_NAME');
  });

  it.each([
    [['--limits.maxDepthh=3', '--upstream.default.host=x'], /unknown configuration key limits\.maxDepthh/],
    [['--limits.maxDepth=deep', '--upstream.default.host=x'], /limits\.maxDepth: Expected integer/],
    [['--upstream.default.tls=ssl', '--upstream.default.host=x'], /upstream\.default\.tls/],
    [['--listen.port=0'], /listen\.port and listen\.tlsPort/],
    [['--listen.tlsPort=5443', '--upstream.default.host=x'], /listen\.certDir: required/],
    [['--admin.port=5280', '--upstream.default.host=x'], /admin\.port: must differ from listen\.port/],
    [['--admin.port=5443', '--listen.tlsPort=5443', '--listen.certDir=/c', '--upstream.default.host=x'], /admin\.port: must differ/],
    [['--admin.port=70000', '--upstream.default.host=x'], /admin\.port: Expected integer to be less or equal/],
    [['--admin.publicProbes=maybe', '--upstream.default.host=x'], /admin\.publicProbes/],
    [[], /upstream\.default: required/],
    [['--allowedOrigins=chat.example.com', '--upstream.default.host=x'], /allowedOrigins: "chat\.example\.com" is not an origin/],
    [['--config', 'bad.yaml'], /config file bad\.yaml/],
    [['--config', 'list.yaml'], /top level must be a mapping/],
    [['--config', 'missing.yaml'], /config file missing\.yaml: ENOENT/],
    [['positional'], /unexpected argument/],
  ])('refuses %j with a message naming the key', (argv, message) => {
    expect(errorOf(() => loadGatewayConfig({ argv, env: {}, readFile }))).toMatch(message);
  });

  it('reports XWG_ variables that name no key without failing', () => {
    const unknown: string[] = [];
    loadGatewayConfig({ argv: ['--upstream.default.host=x'], env: { XWG_SKIP_KUBE: '1' }, onUnknownVariable: (n) => unknown.push(n) });
    expect(unknown).toEqual(['XWG_SKIP_KUBE']);
  });
});
