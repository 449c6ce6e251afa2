/**
 * Column rules: 'table.column', '*.column', 'schema.table.column'
 * (case-insensitive), matched against result column descriptions. The table
 * parts may use '*' as a glob ('pay*.iban'); the column part is always a plain
 * name, so that `Masker.columnNames` can list exactly the names rules cover.
 */
import type { ColumnRef } from '../types.js';

type PartMatcher = (s: string) => boolean;

export interface ColumnPattern {
  /** The pattern as configured. */
  readonly source: string;
  /** Table qualifier parts, outermost first ('public', 'customers'); [] = any table. */
  readonly table: readonly PartMatcher[];
  /** The column name, lower case, unquoted. */
  readonly column: string;
}

function unquote(part: string): string {
  const p = part.trim();
  if (p.length >= 2) {
    const q = p[0];
    if ((q === '"' || q === '`' || q === '[') && p[p.length - 1] === (q === '[' ? ']' : q)) return p.slice(1, -1);
  }
  return p;
}

function partMatcher(raw: string): PartMatcher {
  const part = unquote(raw).toLowerCase();
  if (part === '*') return () => true;
  if (part.indexOf('*') === -1) return (s) => s === part;
  const re = new RegExp(
    '^' + part.split('*').map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$',
    's',
  );
  return (s) => re.test(s);
}

/**
 * Parses 'table.column', '*.column', 'schema.table.column' (more qualifiers are
 * allowed and matched the same way). A bare 'column' means any table.
 * Throws on an empty pattern, an empty part, or a '*' in the column part.
 */
export function parseColumnPattern(source: string): ColumnPattern {
  if (typeof source !== 'string') throw new TypeError(`mask column pattern must be a string, got ${typeof source}`);
  const parts = source.split('.');
  if (parts.some((p) => unquote(p) === '')) throw new Error(`invalid mask column pattern '${source}'`);
  const column = unquote(parts[parts.length - 1]).toLowerCase();
  if (column.indexOf('*') !== -1) {
    throw new Error(`invalid mask column pattern '${source}': the column part must be a column name, not a glob`);
  }
  const table = parts.slice(0, -1);
  const anyTable = table.length === 0 || (table.length === 1 && unquote(table[0]) === '*');
  return { source, table: anyTable ? [] : table.map(partMatcher), column };
}

/** A ColumnRef's table as lower-case parts ('Public.Customers' → ['public', 'customers']). */
function tableParts(table: string): string[] {
  return table.split('.').map((p) => unquote(p).toLowerCase());
}

/**
 * Whether the pattern covers the column. The column part is matched against
 * `column` (the source column, surviving aliases) or else `name`. The table
 * parts are compared right-aligned over the parts both sides have, so
 * 'customers' matches 'customers' and 'any_schema.customers', and
 * 'public.customers' matches 'public.customers' and unqualified 'customers'.
 * A column whose table is unknown matches any table (fail closed).
 */
export function columnMatches(p: ColumnPattern, ref: ColumnRef): boolean {
  const col = (ref.column || ref.name || '').toLowerCase();
  if (unquote(col) !== p.column) return false;
  if (p.table.length === 0 || !ref.table) return true;
  const t = tableParts(ref.table);
  const k = Math.min(p.table.length, t.length);
  for (let i = 1; i <= k; i++) {
    if (!p.table[p.table.length - i](t[t.length - i])) return false;
  }
  return true;
}

/**
 * Whether the pattern covers a result column: the column itself, or for a
 * computed column any column its value may carry (`from`). A `from` entry
 * whose column is '*' is a whole row: covered when the pattern's table part
 * covers its table (or it names no table).
 */
export function coveredBy(p: ColumnPattern, ref: ColumnRef): boolean {
  if (columnMatches(p, ref)) return true;
  if (ref.from === undefined) return false;
  for (const f of ref.from) {
    if (f.column === '*') {
      if (columnMatches(p, { name: p.column, table: f.table, column: p.column })) return true;
    } else if (columnMatches(p, f)) return true;
  }
  return false;
}
