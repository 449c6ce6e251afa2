/**
 * MySQL/MariaDB SQL text → classification template. The pre-scan
 * (mysqlLex.ts) splits the text and canonicalises each statement; a few
 * statements node-sql-parser does not know (PREPARE, EXECUTE, DEALLOCATE,
 * SAVEPOINT, SET NAMES, simple SHOWs, KILL) are read from tokens here; the
 * rest goes to node-sql-parser (MariaDB build, then MySQL build). What
 * neither understands goes to a strict recogniser of a few forms the parser
 * lacks (fallbackMysql: FLUSH, OPTIMIZE TABLE, DROP USER, HANDLER, DO, XA,
 * CREATE PROCEDURE …); anything else is refused.
 */
import mariadbBuild from 'node-sql-parser/build/mariadb.js';
import mysqlBuild from 'node-sql-parser/build/mysql.js';
import { LexError, lexMysql, type LexOptions, type LexStatement } from './mysqlLex.js';
import { mysqlStatementCopies, mysqlStatementSources } from './mysqlSources.js';
import type { ColumnSource } from '@sluice/core';

// The AST is plain JSON with loose typings: walked generically.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type N = any;

const parsers = [new mariadbBuild.Parser(), new mysqlBuild.Parser()];
const PARSE_OPT = [{ database: 'MariaDB' }, { database: 'MySQL' }];

/** Nested SQL (PREPARE … FROM '…', EXECUTE IMMEDIATE '…') is followed this deep. */
const MAX_DEPTH = 4;

/** A Command without its session-dependent parts. */
export interface MTpl {
  kind: string;
  /** null: the text being classified. */
  text: string | null;
  objects: string[];
  flags: string[];
  parts?: MTpl[];
  error?: string;
  /** EXECUTE name: judged as the remembered statement. */
  exec?: string;
  /** PREPARE name FROM …: remember the statement (its single part, or dynamic when there is none). */
  prepare?: string;
  /** DEALLOCATE PREPARE name. */
  deallocate?: string;
  /** Columns the statement reads into its results (Command.sources, mysqlSources.ts); shared, never mutated. */
  sources?: ColumnSource[];
  /** Per result column (Command.columns). */
  columns?: ColumnSource[][];
  /** Columns the statement copies into the database (Command.copies). */
  copies?: ColumnSource[];
  /** May change sql_mode (so the backslash-escape mode is uncertain until the server confirms it). */
  sqlMode?: boolean;
}

export interface MResult {
  tpl: MTpl;
  /** Some literal's extent depends on the backslash-escape mode. */
  modeSensitive: boolean;
}

export class Refusal extends Error {}

function addObject(list: string[], name: string | undefined | null): void {
  if (name && !list.includes(name)) list.push(name);
}

function addFlag(list: string[], flag: string): void {
  if (!list.includes(flag)) list.push(flag);
}

/** Backquoted names arrive as written (doubled backticks undone); unquoted ones were lower-cased by the scan. */
function ident(s: string): string {
  return s.replace(/``/g, '`');
}

function qual(db: string | null | undefined, table: string): string {
  return db ? `${ident(db)}.${ident(table)}` : ident(table);
}

// ---------------------------------------------------------------- tokens (hand-read statements)

interface Tok {
  t: 'w' | 's' | 'q' | 'v' | 'p';
  v: string;
}

const TOKEN = /\s+|([a-z0-9_$\u0080-\uffff]+)|'([^']*)'|`((?:[^`]|``)*)`|(@@?[a-z0-9_$.]*)|(.)/gy;

function tokens(code: string): Tok[] {
  const out: Tok[] = [];
  TOKEN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while (TOKEN.lastIndex < code.length && (m = TOKEN.exec(code)) !== null) {
    if (m[1] !== undefined) out.push({ t: 'w', v: m[1] });
    else if (m[2] !== undefined) out.push({ t: 's', v: m[2] });
    else if (m[3] !== undefined) out.push({ t: 'q', v: ident(m[3]) });
    else if (m[4] !== undefined) out.push({ t: 'v', v: m[4] });
    else if (m[5] !== undefined) out.push({ t: 'p', v: m[5] });
  }
  return out;
}

/** A name token (word or backquoted), for statement and savepoint names. */
function nameTok(t: Tok | undefined): string | null {
  if (!t) return null;
  if (t.t === 'w') return t.v;
  if (t.t === 'q') return t.v.toLowerCase(); // prepared statement names are case-insensitive
  return null;
}

function strValue(t: Tok, st: LexStatement): string {
  return st.values.get(t.v) ?? t.v;
}

const isWord = (t: Tok | undefined, ...ws: string[]): boolean => t !== undefined && t.t === 'w' && ws.includes(t.v);

/** Charsets in which a multi-byte character may end in 0x5c (a backslash): escaping differs from what we read. */
const UNSAFE_CHARSETS = /^(big5|cp932|gbk|gb18030|sjis)$/;

/** SHOW forms read by hand: no table, an optional LIKE '…' / LIMIT. */
const SHOW_SIMPLE = new Set([
  'variables',
  'status',
  'warnings',
  'errors',
  'engines',
  'plugins',
  'privileges',
  'processlist',
  'collation',
  'charset',
  'character',
  'set',
  'master',
  'slave',
  'binary',
  'logs',
  'grants',
  'global',
  'session',
  'full',
  'databases',
  'schemas',
  'tables',
  'open',
  'triggers',
  'events',
  'authors',
  'contributors',
  'profiles',
]);

function ctx(kind: string): MTpl {
  return { kind, text: null, objects: [], flags: [] };
}

