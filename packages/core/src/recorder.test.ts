import { describe, expect, it } from 'vitest';
import { GENESIS, eventHash, verifyEvents, canonicalJson } from './recorder.js';
import type { StoredEvent } from './store.js';

function chain(n: number, session = 's1'): StoredEvent[] {
  const out: StoredEvent[] = [];
  let prev = GENESIS;
  for (let i = 1; i <= n; i++) {
    const base = { session, seq: i, at: new Date(1700000000000 + i).toISOString(), type: 'command', data: { text: `q${i}`, n: i }, prev };
    const e = { ...base, hash: eventHash(base) };
    out.push(e);
    prev = e.hash;
  }
  return out;
}

describe('hash chain', () => {
  it('canonical JSON sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
  });
  it('verifies an intact chain', async () => {
    expect(await verifyEvents([...chain(5), ...chain(3, 's2')])).toMatchObject({ ok: true, events: 8, sessions: 2 });
  });
  it('names the edited event', async () => {
    const c = chain(5);
    c[2] = { ...c[2]!, data: { text: 'DROP TABLE x', n: 3 } };
    expect(await verifyEvents(c)).toMatchObject({ ok: false, firstBad: { seq: 3, reason: expect.stringMatching(/edited/) } });
  });
  it('detects a removed event', async () => {
    const c = chain(5);
    c.splice(1, 1);
    expect(await verifyEvents(c)).toMatchObject({ ok: false, firstBad: { seq: 3 } });
  });
  it('detects a rewritten suffix (prev mismatch)', async () => {
    const c = chain(4);
    const forged = { ...c[3]!, prev: GENESIS };
    c[3] = { ...forged, hash: eventHash(forged) };
    expect(await verifyEvents(c)).toMatchObject({ ok: false, firstBad: { seq: 4, reason: expect.stringMatching(/chain/) } });
  });
});
