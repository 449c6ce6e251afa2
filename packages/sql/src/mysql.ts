/**
 * MySQL / MariaDB SQL text → Command. The pre-scan (mysqlLex.ts) and the
 * classification (mysqlClassify.ts) give a template per text, cached by the
 * exact text (and the lexical mode) and, for plain SELECTs, by its shape
 * (mysqlShape.ts: integers left out); the template is turned into a Command
 * for one session here: `EXECUTE name` becomes the statement prepared under
 * that name, PREPARE / DEALLOCATE update the session.
 */
import type { Command } from '@sluice/core';
import { GenerationalCache } from './cache.js';
import { type ClassifyOpts, fullClassifyMysql, type MTpl } from './mysqlClassify.js';
import { mysqlShape, shapeSafe } from './mysqlShape.js';
import { addAll, cloneCommand, oneOf, withoutFlag } from './tpl.js';

export const MYSQL_PROTOCOL = 'mysql';

export interface MysqlClassifyOptions {
  /** The server is MariaDB (default true): `/*M! … *\/` is code there, MySQL 5.7+ `/*!5xxxx` versions are skipped. */
  mariadb?: boolean;
  /** Server version as MMmmpp (default 101100, MariaDB 10.11): decides which `/*!NNNNN` comments run. */
  version?: number;
  /** sql_mode NO_BACKSLASH_ESCAPES is on (default false). */
  noBackslashEscapes?: boolean;
}

/** Parse a server version string ('10.11.6-MariaDB-log', '8.0.36') into options. */
export function mysqlServerOptions(serverVersion: string): MysqlClassifyOptions {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(serverVersion);
  const mariadb = /mariadb/i.test(serverVersion);
  if (!m) return { mariadb };
  // MariaDB 10+ announces itself through MySQL clients as '5.5.5-10.11.6-MariaDB'.
  const real = /^5\.5\.5-(\d+)\.(\d+)\.(\d+)/.exec(serverVersion) ?? m;
  return { mariadb, version: Number(real[1]) * 10000 + Number(real[2]) * 100 + Number(real[3]) };
}

const MAX_KEY_CHARS = 8192;

interface Entry {
  tpl: MTpl;
  modeSensitive: boolean;
}

const cache = new GenerationalCache<Entry>(10_000, 4_000_000);
/** Classifications shared by every text of one shape (mysqlShape.ts: plain SELECTs differing only in integers). */
const shapes = new GenerationalCache<Entry>(10_000, 4_000_000);

/** Cache statistics, for benchmarks and metrics. */
export const mysqlCacheStats = { hits: 0, shapeHits: 0, misses: 0, uncacheable: 0 };

/** Drop every cached MySQL classification (tests, benchmarks). */
export function clearMysqlCache(): void {
  cache.clear();
  shapes.clear();
  mysqlCacheStats.hits = mysqlCacheStats.shapeHits = mysqlCacheStats.misses = mysqlCacheStats.uncacheable = 0;
}

function optsOf(o: MysqlClassifyOptions | undefined): ClassifyOpts {
  return { mariadb: o?.mariadb ?? true, version: o?.version ?? 101100, backslashEscapes: !(o?.noBackslashEscapes ?? false) };
}

function lookup(text: string, o: ClassifyOpts): Entry {
  if (text.length > MAX_KEY_CHARS) {
    mysqlCacheStats.uncacheable++;
    return fullClassifyMysql(text, o);
  }
  const key = `${o.mariadb ? 'M' : 'Y'}${o.version}${o.backslashEscapes ? 'e' : 'n'}\u0000${text}`;
  const hit = cache.get(key);
  if (hit) {
    mysqlCacheStats.hits++;
    return hit;
  }
  const shape = mysqlShape(text);
  const shapeKey = shape === null ? null : `${o.mariadb ? 'M' : 'Y'}${o.version}${o.backslashEscapes ? 'e' : 'n'}\u0000${shape}`;
  if (shapeKey !== null) {
    const same = shapes.get(shapeKey);
    if (same) {
      mysqlCacheStats.shapeHits++;
      return same;
    }
  }
  mysqlCacheStats.misses++;
  const r = fullClassifyMysql(text, o);
  cache.set(key, r);
  if (shapeKey !== null && shapeSafe(r)) shapes.set(shapeKey, r);
  return r;
}

