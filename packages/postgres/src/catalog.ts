import { BackendCode, DataRowCursor, FrontendWriter, parseNoticeFields, type FieldDescription } from './protocol/index.js';
import { ANY_COLUMN, CatalogLineage, derivedColumn, exchangeOnIdle, type ColumnRef, type Command, type Derived, type FunctionDefinition } from '@sluice/core';
import { classifyPostgres } from '@sluice/sql';
import type { Upstream } from './upstream.js';

/** A table or view column a result column can come from; a view's column also names the table columns it is computed from. */
export interface Origin {
  table: string;
  column: string;
  from?: readonly ColumnRef[];
}

/**
 * Where result columns come from: `tableOID:attnum` → table (or view) and
 * column names, and the catalog lineage behind them (`lineage`: the view
 * columns and functions that carry rule-covered table columns; PostgreSQL
 * names a view's column by the view, not by the table underneath).
 */
export class ColumnOrigins extends Map<string, Origin> {
  readonly lineage: CatalogLineage;
  /** Bumped by every change, so a result plan made from these origins knows when it is stale. */
  version = 0;

  constructor(ruleNames: ReadonlySet<string> = new Set()) {
    super();
    this.lineage = new CatalogLineage(ruleNames);
  }

  override set(key: string, origin: Origin): this {
    this.version++;
    return super.set(key, origin);
  }

  override delete(key: string): boolean {
    this.version++;
    return super.delete(key);
  }

  override clear(): void {
    this.version++;
    super.clear();
  }

  /** A table column with a rule-named name. */
  addColumn(key: string, table: string, column: string): void {
    this.set(key, { table, column });
    this.lineage.addColumn(table, column);
  }
}

function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Runs one query on the upstream before the client is let in; every row as text cells ('' for NULL). Rejects on an ErrorResponse. */
async function catalogRows(up: Upstream, sql: string, timeoutMs: number): Promise<string[][]> {
  const rows: string[][] = [];
  const cur = new DataRowCursor();
  let error: Error | null = null;
  await exchangeOnIdle(
    up.socket,
    new FrontendWriter().query(sql).take(),
    (chunk) => {
      for (const m of up.framer.push(chunk)) {
        if (m.type === BackendCode.DataRow) {
          cur.reset(m.payload);
          const cells: string[] = [];
          while (cur.next()) cells.push(cur.length < 0 ? '' : m.payload.toString('utf8', cur.offset, cur.offset + cur.length));
          rows.push(cells);
        } else if (m.type === BackendCode.ErrorResponse) {
          error = new Error(`column lookup failed: ${parseNoticeFields(m.payload).M ?? ''}`);
        } else if (m.type === BackendCode.ReadyForQuery) {
          if (error) throw error;
          return true;
        }
      }
      return false;
    },
    timeoutMs,
    'column lookup',
  );
  return rows;
}

/**
 * Looks up every table column whose name a column rule names, and every
 * view and materialized view built (at any depth) over such a column, on the
 * session's own upstream connection before the client is let in (two
 * queries per session; PGlite-style single-connection targets work). Result
 * columns from tables created later fall back to name matching, which
 * over-masks rather than leaks. Any failure rejects: the caller refuses the
 * session.
 */
export async function loadColumnOrigins(up: Upstream, names: ReadonlySet<string>, timeoutMs = 10_000): Promise<ColumnOrigins> {
  const origins = new ColumnOrigins(names);
  if (names.size === 0) return origins;
  const list = [...names].map(literal).join(',');
  const columns = await catalogRows(
    up,
    'SELECT a.attrelid::int8, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_attribute a ' +
      'JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ' +
      `WHERE a.attnum > 0 AND NOT a.attisdropped AND lower(a.attname) IN (${list})`,
    timeoutMs,
  );
  for (const [oid, nsp, rel, attnum, att] of columns) origins.addColumn(`${oid}:${attnum}`, `${nsp}.${rel}`, att!);
  const views = await catalogRows(up, viewsOver(list), timeoutMs);
  addViews(
    origins,
    views.map(([oid, nsp, rel, , def, cols]) => ({ oid: oid!, table: `${nsp}.${rel}`, definition: def!, columns: JSON.parse(cols || '[]') as string[] })),
  );
  const functions = await catalogRows(up, FUNCTIONS, timeoutMs);
  addFunctions(
    origins,
    // '' is NULL: a language the gateway cannot analyse.
    functions.map(([name, def]) => ({ name: name!, definition: def || null })),
  );
  return origins;
}

/**
 * Functions and procedures outside the system schemas in SQL and PL/pgSQL,
 * with their definitions, and in other procedural languages (PL/Perl,
 * PL/Python, PL/v8…: they can run SQL, and the gateway cannot analyse them)
 * with a null definition, so they count as carrying anything.
 */
const FUNCTIONS =
  "SELECT p.proname, CASE WHEN l.lanname IN ('sql', 'plpgsql') THEN pg_catalog.pg_get_functiondef(p.oid) END FROM pg_catalog.pg_proc p " +
  'JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace JOIN pg_catalog.pg_language l ON l.oid = p.prolang ' +
  "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND (l.lanname IN ('sql', 'plpgsql') OR l.lanispl) AND p.prokind IN ('f', 'p') ORDER BY p.oid";

