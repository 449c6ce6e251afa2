import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CARD, EMAIL, pendingApproval, pgSkip, setupPg, type PgEnv } from './fixture.js';

const skip = await pgSkip();

describe.skipIf(!!skip)(`postgres gateway with node-postgres${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: PgEnv;
  beforeAll(async () => {
    env = await setupPg([{ name: 'orders-read-only', block: { objects: ['public.orders'], sql: ['INSERT'] } }]);
  });
  afterAll(async () => {
    await env?.close();
  });

  it('a rule on public.orders covers a statement that names orders without its schema', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      for (const text of ['INSERT INTO orders VALUES (100, 1, 1)', 'INSERT INTO public.orders VALUES (100, 1, 1)', 'insert into "orders" values (100, 1, 1)']) {
        await expect(c.query(text)).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('orders-read-only') });
      }
    } finally {
      await c.end();
    }
    expect((await env.admin.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(20);
  });

  it('masks cards, emails and column-rule columns; other columns intact (simple protocol)', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const r = await c.query('SELECT id, name, email, card, ssn, password_hash, balance, note FROM customers ORDER BY id');
      expect(r.rows[0].name).toBe('Jane Doe');
      expect(r.rows[0].id).toBe(1);
      expect(r.rows[0].email).not.toContain(EMAIL);
      expect(r.rows[0].email).toMatch(/REDACTED/);
      expect(r.rows[0].card).not.toContain(CARD);
      expect(r.rows[1].card).not.toContain('4111 1111 1111 1111');
      expect(r.rows[0].ssn).not.toBe('123-45-6789');
      expect(r.rows[0].password_hash).not.toContain('argon');
      // a masked int column becomes text for typed clients
      expect(typeof r.rows[0].balance).toBe('string');
      expect(r.rows[0].balance).not.toBe('100');
      expect(r.rows[0].note).not.toContain(EMAIL);
      expect(r.rows[1].note).toBe('nothing here');
    } finally {
      await c.end();
    }
  });

  it('masks through the extended protocol, in text and binary, and through aliases', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const r = await c.query('SELECT card AS c, password_hash AS h, name FROM customers WHERE id = $1', [1]);
      expect(r.rows[0].c).not.toContain(CARD);
      expect(r.rows[0].h).not.toContain('argon');
      expect(r.rows[0].name).toBe('Jane Doe');
      const b: any = await c.query({ text: 'SELECT balance, email, name FROM customers WHERE id = $1', values: [1], binary: true } as any);
      expect(b.rows[0].name).not.toBeUndefined();
      expect(String(b.rows[0].email)).not.toContain(EMAIL);
      expect(String(b.rows[0].balance)).not.toBe('100');
    } finally {
      await c.end();
    }
  });

  it('blocks DROP TABLE with 42501 naming the policy; the session stays usable', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const err = await c.query('DROP TABLE orders').catch((e) => e);
      expect(err.code).toBe('42501');
      expect(err.message).toContain('no-ddl');
      const r = await c.query('SELECT count(*)::int AS n FROM orders');
      expect(r.rows[0].n).toBe(20);
      const err2 = await c.query('DROP TABLE orders', []).catch((e) => e);
      expect(err2.code).toBe('42501');
      const r2 = await c.query('SELECT count(*)::int AS n FROM orders WHERE id > $1', [0]);
      expect(r2.rows[0].n).toBe(20);
    } finally {
      await c.end();
    }
    const still = await env.admin.query(`SELECT to_regclass('orders') AS t`);
    expect(still.rows[0].t).toBe('orders');
  });

  const bypasses: [string, string][] = [
    ['mixed case', 'dRoP TaBlE orders'],
    ['comment before the keyword', '/* harmless */ DROP TABLE orders'],
    ['line comment before the keyword', '-- hi\nDROP TABLE orders'],
    ['a second statement', 'SELECT 1; DROP TABLE orders'],
    ['DO block running dynamic SQL', "DO $$ BEGIN EXECUTE 'DROP TABLE orders'; END $$"],
    ['COPY TO PROGRAM', "COPY orders TO PROGRAM 'cat > /dev/null'"],
    ['TRUNCATE', 'TRUNCATE orders'],
  ];
  for (const [name, sql] of bypasses) {
    it(`refuses a bypass attempt: ${name} (simple and extended)`, async () => {
      const c = await env.connect(env.agent.secret);
      try {
        const e1 = await c.query(sql).catch((e) => e);
        expect(e1.code, `simple: ${sql}`).toBe('42501');
        // the extended protocol only takes one statement; skip it for multi-statement strings
        if (!sql.includes(';') || sql.startsWith('DO')) {
          const e2 = await c.query({ text: sql, values: [] }).catch((e) => e);
          expect(['42501', '42601']).toContain(e2.code);
        }
      } finally {
        await c.end();
      }
      const n = await env.admin.query('SELECT count(*)::int AS n FROM orders');
      expect(n.rows[0].n).toBe(20);
    });
  }

  it('refuses an unparseable statement (fail closed)', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const e = await c.query('SELEC * FROM orders').catch((x) => x);
      expect(e.code).toBe('42601');
      expect(e.message).toMatch(/Sluice could not parse/);
    } finally {
      await c.end();
    }
  });

  it('holds an unbounded DELETE for approval; an approver lets it run', async () => {
    await env.admin.query('CREATE TABLE IF NOT EXISTS scratch (id int); DELETE FROM scratch; INSERT INTO scratch SELECT generate_series(1, 5)');
    const c = await env.connect(env.agent.secret);
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    try {
      const run = c.query('DELETE FROM scratch');
      const id = await pendingApproval(env);
      await new Promise((r) => setTimeout(r, 50));
      expect(notices.join('\n')).toContain(id);
      // the agent (and the human it acts for) cannot approve its own request
      expect((await env.gw.gateway.broker.decide(id, env.agent.identity, true, null)).status).toBe(403);
      expect((await env.gw.gateway.broker.decide(id, { ...env.agent.identity, actors: [] }, true, null)).status).toBe(403);
      const ok = await env.gw.gateway.broker.decide(id, env.approver.identity, true, 'fine');
      expect(ok.status).toBe(200);
      const r = await run;
      expect(r.rowCount).toBe(5);
    } finally {
      await c.end();
    }
  });

  it('denial and timeout give 42501 and nothing ran', async () => {
    await env.admin.query('DELETE FROM scratch; INSERT INTO scratch SELECT generate_series(1, 5)');
    const c = await env.connect(env.agent.secret);
    try {
      const run = c.query('DELETE FROM scratch').catch((e) => e);
      const id = await pendingApproval(env);
      await env.gw.gateway.broker.decide(id, env.approver.identity, false, 'not now');
      const e = await run;
      expect(e.code).toBe('42501');
      expect(e.message).toMatch(/denied/);
      const t = await c.query('UPDATE scratch SET id = 0').catch((x) => x);
      expect(t.code).toBe('42501');
      expect(t.message).toMatch(/timed out/);
      // extended protocol: the same refusal, and the session continues
      const x = await c.query({ text: 'DELETE FROM scratch', values: [] }).catch((err) => err);
      expect(x.code).toBe('42501');
      expect((await c.query('SELECT count(*)::int AS n FROM scratch')).rows[0].n).toBe(5);
    } finally {
      await c.end();
    }
  }, 20000);

  it('PREPARE … AS DELETE is judged as the DELETE, EXECUTE as what was prepared', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      await c.query('PREPARE p1 AS SELECT count(*) FROM orders');
      await c.query('EXECUTE p1');
      const run = c.query('PREPARE p2 AS DELETE FROM orders').catch((e) => e);
      const id = await pendingApproval(env);
      await env.gw.gateway.broker.decide(id, env.approver.identity, false, null);
      expect((await run).code).toBe('42501');
    } finally {
      await c.end();
    }
  });

  it('data-modifying CTE counts as an unbounded DELETE', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const run = c.query('WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d').catch((e) => e);
      const id = await pendingApproval(env);
      await env.gw.gateway.broker.decide(id, env.approver.identity, false, null);
      expect((await run).code).toBe('42501');
    } finally {
      await c.end();
    }
    expect((await env.admin.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(20);
  });

  it('a refusal inside a pipelined extended batch leaves the session usable', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const results = await Promise.allSettled([c.query('SELECT $1::int AS a', [1]), c.query('DROP TABLE orders', []), c.query('SELECT $1::int AS b', [2])]);
      expect(results[0].status).toBe('fulfilled');
      expect(results[1].status).toBe('rejected');
      expect(results[2].status).toBe('fulfilled');
    } finally {
      await c.end();
    }
  });

  it('wrong key → 28P01; unknown and forbidden connections get the same message', async () => {
    const bad = await env.connect('sk_not-a-key').catch((e) => e);
    expect(bad.code).toBe('28P01');
    const unknown = await env.connect(env.agent.secret, { database: 'nope' }).catch((e) => e);
    const forbidden = await env.connect(env.agent.secret, { database: 'closed' }).catch((e) => e);
    const outsider = await env.connect(env.outsider.secret).catch((e) => e);
    expect(unknown.message).toBe(forbidden.message);
    expect(unknown.message).toBe(outsider.message);
    expect(unknown.code).toBe('28000');
  });

  it('records the session: identity with delegation, decisions, results, end; audit verifies', async () => {
    const c = await env.connect(env.agent.secret);
    await c.query('SELECT email FROM customers');
    await c.query('DROP TABLE orders').catch(() => undefined);
    await c.end();
    let sessions = await env.gw.store.listSessions({ limit: 1 });
    for (let i = 0; i < 50 && !sessions[0]?.endedAt; i++) {
      await new Promise((r) => setTimeout(r, 20));
      sessions = await env.gw.store.listSessions({ limit: 1 });
    }
    const ev = await env.gw.store.getEvents(sessions[0]!.id);
    const start = ev[0]!.data as any;
    expect(ev[0]!.type).toBe('session.start');
    expect(start.identity.subject).toBe('alice@example.com');
    expect(start.identity.actors).toEqual(['billing-agent']);
    const cmds = ev.filter((e) => e.type === 'command').map((e) => e.data as any);
    expect(cmds.find((x) => x.kind === 'SELECT')?.decision).toBe('allow');
    expect(cmds.find((x) => x.kind === 'DROP')).toMatchObject({ decision: 'block', policy: 'no-ddl' });
    const result = ev.find((e) => e.type === 'result')!.data as any;
    expect(result.rows).toBe(2);
    expect(result.masked).toBe(2);
    expect(ev.at(-1)!.type).toBe('session.end');
    const json = JSON.stringify(ev);
    expect(json).not.toContain(env.agent.secret);
    expect((await env.gw.gateway.verifyAudit()).ok).toBe(true);
  });

  it('cancels a running query through the gateway (CancelRequest routed to the target)', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const run = c.query('SELECT pg_sleep(10)').catch((e) => e);
      await new Promise((r) => setTimeout(r, 300));
      // what every client does: a CancelRequest with the key we handed out, on a new connection
      const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
      const msg = Buffer.alloc(16);
      msg.writeInt32BE(16, 0);
      msg.writeInt32BE(80877102, 4);
      msg.writeInt32BE(processID, 8);
      msg.writeInt32BE(secretKey, 12);
      const net = await import('node:net');
      // A cancel that arrives before the query starts cancels nothing (as in PostgreSQL): repeat until it lands.
      let settled = false;
      void run.then(() => (settled = true));
      for (let i = 0; i < 20 && !settled; i++) {
        const s = net.connect({ host: '127.0.0.1', port: env.gw.port }, () => s.end(msg));
        s.on('error', () => undefined);
        await Promise.race([run, new Promise((r) => setTimeout(r, 400))]);
      }
      const e = await run;
      expect(e.code).toBe('57014');
      expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    } finally {
      await c.end();
    }
  });
});
