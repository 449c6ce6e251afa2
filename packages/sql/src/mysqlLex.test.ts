import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Command } from '@sluice/core';
import { classifyMysql } from './index.js';
import { LexError, lexMysql } from './mysqlLex.js';
import { units } from './test-helpers.js';

const MARIADB = { backslashEscapes: true, mariadb: true, version: 101100 };

const hasDrop = (c: Command): boolean => units(c).some((u) => u.kind === 'DROP');

/** Fragments that are complete on their own: after any sequence of them, the scan is back in code. */
const CLOSED = [
  '/* x */',
  '/**/',
  '/* ; DROP */',
  '/* /* */',
  '# x\n',
  '#\n',
  '-- x\n',
  '--\t\n',
  '-- \r\n',
  "'a'",
  "'a\\'b'",
  "'a''b'",
  "'\\\\'",
  "'--'",
  "'#'",
  "'/*'",
  "'*/'",
  '"q"',
  '"a\\\\"',
  '"it\'s"',
  '`t`',
  '`a``b`',
  '`/*`',
  '/*!50000 SELECT 1 */',
  "/*!50000 SELECT '*/' */",
  '/*!99999 x /* y */ z */',
  '/*!50700 ; */',
  '/*M!100000 SELECT 1*/',
  '/*!*/',
  'SELECT 1',
  'SELECT',
  '1',
  '--1',
  '-',
  ';',
  ' ',
  '\n',
  '\t',
  '\\',
  '_utf8mb4',
  'x',
  'DROP',
];

/** Anything, including unbalanced pieces. */
const JUNK = [...CLOSED, "'", '"', '`', '/*', '*/', '/*!', '/*M!', '#', '-- ', '\\', '/*!50000', '*', '/'];

const sep = fc.constantFrom('', ' ', '\n', ';', '\t');
const closedSoup = fc.array(fc.tuple(fc.constantFrom(...CLOSED), sep), { maxLength: 8 }).map((xs) => xs.map(([a, b]) => a + b).join(''));
const junkSoup = fc.array(fc.tuple(fc.constantFrom(...JUNK), sep), { maxLength: 8 }).map((xs) => xs.map(([a, b]) => a + b).join(''));
const dropSpelling = fc.constantFrom('DROP TABLE t', 'drop table t', 'DrOp TaBlE `t`', '/*!DROP*/ TABLE t', '/*!50000 DROP TABLE t*/', '/*M!DROP TABLE t */', 'DROP/**/TABLE t');

describe('MySQL pre-scan', () => {
  it('strips comments, keeps executable comment content, splits statements', () => {
    const r = lexMysql("SELECT 1 /* c */ # d\n; /*!50000 DROP TABLE T */ -- e\n; SELECT 'a;b'", MARIADB);
    expect(r.statements.map((s) => s.text)).toEqual(['SELECT 1 /* c */ # d', "/*!50000 DROP TABLE T */ -- e", "SELECT 'a;b'"]);
    expect(r.statements.map((s) => s.code)).toEqual(['select 1', 'drop table t', "select 'a;b'"]);
  });

  it('literals with quotes or backslashes become placeholders with their decoded value', () => {
    const r = lexMysql("SELECT 'it\\'s', 'a''b', \"x\\ny\"", MARIADB);
    const st = r.statements[0]!;
    expect(st.code).toBe("select '\u00010', '\u00011', '\u00012'");
    expect([...st.values.values()]).toEqual(["it's", "a'b", 'x\ny']);
    expect(r.modeSensitive).toBe(true);
    expect(lexMysql("SELECT 'a''b'", MARIADB).modeSensitive).toBe(false);
  });

  it('-- needs a space or control character; backticks keep case', () => {
    expect(lexMysql('SELECT 1--1', MARIADB).statements[0]!.code).toBe('select 1- -1');
    expect(lexMysql('SELECT 1--', MARIADB).statements[0]!.code).toBe('select 1');
    expect(lexMysql('SELECT `A` FROM B', MARIADB).statements[0]!.code).toBe('select `A` from b');
  });

  it('errors: unclosed things, NUL', () => {
    for (const t of ["'", '"', '`', '/*', '/*!', "/*!50000 '*/", 'a\0b']) expect(() => lexMysql(t, MARIADB), JSON.stringify(t)).toThrow(LexError);
  });

  it('property: a DROP in a code position never disappears (refused, or judged as a DROP)', () => {
    fc.assert(
      fc.property(closedSoup, sep, dropSpelling, junkSoup, (prefix, s, drop, suffix) => {
        // A newline before the DROP: the soup may end in '-' or '--', and '-- DROP' is a comment to MySQL too.
        const text = prefix + s + '\n' + drop + ' ' + suffix;
        const c = classifyMysql(text);
        return hasDrop(c) || c.flags.includes('parse-error');
      }),
      { numRuns: 3000 },
    );
  });

  it('property: the same, as a PREPARE text and in a second statement', () => {
    fc.assert(
      fc.property(closedSoup, dropSpelling, (prefix, drop) => {
        const inner = (prefix + '\n' + drop).replace(/\\/g, '\\\\').replace(/'/g, "''");
        const c = classifyMysql(`SELECT 1; PREPARE s FROM '${inner}'`);
        return hasDrop(c) || c.flags.includes('parse-error');
      }),
      { numRuns: 1000 },
    );
  });

  it("'-- ' before a DROP makes it a comment, as MySQL reads it; '--' glued to it does not", () => {
    expect(classifyMysql('-- DROP TABLE t').kind).toBe('EMPTY');
    expect(hasDrop(classifyMysql('SELECT 1; --\nDROP TABLE t'))).toBe(true);
  });

  it('property: versioned comments run exactly when MariaDB 10.11 runs them', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999999 }), fc.boolean(), (v, maria) => {
        const digits = String(v).padStart(v > 99999 ? 6 : 5, '0');
        const text = `/*${maria ? 'M' : ''}!${digits} DROP TABLE t */`;
        const runs = v <= 101100 && (maria || v < 50700 || v > 99999);
        const c = classifyMysql(text);
        return runs ? c.kind === 'DROP' : c.kind === 'EMPTY';
      }),
      { numRuns: 2000 },
    );
  });

  it('property: random text never throws, and always yields a Command', () => {
    fc.assert(
      fc.property(fc.oneof(junkSoup, fc.string({ maxLength: 60 })), (text) => {
        const c = classifyMysql(text);
        return typeof c.kind === 'string' && Array.isArray(c.flags) && (c.kind !== 'UNKNOWN' || c.flags.includes('parse-error'));
      }),
      { numRuns: 2000 },
    );
  });
});
