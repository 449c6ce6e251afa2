/**
 * Which table columns a MySQL / MariaDB statement reads into its results
 * (Command.sources, see sources.ts for PostgreSQL): every column referenced
 * where a value can reach the output — select lists at any depth, derived
 * tables, CTEs, UNION arms, RETURNING — and not where it only filters or
 * orders (WHERE, GROUP BY, HAVING, ORDER BY, JOIN … ON, LIMIT). MySQL reports
 * a computed column, and a column of a derived table or CTE, with no base
 * table, so the gateway masks those by these sources. Over-approximate on
 * purpose: an alias we cannot resolve leaves the table unknown.
 */
import type { ColumnSource } from '@sluice/core';
import { addAlias, SourceSet, type Aliases, type StatementSources } from './sourceSet.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type N = any;

/** Clauses of a SELECT whose values never reach its rows. */
const FILTERS = new Set(['where', 'having', 'groupby', 'orderby', 'limit', 'on', 'window', 'locking_read', 'into']);

function name(v: N): string | undefined {
  if (typeof v === 'string') return v;
  const x = v?.expr?.value ?? v?.value;
  return typeof x === 'string' ? x : undefined;
}

function isTableRef(x: N): boolean {
  return typeof x?.table === 'string' && 'db' in x && x.type !== 'column_ref';
}

function qual(x: N): string {
  return x.db ? `${x.db}.${x.table}` : x.table;
}

function collectAliases(x: N, a: Aliases): void {
  if (Array.isArray(x)) {
    for (const e of x) collectAliases(e, a);
    return;
  }
  if (!x || typeof x !== 'object') return;
  if (isTableRef(x)) {
    const q = qual(x);
    addAlias(a, typeof x.as === 'string' && x.as ? x.as : x.table, q);
    addAlias(a, q, q);
  }
  for (const k in x) collectAliases(x[k], a);
}

class Collector extends SourceSet {
  protected blank(): this {
    return new Collector(this.aliases) as this;
  }

  private ref(x: N, from: string[]): void {
    const column = name(x.column);
    if (column === undefined) return;
    // A qualifier may come as a string or, quoted, as {value}; `db`.`t`.`c` names the database too.
    const qual = name(x.table) || undefined;
    const db = name(x.db) || undefined;
    // MariaDB's stored view definitions qualify even an alias with the database (`shop`.`p`.`c`).
    const t = qual ? (this.aliases.get(db ? `${db}.${qual}` : qual) ?? (db ? this.aliases.get(qual) : undefined) ?? undefined) : undefined;
    if (column === '*') {
      if (qual) {
        if (t !== undefined) this.add(t, '*');
      } else {
        for (const f of from) this.add(f, '*');
        if (from.length === 0) this.add(undefined, '*');
      }
      return;
    }
    this.add(t, column);
  }

  walk(x: N, from: string[]): void {
    if (Array.isArray(x)) {
      for (const e of x) this.walk(e, from);
      return;
    }
    if (!x || typeof x !== 'object') return;
    if (x.type === 'column_ref') return this.ref(x, from);
    if (x.type === 'select') return this.select(x, false);
    // A count carries no value of what it counts (COUNT( always parses as the built-in aggregate).
    if (x.type === 'aggr_func' && String(x.name).toUpperCase() === 'COUNT') return;
    if (x.ast) return this.walk(x.ast, from);
    for (const k in x) this.walk(x[k], from);
  }

  /** At the top of the outermost SELECT a `*` only yields plain columns, which carry their own source. */
  select(s: N, top: boolean): void {
    if (!s || typeof s !== 'object') return;
    for (const c of s.with ?? []) this.walk(c?.stmt, []);
    if (s._next) {
      // A UNION: its columns are computed, stars in every arm count.
      const { _next, ...first } = s;
      this.select({ ...first, with: null }, false);
      this.select(_next, false);
      return;
    }
    const from: string[] = [];
    for (const f of s.from ?? []) {
      if (isTableRef(f)) from.push(qual(f));
      // A derived table (its ON only filters); USING (a) merges columns.
      if (f?.expr) this.walk(f.expr, from);
      for (const u of f?.using ?? []) {
        const n = name(u);
        if (n !== undefined) this.add(undefined, n);
      }
    }
    const isStar = (c: N): boolean => c?.expr?.type === 'column_ref' && name(c.expr.column) === '*';
    this.selectList<N>(Array.isArray(s.columns) ? s.columns : [], top, isStar, (into, c) => into.walk(c?.expr, from));
    for (const k in s) {
      if (k === 'columns' || k === 'from' || k === 'with' || FILTERS.has(k)) continue;
      const v = s[k];
      if (v && typeof v === 'object') this.walk(v, from);
    }
  }
}

