import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyMysql } from './index.js';
import { fallbackMysql } from './mysqlClassify.js';
import { lexMysql } from './mysqlLex.js';
import { kinds } from './test-helpers.js';

const my = (text: string) => classifyMysql(text);

describe('MySQL fallback: statements node-sql-parser does not know', () => {
  it('FLUSH', () => {
    expect(my('FLUSH PRIVILEGES')).toEqual({ protocol: 'mysql', kind: 'FLUSH', text: 'FLUSH PRIVILEGES', objects: [], flags: [] });
    expect(my('FLUSH TABLES')).toMatchObject({ kind: 'FLUSH', objects: [], flags: [] });
    expect(my('flush no_write_to_binlog tables `Db`.T1, t2 WITH READ LOCK')).toMatchObject({ kind: 'FLUSH', objects: ['Db.t1', 't2'] });
    expect(my('FLUSH TABLES WITH READ LOCK')).toMatchObject({ kind: 'FLUSH', objects: [] });
    expect(my('FLUSH LOCAL BINARY LOGS, STATUS, QUERY CACHE')).toMatchObject({ kind: 'FLUSH', objects: [] });
  });

  it('OPTIMIZE / ANALYZE / CHECK / REPAIR TABLE', () => {
    expect(my('OPTIMIZE TABLE t')).toEqual({ protocol: 'mysql', kind: 'OPTIMIZE', text: 'OPTIMIZE TABLE t', objects: ['t'], flags: [] });
    expect(my('ANALYZE TABLE t')).toMatchObject({ kind: 'ANALYZE', objects: ['t'] });
    expect(my('ANALYZE LOCAL TABLE db.t PERSISTENT FOR ALL')).toMatchObject({ kind: 'ANALYZE', objects: ['db.t'] });
    expect(my('CHECK TABLE t')).toMatchObject({ kind: 'CHECK', objects: ['t'] });
    expect(my('CHECK TABLE a, `B`.c FOR UPGRADE QUICK EXTENDED')).toMatchObject({ kind: 'CHECK', objects: ['a', 'B.c'] });
    expect(my('REPAIR NO_WRITE_TO_BINLOG TABLE t QUICK USE_FRM')).toMatchObject({ kind: 'REPAIR', objects: ['t'] });
    expect(my('optimize tables a, b')).toMatchObject({ kind: 'OPTIMIZE', objects: ['a', 'b'] });
  });

  it('accounts and roles: kinds a policy on DROP / CREATE / ALTER / SET still sees', () => {
    expect(my('DROP USER u')).toMatchObject({ kind: 'DROP', objects: [], flags: [] });
    expect(my("DROP USER IF EXISTS 'u'@'%', `v`@localhost, w@'h'")).toMatchObject({ kind: 'DROP' });
    expect(my("ALTER USER u IDENTIFIED BY 'x'")).toMatchObject({ kind: 'ALTER', flags: [] });
    expect(my("ALTER USER 'u'@'localhost' IDENTIFIED BY 'x' PASSWORD EXPIRE NEVER ACCOUNT UNLOCK")).toMatchObject({ kind: 'ALTER' });
    expect(my('RENAME USER a TO b')).toMatchObject({ kind: 'ALTER' });
    expect(my("RENAME USER 'a'@'%' TO 'b'@'%', c TO d")).toMatchObject({ kind: 'ALTER' });
    expect(my("CREATE USER u IDENTIFIED BY 'x'")).toMatchObject({ kind: 'CREATE' });
    expect(my('CREATE ROLE r')).toMatchObject({ kind: 'CREATE' });
    expect(my('CREATE ROLE IF NOT EXISTS r WITH ADMIN CURRENT_USER')).toMatchObject({ kind: 'CREATE' });
    expect(my('DROP ROLE r')).toMatchObject({ kind: 'DROP' });
    expect(my("SET PASSWORD FOR u = 'x'")).toMatchObject({ kind: 'SET' });
    expect(my("SET PASSWORD = PASSWORD('x')")).toMatchObject({ kind: 'SET' });
    // The parser's kinds for the statements it knows stay as they were.
    expect(my('GRANT SELECT ON db.t TO u')).toMatchObject({ kind: 'GRANT', objects: ['db.t'] });
  });

  it('HANDLER', () => {
    expect(my('HANDLER t OPEN')).toEqual({ protocol: 'mysql', kind: 'HANDLER', text: 'HANDLER t OPEN', objects: ['t'], flags: [] });
    expect(my('HANDLER db.t OPEN AS h')).toMatchObject({ kind: 'HANDLER', objects: ['db.t'] });
    expect(my('HANDLER t READ FIRST')).toMatchObject({ kind: 'HANDLER', objects: ['t'] });
    expect(my('HANDLER t READ idx NEXT LIMIT 10')).toMatchObject({ kind: 'HANDLER' });
    expect(my("HANDLER t READ idx >= (1, 'a') LIMIT 5")).toMatchObject({ kind: 'HANDLER' });
    expect(my('HANDLER t CLOSE')).toMatchObject({ kind: 'HANDLER', objects: ['t'] });
  });

  it('DO: read as its expressions', () => {
    expect(my('DO SLEEP(1)')).toEqual({ protocol: 'mysql', kind: 'DO', text: 'DO SLEEP(1)', objects: [], flags: [] });
    expect(my('DO (SELECT a FROM s.t)')).toMatchObject({ kind: 'DO', objects: ['s.t'] });
    expect(my("DO LOAD_FILE('/etc/passwd')")).toMatchObject({ kind: 'DO', flags: ['file-access'] });
  });

  it('XA', () => {
    for (const t of ["XA START 'x'", "XA BEGIN 'x', 'y', 1 JOIN", "XA END 'x' SUSPEND", "XA PREPARE 'x'", "XA COMMIT 'x' ONE PHASE", "XA ROLLBACK X'41'", 'XA RECOVER', 'XA RECOVER CONVERT XID']) {
      expect(my(t), t).toMatchObject({ kind: 'XA', objects: [], flags: [] });
    }
  });

  it('CREATE PROCEDURE / FUNCTION / TRIGGER / EVENT: dynamic SQL', () => {
    expect(my('CREATE PROCEDURE p() DELETE FROM t')).toMatchObject({ kind: 'CREATE', objects: ['p'], flags: ['dynamic-sql'] });
    expect(my('CREATE PROCEDURE db.p() BEGIN END')).toMatchObject({ kind: 'CREATE', objects: ['db.p'], flags: ['dynamic-sql'] });
    expect(my('CREATE DEFINER = CURRENT_USER FUNCTION f(x INT) RETURNS INT DETERMINISTIC RETURN x + 1')).toMatchObject({
      kind: 'CREATE',
      objects: ['f'],
      flags: ['dynamic-sql'],
    });
    expect(my('CREATE OR REPLACE DEFINER=`root`@`localhost` TRIGGER db.tr BEFORE INSERT ON db.t FOR EACH ROW FOLLOWS x INSERT INTO y VALUES (1)')).toMatchObject({
      kind: 'CREATE',
      objects: ['db.tr', 'db.t'],
      flags: ['dynamic-sql'],
    });
    expect(my('CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t')).toMatchObject({ kind: 'CREATE', objects: ['e'], flags: ['dynamic-sql'] });
    // Triggers the parser reads are dynamic SQL as well.
    const parsed = my('CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET new.a = 1');
    expect(parsed.kind).toBe('CREATE');
    expect(parsed.flags).toContain('dynamic-sql');
  });

  it('compound bodies split by ; and shared-library functions stay refused', () => {
    for (const t of ['CREATE PROCEDURE p() BEGIN DELETE FROM t; END', "CREATE FUNCTION f RETURNS STRING SONAME 'x.so'", 'CREATE AGGREGATE FUNCTION f RETURNS INTEGER SONAME "x.so"']) {
      expect(my(t), t).toMatchObject({ kind: 'UNKNOWN', flags: ['parse-error'] });
    }
  });
});

