/**
 * Which table columns a PostgreSQL statement reads into its results.
 *
 * Column rules match result columns by where they come from (PostgreSQL's
 * RowDescription names the table and column of a plain column). A column the
 * statement computes — `password_hash || ''`, `upper(ssn)`, `row_to_json(c)`,
 * the arms of a UNION, every column of COPY output — names no source, so the
 * gateway masks it by the columns listed here: every column referenced where
 * a value can reach the output (select lists at any depth, FROM items,
 * RETURNING, COPY), not where it only filters or orders (WHERE, GROUP BY,
 * HAVING, ORDER BY, JOIN … ON, LIMIT). Over-approximate on purpose: a
 * qualifier we cannot resolve leaves the table unknown (any table's column
 * of that name), and a whole-row reference names the whole row.
 */
import type { ColumnSource } from '@sluice/core';
import { addAlias, ANY, SourceSet, type Aliases, type StatementSources } from './sourceSet.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type N = any;

const DML = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

function qualified(rv: N): string | undefined {
  if (typeof rv?.relname !== 'string') return undefined;
  return typeof rv.schemaname === 'string' ? `${rv.schemaname}.${rv.relname}` : rv.relname;
}

/** Every relation the statement names, anywhere (wrapped RangeVar nodes and bare `relation` fields). */
function collectAliases(n: N, a: Aliases): void {
  if (Array.isArray(n)) {
    for (const x of n) collectAliases(x, a);
    return;
  }
  if (!n || typeof n !== 'object') return;
  const q = qualified(n);
  if (q !== undefined) {
    addAlias(a, typeof n.alias?.aliasname === 'string' ? n.alias.aliasname : n.relname, q);
    addAlias(a, q, q);
  }
  for (const k in n) collectAliases(n[k], a);
}

class Collector extends SourceSet {
  protected blank(): this {
    return new Collector(this.aliases) as this;
  }

  /** A qualifier → the table it names, or undefined (a subquery or CTE alias, or ambiguous). */
  private table(qual: string[]): string | undefined {
    if (qual.length === 1) return this.aliases.get(qual[0]!) ?? undefined;
    return qual.slice(-2).join('.');
  }

  columnRef(r: N, from: string[]): void {
    const fields: N[] = r?.fields ?? [];
    const last = fields[fields.length - 1];
    const names: string[] = [];
    for (const f of fields) if (typeof f?.String?.sval === 'string') names.push(f.String.sval);
    if (last?.A_Star !== undefined) {
      if (names.length === 0) {
        // A bare *: every relation of this SELECT's FROM (subqueries there are walked on their own).
        for (const t of from) this.add(t, '*');
        if (from.length === 0) this.add(undefined, '*');
      } else {
        const t = this.table(names);
        if (t !== undefined) this.add(t, '*');
      }
      return;
    }
    const column = names[names.length - 1];
    if (column === undefined) return;
    if (names.length === 1) {
      this.add(undefined, column);
      // `row_to_json(c)`: a bare relation name is its whole row.
      const t = this.aliases.get(column);
      if (t) this.add(t, '*');
      return;
    }
    this.add(this.table(names.slice(0, -1)), column);
  }

  /** Any expression or clause: every column reference in it counts. */
  walk(n: N, from: string[]): void {
    if (Array.isArray(n)) {
      for (const x of n) this.walk(x, from);
      return;
    }
    if (!n || typeof n !== 'object') return;
    for (const k in n) {
      const v = n[k];
      if (k === 'ColumnRef') this.columnRef(v, from);
      else if (k === 'SelectStmt') this.select(v, false);
      else if (DML.has(k) && v && typeof v === 'object') {
        // A data-modifying CTE: its RETURNING * is the target's row.
        const t = qualified(v.relation);
        this.walk(v, t === undefined ? from : [t]);
      } else if (k === 'JoinExpr') this.join(v, from);
      else this.walk(v, from);
    }
  }

  private join(j: N, from: string[]): void {
    this.walk(j.larg, from);
    this.walk(j.rarg, from);
    // USING (a): the merged column is computed for outer joins.
    for (const u of j.usingClause ?? []) if (typeof u?.String?.sval === 'string') this.add(undefined, u.String.sval);
  }

  /**
   * A SELECT's value-carrying parts. At the top of the outermost SELECT a
   * `*` only yields plain columns, which carry their own source.
   */
  select(s: N, top: boolean): void {
    if (!s || typeof s !== 'object') return;
    this.walk(s.withClause, []);
    if (s.op && s.op !== 'SETOP_NONE') {
      // A UNION's columns are computed: stars in its arms count.
      this.select(s.larg, false);
      this.select(s.rarg, false);
      return;
    }
    const from: string[] = [];
    fromRelations(s.fromClause, from);
    this.walk(s.fromClause, from);
    this.walk(s.valuesLists, from);
    const isStar = (t: N): boolean => {
      const fields = t?.ResTarget?.val?.ColumnRef?.fields;
      return Array.isArray(fields) && fields[fields.length - 1]?.A_Star !== undefined;
    };
    this.selectList<N>(s.targetList ?? [], top, isStar, (into, t) => into.walk(t?.ResTarget?.val, from));
  }
}

