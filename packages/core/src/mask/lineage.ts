import type { ColumnLineage, ColumnRef, Command } from '../types.js';
import { derivedColumn, derivedFrom, type Derived } from './derived.js';

/**
 * Whether table `t` as a statement wrote it ('customers', 'public.customers',
 * 'shop.customers') is `q` (as the catalog names it, qualified): the parts
 * both have agree, compared from the right, case-insensitively.
 */
export function sameTable(t: string, q: string): boolean {
  const a = t.toLowerCase().split('.');
  const b = q.toLowerCase().split('.');
  for (let i = 1; i <= Math.min(a.length, b.length); i++) if (a[a.length - i] !== b[b.length - i]) return false;
  return true;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A global, case-insensitive matcher for any of `words` as an identifier in
 * SQL text (bare or quoted with " or `), followed by `suffix` (a regular
 * expression source); group 1 is the word as written. `$` may touch a word
 * (a PostgreSQL body ends at $function$). Null for no words.
 */
export function identifierPattern(words: Iterable<string>, suffix = ''): RegExp | null {
  const list = [...words].filter(Boolean).sort((a, b) => b.length - a.length).map(escapeRegExp);
  if (list.length === 0) return null;
  return new RegExp(`(?<!\\w)([\"\`]?(?:${list.join('|')})[\"\`]?)(?!\\w)${suffix}`, 'gi');
}

/** After a routine's name: a call of it (`name(`), or the name a `CALL` statement runs (MySQL allows `CALL p` without parentheses). */
const CALLED = '(?:\\s*\\(|(?<=\\bCALL\\s+(?:["`]?[\\w$]+["`]?\\.)?["`]?[\\w$]+["`]?))';

/** Any column of any table: what a column carries when the gateway cannot tell (covered by every column rule). */
export const ANY_COLUMN: ColumnRef = { name: '*', column: '*' };

/** A function as a target's catalog holds it; `definition` null when the gateway's account may not read it. */
export interface FunctionDefinition {
  name: string;
  definition: string | null;
}

/** What a function definition hands on: `carries` (empty: nothing covered); `writes` when its body also stores values (a table, session state). */
export interface FunctionLineage {
  carries: readonly ColumnRef[];
  writes: boolean;
}

/** A view's column that carries rule-covered table columns. */
export interface Carrier {
  /** The view, qualified as the catalog names it. */
  table: string;
  column: string;
  from: readonly ColumnRef[];
}

/**
 * What a target's catalog says about where rule-covered values live, read
 * when a session starts: the tables' rule-named columns, and the view
 * columns computed from them (a target names a view's column by the view,
 * not by the table below). Protocols feed it; the masker's `derivedFrom`
 * and the policy's copy check (Session.useColumnLineage) read it. A view
 * whose definition cannot be analysed carries anything: fail closed.
 */
export class CatalogLineage implements ColumnLineage {
  private readonly columns: { table: string; column: string }[] = [];
  readonly carriers: Carrier[] = [];
  private readonly all: Set<string>;
  /** Functions (lower-case name) that hand a rule-covered column on, with what they carry. */
  readonly functions = new Map<string, readonly ColumnRef[]>();
  /** Those of `functions` whose body also stores what they carry (lower-case names). */
  readonly writers = new Set<string>();
  private callPattern: RegExp | null = null;
  private writePattern: RegExp | null = null;

  constructor(ruleNames: ReadonlySet<string>) {
    this.all = new Set(ruleNames);
  }

  /** The rules' column names and those of the view columns that carry them (lower case). */
  get names(): ReadonlySet<string> {
    return this.all;
  }

  /** A function (by name) that hands on what `refs` say (a protocol decides which functions do). */
  addFunction(name: string, refs: readonly ColumnRef[]): void {
    const key = name.toLowerCase();
    this.functions.set(key, [...(this.functions.get(key) ?? []), ...refs]);
    this.callPattern = identifierPattern(this.functions.keys(), CALLED);
  }

  /**
   * Finds the functions among `defs` that hand a rule-covered value on, to
   * any depth of calls: a definition that mentions a name from `words()` (or
   * one of `also`) is given to `analyse`, and a non-empty `carries` makes it
   * a carrier, whose name later definitions may mention in turn; repeats
   * until nothing new is found. A definition that cannot be read (null)
   * carries anything (its results are masked). A carrier that `writes` (its
   * body stores what it carries in a table or session state), or that calls
   * one that does, is a writer: calling it copies (see `writes`).
   */
  addFunctions(defs: readonly FunctionDefinition[], analyse: (definition: string) => FunctionLineage, also: readonly string[] = []): void {
    const pending = new Set(defs);
    const added: FunctionDefinition[] = [];
    for (let changed = true; changed && pending.size > 0; ) {
      changed = false;
      const mentions = identifierPattern([...this.words(), ...also]);
      for (const f of pending) {
        let found: FunctionLineage;
        // Unreadable: masked when called, but not taken for a writer (every call of every such
        // function would be refused); a protocol that can hide bodies says how to let it read them.
        if (f.definition === null) found = { carries: [ANY_COLUMN], writes: false };
        else {
          if (mentions === null) continue;
          mentions.lastIndex = 0;
          if (!mentions.test(f.definition)) continue;
          found = analyse(f.definition);
        }
        pending.delete(f);
        if (found.carries.length === 0) continue;
        this.addFunction(f.name, found.carries);
        if (found.writes) this.addWriter(f.name);
        added.push(f);
        changed = true;
      }
    }
    // A carrier found before the writer it calls becomes a writer too.
    for (let changed = true; changed; ) {
      changed = false;
      for (const f of added) {
        if (this.writers.has(f.name.toLowerCase()) || f.definition === null || this.writes(f.definition) === undefined) continue;
        this.addWriter(f.name);
        changed = true;
      }
    }
  }

  private addWriter(name: string): void {
    this.writers.add(name.toLowerCase());
    this.writePattern = identifierPattern(this.writers, CALLED);
  }

  /**
   * What the writer functions a statement text calls store where masking
   * cannot follow (they run their writes whatever the statement around
   * them); undefined when it calls none.
   */
  writes(text: string): ColumnRef[] | undefined {
    if (this.writePattern === null) return undefined;
    let out: ColumnRef[] | undefined;
    for (const m of text.matchAll(this.writePattern)) {
      const name = m[1]!.replace(/["`]/g, '').toLowerCase();
      const refs = this.writers.has(name) ? this.functions.get(name) : undefined;
      if (refs) (out ??= []).push(...refs);
    }
    return out;
  }

  /** What the functions a statement text calls carry; undefined when it calls none of them. */
  calls(text: string): ColumnRef[] | undefined {
    if (this.callPattern === null) return undefined;
    let out: ColumnRef[] | undefined;
    for (const m of text.matchAll(this.callPattern)) {
      const refs = this.functions.get(m[1]!.replace(/["`]/g, '').toLowerCase());
      if (refs) (out ??= []).push(...refs);
    }
    return out;
  }

  /** Names a statement or body must mention to reach a rule-covered value: rule and carrier column names, tables and views that hold them, such functions. */
  words(): Set<string> {
    const out = new Set(this.all);
    for (const c of this.columns) out.add(c.table.slice(c.table.lastIndexOf('.') + 1).toLowerCase());
    for (const c of this.carriers) out.add(c.table.slice(c.table.lastIndexOf('.') + 1).toLowerCase());
    for (const f of this.functions.keys()) out.add(f);
    return out;
  }

  /** A table column whose name a column rule names. */
  addColumn(table: string, column: string): void {
    this.columns.push({ table, column });
  }

  /**
   * A view or materialized view, innermost first (a view over a view reads
   * what the inner one's columns carry): its column names in order and its
   * definition as classified (undefined when it could not be). Returns what
   * each column carries (null: nothing a rule covers).
   */
  addView(table: string, columns: readonly string[], def: Command | undefined): (readonly ColumnRef[] | null)[] {
    const analysed = def !== undefined && def.sources !== undefined && !def.flags.includes('parse-error');
    const d = analysed ? derivedFrom(def, this.all, this.expandRow, this.expandColumn) : null;
    return columns.map((column, i) => {
      const from = analysed ? derivedColumn(d, i, columns.length) : [ANY_COLUMN];
      if (from === null || from.length === 0) return null;
      this.carriers.push({ table, column, from });
      this.all.add(column.toLowerCase());
      return from;
    });
  }

  /** A whole row of `table`: its rule-named columns, or for a view what its columns carry ([] for a table with none). */
  readonly expandRow = (table: string): ColumnRef[] => {
    const out: ColumnRef[] = [];
    for (const c of this.columns) if (sameTable(table, c.table)) out.push({ name: c.column, table: c.table, column: c.column });
    for (const c of this.carriers) if (sameTable(table, c.table)) out.push(...c.from);
    return out;
  };

  /** A named column of a view (of any view with that column when the table is not named): what it carries. */
  readonly expandColumn = (table: string | undefined, column: string): readonly ColumnRef[] | undefined => {
    let out: ColumnRef[] | undefined;
    const c = column.toLowerCase();
    for (const v of this.carriers) if (v.column.toLowerCase() === c && (table === undefined || sameTable(table, v.table))) (out ??= []).push(...v.from);
    return out;
  };

  /**
   * What a command's computed result columns may carry (see derivedFrom),
   * through views, and through the functions it calls: a call of one that
   * carries something makes every computed column carry it (which select-list
   * entry calls it is not tracked).
   */
  derived(cmd: Command): Derived | null {
    const d = derivedFrom(cmd, this.all, this.expandRow, this.carriers.length ? this.expandColumn : undefined);
    const called = this.calls(cmd.text);
    if (called === undefined) return d;
    return { all: [...(d?.all ?? []), ...called] };
  }
}
