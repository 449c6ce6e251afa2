import { describe, expect, it } from 'vitest';
import { classifyMysql, clearMysqlCache, MysqlClassifier, mysqlCacheStats, mysqlServerOptions } from './index.js';
import { kinds } from './test-helpers.js';

const my = (text: string) => classifyMysql(text);

describe('MySQL: bypass attempts', () => {
  it('case: dRoP TaBlE t', () => {
    expect(my('dRoP TaBlE t')).toEqual({ protocol: 'mysql', kind: 'DROP', text: 'dRoP TaBlE t', objects: ['t'], flags: [] });
  });

  it('comments before the keyword', () => {
    for (const t of ['/* x */ DROP TABLE t', '# x\nDROP TABLE t', '-- x\nDROP TABLE t', '--\tx\nDROP TABLE t', '/**/DROP TABLE t', '/* a /* b */DROP TABLE t']) {
      expect(my(t), t).toMatchObject({ kind: 'DROP', objects: ['t'] });
    }
  });

  it('version comments are code', () => {
    for (const t of ['/*!50000 DROP TABLE t */', '/*!DROP TABLE t*/', '/*M!100000 DROP TABLE t */', '/*!40101 DROP TABLE t*/', 'SELECT 1 /*!; DROP TABLE t */']) {
      const c = my(t);
      expect(kinds(c).includes('DROP') || c.flags.includes('parse-error'), t).toBe(true);
    }
    expect(my('/*!50000 DROP TABLE t */')).toMatchObject({ kind: 'DROP', objects: ['t'] });
    expect(my('/*!DROP TABLE t*/')).toMatchObject({ kind: 'DROP', objects: ['t'] });
    expect(my('/*M!100000 DROP TABLE t */')).toMatchObject({ kind: 'DROP', objects: ['t'] });
    expect(my('/*!50000 DROP /* inner */ TABLE t */')).toMatchObject({ kind: 'DROP', objects: ['t'] });
    expect(my("/*!50000 DROP TABLE t /* '*/ */")).toMatchObject({ kind: 'DROP', objects: ['t'] });
    // A string inside an executable comment may hold */.
    expect(my("/*!50000 SELECT '*/' */; DROP TABLE t")).toMatchObject({ kind: 'MULTI' });
    expect(kinds(my("/*!50000 SELECT '*/' */; DROP TABLE t"))).toContain('DROP');
  });

  it('version comments the server skips, per server', () => {
    // MariaDB skips MySQL 5.7+ versions and future versions; MySQL skips /*M! entirely.
    expect(my('DELETE FROM t /*!50700 WHERE id = 1 */')).toMatchObject({ kind: 'DELETE', flags: ['unbounded'] });
    expect(my('DELETE FROM t /*!999999 WHERE id = 1 */')).toMatchObject({ kind: 'DELETE', flags: ['unbounded'] });
    expect(my('DELETE FROM t /*M!100000 WHERE id = 1 */')).toMatchObject({ kind: 'DELETE', flags: [] });
    const mysql8 = { mariadb: false, version: 80036 };
    expect(classifyMysql('DELETE FROM t /*M!100000 WHERE id = 1 */', mysql8)).toMatchObject({ flags: ['unbounded'] });
    expect(classifyMysql('DELETE FROM t /*!50700 WHERE id = 1 */', mysql8)).toMatchObject({ flags: [] });
    expect(classifyMysql('/*!80000 DROP TABLE t */', mysql8)).toMatchObject({ kind: 'DROP' });
    // A skipped versioned comment may hold one nested comment.
    expect(my('/*!99999 /* x */ SELECT 1 */ DROP TABLE t')).toMatchObject({ kind: 'DROP' });
  });

  it('ambiguous comments are refused', () => {
    for (const t of [
      '/*!50000 DROP TABLE t',
      '/* DROP TABLE t',
      '/*!50000 SELECT 1; DROP TABLE t */',
      '/*!50000 /*!50000 DROP TABLE t */ */',
      '/*!50000 DROP # c */ TABLE t',
    ]) {
      expect(my(t), t).toMatchObject({ kind: 'UNKNOWN', flags: ['parse-error'] });
    }
    expect(classifyMysql('/*!800361 DROP TABLE t */', { mariadb: false, version: 80036 }).flags).toContain('parse-error');
  });

  it('-- without a space is two minus signs, not a comment', () => {
    expect(my('DELETE FROM t WHERE id = 1--1')).toMatchObject({ kind: 'DELETE', flags: [] });
    expect(my('SELECT 1--1\n; DROP TABLE t').kind).toBe('MULTI');
    expect(my('DELETE FROM t WHERE 1 --1\n=1')).toMatchObject({ kind: 'DELETE', flags: ['unbounded'] });
  });

  it('quotes hide separators and comment markers', () => {
    expect(my("SELECT 'a;b', \"c -- d\", `e#f` FROM t")).toMatchObject({ kind: 'SELECT', objects: ['t'] });
    expect(my("SELECT 'it\\'s; DROP TABLE t'")).toMatchObject({ kind: 'SELECT', flags: [] });
    expect(my("SELECT 'it''s; DROP TABLE t'")).toMatchObject({ kind: 'SELECT', flags: [] });
    expect(kinds(my("SELECT 'x\\\\'; DROP TABLE t"))).toContain('DROP');
    expect(my("SELECT 'a\\")).toMatchObject({ kind: 'UNKNOWN', flags: ['parse-error'] });
    // Under ANSI_QUOTES "…" has no escapes: \" is ambiguous.
    expect(my('SELECT "a\\"; DROP TABLE t; -- "').flags).toContain('parse-error');
  });

  it('NO_BACKSLASH_ESCAPES reads \\ as a plain character', () => {
    const t = "SELECT '\\'; DROP TABLE t; -- '";
    expect(kinds(my(t))).not.toContain('DROP');
    expect(kinds(classifyMysql(t, { noBackslashEscapes: true }))).toContain('DROP');
    const s = new MysqlClassifier();
    expect(s.classify("SET sql_mode = 'NO_BACKSLASH_ESCAPES'").kind).toBe('SET');
    // Until the server confirms the mode, a text whose reading depends on it is refused.
    expect(s.classify(t).flags).toContain('parse-error');
    expect(s.classify("SELECT 'no backslash'").flags).toEqual([]);
    s.noBackslashEscapes = true;
    expect(kinds(s.classify(t))).toContain('DROP');
  });

  it('backticks', () => {
    expect(my('DROP TABLE `t`')).toMatchObject({ kind: 'DROP', objects: ['t'] });
    expect(my('DROP TABLE `db`.`t`')).toMatchObject({ kind: 'DROP', objects: ['db.t'] });
    expect(my('DROP TABLE Db.T, `Db`.`T`')).toMatchObject({ objects: ['db.t', 'Db.T'] });
    expect(my('SELECT * FROM `a``b`')).toMatchObject({ objects: ['a`b'] });
  });

  it('SELECT 1; DROP TABLE t: every part judged', () => {
    const c = my('SELECT 1; DROP TABLE t');
    expect(c).toMatchObject({ kind: 'MULTI', objects: ['t'], flags: ['multi-statement'] });
    expect(c.parts).toEqual([
      { protocol: 'mysql', kind: 'SELECT', text: 'SELECT 1', objects: [], flags: ['multi-statement'] },
      { protocol: 'mysql', kind: 'DROP', text: 'DROP TABLE t', objects: ['t'], flags: ['multi-statement'] },
    ]);
    expect(my('SELECT 1;').kind).toBe('SELECT');
    expect(my(' ; ; ').kind).toBe('EMPTY');
    expect(my('-- only a comment').kind).toBe('EMPTY');
  });

  it("PREPARE s FROM 'DROP TABLE t' is dynamic SQL with a DROP part", () => {
    const c = my("PREPARE s FROM 'DROP TABLE t'");
    expect(c).toMatchObject({ kind: 'PREPARE', objects: ['t'], flags: ['dynamic-sql'] });
    expect(c.parts).toEqual([{ protocol: 'mysql', kind: 'DROP', text: 'DROP TABLE t', objects: ['t'], flags: [] }]);
    expect(kinds(my("PREPARE s FROM '/*!50000 DROP */ TABLE t'"))).toContain('DROP');
    expect(kinds(my("PREPARE s FROM 'DROP TABLE `it''s`'"))).toContain('DROP');
    expect(my("PREPARE s FROM 'DROP TABLE'").flags).toContain('parse-error');
  });

  it('PREPARE s FROM @q is dynamic', () => {
    expect(my('PREPARE s FROM @q')).toMatchObject({ kind: 'PREPARE', flags: ['dynamic-sql'] });
    const s = new MysqlClassifier();
    s.classify('PREPARE s FROM @q');
    expect(s.classify('EXECUTE s')).toMatchObject({ kind: 'EXECUTE', flags: ['dynamic-sql'] });
  });

  it('PREPARE then EXECUTE on one session is judged as the prepared statement', () => {
    const s = new MysqlClassifier();
    expect(s.classify('EXECUTE s')).toMatchObject({ kind: 'EXECUTE', flags: ['dynamic-sql'] });
    s.classify("PREPARE s FROM 'DELETE FROM t'");
    expect(s.classify('EXECUTE s')).toMatchObject({ kind: 'DELETE', text: 'EXECUTE s', objects: ['t'], flags: ['unbounded'] });
    expect(s.classify('execute S using @a, @b')).toMatchObject({ kind: 'DELETE' });
    // Re-prepare replaces.
    s.classify("PREPARE s FROM 'SELECT 1'");
    expect(s.classify('EXECUTE s')).toMatchObject({ kind: 'SELECT', flags: [] });
    s.classify('DEALLOCATE PREPARE s');
    expect(s.classify('EXECUTE s')).toMatchObject({ kind: 'EXECUTE', flags: ['dynamic-sql'] });
    // In one text.
    expect(kinds(my("PREPARE s FROM 'DROP TABLE t'; EXECUTE s"))).toEqual(['MULTI', 'PREPARE', 'DROP', 'DROP']);
    // Protocol-level prepared statements.
    s.remember('7', my('DROP TABLE x'));
    expect(s.preparedNames).toEqual(['7']);
    s.forget('7');
    expect(s.preparedNames).toEqual([]);
    // The stateless classifier does not keep anything.
    my("PREPARE q FROM 'DROP TABLE t'");
    expect(my('EXECUTE q')).toMatchObject({ kind: 'EXECUTE', flags: ['dynamic-sql'] });
  });

  it('judge changes nothing until settle says what the server ran', () => {
    const s = new MysqlClassifier();
    s.classify("PREPARE s FROM 'DELETE FROM t'");
    // Judged but never run (refused, or the server stopped before it): EXECUTE is still the DELETE.
    const j = s.judge("PREPARE s FROM 'SELECT 1'; EXECUTE s");
    expect(kinds(j.cmd)).toEqual(['MULTI', 'PREPARE', 'SELECT', 'SELECT']); // later statements of the text see its own PREPARE
    expect(j.effects).toHaveLength(1);
    expect(s.classify('EXECUTE s')).toMatchObject({ kind: 'DELETE' });
    expect(s.judge('DEALLOCATE PREPARE s').effects).toEqual([{ name: 's', cmd: null }]);
    expect(s.classify('EXECUTE s')).toMatchObject({ kind: 'DELETE' });
    expect(s.judge('SELECT 1').effects).toBeNull();
    // Settled as failed: the server holds either statement (or none).
    s.settle(j.effects!, false);
    const either = s.classify('EXECUTE s');
    expect(either).toMatchObject({ kind: 'EXECUTE', text: 'EXECUTE s', objects: ['t'], flags: ['unbounded'] });
    expect(kinds(either)).toEqual(['EXECUTE', 'DELETE', 'SELECT']);
    // A DEALLOCATE that may not have run keeps it; one that ran drops it.
    const d = s.judge('DEALLOCATE PREPARE s');
    s.settle(d.effects!, false);
    expect(s.classify('EXECUTE s').kind).toBe('EXECUTE');
    expect(s.classify('EXECUTE s').flags).toContain('unbounded');
    s.settle(d.effects!, true);
    expect(s.classify('EXECUTE s')).toMatchObject({ kind: 'EXECUTE', flags: ['dynamic-sql'] });
    // Settled as run: replaced, in order.
    s.settle(s.judge("PREPARE s FROM 'DELETE FROM t'; PREPARE s FROM 'SELECT 2'").effects!, true);
    expect(s.classify('EXECUTE s')).toMatchObject({ kind: 'SELECT', flags: [] });
  });

  it('EXECUTE IMMEDIATE (MariaDB)', () => {
    expect(my("EXECUTE IMMEDIATE 'DROP TABLE t'")).toMatchObject({ kind: 'EXECUTE', flags: ['dynamic-sql'], objects: ['t'] });
    expect(my('EXECUTE IMMEDIATE @q')).toMatchObject({ kind: 'EXECUTE', flags: ['dynamic-sql'] });
  });

  it('LOAD DATA LOCAL INFILE and other file access', () => {
    expect(my("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t")).toMatchObject({ kind: 'LOAD', objects: ['t'], flags: ['file-access'] });
    expect(my("LOAD DATA INFILE '/etc/passwd' INTO TABLE t")).toMatchObject({ kind: 'LOAD', flags: ['file-access'] });
    expect(my("SELECT * INTO OUTFILE '/tmp/x' FROM t")).toMatchObject({ kind: 'SELECT', objects: ['t'], flags: ['file-access'] });
    expect(my("SELECT * FROM t INTO DUMPFILE '/tmp/x'").flags).toContain('file-access');
    expect(my("SELECT LOAD_FILE('/etc/passwd')").flags).toContain('file-access');
    expect(my('SELECT a INTO @v FROM t').flags).toEqual([]);
  });

  it('unbounded DELETE / UPDATE / TRUNCATE', () => {
    const cases: [string, boolean][] = [
      ['DELETE FROM t', true],
      ['DELETE FROM t WHERE 1=1', true],
      ['DELETE FROM t WHERE TRUE', true],
      ["DELETE FROM t WHERE 'a' = 'a'", true],
      ['DELETE FROM t WHERE (1)', true],
      ['DELETE FROM t WHERE id = 3 OR 1=1', true],
      ['DELETE FROM t WHERE NOT (1=0)', true],
      ['DELETE FROM t WHERE @x = 1', true],
      ['DELETE FROM t WHERE id = id', true],
      ['DELETE FROM t WHERE id = 3', false],
      ['DELETE FROM t WHERE id = 3 AND 1=1', false],
      ['DELETE FROM t WHERE 1=0', false],
      ['DELETE FROM t WHERE id IN (SELECT id FROM u)', false],
      ['UPDATE t SET a = 1', true],
      ['UPDATE t SET a = 1 WHERE 2 > 1', true],
      ['UPDATE t SET a = 1 WHERE id = ?', false],
      ['DELETE a FROM a JOIN b ON a.id = b.id', true],
    ];
    for (const [t, u] of cases) expect(my(t).flags.includes('unbounded'), t).toBe(u);
    expect(my('TRUNCATE t')).toMatchObject({ kind: 'TRUNCATE', objects: ['t'], flags: ['unbounded'] });
    expect(my('TRUNCATE TABLE db.t')).toMatchObject({ kind: 'TRUNCATE', objects: ['db.t'], flags: ['unbounded'] });
  });

  it('unparseable → parse-error, refused', () => {
    for (const t of ['SELEC 1', 'DROP TABLE', "SELECT 'unclosed", 'SELECT 1\0; DROP TABLE t', 'CREATE PROCEDURE p() BEGIN DROP TABLE t; END']) {
      const c = my(t);
      expect(c.kind, t).toBe('UNKNOWN');
      expect(c.flags).toEqual(['parse-error']);
      expect(typeof c.error).toBe('string');
    }
    // One bad part refuses the whole text through its part.
    const c = my('SELECT 1; SELEC 2');
    expect(c.kind).toBe('UNKNOWN');
  });

  it('refuses character sets where a backslash can end a multi-byte character', () => {
    expect(my('SET NAMES gbk').flags).toContain('parse-error');
    expect(my("SET character_set_client = 'sjis'").flags).toContain('parse-error');
    expect(my('SET NAMES utf8mb4 COLLATE utf8mb4_general_ci')).toMatchObject({ kind: 'SET', flags: [] });
  });
});

