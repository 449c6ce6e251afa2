import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ColumnSource } from '@sluice/core';
import { classifyPostgres, loadSqlParser, PostgresClassifier } from './index.js';

beforeAll(async () => {
  await loadSqlParser();
});

const src = (text: string) => classifyPostgres(text);
const keys = (s: ColumnSource[] | undefined) => (s ?? []).map((x) => `${x.table ?? '?'}.${x.column}`).sort();

describe('which columns a statement reads into its results', () => {
  it('select-list expressions, with aliases resolved to their tables', () => {
    const c = src("SELECT c.id, upper(c.ssn) AS s, password_hash || '' FROM public.customers c WHERE c.note LIKE 'x%' ORDER BY c.balance");
    expect(keys(c.sources)).toEqual(['?.password_hash', 'public.customers.id', 'public.customers.ssn']);
    // WHERE and ORDER BY only filter and order: note and balance carry nothing out.
    expect(c.columns?.map(keys)).toEqual([['public.customers.id'], ['public.customers.ssn'], ['?.password_hash']]);
  });

  it('whole rows: a bare relation name, rel.* inside an expression, a bare * in a subquery', () => {
    expect(keys(src('SELECT row_to_json(c) FROM customers c').sources)).toEqual(['?.c', 'customers.*']);
    expect(keys(src('SELECT to_jsonb(customers.*) FROM customers').sources)).toEqual(['customers.*']);
    expect(keys(src('SELECT count(*) FROM (SELECT * FROM orders o JOIN items i ON i.o = o.id) s').sources)).toEqual(['items.*', 'orders.*']);
  });

  it('aggregates carry what they read, count too (a function named count may be user-defined and found first)', () => {
    expect(keys(src('SELECT count(ssn), max(c.ssn) FROM customers c').sources)).toEqual(['?.ssn', 'customers.ssn']);
    expect(src('SELECT count(*) FROM customers WHERE ssn IS NULL').sources).toBeUndefined();
  });

  it('a top-level * of the outermost SELECT yields plain columns: nothing to add, and no per-column map', () => {
    const c = src('SELECT * FROM customers');
    expect(c.sources).toBeUndefined();
    expect(src('SELECT *, upper(ssn) FROM customers').columns).toBeUndefined();
  });

  it('UNION arms, CTEs, FROM subqueries and scalar subqueries count', () => {
    expect(keys(src('SELECT a FROM t UNION SELECT * FROM u').sources)).toEqual(['?.a', 'u.*']);
    // An unqualified column keeps no table: it may be an outer query's column.
    expect(keys(src('WITH x AS (SELECT ssn p FROM customers) SELECT p FROM x').sources)).toEqual(['?.p', '?.ssn']);
    expect(keys(src('SELECT (SELECT max(c.ssn) FROM customers c WHERE id = 1) AS m').sources)).toEqual(['customers.ssn']);
    // A FROM item's columns reach every result column (a subquery's alias is no table).
    expect(src('SELECT s.x, 1 FROM (SELECT ssn x FROM customers) s').columns?.map(keys)).toEqual([['?.ssn', '?.x'], ['?.ssn']]);
  });

  it('RETURNING, and what an UPDATE writes; no RETURNING, no sources', () => {
    expect(keys(src('UPDATE t SET a = b WHERE c = 1 RETURNING a').sources)).toEqual(['?.a', '?.b']);
    expect(keys(src('DELETE FROM t RETURNING *').sources)).toEqual(['t.*']);
    expect(src('UPDATE t SET a = b WHERE c = 1').sources).toBeUndefined();
  });

  it('COPY TO STDOUT: the table (or its listed columns) or the query, stars included; not COPY FROM, TO a file or PROGRAM', () => {
    expect(keys(src('COPY customers TO STDOUT').sources)).toEqual(['customers.*']);
    expect(keys(src('COPY customers (id, ssn) TO STDOUT').sources)).toEqual(['customers.id', 'customers.ssn']);
    expect(keys(src('COPY (SELECT * FROM customers) TO STDOUT').sources)).toEqual(['customers.*']);
    expect(src('COPY customers FROM STDIN').sources).toBeUndefined();
    expect(src("COPY customers TO '/tmp/x'").sources).toBeUndefined();
  });

  it('FETCH reads a cursor declared before: any column', () => {
    expect(src('FETCH 10 FROM c').sources).toEqual([{ column: '*' }]);
  });

  it('EXECUTE of a prepared SELECT carries what it reads; the cache hands the same sources to every text of a shape', () => {
    const k = new PostgresClassifier();
    k.classify("PREPARE p AS SELECT upper(ssn) FROM customers WHERE id = $1");
    expect(keys(k.classify('EXECUTE p(1)').sources)).toEqual(['?.ssn']);
    expect(keys(src('SELECT upper(ssn) FROM customers WHERE id = 7').sources)).toEqual(['?.ssn']);
    expect(keys(src('SELECT upper(ssn) FROM customers WHERE id = 8').sources)).toEqual(['?.ssn']);
  });

  it('property: a column read inside any select-list expression is among the sources', () => {
    const wrap = fc.constantFrom((x: string) => x, (x: string) => `upper(${x})`, (x: string) => `${x} || ''`, (x: string) => `coalesce(${x}, 'a')`, (x: string) => `(SELECT ${x})`, (x: string) => `array_agg(${x})`, (x: string) => `CASE WHEN true THEN ${x} END`);
    const col = fc.constantFrom('ssn', 'c.ssn', 'customers.ssn');
    fc.assert(
      fc.property(wrap, wrap, col, fc.boolean(), (w1, w2, c, sub) => {
        const expr = w1(w2(c));
        const from = c.startsWith('c.') ? 'customers c' : 'customers';
        const text = sub ? `SELECT v FROM (SELECT ${expr} AS v FROM ${from}) s` : `SELECT 1 AS one, ${expr} AS v FROM ${from}`;
        const cmd = src(text);
        expect(cmd.sources?.some((s) => s.column === 'ssn'), text).toBe(true);
        if (!sub) expect(keys(cmd.columns?.[1]).some((k) => k.endsWith('.ssn')), text).toBe(true);
      }),
    );
  });
});