/**
 * The sources of one parsed statement's result rows, or undefined when it
 * returns none (DML without RETURNING, DDL, SET …).
 */
export function mysqlStatementSources(ast: N): StatementSources | undefined {
  if (!ast || typeof ast !== 'object') return undefined;
  const aliases: Aliases = new Map();
  collectAliases(ast, aliases);
  const c = new Collector(aliases);
  if (ast.type === 'select') c.select(ast, true);
  else if ((ast.type === 'insert' || ast.type === 'replace' || ast.type === 'delete' || ast.type === 'update') && ast.returning) {
    // MariaDB's RETURNING; what an UPDATE writes can come back through it.
    const target = (Array.isArray(ast.table) ? ast.table : [ast.table]).filter(isTableRef).map(qual);
    for (const k in ast) if (k !== 'where' && ast[k] && typeof ast[k] === 'object') c.walk(ast[k], target);
  } else return undefined;
  return c.result();
}

/**
 * The columns a parsed statement writes into the database or a variable
 * (Command.copies): what a view, CREATE TABLE … AS SELECT or SELECT … INTO
 * (a variable or a file) reads, what SET @v = … assigns, and the values an
 * INSERT / REPLACE (rows, SELECT, ON DUPLICATE KEY UPDATE) or an UPDATE
 * writes — not its WHERE, and not `SET col = f(col)`, which rewrites a value
 * in its own column. Undefined when it copies no column.
 */
export function mysqlStatementCopies(ast: N): ColumnSource[] | undefined {
  if (!ast || typeof ast !== 'object') return undefined;
  const aliases: Aliases = new Map();
  collectAliases(ast, aliases);
  const c = new Collector(aliases);
  const target = (Array.isArray(ast.table) ? ast.table : [ast.table]).filter(isTableRef).map(qual);
  const assign = (sets: N): void => {
    for (const s of Array.isArray(sets) ? sets : []) {
      const own = new Collector(aliases);
      own.walk(s?.value, target);
      const col = typeof s?.column === 'string' ? s.column.toLowerCase() : undefined;
      for (const x of own.result().sources) {
        const same = col !== undefined && x.column.toLowerCase() === col && (x.table === undefined || target.includes(x.table));
        if (!same) c.add(x.table, x.column);
      }
    }
  };
  // `@v := expr` anywhere in a statement keeps the value in a variable.
  const assigned = (x: N): void => {
    if (Array.isArray(x)) return x.forEach(assigned);
    if (!x || typeof x !== 'object') return;
    if (x.type === 'assign' && x.left?.type === 'var') c.walk(x.right, target);
    for (const k in x) assigned(x[k]);
  };
  if (ast.type !== 'set') assigned(ast);
  const side = c.result().sources.length > 0;
  switch (ast.type) {
    case 'select':
      if (!ast.into?.type) return side ? c.result().sources : undefined;
      c.select(ast, false);
      break;
    case 'create':
      if (ast.keyword === 'view' && ast.select) c.select(ast.select, false);
      else if (ast.keyword === 'table' && ast.query_expr) c.select(ast.query_expr, false);
      else return undefined;
      break;
    case 'insert':
    case 'replace':
      c.walk(ast.values, target);
      c.walk(ast.select, target);
      assign(ast.on_duplicate_update?.set);
      break;
    case 'update':
      assign(ast.set);
      break;
    case 'set':
      for (const e of ast.expr ?? []) c.walk(e?.right, []);
      break;
    default:
      return side ? c.result().sources : undefined;
  }
  const out = c.result().sources;
  return out.length > 0 ? out : undefined;
}
