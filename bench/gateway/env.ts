// The servers every gateway scenario shares, started once per bench run.
import { existsSync } from 'node:fs';
import {
  benchGatewayConfig,
  spawnGateway,
  spawnRawPipe,
  spawnStub,
  startBenchProsody,
  type BenchProsody,
  type GatewayProcess,
  type Running,
} from '../../dev/bench/servers.ts';

export interface BenchEnv {
  stub: Running & { ports: number[]; proxyPorts: number[] };
  pipe: Running & { port: number; url: string };
  /** our gateway in front of the stub */
  gateway: GatewayProcess;
  /** the same, sending a PROXY v2 header on every upstream connection (to the stub's PROXY port) */
  gatewayProxyV2: GatewayProcess;
  prosody: BenchProsody | undefined;
  /** our gateway in front of Prosody's c2s */
  gatewayToProsody: GatewayProcess | undefined;
  /** why Prosody is missing, when it is */
  prosodySkipped?: string;
  stop(): Promise<void>;
}

export async function startEnv(options: { users: number; maxMs: number; prosody: boolean }): Promise<BenchEnv> {
  const stub = await spawnStub({ maxMs: options.maxMs, proxyPorts: 1 });
  const pipe = await spawnRawPipe({ upstreamPorts: stub.ports, maxMs: options.maxMs });
  const gateway = await spawnGateway({ config: benchGatewayConfig({ host: '127.0.0.1', port: stub.ports[0], tls: 'none' }), maxMs: options.maxMs });
  const gatewayProxyV2 = await spawnGateway({
    config: benchGatewayConfig({ host: '127.0.0.1', port: stub.proxyPorts[0], tls: 'none', proxyProtocol: 'v2' }),
    maxMs: options.maxMs,
    name: 'gateway-pp2',
  });
  let prosody: BenchProsody | undefined;
  let gatewayToProsody: GatewayProcess | undefined;
  let prosodySkipped: string | undefined;
  if (!options.prosody) prosodySkipped = 'not requested';
  else if (!existsSync('/usr/bin/prosody')) prosodySkipped = 'Prosody is not installed (node dev/prepare.ts installs it)';
  else {
    prosody = await startBenchProsody({ users: options.users, maxMs: options.maxMs });
    gatewayToProsody = await spawnGateway({
      config: benchGatewayConfig({ host: '127.0.0.1', port: prosody.server.c2sPort, tls: 'none' }),
      maxMs: options.maxMs,
      name: 'gateway-prosody',
    });
  }
  return {
    stub,
    pipe,
    gateway,
    gatewayProxyV2,
    prosody,
    gatewayToProsody,
    ...(prosodySkipped ? { prosodySkipped } : {}),
    async stop() {
      await Promise.allSettled([gateway.stop(), gatewayProxyV2.stop(), gatewayToProsody?.stop(), pipe.stop()]);
      await Promise.allSettled([stub.stop(), prosody?.stop()]);
    },
  };
}
