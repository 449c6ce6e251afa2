/**
 * SQL-level prepared statements (PREPARE name FROM …, EXECUTE name,
 * DEALLOCATE PREPARE name) under policies that trust dynamic SQL, so that
 * EXECUTE is judged as what the name holds. The gateway must know what the
 * server holds under a name: a PREPARE or DEALLOCATE the server never ran
 * (the gateway refused the text, an earlier statement failed, the
 * prepared-statement protocol refused it) must not change what EXECUTE is
 * judged as. Each case plants `s` = an unbounded DELETE (approved once), then
 * tries to make the gateway believe otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '@sluice/core';
import { type MyConn, mySkip, pendingApproval, policies, setupMy, type MyEnv } from './fixture.js';
import { RawClient } from './raw.js';

const skip = await mySkip();

const trusting: Policy[] = policies.map((p) => ({ ...p, trustDynamicSql: true }));

function packet(payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  return Buffer.concat([h, payload]);
}

const comQuery = (sql: string) => packet(Buffer.concat([Buffer.from([0x03]), Buffer.from(sql, 'utf8')]));

describe.skipIf(!!skip)(`mysql gateway: SQL PREPARE / EXECUTE follow the server${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: MyEnv;

  beforeAll(async () => {
    env = await setupMy([], {}, trusting);
  });
  afterAll(async () => {
    await env?.close();
  });

  async function ordersLeft(): Promise<number> {
    const [rows] = await env.admin.query(`SELECT count(*) AS n FROM ${env.db}.orders`);
    return Number((rows as { n: number }[])[0]!.n);
  }

  /** A connection whose `s` is `DELETE FROM orders`, prepared with an approval. */
  async function planted(): Promise<MyConn> {
    const c = await env.connect(env.agent.secret, { multipleStatements: true });
    const p = c.query("PREPARE s FROM 'DELETE FROM orders'");
    const id = await pendingApproval(env);
    expect((await env.gw.gateway.broker.decide(id, env.approver.identity, true, 'prepare only')).status).toBe(200);
    await p;
    return c;
  }

  /** `EXECUTE s` must wait for an approval as the DELETE; denied, it runs nothing. */
  async function executeIsHeldAsTheDelete(c: MyConn): Promise<void> {
    const ran = c.query('EXECUTE s').then(
      () => 'ran',
      (e: Error) => e.message,
    );
    const id = await pendingApproval(env);
    const approval = await env.gw.store.getApproval(id);
    expect(approval?.command.text).toBe('EXECUTE s');
    expect(approval?.command.objects).toContain('orders');
    await env.gw.gateway.broker.decide(id, env.approver.identity, false, null);
    expect(await ran).toMatch(/denied/i);
    expect(await ordersLeft()).toBe(20);
  }

  it('a PREPARE in a text the gateway refuses changes nothing', async () => {
    const c = await planted();
    try {
      await expect(c.query("PREPARE s FROM 'SELECT 1'; DROP TABLE customers")).rejects.toThrow(/no-ddl/);
      await executeIsHeldAsTheDelete(c);
    } finally {
      c.destroy();
    }
  });

  it('a DEALLOCATE in a text the gateway refuses changes nothing', async () => {
    const c = await planted();
    try {
      await expect(c.query('DEALLOCATE PREPARE s; DROP TABLE customers')).rejects.toThrow(/no-ddl/);
      await executeIsHeldAsTheDelete(c);
    } finally {
      c.destroy();
    }
  });

  it('a PREPARE after a statement that fails never ran', async () => {
    const c = await planted();
    try {
      await expect(c.query("SELECT * FROM nosuch; PREPARE s FROM 'SELECT 1'")).rejects.toThrow(/doesn't exist/);
      await executeIsHeldAsTheDelete(c);
    } finally {
      c.destroy();
    }
  });

  it('a PREPARE that ran in a text that then failed: EXECUTE is judged as either statement', async () => {
    const c = await planted();
    try {
      await expect(c.query("PREPARE s FROM 'SELECT 1 AS one'; SELECT * FROM nosuch")).rejects.toThrow(/doesn't exist/);
      // The server now holds SELECT 1, but the gateway cannot tell from an error which statements ran.
      await executeIsHeldAsTheDelete(c);
    } finally {
      c.destroy();
    }
  });

  it('PREPARE and DEALLOCATE through the prepared-statement protocol change nothing (the server refuses them)', async () => {
    const c = await planted();
    try {
      await expect(c.prepare('DEALLOCATE PREPARE s')).rejects.toThrow(/not supported in the prepared statement protocol/);
      await expect(c.prepare("PREPARE s FROM 'SELECT 1'")).rejects.toThrow(/not supported in the prepared statement protocol/);
      await executeIsHeldAsTheDelete(c);
    } finally {
      c.destroy();
    }
  });

  it('a PREPARE the server ran replaces the statement: EXECUTE runs at once', async () => {
    const c = await planted();
    try {
      await c.query("PREPARE s FROM 'SELECT 41 + 1 AS answer'");
      const [rows] = await c.query('EXECUTE s');
      expect(rows).toEqual([{ answer: 42 }]);
      await c.query('DEALLOCATE PREPARE s');
      await expect(c.query('EXECUTE s')).rejects.toThrow(/Unknown prepared statement/);
    } finally {
      c.destroy();
    }
    expect(await ordersLeft()).toBe(20);
  });

  it('an EXECUTE sent behind an unanswered PREPARE is judged once the PREPARE is answered', async () => {
    const c = await planted();
    await c.end();
    // The same again on a raw socket, so both texts go in one write.
    const { c: raw } = await RawClient.login(env.gw.port, env.agent.secret);
    try {
      raw.write(comQuery("PREPARE s FROM 'DELETE FROM orders'"));
      const id = await pendingApproval(env);
      await env.gw.gateway.broker.decide(id, env.approver.identity, true, 'prepare only');
      expect((await raw.next())!.first).toBe(0x00);
      raw.write(Buffer.concat([comQuery("PREPARE s FROM 'SELECT 7 AS seven'"), comQuery('EXECUTE s')]));
      expect((await raw.next())!.first).toBe(0x00); // the PREPARE's OK
      const count = await raw.next(); // EXECUTE: a result set, not a hold for approval
      expect(count!.first).toBe(0x01);
    } finally {
      raw.sock.destroy();
    }
    expect(await env.gw.store.listApprovals('pending')).toEqual([]);
    expect(await ordersLeft()).toBe(20);
  });
});
