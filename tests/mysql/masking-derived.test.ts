import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mySkip, setupMy, type MyEnv } from './fixture.js';
import { lastSessionEvents } from '../support/gateway.js';

const skip = await mySkip();

// The fixture's column rules: customers.password_hash, *.ssn, customers.balance
// (all redact). The hashes hold 'argon', the SSNs are 123-45-6789 and 234-56-7890.
const HASH = /argon/;
const SSN = /123-45-6789|234-56-7890/;

describe.skipIf(!!skip)(`mysql: column rules reach computed columns${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: MyEnv;
  beforeAll(async () => {
    env = await setupMy();
  });
  afterAll(async () => {
    await env?.close();
  });

  const sql = `SELECT id, CONCAT(password_hash, '') AS h, UPPER(ssn) AS s, balance + 0 AS b, LENGTH(name) AS n, CONCAT(name, '!') AS nm
               FROM customers WHERE id = ?`;

  it('an expression over a rule column is masked; expressions over other columns are not (query and execute)', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const [q] = (await c.query(sql, [1])) as [any[], unknown];
      const [x] = (await c.execute(sql, [1])) as [any[], unknown];
      for (const rows of [q, x]) {
        const row = rows[0];
        expect(row.id).toBe(1);
        expect(String(row.h)).not.toMatch(HASH);
        expect(String(row.s)).not.toMatch(SSN);
        expect(String(row.b)).not.toBe('100');
        expect(Number(row.n)).toBe(8);
        expect(row.nm).toBe('Jane Doe!');
      }
    } finally {
      await c.end();
    }
  });

  it('statements whose column definitions are the same bytes are each masked by what they read (interleaved executions)', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      // Both answer one VARCHAR(50) column named v, computed: only the statement says where it came from.
      const fromSsn = 'SELECT CAST(ssn AS CHAR(50)) AS v FROM customers WHERE id = ?';
      const fromName = 'SELECT CAST(name AS CHAR(50)) AS v FROM customers WHERE id = ?';
      for (let i = 0; i < 3; i++) {
        const [a] = (await c.execute(fromSsn, [1])) as [any[], unknown];
        const [b] = (await c.execute(fromName, [1])) as [any[], unknown];
        expect(String(a[0].v)).not.toMatch(SSN);
        expect(b[0].v).toBe('Jane Doe');
      }
    } finally {
      await c.end();
    }
  });

  it('derived tables, CTEs, aggregates, scalar subqueries and UNION arms carrying a rule column are masked', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const texts = [
        'SELECT s.x AS v FROM (SELECT password_hash AS x FROM customers) s',
        'SELECT * FROM (SELECT ssn AS v FROM customers) s',
        'WITH w AS (SELECT ssn AS p FROM customers) SELECT p AS v FROM w',
        "SELECT GROUP_CONCAT(password_hash SEPARATOR ',') AS v FROM customers",
        'SELECT JSON_OBJECT(\'h\', password_hash) AS v FROM customers',
        'SELECT (SELECT password_hash FROM customers WHERE id = 1) AS v',
        'SELECT name AS v FROM customers UNION ALL SELECT password_hash FROM customers',
      ];
      for (const t of texts) {
        const [rows] = (await c.query(t)) as [any[], unknown];
        expect(rows.length, t).toBeGreaterThan(0);
        for (const row of rows) {
          expect(JSON.stringify(row.v), t).not.toMatch(HASH);
          expect(JSON.stringify(row.v), t).not.toMatch(SSN);
        }
      }
    } finally {
      await c.end();
    }
  });

  it('a rule column only filtering or ordering masks nothing; derived tables of other columns pass', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const [n] = (await c.query("SELECT COUNT(*) AS n FROM customers WHERE password_hash LIKE 'x$argon%' AND ssn IS NOT NULL")) as [any[], unknown];
      expect(Number(n[0].n)).toBe(2);
      const [o] = (await c.query("SELECT CONCAT(name, '.') AS v FROM customers ORDER BY ssn, balance")) as [any[], unknown];
      expect(o.map((r) => r.v)).toEqual(['Jane Doe.', 'John Roe.']);
      const [d] = (await c.query('SELECT t.id, t.total FROM (SELECT id, total FROM orders WHERE id <= 2) t ORDER BY t.id')) as [any[], unknown];
      expect(d).toEqual([
        { id: 1, total: '1.50' },
        { id: 2, total: '3.00' },
      ]);
    } finally {
      await c.end();
    }
  });

  it('views over rule columns are masked by the table rules, at any depth; their other columns are not', async () => {
    await env.admin.query(`CREATE OR REPLACE VIEW people AS SELECT id, name, password_hash, ssn AS tax_id FROM customers;
      CREATE OR REPLACE VIEW people2 AS SELECT p.id, LOWER(p.tax_id) AS t, p.name FROM people p`);
    const c = await env.connect(env.agent.secret);
    try {
      for (const [rows] of [await c.query('SELECT * FROM people ORDER BY id'), await c.execute('SELECT * FROM people WHERE id > ? ORDER BY id', [0])] as [any[], unknown][]) {
        expect(rows.map((r) => r.name)).toEqual(['Jane Doe', 'John Roe']);
        expect(JSON.stringify(rows)).not.toMatch(HASH);
        expect(JSON.stringify(rows)).not.toMatch(SSN);
      }
      const [deeper] = (await c.query('SELECT * FROM people2 ORDER BY id')) as [any[], unknown];
      expect(deeper[0]).toMatchObject({ id: 1, name: 'Jane Doe' });
      expect(JSON.stringify(deeper)).not.toMatch(SSN);
      const [computed] = (await c.query("SELECT UPPER(tax_id) AS a, CONCAT(name, '!') AS b FROM people WHERE id = 1")) as [any[], unknown];
      expect(JSON.stringify(computed)).not.toMatch(SSN);
      expect(computed[0].b).toBe('Jane Doe!');
      // Copying through the view is refused like copying from the table; a whole row of a table without rule columns is not.
      const e = await c.query('CREATE TABLE t9 AS SELECT tax_id FROM people').then(() => null, (err: { errno?: number }) => err);
      expect(e?.errno).toBe(1142);
      await c.query('CREATE TABLE orders_copy AS SELECT * FROM orders');
    } finally {
      await c.end();
    }
  });

  it('stored functions that reach a rule column are masked when called (all of them when their bodies are hidden), calling one that stores it elsewhere is refused; creating a routine is refused', async () => {
    await env.admin.query(`DROP FUNCTION IF EXISTS get_hash; DROP FUNCTION IF EXISTS plus_one;
      CREATE FUNCTION get_hash(i INT) RETURNS TEXT READS SQL DATA RETURN (SELECT password_hash FROM customers WHERE id = i);
      CREATE FUNCTION plus_one(i INT) RETURNS INT DETERMINISTIC RETURN i + 1`);
    // The gateway's own account did not define them, so it cannot read their bodies: every call is masked (fail closed).
    const c = await env.connect(env.agent.secret);
    let account: string;
    try {
      const [[who]] = (await c.query('SELECT CURRENT_USER() AS u')) as [any[], unknown];
      account = String(who.u).replace(/@.*$/, '');
      const [[hidden]] = (await c.query('SELECT get_hash(1) AS v, plus_one(41) AS w')) as [any[], unknown];
      expect(JSON.stringify(hidden)).not.toMatch(HASH);
      expect(Number(hidden.w)).toBeNaN();
      const e = await c.query('CREATE FUNCTION mine() RETURNS TEXT READS SQL DATA RETURN (SELECT ssn FROM customers LIMIT 1)').then(() => null, (err: { errno?: number; message: string }) => err);
      expect(e?.errno).toBe(1142);
      expect(e?.message).toMatch(/would copy/);
    } finally {
      await c.end();
    }
    // Allowed to read routine bodies, the gateway masks only the function that reaches a rule column.
    await env.admin.query(`GRANT SELECT ON mysql.proc TO '${account}'@'%'`);
    const d = await env.connect(env.agent.secret);
    try {
      for (const [rows] of [await d.query('SELECT get_hash(1) AS v'), await d.execute('SELECT get_hash(?) AS v', [1])] as [any[], unknown][]) {
        expect(rows.length).toBe(1);
        expect(JSON.stringify(rows)).not.toMatch(HASH);
      }
      const [[ok]] = (await d.query('SELECT plus_one(41) AS w')) as [any[], unknown];
      expect(Number(ok.w)).toBe(42);
    } finally {
      await d.end();
    }
    // A function whose body stores a covered value elsewhere: calling it is a copy, refused before it runs.
    await env.admin.query(`CREATE TABLE IF NOT EXISTS fn_notes (body text); DROP FUNCTION IF EXISTS note_ssn;
      CREATE FUNCTION note_ssn(i INT) RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO fn_notes SELECT ssn FROM customers WHERE id = i; RETURN 1; END`);
    const w = await env.connect(env.agent.secret);
    try {
      for (const q of ['SELECT note_ssn(1) AS v', 'SELECT name FROM customers WHERE note_ssn(id) = 1']) {
        const e = await w.query(q).then(() => null, (err: { errno?: number; message: string }) => err);
        expect(e?.errno, q).toBe(1142);
        expect(e?.message, q).toMatch(/would copy .*policy "pii"/);
      }
      // Procedures too, with or without parentheses.
      await env.admin.query(`DROP PROCEDURE IF EXISTS stash_ssn; CREATE PROCEDURE stash_ssn() INSERT INTO fn_notes SELECT ssn FROM customers`);
      const p = await env.connect(env.agent.secret);
      try {
        for (const q of ['CALL stash_ssn()', 'CALL stash_ssn', `CALL \`${env.db}\`.\`stash_ssn\``]) {
          const e = await p.query(q).then(() => null, (err: { errno?: number; message: string }) => err);
          expect(e?.errno, q).toBe(1142);
          expect(e?.message, q).toMatch(/would copy .*policy "pii"/);
        }
      } finally {
        await p.end();
      }
      const [[stored]] = (await env.admin.query('SELECT count(*) AS n FROM fn_notes')) as [any[], unknown];
      expect(Number(stored.n)).toBe(0);
      const [[still]] = (await w.query('SELECT get_hash(1) AS v')) as [any[], unknown];
      expect(JSON.stringify(still)).not.toMatch(HASH);
    } finally {
      await w.end();
    }
  });

  it('copying a rule column where masking cannot follow (a table, a view, a variable, another column) is refused with 1142; other copies run', async () => {
    await env.admin.query('CREATE TABLE IF NOT EXISTS notes (id int, body text)');
    const c = await env.connect(env.agent.secret);
    try {
      const refused = [
        'CREATE TABLE t2 AS SELECT * FROM customers',
        'CREATE VIEW v1 AS SELECT id, ssn FROM customers',
        "INSERT INTO notes SELECT id, CONCAT(password_hash, '') FROM customers",
        'UPDATE customers SET note = ssn WHERE id = 1',
        'SELECT ssn INTO @x FROM customers WHERE id = 1',
        'SET @y = (SELECT password_hash FROM customers WHERE id = 1)',
        'SELECT id, @z := ssn FROM customers',
      ];
      for (const q of refused) {
        const e = await c.query(q).then(() => null, (err: { errno?: number; message: string }) => err);
        expect(e?.errno, q).toBe(1142);
        expect(e?.message, q).toMatch(/would copy .*policy "pii"/);
      }
      const ex = await c.execute('INSERT INTO notes SELECT id, ssn FROM customers WHERE id = ?', [1]).then(() => null, (err: { errno?: number }) => err);
      expect(ex?.errno).toBe(1142);
      const [[n]] = (await env.admin.query('SELECT COUNT(*) AS n FROM notes')) as [any[], unknown];
      expect(Number(n.n)).toBe(0);
      // The session goes on: copies of other columns, literals and in-place rewrites run.
      await c.query('INSERT INTO notes SELECT id, name FROM customers');
      await c.execute('INSERT INTO notes VALUES (?, ?)', [9, 'typed by hand']);
      await c.query('UPDATE customers SET ssn = UPPER(ssn) WHERE id = 2');
      const [[m]] = (await c.query('SELECT COUNT(*) AS n FROM notes')) as [any[], unknown];
      expect(Number(m.n)).toBe(3);
    } finally {
      await c.end();
    }
  });

  it('errors and warnings do not show masked values: a failed conversion, SHOW WARNINGS after a cast', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      // A covered value compared as a number in an UPDATE's WHERE: strict mode makes the conversion an error that quotes it.
      const err = await c.query("UPDATE customers SET note = 'x' WHERE password_hash = 0").catch((e) => e);
      expect(err.errno).toBe(1292);
      expect(err.message).toMatch(/^Truncated incorrect \w+ value: '\[REDACTED\]'/);
      expect(err.message).not.toMatch(HASH);
      const [cast] = (await c.query('SELECT CAST(ssn AS SIGNED) AS v, id FROM customers ORDER BY id')) as [any[], unknown];
      expect(cast.map((r) => r.id)).toEqual([1, 2]);
      const [warnings] = (await c.query('SHOW WARNINGS')) as [any[], unknown];
      expect(warnings.length).toBeGreaterThan(0);
      for (const w of warnings) {
        expect(w.Level).toBe('Warning');
        expect(w.Code).toBe(1292);
        expect(String(w.Message)).not.toMatch(SSN);
      }
      const [ok] = (await c.query('SELECT name FROM customers WHERE id = 2')) as [any[], unknown];
      expect(ok[0].name).toBe('John Roe');
    } finally {
      await c.end();
    }
  });

  it('the MariaDB CLI sees the same, and the result summary counts the masked cells', async () => {
    const r = await env.cli(env.agent.secret, "SELECT UPPER(ssn) AS s, CONCAT(password_hash, '') AS h, name FROM customers ORDER BY id");
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(HASH);
    expect(r.stdout).not.toMatch(SSN);
    expect(r.stdout).toContain('Jane Doe');
    const results = (await lastSessionEvents(env.gw)).filter((e) => e.type === 'result');
    expect(results.map((e) => e.data)).toContainEqual(expect.objectContaining({ rows: 2, masked: 4 }));
  });
});
