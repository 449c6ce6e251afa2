import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mysqlPlugin } from '@sluice/mysql';
import { CARD, EMAIL, MY, clearPassword, mySkip, mysql, pendingApproval, setupMy, type MyEnv } from './fixture.js';
import { startTestGateway } from '../support/gateway.js';
import { RawClient } from './raw.js';
import { parseColumnDefinition } from '@sluice/mysql';

const skip = await mySkip();
const errOf = (p: Promise<unknown>) => p.then(() => { throw new Error('expected an error'); }, (e: { errno?: number; sqlState?: string; message: string }) => e);

describe.skipIf(!!skip)(`mysql gateway${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: MyEnv;
  beforeAll(async () => {
    env = await setupMy();
  });
  afterAll(async () => {
    await env?.close();
  });

  // ------------------------------------------------------------ the MariaDB CLI

  it('MariaDB CLI: masked cards and emails; DROP gets ERROR 1142 naming the policy; the session goes on', async () => {
    const r = await env.cli(env.agent.secret, 'SELECT id, name, email, card, note FROM customers ORDER BY id;\nDROP TABLE orders;\nSELECT count(*) AS n FROM orders;\n', { extra: ['--force'], stdin: true });
    expect(r.stdout).toContain('Jane Doe');
    expect(r.stdout).not.toContain(CARD);
    expect(r.stdout).not.toContain(EMAIL);
    expect(r.stdout).toContain('[REDACTED:credit_card]');
    expect(r.stderr).toMatch(/ERROR 1142 \(42000\).*no-ddl/);
    expect(r.stdout).toMatch(/n\n20\n/);
  });

  it('MariaDB CLI: works without --enable-cleartext-plugin, and over TLS (--ssl)', async () => {
    const plain = await env.cli(env.agent.secret, 'SELECT 1 AS ok', { extra: [] });
    expect(plain.stdout).toMatch(/ok\n1\n/);
    const tls = await env.cli(env.agent.secret, 'status', { extra: ['--ssl'] });
    expect(tls.code).toBe(0);
    expect(tls.stdout).toMatch(/SSL:\s+Cipher in use is/);
  });

  it('MariaDB CLI: a wrong key gets ERROR 1045; no database gets a clear hint', async () => {
    const bad = await env.cli('sk_wrong', 'SELECT 1');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/ERROR 1045 \(28000\): Access denied for user 'alice'/);
    const none = await env.cli(env.agent.secret, 'SELECT 1', { database: '' });
    expect(none.stderr).toMatch(/ERROR 1046 .*name it as the database/);
  });

  it('MariaDB CLI without a database: a first USE <connection> chooses it', async () => {
    const r = await env.cli(env.agent.secret, 'USE orders;\nSELECT count(*) AS n FROM customers;', { database: '' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/\bn\b[\s\S]*\b2\b/);
    const bad = await env.cli(env.agent.secret, 'USE nope;', { database: '' });
    expect(bad.stderr).toMatch(/ERROR 104[45]/);
  });

  it('MariaDB CLI: `use` stays in the connection\'s database (the connection name is accepted)', async () => {
    const own = await env.cli(env.agent.secret, 'use orders\nSELECT database() AS db');
    expect(own.stdout).toContain(env.db);
    const other = await env.cli(env.agent.secret, 'use mysql\nSELECT 1');
    expect(other.stderr).toMatch(/ERROR 1044 .*bound to database/);
  });

  it('MariaDB CLI: an unbounded DELETE waits for approval and runs once approved', async () => {
    await env.admin.query(`CREATE TABLE ${env.db}.scratch (id int); INSERT INTO ${env.db}.scratch VALUES (1), (2)`);
    const run = env.cli(env.agent.secret, 'DELETE FROM scratch');
    const id = await pendingApproval(env);
    expect((await env.gw.gateway.broker.decide(id, env.approver.identity, true, 'ok')).status).toBe(200);
    const r = await run;
    expect(r.code).toBe(0);
    const [rows] = await env.admin.query(`SELECT count(*) AS n FROM ${env.db}.scratch`);
    expect((rows as { n: number }[])[0]!.n).toBe(0);
  });

  // ------------------------------------------------------------ mysql2

  it('mysql2 query(): masks cards, emails and rule columns (retyped to text); other columns intact', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const [rows] = await c.query('SELECT id, name, email, card, ssn, password_hash, balance, note FROM customers ORDER BY id');
      const r = rows as Record<string, unknown>[];
      expect(r[0]!.id).toBe(1);
      expect(r[0]!.name).toBe('Jane Doe');
      expect(String(r[0]!.email)).not.toContain(EMAIL);
      expect(String(r[0]!.card)).not.toContain(CARD);
      expect(String(r[1]!.card)).not.toContain('4111 1111 1111 1111');
      expect(r[0]!.ssn).not.toBe('123-45-6789');
      expect(String(r[0]!.password_hash)).not.toContain('argon');
      expect(typeof r[0]!.balance).toBe('string');
      expect(r[0]!.balance).not.toBe('100');
      expect(String(r[0]!.note)).not.toContain(EMAIL);
      expect(r[1]!.note).toBe('nothing here');
      // aliases do not escape column rules
      const [a] = await c.query('SELECT password_hash AS h, card AS c FROM customers WHERE id = 1');
      expect(String((a as Record<string, unknown>[])[0]!.h)).not.toContain('argon');
      expect(String((a as Record<string, unknown>[])[0]!.c)).not.toContain(CARD);
    } finally {
      await c.end();
    }
  });

  it('a prepared statement describes rule columns as text, as its rows will be', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const stmt = (await c.prepare('SELECT id, balance, name FROM customers WHERE id = ?')) as unknown as { statement: { columns: { name: string; columnType: number }[] } };
      const types = Object.fromEntries(stmt.statement.columns.map((col) => [col.name, col.columnType]));
      // MYSQL_TYPE_LONG (3) stays for id; balance (an int under a column rule) is a string type like the rows' (253).
      expect(types.id).toBe(3);
      expect(types.balance).toBe(253);
      expect(types.name).not.toBe(3);
      // mysql2 runs execute() on the statement it prepared for the same text.
      const [rows] = await c.execute('SELECT id, balance, name FROM customers WHERE id = ?', [1]);
      expect(typeof (rows as { balance: unknown }[])[0]!.balance).toBe('string');
    } finally {
      await c.end();
    }
  });

  it('mysql2 execute(): masks binary rows (a masked int column becomes a string); parameters are recorded', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const [rows] = await c.execute('SELECT id, balance, email, card, name FROM customers WHERE id = ?', [1]);
      const r = (rows as Record<string, unknown>[])[0]!;
      expect(r.id).toBe(1);
      expect(r.name).toBe('Jane Doe');
      expect(typeof r.balance).toBe('string');
      expect(r.balance).not.toBe('100');
      expect(String(r.email)).not.toContain(EMAIL);
      expect(String(r.card)).not.toContain(CARD);
      const [again] = await c.execute('SELECT id FROM orders WHERE id > ? ORDER BY id', [18]);
      expect((again as { id: number }[]).map((x) => x.id)).toEqual([19, 20]);
    } finally {
      await c.end();
    }
    const sessions = await env.gw.store.listSessions({ limit: 1 });
    const events = await env.gw.store.getEvents(sessions[0]!.id);
    const cmds = events.filter((e) => e.type === 'command').map((e) => e.data as { command?: { params?: unknown[] }; params?: unknown[] });
    expect(JSON.stringify(cmds)).toContain('"18"');
  });

  it('mysql2 execute(): a card number in a BIGINT becomes NULL; the cells around it, NULLs and masked strings come through right', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const sql = 'SELECT id, CAST(4111111111111111 AS UNSIGNED) AS n, NULL AS z, name, email, CAST(42 AS UNSIGNED) AS k FROM customers WHERE id <= ? ORDER BY id';
      const [rows] = await c.execute({ sql, rowsAsArray: true }, [2]);
      expect(rows).toEqual([
        [1, null, null, 'Jane Doe', '[REDACTED:email]', 42],
        [2, null, null, 'John Roe', '[REDACTED:email]', 42],
      ]);
    } finally {
      await c.end();
    }
  });

  it('mysql2: DROP gets 1142 naming the policy; the session stays usable and the table is still there', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const e = await errOf(c.query('DROP TABLE orders'));
      expect(e.errno).toBe(1142);
      expect(e.sqlState).toBe('42000');
      expect(e.message).toContain('no-ddl');
      const [r] = await c.query('SELECT count(*) AS n FROM orders');
      expect((r as { n: number }[])[0]!.n).toBe(20);
      const e2 = await errOf(c.execute('DROP TABLE orders'));
      expect(e2.errno).toBe(1142);
      const [r2] = await c.execute('SELECT count(*) AS n FROM orders WHERE id > ?', [0]);
      expect((r2 as { n: number }[])[0]!.n).toBe(20);
    } finally {
      await c.end();
    }
    const [t] = await env.admin.query(`SHOW TABLES FROM ${env.db} LIKE 'orders'`);
    expect((t as unknown[]).length).toBe(1);
  });

  const bypasses: [string, string][] = [
    ['mixed case', 'dRoP TaBlE orders'],
    ['a comment before the keyword', '/* harmless */ DROP TABLE orders'],
    ['a line comment before the keyword', '-- hi\nDROP TABLE orders'],
    ['a hash comment before the keyword', '# hi\nDROP TABLE orders'],
    ['an executable version comment', '/*!50000 DROP TABLE orders */'],
    ['backticks', 'DROP TABLE `orders`'],
    ['a second statement', 'SELECT 1; DROP TABLE orders'],
    ['dynamic SQL (PREPARE … FROM)', "PREPARE s FROM 'DROP TABLE orders'"],
    ['TRUNCATE', 'TRUNCATE orders'],
  ];
  for (const [name, sql] of bypasses) {
    it(`refuses a bypass attempt: ${name}`, async () => {
      const c = await env.connect(env.agent.secret, { multipleStatements: true });
      try {
        const e = await errOf(c.query(sql));
        expect(e.errno).toBe(1142);
        const [r] = await c.query('SELECT count(*) AS n FROM orders');
        expect((r as { n: number }[])[0]!.n).toBe(20);
      } finally {
        await c.end();
      }
    });
  }

  it('refuses LOAD DATA LOCAL INFILE (never asks the client for a file)', async () => {
    const c = await env.connect(env.agent.secret, { infileStreamFactory: () => { throw new Error('the gateway must never ask for a local file'); } } as never);
    try {
      const e = await errOf(c.query("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE orders"));
      expect([1142, 1148]).toContain(e.errno);
      await c.query('SELECT 1');
    } finally {
      await c.end();
    }
    // the refusal is in the audit trail
    const [s] = await env.gw.store.listSessions({ limit: 1 });
    const cmds = (await env.gw.store.getEvents(s!.id)).filter((x) => x.type === 'command').map((x) => x.data as { text: string; decision: string });
    expect(cmds.find((x) => x.text.includes('LOAD DATA'))?.decision).toBe('block');
  });

  it('multi-statement results are each masked', async () => {
    const c = await env.connect(env.agent.secret, { multipleStatements: true });
    try {
      const [res] = await c.query('SELECT 1 AS one; SELECT card FROM customers WHERE id = 1');
      const sets = res as unknown as Record<string, unknown>[][];
      expect(sets[0]![0]!.one).toBe(1);
      expect(String(sets[1]![0]!.card)).not.toContain(CARD);
    } finally {
      await c.end();
    }
  });

  // A text row of exactly 0xFFFFFF payload bytes goes as two physical packets (the second empty):
  // masking 'alice@example.com' (17 bytes) to '[REDACTED:email]' (16) makes it one. A row of
  // 0xFFFFFF - 3 bytes with 'al@ex.io' (8) goes the other way. The packets after it (rows, EOF,
  // the next command's answer) must still reach the client in sequence.
  const bigRow = (email: string, delta: number) =>
    `SELECT CONCAT(REPEAT('a', 9000000), ' ${email}') AS a, REPEAT('b', ${0xffffff + delta - (4 + 9000001 + email.length) - 4 - 2}) AS b, 'x' AS c ` +
    `UNION ALL SELECT 'bob@example.com', 'second', 'y' UNION ALL SELECT 'carol@example.com', 'third', 'z'`;
  for (const [how, email, delta] of [['loses', 'alice@example.com', 0], ['gains', 'al@ex.io', -3]] as const) {
    it(`a masked row that ${how} a physical packet (16 MiB) keeps the packets after it in sequence`, async () => {
      const sql = bigRow(email, delta);
      const r = await env.cli(env.agent.secret, sql, { extra: ['--batch', '--skip-column-names', '--max-allowed-packet=64M'] });
      expect(r.stderr.replace(/^WARNING: option .*\n/m, '')).toBe('');
      expect(r.code).toBe(0);
      const lines = r.stdout.trimEnd().split('\n').filter((l) => !l.startsWith('WARNING: option'));
      expect(lines).toHaveLength(3);
      expect(lines[0]!.length).toBeGreaterThan(16_000_000);
      expect(lines[0]).not.toContain(email);
      expect(lines[0]).toContain('[REDACTED:email]');
      expect(lines[1]).toBe('[REDACTED:email]\tsecond\ty');
      expect(lines[2]).toBe('[REDACTED:email]\tthird\tz');
      // mysql2 checks sequence ids and reports a gap with this warning.
      const warned: string[] = [];
      const spy = vi.spyOn(console, 'error').mockImplementation((m: unknown) => void warned.push(String(m)));
      const spyWarn = vi.spyOn(console, 'warn').mockImplementation((m: unknown) => void warned.push(String(m)));
      const c = await env.connect(env.agent.secret);
      try {
        // A binary row is 2 bytes longer (its header byte and NULL bitmap): sized to the same boundary.
        for (const run of [() => c.query({ sql, rowsAsArray: true }), () => c.execute({ sql: bigRow(email, delta - 2), rowsAsArray: true })]) {
          const [rows] = (await run()) as unknown as [string[][]];
          expect(rows.map((x) => x[2])).toEqual(['x', 'y', 'z']);
          expect(rows[0]![0]).toContain('[REDACTED:email]');
          expect(rows[2]![0]).toBe('[REDACTED:email]');
          const [[one]] = (await c.query({ sql: 'SELECT 1', rowsAsArray: true })) as unknown as [number[][]];
          expect(one).toEqual([1]);
        }
      } finally {
        await c.end();
        spy.mockRestore();
        spyWarn.mockRestore();
      }
      expect(warned.filter((m) => /out of order/.test(m))).toEqual([]);
    });
  }

  it('approval: denied → 1142 naming the policy and nothing ran; no self-approval; approved → ran', async () => {
    await env.admin.query(`CREATE TABLE IF NOT EXISTS ${env.db}.gated (id int); DELETE FROM ${env.db}.gated; INSERT INTO ${env.db}.gated VALUES (1)`);
    const c = await env.connect(env.agent.secret);
    try {
      const run = errOf(c.query('DELETE FROM gated'));
      const id = await pendingApproval(env);
      expect((await env.gw.gateway.broker.decide(id, env.agent.identity, true, null)).status).toBe(403);
      expect((await env.gw.gateway.broker.decide(id, env.approver.identity, false, 'not today')).status).toBe(200);
      const e = await run;
      expect(e.errno).toBe(1142);
      expect(e.message).toContain('bulk-writes-need-approval');
      const [n] = await env.admin.query(`SELECT count(*) AS n FROM ${env.db}.gated`);
      expect((n as { n: number }[])[0]!.n).toBe(1);
      // approved
      const run2 = c.query('DELETE FROM gated');
      const id2 = await pendingApproval(env);
      expect((await env.gw.gateway.broker.decide(id2, env.approver.identity, true, 'ok')).status).toBe(200);
      const [ok] = await run2;
      expect((ok as { affectedRows: number }).affectedRows).toBe(1);
    } finally {
      await c.end();
    }
  });

  it('approval timeout refuses the statement', async () => {
    await env.admin.query(`CREATE TABLE IF NOT EXISTS ${env.db}.gated2 (id int); INSERT INTO ${env.db}.gated2 VALUES (1)`);
    const c = await env.connect(env.agent.secret);
    try {
      const e = await errOf(c.query('UPDATE gated2 SET id = 2'));
      expect(e.errno).toBe(1142);
      const [n] = await env.admin.query(`SELECT id FROM ${env.db}.gated2`);
      expect((n as { id: number }[])[0]!.id).toBe(1);
    } finally {
      await c.end();
    }
  }, 15000);

  it('a wrong key gets 1045; unknown and forbidden connections get one and the same message', async () => {
    const bad = await errOf(env.connect('sk_not-a-key'));
    expect(bad.errno).toBe(1045);
    expect(bad.sqlState).toBe('28000');
    const unknown = await errOf(env.connect(env.agent.secret, { database: 'nope' }));
    const forbidden = await errOf(env.connect(env.agent.secret, { database: 'closed' }));
    const outsider = await errOf(env.connect(env.outsider.secret));
    expect(unknown.errno).toBe(1044);
    expect(forbidden.errno).toBe(1044);
    expect(unknown.message.replace(/'nope'/, "'X'")).toBe(forbidden.message.replace(/'closed'/, "'X'"));
    expect(outsider.message.replace(/'orders'/, "'X'")).toBe(forbidden.message.replace(/'closed'/, "'X'"));
  });

  it('COM_PING works, COM_CHANGE_USER is refused, compression is not offered', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      await c.ping();
      const e = await errOf(c.changeUser({ user: 'root', password: '' }));
      expect(e.errno).toBe(1227);
    } finally {
      c.destroy();
    }
    // Compression is never offered: a client that asks for it talks uncompressed.
    const z = await mysql.createConnection({ host: '127.0.0.1', port: env.gw.port, user: 'alice', database: 'orders', compress: true, ...clearPassword(env.agent.secret) });
    const [r] = await z.query('SELECT 1 AS x');
    expect((r as { x: number }[])[0]!.x).toBe(1);
    await z.end();
  });

  it('mysql2: USE of the connection name is the target database; USE of another database is refused', async () => {
    const c = await env.connect(env.agent.secret, { multipleStatements: true });
    try {
      await c.query('USE orders');
      const [r] = await c.query('SELECT database() AS db');
      expect((r as { db: string }[])[0]!.db).toBe(env.db);
      const e = await errOf(c.query('USE mysql'));
      expect(e.errno).toBe(1044);
      const e2 = await errOf(c.query('SELECT 1; USE mysql'));
      expect(e2.errno).toBe(1044);
      const [r2] = await c.query('SELECT database() AS db');
      expect((r2 as { db: string }[])[0]!.db).toBe(env.db);
    } finally {
      await c.end();
    }
  });

  it('mysql2 over TLS works', async () => {
    const c = await env.connect(env.agent.secret, { ssl: { rejectUnauthorized: false } });
    try {
      const [r] = await c.query('SELECT email FROM customers WHERE id = 1');
      expect(String((r as { email: string }[])[0]!.email)).not.toContain(EMAIL);
    } finally {
      await c.end();
    }
  });

  it('upstream: a target that cannot be reached or refuses the login is named, never its address or secret', async () => {
    const gw = await startTestGateway({
      plugin: mysqlPlugin(),
      connections: [
        { name: 'wrongpw', type: 'mysql', target: `mysql://root@${MY.host}:${MY.port}/mysql?ssl=disabled`, access: ['agents'], secrets: { password: 'not-the-password' }, options: {} },
        { name: 'needtls', type: 'mysql', target: `mysql://root@${MY.host}:${MY.port}/mysql?ssl=required`, access: ['agents'], secrets: { password: MY.password }, options: {} },
        { name: 'down', type: 'mysql', target: 'mysql://root@127.0.0.1:1/mysql', access: ['agents'], secrets: {}, options: {} },
      ],
      policies: [],
    });
    try {
      const k = await gw.key('agent', ['agents']);
      for (const name of ['wrongpw', 'needtls', 'down']) {
        const e = await errOf(mysql.createConnection({ host: '127.0.0.1', port: gw.port, user: 'a', database: name, ...clearPassword(k.secret) }));
        expect(e.message).toContain(`Sluice could not connect to "${name}"`);
        expect(e.message).not.toContain('not-the-password');
      }
    } finally {
      await gw.close();
    }
  });

  it('the target account and its password never reach the client', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const [r] = await c.query('SELECT CURRENT_USER() AS u');
      expect(String((r as { u: string }[])[0]!.u)).toMatch(/^sluice_u_/);
      expect(JSON.stringify(r)).not.toContain(env.targetPassword);
    } finally {
      await c.end();
    }
  });

  it('an administrator kills a live session: the client gets an error, the session is recorded as ended', async () => {
    const c = await env.connect(env.agent.secret);
    await c.query('SELECT 1');
    const live = await env.gw.store.listSessions({ limit: 1 });
    const id = live[0]!.id;
    expect(await env.gw.gateway.killSession(id, 'test kill')).toBe(true);
    const e = await errOf(c.query('SELECT 1'));
    expect(e.message).toBeTruthy();
    c.destroy();
    const events = await env.gw.store.getEvents(id);
    expect(events.at(-1)!.type).toBe('session.end');
  });

  it('a statement blocked at prepare is recorded; an allowed one is recorded at each execute with its parameters', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      await errOf(c.prepare('DROP TABLE customers'));
      const [r] = await c.execute('SELECT name FROM customers WHERE id = ?', [2]);
      expect((r as { name: string }[])[0]!.name).toBe('John Roe');
    } finally {
      await c.end();
    }
    const s = await env.gw.store.listSessions({ limit: 1 });
    const cmds = (await env.gw.store.getEvents(s[0]!.id)).filter((e) => e.type === 'command').map((e) => e.data as { kind: string; decision: string; params?: unknown[] });
    expect(cmds.find((x) => x.kind === 'DROP')?.decision).toBe('block');
    expect(JSON.stringify(cmds.find((x) => x.kind === 'SELECT'))).toContain('"2"');
  });

  // ------------------------------------------------------------ robustness

  it('a command with a wrong sequence id is refused cleanly; other sessions are unaffected', async () => {
    const other = await env.connect(env.agent.secret);
    const { c, last } = await RawClient.login(env.gw.port, env.agent.secret);
    expect(last.first).toBe(0x00);
    c.packet(5, Buffer.from('\x03SELECT 1'));
    const err = await c.next();
    expect(err?.first).toBe(0xff);
    expect(err!.payload.readUInt16LE(1)).toBe(1835);
    expect(await c.next()).toBeNull();
    const [r] = await other.query('SELECT 1 AS x');
    expect((r as { x: number }[])[0]!.x).toBe(1);
    await other.end();
  });

  it('COM_FIELD_LIST and COM_STATISTICS are forwarded; the session goes on', async () => {
    const { c } = await RawClient.login(env.gw.port, env.agent.secret);
    c.packet(0, Buffer.concat([Buffer.from([0x04]), Buffer.from('customers\0')]));
    const names: string[] = [];
    for (;;) {
      const p = (await c.next())!;
      if (p.first === 0xfe && p.length < 9) break;
      expect(p.first).not.toBe(0xff);
      names.push(parseColumnDefinition(p.payload).name);
    }
    expect(names).toContain('card');
    c.packet(0, Buffer.from([0x09]));
    expect((await c.next())!.payload.toString()).toMatch(/Uptime/);
    c.packet(0, Buffer.from('\x0eping', 'latin1').subarray(0, 1));
    expect((await c.next())!.first).toBe(0x00);
    c.packet(0, Buffer.from([0x01])); // COM_QUIT
    expect(await c.next()).toBeNull();
  });

  it('a malformed handshake response is refused cleanly', async () => {
    const c = await RawClient.open(env.gw.port);
    await c.next();
    c.packet(1, Buffer.from('garbage'));
    const err = await c.next();
    expect(err?.first).toBe(0xff);
    expect(err!.payload.readUInt16LE(1)).toBe(1835);
    expect(await c.next()).toBeNull();
  });

  it('a malformed command is refused cleanly', async () => {
    const { c: c2 } = await RawClient.login(env.gw.port, env.agent.secret);
    c2.packet(0, Buffer.from([0x17, 1])); // truncated COM_STMT_EXECUTE
    expect((await c2.next())?.first).toBe(0xff);
    expect(await c2.next()).toBeNull();
  });
});

