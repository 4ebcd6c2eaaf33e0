// The current node list: from the configuration, or from a file the operator mounts, reloaded without restart.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { NodeEntry, NodeList } from '../../shared/gateway-config/schema.ts';
import { parseNodeList } from '../config/parse.ts';
import { withCode } from '../../shared/errors/codes.ts';
import { shuffle } from './documents.ts';
import { WatchedPaths } from '../watched-paths.ts';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface NodeListSourceOptions {
  /** Top-level `domains` of the gateway configuration; used when the file names none. */
  domains: readonly string[];
  discovery: { nodesFile: string; nodes: readonly NodeEntry[] };
  logger: Logger;
  /** Content poll, the fallback for missed watch events (0: off). */
  pollIntervalMs?: number;
  /** Coalesces the burst of watch events one update makes. */
  debounceMs?: number;
  random?: () => number;
}

type Read = { ok: true; text: string } | { ok: false; code: string };

/** Emits 'change' with the new list whenever its content changes. */
export class NodeListSource extends EventEmitter<{ change: [NodeList] }> {
  #list: NodeList;
  readonly #file: string;
  readonly #domains: string[];
  readonly #log: Logger;
  readonly #random: () => number;
  #lastRead: string | undefined; // raw text, or `!code` after a failed read: only a different outcome is acted on
  #chain: Promise<boolean> = Promise.resolve(false);
  #watched: WatchedPaths | undefined;
  #closed = false;

  constructor(opts: NodeListSourceOptions) {
    super();
    this.#file = opts.discovery.nodesFile;
    this.#domains = [...opts.domains];
    this.#log = opts.logger;
    this.#random = opts.random ?? Math.random;
    this.#list = { version: 'config', domains: [...opts.domains], nodes: opts.discovery.nodes.map((n) => ({ ...n })) };
    if (this.#file === '') return;

    // No list until the file is readable; a node must still start and serve its streams meanwhile.
    this.#list = { version: '0', domains: [...opts.domains], nodes: [] };
    this.#apply(this.#readSync());
    // Kubernetes updates a mounted ConfigMap by swapping the `..data` symlink in the directory, so the file
    // itself never changes in place: watch the directory.
    this.#watched = new WatchedPaths({
      onChange: () => void this.reload(),
      pollIntervalMs: opts.pollIntervalMs ?? 2_000,
      ...(opts.debounceMs === undefined ? {} : { debounceMs: opts.debounceMs }),
      onWatchError: (_dir, err) => this.#log.warn(withCode('XWG_GW_NODE_LIST_UNWATCHED', { err, file: this.#file }), 'node list: cannot watch its directory, polling only'),
    });
    this.#watched.set([dirname(this.#file)]);
  }

  get list(): NodeList {
    return this.#list;
  }

  /** Ready nodes except `selfName`, in random order: where a draining node sends its clients. */
  otherReadyNodes(selfName: string): NodeEntry[] {
    return shuffle(
      this.#list.nodes.filter((n) => n.ready && n.name !== selfName),
      this.#random,
    );
  }

  /** Reads the file again; resolves true when the list changed. */
  reload(): Promise<boolean> {
    if (this.#file === '') return Promise.resolve(false);
    this.#chain = this.#chain.then(async () => (this.#closed ? false : this.#apply(await this.#read())));
    return this.#chain;
  }

  close(): void {
    this.#closed = true;
    this.#watched?.close();
  }

  #readSync(): Read {
    try {
      return { ok: true, text: readFileSync(this.#file, 'utf8') };
    } catch (err) {
      return { ok: false, code: (err as NodeJS.ErrnoException).code ?? 'EIO' };
    }
  }

  async #read(): Promise<Read> {
    try {
      return { ok: true, text: await readFile(this.#file, 'utf8') };
    } catch (err) {
      return { ok: false, code: (err as NodeJS.ErrnoException).code ?? 'EIO' };
    }
  }

  /** Any failure keeps the previous list. */
  #apply(read: Read): boolean {
    const key = read.ok ? read.text : `!${read.code}`;
    if (key === this.#lastRead) return false;
    this.#lastRead = key;
    if (!read.ok) {
      this.#log.error(withCode('XWG_GW_NODE_LIST_UNREADABLE', { file: this.#file, errno: read.code }), 'node list: cannot read file, keeping the previous list');
      return false;
    }
    let next: NodeList;
    try {
      next = parseNodeList(JSON.parse(read.text));
    } catch (err) {
      this.#log.error(withCode('XWG_GW_NODE_LIST_INVALID', { file: this.#file, err: String(err) }), 'node list: invalid file, keeping the previous list');
      return false;
    }
    if (next.domains.length === 0) next = { ...next, domains: [...this.#domains] };
    if (JSON.stringify(next) === JSON.stringify(this.#list)) return false;
    this.#list = next;
    this.#log.info({ file: this.#file, version: next.version, nodes: next.nodes.length }, 'node list loaded');
    this.emit('change', next);
    return true;
  }
}
