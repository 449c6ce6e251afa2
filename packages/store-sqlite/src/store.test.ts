import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { StoredEvent } from '@sluice/core';
import { CorruptRowError, openSqliteStore, SCHEMA_VERSION, SqliteStore } from './index.js';
import { apiKey, approval, event, session, tamperEvent, tempDirs } from './test-fixtures.js';

const tmp = tempDirs();
const stores: SqliteStore[] = [];

function open(path: string, opts: { synchronous?: 'normal' | 'full'; readonly?: boolean } = {}): SqliteStore {
  const s = openSqliteStore({ path, ...opts });
  stores.push(s);
  return s;
}
function fresh(): { store: SqliteStore; path: string } {
  const path = join(tmp.make(), 'sluice.db');
  return { store: open(path), path };
}
/** The private connection, for checking pragmas. */
function conn(s: SqliteStore): Database {
  return (s as unknown as { db: Database }).db;
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  tmp.cleanup();
});

describe('openSqliteStore', () => {
  it('creates the directory and the file, in WAL mode with the pragmas set', () => {
    const path = join(tmp.make(), 'a', 'b', 'sluice.db');
    const store = open(path);
    expect(existsSync(path)).toBe(true);
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    expect(store.path).toBe(path);
    const db = conn(store);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
  });

  it("synchronous 'full' sets FULL", () => {
    const store = open(join(tmp.make(), 's.db'), { synchronous: 'full' });
    expect(conn(store).pragma('synchronous', { simple: true })).toBe(2);
  });

  it('rejects an unknown synchronous setting', () => {
    expect(() => openSqliteStore({ path: join(tmp.make(), 's.db'), synchronous: 'off' as 'full' })).toThrow(/synchronous/);
  });

  it("works with ':memory:'", async () => {
    const store = open(':memory:');
    await store.createSession(session('s1'));
    expect((await store.getSession('s1'))?.id).toBe('s1');
  });

  it('read-only: reads work, writes reject, a missing file throws', async () => {
    const { store, path } = fresh();
    await store.createSession(session('s1'));
    const ro = open(path, { readonly: true });
    expect(ro.schemaVersion).toBe(SCHEMA_VERSION);
    expect((await ro.getSession('s1'))?.id).toBe('s1');
    await expect(ro.createSession(session('s2'))).rejects.toThrow(/readonly/);
    expect(() => openSqliteStore({ path: join(tmp.make(), 'missing.db'), readonly: true })).toThrow();
  });

  it('close twice is harmless; calls after close reject (never throw synchronously)', async () => {
    const { store } = fresh();
    await store.close();
    await store.close();
    expect(store.open).toBe(false);
    const p = store.getSession('x');
    await expect(p).rejects.toThrow(/not open/);
    await expect(store.appendEvents([event('x', 1)])).rejects.toThrow();
  });
});

