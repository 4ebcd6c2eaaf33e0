// The gateway's configuration: one schema, read by the gateway and written by the operator.
// Types, defaults, validation and the README's reference all come from these definitions.
import { Type, type Static } from '@sinclair/typebox';

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const Millis = (def: number, description: string) =>
  Type.Integer({ minimum: 0, default: def, description });
const Bytes = (def: number, description: string) =>
  Type.Integer({ minimum: 1, default: def, description });

export const UpstreamTlsMode = Type.Union(
  [Type.Literal('starttls'), Type.Literal('directTLS'), Type.Literal('none')],
  {
    description:
      'starttls: negotiate TLS inside the XMPP stream (RFC 6120 §5); directTLS: TLS from the first byte (XEP-0368); none: plain TCP, for loopback development only',
  },
);
export type UpstreamTlsMode = Static<typeof UpstreamTlsMode>;

export const UpstreamProxyProtocol = Type.Union([Type.Literal('none'), Type.Literal('v1'), Type.Literal('v2')], {
  description:
    'PROXY protocol header written as the first bytes of every upstream connection, carrying the client address the gateway determined: none (default), v1 (text) or v2 (binary, with the SNI/Host as PP2_TYPE_AUTHORITY and PP2_TYPE_SSL for TLS clients); the server must expect it',
});
export type UpstreamProxyProtocol = Static<typeof UpstreamProxyProtocol>;

/** One of several servers of an upstream, tried as SRV records are (RFC 2782): by priority, then weight. */
export const UpstreamServerEntry = Type.Object(
  {
    host: Type.String({ minLength: 1, description: 'XMPP server host name or address (c2s)' }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'c2s port; default 5222, or 5223 with directTLS' })),
    priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'lower is tried first; default 0' })),
    weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'share among servers of one priority; all 0 (default): in list order' })),
  },
  { additionalProperties: false },
);
export type UpstreamServerEntry = Static<typeof UpstreamServerEntry>;

export const UpstreamServer = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1, description: 'XMPP server host name or address (c2s); neither host nor servers: the domain\'s _xmpp-client._tcp / _xmpps-client._tcp SRV records (RFC 6120 §3.2.1, XEP-0368)' })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'c2s port; default 5222, or 5223 with directTLS' })),
    servers: Type.Optional(
      Type.Array(UpstreamServerEntry, {
        minItems: 1,
        description: 'several servers instead of host: a failed connect moves on to the next, and a failed server is tried last for upstream.failedServerBackoffMs',
      }),
    ),
    tls: Type.Optional(UpstreamTlsMode),
    proxyProtocol: Type.Optional(UpstreamProxyProtocol),
    caFile: Type.Optional(Type.String({ description: 'PEM file of CA certificates that sign the upstream certificate; default: system CAs' })),
    serverName: Type.Optional(Type.String({ description: 'name checked in the upstream certificate; default: the XMPP domain' })),
    insecureSkipVerify: Type.Optional(Type.Boolean({ description: 'accept any upstream certificate: development only' })),
  },
  { additionalProperties: false },
);
export type UpstreamServer = Static<typeof UpstreamServer>;

export const NodeEntry = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    host: Type.String({ minLength: 1, description: 'public host name under which browsers reach this node' }),
    websocketUrl: Type.Optional(Type.String()),
    boshUrl: Type.Optional(Type.String()),
    ready: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);
export type NodeEntry = Static<typeof NodeEntry>;

/** The node list the operator publishes (ConfigMap key `nodes.json`) and every node serves. */
export const NodeList = Type.Object(
  {
    version: Type.String({ default: '0', description: 'changes whenever the list changes' }),
    domains: Type.Array(Type.String(), { default: [] }),
    nodes: Type.Array(NodeEntry, { default: [] }),
  },
  { additionalProperties: false },
);
export type NodeList = Static<typeof NodeList>;