/** Relations listed directly in a FROM clause (through joins, not into subqueries). */
function fromRelations(n: N, out: string[]): void {
  if (Array.isArray(n)) {
    for (const x of n) fromRelations(x, out);
    return;
  }
  if (n?.RangeVar) {
    const q = qualified(n.RangeVar);
    if (q !== undefined) out.push(q);
  } else if (n?.JoinExpr) {
    fromRelations(n.JoinExpr.larg, out);
    fromRelations(n.JoinExpr.rarg, out);
  }
}

function returning(b: N): N[] {
  return b.returningList ?? b.returningClause?.exprs ?? [];
}

/**
 * The sources of one statement node's result rows (`{SelectStmt: …}` etc.),
 * or undefined when it returns none this way (no RETURNING, COPY FROM, DDL).
 * FETCH: any column (instantiate narrows it to what the session saw the
 * cursor declared over).
 */
export function statementSources(type: string, b: N): StatementSources | undefined {
  if (!b || typeof b !== 'object') return undefined;
  const aliases: Aliases = new Map();
  let c: Collector;
  switch (type) {
    case 'SelectStmt':
      if (b.intoClause) return undefined;
      collectAliases(b, aliases);
      c = new Collector(aliases);
      c.select(b, true);
      break;
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt': {
      if (returning(b).length === 0) return undefined;
      collectAliases(b, aliases);
      c = new Collector(aliases);
      const from: string[] = [];
      const target = qualified(b.relation);
      if (target !== undefined) from.push(target);
      // Values written (SET a = b, INSERT … SELECT) can come back through RETURNING.
      for (const k in b) if (k !== 'whereClause' && k !== 'relation') c.walk(b[k], from);
      break;
    }
    case 'CopyStmt': {
      // Only COPY … TO STDOUT sends rows to the client (TO a file or PROGRAM does not).
      if (b.is_from || b.is_program || typeof b.filename === 'string') return undefined;
      collectAliases(b, aliases);
      c = new Collector(aliases);
      const rel = qualified(b.relation);
      if (rel !== undefined) {
        const cols: N[] = b.attlist ?? [];
        if (cols.length === 0) c.add(rel, '*');
        for (const a of cols) if (typeof a?.String?.sval === 'string') c.add(rel, a.String.sval);
      }
      // COPY (query): every output column is computed, stars included.
      if (b.query?.SelectStmt) c.select(b.query.SelectStmt, false);
      else if (b.query) {
        const inner = Object.keys(b.query)[0];
        return inner ? statementSources(inner, b.query[inner]) : undefined;
      }
      break;
    }
    case 'FetchStmt':
      return b.ismove ? undefined : { sources: ANY };
    default:
      return undefined;
  }
  return c.result();
}

/**
 * `SET col = expr` of an UPDATE (or of ON CONFLICT DO UPDATE): what expr
 * reads, except the target's own `col` (rewriting a value in its own column,
 * `SET ssn = upper(ssn)`, copies it nowhere) and, with `proposed`, that
 * pseudo-row's columns.
 */
function assignment(c: Collector, t: N, target: string | undefined, from: string[], proposed?: string): void {
  if (!t) return;
  let aliases = c.aliasMap;
  if (proposed !== undefined) {
    aliases = new Map(aliases);
    aliases.set(proposed, PROPOSED);
  }
  const own = new Collector(aliases);
  own.walk(t.val, from);
  const name = typeof t.name === 'string' ? t.name.toLowerCase() : undefined;
  for (const s of own.result().sources) {
    if (s.table === PROPOSED) continue;
    const sameColumn = name !== undefined && s.column.toLowerCase() === name && (s.table === undefined || (target !== undefined && s.table === target));
    if (!sameColumn) c.add(s.table, s.column);
  }
}

/** The table name given to ON CONFLICT's EXCLUDED row (no real table is named so). */
const PROPOSED = '\u0000proposed';

/** A statement whose copies cannot be read (CREATE TABLE … AS EXECUTE, an opaque function body): it may copy any column. */
export const ANY_COPY: ColumnSource[] = [{ column: '*' }];

/**
 * What a SELECT's rows carry when its select list has a top-level `*`
 * (statementSources leaves those out: to a client they are plain columns);
 * undefined otherwise, when its sources say it all; and what a RETURN
 * statement returns. For function bodies, whose rows leave unmasked.
 */