describe('sessions', () => {
  it('round-trips a session; unknown id is undefined; a duplicate id rejects', async () => {
    const { store } = fresh();
    const s = session('s1', { actors: [], groups: ['a', 'b'], via: 'oidc' });
    await store.createSession(s);
    expect(await store.getSession('s1')).toEqual(s);
    expect(await store.getSession('nope')).toBeUndefined();
    await expect(store.createSession(s)).rejects.toThrow(/UNIQUE/);
  });

  it('endSession sets end time and reason once (first end wins); unknown id is a no-op', async () => {
    const { store } = fresh();
    await store.createSession(session('s1'));
    await store.endSession('s1', '2025-01-01T01:00:00.000Z', 'client disconnected');
    await store.endSession('s1', '2025-01-01T02:00:00.000Z', 'killed');
    const s = await store.getSession('s1');
    expect(s?.endedAt).toBe('2025-01-01T01:00:00.000Z');
    expect(s?.endReason).toBe('client disconnected');
    await expect(store.endSession('nope', '2025-01-01T01:00:00.000Z', 'x')).resolves.toBeUndefined();
  });

  it('listSessions: newest first, filters by connection, subject, before, active', async () => {
    const { store } = fresh();
    const t = (m: number) => new Date(Date.UTC(2025, 0, 1, 0, m)).toISOString();
    await store.createSession(session('a', { startedAt: t(1), connection: 'db1', subject: 'alice' }));
    await store.createSession(session('b', { startedAt: t(2), connection: 'db2', subject: 'alice' }));
    await store.createSession(session('c', { startedAt: t(3), connection: 'db1', subject: 'bob' }));
    await store.createSession(session('d', { startedAt: t(4), connection: 'db1', subject: 'alice' }));
    await store.endSession('d', t(5), 'done');
    const ids = async (q: Parameters<SqliteStore['listSessions']>[0]) => (await store.listSessions(q)).map((s) => s.id);
    expect(await ids({})).toEqual(['d', 'c', 'b', 'a']);
    expect(await ids({ connection: 'db1' })).toEqual(['d', 'c', 'a']);
    expect(await ids({ subject: 'alice' })).toEqual(['d', 'b', 'a']);
    expect(await ids({ connection: 'db1', subject: 'alice' })).toEqual(['d', 'a']);
    expect(await ids({ before: t(3) })).toEqual(['b', 'a']);
    expect(await ids({ active: true })).toEqual(['c', 'b', 'a']);
    expect(await ids({ active: false })).toEqual(['d', 'c', 'b', 'a']);
    expect(await ids({ limit: 2 })).toEqual(['d', 'c']);
    expect(await ids({ limit: 2, before: t(3), connection: 'db1', subject: 'alice', active: true })).toEqual(['a']);
    expect(await ids({ connection: 'none' })).toEqual([]);
  });

  it('listSessions: same start time falls back to insertion order (newest first)', async () => {
    const { store } = fresh();
    for (const id of ['x', 'y', 'z']) await store.createSession(session(id));
    expect((await store.listSessions({})).map((s) => s.id)).toEqual(['z', 'y', 'x']);
  });

  it('listSessions: default limit 50, max 1000, nonsense limits clamp', async () => {
    const { store } = fresh();
    const db = conn(store);
    db.transaction(() => {
      for (let i = 0; i < 1005; i++) {
        const s = session(`s${i}`, { startedAt: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString() });
        db.prepare(
          `INSERT INTO sessions (id, connection, protocol, subject, actors, "groups", via, client, started_at) VALUES (?,?,?,?,?,?,?,?,?)`,
        ).run(s.id, s.connection, s.protocol, s.subject, '[]', '[]', s.via, s.client, s.startedAt);
      }
    })();
    expect(await store.listSessions({})).toHaveLength(50);
    expect((await store.listSessions({}))[0]!.id).toBe('s1004');
    expect(await store.listSessions({ limit: 5000 })).toHaveLength(1000);
    expect(await store.listSessions({ limit: 0 })).toHaveLength(1);
    expect(await store.listSessions({ limit: -3 })).toHaveLength(1);
    expect(await store.listSessions({ limit: Number.NaN })).toHaveLength(50);
    expect(await store.listSessions({ limit: 2.7 })).toHaveLength(2);
  });

  it('closeOrphanSessions ends every open session with reason "gateway restart" and returns their ids', async () => {
    const { store } = fresh();
    await store.createSession(session('open1'));
    await store.createSession(session('open2'));
    await store.createSession(session('ended'));
    await store.endSession('ended', '2025-01-01T00:10:00.000Z', 'client disconnected');
    const ids = await store.closeOrphanSessions('2025-01-02T00:00:00.000Z');
    expect(ids.sort()).toEqual(['open1', 'open2']);
    const s = await store.getSession('open1');
    expect(s?.endedAt).toBe('2025-01-02T00:00:00.000Z');
    expect(s?.endReason).toBe('gateway restart');
    expect((await store.getSession('ended'))?.endReason).toBe('client disconnected');
    expect(await store.closeOrphanSessions('2025-01-03T00:00:00.000Z')).toEqual([]);
    expect(await store.listSessions({ active: true })).toEqual([]);
  });
});