describe('cursors', () => {
  it('FETCH carries what its cursor was declared over (psql FETCH_COUNT), per column; an unknown cursor, any column', () => {
    const k = new PostgresClassifier();
    k.classify('BEGIN');
    k.classify('DECLARE _psql_cursor NO SCROLL CURSOR FOR SELECT count(*), upper(ssn) FROM customers');
    const f = k.classify('FETCH FORWARD 100 FROM _psql_cursor');
    expect(keys(f.sources)).toEqual(['?.ssn']);
    expect(f.columns?.map(keys)).toEqual([[], ['?.ssn']]);
    k.classify('DECLARE c2 CURSOR FOR SELECT * FROM orders');
    expect(k.classify('FETCH 10 FROM c2').sources).toBeUndefined();
    expect(k.classify('FETCH 10 FROM nope').sources).toEqual([{ column: '*' }]);
  });
});

describe('which columns a statement copies into the database', () => {
  const copies = (text: string) => {
    const c = src(text);
    return [c, ...(c.parts ?? [])].flatMap((u) => keys(u.copies));
  };

  it('views, CREATE TABLE … AS and SELECT … INTO copy what their query reads (a * is the whole row)', () => {
    expect(copies('CREATE TEMP VIEW v AS SELECT id, password_hash AS x FROM customers WHERE ssn = 1')).toEqual(['?.id', '?.password_hash']);
    expect(copies('CREATE TABLE t2 AS SELECT * FROM customers')).toEqual(['customers.*']);
    expect(copies('CREATE MATERIALIZED VIEW m AS SELECT row_to_json(c) FROM customers c')).toEqual(['?.c', 'customers.*']);
    expect(copies('SELECT c.ssn INTO t3 FROM customers c')).toEqual(['customers.ssn']);
    // AS EXECUTE: what the prepared statement reads is not known here, so it may be anything.
    expect(copies('CREATE TABLE x AS EXECUTE p')).toEqual(['?.*']);
  });

  it('INSERT, UPDATE and MERGE copy the values they write, not what they filter on or return', () => {
    expect(copies('INSERT INTO notes SELECT id, password_hash FROM customers WHERE ssn IS NOT NULL')).toEqual(['?.id', '?.password_hash']);
    expect(copies('UPDATE customers SET note = ssn WHERE password_hash IS NULL RETURNING balance')).toEqual(['?.ssn']);
    expect(copies('UPDATE t SET a = s.ssn FROM src s WHERE t.id = s.id')).toEqual(['src.ssn']);
    expect(copies('MERGE INTO t USING customers c ON t.id = c.id WHEN MATCHED THEN UPDATE SET note = c.ssn')).toContain('customers.ssn');
    expect(copies('WITH d AS (INSERT INTO log SELECT ssn FROM customers RETURNING 1) SELECT 1')).toEqual(['?.ssn']);
  });

  it('literals, a column rewritten in place and ON CONFLICT … EXCLUDED copy nothing', () => {
    expect(copies("INSERT INTO notes VALUES (1, 'x'), ($1, $2)")).toEqual([]);
    expect(copies('UPDATE customers SET ssn = upper(ssn), balance = customers.balance + 1 WHERE id = 1')).toEqual([]);
    expect(copies("INSERT INTO customers (id, ssn) VALUES (3, 'x') ON CONFLICT (id) DO UPDATE SET ssn = EXCLUDED.ssn")).toEqual([]);
    expect(copies("INSERT INTO customers (id, ssn) VALUES (3, 'x') ON CONFLICT (id) DO UPDATE SET note = customers.ssn")).toEqual(['customers.ssn']);
    expect(copies('SELECT password_hash FROM customers')).toEqual([]);
  });

  it('set_config and pg_notify keep what they are given where it is read back unmasked', () => {
    expect(copies("SELECT set_config('my.x', ssn, false) FROM customers")).toEqual(['?.ssn']);
    expect(copies("SELECT id FROM customers WHERE pg_catalog.pg_notify('ch', password_hash) IS NOT NULL")).toEqual(['?.password_hash']);
    expect(copies("SELECT pg_notify('ch', 'literal')")).toEqual([]);
    expect(copies("SELECT mine.set_config('a', ssn) FROM customers")).toEqual([]);
  });

  it('EXECUTE of a prepared INSERT … SELECT copies what the INSERT does', () => {
    const cl = new PostgresClassifier();
    cl.classify('PREPARE p AS INSERT INTO notes SELECT id, ssn FROM customers');
    expect(keys(cl.classify('EXECUTE p').copies)).toEqual(['?.id', '?.ssn']);
  });
});

