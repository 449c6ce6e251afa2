/**
 * What SQL leaves in a session (prepared statements by name, cursors) must
 * be what the target holds. A PREPARE, DEALLOCATE, DECLARE or Close the
 * target never ran — the gateway refused the text, an earlier statement
 * failed, a Parse was never executed, a Close was discarded after an error —
 * must not change what EXECUTE is judged as or what FETCH is masked by.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { cstr, errorFields, int16, message, PgRaw, type Msg } from '../support/pg-wire.js';
import { pendingApproval, pgSkip, policies, setupPg, type PgEnv } from './fixture.js';

const skip = await pgSkip();

const parse = (name: string, sql: string) => message('P', Buffer.concat([cstr(name), cstr(sql), int16(0)]));
const bind = (portal: string, stmt: string) => message('B', Buffer.concat([cstr(portal), cstr(stmt), int16(0), int16(0), int16(0)]));
const execute = (portal = '') => message('E', Buffer.concat([cstr(portal), Buffer.alloc(4)]));
const close = (target: 'S' | 'P', name: string) => message('C', Buffer.concat([Buffer.from(target), cstr(name)]));
const query = (sql: string) => message('Q', cstr(sql));
const sync = message('S');

/** The text cells of every DataRow. */
function rows(msgs: Msg[]): (string | null)[][] {
  return msgs
    .filter((m) => m.type === 'D')
    .map((m) => {
      const out: (string | null)[] = [];
      let off = 2;
      for (let i = 0; i < m.body.readInt16BE(0); i++) {
        const len = m.body.readInt32BE(off);
        off += 4;
        out.push(len < 0 ? null : m.body.toString('utf8', off, off + len));
        if (len > 0) off += len;
      }
      return out;
    });
}

/** A cursor over a rule-covered column (ssn) and a computed one from another (balance). */
const COVERED = "SELECT ssn || '' AS x, balance + 0 AS b FROM customers ORDER BY id";

async function ordersLeft(env: PgEnv): Promise<number> {
  return Number((await env.admin.query('SELECT count(*) AS n FROM orders')).rows[0].n);
}

