// Free loopback TCP ports for test servers: listen on port 0, read the port the kernel chose, close.
//
// A port handed out here is remembered for the life of this process and never handed out twice,
// so two servers started by the same test file cannot be given the same port even if the first
// has not bound it yet. Another process may still take a port between close and bind: servers
// started through the harness detect a failed bind and retry with fresh ports.

import net from 'node:net';

const issued = new Set<number>();

function listenOnce(host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Allocates `count` distinct free TCP ports on `host` (default 127.0.0.1). */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`freePorts: bad count ${count}`);
  const held: net.Server[] = [];
  const ports: number[] = [];
  try {
    let attempts = 0;
    while (ports.length < count) {
      if (++attempts > count * 20 + 20) throw new Error(`freePorts: could not find ${count} free ports on ${host}`);
      const server = await listenOnce(host);
      held.push(server); // keep it open so the kernel does not give us the same port again
      const address = server.address();
      if (address === null || typeof address === 'string') continue;
      if (issued.has(address.port)) continue;
      ports.push(address.port);
    }
  } finally {
    await Promise.all(held.map(close));
  }
  for (const port of ports) issued.add(port);
  return ports;
}

/** Allocates one free TCP port on `host` (default 127.0.0.1). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  if (port === undefined) throw new Error('freePort: no port');
  return port;
}

/** Resolves true when something accepts a TCP connection on host:port. */
export function isPortOpen(port: number, host = '127.0.0.1', timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (open: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(open);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Waits until host:port accepts TCP connections. `abort` is polled between attempts: when it
 * returns a string (for example "process exited"), waiting stops with that as the error.
 */
export async function waitForPort(
  port: number,
  options: { host?: string; timeoutMs?: number; intervalMs?: number; abort?: () => string | undefined } = {},
): Promise<void> {
  const host = options.host ?? '127.0.0.1';
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = options.abort?.();
    if (reason !== undefined) throw new Error(`waitForPort ${host}:${port}: ${reason}`);
    if (await isPortOpen(port, host, Math.max(100, Math.min(1_000, deadline - Date.now())))) return;
    if (Date.now() >= deadline) throw new Error(`waitForPort ${host}:${port}: not open after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