describe('what function and DO bodies hand on (copies)', () => {
  const copies = (text: string) => {
    const c = src(text);
    const all: string[] = [];
    const visit = (u: typeof c): void => {
      all.push(...keys(u.copies));
      u.parts?.forEach(visit);
    };
    visit(c);
    return [...new Set(all)].sort();
  };

  it('what a body returns, raises or assigns counts as copied, a SELECT * as the whole row', () => {
    expect(copies("CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT password_hash FROM customers WHERE id = 1'")).toEqual(['?.password_hash']);
    expect(copies("CREATE FUNCTION g() RETURNS SETOF customers LANGUAGE sql AS 'SELECT * FROM customers'")).toEqual(['customers.*']);
    expect(copies('CREATE FUNCTION h() RETURNS text LANGUAGE sql RETURN (SELECT ssn FROM customers LIMIT 1)')).toEqual(['?.ssn']);
    expect(copies('CREATE FUNCTION k() RETURNS text LANGUAGE plpgsql AS $$ DECLARE v text; BEGIN SELECT password_hash INTO v FROM customers LIMIT 1; RETURN v; END $$')).toEqual(['?.password_hash']);
    expect(copies("DO $$ BEGIN RAISE NOTICE '%', (SELECT ssn FROM customers LIMIT 1); END $$")).toEqual(['?.ssn']);
  });

  it('a body that cannot be read (dynamic EXECUTE, another language) may copy anything', () => {
    expect(copies('CREATE FUNCTION d(t text) RETURNS text LANGUAGE plpgsql AS $$ DECLARE v text; BEGIN EXECUTE t INTO v; RETURN v; END $$')).toEqual(['?.*']);
    expect(copies("DO LANGUAGE plpython3u $$ plpy.notice('x') $$")).toEqual(['?.*']);
  });

  it('a body that reads nothing hands nothing on', () => {
    expect(copies("CREATE FUNCTION ok(a int) RETURNS int LANGUAGE sql AS 'SELECT a + 1'")).toEqual(['?.a']);
    expect(copies('DO $$ BEGIN UPDATE orders SET total = 0 WHERE id = 1; END $$')).toEqual([]);
  });
});