describe.skipIf(!!skip)(`postgres gateway: SQL state follows the target${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: PgEnv;
  let raw: PgRaw;

  beforeAll(async () => {
    env = await setupPg();
  });
  afterAll(async () => {
    await env?.close();
  });

  async function open(): Promise<PgRaw> {
    raw = await PgRaw.open(env.gw.port, { user: 'alice', database: 'orders' }, env.agent.secret);
    return raw;
  }

  /** FETCH ALL FROM c shows both computed columns masked (ssn's and balance's). */
  async function fetchCIsMasked(r: PgRaw): Promise<void> {
    expect(rows(await r.exchange(query('FETCH ALL FROM c')))).toEqual([
      ['[REDACTED]', '[REDACTED]'],
      ['[REDACTED]', '[REDACTED]'],
    ]);
  }

  /** A protocol portal named c over the covered query, then FETCH from it by name: masked. */
  async function portalCIsMasked(r: PgRaw): Promise<void> {
    const bound = await r.exchange(Buffer.concat([parse('', COVERED), bind('c', ''), sync]));
    expect(bound.map((m) => m.type)).toEqual(['1', '2', 'Z']);
    await fetchCIsMasked(r);
  }

  it('a DECLARE in a text the gateway refuses does not change what FETCH is masked by', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      await c.query(`DECLARE c CURSOR WITH HOLD FOR ${COVERED}`);
      await expect(c.query('DECLARE c CURSOR WITH HOLD FOR SELECT 1; DROP TABLE customers')).rejects.toThrow(/no-ddl/);
      expect((await c.query('FETCH ALL FROM c')).rows).toEqual([
        { x: '[REDACTED]', b: '[REDACTED]' },
        { x: '[REDACTED]', b: '[REDACTED]' },
      ]);
    } finally {
      await c.end();
    }
  });

  it('a DECLARE parsed but never executed does not change what FETCH is masked by', async () => {
    const r = await open();
    try {
      await r.exchange(query(`BEGIN; DECLARE c CURSOR FOR ${COVERED}`));
      const parsed = await r.exchange(Buffer.concat([parse('', 'DECLARE c CURSOR FOR SELECT 1 AS x, 2 AS b'), sync]));
      expect(parsed.map((m) => m.type)).toEqual(['1', 'Z']);
      await fetchCIsMasked(r);
    } finally {
      r.close();
    }
  });

  it('a protocol portal under the name of a closed cursor is masked as unknown, not as the cursor was', async () => {
    const r = await open();
    try {
      await r.exchange(query('BEGIN; DECLARE c CURSOR FOR SELECT 1 AS x, 2 AS b; CLOSE c'));
      await portalCIsMasked(r);
    } finally {
      r.close();
    }
  });

  it('a cursor declared in the text that ends its transaction is forgotten with it', async () => {
    const r = await open();
    try {
      await r.exchange(query('BEGIN'));
      await r.exchange(query('DECLARE c CURSOR FOR SELECT 1 AS x, 2 AS b; COMMIT'));
      await r.exchange(query('BEGIN'));
      await portalCIsMasked(r);
    } finally {
      r.close();
    }
  });

  it('a cursor rolled back with its savepoint is forgotten', async () => {
    const r = await open();
    try {
      await r.exchange(query('BEGIN; SAVEPOINT a; DECLARE c CURSOR FOR SELECT 1 AS x, 2 AS b; ROLLBACK TO a'));
      await portalCIsMasked(r);
    } finally {
      r.close();
    }
  });

  it('an extended-protocol EXECUTE of a prepared statement is judged as what the name holds when it runs', async () => {
    const r = await open();
    try {
      await r.exchange(query('PREPARE p AS SELECT 1'));
      expect((await r.exchange(Buffer.concat([parse('s1', 'EXECUTE p'), sync]))).map((m) => m.type)).toEqual(['1', 'Z']);
      // p now becomes the DELETE, with an approval for the PREPARE only.
      r.msgs.length = 0;
      r.sock.write(query('DEALLOCATE p; PREPARE p AS DELETE FROM orders'));
      const id = await pendingApproval(env);
      await env.gw.gateway.broker.decide(id, env.approver.identity, true, 'prepare only');
      await r.until((m) => m.some((x) => x.type === 'Z'), 'the PREPARE');
      // Executing s1 runs the DELETE: held for approval as that, then denied.
      r.msgs.length = 0;
      r.sock.write(Buffer.concat([bind('', 's1'), execute(), sync]));
      const held = await pendingApproval(env);
      const judged = (await env.gw.store.getApproval(held))!.command;
      expect(judged.objects).toEqual(['orders']);
      expect(judged.flags).toContain('unbounded');
      await env.gw.gateway.broker.decide(held, env.approver.identity, false, null);
      await r.until((m) => m.some((x) => x.type === 'Z'), 'the refusal');
      expect(errorFields(r.msgs.find((m) => m.type === 'E')!.body).C).toBe('42501');
    } finally {
      r.close();
    }
    expect(await ordersLeft(env)).toBe(20);
  });
});

describe.skipIf(!!skip)(`postgres gateway: prepared statement names follow the target under trustDynamicSql${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: PgEnv;

  beforeAll(async () => {
    env = await setupPg([], {}, policies.map((p) => ({ ...p, trustDynamicSql: true })));
  });
  afterAll(async () => {
    await env?.close();
  });

  /** A connection whose `p` is `DELETE FROM orders`, prepared with an approval. */
  async function planted(): Promise<pg.Client> {
    const c = await env.connect(env.agent.secret);
    const p = c.query('PREPARE p AS DELETE FROM orders');
    const id = await pendingApproval(env);
    await env.gw.gateway.broker.decide(id, env.approver.identity, true, 'prepare only');
    await p;
    return c;
  }

  /** `EXECUTE p` waits for an approval as the DELETE; denied, it runs nothing. */
  async function executeIsHeldAsTheDelete(c: pg.Client): Promise<void> {
    const ran = c.query('EXECUTE p').then(
      () => 'ran',
      (e: Error) => e.message,
    );
    const id = await pendingApproval(env);
    expect((await env.gw.store.getApproval(id))?.command).toMatchObject({ kind: 'DELETE', text: 'EXECUTE p' });
    await env.gw.gateway.broker.decide(id, env.approver.identity, false, null);
    expect(await ran).toMatch(/denied/i);
    expect(await ordersLeft(env)).toBe(20);
  }

  it('a DEALLOCATE in a text the gateway refuses changes nothing', async () => {
    const c = await planted();
    try {
      await expect(c.query('DEALLOCATE p; DROP TABLE customers')).rejects.toThrow(/no-ddl/);
      await executeIsHeldAsTheDelete(c);
    } finally {
      await c.end();
    }
  });

  it('a DEALLOCATE after a statement that fails never ran', async () => {
    const c = await planted();
    try {
      await expect(c.query('SELECT 1/0; DEALLOCATE p')).rejects.toThrow(/division by zero/);
      await executeIsHeldAsTheDelete(c);
    } finally {
      await c.end();
    }
  });

  /** A raw connection whose `p` is `DELETE FROM orders`, prepared with an approval. */
  async function plantedRaw(): Promise<PgRaw> {
    const r = await PgRaw.open(env.gw.port, { user: 'alice', database: 'orders' }, env.agent.secret);
    r.sock.write(query('PREPARE p AS DELETE FROM orders'));
    const id = await pendingApproval(env);
    await env.gw.gateway.broker.decide(id, env.approver.identity, true, 'prepare only');
    await r.until((m) => m.some((x) => x.type === 'Z'), 'the PREPARE');
    r.msgs.length = 0;
    return r;
  }

  /** As executeIsHeldAsTheDelete, on a raw connection. */
  async function rawExecuteIsHeld(r: PgRaw): Promise<void> {
    r.sock.write(query('EXECUTE p'));
    const held = await pendingApproval(env);
    expect((await env.gw.store.getApproval(held))?.command).toMatchObject({ kind: 'DELETE', text: 'EXECUTE p' });
    await env.gw.gateway.broker.decide(held, env.approver.identity, false, null);
    await r.until((m) => m.some((x) => x.type === 'Z'), 'the refusal');
    expect(errorFields(r.msgs.find((m) => m.type === 'E')!.body).C).toBe('42501');
    expect(await ordersLeft(env)).toBe(20);
  }

  it('a DEALLOCATE parsed but never executed changes nothing', async () => {
    const r = await plantedRaw();
    try {
      expect((await r.exchange(Buffer.concat([parse('', 'DEALLOCATE p'), sync]))).map((m) => m.type)).toEqual(['1', 'Z']);
      await rawExecuteIsHeld(r);
    } finally {
      r.close();
    }
  });

  it('a Close the target discards after an error changes nothing', async () => {
    const r = await plantedRaw();
    try {
      // The Parse fails, so the target discards the Close: p stays.
      const discarded = await r.exchange(Buffer.concat([parse('', 'SELECT nosuchcolumn'), close('S', 'p'), sync]));
      expect(discarded.map((m) => m.type)).toEqual(['E', 'Z']);
      await rawExecuteIsHeld(r);
    } finally {
      r.close();
    }
  });
});
