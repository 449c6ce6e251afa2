/**
 * The bookkeeping shared by the PostgreSQL and MySQL source walkers
 * (sources.ts, mysqlSources.ts): a deduplicated, bounded list of column
 * sources, relation aliases, and the per-column split of a select list.
 */
import type { ColumnSource } from '@sluice/core';

/** More sources than this and the list becomes "any column" (never drop one). */
const MAX_SOURCES = 256;
export const ANY: ColumnSource[] = [{ column: '*' }];

/** Relation names in scope: alias or name → qualified name; null when one name means several. */
export type Aliases = Map<string, string | null>;

export function addAlias(a: Aliases, key: string, q: string): void {
  const had = a.get(key);
  if (had === undefined) a.set(key, q);
  else if (had !== q) a.set(key, null);
}

export interface StatementSources {
  sources: ColumnSource[];
  /** Per result column, when the outermost select list maps one to one onto the result. */
  columns?: ColumnSource[][];
}

export abstract class SourceSet {
  readonly out: ColumnSource[] = [];
  private readonly seen = new Set<string>();
  private overflow = false;
  /** Set by `selectList(…, true, …)`: each result column's own sources. */
  private columns?: ColumnSource[][];

  constructor(protected readonly aliases: Aliases) {}

  /** The relation names in scope (for a walker of a part of the same statement). */
  get aliasMap(): Aliases {
    return this.aliases;
  }

  /** A fresh, empty walker of the same kind over the same names. */
  protected abstract blank(): this;

  /** A walker starting from what this one holds. */
  private fork(): this {
    const c = this.blank();
    for (const x of this.out) c.add(x.table, x.column);
    c.overflow = this.overflow;
    return c;
  }

  add(table: string | undefined, column: string): void {
    const key = `${table ?? ''}\u0000${column}`;
    if (this.seen.has(key)) return;
    if (this.out.length >= MAX_SOURCES) {
      this.overflow = true;
      return;
    }
    this.seen.add(key);
    this.out.push(table === undefined ? { column } : { table, column });
  }

  /**
   * Walks a SELECT's list after its FROM and WITH items. At the top of the
   * outermost SELECT a `*` only yields plain columns (which carry their own
   * source) and is skipped; with no `*` there, result column i is entry i, and
   * it carries what its own expression reads plus what the FROM and WITH items
   * computed, which is recorded per column.
   */
  protected selectList<T>(entries: readonly T[], top: boolean, isStar: (e: T) => boolean, walk: (into: this, e: T) => void): void {
    const perColumn = top && entries.length > 0 && !entries.some(isStar);
    const columns: ColumnSource[][] = [];
    const shared = perColumn ? this.fork() : null;
    for (const e of entries) {
      if (top && isStar(e)) continue;
      walk(this, e);
      if (shared) {
        const own = shared.fork();
        walk(own, e);
        columns.push(own.overflow ? ANY : own.out);
      }
    }
    if (shared) this.columns = columns;
  }

  result(): StatementSources {
    if (this.overflow) return { sources: ANY };
    return this.columns ? { sources: this.out, columns: this.columns } : { sources: this.out };
  }
}
