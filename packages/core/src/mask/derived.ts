import type { ColumnRef, ColumnSource, Command } from '../types.js';

/**
 * What a SQL command's computed result columns may carry (Command.sources),
 * as ColumnRefs for `ColumnRef.from`: for the whole result, and per column
 * when the statement's select list maps one to one onto the result (so a
 * column computed beside a rule-covered one is not masked for it).
 */
export interface Derived {
  all: ColumnRef[] | null;
  columns?: (ColumnRef[] | null)[];
}

type Sourced = { sources?: ColumnSource[]; parts?: Command[] };

/** Whether any source could be covered by a rule (a rule-named column or a whole row): the allocation-free common-case check. */
function mayCover(c: Sourced, names: ReadonlySet<string>): boolean {
  for (const s of c.sources ?? []) if (s.column === '*' || names.has(s.column.toLowerCase())) return true;
  for (const p of c.parts ?? []) if (mayCover(p, names)) return true;
  return false;
}

/** A table's rule-relevant columns for a whole row of it; undefined when the protocol does not know the table. */
export type ExpandRow = (table: string) => ColumnRef[] | undefined;
/** What a named column carries besides itself (a view's column: the table columns it is computed from). */
export type ExpandColumn = (table: string | undefined, column: string) => readonly ColumnRef[] | undefined;

function refsFor(cmd: Sourced, names: ReadonlySet<string>, expandRow?: ExpandRow, expandColumn?: ExpandColumn): ColumnRef[] | null {
  const out: ColumnRef[] = [];
  const seen = new Set<string>();
  const push = (r: ColumnRef): void => {
    const k = `${r.table ?? ''}\u0000${r.column}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(r);
    }
  };
  const visit = (c: Sourced): void => {
    for (const s of c.sources ?? []) {
      if (s.column !== '*') {
        if (names.has(s.column.toLowerCase())) {
          push(s.table === undefined ? { name: s.column, column: s.column } : { name: s.column, table: s.table, column: s.column });
          const more = expandColumn?.(s.table, s.column);
          if (more !== undefined) for (const r of more) push(r);
        }
        continue;
      }
      const expanded = s.table === undefined ? undefined : expandRow?.(s.table);
      if (expanded !== undefined) for (const r of expanded) push(r);
      else push(s.table === undefined ? { name: '*', column: '*' } : { name: '*', table: s.table, column: '*' });
    }
    c.parts?.forEach(visit);
  };
  visit(cmd);
  return out.length ? out : null;
}

/**
 * The command's sources reduced to what a column rule could cover: `names`
 * is Masker.columnNames; a named column is kept only when a rule names it; a
 * whole row ('*') is kept as is, or replaced by `expandRow(table)` when the
 * protocol knows that table's rule-named columns (an empty list: none).
 * A named column also brings what `expandColumn` says it carries (a view's
 * column: the rule-covered table columns it is computed from); `names` must
 * then list those column names too.
 * Null when nothing remains — the common case, which costs a result nothing.
 */
export function derivedFrom(cmd: Command, names: ReadonlySet<string>, expandRow?: ExpandRow, expandColumn?: ExpandColumn): Derived | null {
  if (names.size === 0 || !mayCover(cmd, names)) return null;
  const all = refsFor(cmd, names, expandRow, expandColumn);
  if (cmd.columns === undefined || cmd.parts !== undefined) return all === null ? null : { all };
  const columns = cmd.columns.map((sources) => refsFor({ sources }, names, expandRow, expandColumn));
  return all === null && columns.every((c) => c === null) ? null : { all, columns };
}

/** Result column `i` of `count`: what it may carry. */
export function derivedColumn(d: Derived | null, i: number, count: number): ColumnRef[] | null {
  if (d === null) return null;
  return d.columns !== undefined && d.columns.length === count ? d.columns[i]! : d.all;
}
