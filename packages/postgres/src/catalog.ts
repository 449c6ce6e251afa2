import { BackendCode, DataRowCursor, FrontendWriter, parseNoticeFields, type FieldDescription } from './protocol/index.js';
import { derivedColumn, derivedFrom, type ColumnLineage, type ColumnRef, type Command, type Derived, type ExpandColumn, type ExpandRow } from '@sluice/core';
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
 * column names. `carriers` lists the view columns that carry rule-covered
 * table columns (PostgreSQL names a view's column by the view, not by the
 * table underneath), and `names` the column names a statement must mention
 * for its results to need a look (the rules' names and those view columns').
 */
export class ColumnOrigins extends Map<string, Origin> {
  readonly carriers: Origin[] = [];
  names: ReadonlySet<string> = new Set<string>();
}

function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Runs one query on the upstream before the client is let in; every row as text cells ('' for NULL). */
function catalogRows(up: Upstream, sql: string, timeoutMs: number): Promise<string[][]> {
  const rows: string[][] = [];
  const cur = new DataRowCursor();
  return new Promise<string[][]>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('column lookup timed out')), timeoutMs);
    let error: Error | null = null;
    const done = (e?: Error) => {
      clearTimeout(timer);
      up.socket.off('data', onData);
      up.socket.off('error', done);
      up.socket.pause();
      if (e) reject(e);
      else resolve(rows);
    };
    const onData = (chunk: Buffer) => {
      try {
        for (const m of up.framer.push(chunk)) {
          if (m.type === BackendCode.DataRow) {
            cur.reset(m.payload);
            const cells: string[] = [];
            while (cur.next()) cells.push(cur.length < 0 ? '' : m.payload.toString('utf8', cur.offset, cur.offset + cur.length));
            rows.push(cells);
          } else if (m.type === BackendCode.ErrorResponse) {
            error = new Error(`column lookup failed: ${parseNoticeFields(m.payload).M ?? ''}`);
          } else if (m.type === BackendCode.ReadyForQuery) {
            return done(error ?? undefined);
          }
        }
      } catch (e) {
        done(e as Error);
      }
    };
    up.socket.on('data', onData);
    up.socket.on('error', done);
    up.socket.resume();
    up.socket.write(new FrontendWriter().query(sql).take());
  });
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
  const origins = new ColumnOrigins();
  origins.names = names;
  if (names.size === 0) return origins;
  const list = [...names].map(literal).join(',');
  const columns = await catalogRows(
    up,
    'SELECT a.attrelid::int8, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_attribute a ' +
      'JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ' +
      `WHERE a.attnum > 0 AND NOT a.attisdropped AND lower(a.attname) IN (${list})`,
    timeoutMs,
  );
  for (const [oid, nsp, rel, attnum, att] of columns) origins.set(`${oid}:${attnum}`, { table: `${nsp}.${rel}`, column: att! });
  const views = await catalogRows(up, viewsOver(list), timeoutMs);
  addViews(
    origins,
    views.map(([oid, nsp, rel, , def, cols]) => ({ oid: oid!, table: `${nsp}.${rel}`, definition: def!, columns: JSON.parse(cols || '[]') as string[] })),
  );
  return origins;
}

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

/** Any column of any table: what a view column carries when its definition cannot be read. */
const ANY_COLUMN: ColumnRef = { name: '*', column: '*' };

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
  const names = new Set(origins.names);
  origins.names = names;
  const expandRow = rowExpander(origins);
  const expandColumn = columnExpander(origins);
  for (const v of views) {
    let cmd: Command | undefined;
    try {
      cmd = classifyPostgres(v.definition);
    } catch {
      cmd = undefined;
    }
    const analysed = cmd !== undefined && cmd.sources !== undefined && !cmd.flags.includes('parse-error');
    const d = analysed ? derivedFrom(cmd!, names, expandRow, expandColumn) : null;
    v.columns.forEach((column, i) => {
      const from = analysed ? derivedColumn(d, i, v.columns.length) : [ANY_COLUMN];
      if (from === null || from.length === 0) return;
      const o: Origin = { table: v.table, column, from };
      origins.set(`${v.oid}:${i + 1}`, o);
      origins.carriers.push(o);
      names.add(column.toLowerCase());
    });
  }
}

/** A whole row of `table`: its rule-named columns, or for a view what its columns carry. */
function rowExpander(origins: ColumnOrigins): ExpandRow {
  return (table) => {
    const out: ColumnRef[] = [];
    for (const o of origins.values()) {
      if (!sameTable(table, o.table)) continue;
      if (o.from) out.push(...o.from);
      else out.push({ name: o.column, table: o.table, column: o.column });
    }
    return out;
  };
}

/** A named column of a view (any view with that column, when the table is not named): what it carries. */
function columnExpander(origins: ColumnOrigins): ExpandColumn {
  return (table, column) => {
    let out: ColumnRef[] | undefined;
    const c = column.toLowerCase();
    for (const o of origins.carriers) if (o.column.toLowerCase() === c && (table === undefined || sameTable(table, o.table))) (out ??= []).push(...o.from!);
    return out;
  };
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

/** Whether table `t` as a statement wrote it ('customers', 'public.customers') is `q` (always 'schema.table'). */
function sameTable(t: string, q: string): boolean {
  const a = t.toLowerCase().split('.');
  const b = q.toLowerCase().split('.');
  for (let i = 1; i <= Math.min(a.length, b.length); i++) if (a[a.length - i] !== b[b.length - i]) return false;
  return true;
}

/**
 * What a command's computed result columns may carry, for the masker. A
 * whole row becomes its table's rule-named columns, from the origins looked
 * up at connect (a row of a table created since then is not expanded: it
 * carries nothing a rule names as far as the gateway knows); a view's row or
 * column becomes the table columns it is computed from. `names` is the
 * masker's column names; the view columns that carry them are added here.
 */
/**
 * Tables' rule-named columns and what views carry, for the policy's check of
 * copied columns (Session.useColumnLineage), so that copying a whole row of
 * a table without rule columns is not refused; null without column rules.
 */
export function columnLineage(origins: ColumnOrigins): ColumnLineage | null {
  if (origins.names.size === 0) return null;
  return { names: origins.names, expandRow: rowExpander(origins), expandColumn: columnExpander(origins) };
}

export function resultSources(cmd: Command, origins: ColumnOrigins, names: ReadonlySet<string>): Derived | null {
  if (origins.carriers.length === 0) return derivedFrom(cmd, names, rowExpander(origins));
  return derivedFrom(cmd, origins.names, rowExpander(origins), columnExpander(origins));
}