// ---------------------------------------------------------------- sessions

/**
 * A change one statement of a text makes to the session's prepared
 * statements: `cmd` is what `PREPARE name` made, null for `DEALLOCATE PREPARE
 * name`. Applied only once the server has answered the text (`settle`): the
 * server may never run it (the gateway refused the text, an earlier
 * statement failed, COM_STMT_PREPARE refuses PREPARE), and judging an
 * EXECUTE by a PREPARE the server did not run lets the statement the server
 * does hold run unjudged.
 */
export interface PreparedEffect {
  name: string;
  cmd: Command | null;
}

interface MState {
  prepared: Map<string, Command>;
  /**
   * The text being classified: its own PREPAREs and DEALLOCATEs so far
   * (later statements of the same text see them), and the effects in order.
   * Null: apply them to `prepared` at once.
   */
  staged: { names: Map<string, Command | null>; effects: PreparedEffect[] } | null;
  onSqlMode?: () => void;
}

/** The statement EXECUTE name runs, as the classification so far knows it. */
function preparedOf(st: MState, name: string): Command | undefined {
  if (st.staged?.names.has(name)) return st.staged.names.get(name) ?? undefined;
  return st.prepared.get(name);
}

/** The session now holds `cmd` under `name`, or (`cmd` null) nothing: staged while a text is judged. */
function setPrepared(st: MState, name: string, cmd: Command | null): void {
  if (st.staged) {
    st.staged.names.set(name, cmd);
    st.staged.effects.push({ name, cmd });
  } else if (cmd) st.prepared.set(name, cmd);
  else st.prepared.delete(name);
}

function refused(text: string, error: string): Command {
  return { protocol: MYSQL_PROTOCOL, kind: 'UNKNOWN', text, objects: [], flags: ['parse-error'], error };
}

function instantiate(t: MTpl, text: string, st: MState | null): Command {
  const myText = t.text ?? text;
  let cmd: Command;
  if (t.exec !== undefined) {
    const known = st ? preparedOf(st, t.exec) : undefined;
    if (known) {
      cmd = cloneCommand(known);
      cmd.text = myText;
    } else cmd = { protocol: MYSQL_PROTOCOL, kind: 'EXECUTE', text: myText, objects: [], flags: ['dynamic-sql'] };
    addAll(cmd.flags, t.flags);
  } else {
    cmd = { protocol: MYSQL_PROTOCOL, kind: t.kind, text: myText, objects: t.objects.slice(), flags: t.flags.slice() };
    if (t.error !== undefined) cmd.error = t.error;
    if (t.sources !== undefined) cmd.sources = t.sources;
    if (t.columns !== undefined) cmd.columns = t.columns;
    if (t.copies !== undefined) cmd.copies = t.copies;
    if (t.parts) {
      const parts: Command[] = [];
      for (const p of t.parts) {
        const c = instantiate(p, myText, st);
        parts.push(c);
        addAll(cmd.objects, c.objects);
        addAll(cmd.flags, c.flags);
      }
      cmd.parts = parts;
    }
  }
  if (st) {
    if (t.prepare !== undefined) {
      // What EXECUTE will run: the prepared text's classification, or (from a variable) unknown SQL.
      const inner = t.parts?.[0];
      const remembered =
        inner !== undefined
          ? withoutFlag(cmd.parts![0]!, 'multi-statement')
          : { protocol: MYSQL_PROTOCOL, kind: 'EXECUTE', text: myText, objects: [], flags: ['dynamic-sql'] };
      setPrepared(st, t.prepare, remembered);
    }
    if (t.deallocate !== undefined) setPrepared(st, t.deallocate, null);
    if (t.sqlMode) st.onSqlMode?.();
  }
  return cmd;
}

function classifyWith(text: string, o: ClassifyOpts, uncertain: boolean, st: MState | null): Command {
  if (text.length === 0) return { protocol: MYSQL_PROTOCOL, kind: 'EMPTY', text, objects: [], flags: [] };
  const e = lookup(text, o);
  if (uncertain && e.modeSensitive) {
    return refused(text, "a string literal holds \\' while sql_mode may be changing; retry once the statement before it has completed");
  }
  return instantiate(e.tpl, text, st);
}

/**
 * Classify a MySQL/MariaDB text (one statement or several) without session
 * state: `EXECUTE name` is dynamic SQL unless the same text PREPAREs it.
 */