describe('MySQL fallback: near misses', () => {
  it('a second statement is judged on its own, never hidden behind the first', () => {
    for (const [t, bad] of [
      ['FLUSH PRIVILEGES; DROP TABLE t', 'DROP'],
      ['OPTIMIZE TABLE t; DELETE FROM x', 'DELETE'],
      ['DO 1; DROP TABLE t', 'DROP'],
      ['HANDLER t OPEN AS x; DROP TABLE t', 'DROP'],
      ['XA START \'x\'; DELETE FROM t', 'DELETE'],
    ] as const) {
      const c = my(t);
      expect(c.kind, t).not.toMatch(/^(FLUSH|OPTIMIZE|DO|HANDLER|XA)$/);
      expect(c.flags.includes('parse-error') || (c.kind === 'MULTI' && kinds(c).includes(bad)), t).toBe(true);
    }
    expect(my('FLUSH PRIVILEGES; DROP TABLE t')).toMatchObject({ kind: 'MULTI', flags: ['multi-statement'] });
  });

  it('version comments are never accepted by the fallback', () => {
    for (const t of ['OPTIMIZE TABLE t /*!50000 ; DROP TABLE x */', 'OPTIMIZE TABLE t /*!99999 x */', 'FLUSH /*!PRIVILEGES*/', '/*!FLUSH PRIVILEGES*/', '/*M!FLUSH PRIVILEGES*/', 'HANDLER t OPEN /*!99999 AS x */']) {
      expect(my(t), t).toMatchObject({ kind: 'UNKNOWN', flags: ['parse-error'] });
    }
  });

  it('anything beyond the grammar stays a parse error', () => {
    for (const t of [
      'FLUSH PRIVILEGES DROP TABLE t',
      'FLUSH PRIVILEGES, TABLES',
      'FLUSH TABLES t WHERE 1',
      'FLUSH TABLES a,',
      'OPTIMIZE TABLE t DELETE FROM x',
      'OPTIMIZE TABLE',
      'OPTIMIZE t',
      'OPTIMIZE TABLE t, (SELECT 1)',
      'CHECK TABLE t REPAIR',
      'REPAIR TABLE t FAST',
      'DROP USER',
      'DROP USER u DROP TABLE t',
      "ALTER USER u IDENTIFIED BY 'x' DEFAULT ROLE r",
      'RENAME USER a',
      'HANDLER t OPEN AS',
      'HANDLER t OPEN AS x y',
      'HANDLER t READ FIRST WHERE (SELECT 1 FROM s)',
      'HANDLER t DELETE',
      'DO',
      'DO 1 FROM t',
      'DO 1 UNION SELECT a FROM t',
      'XA START',
      'XA DELETE x',
      'CREATE PROCEDURE p',
      'CREATE TRIGGER tr BEFORE INSERT ON t',
      'CREATE EVENT e ON SCHEDULE EVERY 1 DAY',
      'SET PASSWORD FOR u',
    ]) {
      expect(my(t), t).toMatchObject({ kind: 'UNKNOWN', flags: ['parse-error'] });
    }
  });

  it('the recogniser itself refuses separators, comment markers and version comments', () => {
    for (const code of ['flush privileges; drop table t', 'flush privileges ;', 'optimize table t -- x', 'optimize table t # x', 'optimize table t /* x */', 'do 1 \\', 'handler t open as "x"']) {
      expect(fallbackMysql(code), code).toBeNull();
    }
    expect(fallbackMysql('optimize table t', 'OPTIMIZE TABLE t /*!99999 x */')).toBeNull();
    // Non-ASCII spaces are name characters to the server.
    expect(fallbackMysql('flush\u00a0privileges')).toBeNull();
    expect(my('FLUSH\u00a0PRIVILEGES')).toMatchObject({ kind: 'UNKNOWN', flags: ['parse-error'] });
    expect(fallbackMysql('optimize table t\u2028')).toBeNull();
    expect(fallbackMysql('create procedure p() begin select 1; end')).toBeNull();
    expect(fallbackMysql('flush privileges')).toMatchObject({ kind: 'FLUSH' });
  });
});

