// An idle BOSH session holds its one waiting request and nothing it has already answered: a session keeping
// the creation request's reply (through a closure context in the manager) or its previous request's (for the
// polling rules) cost ~3 KiB per idle session (issue 14). Checked with WeakRefs and a forced collection.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parseBody } from '../../../src/gateway/bosh/body.ts';
import { BoshManager } from '../../../src/gateway/bosh/manager.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const NS = "xmlns='http://jabber.org/protocol/httpbind'";
const LIMITS = { maxBytes: 65_536, maxDepth: 16, maxAttributes: 32 };
const BOSH = { maxWait: 60, maxHold: 1, inactivity: 60, maxPause: 120, polling: 2, maxBufferedBytes: 1 << 20, maxSessions: 100, maxSessionsPerAddress: 100 };
const FEATURES = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>";

interface Reply {
  id: string;
  payload: Uint8Array;
}

describe('BOSH session retention', () => {
  it('lets go of every request it has answered, and keeps the one it holds', async () => {
    let sid = '';
    const manager = new BoshManager<Reply>(
      { isServed: () => true, bosh: BOSH },
      {
        respond: () => {},
        openUpstream: (s) => void (sid = s),
        restartUpstream: () => {},
        forward: () => {},
        closeUpstream: () => {},
        destroyUpstream: () => {},
      },
    );
    const refs: WeakRef<Reply>[] = [];
    // Replies made in a function of their own, so this test's frame holds none of them.
    const send = (id: string, xml: string, now: number) => {
      const reply = { id, payload: new Uint8Array(1024) };
      refs.push(new WeakRef(reply));
      manager.handle(parseBody(xml, LIMITS), reply, '192.0.2.1', now);
    };
    send('creation', `<body ${NS} rid='100' to='example.com' ver='1.11' wait='60' hold='1'/>`, 0);
    manager.upstreamOpened(sid, { id: 'i', from: 'example.com', version: '1.0' }, 0);
    manager.upstreamElement(sid, FEATURES, 'features', 0);
    for (let rid = 101; rid <= 104; rid++) send(`poll ${rid}`, `<body ${NS} rid='${rid}' sid='${sid}'/>`, (rid - 100) * 5_000);
    expect(manager.heldCount).toBe(1);
    // WeakRef targets stay alive until the end of the turn they were made in.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(refs.map((r) => r.deref()?.id ?? null)).toEqual([null, null, null, null, 'poll 104']);
    expect(manager.sessionCount).toBe(1);
  });
});
