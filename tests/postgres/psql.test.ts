import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CARD, EMAIL, pendingApproval, pgSkip, psql, setupPg, type PgEnv } from './fixture.js';

const skip = await pgSkip();

describe.skipIf(!!skip)(`postgres gateway with psql${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: PgEnv;
  beforeAll(async () => {
    env = await setupPg();
  });
  afterAll(async () => {
    await env?.close();
  });

  it('SELECT shows masked cards and emails, other columns intact', async () => {
    const r = await psql(env, env.agent.secret, ['-c', 'SELECT id, name, email, card FROM customers ORDER BY id']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Jane Doe');
    expect(r.out).not.toContain(CARD);
    expect(r.out).not.toContain(EMAIL);
    expect(r.out).toContain('[REDACTED:credit_card]');
  });

  it('DROP TABLE gets 42501 naming the policy, and the next query in the same session works', async () => {
    const r = await psql(env, env.agent.secret, ['-v', 'VERBOSITY=verbose', '-c', 'DROP TABLE orders', '-c', 'SELECT count(*) AS n FROM orders']);
    expect(r.err).toContain('42501');
    expect(r.err).toContain('no-ddl');
    expect(r.out).toMatch(/\b20\b/);
  });

  it('an unbounded DELETE makes psql print the notice and wait; approval lets it run', async () => {
    await env.admin.query('CREATE TABLE IF NOT EXISTS scratch2 (id int); DELETE FROM scratch2; INSERT INTO scratch2 SELECT generate_series(1, 3)');
    const run = psql(env, env.agent.secret, ['-c', 'DELETE FROM scratch2']);
    const id = await pendingApproval(env);
    expect((await env.gw.gateway.broker.decide(id, env.approver.identity, true, null)).status).toBe(200);
    const r = await run;
    expect(r.err).toContain('needs approval');
    expect(r.err).toContain(id);
    expect(r.out).toContain('DELETE 3');
  });

  it('COPY TO STDOUT is masked; COPY FROM STDIN works', async () => {
    const r = await psql(env, env.agent.secret, ['-c', 'COPY (SELECT name, email, card FROM customers ORDER BY id) TO STDOUT']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Jane Doe');
    expect(r.out).not.toContain(CARD);
    expect(r.out).not.toContain(EMAIL);
    await env.admin.query('CREATE TABLE IF NOT EXISTS imported (a int, b text)');
    const w = await psql(env, env.agent.secret, ['-c', 'COPY imported FROM STDIN'], '1\tone\n2\ttwo\n\\.\n');
    expect(w.out).toContain('COPY 2');
    expect((await env.admin.query('SELECT count(*)::int AS n FROM imported')).rows[0].n).toBe(2);
  });

  it('a multi-statement string with one blocked statement runs none of it', async () => {
    await env.admin.query('CREATE TABLE IF NOT EXISTS marks (v int)');
    const r = await psql(env, env.agent.secret, ['-c', 'INSERT INTO marks VALUES (1); DROP TABLE orders; INSERT INTO marks VALUES (2)']);
    expect(r.err).toContain('no-ddl');
    expect((await env.admin.query('SELECT count(*)::int AS n FROM marks')).rows[0].n).toBe(0);
  });

  it('notifications and notices pass through', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const got = new Promise<string>((resolve) => c.on('notification', (n) => resolve(n.payload ?? '')));
      await c.query('LISTEN sluice_ch');
      await env.admin.query(`NOTIFY sluice_ch, 'hello'`);
      expect(await got).toBe('hello');
      const notices: string[] = [];
      c.on('notice', (n) => notices.push(n.message ?? ''));
      await c.query(`DO $$ BEGIN RAISE NOTICE 'from the target'; END $$`).catch(() => undefined);
      await c.query('SELECT 1');
    } finally {
      await c.end();
    }
  });

  it('a wrong key gets FATAL 28P01', async () => {
    const r = await psql(env, 'sk_nope', ['-v', 'VERBOSITY=verbose', '-c', 'SELECT 1']);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('password authentication failed');
  });
});
