// Failover for xmpp.js (@xmpp/client). Its reconnect module reconnects to `options.service` after a
// disconnect; before each reconnect we point that at the endpoint the Failover chose.
import type { Failover } from './failover.ts';

// xmpp.js event payloads are untyped; any keeps Node-style emitters assignable.
type Listener = (...args: any[]) => void;

interface EmitterLike {
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
}

/** The parts of an xmpp.js client used here (the library ships no types). */
export interface XmppJsClientLike extends EmitterLike {
  options: { service?: string };
  parser?: EmitterLike | null;
  reconnect?: { delay: number; scheduleReconnect(): void };
  streamManagement?: EmitterLike;
}

export interface AttachFailoverOptions {
  onError?: (err: unknown) => void;
}

/** Wires `failover` into `xmpp`; returns a function that unwires it. */
export function attachFailover(xmpp: XmppJsClientLike, failover: Failover, opts: AttachFailoverOptions = {}): () => void {
  const parsers = new WeakSet<object>();

  const onOnline = () => failover.succeeded();
  // RFC 7395 §3.6.1: xmpp.js reads <close see-other-uri='…'/> but does not follow it; we do.
  const onEnd = (el: { attrs?: Record<string, unknown> } | undefined) => {
    const uri = el?.attrs?.['see-other-uri'];
    if (typeof uri === 'string') failover.redirect(uri);
  };
  // Every stream (re)start has a new parser.
  const onOpen = () => {
    const p = xmpp.parser;
    if (p && !parsers.has(p)) {
      parsers.add(p);
      p.on('end', onEnd);
    }
  };
  const onDisconnect = () => {
    failover.disconnected().then((a) => {
      if (a === undefined) return;
      xmpp.options.service = a.url;
      // The reconnect module scheduled itself already with its old delay: schedule again with ours.
      if (xmpp.reconnect) {
        xmpp.reconnect.delay = a.delayMs;
        xmpp.reconnect.scheduleReconnect();
      }
    }, opts.onError ?? (() => {}));
  };

  xmpp.on('online', onOnline);
  // A XEP-0198 resumption brings the session up without 'online'.
  xmpp.streamManagement?.on('resumed', onOnline);
  xmpp.on('open', onOpen);
  xmpp.on('disconnect', onDisconnect);
  return () => {
    xmpp.removeListener('online', onOnline);
    xmpp.streamManagement?.removeListener('resumed', onOnline);
    xmpp.removeListener('open', onOpen);
    xmpp.removeListener('disconnect', onDisconnect);
  };
}
