import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Gateway, createApiKey, keyIdentity, type Command, type Store } from '@sluice/core';
import { openSqliteStore } from '@sluice/store-sqlite';

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const conn = { name: 'db', type: 'postgres', target: 'postgres://x@127.0.0.1/x', access: ['agents'], secrets: {}, options: {} };
const cmd = (kind: string, text: string, flags: string[] = []): Command => ({ protocol: 'postgres', kind, text, objects: ['t'], flags });
const select = cmd('SELECT', 'SELECT * FROM t');
const drop = cmd('DROP', 'DROP TABLE t');
const del = cmd('DELETE', 'DELETE FROM t', ['unbounded']);

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

/** A gateway over a real SQLite store (journal on, as the gateway runs it); `wrap` can stand between them. */
async function setup(wrap: (s: Store) => Store = (s) => s) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-now-'));
  dirs.push(dir);
  const real = openSqliteStore({ path: join(dir, 's.db'), journal: true });
  const store = wrap(real);
  const gw = new Gateway({
    store,
    policies: [
      { name: 'no-drop', block: { sql: ['DROP'] } },
      { name: 'bulk', approve: { sql: ['DELETE'], unbounded: true, approvers: ['dba'], timeoutMs: 60_000 } },
    ],
    connections: [conn],
    authenticators: [],
    hashKey: randomBytes(32),
    tls: { cert: '', key: '' },
    logger,
    dataDir: dir,
  });
  const { record } = await createApiKey(real, { name: 'agent', groups: ['agents'] });
  const session = await gw.openSession(keyIdentity(record), 'db', { address: '127.0.0.1:1' }, 'postgres');
  return { real, gw, session, close: async () => (await gw.broker.cancelAll('test'), await real.close()) };
}

describe('Session.authorizeNow (the synchronous path)', () => {
  it('allows with the command already recorded when it returns, after what was queued before it', async () => {
    const t = await setup();
    const journalled: number[] = [];
    const orig = t.real.appendEventsNow!.bind(t.real);
    t.real.appendEventsNow = (events) => {
      orig(events);
      journalled.push(events.length);
    };
    t.session.result({ rows: 3, masked: 0 }); // queued, nobody waits for it
    const v = t.session.authorizeNow(select);
    expect(v).toMatchObject({ effect: 'allow' });
    // one write, holding the queued result and then the command
    expect(journalled).toEqual([2]);
    const events = await t.real.getEvents(t.session.id);
    expect(events.map((e) => e.type)).toEqual(['session.start', 'result', 'command']);
    expect(events.at(-1)!.data).toMatchObject({ kind: 'SELECT', decision: 'allow' });
    await t.close();
  });

  it('refuses a blocked command with the policy named, its record written', async () => {
    const t = await setup();
    const v = t.session.authorizeNow(drop);
    expect(v).toMatchObject({ effect: 'deny', code: 'SLUICE_POLICY_DENIED', policy: 'no-drop' });
    const events = await t.real.getEvents(t.session.id);
    expect(events.at(-1)).toMatchObject({ type: 'command', data: { kind: 'DROP', decision: 'block', policy: 'no-drop' } });
    await t.close();
  });

  it('leaves approvals to authorize: undefined, and nothing recorded', async () => {
    const t = await setup();
    const before = (await t.real.getEvents(t.session.id)).length;
    expect(t.session.authorizeNow(del)).toBeUndefined();
    expect((await t.real.getEvents(t.session.id)).length).toBe(before);
    await t.close();
  });

  it('leaves it to authorize while an asynchronous batch is on its way (events keep their order)', async () => {
    let release!: () => void;
    let gate: Promise<void> | null = null;
    const t = await setup((s) => {
      const slow = Object.create(s) as Store;
      slow.appendEvents = async (events) => {
        if (gate) await gate;
        return s.appendEvents(events);
      };
      return slow;
    });
    gate = new Promise<void>((r) => (release = r));
    const first = t.session.authorize(select); // goes through the slow asynchronous append
    await new Promise((r) => setImmediate(r));
    expect(t.session.authorizeNow(select)).toBeUndefined();
    release();
    expect(await first).toMatchObject({ effect: 'allow' });
    expect(t.session.authorizeNow(select)).toMatchObject({ effect: 'allow' });
    const seqs = (await t.real.getEvents(t.session.id)).map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect((await t.gw.verifyAudit()).ok).toBe(true);
    await t.close();
  });

  it('fails closed when the journal cannot be written: refused, and so is everything after', async () => {
    const t = await setup();
    t.real.appendEventsNow = () => {
      throw new Error('ENOSPC: no space left on device');
    };
    expect(t.session.authorizeNow(select)).toMatchObject({ effect: 'deny', code: 'SLUICE_RECORDING_FAILED' });
    // the chain is broken for good: neither path allows again
    expect(t.session.authorizeNow(select)).toBeUndefined();
    expect(await t.session.authorize(select)).toMatchObject({ effect: 'deny', code: 'SLUICE_RECORDING_FAILED' });
    await t.close();
  });
});
