import { beforeAll, describe, expect, it } from 'vitest';
import { createMasker, type ColumnRef } from '@sluice/core';
import { classifyPostgres, loadSqlParser } from '@sluice/sql';
import { addFunctions, addViews, ColumnOrigins, columnRefs, type ViewDefinition } from './catalog.js';
import type { FieldDescription } from './protocol/index.js';

const masker = createMasker([{ columns: ['customers.password_hash', '*.ssn'], strategy: 'redact' }], { hashKey: Buffer.alloc(32, 7) })!;

/** Origins as loadColumnOrigins finds them: customers (oid 100) has password_hash (4) and ssn (5). */
function origins(views: ViewDefinition[]): ColumnOrigins {
  const o = new ColumnOrigins(masker.columnNames);
  o.addColumn('100:4', 'public.customers', 'password_hash');
  o.addColumn('100:5', 'public.customers', 'ssn');
  addViews(o, views);
  return o;
}

const field = (name: string, tableOID: number, columnAttr: number): FieldDescription => ({ name, tableOID, columnAttr, typeOID: 25, typeLen: -1, typeMod: -1, format: 0 });
/** Which of the fields the masker masks whole. */
const masked = (refs: ColumnRef[]): string[] => [...masker.forResult(refs).ruleColumns].map((i) => refs[i]!.name);

const VIEWS: ViewDefinition[] = [
  { oid: '200', table: 'public.cv', definition: ' SELECT customers.id, customers.name, upper(customers.password_hash) AS h FROM customers;', columns: ['id', 'name', 'h'] },
  { oid: '201', table: 'reports.rows', definition: ' SELECT c.id, row_to_json(c.*) AS j FROM customers c;', columns: ['id', 'j'] },
  // A view over a view: its column reads cv.h, which carries password_hash.
  { oid: '300', table: 'public.cv2', definition: " SELECT cv.name, cv.h || '!'::text AS hh FROM cv;", columns: ['name', 'hh'] },
  { oid: '301', table: 'public.broken', definition: 'this is not SQL', columns: ['a', 'b'] },
];

describe('view lineage', () => {
  beforeAll(loadSqlParser);

  it('a view column computed from a rule column is masked by that rule; its other columns are not', () => {
    const o = origins(VIEWS);
    expect(masked(columnRefs([field('id', 200, 1), field('name', 200, 2), field('h', 200, 3)], o))).toEqual(['h']);
    expect(masked(columnRefs([field('id', 201, 1), field('j', 201, 2)], o))).toEqual(['j']);
    expect(masked(columnRefs([field('name', 300, 1), field('hh', 300, 2)], o))).toEqual(['hh']);
  });

  it('a view whose definition cannot be read is masked whole (fail closed)', () => {
    const o = origins(VIEWS);
    expect(masked(columnRefs([field('a', 301, 1), field('b', 301, 2)], o))).toEqual(['a', 'b']);
  });

  it("a statement's computed columns over a view column or a view's whole row carry what the view carries", () => {
    const o = origins(VIEWS);
    for (const [sql, want] of [
      ['SELECT lower(h) AS x, name FROM cv', ['x']],
      ['SELECT row_to_json(v) AS x, 1 AS one FROM cv v', ['x']],
      ['SELECT lower(hh) AS x FROM public.cv2', ['x']],
      ["SELECT name || '' AS x FROM cv", []],
    ] as const) {
      const d = o.lineage.derived(classifyPostgres(sql));
      const fields = sql.includes('1 AS one') ? [field('x', 0, 0), field('one', 0, 0)] : sql.includes(', name') ? [field('x', 0, 0), field('name', 200, 2)] : [field('x', 0, 0)];
      expect(masked(columnRefs(fields, o, d)), sql).toEqual(want);
    }
  });

  it('without views, nothing changes: plain and computed columns follow the table rules only', () => {
    const o = origins([]);
    expect(o.lineage.carriers).toEqual([]);
    expect(masked(columnRefs([field('password_hash', 100, 4), field('ssn', 100, 5)], o))).toEqual(['password_hash', 'ssn']);
    expect(o.lineage.derived(classifyPostgres('SELECT lower(name) FROM customers'))).toBeNull();
  });
});

