/**
 * @sluice/sql — PostgreSQL SQL text → Command.
 *
 * The real PostgreSQL parser (libpg-query, WASM) reads each statement; a
 * small hand-written lexer (lexer.ts) computes the statement's shape (its
 * tokens with literal values stripped) so that the 24–50 µs parse runs once
 * per shape, not once per statement:
 *
 *   shape cache:  shape → template          (classification independent of literal values)
 *                 shape → BY_TEXT           (it depends on them: WHERE 1=1, DO bodies, multi-statement)
 *   text cache:   exact text → template     (for BY_TEXT shapes and texts the lexer gave up on)
 *
 * The fast path is used only when standard_conforming_strings is known to be
 * on. Whatever the lexer is unsure about goes to the full parse.
 */
import type { Command } from '@sluice/core';
import { loadModule } from 'libpg-query';
import { GenerationalCache } from './cache.js';
import { fullClassify, hasBackslashLiteral } from './classify.js';
import { shapeOf } from './lexer.js';
import { cloneCommand, instantiate, type PrepState, PROTOCOL, settleEffects, type SqlEffect, type Staged, textFree, type Tpl } from './tpl.js';

export { shapeOf } from './lexer.js';
export type { SqlEffect } from './tpl.js';
export { oneOf } from './tpl.js';

let loaded = false;

/** Load the PostgreSQL parser (WASM). Idempotent; call once at startup, before classifying. */
export async function loadSqlParser(): Promise<void> {
  if (loaded) return;
  await loadModule();
  loaded = true;
}

export interface PgClassifyOptions {
  /** The session's standard_conforming_strings (default true, PostgreSQL's default since 9.1). */
  standardConformingStrings?: boolean;
}

/** Statements longer than this are classified but not cached. */
const MAX_KEY_CHARS = 8192;
const BY_TEXT = Symbol('by-text');

const shapeCache = new GenerationalCache<Tpl | typeof BY_TEXT>(10_000, 4_000_000);
const textCache = new GenerationalCache<Tpl>(10_000, 4_000_000);

/** Cache statistics, for benchmarks and metrics. */
export const sqlCacheStats = { hits: 0, misses: 0, uncacheable: 0 };

