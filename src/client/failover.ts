// The failover loop's state: which endpoint now, what after a failure, a drop or a redirect.
import type { NodeChooser } from './chooser.ts';
import { pickEndpoint, type PickEndpointOptions } from './endpoint.ts';
import { followSeeOtherUri } from './redirect.ts';
import type { Endpoint } from './types.ts';

/** An endpoint to try, after waiting `delayMs`. */
export interface Attempt extends Endpoint {
  delayMs: number;
}

export interface FailoverOptions extends PickEndpointOptions {
  chooser: NodeChooser;
}

export class Failover {
  readonly chooser: NodeChooser;
  readonly #pick: PickEndpointOptions;
  #current: Endpoint | undefined;
  #redirect: Endpoint | undefined;
  #webSocketWorks = false;
  #up = false;

  constructor(opts: FailoverOptions) {
    const { chooser, ...pick } = opts;
    this.chooser = chooser;
    this.#pick = pick;
  }

  get current(): Endpoint | undefined {
    return this.#current;
  }

  /** The endpoint to try next: a pending redirect, else the chooser's node (sticky, then random). */
  async next(): Promise<Attempt | undefined> {
    this.#up = false;
    if (this.#redirect !== undefined) {
      this.#current = this.#redirect;
      this.#redirect = undefined;
      return { ...this.#current, delayMs: 0 };
    }
    // Once a WebSocket session worked, this network passes WebSockets: stop probing.
    const pick = this.#webSocketWorks ? { ...this.#pick, probe: undefined } : this.#pick;
    let delayMs = 0;
    for (let i = 0; i <= 2 * this.chooser.nodes.length; i++) {
      const choice = this.chooser.next();
      if (choice === undefined) return undefined;
      delayMs = Math.max(delayMs, choice.delayMs);
      const endpoint = await pickEndpoint(choice.node, pick);
      if (endpoint !== undefined) {
        this.#current = endpoint;
        return { ...endpoint, delayMs };
      }
      this.chooser.fail(choice.node); // nothing this library can speak
    }
    return undefined;
  }

  /** The session is up (authenticated and bound): stay on this node. */
  succeeded(): void {
    if (this.#current === undefined) return;
    this.#up = true;
    this.chooser.succeeded(this.#current.node);
    if (this.#current.transport === 'websocket') this.#webSocketWorks = true;
  }

  /** The connection is gone, for whatever reason: the right one of next(), dropped() and failed(). */
  disconnected(): Promise<Attempt | undefined> {
    if (this.#redirect !== undefined) return this.next();
    return this.#up ? this.dropped() : this.failed();
  }

  /** Connecting failed before the session was up: avoid this node for a while and pick another. */
  failed(): Promise<Attempt | undefined> {
    if (this.#current !== undefined) this.chooser.fail(this.#current.node);
    return this.next();
  }

  /**
   * An established session was lost: the same node first (it may have been the network), after a
   * short random wait so the clients of a node that died do not all return in the same instant.
   */
  async dropped(): Promise<Attempt | undefined> {
    const a = await this.next();
    return a && { ...a, delayMs: a.delayMs + this.chooser.delayMs(1) };
  }

  /**
   * The server sent a see-other-uri: the next attempt goes there, and the current node, which is
   * draining, is avoided for a while. Undefined (and nothing changes) when the redirect is refused.
   */
  redirect(uri: string): Endpoint | undefined {
    if (this.#current === undefined) return undefined;
    const target = followSeeOtherUri(this.#current, uri, this.chooser.nodes);
    if (target === undefined) return undefined;
    this.chooser.fail(this.#current.node);
    this.#redirect = target;
    return target;
  }
}