export const GatewayConfig = Type.Object(
  {
    nodeName: Type.String({ default: '', description: "this node's name in the node list (used to point draining clients elsewhere)" }),
    domains: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'XMPP domains served; a stream to any other domain gets host-unknown. Empty: every domain goes to the default upstream (development)',
    }),
    listen: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1', description: 'address of the HTTP listener' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 5280, description: 'plain HTTP port (0: none)' }),
        tlsPort: Type.Integer({ minimum: 0, maximum: 65535, default: 0, description: 'HTTPS/WSS port (0: none)' }),
        certDir: Type.String({
          default: '',
          description: 'directory of certificates chosen by SNI: <name>.crt + <name>.key files, or sub-directories holding tls.crt + tls.key (a mounted Kubernetes TLS Secret); reloaded on change',
        }),
        defaultCert: Type.String({ default: '', description: 'certificate served when SNI matches none (file or directory base name); default: the first' }),
        proxyProtocol: Type.Boolean({ default: false, description: 'expect a PROXY protocol v1/v2 header on every connection' }),
        trustedProxies: Type.Array(Type.String(), {
          default: [],
          description: 'addresses or CIDRs whose X-Forwarded-For / Forwarded headers are believed',
        }),
        headerTimeoutMs: Millis(10_000, 'time allowed for a request head (slowloris protection)'),
        requestTimeoutMs: Millis(120_000, 'time allowed for a whole request body'),
      },
      { additionalProperties: false, default: {} },
    ),
    admin: Type.Object(
      {
        host: Type.String({
          default: '127.0.0.1',
          description: 'address of the admin listener (plain HTTP: /metrics, /healthz, /readyz); the operator sets 0.0.0.0 in pods, for the kubelet and Prometheus',
        }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 9280, description: 'admin HTTP port, never the public ones (0: none)' }),
        publicProbes: Type.Boolean({
          default: false,
          description: 'also answer /healthz and /readyz on the public listeners, for load balancers that can probe only the service port; /metrics is never served there',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    allowedOrigins: Type.Array(Type.String(), {
      default: [],
      description: 'Origins allowed to open WebSockets and BOSH sessions ("*" or exact origins); empty: allow all, logged',
    }),
    websocket: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        paths: Type.Array(Type.String({ pattern: '^/' }), { default: ['/xmpp-websocket', '/ws'] }),
        pingIntervalMs: Millis(25_000, 'WebSocket ping toward the client; a peer that misses one is dropped (0: off)'),
      },
      { additionalProperties: false, default: {} },
    ),
    bosh: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        paths: Type.Array(Type.String({ pattern: '^/' }), { default: ['/http-bind', '/bosh'] }),
        maxWait: Type.Integer({ minimum: 1, default: 60, description: 'longest wait (seconds) granted to a client (XEP-0124 §7.1)' }),
        maxHold: Type.Integer({ minimum: 1, default: 1, description: 'most requests held at once' }),
        inactivity: Type.Integer({ minimum: 1, default: 60, description: 'seconds without a request before a session ends (§10)' }),
        maxPause: Type.Integer({ minimum: 0, default: 120, description: 'longest pause (seconds) a client may ask for (§10)' }),
        polling: Type.Integer({ minimum: 0, default: 2, description: 'shortest interval (seconds) between empty requests when none is held (§12)' }),
        maxBodyBytes: Bytes(262_144, 'largest request body'),
        maxSessions: Type.Integer({ minimum: 1, default: 100_000 }),
        maxSessionsPerAddress: Type.Integer({ minimum: 1, default: 100 }),
        maxBufferedBytes: Bytes(1_048_576, 'data from upstream buffered for a session before it is ended'),
        gzip: Type.Boolean({ default: true, description: 'gzip responses when the client accepts it' }),
      },
      { additionalProperties: false, default: {} },
    ),
    upstream: Type.Object(
      {
        default: Type.Optional(UpstreamServer),
        domains: Type.Record(Type.String(), UpstreamServer, {
          default: {},
          description: 'per-domain upstream, overriding the default',
        }),
        connectTimeoutMs: Millis(10_000, 'limit for one server from TCP connect (with TLS) to its first stream features'),
        failedServerBackoffMs: Millis(10_000, 'a server whose connect failed is tried after the others for this long'),
        dns: Type.Object(
          {
            servers: Type.Array(Type.String({ minLength: 1 }), {
              default: [],
              description: 'DNS servers ("192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53") for SRV records and upstream host names; empty: the system resolver',
            }),
            timeoutMs: Millis(2_000, 'time for one DNS query before it is retried'),
            tries: Type.Integer({ minimum: 1, default: 2, description: 'DNS queries per lookup and server' }),
            cacheMs: Millis(30_000, 'time an SRV answer (or its failure) is reused for the same domain (0: every connection looks up)'),
          },
          { additionalProperties: false, default: {} },
        ),
        whitespaceKeepaliveMs: Millis(60_000, 'whitespace keepalive toward the upstream (0: off)'),
      },
      { additionalProperties: false, default: {} },
    ),
    limits: Type.Object(
      {
        maxStanzaBytes: Bytes(262_144, 'largest stanza either way; larger gets policy-violation'),
        maxDepth: Type.Integer({ minimum: 2, default: 64, description: 'deepest element nesting inside a stanza' }),
        maxAttributes: Type.Integer({ minimum: 1, default: 256, description: 'most attributes on one element' }),
        maxConnections: Type.Integer({ minimum: 1, default: 100_000 }),
        maxConnectionsPerAddress: Type.Integer({ minimum: 1, default: 200 }),
        maxBufferedBytes: Bytes(4_194_304, 'bytes queued toward a client that does not read before it is dropped'),
        openTimeoutMs: Millis(10_000, 'time from the WebSocket handshake to the client\'s <open/> before the connection is dropped'),
      },
      { additionalProperties: false, default: {} },
    ),
    discovery: Type.Object(
      {
        nodesFile: Type.String({ default: '', description: 'JSON node list (the operator mounts it); reloaded on change' }),
        nodes: Type.Array(NodeEntry, { default: [], description: 'node list for standalone use, when no nodesFile' }),
        publicScheme: Type.Union([Type.Literal('auto'), Type.Literal('secure'), Type.Literal('plain')], {
          default: 'auto',
          description: 'scheme of published URLs: secure (wss/https), plain (ws/http), auto: secure when a TLS port is configured',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    drain: Type.Object(
      {
        deadlineMs: Millis(20_000, 'time to close every stream on SIGTERM before exiting'),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { default: 'info' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type GatewayConfig = Static<typeof GatewayConfig>;