/** Statements read from tokens; null = not one of them (go to the parser). */
function handRead(st: LexStatement, o: ClassifyOpts, depth: number): MResult | null {
  const tk = tokens(st.code);
  const w0 = tk[0];
  if (!w0 || w0.t !== 'w') return null;
  const end = (k: number): boolean => k === tk.length;
  switch (w0.v) {
    case 'prepare': {
      const name = nameTok(tk[1]);
      if (!name || !isWord(tk[2], 'from') || !tk[3] || !end(4)) throw new Refusal('PREPARE: expected PREPARE name FROM \'…\' or @variable');
      const t: MTpl = { ...ctx('PREPARE'), flags: ['dynamic-sql'], prepare: name };
      if (tk[3].t === 's') t.parts = [nested(strValue(tk[3], st), o, depth)];
      else if (tk[3].t !== 'v') throw new Refusal('PREPARE: expected a string or a user variable');
      return { tpl: t, modeSensitive: false };
    }
    case 'execute': {
      if (isWord(tk[1], 'immediate')) {
        // MariaDB: EXECUTE IMMEDIATE '…' | @v | expression.
        const t: MTpl = { ...ctx('EXECUTE'), flags: ['dynamic-sql'] };
        if (tk[2]?.t === 's' && (end(3) || isWord(tk[3], 'using'))) t.parts = [nested(strValue(tk[2], st), o, depth)];
        return { tpl: t, modeSensitive: false };
      }
      const name = nameTok(tk[1]);
      if (!name || !(end(2) || isWord(tk[2], 'using'))) throw new Refusal('EXECUTE: expected EXECUTE name [USING …]');
      for (let k = 3; k < tk.length; k++) if (tk[k]!.t !== 'v' && tk[k]!.v !== ',') throw new Refusal('EXECUTE … USING takes user variables');
      return { tpl: { ...ctx('EXECUTE'), exec: name }, modeSensitive: false };
    }
    case 'deallocate':
    case 'drop': {
      if (!isWord(tk[1], 'prepare')) return null;
      const name = nameTok(tk[2]);
      if (!name || !end(3)) throw new Refusal('DEALLOCATE PREPARE: expected a name');
      return { tpl: { ...ctx('DEALLOCATE'), deallocate: name }, modeSensitive: false };
    }
    case 'savepoint':
      if (nameTok(tk[1]) && end(2)) return { tpl: ctx('SAVEPOINT'), modeSensitive: false };
      return null;
    case 'release':
      if (isWord(tk[1], 'savepoint') && nameTok(tk[2]) && end(3)) return { tpl: ctx('RELEASE'), modeSensitive: false };
      return null;
    case 'rollback': {
      let k = 1;
      if (isWord(tk[k], 'work')) k++;
      if (!isWord(tk[k], 'to')) return null;
      k++;
      if (isWord(tk[k], 'savepoint')) k++;
      if (nameTok(tk[k]) && end(k + 1)) return { tpl: ctx('ROLLBACK'), modeSensitive: false };
      return null;
    }
    case 'kill': {
      let k = 1;
      if (isWord(tk[k], 'query', 'connection')) k++;
      if (tk[k]?.t === 'w' && /^\d+$/.test(tk[k]!.v) && end(k + 1)) return { tpl: ctx('KILL'), modeSensitive: false };
      return null;
    }
    case 'set': {
      let k = 1;
      if (isWord(tk[k], 'global', 'session', 'local')) k++;
      if (isWord(tk[k], 'transaction')) {
        for (let j = k + 1; j < tk.length; j++) if (tk[j]!.t !== 'w' && tk[j]!.v !== ',') return null;
        return { tpl: ctx('SET'), modeSensitive: false };
      }
      if (isWord(tk[1], 'names') || isWord(tk[1], 'charset') || (isWord(tk[1], 'character') && isWord(tk[2], 'set'))) {
        const at = isWord(tk[1], 'character') ? 3 : 2;
        const cs = tk[at];
        if (!cs || (cs.t !== 'w' && cs.t !== 's' && cs.t !== 'q')) return null;
        if (UNSAFE_CHARSETS.test(strValue(cs, st).toLowerCase())) throw new Refusal(`character set ${cs.v} is not supported (backslash escaping differs)`);
        let j = at + 1;
        if (isWord(tk[j], 'collate') && tk[j + 1] && tk[j + 1]!.t !== 'p') j += 2;
        if (end(j)) return { tpl: ctx('SET'), modeSensitive: false };
        return null;
      }
      return null;
    }
    case 'show': {
      const words = tk.slice(1);
      let objectAt = -1;
      for (let k = 0; k < words.length; k++) {
        const t = words[k]!;
        if (t.t === 'w' && SHOW_SIMPLE.has(t.v)) continue;
        if (t.t === 'w' && ['columns', 'fields', 'index', 'indexes', 'keys'].includes(t.v) && isWord(words[k + 1], 'from', 'in')) {
          objectAt = k + 2;
          break;
        }
        if (isWord(t, 'like') && words[k + 1]?.t === 's' && k + 2 === words.length) break;
        if (isWord(t, 'limit')) {
          if (words.slice(k + 1).every((x) => (x.t === 'w' && /^\d+$/.test(x.v)) || x.v === ',')) break;
          return null;
        }
        if (t.v === 'count' && words[k + 1]?.v === '(' && words[k + 2]?.v === '*' && words[k + 3]?.v === ')') {
          k += 3;
          continue;
        }
        return null;
      }
      const t = ctx('SHOW');
      if (isWord(words[0], 'warnings', 'errors')) {
        // Level, Code, Message: a message can quote a value the statement read (a failed cast), from any column.
        t.sources = [{ column: '*' }];
        t.columns = [[], [], [{ column: '*' }]];
      }
      if (objectAt >= 0) {
        let table = nameTok(words[objectAt]);
        let k = objectAt + 1;
        let db: string | null = null;
        if (words[k]?.v === '.' && nameTok(words[k + 1])) {
          db = table;
          table = nameTok(words[k + 1]);
          k += 2;
        }
        if (!table) return null;
        if (isWord(words[k], 'from', 'in')) {
          db = nameTok(words[k + 1]);
          if (!db) return null;
          k += 2;
        }
        if (isWord(words[k], 'like') && words[k + 1]?.t === 's') k += 2;
        if (k !== words.length) return null;
        // Names read by hand keep the scan's case (unquoted were lower-cased).
        t.objects.push(db ? `${db}.${table}` : table);
      }
      return { tpl: t, modeSensitive: false };
    }
  }
  return null;
}

