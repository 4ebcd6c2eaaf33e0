// Starts gateways in the test process, configured through the same validation as the CLI.
import { pino } from 'pino';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { parseGatewayConfig } from '../../src/shared/gateway-config/validate.ts';
import { freePort } from './ports.ts';

export interface TestGateway extends GatewayHandle {
  url(path?: string): string;
  wsUrl(path?: string): string;
}

/** `config` is a raw configuration as a user would write it; free loopback ports are filled in. */
export async function startTestGateway(config: Record<string, unknown>): Promise<TestGateway> {
  const listen = { ...(config.listen as Record<string, unknown> | undefined) };
  listen.port ??= await freePort();
  if (listen.certDir !== undefined) listen.tlsPort ??= await freePort();
  const parsed = parseGatewayConfig({ ...config, listen });
  const log = pino({ level: process.env.XWG_TEST_LOG ?? 'silent' });
  const gateway = await startGateway(parsed, log, { defaultMetrics: false });
  return Object.assign(gateway, {
    url: (path = '/') => `http://127.0.0.1:${gateway.ports.http}${path}`,
    wsUrl: (path = '/xmpp-websocket') => `ws://127.0.0.1:${gateway.ports.http}${path}`,
  });
}
