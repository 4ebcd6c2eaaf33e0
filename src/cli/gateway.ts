// `xmpp-web-gateway gateway`: configuration from file, XWG_* variables and flags; drains on SIGTERM.
import { pino } from 'pino';
import { envName, loadGatewayConfig } from '../gateway/config/load.ts';
import { startGateway } from '../gateway/gateway.ts';
import { withCode } from '../shared/errors/codes.ts';
import { ConfigError } from '../shared/gateway-config/rules.ts';
import { printError } from './errors.ts';

const HELP = `usage: xmpp-web-gateway gateway [--config file.yaml] [--<key>=<value> ...]

Every configuration key can be given in the YAML file, as a flag (--limits.maxStanzaBytes=65536)
or as an environment variable (${envName('limits.maxStanzaBytes')}=65536); flags win over variables,
variables over the file. See the README's configuration reference.`;

export async function runGateway(argv: string[]): Promise<number | void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  const unknown: string[] = [];
  let config;
  try {
    config = loadGatewayConfig({ argv, env: process.env, onUnknownVariable: (n) => unknown.push(n) });
  } catch (e) {
    if (e instanceof ConfigError) {
      printError(e.code, e.message);
      return 2;
    }
    throw e;
  }
  const log = pino({ level: config.log.level, base: { node: config.nodeName || undefined } });
  for (const name of unknown) log.warn(withCode('XWG_GW_ENV_UNKNOWN', { variable: name }), 'environment variable names no configuration key');
  let gateway;
  try {
    gateway = await startGateway(config, log);
  } catch (e) {
    log.fatal(withCode('XWG_GW_START_FAILED', { err: e instanceof Error ? e.message : String(e) }), 'could not start');
    return 1;
  }
  log.info({ ports: gateway.ports }, 'gateway listening');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Holds the process open while the drain awaits, and bounds it should anything hang.
    setTimeout(() => {
      log.error(withCode('XWG_GW_DRAIN_TIMEOUT'), 'drain did not finish in time: exiting');
      process.exit(1);
    }, config.drain.deadlineMs + 5_000);
    log.info({ signal }, 'draining');
    await gateway.drain();
    await gateway.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // The listeners keep the process alive until a signal ends it.
}
