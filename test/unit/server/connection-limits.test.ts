import { describe, expect, it } from 'vitest';
import { ConnectionLimits } from '../../../src/gateway/server/connection-limits.ts';

describe('ConnectionLimits', () => {
  it('refuses past the per-address limit, other addresses unaffected', () => {
    const limits = new ConnectionLimits({ maxConnections: 10, maxConnectionsPerAddress: 2 });
    const a1 = limits.tryAcquire('192.0.2.1');
    const a2 = limits.tryAcquire('192.0.2.1');
    expect(a1).toBeTypeOf('function');
    expect(a2).toBeTypeOf('function');
    expect(limits.refusal('192.0.2.1')).toBe('maxConnectionsPerAddress');
    expect(limits.tryAcquire('192.0.2.1')).toBeNull();
    expect(limits.tryAcquire('192.0.2.2')).toBeTypeOf('function');
    expect(limits.total).toBe(3);
    a1!();
    expect(limits.tryAcquire('192.0.2.1')).toBeTypeOf('function');
  });

  it('refuses past the total limit', () => {
    const limits = new ConnectionLimits({ maxConnections: 2, maxConnectionsPerAddress: 5 });
    limits.tryAcquire('a');
    const b = limits.tryAcquire('b');
    expect(limits.refusal('c')).toBe('maxConnections');
    expect(limits.tryAcquire('c')).toBeNull();
    b!();
    expect(limits.tryAcquire('c')).not.toBeNull();
  });

  it('releases once, however often release is called, and forgets empty addresses', () => {
    const limits = new ConnectionLimits({ maxConnections: 5, maxConnectionsPerAddress: 5 });
    const r1 = limits.tryAcquire('a')!;
    const r2 = limits.tryAcquire('a')!;
    expect(limits.countFor('a')).toBe(2);
    r1();
    r1();
    expect(limits.total).toBe(1);
    expect(limits.countFor('a')).toBe(1);
    r2();
    expect(limits.total).toBe(0);
    expect(limits.addresses).toBe(0);
    expect(limits.countFor('a')).toBe(0);
  });

  it('takes the limits section of the configuration as is', () => {
    const section = { maxStanzaBytes: 262_144, maxDepth: 64, maxConnections: 1, maxConnectionsPerAddress: 1 };
    const limits = new ConnectionLimits(section);
    expect(limits.tryAcquire('a')).not.toBeNull();
    expect(limits.tryAcquire('b')).toBeNull();
  });
});