// ---------------------------------------------------------------- AST walk

interface Walk {
  objects: string[];
  flags: string[];
  /** CTE names in scope. */
  ctes: Set<string>[];
}

function inCte(name: string, w: Walk): boolean {
  for (const s of w.ctes) if (s.has(name)) return true;
  return false;
}

/** A table reference: { db, table } where table is a string (not a column reference). */
function isTableRef(x: N): boolean {
  return typeof x.table === 'string' && 'db' in x && x.type !== 'column_ref';
}

function tableRef(x: N, w: Walk): void {
  if (!x.db && inCte(x.table, w)) return;
  addObject(w.objects, qual(x.db, x.table));
}

function walk(x: N, w: Walk): void {
  if (x === null || typeof x !== 'object') return;
  if (Array.isArray(x)) {
    for (const e of x) walk(e, w);
    return;
  }
  if (Array.isArray(x.with) && x.with.length > 0) {
    // CTE bodies see the outer scope (a later sibling's name there is reported as a table: stricter).
    const names = new Set<string>();
    for (const c of x.with) {
      walk(c.stmt, w);
      const nm = c?.name?.value ?? c?.name;
      if (typeof nm === 'string') names.add(nm);
    }
    const inner: Walk = { objects: w.objects, flags: w.flags, ctes: [...w.ctes, names] };
    for (const k in x) if (k !== 'with') walk(x[k], inner);
    return;
  }
  if (isTableRef(x)) tableRef(x, w);
  if (x.type === 'function') {
    const fname = funcName(x);
    if (fname === 'load_file') addFlag(w.flags, 'file-access');
  }
  if (x.type === 'into' || (x.into && typeof x.into === 'object' && /^(OUTFILE|DUMPFILE)$/i.test(String(x.into.keyword ?? '')))) {
    const kw = String((x.type === 'into' ? x.keyword : x.into.keyword) ?? '');
    if (/^(OUTFILE|DUMPFILE)$/i.test(kw)) addFlag(w.flags, 'file-access');
  }
  for (const k in x) {
    const v = x[k];
    if (v !== null && typeof v === 'object') walk(v, w);
  }
}

function funcName(x: N): string {
  const parts = x?.name?.name;
  if (Array.isArray(parts)) return parts.map((p: N) => String(p?.value ?? '')).join('.').toLowerCase();
  return String(x?.name ?? '').toLowerCase();
}

// ---------------------------------------------------------------- WHERE

interface Val {
  /** Depends on the target row. */
  dep: boolean;
  known: boolean;
  /** true / false / null (SQL NULL). */
  v?: boolean | number | string | null;
}
const DEP: Val = { dep: true, known: false };
const CONST: Val = { dep: false, known: false };

function truthy(v: Val['v']): boolean | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  return null; // a string's truth needs MySQL's conversion: unknown
}

function hasDep(x: N): boolean {
  if (x === null || typeof x !== 'object') return false;
  if (Array.isArray(x)) return x.some(hasDep);
  if (x.type === 'column_ref') return true;
  for (const k in x) if (hasDep(x[k])) return true;
  return false;
}

function colKey(x: N): string | null {
  if (x?.type !== 'column_ref') return null;
  const t = typeof x.table === 'string' ? x.table : x.table?.value ?? '';
  const c = typeof x.column === 'string' ? x.column : x.column?.expr?.value ?? null;
  return c === null ? null : `${t}.${c}`;
}

function evalExpr(x: N): Val {
  if (x === null || x === undefined) return CONST;
  if (typeof x !== 'object') return CONST;
  switch (x.type) {
    case 'number':
      return typeof x.value === 'number' ? { dep: false, known: true, v: x.value } : CONST;
    case 'bool':
      return { dep: false, known: true, v: !!x.value };
    case 'null':
      return { dep: false, known: true, v: null };
    case 'single_quote_string':
    case 'double_quote_string':
      return { dep: false, known: true, v: String(x.value) };
    case 'column_ref':
      return DEP;
    case 'unary_expr':
      if (/^(NOT|!)$/i.test(String(x.operator))) return not(evalExpr(x.expr));
      return hasDep(x) ? DEP : CONST;
    case 'function':
      if (funcName(x) === 'not' && x.args?.value?.length === 1) return not(evalExpr(x.args.value[0]));
      return hasDep(x) ? DEP : CONST;
    case 'expr_list':
      if (Array.isArray(x.value) && x.value.length === 1) return evalExpr(x.value[0]);
      return hasDep(x) ? DEP : CONST;
    case 'binary_expr':
      return binary(String(x.operator).toUpperCase(), x.left, x.right, x);
  }
  return hasDep(x) ? DEP : CONST;
}

function not(a: Val): Val {
  if (a.dep) return DEP;
  if (!a.known) return CONST;
  const t = truthy(a.v);
  return t === null ? (a.v === null ? { dep: false, known: true, v: null } : CONST) : { dep: false, known: true, v: !t };
}

