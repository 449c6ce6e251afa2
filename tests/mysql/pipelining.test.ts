/**
 * Commands a client sends before the answers to earlier ones have come back
 * (pipelining: MariaDB's execute of "the statement just prepared", id
 * 0xffffffff, exists for it). The gateway must judge each execute as the
 * statement the target will run, which for a prepare still unanswered it
 * only learns from the answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mySkip, pendingApproval, setupMy, type MyEnv } from './fixture.js';
import { RawClient } from './raw.js';

const skip = await mySkip();

const COM_STMT_PREPARE = 0x16;
const COM_STMT_EXECUTE = 0x17;

function prepare(sql: string): Buffer {
  return Buffer.concat([Buffer.from([COM_STMT_PREPARE]), Buffer.from(sql, 'utf8')]);
}

/** COM_STMT_EXECUTE of a statement without parameters: id, no cursor, iteration count 1. */
function execute(id: number): Buffer {
  const b = Buffer.alloc(10);
  b[0] = COM_STMT_EXECUTE;
  b.writeUInt32LE(id >>> 0, 1);
  b[5] = 0;
  b.writeUInt32LE(1, 6);
  return b;
}

/** One MySQL packet (sequence id 0: each command starts a new sequence). */
function packet(payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = 0;
  return Buffer.concat([h, payload]);
}

describe.skipIf(!!skip)(`mysql gateway: pipelined prepare and execute${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: MyEnv;

  beforeAll(async () => {
    env = await setupMy();
  });
  afterAll(async () => {
    await env?.close();
  });

  /** The DELETE waits for approval (judged as what the target would run); an approver denies it. */
  async function heldThenDenied(): Promise<void> {
    const id = await pendingApproval(env);
    expect((await env.gw.store.getApproval(id))?.command.text).toBe('DELETE FROM orders');
    await env.gw.gateway.broker.decide(id, env.approver.identity, false, null);
  }

  async function expectOrdersIntact(): Promise<void> {
    const [rows] = await env.admin.query('SELECT count(*) AS n FROM orders');
    expect(Number((rows as { n: number }[])[0]!.n)).toBe(20);
  }

  it('an execute of "the statement just prepared" sent before the prepare is answered is judged as that statement', async () => {
    const { c } = await RawClient.login(env.gw.port, env.agent.secret);
    try {
      c.write(Buffer.concat([packet(prepare('DELETE FROM orders')), packet(execute(0xffffffff))]));
      await heldThenDenied();
    } finally {
      c.sock.destroy();
    }
    await expectOrdersIntact();
  });

  it('an execute of an id the target is about to assign is judged as the statement it will hold', async () => {
    const { c } = await RawClient.login(env.gw.port, env.agent.secret);
    try {
      // Learn the ids the target hands out on this connection, then run the next one before it is answered.
      c.write(packet(prepare('SELECT 1')));
      const ok = (await c.next())!;
      expect(ok.first).toBe(0x00);
      while ((await c.next(500).catch(() => null)) !== null);
      const next = ok.payload.readUInt32LE(1) + 1;
      c.write(Buffer.concat([packet(prepare('DELETE FROM orders')), packet(execute(next))]));
      await heldThenDenied();
    } finally {
      c.sock.destroy();
    }
    await expectOrdersIntact();
  });

  it('an execute of an id nobody prepared is refused with 1243', async () => {
    const { c } = await RawClient.login(env.gw.port, env.agent.secret);
    try {
      c.write(packet(execute(4242)));
      const err = (await c.next())!;
      expect(err.first).toBe(0xff);
      expect(err.payload.readUInt16LE(1)).toBe(1243);
    } finally {
      c.sock.destroy();
    }
  });
});
