import { BackendCode, DataRowCursor, FrontendWriter, parseNoticeFields, type FieldDescription } from './protocol/index.js';
import type { ColumnRef, ColumnSource, Command } from '@sluice/core';
import type { Upstream } from './upstream.js';

/** Where result columns come from: `tableOID:attnum` → table and column names. */
export type ColumnOrigins = Map<string, { table: string; column: string }>;

function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * Looks up every table column whose name a column rule names, on the
 * session's own upstream connection before the client is let in (one query
 * per session; PGlite-style single-connection targets work). Result columns
 * from tables created later fall back to name matching, which over-masks
 * rather than leaks.
 */
export async function loadColumnOrigins(up: Upstream, names: ReadonlySet<string>, timeoutMs = 10_000): Promise<ColumnOrigins> {
  const origins: ColumnOrigins = new Map();
  if (names.size === 0) return origins;
  const sql =
    'SELECT a.attrelid::int8, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_attribute a ' +
    'JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ' +
    `WHERE a.attnum > 0 AND NOT a.attisdropped AND lower(a.attname) IN (${[...names].map(literal).join(',')})`;
  const cur = new DataRowCursor();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('column lookup timed out')), timeoutMs);
    let error: Error | null = null;
    const done = (e?: Error) => {
      clearTimeout(timer);
      up.socket.off('data', onData);
      up.socket.off('error', done);
      up.socket.pause();
      if (e) reject(e);
      else resolve();
    };
    const onData = (chunk: Buffer) => {
      try {
        for (const m of up.framer.push(chunk)) {
          if (m.type === BackendCode.DataRow) {
            cur.reset(m.payload);
            const cells: string[] = [];
            while (cur.next()) cells.push(cur.length < 0 ? '' : m.payload.toString('utf8', cur.offset, cur.offset + cur.length));
            origins.set(`${cells[0]}:${cells[3]}`, { table: `${cells[1]}.${cells[2]}`, column: cells[4]! });
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
  return origins;
}

/**
 * Column references for the masker from a RowDescription. A column with no
 * table (computed by the statement) carries `from`: the rule-named columns
 * the statement reads into its results (see `derivedFrom`).
 */
export function columnRefs(fields: readonly FieldDescription[], origins: ColumnOrigins, derived: Derived | null = null): ColumnRef[] {
  const perColumn = derived?.columns !== undefined && derived.columns.length === fields.length ? derived.columns : null;
  return fields.map((f, i) => {
    const o = f.tableOID ? origins.get(`${f.tableOID}:${f.columnAttr}`) : undefined;
    if (o) return { name: f.name, table: o.table, column: o.column };
    const from = derived === null || f.tableOID !== 0 ? null : perColumn !== null ? perColumn[i]! : derived.all;
    return from !== null ? { name: f.name, from } : { name: f.name };
  });
}

/**
 * What a command's computed result columns may carry (see `derivedFrom`):
 * for the whole result, and per column when the statement's select list maps
 * one to one onto the result (then a column computed from other columns is
 * not masked for a rule-covered column beside it).
 */
export interface Derived {
  all: ColumnRef[] | null;
  columns?: (ColumnRef[] | null)[];
}

/** Whether table `t` as a statement wrote it ('customers', 'public.customers') is `q` (always 'schema.table'). */
function sameTable(t: string, q: string): boolean {
  const a = t.toLowerCase().split('.');
  const b = q.toLowerCase().split('.');
  for (let i = 1; i <= Math.min(a.length, b.length); i++) if (a[a.length - i] !== b[b.length - i]) return false;
  return true;
}

/**
 * The columns a command's computed result columns may carry, reduced to
 * those a column rule could cover (`names`: Masker.columnNames): a named
 * column stays as written, a whole row becomes its table's rule-named
 * columns (from the origins looked up at connect; a row of a table created
 * since is not expanded), a whole row of no known table stays '*' (covered by
 * every rule). Null when nothing remains — the common case, which costs the
 * result nothing.
 */
export function derivedFrom(cmd: Command, origins: ColumnOrigins, names: ReadonlySet<string>): Derived | null {
  if (names.size === 0) return null;
  const all = refsFor(cmd, origins, names);
  if (cmd.columns === undefined || cmd.parts !== undefined) return all === null ? null : { all };
  const columns = cmd.columns.map((sources) => refsFor({ sources }, origins, names));
  return all === null && columns.every((c) => c === null) ? null : { all, columns };
}

function refsFor(cmd: { sources?: ColumnSource[]; parts?: Command[] }, origins: ColumnOrigins, names: ReadonlySet<string>): ColumnRef[] | null {
  const out: ColumnRef[] = [];
  const seen = new Set<string>();
  const push = (r: ColumnRef): void => {
    const k = `${r.table ?? ''}\u0000${r.column}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(r);
    }
  };
  const visit = (c: { sources?: ColumnSource[]; parts?: Command[] }): void => {
    for (const s of c.sources ?? []) {
      if (s.column !== '*') {
        if (names.has(s.column.toLowerCase())) push(s.table === undefined ? { name: s.column, column: s.column } : { name: s.column, table: s.table, column: s.column });
      } else if (s.table === undefined) {
        push({ name: '*', column: '*' });
      } else {
        for (const o of origins.values()) if (sameTable(s.table, o.table)) push({ name: o.column, table: o.table, column: o.column });
      }
    }
    c.parts?.forEach(visit);
  };
  visit(cmd);
  return out.length ? out : null;
}
