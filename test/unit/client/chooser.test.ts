import { describe, expect, it } from 'vitest';
import { backoffDelay, NodeChooser, type WebNode } from '../../../src/client/index.ts';
import { fakeClock, fakeStorage, seeded } from './fakes.ts';

const node = (name: string, ready = true): WebNode => ({ name, host: `${name}.example.com`, websocketUrl: `wss://${name}.example.com/xmpp-websocket`, ready });
const nodes = [node('t1'), node('t2'), node('t3'), node('down', false)];

function chooser(over: Partial<ConstructorParameters<typeof NodeChooser>[0]> = {}) {
  const storage = fakeStorage();
  const clock = fakeClock();
  return { storage, clock, c: new NodeChooser({ domain: 'example.com', nodes, storage, now: clock.now, random: seeded(1), ...over }) };
}

describe('NodeChooser', () => {
  it('picks uniformly among ready nodes and never a node that is not ready', () => {
    const counts = new Map<string, number>();
    const random = seeded(99);
    for (let i = 0; i < 9_000; i++) {
      const name = new NodeChooser({ domain: 'd', nodes, storage: null, random }).next()?.node.name ?? '';
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(['t1', 't2', 't3']);
    for (const c of counts.values()) expect(Math.abs(c / 9_000 - 1 / 3)).toBeLessThan(0.03);
  });

  it('returns undefined when no node is ready', () => {
    expect(new NodeChooser({ domain: 'd', nodes: [node('x', false)], storage: null }).next()).toBeUndefined();
  });

  it('stays on the node that worked, across page loads of the session, per domain', () => {
    const { storage, c } = chooser();
    const first = c.next();
    c.succeeded(first!.node);
    expect(storage.data.get('xmpp-web-gateway:example.com:node')).toBe(first!.node.name);
    for (let seed = 0; seed < 20; seed++) {
      const reloaded = new NodeChooser({ domain: 'example.com', nodes, storage, random: seeded(seed) });
      expect(reloaded.next()?.node.name).toBe(first!.node.name);
    }
    const other = new NodeChooser({ domain: 'example2.com', nodes, storage, random: seeded(5) });
    expect(other.remembered).toBeUndefined();
  });

  it('after a failure picks a node not yet tried in this round, then backs off before the next round', () => {
    const { c } = chooser();
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const choice = c.next()!;
      expect(choice.delayMs).toBe(0);
      expect(choice.round).toBe(0);
      seen.push(choice.node.name);
      c.fail(choice.node);
    }
    expect(seen.sort()).toEqual(['t1', 't2', 't3']);
    const again = c.next()!;
    expect(again.round).toBe(1);
    expect(again.delayMs).toBeGreaterThanOrEqual(0);
    expect(again.delayMs).toBeLessThan(500);
  });

  it('avoids a failed node for the TTL, remembered across page loads, then uses it again', () => {
    const { storage, clock, c } = chooser({ failTtlMs: 60_000 });
    c.fail(node('t1'));
    for (let seed = 0; seed < 30; seed++) {
      const reloaded = new NodeChooser({ domain: 'example.com', nodes, storage, now: clock.now, random: seeded(seed) });
      expect(reloaded.next()?.node.name).not.toBe('t1');
    }
    clock.advance(60_000);
    const names = new Set<string>();
    for (let seed = 0; seed < 30; seed++) {
      names.add(new NodeChooser({ domain: 'example.com', nodes, storage, now: clock.now, random: seeded(seed) }).next()?.node.name ?? '');
    }
    expect(names.has('t1')).toBe(true);
  });

  it('leaves a node it was remembering once that node fails', () => {
    const { c } = chooser();
    c.succeeded(node('t2'));
    expect(c.next()?.node.name).toBe('t2');
    c.fail(node('t2'));
    expect(c.remembered).toBeUndefined();
    expect(c.next()?.node.name).not.toBe('t2');
  });

  it('still offers nodes when all of them failed lately (the network may be what failed)', () => {
    const { c } = chooser();
    for (const n of nodes) c.fail(n);
    const choice = c.next();
    expect(choice).toBeDefined();
    expect(choice!.round).toBe(1);
  });

  it('succeeded() resets rounds and the failure mark', () => {
    const { c } = chooser();
    for (let i = 0; i < 4; i++) c.fail(c.next()!.node);
    expect(c.round).toBe(1);
    const n = c.next()!.node;
    c.succeeded(n);
    expect(c.round).toBe(0);
    expect(c.isFailed(n)).toBe(false);
    expect(c.next()).toMatchObject({ node: n, delayMs: 0, round: 0 });
  });

  it('backs off exponentially with full jitter, capped', () => {
    const { c } = chooser({ random: () => 0.999999 });
    expect(c.delayMs(0)).toBe(0);
    expect(c.delayMs(1)).toBe(499);
    expect(c.delayMs(2)).toBe(999);
    expect(c.delayMs(4)).toBe(3_999);
    expect(c.delayMs(7)).toBe(29_999);
    expect(c.delayMs(50)).toBe(29_999);
    const low = new NodeChooser({ domain: 'd', nodes, storage: null, random: () => 0 });
    expect(low.delayMs(9)).toBe(0);
  });

  it('spreads retries over the whole window (full jitter)', () => {
    const random = seeded(3);
    const n = 20_000;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += backoffDelay(3, { baseMs: 500, capMs: 30_000, random });
    expect(sum / n).toBeGreaterThan(950);
    expect(sum / n).toBeLessThan(1_050);
  });

  it('works when storage throws (sandboxed frames, privacy modes)', () => {
    const c = new NodeChooser({ domain: 'd', nodes, storage: fakeStorage({ throws: true }), random: seeded(1) });
    const a = c.next()!;
    c.fail(a.node);
    c.succeeded(c.next()!.node);
    expect(c.next()).toBeDefined();
  });

  it('ignores corrupt stored failures', () => {
    const storage = fakeStorage();
    storage.setItem('xmpp-web-gateway:d:failed', '{nope');
    expect(new NodeChooser({ domain: 'd', nodes, storage }).next()).toBeDefined();
  });

  it('setNodes replaces the candidates', () => {
    const { c } = chooser();
    c.setNodes([node('n9')]);
    expect(c.next()?.node.name).toBe('n9');
  });
});