describe('MySQL: shapes', () => {
  it('objects: joins, subqueries, CTEs', () => {
    expect(my('SELECT * FROM a JOIN b ON a.id = b.id LEFT JOIN db.c ON c.x = a.x')).toMatchObject({ kind: 'SELECT', objects: ['a', 'b', 'db.c'] });
    expect(my('SELECT * FROM t1 WHERE x IN (SELECT y FROM t2) AND EXISTS (SELECT 1 FROM t3)').objects.sort()).toEqual(['t1', 't2', 't3']);
    expect(my('WITH c AS (SELECT * FROM t) SELECT * FROM c').objects).toEqual(['t']);
    expect(my('SELECT * FROM Orders o').objects).toEqual(['orders']);
  });

  it('verbs', () => {
    const cases: [string, string, string[]?][] = [
      ['INSERT INTO t VALUES (1)', 'INSERT', ['t']],
      ['INSERT INTO t SELECT * FROM u', 'INSERT', ['t', 'u']],
      ['REPLACE INTO t VALUES (1)', 'REPLACE', ['t']],
      ['CREATE TABLE t (a int)', 'CREATE', ['t']],
      ['ALTER TABLE t ADD COLUMN b int', 'ALTER', ['t']],
      ['RENAME TABLE a TO b', 'ALTER', ['a', 'b']],
      ['DROP DATABASE d', 'DROP', ['d']],
      ["GRANT SELECT ON db.* TO 'u'@'%'", 'GRANT', ['db.*']],
      ['SET autocommit = 1', 'SET'],
      ['SET NAMES utf8mb4', 'SET'],
      ['SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', 'SET'],
      ['SHOW TABLES', 'SHOW'],
      ['SHOW DATABASES', 'SHOW'],
      ["SHOW VARIABLES LIKE 'version%'", 'SHOW'],
      ['SHOW WARNINGS', 'SHOW'],
      ['SHOW FULL COLUMNS FROM t FROM db', 'SHOW', ['db.t']],
      ['SHOW INDEX FROM db.t', 'SHOW', ['db.t']],
      ['USE db', 'USE', ['db']],
      ['CALL p(1)', 'CALL'],
      ['LOCK TABLES t WRITE', 'LOCK', ['t']],
      ['UNLOCK TABLES', 'UNLOCK'],
      ['BEGIN', 'BEGIN'],
      ['START TRANSACTION', 'BEGIN'],
      ['COMMIT', 'COMMIT'],
      ['ROLLBACK', 'ROLLBACK'],
      ['SAVEPOINT a', 'SAVEPOINT'],
      ['RELEASE SAVEPOINT a', 'RELEASE'],
      ['ROLLBACK TO SAVEPOINT a', 'ROLLBACK'],
      ['DESCRIBE t', 'DESCRIBE', ['t']],
      ['EXPLAIN SELECT * FROM t', 'EXPLAIN', ['t']],
      ['DEALLOCATE PREPARE s', 'DEALLOCATE'],
      ['KILL QUERY 12', 'KILL'],
      ['select @@version_comment limit 1', 'SELECT'],
    ];
    for (const [t, kind, objects] of cases) {
      const c = my(t);
      expect(c.kind, `${t}: ${c.error ?? ''}`).toBe(kind);
      if (objects) expect(c.objects, t).toEqual(objects);
    }
    expect(my('CALL p(1)').flags).toContain('dynamic-sql');
  });

  it('server version strings', () => {
    expect(mysqlServerOptions('10.11.6-MariaDB-0+deb12u1')).toEqual({ mariadb: true, version: 101106 });
    expect(mysqlServerOptions('5.5.5-10.11.6-MariaDB')).toEqual({ mariadb: true, version: 101106 });
    expect(mysqlServerOptions('8.0.36')).toEqual({ mariadb: false, version: 80036 });
  });

  it('cache: same result from the cache, session effects still applied', () => {
    clearMysqlCache();
    const a = my('DELETE FROM t WHERE id = 1');
    const b = my('DELETE FROM t WHERE id = 1');
    expect(b).toEqual(a);
    expect(mysqlCacheStats.hits).toBe(1);
    const s = new MysqlClassifier();
    s.classify("PREPARE s FROM 'DROP TABLE t'");
    const s2 = new MysqlClassifier();
    s2.classify("PREPARE s FROM 'DROP TABLE t'");
    expect(s2.classify('EXECUTE s').kind).toBe('DROP');
    // Returned commands are not shared with the cache.
    b.objects.push('x');
    expect(my('DELETE FROM t WHERE id = 1').objects).toEqual(['t']);
  });
});