function binary(op: string, l: N, r: N, whole: N): Val {
  if (op === 'AND' || op === '&&') {
    const a = evalExpr(l);
    const b = evalExpr(r);
    if ((a.known && truthy(a.v) === false) || (b.known && truthy(b.v) === false)) return { dep: false, known: true, v: false };
    if (a.dep || b.dep) return DEP;
    if (a.known && b.known && truthy(a.v) === true && truthy(b.v) === true) return { dep: false, known: true, v: true };
    return CONST;
  }
  if (op === 'OR' || op === '||') {
    const a = evalExpr(l);
    const b = evalExpr(r);
    if ((a.known && truthy(a.v) === true) || (b.known && truthy(b.v) === true)) return { dep: false, known: true, v: true };
    if (a.dep || b.dep) return DEP;
    if (a.known && b.known && truthy(a.v) === false && truthy(b.v) === false) return { dep: false, known: true, v: false };
    return CONST;
  }
  if (op === 'XOR') {
    const a = evalExpr(l);
    const b = evalExpr(r);
    return a.dep || b.dep ? DEP : CONST;
  }
  if (['=', '<=>', '>=', '<='].includes(op)) {
    // x = x holds for every row (where x is not NULL): treat it as unbounded.
    const kl = colKey(l);
    if (kl !== null && kl === colKey(r)) return { dep: false, known: true, v: true };
  }
  const a = evalExpr(l);
  const b = evalExpr(r);
  if (a.dep || b.dep || hasDep(whole)) return DEP;
  if (!a.known || !b.known) return CONST;
  const x = a.v;
  const y = b.v;
  if (op === 'IS' || op === 'IS NOT') {
    if (y === null) return { dep: false, known: true, v: op === 'IS' ? x === null : x !== null };
    return CONST;
  }
  if (x === null || y === null) return op === '<=>' ? { dep: false, known: true, v: x === y } : { dep: false, known: true, v: null };
  const cmp = (p: number, q: number): boolean | null => {
    switch (op) {
      case '=':
      case '<=>':
        return p === q;
      case '<>':
      case '!=':
        return p !== q;
      case '<':
        return p < q;
      case '>':
        return p > q;
      case '<=':
        return p <= q;
      case '>=':
        return p >= q;
    }
    return null;
  };
  if (typeof x === 'number' && typeof y === 'number') {
    const v = cmp(x, y);
    return v === null ? CONST : { dep: false, known: true, v };
  }
  if (typeof x === 'boolean' && typeof y === 'boolean') {
    const v = cmp(+x, +y);
    return v === null ? CONST : { dep: false, known: true, v };
  }
  if (typeof x === 'string' && typeof y === 'string' && x === y) {
    const v = cmp(0, 0);
    return v === null ? CONST : { dep: false, known: true, v };
  }
  return CONST;
}

/** Unbounded: no condition, or one that does not restrict rows (constant-true, or row-independent and not known false). */
function unboundedWhere(where: N): boolean {
  if (where === null || where === undefined) return true;
  const v = evalExpr(where);
  if (v.dep) return false;
  if (v.known) return truthy(v.v) !== false && v.v !== null;
  return true;
}

// ---------------------------------------------------------------- statements

const KINDS: Record<string, string> = {
  select: 'SELECT',
  insert: 'INSERT',
  replace: 'REPLACE',
  update: 'UPDATE',
  delete: 'DELETE',
  drop: 'DROP',
  create: 'CREATE',
  alter: 'ALTER',
  rename: 'ALTER',
  truncate: 'TRUNCATE',
  grant: 'GRANT',
  revoke: 'REVOKE',
  set: 'SET',
  show: 'SHOW',
  use: 'USE',
  call: 'CALL',
  load_data: 'LOAD',
  lock: 'LOCK',
  unlock: 'UNLOCK',
  desc: 'DESCRIBE',
  explain: 'EXPLAIN',
};

function kindOf(ast: N): string {
  const type = String(ast?.type ?? '');
  if (type === 'transaction') {
    const a = String(ast?.expr?.action?.value ?? '').toLowerCase();
    if (a === 'begin' || a === 'start') return 'BEGIN';
    if (a === 'commit') return 'COMMIT';
    if (a === 'rollback') return 'ROLLBACK';
    throw new Refusal(`unknown transaction statement ${a}`);
  }
  const k = KINDS[type];
  if (k) return k;
  if (!/^[a-z_]+$/.test(type)) throw new Refusal('unknown statement');
  return type.toUpperCase();
}

/** The parser did not understand the text (as opposed to a refusal for a reason of ours). */
class SyntaxRefusal extends Refusal {}

function parse(code: string): N {
  let lastError: unknown = null;
  for (let p = 0; p < parsers.length; p++) {
    try {
      const ast = parsers[p]!.astify(code, PARSE_OPT[p]);
      const list = Array.isArray(ast) ? ast : [ast];
      if (list.length !== 1) throw new Refusal('the parser saw several statements where the scan saw one');
      return list[0];
    } catch (e) {
      if (e instanceof Refusal) throw e;
      lastError = e;
    }
  }
  const msg = lastError instanceof Error ? lastError.message : String(lastError);
  throw new SyntaxRefusal(`syntax not understood: ${msg.length > 200 ? msg.slice(0, 200) + '…' : msg}`);
}

