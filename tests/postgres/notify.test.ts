import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { pgSkip, setupPg, type PgEnv } from './fixture.js';

const skip = await pgSkip();

/** The next notification on `c`. */
function next(c: pg.Client): Promise<{ processId: number; channel: string; payload?: string }> {
  return new Promise((resolve) => c.once('notification', resolve));
}

describe.skipIf(!!skip)(`LISTEN / NOTIFY through Sluice${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: PgEnv;
  beforeAll(async () => {
    env = await setupPg();
  });
  afterAll(async () => {
    await env?.close();
  });

  it('a notification names its sender by the PID that client was given, never the target backend behind a Sluice session', async () => {
    const a = await env.connect(env.agent.secret);
    const b = await env.connect(env.agent.secret);
    try {
      const pids = (c: pg.Client) => (c as unknown as { processID: number }).processID;
      const [realA] = (await env.admin.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY backend_start LIMIT 1")).rows.map((r) => r.pid);
      await a.query('LISTEN orders_changed');
      // Its own notification: the PID from its BackendKeyData, so it can skip its own.
      let got = next(a);
      await a.query("NOTIFY orders_changed, 'from a'");
      expect(await got).toMatchObject({ channel: 'orders_changed', payload: 'from a', processId: pids(a) });
      expect(pids(a)).not.toBe(realA);
      // Another Sluice session's: the PID its client was given.
      got = next(a);
      await b.query("NOTIFY orders_changed, 'from b'");
      expect(await got).toMatchObject({ payload: 'from b', processId: pids(b) });
      // A direct connection's: its own PID, unchanged.
      got = next(a);
      await env.admin.query("NOTIFY orders_changed, 'from admin'");
      const direct = (await env.admin.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      expect(await got).toMatchObject({ payload: 'from admin', processId: direct });
    } finally {
      await a.end();
      await b.end();
    }
  });
});
