import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Command } from '@sluice/core';
import { classifyMysql, clearMysqlCache, MysqlClassifier, mysqlCacheStats } from './index.js';
import { mysqlShape } from './mysqlShape.js';

const H = '\u0001';
const view = (c: Command) => JSON.parse(JSON.stringify(c)) as Command;

describe('mysqlShape', () => {
  it.each([
    ['SELECT v FROM t WHERE id = 17', `SELECT v FROM t WHERE id = ${H}`],
    ['select * from t where a=1 and b = -22 limit 10', `select * from t where a=${H} and b = -${H} limit ${H}`],
    ['SELECT * FROM t WHERE s = \'12\' AND n = 3', `SELECT * FROM t WHERE s = '12' AND n = ${H}`],
    ["SELECT 'it''s 5', 6", `SELECT 'it''s 5', ${H}`],
    ['SELECT `col 1`, "x 2" FROM t1 WHERE c = 3', `SELECT \`col 1\`, "x 2" FROM t1 WHERE c = ${H}`],
    ['SELECT (1)+(2)', `SELECT (${H})+(${H})`],
  ])('%s', (text, shape) => {
    expect(mysqlShape(text)).toBe(shape);
  });

  it.each([
    ['no integer', 'SELECT v FROM t'],
    ['digits inside identifiers, decimals, exponents, hex, variables, qualified names', 'SELECT t1.c2, 1.5, .5, 1e5, 0x1F, 0b01, @1, $1, db.1 FROM t_9'],
    ['a version comment (code in MySQL)', 'SELECT 1 /*!50000 , 2 */'],
    ['a block comment', 'SELECT 1 /* 2 */'],
    ['a # comment', 'SELECT 1 # 2'],
    ['a -- comment', 'SELECT 1 -- 2'],
    ['a backslash (string extents depend on sql_mode)', "SELECT 1 FROM t WHERE s = 'a\\' OR 1=1 -- '"],
    ['an unterminated quote', "SELECT 1 FROM t WHERE s = 'x"],
    ['the placeholder character itself', `SELECT 1, '${H}'`],
  ])('none for %s', (_why, text) => {
    expect(mysqlShape(text)).toBeNull();
  });
});

describe('MySQL classification shared by shape', () => {
  it('a SELECT differing only in an integer is not parsed again, and carries its own text', () => {
    clearMysqlCache();
    const a = classifyMysql('SELECT v FROM t WHERE id = 17');
    const b = classifyMysql('SELECT v FROM t WHERE id = 42');
    expect(mysqlCacheStats).toMatchObject({ misses: 1, shapeHits: 1 });
    expect(view(b)).toEqual({ ...view(a), text: 'SELECT v FROM t WHERE id = 42' });
    expect(b.objects).not.toBe(a.objects);
  });

  it('never shares DELETE or UPDATE, whose unbounded flag depends on values', () => {
    clearMysqlCache();
    expect(classifyMysql('DELETE FROM t WHERE 0').flags).not.toContain('unbounded');
    expect(classifyMysql('DELETE FROM t WHERE 1').flags).toContain('unbounded');
    expect(classifyMysql('UPDATE t SET a = 2 WHERE 1 = 0').flags).not.toContain('unbounded');
    expect(classifyMysql('UPDATE t SET a = 2 WHERE 1 = 1').flags).toContain('unbounded');
    expect(mysqlCacheStats.shapeHits).toBe(0);
  });

  it('never shares a flagged SELECT, several statements, or a PREPARE', () => {
    clearMysqlCache();
    for (const [a, b] of [
      ["SELECT load_file('/etc/passwd') FROM t WHERE id = 1", "SELECT load_file('/etc/passwd') FROM t WHERE id = 2"],
      ['SELECT 1; DROP TABLE t', 'SELECT 2; DROP TABLE t'],
      ["PREPARE s FROM 'SELECT 1'", "PREPARE s FROM 'SELECT 1'"],
    ]) {
      classifyMysql(a!);
      classifyMysql(b!);
    }
    expect(mysqlCacheStats.shapeHits).toBe(0);
  });

  it('a session classifier gives the same commands with the shared entry as without', () => {
    clearMysqlCache();
    const s = new MysqlClassifier();
    s.classify('SELECT v FROM t WHERE id = 1');
    const shared = s.classify('SELECT v FROM t WHERE id = 2');
    clearMysqlCache();
    expect(view(shared)).toEqual(view(new MysqlClassifier().classify('SELECT v FROM t WHERE id = 2')));
  });

  // The property that makes sharing safe: for texts that differ only in
  // integers, the cached path gives exactly what a fresh classification gives.
  const templates = [
    'SELECT v FROM t WHERE id = {}',
    'SELECT * FROM t WHERE a = {} AND b > {} ORDER BY {} LIMIT {}',
    'SELECT * FROM t{}',
    'SELECT * FROM T{} WHERE id = {}',
    'SELECT * FROM Ä{}',
    'SELECT * FROM `{}`',
    'SELECT * FROM db{}.t WHERE x = {}',
    'SELECT {} FROM dual',
    'SELECT * FROM t WHERE {}',
    'DELETE FROM t WHERE {}',
    'DELETE FROM t WHERE id = {} OR {} = {}',
    'UPDATE t SET a = {} WHERE {} = {}',
    'INSERT INTO t VALUES ({}, {})',
    'SELECT {} INTO OUTFILE \'/tmp/x{}\'',
    'SELECT {}; DROP TABLE t',
    'SELECT * FROM t WHERE id IN (SELECT {} FROM u WHERE k = {})',
    'SELECT SLEEP({})',
    'SELECT * FROM t LIMIT {}, {}',
  ];
  const fill = (tpl: string, ns: number[]) => {
    let i = 0;
    return tpl.replace(/\{\}/g, () => String(ns[i++ % ns.length]));
  };
  it('for any integers, a shared classification equals a fresh one', () => {
    const ints = fc.array(fc.oneof(fc.constantFrom(0, 1, 2, 10), fc.nat(99999)), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(fc.constantFrom(...templates), ints, ints, (tpl, a, b) => {
        clearMysqlCache();
        classifyMysql(fill(tpl, a));
        const viaCache = view(classifyMysql(fill(tpl, b)));
        clearMysqlCache();
        expect(viaCache).toEqual(view(classifyMysql(fill(tpl, b))));
      }),
      { numRuns: 400 },
    );
  });
});