export function statementRows(type: string, b: N): ColumnSource[] | undefined {
  if (type === 'ReturnStmt' && b && typeof b === 'object') {
    // RETURN expr of a SQL-standard function body: what it returns.
    const aliases: Aliases = new Map();
    collectAliases(b, aliases);
    const r = new Collector(aliases);
    r.walk(b.returnval, []);
    const out = r.result().sources;
    return out.length > 0 ? out : undefined;
  }
  if (type !== 'SelectStmt' || !b || typeof b !== 'object' || b.intoClause) return undefined;
  const topStar = (s: N): boolean =>
    (s?.targetList ?? []).some((t: N) => {
      const f = t?.ResTarget?.val?.ColumnRef?.fields;
      return Array.isArray(f) && f[f.length - 1]?.A_Star !== undefined;
    }) ||
    (s?.op && s.op !== 'SETOP_NONE' && (topStar(s.larg) || topStar(s.rarg)));
  if (!topStar(b)) return undefined;
  const aliases: Aliases = new Map();
  collectAliases(b, aliases);
  const c = new Collector(aliases);
  c.select(b, false);
  const out = c.result().sources;
  return out.length > 0 ? out : undefined;
}

/**
 * The columns a statement node writes into the database (Command.copies):
 * what a view, CREATE TABLE … AS or SELECT … INTO is defined over (its select
 * list and FROM items; a `*` is the whole row), and the values an INSERT,
 * UPDATE or MERGE writes (everything but its target and WHERE; RETURNING is
 * a result, masked as one). Undefined for a statement that copies nothing
 * anywhere; empty for one that could copy but names no column.
 */
export function statementCopies(type: string, b: N): ColumnSource[] | undefined {
  const own = ownCopies(type, b);
  const side = sideChannels(b);
  if (side === undefined) return own;
  return own === undefined ? side : [...own, ...side];
}

/** Functions that keep a value where a later statement reads it back unmasked: a setting (current_setting), a notification's payload. */
const STASHING = new Set(['set_config', 'pg_notify']);

/** What calls of set_config / pg_notify anywhere in the statement are given (their arguments' columns); undefined when none. */
function sideChannels(b: N): ColumnSource[] | undefined {
  let c: Collector | undefined;
  const visit = (n: N): void => {
    if (Array.isArray(n)) {
      for (const x of n) visit(x);
      return;
    }
    if (!n || typeof n !== 'object') return;
    const f = n.FuncCall;
    if (f && typeof f === 'object') {
      const parts: string[] = (f.funcname ?? []).map((x: N) => x?.String?.sval).filter((x: unknown) => typeof x === 'string');
      const name = parts[parts.length - 1]?.toLowerCase();
      if (name !== undefined && STASHING.has(name) && (parts.length === 1 || parts[0]!.toLowerCase() === 'pg_catalog')) {
        if (c === undefined) {
          const aliases: Aliases = new Map();
          collectAliases(b, aliases);
          c = new Collector(aliases);
        }
        c.walk(f.args, []);
      }
    }
    for (const k in n) visit(n[k]);
  };
  visit(b);
  return c?.result().sources;
}

function ownCopies(type: string, b: N): ColumnSource[] | undefined {
  if (!b || typeof b !== 'object') return undefined;
  // CALL names no column, but the procedure may copy what its body reads (the policy checks what it is known to carry).
  if (type === 'CallStmt') return [];
  const aliases: Aliases = new Map();
  let c: Collector;
  switch (type) {
    case 'SelectStmt':
      if (!b.intoClause) return undefined;
      collectAliases(b, aliases);
      c = new Collector(aliases);
      c.select(b, false);
      break;
    case 'CreateTableAsStmt':
    case 'ViewStmt': {
      const q = b.query;
      if (!q?.SelectStmt) return q ? ANY_COPY : undefined;
      collectAliases(q, aliases);
      c = new Collector(aliases);
      c.select(q.SelectStmt, false);
      break;
    }
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'MergeStmt': {
      collectAliases(b, aliases);
      c = new Collector(aliases);
      const target = qualified(b.relation);
      const from = target === undefined ? [] : [target];
      for (const k in b) {
        if (k === 'whereClause' || k === 'relation' || k === 'returningList' || k === 'returningClause') continue;
        if (type === 'UpdateStmt' && k === 'targetList') for (const t of b.targetList ?? []) assignment(c, t?.ResTarget, target, from);
        else if (k === 'onConflictClause') {
          // ON CONFLICT DO UPDATE SET a = EXCLUDED.a writes the row being inserted (walked already) into its own column.
          const oc = b.onConflictClause;
          for (const t of oc?.targetList ?? []) assignment(c, t?.ResTarget, target, from, 'excluded');
        } else c.walk(b[k], from);
      }
      break;
    }
    default:
      return undefined;
  }
  // Empty when it copies no column but may still copy what a function it calls returns.
  return c.result().sources;
}
