// Starts gateways in the test process, configured through the same validation as the CLI.
import { pino, type Logger } from 'pino';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { parseGatewayConfig } from '../../src/shared/gateway-config/validate.ts';
import { freePort } from './ports.ts';

export interface TestGateway extends GatewayHandle {
  url(path?: string): string;
  wsUrl(path?: string): string;
  /** On the admin listener (/metrics, /healthz, /readyz). */
  adminUrl(path?: string): string;
}

/**
 * `config` is a raw configuration as a user would write it; free loopback ports are filled in (the admin
 * listener's too: admin.port 0 turns it off).
 */
export async function startTestGateway(config: Record<string, unknown>, options: { log?: Logger } = {}): Promise<TestGateway> {
  const listen = { ...(config.listen as Record<string, unknown> | undefined) };
  listen.port ??= await freePort();
  if (listen.certDir !== undefined) listen.tlsPort ??= await freePort();
  const admin = { ...(config.admin as Record<string, unknown> | undefined) };
  admin.port ??= await freePort();
  const parsed = parseGatewayConfig({ ...config, listen, admin });
  const log = options.log ?? pino({ level: process.env.XWG_TEST_LOG ?? 'silent' });
  const gateway = await startGateway(parsed, log, { defaultMetrics: false });
  return Object.assign(gateway, {
    url: (path = '/') => `http://127.0.0.1:${gateway.ports.http}${path}`,
    wsUrl: (path = '/xmpp-websocket') => `ws://127.0.0.1:${gateway.ports.http}${path}`,
    adminUrl: (path = '/metrics') => {
      if (gateway.ports.admin === 0) throw new Error('this test gateway has no admin listener (admin.port 0)');
      return `http://127.0.0.1:${gateway.ports.admin}${path}`;
    },
  });
}