/** Fragments of the recognised forms, mixed with separators, quotes and comment openers. */
const FRAGMENTS = [
  'FLUSH', 'PRIVILEGES', 'TABLES', 'TABLE', 'OPTIMIZE', 'ANALYZE', 'CHECK', 'REPAIR', 'LOCAL', 'DROP', 'USER', 'ROLE', 'ALTER', 'RENAME', 'TO',
  'CREATE', 'PROCEDURE', 'FUNCTION', 'TRIGGER', 'EVENT', 'DEFINER', '=', 'HANDLER', 'OPEN', 'AS', 'READ', 'FIRST', 'CLOSE', 'DO', 'XA', 'START',
  'COMMIT', 'SET', 'PASSWORD', 'FOR', 'IDENTIFIED', 'BY', 't', '`t;x`', 'db.t', "'x'", "'a;b'", '"s"', ',', '(', ')', '1', '@', "'u'@'%'",
  'DELETE FROM x', '/*!', '*/', '/*', '--', '#', '\\', "'", '`', ';', '\n',
];
const soup = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 12 }).map((xs) => xs.join(' '));

/** Does the text hold a ; outside '…', "…" and `…` (a naive reading: no escapes)? */
function semicolonOutsideQuotes(s: string): boolean {
  return /;/.test(s.replace(/'[^']*'|"[^"]*"|`[^`]*`/g, ''));
}

describe('MySQL fallback: properties', () => {
  it('never throws, never accepts a text with a ; outside quotes', () => {
    fc.assert(
      fc.property(fc.oneof(soup, fc.string(), fc.string({ unit: 'binary' })), (s) => {
        const r = fallbackMysql(s.toLowerCase());
        const r2 = fallbackMysql(s);
        if (semicolonOutsideQuotes(s)) {
          expect(r).toBeNull();
          expect(r2).toBeNull();
        }
        if (r !== null) expect(r.error).toBeUndefined();
      }),
      { numRuns: 3000 },
    );
  });

  it('through the classifier: a text that splits into several statements is never a lone fallback kind', () => {
    fc.assert(
      fc.property(soup, (s) => {
        const c = my(s);
        let several = false;
        try {
          several = lexMysql(s, { backslashEscapes: true, mariadb: true, version: 101100 }).statements.length > 1;
        } catch {
          several = false;
        }
        if (several) expect(c.kind === 'MULTI' || c.flags.includes('parse-error'), s).toBe(true);
        if (c.kind === 'MULTI') for (const p of c.parts ?? []) expect(p.flags).toContain('multi-statement');
      }),
      { numRuns: 2000 },
    );
  });
});