/** Drop every cached classification (tests, benchmarks). */
export function clearSqlCache(): void {
  shapeCache.clear();
  textCache.clear();
  sqlCacheStats.hits = sqlCacheStats.misses = sqlCacheStats.uncacheable = 0;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function refused(text: string, error: string): Command {
  return { protocol: PROTOCOL, kind: 'UNKNOWN', text, objects: [], flags: ['parse-error'], error };
}

function empty(text: string): Command {
  return { protocol: PROTOCOL, kind: 'EMPTY', text, objects: [], flags: [] };
}

/**
 * Classify one text. `scs` = standard_conforming_strings; `uncertain` = it
 * may just have changed (a SET we saw) and the session has not confirmed it.
 */
function classifyText(text: string, scs: boolean, uncertain: boolean, st: PrepState | null): Command {
  if (!loaded) throw new Error('@sluice/sql: call loadSqlParser() before classifying');
  if (text.length === 0) return empty(text);
  // The parser reads a C string: a NUL would hide everything after it.
  if (text.includes('\0')) return refused(text, 'statement contains a NUL character');
  // Lone surrogates do not survive the trip to UTF-8 the same way twice.
  if (LONE_SURROGATE.test(text)) return refused(text, 'statement is not valid Unicode');
  if (uncertain && hasBackslashLiteral(text)) {
    return refused(
      text,
      "a string literal holds a backslash while standard_conforming_strings may be changing; use E'' strings or retry",
    );
  }
  const fast = scs && !uncertain;
  let shape: string | null = null;
  if (fast) {
    shape = shapeOf(text);
    if (shape === '') return empty(text);
    if (shape !== null && shape.length <= MAX_KEY_CHARS) {
      const e = shapeCache.get(shape);
      if (e !== undefined && e !== BY_TEXT) {
        sqlCacheStats.hits++;
        return instantiate(e, text, st);
      }
      if (e === BY_TEXT && text.length <= MAX_KEY_CHARS) {
        const t = textCache.get(text);
        if (t !== undefined) {
          sqlCacheStats.hits++;
          return instantiate(t, text, st);
        }
      }
    } else if (shape === null && text.length <= MAX_KEY_CHARS) {
      const t = textCache.get(text);
      if (t !== undefined) {
        sqlCacheStats.hits++;
        return instantiate(t, text, st);
      }
    }
  }
  let r;
  try {
    r = fullClassify(text, scs);
  } catch (e) {
    // Too deep to walk, or a parser failure: refuse rather than guess.
    return refused(text, `statement could not be classified: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (fast && !r.error) {
    sqlCacheStats.misses++;
    const shared = !r.sensitive && textFree(r.tpl);
    if (shape !== null && shape.length <= MAX_KEY_CHARS) {
      if (shared) {
        if (shapeCache.get(shape) === undefined) shapeCache.set(shape, r.tpl);
      } else {
        shapeCache.set(shape, BY_TEXT);
        if (text.length <= MAX_KEY_CHARS) textCache.set(text, r.tpl);
      }
    } else if (text.length <= MAX_KEY_CHARS) {
      textCache.set(text, r.tpl);
    }
  } else {
    sqlCacheStats.uncacheable++;
  }
  return instantiate(r.tpl, text, st);
}

/**
 * Classify a PostgreSQL text (one statement or several) without session
 * state: `EXECUTE name` is dynamic SQL unless the same text PREPAREs it.
 */
export function classifyPostgres(text: string, opts?: PgClassifyOptions): Command {
  return classifyText(text, opts?.standardConformingStrings ?? true, false, { prepared: new Map() });
}

/**
 * One per client session: remembers prepared statements (PREPARE, and
 * protocol-level ones registered with `remember`) so that `EXECUTE name` is
 * judged as the statement it runs.
 *
 * Keep `standardConformingStrings` in step with the server: assign it from
 * every ParameterStatus for standard_conforming_strings, and (re)assign it
 * once the server is ready after any statement that may have changed it
 * (SET/RESET of it, RESET ALL, DISCARD ALL, set_config()). Until then, texts
 * whose meaning depends on it (a backslash inside a '…' literal) are refused.
 */
export class PostgresClassifier {
  private scs: boolean;
  private uncertain = false;
  private readonly state: PrepState;
  private readonly staged: Staged = { prepared: new Map(), allDeallocated: false, cursors: new Map(), effects: [] };

  constructor(opts?: PgClassifyOptions) {
    this.scs = opts?.standardConformingStrings ?? true;
    this.state = {
      prepared: new Map(),
      onScsChange: () => {
        this.uncertain = true;
      },
    };
  }

  get standardConformingStrings(): boolean {
    return this.scs;
  }

  set standardConformingStrings(value: boolean) {
    this.scs = value;
    this.uncertain = false;
  }

  /**
   * Classify a text the server is known to run as a whole: its PREPAREs,
   * DEALLOCATEs and DECLAREs change the session at once. A gateway judging
   * what a client sends uses `judge` and `settle` instead.
   */
  classify(text: string): Command {
    return classifyText(text, this.scs, this.uncertain, this.state);
  }

  /**
   * Classify a text the server has not run yet: the session is left as it
   * is (a CLOSE of a cursor aside: forgetting one only masks more);
   * `effects` (null when none) are what the text would change, to `settle`
   * once the server has answered it, or to drop when it never reaches the
   * server.
   */
  judge(text: string): { cmd: Command; effects: SqlEffect[] | null } {
    // One scratch overlay, emptied only when a text used it: most texts change nothing.
    const staged = this.staged;
    if (staged.effects.length !== 0) {
      // Left by a classification that threw.
      staged.effects = [];
      staged.prepared.clear();
      staged.cursors.clear();
      staged.allDeallocated = false;
    }
    this.state.staged = staged;
    try {
      const cmd = classifyText(text, this.scs, this.uncertain, this.state);
      if (staged.effects.length === 0) return { cmd, effects: null };
      const effects = staged.effects;
      staged.effects = [];
      staged.prepared.clear();
      staged.cursors.clear();
      staged.allDeallocated = false;
      return { cmd, effects };
    } finally {
      this.state.staged = null;
    }
  }

  /** The server answered a text `judge` gave `effects` for; `ran`: without an error (see settleEffects). */
  settle(effects: readonly SqlEffect[], ran: boolean): void {
    settleEffects(this.state, effects, ran);
  }

  /** The transaction ended: cursors not declared WITH HOLD are gone, and which were is not tracked (FETCH then may carry any column). */
  forgetCursors(): void {
    this.state.cursors?.clear();
  }

  /** `name` now names something else (a portal the protocol binds): FETCH from it may carry any column. */
  forgetCursor(name: string): void {
    this.state.cursors?.delete(name);
  }

  /**
   * Register a prepared statement created outside SQL PREPARE (an extended
   * protocol Parse with a name), so `EXECUTE name` resolves to it. If the
   * name is already known, both are kept and EXECUTE is judged as either.
   */
  remember(name: string, cmd: Command): void {
    const copy = cloneCommand(cmd);
    const list = this.state.prepared.get(name);
    if (list) list.push(copy);
    else this.state.prepared.set(name, [copy]);
  }

  /** Forget one prepared statement (protocol Close), or all of them. */
  forget(name?: string): void {
    if (name === undefined) this.state.prepared.clear();
    else this.state.prepared.delete(name);
  }

  /** Names of the prepared statements this session knows. */
  get preparedNames(): string[] {
    return [...this.state.prepared.keys()];
  }
}

// ---------------------------------------------------------------- MySQL / MariaDB

export {
  classifyMysql,
  clearMysqlCache,
  MYSQL_PROTOCOL,
  MysqlClassifier,
  type MysqlClassifyOptions,
  type PreparedEffect,
  mysqlCacheStats,
  mysqlServerOptions,
} from './mysql.js';
