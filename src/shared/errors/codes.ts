// Every error the gateway, the operator and the command line can report, defined once: a stable code, a one-line
// meaning and what to do. Log lines carry the code in their `code` field, the CLI prints it before the message,
// and the operator's condition and Event reasons are the `reason` of an entry. docs/errors.md is generated from
// this table (`npm run gen`); a unit test fails when it drifts.
//
// Codes never change meaning and are never reused; an entry that is no longer reported is removed with its code.
// Errors sent to XMPP clients are RFC 6120 §4.9.3 stream error conditions and XEP-0124 §17.2 terminal binding
// conditions: those are the protocol's own codes (src/gateway/errors.ts) and are not repeated here.

export type ErrorArea = 'gateway' | 'operator' | 'cli';

export interface ErrorEntry {
  readonly area: ErrorArea;
  /** one line: what happened */
  readonly meaning: string;
  /** one line: what the user should do */
  readonly action: string;
  /** the operator's condition or Event reason (CamelCase, Kubernetes API conventions) */
  readonly reason?: string;
}

export const ERRORS = {
  // -- gateway
  XWG_GW_CONFIG_INVALID: {
    area: 'gateway',
    meaning: 'the gateway configuration (file, XWG_* variables, flags) was refused at start; the message names each key',
    action: 'fix the named keys (see the configuration reference in the README); the node does not start until then',
  },
  XWG_GW_ENV_UNKNOWN: {
    area: 'gateway',
    meaning: 'an XWG_* environment variable names no configuration key and is ignored',
    action: 'check the spelling against the configuration reference (levels are separated by __)',
  },
  XWG_GW_START_FAILED: {
    area: 'gateway',
    meaning: 'the gateway could not start (a port in use, a certificate directory missing, …)',
    action: 'read the message; free the port or fix the path, then start again',
  },
  XWG_GW_ADMIN_DISABLED: {
    area: 'gateway',
    meaning: 'admin.port is 0: the node serves no /metrics, and no probes unless admin.publicProbes is on',
    action: 'set admin.port (the operator does) unless you mean to run without metrics',
  },
  XWG_GW_DRAIN_TIMEOUT: {
    area: 'gateway',
    meaning: 'the drain after SIGTERM did not finish within drain.deadlineMs (+5 s): the node exits with open streams',
    action: 'raise drain.deadlineMs (and the pod terminationGracePeriodSeconds above it) if clients need longer',
  },
  XWG_GW_UPSTREAM_FAILED: {
    area: 'gateway',
    meaning: 'the connection to the upstream XMPP server failed or ended with an error; the client got a stream error',
    action: 'check that upstream host, port and tls match the server, and that it is up; the log line has the condition',
  },
  XWG_GW_UPSTREAM_CONNECT_FAILED: {
    area: 'gateway',
    meaning: 'no server of the upstream could be connected to (each attempt is listed)',
    action: 'check upstream host and port (or the domain SRV records), and that the XMPP server listens there',
  },
  XWG_GW_UPSTREAM_OPEN_TIMEOUT: {
    area: 'gateway',
    meaning: 'the upstream sent no stream features within upstream.connectTimeoutMs',
    action: 'check the server is healthy; raise upstream.connectTimeoutMs for a slow one',
  },
  XWG_GW_UPSTREAM_CLOSED_BEFORE_STREAM: {
    area: 'gateway',
    meaning: 'the upstream closed the connection before its stream header; a server that expects a PROXY header does this when none is sent',
    action: 'set the upstream proxyProtocol to match the server, or check its c2s port',
  },
  XWG_GW_UPSTREAM_PROXY_REFUSED: {
    area: 'gateway',
    meaning: 'the upstream answered the PROXY header with a stream error or a failed TLS handshake: it does not expect one',
    action: 'set proxyProtocol: none for that upstream, or enable PROXY on the server',
  },
  XWG_GW_UPSTREAM_TLS_FAILED: {
    area: 'gateway',
    meaning: 'the upstream certificate was refused during STARTTLS (a name other than the one checked, a CA not trusted, not valid now) or the handshake failed',
    action: 'check the upstream caFile and serverName (default: the XMPP domain) against the server certificate; the log line names the failed check',
  },
  XWG_GW_UPSTREAM_DNS_FAILED: {
    area: 'gateway',
    meaning: 'the SRV lookups of the domain failed (timeout, server failure or a malformed answer), or records were skipped',
    action: 'check the DNS server and the _xmpp-client._tcp / _xmpps-client._tcp records of the domain',
  },
  XWG_GW_UPSTREAM_SRV_UNAVAILABLE: {
    area: 'gateway',
    meaning: 'the domain SRV records say the service is decidedly not available (target ".", RFC 2782)',
    action: 'publish SRV records for the XMPP service, or configure the upstream host explicitly',
  },
  XWG_GW_UPSTREAM_SRV_NO_RECORDS: {
    area: 'gateway',
    meaning: 'no usable SRV record for a directTLS upstream (_xmpps-client._tcp), and no fallback applies',
    action: 'publish _xmpps-client._tcp records, or configure the upstream host explicitly',
  },
  XWG_GW_CLIENT_MESSAGE_FAILED: {
    area: 'gateway',
    meaning: 'a bug in the gateway while handling one client message; that stream is ended, the node keeps running',
    action: 'report it with the log line (it carries the stack)',
  },
  XWG_GW_SLOW_CLIENT: {
    area: 'gateway',
    meaning: 'a client did not read what was sent to it within the buffer limit and was disconnected',
    action: 'nothing for one client; many of them: check the network path, or raise limits.maxBufferedBytes',
  },
  XWG_GW_PROXY_HEADER_INVALID: {
    area: 'gateway',
    meaning: 'a connection did not start with a valid PROXY protocol header while listen.proxyProtocol is on; it was dropped',
    action: 'turn PROXY protocol on in the load balancer as well, or set listen.proxyProtocol=false',
  },
  XWG_GW_TIMEOUTS_ADJUSTED: {
    area: 'gateway',
    meaning: 'listen.headerTimeoutMs is larger than listen.requestTimeoutMs; the smaller one is used for both',
    action: 'set listen.headerTimeoutMs at or below listen.requestTimeoutMs',
  },
  XWG_GW_CERT_DIR_UNREADABLE: {
    area: 'gateway',
    meaning: 'the certificate directory (listen.certDir) cannot be read; the certificates already loaded stay in use',
    action: 'check the mount and its permissions (the gateway runs as uid 65532)',
  },
  XWG_GW_CERT_UNREADABLE: {
    area: 'gateway',
    meaning: 'a certificate or key file cannot be read; the previous pair of that name, if any, stays in use',
    action: 'check the file and its permissions',
  },
  XWG_GW_CERT_INVALID: {
    area: 'gateway',
    meaning: 'a certificate and key do not parse or do not belong together; the previous pair, if any, stays in use',
    action: 'write tls.crt and tls.key of one pair (PEM); the gateway reloads them on change',
  },
  XWG_GW_CERT_RELOAD_FAILED: {
    area: 'gateway',
    meaning: 'reloading the certificate directory failed unexpectedly; the certificates already loaded stay in use',
    action: 'read the message; the next change of the directory retries',
  },
  XWG_GW_CERT_NO_DNS_NAME: {
    area: 'gateway',
    meaning: 'a certificate names no DNS host (no subjectAltName dNSName); it can only serve clients without SNI',
    action: 'issue it with the node host as a DNS subjectAltName',
  },
  XWG_GW_CERT_EXPIRED: {
    area: 'gateway',
    meaning: 'a loaded certificate has expired; clients will refuse it',
    action: 'renew it (cert-manager, or the Secret you manage); the gateway reloads it on change',
  },
  XWG_GW_CERT_NAME_CONFLICT: {
    area: 'gateway',
    meaning: 'two certificates claim the same DNS name; the first by file name is served',
    action: 'remove or rename one of them',
  },
  XWG_GW_DEFAULT_CERT_MISSING: {
    area: 'gateway',
    meaning: 'listen.defaultCert names a certificate that is not loaded; the first one by name is served instead',
    action: 'set listen.defaultCert to a loaded certificate name, or leave it empty',
  },
  XWG_GW_NO_CERTIFICATE: {
    area: 'gateway',
    meaning: 'a TLS port is configured but no usable certificate is loaded: TLS handshakes fail',
    action: 'put a certificate pair into listen.certDir',
  },
  XWG_GW_NO_DEFAULT_CERT: {
    area: 'gateway',
    meaning: 'no default certificate: TLS clients that send no SNI fail their handshake',
    action: 'set listen.defaultCert, or ignore it when every client sends SNI',
  },
  XWG_GW_NODE_LIST_UNWATCHED: {
    area: 'gateway',
    meaning: 'the node list file cannot be watched; it is polled instead (changes show up a little later)',
    action: 'nothing needed; check the mount if it persists',
  },
  XWG_GW_NODE_LIST_UNREADABLE: {
    area: 'gateway',
    meaning: 'the node list file cannot be read; the previous list stays in use',
    action: 'check the mounted ConfigMap (the operator writes it)',
  },
  XWG_GW_NODE_LIST_INVALID: {
    area: 'gateway',
    meaning: 'the node list file does not parse or does not match its schema; the previous list stays in use',
    action: 'let the operator write it, or fix the file by the schema in src/shared/gateway-config/schema.ts',
  },

  // -- operator: errors
  XWG_OP_START_FAILED: {
    area: 'operator',
    meaning: 'the operator could not start (no kubeconfig, API server unreachable, metrics port in use, …)',
    action: 'read the message; check --kubeconfig or the in-cluster service account, and the ports',
  },
  XWG_OP_SHUTDOWN_TIMEOUT: {
    area: 'operator',
    meaning: 'stopping after SIGTERM took longer than 25 s (a hung API server); the operator exits anyway',
    action: 'nothing needed; a new leader takes over when the Lease expires',
  },
  XWG_OP_FORCED_EXIT: {
    area: 'operator',
    meaning: 'a second signal arrived while stopping: the operator exits at once without releasing its Lease',
    action: 'nothing needed; the next leader waits for the Lease to expire',
  },
  XWG_OP_INVALID_SPEC: {
    area: 'operator',
    reason: 'InvalidSpec',
    meaning: 'the XmppWebGateway breaks a rule of the CRD (an older CRD let it through); nothing is changed until it is fixed',
    action: 'fix the fields named in the message (xmpp-web-gateway validate -f checks a file offline)',
  },
  XWG_OP_CONFIG_REFUSED: {
    area: 'operator',
    reason: 'ConfigRefused',
    meaning: 'the spec passes the CRD but a node configuration built from it is refused by the gateway; nothing is changed',
    action: 'fix the fields named in the message (xmpp-web-gateway validate -f checks a file offline)',
  },
  XWG_OP_RECONCILE_FAILED: {
    area: 'operator',
    reason: 'ReconcileFailed',
    meaning: 'a reconcile failed (an API request was refused or failed); it is retried with backoff',
    action: 'read the condition message or the operator log line; check the operator RBAC if it says forbidden',
  },
  XWG_OP_APPLY_FAILED: {
    area: 'operator',
    reason: 'ApplyFailed',
    meaning: 'the API server refused to apply one object of a gateway; the reconcile is retried with backoff',
    action: 'read the message (forbidden: RBAC; invalid: an admission webhook or a policy refused the object)',
  },
  XWG_OP_APPLY_REPLACED: {
    area: 'operator',
    meaning: 'an object the operator owns could not be applied as is (an immutable field changed); it was replaced',
    action: 'nothing needed; pods of that node restart',
  },
  XWG_OP_CONFIG_REFRESH_FAILED: {
    area: 'operator',
    meaning: 'the gateway pods could not be annotated after their ConfigMap changed, so the kubelet refreshes the mounted node list only at its next periodic sync (about a minute)',
    action: 'check the operator RBAC for list and patch on pods; nothing is lost meanwhile',
  },
  XWG_OP_DELETE_FAILED: {
    area: 'operator',
    reason: 'DeleteFailed',
    meaning: 'an object no longer desired could not be deleted; the reconcile is retried with backoff',
    action: 'read the message; check the operator RBAC for delete',
  },
  XWG_OP_WATCH_FAILED: {
    area: 'operator',
    meaning: 'a list or watch of the API server failed; it is retried with backoff and the cache kept meanwhile',
    action: 'nothing for a short outage; if it persists check the API server and the operator RBAC for list and watch',
  },
  XWG_OP_CERT_MANAGER_CHECK_FAILED: {
    area: 'operator',
    meaning: 'the API discovery of cert-manager failed; the previous answer stays (absent at start) and is checked again',
    action: 'nothing for a short outage; check the API server if it persists',
  },
  XWG_OP_EVENT_WRITE_FAILED: {
    area: 'operator',
    meaning: 'an Event could not be written; reconciling goes on without it',
    action: 'check the operator RBAC for events.k8s.io events (create, patch)',
  },
  XWG_OP_LEASE_REQUEST_FAILED: {
    area: 'operator',
    meaning: 'a request for the leader-election Lease failed; it is retried every retry period',
    action: 'nothing for a short outage; check the operator RBAC for coordination.k8s.io leases if it persists',
  },
  XWG_OP_LEASE_RELEASE_FAILED: {
    area: 'operator',
    meaning: 'the Lease could not be released at shutdown; the next leader waits for it to expire',
    action: 'nothing needed',
  },
  XWG_OP_LEADERSHIP_LOST: {
    area: 'operator',
    meaning: 'the Lease could not be renewed in time: this replica stops reconciling and exits (another one leads)',
    action: 'nothing for one; often: the API server is slow or the renew deadline too short',
  },
  // -- operator: conditions
  XWG_OP_NO_NODES: {
    area: 'operator',
    reason: 'NoNodes',
    meaning: 'the gateway resolves to no node (spec.nodes is empty, or perKubernetesNode matches no Kubernetes Node)',
    action: 'add nodes, or label Kubernetes Nodes as perKubernetesNode selects them; the message lists those skipped',
  },
  XWG_OP_NODES_NOT_READY: {
    area: 'operator',
    reason: 'NodesNotReady',
    meaning: 'some gateway nodes have no available pod yet',
    action: 'wait for the rollout; if it lasts, kubectl describe the node Deployment and its pods',
  },
  XWG_OP_NODES_UNAVAILABLE: {
    area: 'operator',
    reason: 'NodesUnavailable',
    meaning: 'a node Deployment finished rolling out (or failed to) but has no available pod',
    action: 'kubectl describe the node pods: image pull errors, crashes (read their log line codes), or a missing Secret',
  },
  XWG_OP_NODES_SKIPPED: {
    area: 'operator',
    reason: 'NodesSkipped',
    meaning: 'some Kubernetes Nodes matched perKubernetesNode but lack what a gateway node needs (the message says what)',
    action: 'add the missing label or address to those Kubernetes Nodes, or exclude them from the selector',
  },
  XWG_OP_CERT_MANAGER_MISSING: {
    area: 'operator',
    reason: 'CertManagerMissing',
    meaning: 'spec.tls.issuerRef is set but the cert-manager.io/v1 Certificate kind is not served',
    action: 'install cert-manager, or use selfManaged or secretRefs certificates',
  },
  XWG_OP_CERTIFICATES_NOT_READY: {
    area: 'operator',
    reason: 'CertificatesNotReady',
    meaning: 'several certificates are not ready, for different reasons (the message lists each)',
    action: 'look up each node in the message',
  },
  XWG_OP_TLS_SECRET_MISSING: {
    area: 'operator',
    reason: 'SecretMissing',
    meaning: 'a Secret named in spec.tls.secretRefs does not exist or lacks tls.crt or tls.key',
    action: 'create the kubernetes.io/tls Secret in the gateway namespace; it is checked again every 30 s',
  },
  XWG_OP_CERTIFICATE_ISSUE_FAILED: {
    area: 'operator',
    reason: 'IssueFailed',
    meaning: 'the operator could not issue a selfManaged certificate',
    action: 'read the message; it is retried with backoff',
  },
  XWG_OP_CERTIFICATE_NOT_CREATED: {
    area: 'operator',
    reason: 'CertificateNotCreated',
    meaning: 'the cert-manager Certificate of a node does not exist yet',
    action: 'wait one reconcile; if it lasts, read the operator log for XWG_OP_APPLY_FAILED',
  },
  XWG_OP_CERTIFICATE_PENDING: {
    area: 'operator',
    reason: 'Issuing',
    meaning: 'cert-manager has not issued a node certificate yet (the message carries cert-manager’s own reason)',
    action: 'kubectl describe certificate and the issuer named in spec.tls.issuerRef',
  },
  XWG_OP_CERTIFICATE_NOT_OBSERVED: {
    area: 'operator',
    reason: 'NotObserved',
    meaning: 'a certificate has not been looked at yet (first reconcile)',
    action: 'wait one reconcile',
  },

  // -- command line
  XWG_CLI_USAGE: {
    area: 'cli',
    meaning: 'the command line is wrong (an unknown flag, a missing value, a value out of range)',
    action: 'run the command with --help',
  },
  XWG_CLI_UNKNOWN_COMMAND: {
    area: 'cli',
    meaning: 'no such command',
    action: 'run xmpp-web-gateway --help for the list',
  },
  XWG_CLI_INPUT_UNREADABLE: {
    area: 'cli',
    meaning: 'an input file cannot be read or is not YAML',
    action: 'check the path and the YAML syntax at the position given',
  },
  XWG_CLI_NO_RESOURCE: {
    area: 'cli',
    meaning: 'the input holds no XmppWebGateway',
    action: 'check apiVersion xwg.io/v1alpha1 and kind XmppWebGateway',
  },
  XWG_CLI_INVALID_RESOURCE: {
    area: 'cli',
    meaning: 'an XmppWebGateway is invalid; each error below names its field',
    action: 'fix the named fields (the same rules as the API server and the operator)',
  },
  XWG_CLI_INTERNAL: {
    area: 'cli',
    meaning: 'a bug: an unexpected error escaped the command',
    action: 'report it with the output (it carries the stack)',
  },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * The operator's reasons for conditions and Events that are not errors, in the same vocabulary.
 * (An error's reason is its entry's `reason`.)
 */
export const STATE_REASONS = {
  AllNodesReady: 'every node has an available pod',
  RollingOut: 'a node runs a pod template that is not yet rolled out',
  RolloutComplete: 'every node runs the current configuration',
  AsExpected: 'no problem seen',
  AllCertificatesReady: 'every node (and the discovery Ingress) has its certificate',
  CertificateIssued: 'Event: the operator issued selfManaged certificates',
  Created: 'Event: objects were created',
  Updated: 'Event: objects were updated',
  Deleted: 'Event: objects no longer desired were deleted',
} as const;
export type StateReason = keyof typeof STATE_REASONS;

/** Codes that have a condition reason. */
export type ReasonCode = { [C in ErrorCode]: (typeof ERRORS)[C] extends { reason: string } ? C : never }[ErrorCode];

export function reasonOf(code: ReasonCode): string {
  return (ERRORS[code] as ErrorEntry).reason!;
}

/** What one failure is, as it is carried between the parts that find it and the parts that report it. */
export interface Problem {
  readonly code: ErrorCode;
  readonly message: string;
}

/** An error with a code from the table; `detail` is the message without the code. */
export class CodedError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CodedError';
    this.code = code;
  }
}

/** The code of an error, when it has one of the table's. */
export function codeOf(e: unknown): ErrorCode | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && Object.hasOwn(ERRORS, code) ? (code as ErrorCode) : undefined;
}

/** Fields of a log line: the code first, so every warning and error can be looked up in docs/errors.md. */
export function withCode<F extends object>(code: ErrorCode, fields?: F): { code: ErrorCode } & F {
  return { code, ...(fields ?? ({} as F)) };
}

/** How the command line prints an error: `XWG_CLI_USAGE: --port: must be …`. */
export function formatCoded(code: ErrorCode, message: string): string {
  return `${code}: ${message}`;
}
