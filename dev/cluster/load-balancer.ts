// A loopback load balancer for the local cluster, in the way cloud-provider-kind or MetalLB serve real
// ones: every port of every Service of type LoadBalancer gets a listener on 127.0.0.1 that relays TCP to
// the Service's ClusterIP (through the node's kube-proxy rules, so endpoints follow pods as they come and
// go), and the Service's status shows 127.0.0.1 as its ingress. Browsers and tests reach gateway nodes there.
import net from 'node:net';

export interface LoadBalancedPort {
  namespace: string;
  service: string;
  /** The Service port, e.g. 443. */
  port: number;
  /** Where it is reachable on this machine. */
  host: '127.0.0.1';
  localPort: number;
}

export interface LoopbackLoadBalancer {
  /** The local port of a Service port, once assigned (waits up to `timeoutMs`). */
  address(namespace: string, service: string, port: number, timeoutMs?: number): Promise<LoadBalancedPort>;
  ports(): LoadBalancedPort[];
  stop(): Promise<void>;
}

interface ServiceObject {
  metadata: { namespace: string; name: string; uid: string };
  spec: { type?: string; clusterIP?: string; ports?: { port: number; protocol?: string }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}

interface Relay {
  key: string;
  entry: LoadBalancedPort;
  target: { ip: string; port: number };
  server: net.Server;
  sockets: Set<net.Socket>;
}

const CONNECT_TIMEOUT_MS = 3_000;

export async function startLoopbackLoadBalancer(opts: {
  request(method: string, apiPath: string, body?: unknown): Promise<{ status: number; body: string }>;
  log?: (line: string) => void;
  pollMs?: number;
}): Promise<LoopbackLoadBalancer> {
  const log = opts.log ?? (() => {});
  const relays = new Map<string, Relay>();
  let stopped = false;

  const open = async (key: string, entry: Omit<LoadBalancedPort, 'localPort' | 'host'>, target: { ip: string; port: number }): Promise<void> => {
    const sockets = new Set<net.Socket>();
    const relay: Relay = { key, entry: { ...entry, host: '127.0.0.1', localPort: 0 }, target, server: net.createServer(), sockets };
    relay.server.on('connection', (client) => {
      const upstream = net.connect({ host: relay.target.ip, port: relay.target.port });
      // A SYN sent before kube-proxy has programmed the Service leaves a conntrack entry without DNAT, which
      // the retransmits of the same connection keep matching for up to 120 s (nf_conntrack_tcp_timeout_syn_sent):
      // give up fast instead, so that the client's next connection (a new source port) is NATed.
      upstream.setTimeout(CONNECT_TIMEOUT_MS, () => upstream.destroy(new Error('connect timeout')));
      upstream.once('connect', () => upstream.setTimeout(0));
      sockets.add(client).add(upstream);
      const done = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', done).on('close', done);
      upstream.on('error', done).on('close', done);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => relay.server.once('error', reject).listen(0, '127.0.0.1', resolve));
    relay.entry.localPort = (relay.server.address() as net.AddressInfo).port;
    relays.set(key, relay);
    log(`load balancer: ${entry.namespace}/${entry.service}:${entry.port} on 127.0.0.1:${relay.entry.localPort}`);
  };

  const close = async (relay: Relay): Promise<void> => {
    relays.delete(relay.key);
    for (const s of relay.sockets) s.destroy();
    await new Promise<void>((r) => relay.server.close(() => r()));
  };

  const sync = async (): Promise<void> => {
    const res = await opts.request('GET', '/api/v1/services');
    if (res.status !== 200) return;
    const services = (JSON.parse(res.body) as { items: ServiceObject[] }).items;
    const wanted = new Set<string>();
    for (const svc of services) {
      const { namespace, name, uid } = svc.metadata;
      if (svc.spec.type !== 'LoadBalancer' || !svc.spec.clusterIP || svc.spec.clusterIP === 'None') continue;
      for (const p of svc.spec.ports ?? []) {
        if ((p.protocol ?? 'TCP') !== 'TCP') continue;
        const key = `${uid}/${p.port}`;
        wanted.add(key);
        const existing = relays.get(key);
        if (existing) existing.target = { ip: svc.spec.clusterIP, port: p.port };
        else await open(key, { namespace, service: name, port: p.port }, { ip: svc.spec.clusterIP, port: p.port });
      }
      if (svc.status?.loadBalancer?.ingress?.[0]?.ip !== '127.0.0.1') {
        await opts.request('PATCH', `/api/v1/namespaces/${namespace}/services/${name}/status`, { status: { loadBalancer: { ingress: [{ ip: '127.0.0.1' }] } } });
      }
    }
    for (const relay of [...relays.values()]) if (!wanted.has(relay.key)) await close(relay);
  };

  let timer: NodeJS.Timeout | undefined;
  const loop = async (): Promise<void> => {
    if (stopped) return;
    await sync().catch((e: unknown) => log(`load balancer: ${e instanceof Error ? e.message : String(e)}`));
    if (!stopped) timer = setTimeout(() => void loop(), opts.pollMs ?? 500);
  };
  await loop();

  return {
    async address(namespace, service, port, timeoutMs = 120_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = [...relays.values()].find((r) => r.entry.namespace === namespace && r.entry.service === service && r.entry.port === port);
        if (found) return found.entry;
        if (Date.now() > until) throw new Error(`no LoadBalancer Service ${namespace}/${service} with port ${port} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    ports: () => [...relays.values()].map((r) => r.entry),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await Promise.all([...relays.values()].map(close));
    },
  };
}
