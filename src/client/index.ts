// xmpp-web-gateway/client: find the gateway nodes, pick one, stay on it, fail over to another.
export type { Endpoint, FetchLike, FetchResponse, KeyValueStorage, NodeDirectory, Random, Transport, WebNode, WebSocketConstructorLike, WebSocketLike } from './types.ts';
export { discover, DiscoveryError, parseDiscoveryDocument, usableNodes, type DiscoverOptions } from './discover.ts';
export { parseJrd, parseNodeDirectory, parseXrd, linksToNodes, DocumentError, WEBSOCKET_REL, XBOSH_REL, type Link } from './parse.ts';
export { NodeChooser, type NodeChoice, type NodeChooserOptions } from './chooser.ts';
export { backoffDelay } from './backoff.ts';
export { pickEndpoint, webSocketProbe, type PickEndpointOptions, type Probe, type WebSocketProbeOptions } from './endpoint.ts';
export { followSeeOtherUri, seeOtherUri } from './redirect.ts';
export { Failover, type Attempt, type FailoverOptions } from './failover.ts';
export { connect, type ConnectOptions, type GatewayConnection } from './connect.ts';
export { attachFailover, type AttachFailoverOptions, type XmppJsClientLike } from './xmppjs.ts';