describe.skipIf(!!skip)('mysql gateway: start-up limits and TLS off loopback', () => {
  it('a silent client is dropped after the start-up deadline', async () => {
    const gw = await startTestGateway({ plugin: mysqlPlugin({ startupTimeoutMs: 300 }), connections: [], policies: [] });
    try {
      const c = await RawClient.open(gw.port);
      expect((await c.next())?.first).toBe(10); // handshake v10
      const err = await c.next(2000);
      expect(err?.first).toBe(0xff);
      expect(await c.next(2000)).toBeNull();
    } finally {
      await gw.close();
    }
  });

  it('an oversized length is refused before its body arrives; a client insisting on compression is refused', async () => {
    const env = await setupMy([], { maxPacketSize: 4096 });
    try {
      const { c, last } = await RawClient.login(env.gw.port, env.agent.secret);
      expect(last.first).toBe(0x00);
      c.write(Buffer.from([0x00, 0x00, 0x10, 0x00, 0x03])); // claims 1 MiB
      const err = await c.next();
      expect(err?.first).toBe(0xff);
      expect(err!.payload.readUInt16LE(1)).toBe(1835);
      expect(await c.next()).toBeNull();
      const z = await RawClient.login(env.gw.port, env.agent.secret, 'orders', 0x20);
      expect(z.last.first).toBe(0xff);
      expect(z.last.payload.toString()).toMatch(/compress/);
    } finally {
      await env.close();
    }
  });

  const external = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4')?.address;
  it.skipIf(!external)('requires TLS from a non-loopback client', async () => {
    const gw = await startTestGateway({
      plugin: mysqlPlugin(),
      address: `${external}:0`,
      connections: [{ name: 'orders', type: 'mysql', target: `mysql://${MY.user}@${MY.host}:${MY.port}/mysql?ssl=disabled`, access: ['agents'], secrets: { password: MY.password }, options: {} }],
      policies: [],
    });
    try {
      const k = await gw.key('agent', ['agents']);
      const plain = await errOf(mysql.createConnection({ host: external, port: gw.port, user: 'a', database: 'orders', ...clearPassword(k.secret) }));
      expect(plain.errno).toBe(1045);
      expect(plain.message).toMatch(/TLS/);
      const c = await mysql.createConnection({ host: external, port: gw.port, user: 'a', database: 'orders', ssl: { rejectUnauthorized: false }, ...clearPassword(k.secret) });
      const [r] = await c.query('SELECT 1 AS x');
      expect((r as { x: number }[])[0]!.x).toBe(1);
      await c.end();
    } finally {
      await gw.close();
    }
  });
});
