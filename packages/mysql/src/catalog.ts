import { ANY_COLUMN, CatalogLineage, exchangeOnIdle, type Command, type FunctionDefinition } from '@sluice/core';
import { classifyMysql } from '@sluice/sql';
import { BufferWriter, Capability, isResultSetEnd, parseColumnCount, parseErr, parseTextRow, writeComQuery, type Packet } from './protocol/index.js';
import type { MysqlUpstream } from './upstream.js';

/**
 * Runs one text-protocol query on the upstream before the client is let in
 * (the connection is idle: its handshake is done); every row as strings
 * (null for NULL). Rejects on an ERR, a malformed response or the timeout.
 */
export async function catalogRows(up: MysqlUpstream, sql: string, timeoutMs: number): Promise<(string | null)[][]> {
  const rows: (string | null)[][] = [];
  let columns = -1;
  let defs = 0;
  let eofAfterDefs = false;
  /** One response packet; true when the response is complete. */
  const take = (p: Packet): boolean => {
    const b = p.payload;
    if (b[0] === 0xff) throw new Error(`catalog lookup failed: ${parseErr(b).message}`);
    if (columns < 0) {
      if (b[0] === 0x00) return true; // no result set
      columns = parseColumnCount(b, up.capabilities).count;
      return false;
    }
    if (defs < columns) {
      defs++;
      eofAfterDefs = defs === columns && !(up.capabilities & Capability.DeprecateEof);
      return false;
    }
    if (eofAfterDefs) {
      eofAfterDefs = false;
      return false;
    }
    if (isResultSetEnd(b, up.capabilities)) return true;
    rows.push(parseTextRow(b, columns).map((c) => (c === null ? null : c.toString('utf8'))));
    return false;
  };
  const w = new BufferWriter(256);
  writeComQuery(w, sql, up.capabilities);
  await exchangeOnIdle(up.socket, w.take(), (chunk) => up.framer.push(chunk).some(take), timeoutMs, 'catalog lookup');
  return rows;
}

function literal(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * What the connection's database says about where rule-covered values live
 * (CatalogLineage): the base tables' rule-named columns and the view columns
 * computed from them, from each view's definition (MySQL and MariaDB name a
 * view's column by the view). Views are analysed innermost first; a
 * definition the gateway cannot read (no SHOW VIEW privilege, a syntax the
 * parser lacks) makes the whole view carry anything. Null without column
 * rules. Rejects when the lookup fails: the caller refuses the session.
 */
export async function loadLineage(up: MysqlUpstream, names: ReadonlySet<string>, timeoutMs = 10_000): Promise<CatalogLineage | null> {
  if (names.size === 0) return null;
  const lineage = new CatalogLineage(names);
  const list = [...names].map(literal).join(',');
  const columns = await catalogRows(
    up,
    'SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ' +
      "ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE' " +
      `AND LOWER(c.COLUMN_NAME) IN (${list})`,
    timeoutMs,
  );
  for (const [schema, table, column] of columns) lineage.addColumn(`${schema}.${table}`, column!);
  const views = await catalogRows(
    up,
    'SELECT v.TABLE_SCHEMA, v.TABLE_NAME, v.VIEW_DEFINITION, c.COLUMN_NAME FROM information_schema.VIEWS v JOIN information_schema.COLUMNS c ' +
      'ON c.TABLE_SCHEMA = v.TABLE_SCHEMA AND c.TABLE_NAME = v.TABLE_NAME WHERE v.TABLE_SCHEMA = DATABASE() ORDER BY v.TABLE_NAME, c.ORDINAL_POSITION',
    timeoutMs,
  );
  const byName = new Map<string, { table: string; definition: string; columns: string[] }>();
  for (const [schema, table, definition, column] of views) {
    const key = `${schema}.${table}`;
    let v = byName.get(key);
    if (!v) byName.set(key, (v = { table: key, definition: definition ?? '', columns: [] }));
    v.columns.push(column!);
  }
  addViews(lineage, [...byName.values()]);
  const routines = await catalogRows(
    up,
    "SELECT ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE')",
    timeoutMs,
  );
  addFunctions(
    lineage,
    routines.map(([name, definition]) => ({ name: name!, definition })),
  );
  return lineage;
}

/**
 * Stored functions that may hand a rule-covered value on: those whose body
 * mentions a rule-named column, a table or view that holds one, or such a
 * function (to any depth), and those whose body the account may not read;
 * procedures alike. MySQL bodies are not analysed further, so a call of one
 * makes every computed column of the result carry anything, and a CALL of
 * such a procedure is a copy of anything (refused). One whose readable body
 * also stores values (INSERT, UPDATE, REPLACE, CALL, a user variable) is a
 * writer: a statement that calls it is refused like a copy. A hidden body is
 * masked, not taken for a writer (CatalogLineage.addFunctions).
 */
export function addFunctions(lineage: CatalogLineage, routines: readonly FunctionDefinition[]): void {
  lineage.addFunctions(routines, (definition) => ({ carries: [ANY_COLUMN], writes: STORES.test(definition) }));
}

/** A stored function body that keeps a value past the call: a table write, a procedure call, a user variable (`SELECT … INTO local` only assigns a local). */
const STORES = /\b(?:INSERT|UPDATE|REPLACE|CALL)\b|@[\w$]+\s*:?=|\bINTO\s+@/i;

/** Adds views to the lineage, each after the views its definition reads (MySQL keeps no dependency list). */
export function addViews(lineage: CatalogLineage, views: readonly { table: string; definition: string; columns: string[] }[]): void {
  const pending = new Map(views.map((v) => [v.table.toLowerCase(), v]));
  const defs = new Map<string, Command | undefined>();
  for (const [k, v] of pending) {
    let cmd: Command | undefined;
    try {
      cmd = v.definition ? classifyMysql(v.definition) : undefined;
    } catch {
      cmd = undefined;
    }
    defs.set(k, cmd);
  }
  const unqualified = (t: string): string => t.slice(t.lastIndexOf('.') + 1).toLowerCase();
  while (pending.size > 0) {
    let progressed = false;
    for (const [k, v] of pending) {
      const cmd = defs.get(k);
      // Wait for the other pending views it reads (matched by name: over-waiting only reorders).
      const waits = (cmd?.objects ?? []).some((o) => [...pending.keys()].some((p) => p !== k && unqualified(p) === unqualified(o)));
      if (waits) continue;
      lineage.addView(v.table, v.columns, cmd);
      pending.delete(k);
      progressed = true;
    }
    if (!progressed) {
      // A cycle cannot be (MySQL refuses one); if the names confuse us, fail closed on what is left.
      for (const v of pending.values()) lineage.addView(v.table, v.columns, undefined);
      return;
    }
  }
}