describe('events', () => {
  it('appends one and many; getEvents is ordered by seq; lastEvent is the highest seq', async () => {
    const { store } = fresh();
    await store.createSession(session('s1'));
    await store.appendEvents([event('s1', 1)]);
    await store.appendEvents([event('s1', 3), event('s1', 2), event('s1', 4)]);
    await store.appendEvents([]);
    const got = await store.getEvents('s1');
    expect(got.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(got[0]).toEqual(event('s1', 1));
    expect(await store.lastEvent('s1')).toEqual(event('s1', 4));
    expect(await store.lastEvent('nope')).toBeUndefined();
    expect(await store.getEvents('nope')).toEqual([]);
  });

  it('round-trips data JSON exactly (nested, unicode, numbers, null, key order)', async () => {
    const { store } = fresh();
    await store.createSession(session('s1'));
    const data = {
      z: 1,
      a: { nested: [1, 'two', null, { deep: true }], empty: {} },
      text: 'héllo \u0000 "quoted" \n 🚀 \u2028',
      big: 9007199254740991,
      neg: -1.5e-7,
    };
    await store.appendEvents([event('s1', 1, { type: 'output', data })]);
    const [e] = await store.getEvents('s1');
    expect(e!.data).toEqual(data);
    expect(Object.keys(e!.data)).toEqual(['z', 'a', 'text', 'big', 'neg']);
  });

  it('journal mode: multi-byte text in one append does not shift the next (byte offsets), and both survive a reopen', async () => {
    const path = join(tmp.make(), 'sluice.db');
    const store = openSqliteStore({ path, journal: true });
    await store.createSession(session('s1'));
    const wide = { text: 'é中🚀'.repeat(500) };
    store.appendEventsNow([event('s1', 1, { type: 'output', data: wide })]);
    store.appendEventsNow([event('s1', 2), event('s1', 3, { type: 'output', data: { text: 'plain' } })]);
    // Larger than the journal's encoding buffer, in the middle of a group.
    const huge = { text: 'é中🚀\t\n'.repeat(30000) };
    store.appendEventsNow([event('s1', 4, { type: 'output', data: { text: 'before' } }), event('s1', 5, { type: 'output', data: huge }), event('s1', 6)]);
    store.appendEventsNow([event('s1', 7, { type: 'output', data: { text: 'after' } })]);
    const got = await store.getEvents('s1');
    expect(got.map((e) => [e.seq, e.data])).toEqual([
      [1, wide],
      [2, event('s1', 2).data],
      [3, { text: 'plain' }],
      [4, { text: 'before' }],
      [5, huge],
      [6, event('s1', 6).data],
      [7, { text: 'after' }],
    ]);
    await store.close();
    const again = open(path);
    expect((await again.getEvents('s1')).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('journal mode: an event whose session, type or time holds a tab or newline is refused, not written', async () => {
    for (const over of [{ session: 's1\tx' }, { type: 'output\n' }, { at: '2025-01-01T00:00:00\t' }]) {
      const path = join(tmp.make(), 'sluice.db');
      const store = openSqliteStore({ path, journal: true });
      await store.createSession(session('s1'));
      store.appendEventsNow([event('s1', 1)]);
      expect(() => store.appendEventsNow([event('s1', 2, over)])).toThrow(/tab or newline/);
      expect(readFileSync(`${path}.journal`, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
      await store.close().catch(() => undefined);
    }
  });

  it('journal mode: a journal replayed at open skips the events the mover had already stored, and stores the rest once', async () => {
    const path = join(tmp.make(), 'sluice.db');
    const store = openSqliteStore({ path, journal: true });
    await store.createSession(session('s1'));
    await store.createSession(session('s2'));
    store.appendEventsNow([event('s1', 1), event('s2', 1), event('s1', 2)]);
    expect((await store.getEvents('s1')).map((e) => e.seq)).toEqual([1, 2]); // moved into SQLite
    store.appendEventsNow([event('s1', 3), event('s2', 2)]);
    // a crash before the journal was emptied: it still holds all five events, two of them not moved yet
    const journal = readFileSync(`${path}.journal`);
    await store.close();
    writeFileSync(`${path}.journal`, journal);
    const raw = new Database(path);
    raw.prepare(`DELETE FROM event_blocks WHERE first_seq > 2 OR (session = 's2' AND first_seq = 2)`).run();
    raw.close();
    const again = openSqliteStore({ path, journal: true });
    expect((await again.getEvents('s1')).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect((await again.getEvents('s2')).map((e) => e.seq)).toEqual([1, 2]);
    await again.close();
  });

  it('journal mode: past 1 MiB, appends move to the other journal file once it is drained, and it starts over in place; a reopen and a replay of both files read everything back', async () => {
    const path = join(tmp.make(), 'sluice.db');
    const store = openSqliteStore({ path, journal: true });
    await store.createSession(session('s1'));
    const text = 'x'.repeat(4000);
    let seq = 0;
    for (let i = 0; i < 300; i++) store.appendEventsNow([event('s1', ++seq, { type: 'output', data: { text } })]);
    // Past 1 MiB the appends went on in the second file (empty, so drained).
    expect(await store.getEvents('s1')).toHaveLength(300);
    const grown = statSync(`${path}.journal`).size;
    expect(grown).toBeGreaterThan(1 << 20);
    expect(grown).toBeLessThan(300 * 4000);
    expect(statSync(`${path}.journal2`).size).toBeGreaterThan(0);
    // Past 1 MiB in the second file too: back to the first, from offset 0, in the pages it has.
    for (let i = 0; i < 300; i++) store.appendEventsNow([event('s1', ++seq, { type: 'output', data: { text } })]);
    store.appendEventsNow([event('s1', ++seq, { type: 'output', data: { text: 'last' } })]);
    expect(statSync(`${path}.journal`).size).toBe(grown); // written over, not grown or emptied
    const got = await store.getEvents('s1');
    expect(got.map((e) => e.seq)).toEqual(Array.from({ length: 601 }, (_, i) => i + 1));
    expect(got.at(-1)!.data).toEqual({ text: 'last' });
    // What a crash would leave: both files, each up to its end mark, older bytes after it.
    const journals = [readFileSync(`${path}.journal`), readFileSync(`${path}.journal2`)];
    await store.close();
    writeFileSync(`${path}.journal`, journals[0]!);
    writeFileSync(`${path}.journal2`, journals[1]!);
    const again = open(path);
    expect((await again.getEvents('s1')).map((e) => e.seq)).toEqual(Array.from({ length: 601 }, (_, i) => i + 1));
    await again.close();
    const replayed = openSqliteStore({ path, journal: true });
    expect((await replayed.getEvents('s1')).map((e) => e.seq)).toEqual(Array.from({ length: 601 }, (_, i) => i + 1));
    await replayed.close();
  });

  it('journal mode: under a load that never pauses neither journal file keeps growing, and a replay of both (events of one session in both files) loses nothing', async () => {
    const path = join(tmp.make(), 'sluice.db');
    const store = openSqliteStore({ path, journal: true });
    await Promise.all(['s1', 's2'].map((s) => store.createSession(session(s))));
    const text = 'y'.repeat(4000);
    const seqs = { s1: 0, s2: 0 };
    let largest = 0;
    let copies: Buffer[] = [];
    let stored = { s1: 0, s2: 0 };
    // About 16 MiB, appended while the mover works: it is never idle between batches.
    for (let i = 0; i < 4000; i++) {
      const s = i % 3 === 0 ? 's2' : 's1';
      store.appendEventsNow([event(s, ++seqs[s], { type: 'output', data: { text } })]);
      if (i % 40 === 39) {
        await new Promise((r) => setTimeout(r, 2));
        largest = Math.max(largest, statSync(`${path}.journal`).size, statSync(`${path}.journal2`).size);
      }
      if (i === 3000) {
        // A crash here leaves what SQLite holds now and the two files as they are (the mover runs on meanwhile, the switch cannot).
        const db = new Database(path, { readonly: true });
        const storedUpTo = db.prepare('SELECT coalesce(max(last_seq), 0) FROM event_blocks WHERE session = ?').pluck();
        stored = { s1: storedUpTo.get('s1') as number, s2: storedUpTo.get('s2') as number };
        db.close();
        copies = [readFileSync(`${path}.journal`), readFileSync(`${path}.journal2`)];
      }
    }
    expect(largest).toBeGreaterThan(1 << 20);
    // With the rule of one file that starts over only when the mover is idle, it reached 16 MB.
    expect(largest).toBeLessThan(8 << 20);
    expect((await store.getEvents('s1')).map((e) => e.seq)).toEqual(Array.from({ length: seqs.s1 }, (_, i) => i + 1));
    expect((await store.getEvents('s2')).map((e) => e.seq)).toEqual(Array.from({ length: seqs.s2 }, (_, i) => i + 1));
    await store.close();
    // The crash at event 3000: the files as they were then, and only what SQLite held then.
    writeFileSync(`${path}.journal`, copies[0]!);
    writeFileSync(`${path}.journal2`, copies[1]!);
    const upTo = { s1: 0, s2: 0 };
    for (let i = 0; i <= 3000; i++) upTo[i % 3 === 0 ? 's2' : 's1']++;
    expect(stored.s1).toBeLessThanOrEqual(upTo.s1);
    const raw = new Database(path);
    for (const s of ['s1', 's2'] as const) raw.prepare(`DELETE FROM event_blocks WHERE session = ? AND first_seq > ?`).run(s, stored[s]);
    raw.close();
    const replayed = openSqliteStore({ path, journal: true });
    for (const s of ['s1', 's2'] as const) {
      const got = (await replayed.getEvents(s)).map((e) => e.seq);
      expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i + 1));
      expect(got.length).toBe(upTo[s]);
    }
    await replayed.close();
  });

  it('journal mode: a line the mover cannot read (edited before it was moved) stops the store: later appends are refused', async () => {
    const path = join(tmp.make(), 'sluice.db');
    const store = openSqliteStore({ path, journal: true });
    await store.createSession(session('s1'));
    store.appendEventsNow([event('s1', 1)]);
    // Within the mover's delay: its seq is no longer a number.
    const text = readFileSync(`${path}.journal`, 'utf8');
    writeFileSync(`${path}.journal`, text.replace('s1\t1\t', 's1\tx\t'));
    await store.getEvents('s1').catch(() => undefined);
    expect(() => store.appendEventsNow([event('s1', 2)])).toThrow(/cannot move journalled events into the store: malformed journal line at byte 0/);
    await store.close().catch(() => undefined);
  });

  it('blocks read back only as the consecutive events of their session: a line moved, added or dropped is a CorruptRowError', async () => {
    const { store, path } = fresh();
    await store.createSession(session('s1'));
    await store.createSession(session('s2'));
    await store.appendEvents([event('s1', 1), event('s1', 2), event('s1', 3)]);
    await store.appendEvents([event('s2', 1)]);
    const raw = new Database(path);
    const block = (s: string) => raw.prepare<string>(`SELECT events FROM event_blocks WHERE session = ?`).pluck().get(s)!;
    const s1 = block('s1');
    const lines = s1.split('\n').filter(Boolean);
    const set = (s: string, text: string, last?: number) =>
      raw.prepare(`UPDATE event_blocks SET events = ?, last_seq = coalesce(?, last_seq) WHERE session = ?`).run(text, last ?? null, s);
    const cases: [string, () => void, RegExp][] = [
      ['a line dropped', () => set('s1', `${lines[0]}\n${lines[2]}\n`), /s1#2: line belongs to s1#3/],
      ['lines swapped', () => set('s1', `${lines[1]}\n${lines[0]}\n${lines[2]}\n`), /s1#1: line belongs to s1#2/],
      ['the last line dropped', () => set('s1', `${lines[0]}\n${lines[1]}\n`), /s1#3: the block holds fewer events/],
      ['a line added', () => set('s1', `${s1}${lines[2]}\n`), /s1#4: the block holds more events/],
      ['a line of another session', () => set('s1', block('s2'), 1), /s1#1: line belongs to s2#1/],
      ['a field missing', () => set('s1', `${lines[0]!.split('\t').slice(1).join('\t')}\n`, 1), /s1#1: malformed event line/],
    ];
    for (const [what, edit, error] of cases) {
      edit();
      await expect(store.getEvents('s1'), what).rejects.toThrow(error);
      set('s1', s1, 3);
      expect(await store.getEvents('s1')).toHaveLength(3);
    }
    raw.close();
  });

  it('a batch is atomic: a duplicate (session, seq) rejects and nothing of the batch is stored', async () => {
    const { store } = fresh();
    await store.createSession(session('s1'));
    await store.appendEvents([event('s1', 1)]);
    await expect(store.appendEvents([event('s1', 2), event('s1', 3), event('s1', 1)])).rejects.toThrow(/s1#1 is already stored/);
    expect((await store.getEvents('s1')).map((e) => e.seq)).toEqual([1]);
    await expect(store.appendEvents([event('s1', 1)])).rejects.toThrow(/s1#1 is already stored/);
    // the store still works afterwards
    await store.appendEvents([event('s1', 2)]);
    expect((await store.lastEvent('s1'))?.seq).toBe(2);
  });

  it('an event for an unknown session rejects (foreign key)', async () => {
    const { store } = fresh();
    await expect(store.appendEvents([event('ghost', 1)])).rejects.toThrow(/FOREIGN KEY/);
    await expect(store.appendEvents([event('ghost', 1), event('ghost', 2)])).rejects.toThrow(/FOREIGN KEY/);
  });

  it('has no update or delete API (append-only)', () => {
    const { store } = fresh();
    const methods = Object.getOwnPropertyNames(SqliteStore.prototype).concat(Object.keys(store));
    expect(methods.filter((m) => /(update|delete|remove|edit).*event|event.*(update|delete|remove|edit)/i.test(m))).toEqual([]);
  });

  it('iterateEvents streams every event ordered by session then seq, across page boundaries', async () => {
    const { store } = fresh();
    const sessions = ['b', 'a', 'c'];
    const expected: Array<[string, number]> = [];
    for (const s of sessions) await store.createSession(session(s));
    // interleave sessions and write seqs out of order to prove the ORDER BY
    for (let seq = 1; seq <= 420; seq++) {
      await store.appendEvents(sessions.map((s) => event(s, 421 - seq)));
    }
    for (const s of ['a', 'b', 'c']) for (let seq = 1; seq <= 420; seq++) expected.push([s, seq]);
    const got: Array<[string, number]> = [];
    for await (const e of store.iterateEvents()) got.push([e.session, e.seq]);
    expect(got).toEqual(expected);
  });

  it('iterateEvents on an empty store yields nothing; an exact page multiple ends cleanly', async () => {
    const { store } = fresh();
    const none: StoredEvent[] = [];
    for await (const e of store.iterateEvents()) none.push(e);
    expect(none).toEqual([]);
    await store.createSession(session('s'));
    await store.appendEvents(Array.from({ length: 500 }, (_, i) => event('s', i + 1)));
    let n = 0;
    for await (const _ of store.iterateEvents()) n++;
    expect(n).toBe(500);
  });

  it('the store keeps working (appends succeed) while an iteration is paused mid-way', async () => {
    const { store } = fresh();
    await store.createSession(session('a'));
    await store.createSession(session('z'));
    await store.appendEvents(Array.from({ length: 1200 }, (_, i) => event('a', i + 1)));
    const it = store.iterateEvents()[Symbol.asyncIterator]();
    expect((await it.next()).value?.seq).toBe(1);
    // while the audit is paused, the gateway appends to another session and to this one
    await store.appendEvents([event('z', 1)]);
    await store.appendEvents([event('a', 1201)]);
    expect((await store.lastEvent('z'))?.seq).toBe(1);
    let n = 1;
    let last: StoredEvent | undefined;
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      last = r.value;
      n++;
    }
    // appended after the position, so included
    expect(n).toBe(1202);
    expect(last).toEqual(event('z', 1));
  });

  it('an event edited to invalid JSON surfaces as CorruptRowError naming the row', async () => {
    const { store, path } = fresh();
    await store.createSession(session('s1'));
    await store.appendEvents([event('s1', 1), event('s1', 2)]);
    tamperEvent(path, 's1', 2, (f) => [...f.slice(0, 6), '{broken']);
    await expect(store.getEvents('s1')).rejects.toThrow(CorruptRowError);
    await expect(store.getEvents('s1')).rejects.toThrow(/s1#2/);
    const it = store.iterateEvents()[Symbol.asyncIterator]();
    expect((await it.next()).value?.seq).toBe(1);
    await expect(it.next()).rejects.toThrow(CorruptRowError);
  });

  it('a raw connection can tamper with an event (no triggers), so audit tests can prove detection', async () => {
    const { store, path } = fresh();
    await store.createSession(session('s1'));
    await store.appendEvents([event('s1', 1), event('s1', 2)]);
    tamperEvent(path, 's1', 1, (f) => [...f.slice(0, 6), JSON.stringify({ ...JSON.parse(f[6]!), text: 'drop table x' })]);
    tamperEvent(path, 's1', 2, () => null);
    const got = await store.getEvents('s1');
    expect(got).toHaveLength(1);
    expect(got[0]!.data.text).toBe('drop table x');
  });
});

describe('approvals', () => {
  it('round-trips, lists (oldest first, optionally by status)', async () => {
    const { store } = fresh();
    await store.createSession(session('s1'));
    const a1 = approval('a1', 's1', { createdAt: '2025-01-01T00:00:02.000Z' });
    const a2 = approval('a2', 's1', { createdAt: '2025-01-01T00:00:01.000Z' });
    const a3 = approval('a3', 's1', { createdAt: '2025-01-01T00:00:03.000Z', status: 'denied', decidedAt: 'x', decidedBy: 'bob', reason: 'no' });
    for (const a of [a1, a2, a3]) await store.createApproval(a);
    expect(await store.getApproval('a1')).toEqual(a1);
    expect(await store.getApproval('nope')).toBeUndefined();
    expect((await store.listApprovals()).map((a) => a.id)).toEqual(['a2', 'a1', 'a3']);
    expect((await store.listApprovals('pending')).map((a) => a.id)).toEqual(['a2', 'a1']);
    expect((await store.listApprovals('denied')).map((a) => a.id)).toEqual(['a3']);
    expect(await store.listApprovals('expired')).toEqual([]);
    await expect(store.createApproval(a1)).rejects.toThrow(/UNIQUE/);
    await expect(store.createApproval(approval('a9', 'ghost'))).rejects.toThrow(/FOREIGN KEY/);
    await expect(store.createApproval(approval('a8', 's1', { status: 'bogus' as 'pending' }))).rejects.toThrow(/CHECK/);
  });

  it('decideApproval is compare-and-set: first decision wins, later ones return false and change nothing', async () => {
    const { store } = fresh();
    await store.createSession(session('s1'));
    await store.createApproval(approval('a1', 's1'));
    expect(await store.decideApproval('a1', 'approved', 'bob@example.com', 'looks fine', '2025-01-01T00:01:00.000Z')).toBe(true);
    expect(await store.decideApproval('a1', 'denied', 'carol@example.com', 'no', '2025-01-01T00:02:00.000Z')).toBe(false);
    expect(await store.decideApproval('a1', 'expired', null, null, '2025-01-01T00:05:00.000Z')).toBe(false);
    const a = await store.getApproval('a1');
    expect(a).toMatchObject({ status: 'approved', decidedBy: 'bob@example.com', reason: 'looks fine', decidedAt: '2025-01-01T00:01:00.000Z' });
    expect(await store.decideApproval('nope', 'approved', 'bob', null, 'x')).toBe(false);
    await expect(store.decideApproval('a1', 'pending' as 'approved', null, null, 'x')).rejects.toThrow(TypeError);
  });

  it('two decisions racing (concurrent calls, and two stores on one file): exactly one wins', async () => {
    const { store, path } = fresh();
    const other = open(path);
    await store.createSession(session('s1'));
    await store.createApproval(approval('a1', 's1'));
    await store.createApproval(approval('a2', 's1'));
    const r1 = await Promise.all([
      store.decideApproval('a1', 'approved', 'bob', null, 't1'),
      store.decideApproval('a1', 'denied', 'carol', null, 't2'),
    ]);
    expect(r1.filter(Boolean)).toHaveLength(1);
    const r2 = await Promise.all([
      other.decideApproval('a2', 'cancelled', null, 'client disconnected', 't1'),
      store.decideApproval('a2', 'approved', 'bob', null, 't2'),
    ]);
    expect(r2).toEqual([true, false]);
    expect((await store.getApproval('a2'))?.status).toBe('cancelled');
  });

  it('abandonPendingApprovals marks every pending one abandoned and returns their ids', async () => {
    const { store } = fresh();
    await store.createSession(session('s1'));
    await store.createApproval(approval('p1', 's1'));
    await store.createApproval(approval('p2', 's1'));
    await store.createApproval(approval('d1', 's1'));
    await store.decideApproval('d1', 'denied', 'bob', 'no', 't');
    const ids = await store.abandonPendingApprovals('2025-01-02T00:00:00.000Z');
    expect(ids.sort()).toEqual(['p1', 'p2']);
    expect(await store.getApproval('p1')).toMatchObject({ status: 'abandoned', decidedAt: '2025-01-02T00:00:00.000Z', decidedBy: null });
    expect((await store.getApproval('d1'))?.status).toBe('denied');
    expect(await store.listApprovals('pending')).toEqual([]);
    expect(await store.abandonPendingApprovals('x')).toEqual([]);
    // an abandoned approval can no longer be decided
    expect(await store.decideApproval('p1', 'approved', 'bob', null, 't')).toBe(false);
  });
});

describe('API keys', () => {
  it('create, find by hash, list, revoke (once); the hash is unique', async () => {
    const { store } = fresh();
    const k1 = apiKey('k1', 'a'.repeat(64), { createdAt: '2025-01-01T00:00:01.000Z' });
    const k2 = apiKey('k2', 'b'.repeat(64), { onBehalfOf: null, expiresAt: '2026-01-01T00:00:00.000Z', groups: [] });
    await store.createApiKey(k1);
    await store.createApiKey(k2);
    expect(await store.findApiKeyByHash('a'.repeat(64))).toEqual(k1);
    expect(await store.findApiKeyByHash('c'.repeat(64))).toBeUndefined();
    expect((await store.listApiKeys()).map((k) => k.id)).toEqual(['k2', 'k1']);
    await expect(store.createApiKey(apiKey('k3', 'a'.repeat(64)))).rejects.toThrow(/UNIQUE/);
    expect(await store.revokeApiKey('k1', '2025-02-01T00:00:00.000Z')).toBe(true);
    expect(await store.revokeApiKey('k1', '2025-03-01T00:00:00.000Z')).toBe(false);
    expect(await store.revokeApiKey('nope', '2025-03-01T00:00:00.000Z')).toBe(false);
    // a revoked key is still found (the caller refuses it) and keeps its first revocation time
    expect((await store.findApiKeyByHash('a'.repeat(64)))?.revokedAt).toBe('2025-02-01T00:00:00.000Z');
  });
});

describe('sharing one file (CLI + running gateway)', () => {
  it("each instance sees the other's writes", async () => {
    const { store: gateway, path } = fresh();
    const cli = open(path);
    // CLI creates a key while the gateway runs; the gateway authenticates with it
    await cli.createApiKey(apiKey('k1', 'f'.repeat(64)));
    expect((await gateway.findApiKeyByHash('f'.repeat(64)))?.id).toBe('k1');
    // gateway records; CLI lists and shows
    await gateway.createSession(session('s1'));
    await gateway.appendEvents([event('s1', 1), event('s1', 2)]);
    expect((await cli.listSessions({ active: true })).map((s) => s.id)).toEqual(['s1']);
    expect((await cli.getEvents('s1')).map((e) => e.seq)).toEqual([1, 2]);
    // CLI decides an approval the gateway created; the gateway sees the decision
    await gateway.createApproval(approval('a1', 's1'));
    expect(await cli.decideApproval('a1', 'approved', 'bob', null, 't')).toBe(true);
    expect((await gateway.getApproval('a1'))?.status).toBe('approved');
    // CLI revokes; gateway sees it
    await cli.revokeApiKey('k1', 't');
    expect((await gateway.findApiKeyByHash('f'.repeat(64)))?.revokedAt).toBe('t');
    // a read-only CLI instance too
    const ro = open(path, { readonly: true });
    await gateway.appendEvents([event('s1', 3)]);
    expect((await ro.lastEvent('s1'))?.seq).toBe(3);
  });

  it('a writer waits (busy_timeout) for another connection holding the write lock instead of failing', async () => {
    const { store, path } = fresh();
    const sqlitePath = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads');
      const Database = require(workerData.sqlitePath);
      const db = new Database(workerData.path);
      db.exec('BEGIN IMMEDIATE');
      db.prepare("INSERT INTO sessions (id, connection, protocol, subject, actors, \\"groups\\", via, client, started_at) VALUES ('w','c','p','s','[]','[]','oidc','x','2025-01-01T00:00:00.000Z')").run();
      parentPort.postMessage('locked');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400);
      db.exec('COMMIT');
      db.close();
      parentPort.postMessage('done');
      `,
      { eval: true, workerData: { path, sqlitePath } },
    );
    try {
      const done = new Promise<void>((res, rej) => {
        worker.on('message', (m) => m === 'done' && res());
        worker.on('error', rej);
      });
      await new Promise<void>((res) => worker.once('message', (m) => m === 'locked' && res()));
      const t0 = Date.now();
      await store.createSession(session('main'));
      const waited = Date.now() - t0;
      expect(waited).toBeGreaterThanOrEqual(150);
      expect(waited).toBeLessThan(4000);
      await done;
      expect((await store.listSessions({})).map((s) => s.id).sort()).toEqual(['main', 'w']);
    } finally {
      await worker.terminate();
    }
  });
});
