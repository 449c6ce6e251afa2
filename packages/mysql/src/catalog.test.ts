import { describe, expect, it } from 'vitest';
import { CatalogLineage, type FunctionDefinition } from '@sluice/core';
import { addViews } from './catalog.js';

describe('mysql view lineage', () => {
  it('views come in any order: one over another is analysed after it, and carries what it carries', () => {
    const l = new CatalogLineage(new Set(['ssn', 'password_hash']));
    l.addColumn('shop.customers', 'ssn');
    l.addColumn('shop.customers', 'password_hash');
    addViews(l, [
      // Listed first, but reads `people`, defined below (definitions as information_schema.VIEWS gives them).
      { table: 'shop.people2', definition: 'select lcase(`shop`.`p`.`tax_id`) AS `t`,`shop`.`p`.`name` AS `name` from `shop`.`people` `p`', columns: ['t', 'name'] },
      { table: 'shop.people', definition: 'select `shop`.`customers`.`name` AS `name`,`shop`.`customers`.`ssn` AS `tax_id` from `shop`.`customers`', columns: ['name', 'tax_id'] },
      { table: 'shop.hidden', definition: '', columns: ['a'] },
    ]);
    const carried = (t: string, c: string) => (l.expandColumn(t, c) ?? []).map((r) => `${r.table ?? '?'}.${r.column}`);
    expect(carried('shop.people', 'tax_id')).toEqual(['shop.customers.ssn']);
    // It also names the view column it reads (no rule covers that name: harmless).
    expect(carried('shop.people2', 't').sort()).toEqual(['shop.customers.ssn', 'shop.people.tax_id']);
    expect(carried('shop.people', 'name')).toEqual([]);
    expect(carried('shop.people2', 'name')).toEqual([]);
    // No definition (no SHOW VIEW privilege): the view carries anything.
    expect(carried('shop.hidden', 'a')).toEqual(['?.*']);
  });
});

describe('mysql function lineage', () => {
  /** A database whose customers table has the rule-named column ssn, with these routines added. */
  const customersLineage = async (defs: FunctionDefinition[]): Promise<CatalogLineage> => {
    const { addFunctions } = await import('./catalog.js');
    const l = new CatalogLineage(new Set(['ssn']));
    l.addColumn('shop.customers', 'ssn');
    addFunctions(l, defs);
    return l;
  };

  it('functions whose body reaches a covered value (directly, through another function, or unreadable) carry anything; others nothing', async () => {
    const l = await customersLineage([
      { name: 'outer_fn', definition: 'RETURN inner_fn(i)' },
      { name: 'inner_fn', definition: 'RETURN (SELECT name FROM customers WHERE id = i)' },
      { name: 'hidden', definition: null },
      { name: 'plus_one', definition: 'RETURN i + 1' },
    ]);
    expect([...l.functions.keys()].sort()).toEqual(['hidden', 'inner_fn', 'outer_fn']);
    expect(l.calls('SELECT `outer_fn` (1), plus_one(2)')?.map((r) => r.column)).toEqual(['*']);
    expect(l.calls('SELECT plus_one(2)')).toBeUndefined();
  });

  it('writers: routines whose body also stores values (a table write, CALL, a user variable); hidden bodies are masked but not writers; CALL with or without parentheses names one', async () => {
    const l = await customersLineage([
      { name: 'stash', definition: 'INSERT INTO notes SELECT ssn FROM customers' },
      { name: 'keep', definition: 'BEGIN SET @last = (SELECT ssn FROM customers LIMIT 1); RETURN 1; END' },
      { name: 'via', definition: 'BEGIN CALL stash(); RETURN (SELECT count(*) FROM customers); END' },
      { name: 'local_only', definition: 'BEGIN DECLARE v TEXT; SELECT ssn INTO v FROM customers LIMIT 1; RETURN v; END' },
      { name: 'hidden', definition: null },
      { name: 'updated_at_of', definition: 'RETURN (SELECT updated_at FROM customers WHERE ssn = i)' },
    ]);
    expect([...l.writers].sort()).toEqual(['keep', 'stash', 'via']);
    for (const t of ['CALL stash', 'CALL stash()', 'call `shop`.`stash`;', 'SELECT keep(1)']) expect(l.writes(t), t).toEqual([{ name: '*', column: '*' }]);
    for (const t of ['SELECT local_only(1)', 'CALL hidden()', 'SELECT stash FROM t', 'SELECT updated_at_of(1)']) expect(l.writes(t), t).toBeUndefined();
    // a hidden one still counts for what it carries (a CALL of it is a copy of anything)
    expect(l.calls('CALL hidden')).toEqual([{ name: '*', column: '*' }]);
  });
});