function fromAst(ast: N): MTpl {
  const kind = kindOf(ast);
  const t = ctx(kind);
  const w: Walk = { objects: t.objects, flags: t.flags, ctes: [] };
  const type = ast.type;
  if (type === 'drop' && typeof ast.name === 'string') addObject(t.objects, ident(ast.name)); // DROP DATABASE d
  else if (type === 'use' && typeof ast.db === 'string') addObject(t.objects, ident(ast.db));
  else if (type === 'desc' && typeof ast.table === 'string') addObject(t.objects, ident(ast.table));
  else if (type === 'create' && ast.keyword === 'database') {
    for (const s of ast.database?.schema ?? []) addObject(t.objects, typeof s?.value === 'string' ? ident(s.value) : null);
  } else if ((type === 'grant' || type === 'revoke') && ast.on) {
    for (const pl of ast.on.priv_level ?? []) {
      if (typeof pl?.name === 'string') addObject(t.objects, pl.prefix ? `${ident(pl.prefix)}.${ident(pl.name)}` : ident(pl.name));
    }
  }
  walk(ast, w);
  if (type === 'delete' || type === 'update') {
    if (unboundedWhere(ast.where)) addFlag(t.flags, 'unbounded');
  }
  if (type === 'truncate') addFlag(t.flags, 'unbounded');
  const src = mysqlStatementSources(ast);
  if (src !== undefined && src.sources.length > 0) {
    t.sources = src.sources;
    if (src.columns) t.columns = src.columns;
  }
  const copies = mysqlStatementCopies(ast);
  if (copies !== undefined) t.copies = copies;
  if (type === 'load_data') addFlag(t.flags, 'file-access');
  if (type === 'call') {
    addFlag(t.flags, 'dynamic-sql');
    // A copy of whatever the procedure is known to carry (the session's catalog lineage says).
    t.copies ??= [];
  }
  // A trigger's body is code that runs later: judged as any statement.
  if (type === 'create' && ast.keyword === 'trigger') {
    addFlag(t.flags, 'dynamic-sql');
    t.copies = [{ column: '*' }];
  }
  if (type === 'set') {
    for (const e of ast.expr ?? []) {
      const name = String(e?.left?.name ?? '').toLowerCase();
      const bare = name.replace(/^(session|global|local)\./, '');
      if (bare === 'sql_mode') t.sqlMode = true;
      if (/^character_set_(client|connection)$/.test(bare) || bare === 'names') {
        const v = e?.right?.value;
        if (typeof v === 'string' && UNSAFE_CHARSETS.test(v.toLowerCase())) throw new Refusal(`character set ${v} is not supported (backslash escaping differs)`);
      }
    }
  }
  return t;
}

function statementTpl(st: LexStatement, o: ClassifyOpts, depth: number): MTpl {
  const hand = handRead(st, o, depth);
  if (hand) return hand.tpl;
  // SET of a character set by any other spelling: refuse the risky ones.
  if (/^set\b/.test(st.code) && /\b(big5|cp932|gbk|gb18030|sjis)\b/.test(st.code)) throw new Refusal('character set not supported (backslash escaping differs)');
  // SET STATEMENT … FOR (MariaDB) and anything else naming sql_mode we cannot read: refuse rather than lose track.
  let ast: N;
  try {
    ast = parse(st.code);
  } catch (e) {
    // Only what the parser could not read goes to the strict recogniser; other refusals stand.
    if (e instanceof SyntaxRefusal) {
      const fb = fallbackMysql(st.code, st.text);
      if (fb) return fb;
    }
    throw e;
  }
  const t = fromAst(ast);
  if (!t.sqlMode && /\bsql_mode\b/.test(st.code) && t.kind === 'SET') t.sqlMode = true;
  return t;
}

export interface ClassifyOpts extends LexOptions {}

function errorTpl(message: string): MTpl {
  return { kind: 'UNKNOWN', text: null, objects: [], flags: ['parse-error'], error: message };
}

function nested(sql: string, o: ClassifyOpts, depth: number): MTpl {
  if (depth >= MAX_DEPTH) throw new Refusal('dynamic SQL nested too deep');
  const r = classifyInner(sql, o, depth + 1);
  if (r.tpl.error !== undefined) throw new Refusal(`dynamic SQL text: ${r.tpl.error}`);
  if (r.modeSensitive) throw new Refusal('dynamic SQL text whose literals depend on the backslash-escape mode');
  return r.tpl.text === null ? { ...r.tpl, text: sql } : r.tpl;
}

function addFlagDeep(t: MTpl, flag: string): MTpl {
  const out: MTpl = { ...t, flags: t.flags.includes(flag) ? t.flags : [...t.flags, flag] };
  if (t.parts) out.parts = t.parts.map((p) => addFlagDeep(p, flag));
  return out;
}

function classifyInner(text: string, o: ClassifyOpts, depth: number): MResult {
  let lex;
  try {
    lex = lexMysql(text, o);
  } catch (e) {
    if (e instanceof LexError) return { tpl: errorTpl(e.message), modeSensitive: false };
    throw e;
  }
  const sts = lex.statements;
  if (sts.length === 0) return { tpl: { kind: 'EMPTY', text: null, objects: [], flags: [] }, modeSensitive: lex.modeSensitive };
  try {
    if (sts.length === 1) return { tpl: statementTpl(sts[0]!, o, depth), modeSensitive: lex.modeSensitive };
    const parts = sts.map((s) => addFlagDeep({ ...statementTpl(s, o, depth), text: s.text }, 'multi-statement'));
    return { tpl: { kind: 'MULTI', text: null, objects: [], flags: ['multi-statement'], parts }, modeSensitive: lex.modeSensitive };
  } catch (e) {
    if (e instanceof Refusal) return { tpl: errorTpl(e.message), modeSensitive: lex.modeSensitive };
    // Parser bugs, stack overflows: refuse rather than guess.
    return { tpl: errorTpl(`statement could not be classified: ${e instanceof Error ? e.message : String(e)}`), modeSensitive: lex.modeSensitive };
  }
}