export function classifyMysql(text: string, opts?: MysqlClassifyOptions): Command {
  return classifyWith(text, optsOf(opts), false, { prepared: new Map(), staged: null });
}

/**
 * One per client session: remembers prepared statements (SQL PREPARE, and
 * protocol-level ones registered with `remember`) so that `EXECUTE name` is
 * judged as the statement it runs.
 *
 * Keep `noBackslashEscapes` in step with the server: assign it from the
 * SERVER_STATUS_NO_BACKSLASH_ESCAPES bit of every OK / EOF packet. After a
 * statement that may change sql_mode, texts whose reading depends on it (a
 * '…' literal holding \') are refused until it is assigned again.
 */
export class MysqlClassifier {
  private opts: ClassifyOpts;
  private uncertain = false;
  private readonly state: MState;
  private readonly staged: NonNullable<MState['staged']> = { names: new Map(), effects: [] };

  constructor(opts?: MysqlClassifyOptions) {
    this.opts = optsOf(opts);
    this.state = {
      prepared: new Map(),
      staged: null,
      onSqlMode: () => {
        this.uncertain = true;
      },
    };
  }

  get noBackslashEscapes(): boolean {
    return !this.opts.backslashEscapes;
  }

  set noBackslashEscapes(value: boolean) {
    // Assigned from every OK / EOF packet: keep the options object when nothing changed.
    if (this.opts.backslashEscapes === value) this.opts = { ...this.opts, backslashEscapes: !value };
    this.uncertain = false;
  }

  /**
   * Classify a text the server is known to run as a whole: its PREPAREs and
   * DEALLOCATEs change the session at once. A gateway judging what a client
   * sends uses `judge` and `settle` instead.
   */
  classify(text: string): Command {
    return classifyWith(text, this.opts, this.uncertain, this.state);
  }

  /**
   * Classify a text the server has not run yet: the session is left as it
   * is; `effects` (null when there are none) are what the text would change,
   * to `settle` once the server has answered it — or to drop when it never
   * reaches the server.
   */
  judge(text: string): { cmd: Command; effects: PreparedEffect[] | null } {
    // One scratch overlay, emptied only when a text used it: most texts change nothing.
    const staged = this.staged;
    if (staged.effects.length !== 0) {
      // Left by a classification that threw.
      staged.effects = [];
      staged.names.clear();
    }
    this.state.staged = staged;
    try {
      const cmd = classifyWith(text, this.opts, this.uncertain, this.state);
      if (staged.effects.length === 0) return { cmd, effects: null };
      const effects = staged.effects;
      staged.effects = [];
      staged.names.clear();
      return { cmd, effects };
    } finally {
      this.state.staged = null;
    }
  }

  /**
   * The server answered a text `judge` gave `effects` for. `ran`: every
   * statement succeeded, so each effect happened, in order. Otherwise it
   * stopped at an error somewhere, so a name it PREPAREd may hold the old
   * statement, the new one or none (a failed PREPARE drops the old one):
   * EXECUTE is then judged as either; a DEALLOCATE may not have run, so the
   * old statement is kept.
   */
  settle(effects: readonly PreparedEffect[], ran: boolean): void {
    const prepared = this.state.prepared;
    for (const e of effects) {
      if (ran) {
        if (e.cmd) prepared.set(e.name, e.cmd);
        else prepared.delete(e.name);
      } else if (e.cmd) {
        const old = prepared.get(e.name);
        // The server holds the old statement, the new one, or none: judged as either.
        prepared.set(e.name, old ? oneOf(MYSQL_PROTOCOL, e.cmd.text, [old, e.cmd]) : e.cmd);
      }
    }
  }

  /** Register a prepared statement (re-preparing a name replaces it, as the server does). */
  remember(name: string, cmd: Command): void {
    this.state.prepared.set(name.toLowerCase(), withoutFlag(cmd, 'multi-statement'));
  }

  /** Forget one prepared statement, or all of them (no name: COM_RESET_CONNECTION, COM_CHANGE_USER). */
  forget(name?: string): void {
    if (name === undefined) this.state.prepared.clear();
    else this.state.prepared.delete(name.toLowerCase());
  }

  /** Names of the prepared statements this session knows. */
  get preparedNames(): string[] {
    return [...this.state.prepared.keys()];
  }
}
