// Exactly-once accounting: what each client should have received (ids) against what it did.

export interface Expectation {
  expected: readonly string[];
  received: ReadonlyMap<string, number>;
}

export interface Tally {
  expected: number;
  /** Distinct expected ids received. */
  received: number;
  lost: number;
  /** Extra copies of ids received more than once. */
  duplicates: number;
  /** Ids received that nobody sent to this client. */
  unexpected: number;
  lostIds: string[];
  duplicateIds: string[];
}

export function tally(clients: readonly Expectation[]): Tally {
  const t: Tally = { expected: 0, received: 0, lost: 0, duplicates: 0, unexpected: 0, lostIds: [], duplicateIds: [] };
  for (const c of clients) {
    const want = new Set(c.expected);
    t.expected += want.size;
    for (const id of want) {
      const n = c.received.get(id) ?? 0;
      if (n === 0) {
        t.lost++;
        t.lostIds.push(id);
      } else {
        t.received++;
        if (n > 1) {
          t.duplicates += n - 1;
          t.duplicateIds.push(id);
        }
      }
    }
    for (const id of c.received.keys()) if (!want.has(id)) t.unexpected++;
  }
  return t;
}
