// Third-party clients used by the tests ship no type declarations; these cover what the tests use.
declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events';
  export interface Element {
    name: string;
    attrs: Record<string, string>;
    children: Array<Element | string>;
    is(name: string, xmlns?: string): boolean;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildText(name: string, xmlns?: string): string | null;
    toString(): string;
  }
  export interface XmppClient extends EventEmitter {
    jid: { toString(): string; local: string; domain: string; resource: string } | null;
    status: string;
    streamManagement: { id: string | null; enabled: boolean; inbound: number; outbound: number; allowResume: boolean } & EventEmitter;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(element: Element): Promise<void>;
    disconnect(timeout?: number): Promise<void>;
    iqCaller: { request(element: Element, timeout?: number): Promise<Element> };
    reconnect: { stop(): void };
    /** XEP-0484 FAST: the token store hooks xmpp.js calls. */
    fast: {
      fetchToken(): Promise<unknown>;
      saveToken(token: never): Promise<void>;
      deleteToken(): Promise<void>;
    };
  }
  export function client(options: { service: string; domain?: string; username?: string; password?: string; resource?: string; credentials?: unknown; userAgent?: Element }): XmppClient;
  export function xml(name: string, attrs?: Record<string, string | undefined> | null, ...children: Array<Element | string>): Element;
  export const jid: (s: string) => unknown;
}
