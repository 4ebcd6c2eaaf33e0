// Open connections, in total and per client address, against limits.maxConnections and
// limits.maxConnectionsPerAddress.

export interface ConnectionLimitsOptions {
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

export type ConnectionRefusal = 'maxConnections' | 'maxConnectionsPerAddress';

/** Gives the slot back; calling it again does nothing. */
export type Release = () => void;

export class ConnectionLimits {
  readonly #max: number;
  readonly #maxPerAddress: number;
  readonly #perAddress = new Map<string, number>();
  #total = 0;

  constructor(options: ConnectionLimitsOptions) {
    this.#max = options.maxConnections;
    this.#maxPerAddress = options.maxConnectionsPerAddress;
  }

  /** Which limit a new connection from `address` would exceed now, if any. */
  refusal(address: string): ConnectionRefusal | undefined {
    if (this.#total >= this.#max) return 'maxConnections';
    if ((this.#perAddress.get(address) ?? 0) >= this.#maxPerAddress) return 'maxConnectionsPerAddress';
    return undefined;
  }

  /** Takes a slot for `address` (a normalized client address), or null when a limit is reached. */
  tryAcquire(address: string): Release | null {
    if (this.refusal(address) !== undefined) return null;
    this.#total++;
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      const n = this.#perAddress.get(address)! - 1;
      if (n === 0) this.#perAddress.delete(address);
      else this.#perAddress.set(address, n);
    };
  }

  get total(): number {
    return this.#total;
  }

  /** Distinct addresses holding at least one connection. */
  get addresses(): number {
    return this.#perAddress.size;
  }

  countFor(address: string): number {
    return this.#perAddress.get(address) ?? 0;
  }
}