/**
 * Records the functions whose definitions hand on a rule-covered column
 * (return it, raise it, write it elsewhere), with the same analysis as a
 * client's CREATE FUNCTION (Command.copies, through views), and functions
 * that call such functions, to any depth. Only definitions that mention a
 * rule-named column, a table or view that has one, such a function, or
 * EXECUTE are analysed; one that cannot be carries anything. A call of one
 * of them in a statement makes its computed columns carry what the function
 * carries (CatalogLineage.calls). One whose body also stores values (INSERT,
 * UPDATE, MERGE, CREATE … AS, RAISE, EXECUTE, set_config, pg_notify) is a
 * writer: a statement that calls it is refused like a copy
 * (CatalogLineage.writes), since the write happens whatever the statement
 * around the call reads.
 */
export function addFunctions(origins: ColumnOrigins, defs: readonly FunctionDefinition[]): void {
  const lineage = origins.lineage;
  if (lineage.names.size === 0) return;
  lineage.addFunctions(
    defs,
    (definition) => {
      let cmd: Command | undefined;
      try {
        cmd = classifyPostgres(definition);
      } catch {
        return { carries: [ANY_COLUMN], writes: true };
      }
      const units = [cmd, ...(cmd.parts ?? [])];
      if (units.some((u) => u.flags.includes('parse-error'))) return { carries: [ANY_COLUMN], writes: true };
      const copies = units.flatMap((u) => u.copies ?? []);
      const carries = lineage.derived({ protocol: 'postgres', kind: 'CREATE', text: definition, objects: [], flags: [], sources: copies })?.all ?? [];
      // Its body stores values: dynamic SQL (it may run anything), a write statement (parts after the
      // CREATE itself) that copies a column or a variable (which may hold what it read), session state
      // set from a value, or a RAISE with parameters (the message reaches the client unmasked).
      const writes =
        cmd.flags.includes('dynamic-sql') ||
        (cmd.parts ?? []).slice(1).some((u) => !READS.has(u.kind) && (u.copies?.length ?? 0) > 0) ||
        STATE.test(definition) ||
        RAISES.test(definition);
      return { carries, writes };
    },
    ['execute'],
  );
}

/** Statement kinds of a body that only read (their copies are what the function returns or assigns). */
const READS = new Set(['SELECT', 'VALUES']);
/** Functions that keep a value past the statement: readable later, unmasked. */
const STATE = /(?<![\w$])(?:set_config|pg_notify)\s*\(/i;
/** A PL/pgSQL RAISE that formats values into its message (`'…%…', expr`) or sets a field from one (`USING …`). */
const RAISES = /(?<![\w$])RAISE\b[^;]*(?:'\s*,|\bUSING\b)/i;

/**
 * Views and materialized views whose definition reads (at any depth of
 * views over views) a column with one of the listed names, or a whole row
 * of a relation that has one; innermost first, each with its definition and
 * its column names in order.
 */
function viewsOver(list: string): string {
  const rewrite = "d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass";
  return (
    'WITH RECURSIVE dep(v, depth) AS (' +
    `SELECT r.ev_class, 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid WHERE ${rewrite} AND r.ev_class <> d.refobjid ` +
    'AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = d.refobjid AND a.attnum > 0 AND NOT a.attisdropped ' +
    `AND (d.refobjsubid = 0 OR a.attnum = d.refobjsubid) AND lower(a.attname) IN (${list})) ` +
    'UNION ALL ' +
    `SELECT r.ev_class, dep.depth + 1 FROM dep JOIN pg_catalog.pg_depend d ON d.refobjid = dep.v AND ${rewrite} ` +
    'JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid WHERE r.ev_class <> dep.v AND dep.depth < 32) ' +
    'SELECT c.oid::int8, n.nspname, c.relname, max(dep.depth), pg_catalog.pg_get_viewdef(c.oid), ' +
    '(SELECT pg_catalog.json_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) ' +
    "FROM dep JOIN pg_catalog.pg_class c ON c.oid = dep.v JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm') " +
    'GROUP BY c.oid, n.nspname, c.relname ORDER BY 4, 1'
  );
}

export interface ViewDefinition {
  oid: string;
  /** 'schema.name' */
  table: string;
  /** The view's query (pg_get_viewdef). */
  definition: string;
  /** Its column names, in order. */
  columns: string[];
}

/**
 * Records, for each view column, the rule-covered table columns its value
 * may carry, from the view's own definition (the same source analysis as a
 * client's statement, so `upper(ssn)` carries ssn and `name` does not).
 * Views come innermost first, so a view over a view reads what the inner
 * one's columns carry. A definition that cannot be analysed makes every
 * column of the view carry anything (masked by every column rule): fail
 * closed.
 */
export function addViews(origins: ColumnOrigins, views: readonly ViewDefinition[]): void {
  for (const v of views) {
    let cmd: Command | undefined;
    try {
      cmd = classifyPostgres(v.definition);
    } catch {
      cmd = undefined;
    }
    origins.lineage.addView(v.table, v.columns, cmd).forEach((from, i) => {
      if (from !== null) origins.set(`${v.oid}:${i + 1}`, { table: v.table, column: v.columns[i]!, from });
    });
  }
}

/**
 * Column references for the masker from a RowDescription. A column with no
 * table (computed by the statement) carries `from`: what the statement reads
 * into it (`derivedFrom`).
 */
export function columnRefs(fields: readonly FieldDescription[], origins: ColumnOrigins, derived: Derived | null = null): ColumnRef[] {
  return fields.map((f, i) => {
    const o = f.tableOID ? origins.get(`${f.tableOID}:${f.columnAttr}`) : undefined;
    if (o) return o.from ? { name: f.name, table: o.table, column: o.column, from: o.from } : { name: f.name, table: o.table, column: o.column };
    const from = f.tableOID === 0 ? derivedColumn(derived, i, fields.length) : null;
    return from !== null ? { name: f.name, from } : { name: f.name };
  });
}