describe('function lineage', () => {
  beforeAll(loadSqlParser);
  const def = (name: string, body: string, lang = 'sql') => ({ name, definition: `CREATE OR REPLACE FUNCTION public.${name}(i integer) RETURNS text LANGUAGE ${lang} AS $function$${body}$function$` });

  it('a function whose definition hands on a rule column carries it, and so does one calling it, to any depth; others carry nothing', () => {
    const o = origins([]);
    // Listed callers first: the analysis repeats until nothing new is found.
    addFunctions(o, [
      def('outer_fn', 'BEGIN RETURN "Inner_Fn"(i); END', 'plpgsql'),
      def('Inner_Fn', 'SELECT upper(password_hash) FROM customers WHERE id = i'),
      def('get_name', 'SELECT name FROM customers WHERE id = i'),
      def('unrelated', 'SELECT i + 1'),
    ]);
    expect([...o.lineage.functions.keys()].sort()).toEqual(['inner_fn', 'outer_fn']);
    const masked1 = (sql: string) => masked(columnRefs([field('x', 0, 0)], o, o.lineage.derived(classifyPostgres(sql))));
    expect(masked1('SELECT outer_fn(1) AS x')).toEqual(['x']);
    expect(masked1('SELECT public."Inner_Fn" (1) AS x')).toEqual(['x']);
    expect(masked1('SELECT get_name(1) AS x')).toEqual([]);
    expect(masked1("SELECT 'outer_fn' AS x")).toEqual([]);
  });

  it('writers: a carrier whose body stores values (a write of a column or variable, RAISE with values, set_config, dynamic SQL), or calls one that does', () => {
    const o = origins([]);
    const pl = (name: string, body: string) => def(name, body, 'plpgsql');
    addFunctions(o, [
      // the caller is listed (and found) before the writer it calls
      def('calls_writer', 'SELECT upper(ssn) || note_it(i)::text FROM customers WHERE id = i'),
      pl('note_it', 'DECLARE v text; BEGIN SELECT ssn INTO v FROM customers WHERE id = i; INSERT INTO notes VALUES (v); RETURN 1; END'),
      pl('shout', "BEGIN RAISE NOTICE 'got %', (SELECT password_hash FROM customers WHERE id = i); RETURN 1; END"),
      pl('keep', "BEGIN PERFORM set_config('x.y', (SELECT ssn FROM customers WHERE id = i), false); RETURN 1; END"),
      pl('dyn', 'DECLARE v text; BEGIN EXECUTE $1 INTO v; RETURN v; END'),
      // carriers that store nothing they read
      pl('audited', 'BEGIN INSERT INTO audit VALUES (now()); RETURN (SELECT ssn FROM customers WHERE id = i); END'),
      pl('refuse', "BEGIN RAISE EXCEPTION 'no access'; RETURN (SELECT ssn FROM customers WHERE id = i); END"),
      def('plain', 'SELECT ssn FROM customers WHERE id = i'),
      // stores, but nothing covered reaches it: not a carrier at all
      pl('log_name', 'BEGIN INSERT INTO notes SELECT name FROM customers WHERE id = i; RETURN 1; END'),
    ]);
    expect([...o.lineage.writers].sort()).toEqual(['calls_writer', 'dyn', 'keep', 'note_it', 'shout']);
    expect([...o.lineage.functions.keys()].sort()).toEqual(['audited', 'calls_writer', 'dyn', 'keep', 'note_it', 'plain', 'refuse', 'shout']);
    expect(o.lineage.writes('SELECT name FROM customers WHERE "Note_It"(id) > 0')).toEqual([{ name: 'ssn', column: 'ssn' }]);
    expect(o.lineage.writes('SELECT plain(1), audited(2)')).toBeUndefined();
  });

  it('a definition that cannot be analysed or runs dynamic SQL carries anything (fail closed)', () => {
    const o = origins([]);
    addFunctions(o, [def('dyn', 'DECLARE v text; BEGIN EXECUTE $1 INTO v; RETURN v; END', 'plpgsql'), def('weird', 'this is not SQL but mentions ssn')]);
    expect([...o.lineage.functions.keys()].sort()).toEqual(['dyn', 'weird']);
  });
});