/** Classify a whole text (one statement or several). */
export function fullClassifyMysql(text: string, o: ClassifyOpts): MResult {
  return classifyInner(text, o, 0);
}

// ---------------------------------------------------------------- fallback: statements the parser does not know

/**
 * A strict recogniser for a few statement forms node-sql-parser rejects
 * (FLUSH, OPTIMIZE / ANALYZE / CHECK / REPAIR TABLE, account statements,
 * HANDLER, DO, XA, CREATE PROCEDURE / FUNCTION / TRIGGER / EVENT). Used only
 * when the parser failed, on the canonical code the parser saw (one
 * statement of the pre-scan). The whole text must match; anything else is
 * null (the caller refuses). `original` is the statement as sent: one that
 * holds a version comment (`/*!`, `/*M!`) is never accepted here.
 */
export function fallbackMysql(code: string, original: string = code): MTpl | null {
  try {
    if (/\/\*M?!/i.test(original)) return null;
    if (!plainCode(code)) return null;
    const tk = tokens(code);
    return recognise(tk, code);
  } catch {
    return null;
  }
}

/** Outside '…' and `…`: no statement separator, comment marker, other quote, backslash or control character. */
function plainCode(code: string): boolean {
  // Whitespace to JavaScript but a name character to the server (U+00A0, U+2028 …): the tokens would differ.
  if (/[^\S\t\n\v\f\r ]/.test(code)) return false;
  const rest = code.replace(/'[^']*'|`(?:[^`]|``)*`/g, ' ');
  return !/[;#"'`\\\x00-\x08\x0e-\x1f\x7f]|\/\*|\*\/|--/.test(rest);
}

/** Reads a token list from the front; every method returns false / null without consuming on a mismatch. */
class Reader {
  k = 0;
  constructor(readonly tk: Tok[]) {}
  get done(): boolean {
    return this.k === this.tk.length;
  }
  peek(off = 0): Tok | undefined {
    return this.tk[this.k + off];
  }
  word(...ws: string[]): string | null {
    const t = this.tk[this.k];
    if (t && t.t === 'w' && ws.includes(t.v)) {
      this.k++;
      return t.v;
    }
    return null;
  }
  /** A sequence of words, all or none. */
  words(...ws: string[]): boolean {
    for (let j = 0; j < ws.length; j++) if (!isWord(this.tk[this.k + j], ws[j]!)) return false;
    this.k += ws.length;
    return true;
  }
  punct(p: string): boolean {
    const t = this.tk[this.k];
    if (t && t.t === 'p' && t.v === p) {
      this.k++;
      return true;
    }
    return false;
  }
  str(): string | null {
    const t = this.tk[this.k];
    if (t && t.t === 's') {
      this.k++;
      return t.v;
    }
    return null;
  }
  num(): boolean {
    const t = this.tk[this.k];
    if (t && t.t === 'w' && /^\d+$/.test(t.v)) {
      this.k++;
      return true;
    }
    return false;
  }
  /** An identifier: a plain word (not all digits) or a backquoted name. */
  ident(): string | null {
    const t = this.tk[this.k];
    if (!t) return null;
    if (t.t === 'q' && t.v !== '') {
      this.k++;
      return t.v;
    }
    if (t.t === 'w' && !/^\d+$/.test(t.v) && /^[a-z0-9_$\u0080-\uffff]+$/.test(t.v)) {
      this.k++;
      return t.v;
    }
    return null;
  }
  /** name or db.name, named as elsewhere (db.table). */
  qualified(): string | null {
    const save = this.k;
    const a = this.ident();
    if (a === null) return null;
    if (this.punct('.')) {
      const b = this.ident();
      if (b === null) {
        this.k = save;
        return null;
      }
      return `${a}.${b}`;
    }
    return a;
  }
  /** One or more items separated by commas. */
  list<T>(item: () => T | null): T[] | null {
    const out: T[] = [];
    const save = this.k;
    for (;;) {
      const x = item();
      if (x === null) {
        this.k = save;
        return null;
      }
      out.push(x);
      if (!this.punct(',')) return out;
    }
  }
  /** An account: user, 'user', `user`, with an optional @host; CURRENT_USER[()]. */
  account(): string | null {
    const save = this.k;
    if (this.word('current_user')) {
      if (this.punct('(') && !this.punct(')')) {
        this.k = save;
        return null;
      }
      return 'current_user';
    }
    const t = this.tk[this.k];
    if (!t) return null;
    let name: string | null = null;
    if (t.t === 's') name = t.v;
    else name = this.ident();
    if (name === null) return null;
    if (t.t === 's') this.k++;
    const at = this.tk[this.k];
    if (at && at.t === 'v') {
      if (at.v === '@') {
        const h = this.tk[this.k + 1];
        if (!h || (h.t !== 's' && h.t !== 'q' && !(h.t === 'w' && /^[a-z0-9_$.%-]+$/.test(h.v)))) {
          this.k = save;
          return null;
        }
        this.k += 2;
      } else if (/^@[a-z0-9_$.]+$/.test(at.v)) this.k++;
      else {
        this.k = save;
        return null;
      }
    }
    return name;
  }
}

const FLUSH_SIMPLE = new Set([
  'privileges',
  'hosts',
  'logs',
  'status',
  'user_resources',
  'optimizer_costs',
  'des_key_file',
  'ssl',
  'client_statistics',
  'index_statistics',
  'table_statistics',
  'user_statistics',
  'user_variables',
]);
const FLUSH_LOGS = new Set(['binary', 'engine', 'error', 'general', 'relay', 'slow']);

function recognise(tk: Tok[], code: string): MTpl | null {
  const r = new Reader(tk);
  const w0 = r.word('flush', 'optimize', 'analyze', 'check', 'repair', 'drop', 'create', 'alter', 'rename', 'set', 'handler', 'do', 'xa');
  if (w0 === null) return null;
  let t: MTpl | null = null;
  switch (w0) {
    case 'flush':
      t = flush(r);
      break;
    case 'optimize':
    case 'analyze':
    case 'check':
    case 'repair':
      t = tableMaintenance(r, w0);
      break;
    case 'drop':
      t = dropAccount(r);
      break;
    case 'create':
      t = createAccountOrRoutine(r);
      break;
    case 'alter':
      t = alterUser(r);
      break;
    case 'rename':
      t = renameUser(r);
      break;
    case 'set':
      t = setPassword(r);
      break;
    case 'handler':
      t = handler(r);
      break;
    case 'do':
      return doStatement(code);
    case 'xa':
      t = xa(r);
      break;
  }
  // The whole statement must have been read.
  return t !== null && r.done ? t : null;
}

function flush(r: Reader): MTpl | null {
  r.word('no_write_to_binlog', 'local');
  const t = ctx('FLUSH');
  if (r.word('tables', 'table')) {
    if (r.words('with', 'read', 'lock') || r.words('for', 'export')) return t;
    if (!r.done) {
      const names = r.list(() => r.qualified());
      if (!names) return null;
      for (const n of names) addObject(t.objects, n);
      if (!r.words('with', 'read', 'lock')) r.words('for', 'export');
    }
    return t;
  }
  const opts = r.list(() => {
    const x = r.peek();
    if (x?.t !== 'w') return null;
    if (FLUSH_SIMPLE.has(x.v)) {
      r.k++;
      return x.v;
    }
    if (FLUSH_LOGS.has(x.v) && isWord(r.peek(1), 'logs')) {
      r.k += 2;
      if (x.v === 'relay' && r.words('for', 'channel') && !r.ident()) return null;
      return x.v;
    }
    if (r.words('query', 'cache')) return 'query';
    return null;
  });
  return opts ? t : null;
}

function tableMaintenance(r: Reader, w0: string): MTpl | null {
  if (w0 !== 'check') r.word('no_write_to_binlog', 'local');
  if (!r.word('table', 'tables')) return null;
  const names = r.list(() => r.qualified());
  if (!names) return null;
  const t = ctx(w0.toUpperCase());
  for (const n of names) addObject(t.objects, n);
  if (w0 === 'check') {
    while (!r.done) if (!(r.words('for', 'upgrade') || r.word('quick', 'fast', 'medium', 'extended', 'changed'))) return null;
  } else if (w0 === 'repair') {
    while (!r.done) if (!r.word('quick', 'extended', 'use_frm')) return null;
  } else if (w0 === 'analyze') {
    r.words('persistent', 'for', 'all');
  }
  return t;
}

function dropAccount(r: Reader): MTpl | null {
  if (!r.word('user', 'role')) return null;
  r.words('if', 'exists');
  return r.list(() => r.account()) ? ctx('DROP') : null;
}

/** IDENTIFIED BY [PASSWORD] '…' | IDENTIFIED WITH|VIA plugin [BY|AS|USING '…'] (absent: true). */
function authOption(r: Reader): boolean {
  if (!r.word('identified')) return true;
  if (r.word('by')) {
    r.word('password');
    return r.str() !== null;
  }
  if (r.word('with', 'via')) {
    if (r.ident() === null && r.str() === null) return false;
    if (r.word('by', 'as', 'using')) return r.str() !== null;
    return true;
  }
  return false;
}

/** Account options after the user list: ACCOUNT LOCK|UNLOCK, PASSWORD EXPIRE […], REQUIRE NONE. */
function accountTail(r: Reader): boolean {
  while (!r.done) {
    if (r.word('account')) {
      if (!r.word('lock', 'unlock')) return false;
    } else if (r.words('password', 'expire')) {
      if (r.word('interval')) {
        if (!r.num() || !r.word('day')) return false;
      } else r.word('default', 'never');
    } else if (!r.words('require', 'none')) return false;
  }
  return true;
}

function userWithAuth(r: Reader): string | null {
  const a = r.account();
  if (a === null) return null;
  return authOption(r) ? a : null;
}

function createAccountOrRoutine(r: Reader): MTpl | null {
  r.words('or', 'replace');
  if (r.word('user')) {
    r.words('if', 'not', 'exists');
    if (!r.list(() => userWithAuth(r))) return null;
    return accountTail(r) ? ctx('CREATE') : null;
  }
  if (r.word('role')) {
    r.words('if', 'not', 'exists');
    if (!r.list(() => r.account())) return null;
    if (r.words('with', 'admin') && !r.word('current_role') && r.account() === null) return null;
    return ctx('CREATE');
  }
  return routine(r);
}

/** CREATE [OR REPLACE] [DEFINER = …] PROCEDURE|FUNCTION|TRIGGER|EVENT … (after CREATE [OR REPLACE]). */
function routine(r: Reader): MTpl | null {
  if (r.word('definer')) {
    if (!r.punct('=')) return null;
    if (r.account() === null && !r.word('current_role')) return null;
  }
  const what = r.word('procedure', 'function', 'aggregate', 'trigger', 'event');
  if (what === null) return null;
  if (what === 'aggregate' && !r.word('function')) return null;
  r.words('if', 'not', 'exists');
  const name = r.qualified();
  if (name === null) return null;
  // Its body is not read: it may hand any column on (Command.copies), so column rules refuse it.
  const t: MTpl = { ...ctx('CREATE'), flags: ['dynamic-sql'], copies: [{ column: '*' }] };
  addObject(t.objects, name);
  if (what === 'trigger') {
    if (!r.word('before', 'after') || !r.word('insert', 'update', 'delete') || !r.word('on')) return null;
    const table = r.qualified();
    if (table === null || !r.words('for', 'each', 'row')) return null;
    addObject(t.objects, table);
    if (r.word('follows', 'precedes') && r.qualified() === null) return null;
  } else if (what === 'event') {
    if (!r.words('on', 'schedule')) return null;
  } else if (!r.punct('(')) return null;
  // The body: code that runs later, judged as any statement (dynamic-sql). It must be there, and
  // every token in it plain (no separator, quote or comment marker: checked on the whole text first).
  const rest = r.tk.slice(r.k);
  if (rest.length === 0) return null;
  // A user-defined function from a shared library (… SONAME 'x.so') is not a routine: refuse.
  if (rest.some((x) => isWord(x, 'soname'))) return null;
  if (what === 'event' && !rest.some((x) => isWord(x, 'do'))) return null;
  for (const x of rest) if (x.t === 'p' && x.v === ';') return null;
  r.k = r.tk.length;
  return t;
}

function alterUser(r: Reader): MTpl | null {
  if (!r.word('user')) return null;
  r.words('if', 'exists');
  const one = (): string | null => {
    if (r.word('user')) {
      if (!r.punct('(') || !r.punct(')')) return null;
      return authOption(r) ? 'user()' : null;
    }
    return userWithAuth(r);
  };
  if (!r.list(one)) return null;
  return accountTail(r) ? ctx('ALTER') : null;
}

function renameUser(r: Reader): MTpl | null {
  if (!r.word('user')) return null;
  const pairs = r.list(() => (r.account() !== null && r.word('to') && r.account() !== null ? 'pair' : null));
  return pairs ? ctx('ALTER') : null;
}

function setPassword(r: Reader): MTpl | null {
  if (!r.word('password')) return null;
  if (r.word('for') && r.account() === null) return null;
  if (!r.punct('=')) return null;
  if (r.str() === null) {
    if (!r.word('password', 'old_password') || !r.punct('(') || r.str() === null || !r.punct(')')) return null;
  }
  return ctx('SET');
}

/** A constant for HANDLER … READ index op (…): a string or an optionally negative integer. */
function literal(r: Reader): string | null {
  if (r.str() !== null) return 's';
  r.punct('-');
  return r.num() ? 'n' : null;
}

function handler(r: Reader): MTpl | null {
  const table = r.qualified();
  if (table === null) return null;
  const t = ctx('HANDLER');
  addObject(t.objects, table);
  if (r.word('open')) {
    if (r.word('as')) return r.ident() !== null ? t : null;
    if (!r.done) r.ident();
    return t;
  }
  if (r.word('close')) return t;
  if (!r.word('read')) return null;
  if (!r.word('first', 'next')) {
    // index_name { FIRST | NEXT | PREV | LAST } | index_name { = | <= | >= | < | > } (values)
    if (r.ident() === null) return null;
    if (!r.word('first', 'next', 'prev', 'last')) {
      const op = r.peek();
      if (!op || op.t !== 'p' || !['=', '<', '>'].includes(op.v)) return null;
      r.k++;
      if ((op.v === '<' || op.v === '>') && r.peek()?.v === '=') r.k++;
      if (!r.punct('(') || !r.list(() => literal(r)) || !r.punct(')')) return null;
    }
  }
  if (r.word('limit')) {
    if (!r.num()) return null;
    if ((r.punct(',') || r.word('offset')) && !r.num()) return null;
  }
  return t;
}

/** DO expr[, expr]: read as SELECT expr[, expr] by the parser (objects, file access), with nothing after the list. */
function doStatement(code: string): MTpl | null {
  const body = code.replace(/^do\b/, '');
  if (body.trim() === '') return null;
  let ast: N;
  try {
    ast = parse(`select ${body}`);
  } catch {
    return null;
  }
  if (ast?.type !== 'select' || ast.from || ast.where || ast.groupby || ast.having || ast.into?.position || ast._next || ast.set_op) return null;
  if (ast.orderby || (ast.limit && Array.isArray(ast.limit.value) && ast.limit.value.length > 0)) return null;
  const t = fromAst(ast);
  return { ...t, kind: 'DO' };
}

function xid(r: Reader): boolean {
  const part = (): boolean => {
    if (r.str() !== null) return true;
    const x = r.peek();
    if (x?.t === 'w' && (x.v === 'x' || x.v === 'b') && r.peek(1)?.t === 's') {
      r.k += 2;
      return true;
    }
    if (x?.t === 'w' && /^(0x[0-9a-f]+|\d+)$/.test(x.v)) {
      r.k++;
      return true;
    }
    return false;
  };
  if (!part()) return false;
  if (r.punct(',')) {
    if (!part()) return false;
    if (r.punct(',') && !r.num()) return false;
  }
  return true;
}

function xa(r: Reader): MTpl | null {
  const t = ctx('XA');
  const verb = r.word('start', 'begin', 'end', 'prepare', 'commit', 'rollback', 'recover');
  if (verb === null) return null;
  if (verb === 'recover') {
    if (r.word('format')) return r.punct('=') && r.str() !== null ? t : null;
    r.words('convert', 'xid');
    return t;
  }
  if (!xid(r)) return null;
  if (verb === 'start' || verb === 'begin') r.word('join', 'resume');
  else if (verb === 'end') {
    if (r.word('suspend')) r.words('for', 'migrate');
  } else if (verb === 'commit') r.words('one', 'phase');
  return t;
}
