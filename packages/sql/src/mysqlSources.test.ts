import { describe, expect, it } from 'vitest';
import type { ColumnSource } from '@sluice/core';
import { classifyMysql } from './index.js';

const keys = (s: ColumnSource[] | undefined) => (s ?? []).map((x) => `${x.table ?? '?'}.${x.column}`).sort();
const my = (text: string) => classifyMysql(text);

describe('mysql: which columns a statement reads into its results', () => {
  it('select-list expressions with aliases resolved; WHERE, ORDER BY and JOIN … ON carry nothing out', () => {
    const c = my("SELECT c.id, CONCAT(c.password_hash, '') AS h FROM shop.customers c JOIN orders o ON o.note = c.note WHERE c.ssn = 1 ORDER BY c.balance");
    expect(keys(c.sources)).toEqual(['shop.customers.id', 'shop.customers.password_hash']);
    expect(c.columns?.map(keys)).toEqual([['shop.customers.id'], ['shop.customers.password_hash']]);
  });

  it('derived tables, CTEs and UNION arms (stars there included); a top-level * adds nothing', () => {
    expect(keys(my('SELECT s.x FROM (SELECT password_hash x FROM customers) s').sources)).toEqual(['?.password_hash', '?.x']);
    expect(keys(my('WITH w AS (SELECT * FROM customers) SELECT * FROM w').sources)).toEqual(['customers.*']);
    expect(keys(my('SELECT a FROM t UNION SELECT * FROM customers').sources)).toEqual(['?.a', 'customers.*']);
    expect(my('SELECT * FROM customers').sources).toBeUndefined();
    expect(my('SELECT *, UPPER(ssn) FROM customers').columns).toBeUndefined();
  });

  it('a count carries nothing of what it counts; other aggregates do', () => {
    expect(my('SELECT COUNT(ssn), COUNT(DISTINCT ssn) FROM customers').sources).toBeUndefined();
    expect(keys(my('SELECT MAX(ssn), COUNT(*) FROM customers').sources)).toEqual(['?.ssn']);
  });

  it('statements without result rows have none', () => {
    expect(my('UPDATE customers SET note = ssn WHERE id = 1').sources).toBeUndefined();
    expect(my('DELETE FROM customers WHERE id = 1').sources).toBeUndefined();
  });

  it('a prepared statement keeps what it reads; the shape cache hands it to every text of the shape', () => {
    expect(keys(my('SELECT UPPER(ssn) FROM customers WHERE id = 7').sources)).toEqual(['?.ssn']);
    expect(keys(my('SELECT UPPER(ssn) FROM customers WHERE id = 8').sources)).toEqual(['?.ssn']);
  });
});

describe('mysql: which columns a statement copies into the database or a variable', () => {
  const copies = (text: string) => {
    const c = my(text);
    return [c, ...(c.parts ?? [])].flatMap((u) => keys(u.copies));
  };

  it('CREATE TABLE … SELECT, views, SELECT … INTO and SET @v copy what they read', () => {
    expect(copies('CREATE TABLE t2 AS SELECT * FROM customers')).toEqual(['customers.*']);
    expect(copies('CREATE TABLE t2 SELECT c.ssn FROM customers c WHERE c.password_hash IS NULL')).toEqual(['customers.ssn']);
    expect(copies('CREATE VIEW v AS SELECT id, ssn FROM customers')).toEqual(['?.id', '?.ssn']);
    expect(copies('SELECT ssn INTO @x FROM customers')).toEqual(['?.ssn']);
    expect(copies("SELECT password_hash FROM customers INTO OUTFILE '/tmp/x'")).toEqual(['?.password_hash']);
    expect(copies('SET @x = (SELECT ssn FROM customers LIMIT 1)')).toEqual(['?.ssn']);
    expect(copies('SELECT id, @x := ssn FROM customers')).toEqual(['?.ssn']);
  });

  it('INSERT / REPLACE / UPDATE copy the values they write; literals and in-place rewrites copy nothing', () => {
    expect(copies('INSERT INTO notes SELECT id, password_hash FROM customers WHERE ssn = 1')).toEqual(['?.id', '?.password_hash']);
    expect(copies('REPLACE INTO n SELECT * FROM customers')).toEqual(['customers.*']);
    expect(copies('UPDATE customers SET note = ssn WHERE password_hash IS NULL')).toEqual(['?.ssn']);
    expect(copies("INSERT INTO notes VALUES (1, 'x'), (?, ?)")).toEqual([]);
    expect(copies('UPDATE customers SET ssn = UPPER(ssn), balance = customers.balance + 1')).toEqual([]);
    expect(copies('SELECT ssn FROM customers')).toEqual([]);
  });
});

describe('mysql: quoted qualifiers', () => {
  it('`db`.`t`.`c` and a quoted alias resolve to their table, as in stored view definitions', () => {
    expect(keys(my('SELECT UPPER(`shop`.`customers`.`ssn`) FROM `shop`.`customers`').sources)).toEqual(['shop.customers.ssn']);
    expect(keys(my('SELECT `c`.`ssn` FROM customers `c` UNION SELECT 1').sources)).toContain('customers.ssn');
    expect(keys(my('SELECT x.v FROM (SELECT `c`.* FROM customers c) x').sources)).toContain('customers.*');
  });
});
