import { BackendCode, DataRowCursor, FrontendWriter, parseNoticeFields, type FieldDescription } from './protocol/index.js';
import { derivedColumn, derivedFrom, type ColumnRef, type Command, type Derived } from '@sluice/core';
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
 * table (computed by the statement) carries `from`: what the statement reads
 * into it (`derivedFrom`).
 */
export function columnRefs(fields: readonly FieldDescription[], origins: ColumnOrigins, derived: Derived | null = null): ColumnRef[] {
  return fields.map((f, i) => {
    const o = f.tableOID ? origins.get(`${f.tableOID}:${f.columnAttr}`) : undefined;
    if (o) return { name: f.name, table: o.table, column: o.column };
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
 * carries nothing a rule names as far as the gateway knows).
 */
export function resultSources(cmd: Command, origins: ColumnOrigins, names: ReadonlySet<string>): Derived | null {
  return derivedFrom(cmd, names, (table) => {
    const out: ColumnRef[] = [];
    for (const o of origins.values()) if (sameTable(table, o.table)) out.push({ name: o.column, table: o.table, column: o.column });
    return out;
  });
}
