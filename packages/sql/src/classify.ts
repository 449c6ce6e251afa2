/**
 * The full parse: PostgreSQL SQL text → classification template, using the
 * real PostgreSQL parser (libpg-query). Costs tens of microseconds; the cache
 * in index.ts makes sure it runs once per statement shape.
 */
import { parsePlPgSQLSync, parseSync, scanSync } from 'libpg-query';
import { ANY_COPY, statementCopies, statementRows, statementSources } from './sources.js';
import { body, deferred, type Tpl } from './tpl.js';
import { type EvalEnv, unboundedCondition } from './where.js';

// The parse tree is plain JSON; its TypeScript types (@pgsql/types) are of
// little help for a generic walk.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type N = any;

/** Nested SQL (EXECUTE strings, function bodies) is followed this deep, then treated as dynamic. */
const MAX_DEPTH = 4;

/** Functions that run SQL given as a string, or read tables named by a string. */
const DYNAMIC_FUNCS = new Set([
  'dblink',
  'dblink_exec',
  'dblink_send_query',
  'dblink_open',
  'query_to_xml',
  'query_to_xmlschema',
  'query_to_xml_and_xmlschema',
  'table_to_xml',
  'table_to_xmlschema',
  'table_to_xml_and_xmlschema',
  'schema_to_xml',
  'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema',
  'database_to_xml',
  'database_to_xmlschema',
  'database_to_xml_and_xmlschema',
  'ts_stat',
  'crosstab',
  'crosstab2',
  'crosstab3',
  'crosstab4',
  'connectby',
  'xpath_table',
]);

/** Functions that touch the server's file system. */
const FILE_FUNCS = new Set([
  'pg_read_file',
  'pg_read_binary_file',
  'pg_ls_dir',
  'pg_stat_file',
  'lo_import',
  'lo_export',
  'pg_file_write',
  'pg_file_rename',
  'pg_file_unlink',
  'pg_file_sync',
  'pg_logdir_ls',
  'pg_ls_logdir',
  'pg_ls_waldir',
  'pg_ls_tmpdir',
  'pg_ls_archive_statusdir',
  'pg_ls_logicalsnapdir',
  'pg_ls_logicalmapdir',
  'pg_ls_replslotdir',
]);

const KINDS: Record<string, string> = {
  SelectStmt: 'SELECT',
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
  TruncateStmt: 'TRUNCATE',
  CopyStmt: 'COPY',
  DoStmt: 'DO',
  CallStmt: 'CALL',
  VariableShowStmt: 'SHOW',
  ExplainStmt: 'EXPLAIN',
  ListenStmt: 'LISTEN',
  UnlistenStmt: 'UNLISTEN',
  NotifyStmt: 'NOTIFY',
  LockStmt: 'LOCK',
  DiscardStmt: 'DISCARD',
  DeallocateStmt: 'DEALLOCATE',
  PrepareStmt: 'PREPARE',
  ExecuteStmt: 'EXECUTE',
  RefreshMatViewStmt: 'REFRESH',
  CommentStmt: 'COMMENT',
  SecLabelStmt: 'SECURITY LABEL',
  CheckPointStmt: 'CHECKPOINT',
  LoadStmt: 'LOAD',
  ClusterStmt: 'CLUSTER',
  ReindexStmt: 'REINDEX',
  DeclareCursorStmt: 'DECLARE',
  ClosePortalStmt: 'CLOSE',
  ReassignOwnedStmt: 'REASSIGN OWNED',
  DropOwnedStmt: 'DROP',
  ConstraintsSetStmt: 'SET',
  AlterDefaultPrivilegesStmt: 'ALTER',
  ImportForeignSchemaStmt: 'IMPORT',
  IndexStmt: 'CREATE',
  ViewStmt: 'CREATE',
  RuleStmt: 'CREATE',
  DefineStmt: 'CREATE',
  CompositeTypeStmt: 'CREATE',
  CreatedbStmt: 'CREATE',
  RenameStmt: 'ALTER',
  ReplicaIdentityStmt: 'ALTER',
  ReturnStmt: 'RETURN',
  PLAssignStmt: 'SET',
};

const TRANSACTION_KINDS: Record<string, string> = {
  TRANS_STMT_BEGIN: 'BEGIN',
  TRANS_STMT_START: 'BEGIN',
  TRANS_STMT_COMMIT: 'COMMIT',
  TRANS_STMT_ROLLBACK: 'ROLLBACK',
  TRANS_STMT_SAVEPOINT: 'SAVEPOINT',
  TRANS_STMT_RELEASE: 'RELEASE',
  TRANS_STMT_ROLLBACK_TO: 'ROLLBACK',
  TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
  TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
  TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
};

function kindOf(type: string): string {
  const k = KINDS[type];
  if (k) return k;
  if (type.startsWith('Create')) return 'CREATE';
  if (type.startsWith('Alter')) return 'ALTER';
  if (type.startsWith('Drop')) return 'DROP';
  return type.replace(/Stmt$/, '').toUpperCase();
}

/** State shared by one full classification (including nested SQL). */
interface Shared {
  /** The result depends on literal values: cache by exact text only. */
  sensitive: boolean;
  scs: boolean;
  depth: number;
}

/** One judged unit under construction. */
interface Ctx {
  sh: Shared;
  kind: string;
  objects: string[];
  flags: string[];
  /** Parts found inside (data-modifying CTEs, EXPLAIN ANALYZE, DO bodies …), flat. */
  nested: Tpl[];
  /** CTE names in scope, innermost last. */
  ctes: Set<string>[];
  /** PL/pgSQL variables and function parameters: row-independent in conditions. */
  vars: Set<string> | null;
  /** The statement's text as given to the parser (for the PL/pgSQL parser). */
  stmtText: string;
  exec?: string;
  deallocate?: string;
  scs?: boolean;
  cursor?: Tpl['cursor'];
  fetch?: string;
  closeCursor?: string;
  /** A body (function, DO) holds code that cannot be read: it may copy any column. */
  opaque?: boolean;
}

function typeOf(n: N): string | null {
  if (n === null || typeof n !== 'object' || Array.isArray(n)) return null;
  const keys = Object.keys(n);
  if (keys.length !== 1) return null;
  const c = keys[0]!.charCodeAt(0);
  return c >= 65 && c <= 90 ? keys[0]! : null;
}

function sval(n: N): string | undefined {
  const s = n?.String?.sval;
  return typeof s === 'string' ? s : undefined;
}

function names(list: N): string[] {
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const x of list) {
    const s = sval(x);
    if (s !== undefined) out.push(s);
  }
  return out;
}

function addObject(c: Ctx, name: string | undefined): void {
  if (name && !c.objects.includes(name)) c.objects.push(name);
}

function addFlag(c: Ctx, flag: string): void {
  if (!c.flags.includes(flag)) c.flags.push(flag);
}

function qualName(rv: N): string | undefined {
  if (!rv || typeof rv.relname !== 'string') return undefined;
  return [rv.catalogname, rv.schemaname, rv.relname].filter((x) => typeof x === 'string' && x.length > 0).join('.');
}

function inCteScope(name: string, c: Ctx): boolean {
  for (const s of c.ctes) if (s.has(name)) return true;
  return false;
}

/** A relation referenced in a query: skip references to CTEs in scope. */
function rangeVar(rv: N, c: Ctx): void {
  if (!rv.schemaname && !rv.catalogname && inCteScope(rv.relname, c)) return;
  addObject(c, qualName(rv));
}

/** A relation that is the target of the statement: always a real relation. */
function target(rv: N, c: Ctx): void {
  addObject(c, qualName(rv));
}

function newCtx(sh: Shared, stmtText: string, ctes: Set<string>[], vars: Set<string> | null): Ctx {
  return { sh, kind: 'UNKNOWN', objects: [], flags: [], nested: [], ctes: ctes.slice(), vars, stmtText };
}

/** Push a statement template into a flat part list (its own parts spread, unless it carries session effects). */
function pushFlat(list: Tpl[], t: Tpl): void {
  const hasEffects = t.exec !== undefined || t.prepare !== undefined || t.deallocate !== undefined || t.scs;
  if (t.parts && !hasEffects) {
    // Parts without a text of their own take their parent's, which flattening drops.
    for (const p of t.parts) pushFlat(list, p.text === null && t.text !== null ? { ...p, text: t.text } : p);
  } else list.push(t);
}

// ---------------------------------------------------------------- generic walk

function walk(x: N, c: Ctx): void {
  if (x === null || typeof x !== 'object') return;
  if (Array.isArray(x)) {
    for (const e of x) walk(e, c);
    return;
  }
  const type = typeOf(x);
  if (type !== null) {
    walkNode(type, x[type], x, c);
    return;
  }
  if (typeof x.relname === 'string') {
    rangeVar(x, c); // a RangeVar embedded without its type wrapper
    return;
  }
  for (const k in x) walk(x[k], c);
}

function walkNode(type: string, b: N, wrapper: N, c: Ctx): void {
  switch (type) {
    case 'RangeVar':
      rangeVar(b, c);
      return;
    case 'SelectStmt':
      walkSelect(b, c);
      return;
    case 'FuncCall':
      funcCall(b, c);
      return;
    case 'String':
    case 'Integer':
    case 'Float':
    case 'Boolean':
    case 'BitString':
    case 'A_Const':
    case 'ColumnRef':
    case 'ParamRef':
    case 'TypeName':
      return;
    default:
      if (type.endsWith('Stmt')) {
        // A statement inside a statement: a data-modifying CTE, a rule
        // action, a schema element, CREATE TABLE AS EXECUTE … Judged on its own.
        nestedStatement(wrapper, c);
        return;
      }
      for (const k in b) walk(b[k], c);
  }
}

function nestedStatement(node: N, c: Ctx): void {
  pushFlat(c.nested, classifyStatement(node, c.sh, c.stmtText, c.ctes, c.vars));
}

function withScope(w: N, c: Ctx, body: () => void): void {
  const ctes: N[] = w?.ctes ?? [];
  if (ctes.length === 0) {
    body();
    return;
  }
  const all: string[] = ctes.map((x) => x?.CommonTableExpr?.ctename).filter((x): x is string => typeof x === 'string');
  ctes.forEach((x, i) => {
    const cte = x?.CommonTableExpr;
    if (!cte) return;
    c.ctes.push(new Set(w.recursive ? all : all.slice(0, i)));
    const q = cte.ctequery;
    if (typeOf(q) === 'SelectStmt') walkSelect(q.SelectStmt, c);
    else walk(q, c); // data-modifying: becomes a part
    c.ctes.pop();
  });
  c.ctes.push(new Set(all));
  try {
    body();
  } finally {
    c.ctes.pop();
  }
}

function walkSelect(b: N, c: Ctx): void {
  if (!b || typeof b !== 'object') return;
  withScope(b.withClause, c, () => {
    for (const k in b) {
      if (k === 'withClause') continue;
      if (k === 'larg' || k === 'rarg') walkSelect(b[k], c);
      else if (k === 'intoClause') target(b.intoClause?.rel, c);
      else walk(b[k], c);
    }
  });
}

function funcCall(b: N, c: Ctx): void {
  const fn = names(b.funcname);
  const name = fn[fn.length - 1];
  if (name !== undefined) {
    if (DYNAMIC_FUNCS.has(name) || (name === 'ts_rewrite' && (b.args ?? []).length === 2)) addFlag(c, 'dynamic-sql');
    if (FILE_FUNCS.has(name)) addFlag(c, 'file-access');
    if (name === 'set_config') c.scs = true;
  }
  for (const k in b) if (k !== 'funcname') walk(b[k], c);
}

/** Names that qualify the target's columns in a condition. */
function targetEnv(rv: N, c: Ctx): EvalEnv {
  const targets = new Set<string>();
  if (rv?.relname) {
    targets.add(rv.relname);
    const q = qualName(rv);
    if (q) targets.add(q);
    if (rv.schemaname) targets.add(`${rv.schemaname}.${rv.relname}`);
  }
  const alias = rv?.alias?.aliasname;
  if (typeof alias === 'string') targets.add(alias);
  return { targets, vars: c.vars, sensitive: false };
}

function unbounded(cond: N, rv: N, c: Ctx): boolean {
  const env = targetEnv(rv, c);
  const u = unboundedCondition(cond, env);
  if (env.sensitive) c.sh.sensitive = true;
  return u;
}

// ---------------------------------------------------------------- object names

/** The name of an object in DROP/COMMENT/ALTER … OWNER and friends. */
function objectName(o: N, objtype: string | undefined): string | undefined {
  const t = typeOf(o);
  if (t === 'String') return o.String.sval;
  if (t === 'List') {
    const parts = names(o.List.items);
    // DROP TRIGGER trg ON s.t, DROP POLICY, DROP RULE: the table is what matters.
    if (objtype === 'OBJECT_TRIGGER' || objtype === 'OBJECT_RULE' || objtype === 'OBJECT_POLICY') parts.pop();
    return parts.length ? parts.join('.') : undefined;
  }
  if (t === 'ObjectWithArgs') return names(o.ObjectWithArgs.objname).join('.') || undefined;
  if (t === 'TypeName') return names(o.TypeName.names).join('.') || undefined;
  if (t === 'RangeVar') return qualName(o.RangeVar);
  return undefined;
}

// ---------------------------------------------------------------- statements

function assemble(c: Ctx): Tpl {
  const own: Tpl = { kind: c.kind, text: null, objects: c.objects, flags: c.flags };
  if (c.exec !== undefined) own.exec = c.exec;
  if (c.deallocate !== undefined) own.deallocate = c.deallocate;
  if (c.scs) own.scs = true;
  if (c.cursor !== undefined) own.cursor = c.cursor;
  if (c.fetch !== undefined) own.fetch = c.fetch;
  if (c.closeCursor !== undefined) own.closeCursor = c.closeCursor;
  if (c.nested.length === 0) return own;
  return { kind: c.kind, text: null, objects: [], flags: [], parts: [own, ...c.nested] };
}

/** Classify one statement node (wrapped, e.g. {DeleteStmt: …}). */
export function classifyStatement(
  node: N,
  sh: Shared,
  stmtText: string,
  ctes: Set<string>[] = [],
  vars: Set<string> | null = null,
): Tpl {
  const type = typeOf(node);
  if (type === null) return { kind: 'UNKNOWN', text: null, objects: [], flags: ['parse-error'], error: 'empty statement node' };
  const b = node[type] ?? {};
  const c = newCtx(sh, stmtText, ctes, vars);
  c.kind = kindOf(type);
  switch (type) {
    case 'SelectStmt':
      if (b.intoClause) c.kind = 'CREATE'; // SELECT … INTO new_table
      walkSelect(b, c);
      break;
    case 'InsertStmt':
      withScope(b.withClause, c, () => {
        target(b.relation, c);
        for (const k in b) if (k !== 'withClause' && k !== 'relation') walk(b[k], c);
      });
      break;
    case 'UpdateStmt':
    case 'DeleteStmt':
      withScope(b.withClause, c, () => {
        target(b.relation, c);
        for (const k in b) if (k !== 'withClause' && k !== 'relation') walk(b[k], c);
        if (unbounded(b.whereClause, b.relation, c)) addFlag(c, 'unbounded');
      });
      break;
    case 'MergeStmt':
      withScope(b.withClause, c, () => {
        target(b.relation, c);
        for (const k in b) if (k !== 'withClause' && k !== 'relation') walk(b[k], c);
        if (mergeUnbounded(b, c)) addFlag(c, 'unbounded');
      });
      break;
    case 'TruncateStmt':
      for (const r of b.relations ?? []) target(r?.RangeVar, c);
      addFlag(c, 'unbounded');
      break;
    case 'DropStmt':
      for (const o of b.objects ?? []) addObject(c, objectName(o, b.removeType));
      break;
    case 'DropdbStmt':
    case 'CreatedbStmt':
      addObject(c, b.dbname);
      break;
    case 'CommentStmt':
    case 'SecLabelStmt':
    case 'AlterOwnerStmt':
    case 'AlterObjectSchemaStmt':
    case 'RenameStmt':
      if (b.relation) target(b.relation, c);
      if (b.object) addObject(c, objectName(b.object, b.objtype ?? b.objectType ?? b.renameType));
      break;
    case 'GrantStmt':
      c.kind = b.is_grant ? 'GRANT' : 'REVOKE';
      for (const o of b.objects ?? []) {
        const name = objectName(o, b.objtype);
        addObject(c, name && b.targtype === 'ACL_TARGET_ALL_IN_SCHEMA' ? `${name}.*` : name);
      }
      break;
    case 'GrantRoleStmt':
      c.kind = b.is_grant ? 'GRANT' : 'REVOKE';
      break;
    case 'CopyStmt': {
      if (b.relation) target(b.relation, c);
      const q = b.query;
      if (typeOf(q) === 'SelectStmt') walkSelect(q.SelectStmt, c);
      else if (q) nestedStatement(q, c); // COPY (DELETE … RETURNING …) TO …
      walk(b.whereClause, c);
      if (b.is_program) addFlag(c, 'copy-program');
      else {
        // The parse tree omits empty strings: COPY t TO '' looks like TO STDOUT.
        // The flag depends on a literal's value, so the result is not shared by shape.
        c.sh.sensitive = true;
        if (typeof b.filename === 'string') addFlag(c, 'file-access');
      }
      break;
    }
    case 'LoadStmt':
    case 'CreateTableSpaceStmt':
      addFlag(c, 'file-access');
      break;
    case 'CallStmt': {
      addFlag(c, 'dynamic-sql');
      const fc = b.funccall;
      if (fc) {
        addObject(c, names(fc.funcname).join('.'));
        funcCall(fc, c);
      }
      break;
    }
    case 'DoStmt':
      doStmt(b, c);
      break;
    case 'CreateFunctionStmt':
      createFunction(b, c);
      break;
    case 'ExplainStmt':
      explain(b, c);
      break;
    case 'PrepareStmt': {
      const inner = b.query ? classifyStatement(b.query, sh, stmtText, c.ctes, vars) : assemble(c);
      return { ...inner, prepare: typeof b.name === 'string' ? b.name : '' };
    }
    case 'ExecuteStmt':
      c.exec = typeof b.name === 'string' ? b.name : '';
      walk(b.params, c);
      break;
    case 'DeallocateStmt':
      c.deallocate = b.isall ? '' : typeof b.name === 'string' ? b.name : '';
      break;
    case 'DiscardStmt':
      if (b.target === 'DISCARD_ALL') {
        c.deallocate = '';
        c.closeCursor = '';
        c.scs = true;
      }
      break;
    case 'VariableSetStmt':
      c.kind = typeof b.kind === 'string' && b.kind.startsWith('VAR_RESET') ? 'RESET' : 'SET';
      if (b.kind === 'VAR_RESET_ALL' || b.name === 'standard_conforming_strings') c.scs = true;
      walk(b.args, c);
      break;
    case 'TransactionStmt':
      c.kind = TRANSACTION_KINDS[b.kind] ?? 'TRANSACTION';
      // A rollback (to a savepoint, too) closes the cursors declared since: forget them all.
      if (b.kind === 'TRANS_STMT_ROLLBACK' || b.kind === 'TRANS_STMT_ROLLBACK_TO' || b.kind === 'TRANS_STMT_PREPARE') c.closeCursor = '';
      break;
    case 'VacuumStmt':
      c.kind = b.is_vacuumcmd ? 'VACUUM' : 'ANALYZE';
      walk(b.rels, c);
      break;
    case 'ClosePortalStmt':
      c.closeCursor = typeof b.portalname === 'string' ? b.portalname : '';
      break;
    case 'FetchStmt':
      c.kind = b.ismove ? 'MOVE' : 'FETCH';
      if (!b.ismove && typeof b.portalname === 'string') c.fetch = b.portalname;
      break;
    case 'DeclareCursorStmt': {
      for (const k in b) walk(b[k], c);
      const q = b.query;
      const inner = q ? Object.keys(q)[0] : undefined;
      const src = inner ? statementSources(inner, q[inner]) : undefined;
      if (typeof b.portalname === 'string') {
        c.cursor = { name: b.portalname };
        if (src !== undefined && src.sources.length > 0) {
          c.cursor.sources = src.sources;
          if (src.columns) c.cursor.columns = src.columns;
        }
      }
      break;
    }
    case 'RuleStmt':
      target(b.relation, c);
      walk(b.whereClause, c);
      // Rule actions run later, whenever the rule fires.
      for (const a of b.actions ?? []) pushFlat(c.nested, deferred(classifyStatement(a, sh, stmtText, [], vars)));
      break;
    case 'CreateSchemaStmt':
      addObject(c, b.schemaname);
      walk(b.schemaElts, c); // CREATE TABLE, GRANT … inside: parts
      break;
    case 'CreateTableAsStmt':
      target(b.into?.rel, c);
      if (typeOf(b.query) === 'SelectStmt') walkSelect(b.query.SelectStmt, c);
      else walk(b.query, c); // … AS EXECUTE p: a part
      break;
    case 'ViewStmt':
      target(b.view, c);
      walk(b.query, c);
      break;
    default:
      for (const k in b) walk(b[k], c);
  }
  const t = assemble(c);
  const src = statementSources(type, b);
  if (src !== undefined && src.sources.length > 0) {
    const own = t.parts ? t.parts[0]! : t;
    own.sources = src.sources;
    if (src.columns) own.columns = src.columns;
  }
  const own = t.parts ? t.parts[0]! : t;
  const copies = c.opaque ? ANY_COPY : statementCopies(type, b);
  if (copies !== undefined) own.copies = copies;
  const rows = statementRows(type, b);
  if (rows !== undefined) own.rows = rows;
  return t;
}

function mergeUnbounded(b: N, c: Ctx): boolean {
  const whens: N[] = (b.mergeWhenClauses ?? []).map((w: N) => w?.MergeWhenClause).filter(Boolean);
  const writes = whens.filter((w) => w.commandType === 'CMD_UPDATE' || w.commandType === 'CMD_DELETE');
  if (writes.length === 0) return false;
  const joinAll = unbounded(b.joinCondition, b.relation, c);
  for (const w of writes) {
    const cond = w.condition;
    if (w.matchKind === 'MERGE_WHEN_NOT_MATCHED_BY_SOURCE') {
      // Every target row without a source match: unrestricted unless the clause restricts it.
      if (unbounded(cond, b.relation, c)) return true;
    } else if (joinAll && unbounded(cond, b.relation, c)) return true;
  }
  return false;
}

function explain(b: N, c: Ctx): void {
  const analyze = (b.options ?? []).some((o: N) => o?.DefElem?.defname === 'analyze');
  if (!b.query) return;
  const inner = classifyStatement(b.query, c.sh, c.stmtText, c.ctes, c.vars);
  for (const o of allObjects(inner)) addObject(c, o);
  // EXPLAIN ANALYZE runs the statement.
  if (analyze) pushFlat(c.nested, inner);
}

function allObjects(t: Tpl, out: string[] = []): string[] {
  for (const o of t.objects) if (!out.includes(o)) out.push(o);
  if (t.parts) for (const p of t.parts) allObjects(p, out);
  return out;
}

// ---------------------------------------------------------------- DO, functions, PL/pgSQL

function defElems(list: N): Map<string, N> {
  const m = new Map<string, N>();
  for (const x of list ?? []) {
    const d = x?.DefElem;
    if (d && typeof d.defname === 'string') m.set(d.defname, d.arg);
  }
  return m;
}

/** Body code that cannot be read: dynamic SQL, and it may copy any column. */
function opaque(c: Ctx): void {
  addFlag(c, 'dynamic-sql');
  c.opaque = true;
}

function doStmt(b: N, c: Ctx): void {
  addFlag(c, 'dynamic-sql');
  c.sh.sensitive = true; // the body is a literal
  const args = defElems(b.args);
  const lang = sval(args.get('language')) ?? 'plpgsql';
  const code = sval(args.get('as'));
  if (lang.toLowerCase() !== 'plpgsql' || code === undefined) return opaque(c);
  if (!c.sh.scs && code.includes('\\')) return opaque(c); // cannot be sure how its strings are read
  plpgsqlBody(c, false);
}

function createFunction(b: N, c: Ctx): void {
  c.sh.sensitive = true; // the body and language are literals
  addObject(c, names(b.funcname).join('.'));
  const vars = new Set<string>(c.vars ?? []);
  for (const p of b.parameters ?? []) {
    const name = p?.FunctionParameter?.name;
    if (typeof name === 'string') vars.add(name);
  }
  if (b.sql_body) {
    // BEGIN ATOMIC … END / RETURN expr: already parsed.
    const stmts: N[] = [];
    collectStatements(b.sql_body, stmts);
    for (const s of stmts) pushFlat(c.nested, deferred(classifyStatement(s, c.sh, c.stmtText, [], vars)));
    return;
  }
  const opts = defElems(b.options);
  const lang = (sval(opts.get('language')) ?? 'sql').toLowerCase();
  const as = opts.get('as');
  const body = typeOf(as) === 'List' ? names(as.List.items) : [];
  if (body.length === 0) return; // no body (CREATE FUNCTION … without AS is an error anyway)
  if (!c.sh.scs && body.some((s) => s.includes('\\'))) {
    opaque(c);
    return;
  }
  if (lang === 'sql' && body.length === 1) {
    const t = classifyNested(body[0]!, c, vars);
    if (t === null) opaque(c);
    else pushFlat(c.nested, deferred(t));
  } else if (lang === 'plpgsql' && body.length === 1) {
    plpgsqlBody(c, true, vars);
  } else {
    opaque(c); // C, plpython, internal …: opaque
  }
}

function collectStatements(x: N, out: N[]): void {
  if (x === null || typeof x !== 'object') return;
  if (Array.isArray(x)) {
    for (const e of x) collectStatements(e, out);
    return;
  }
  const t = typeOf(x);
  if (t !== null && t.endsWith('Stmt')) {
    out.push(x);
    return;
  }
  for (const k in x) collectStatements(x[k], out);
}

/** Classify SQL found inside SQL (a function body, an EXECUTE string). null when it does not parse. */
function classifyNested(sql: string, c: Ctx, vars: Set<string> | null): Tpl | null {
  if (c.sh.depth >= MAX_DEPTH) return null;
  const r = fullClassifyInner(sql, c.sh.scs, c.sh.depth + 1, vars);
  if (r.error) return null;
  if (r.sensitive) c.sh.sensitive = true;
  const t = r.tpl;
  if (t.kind === 'EMPTY') return { kind: 'EMPTY', text: sql, objects: [], flags: [] };
  // Several statements in a body or an EXECUTE string are normal there: the
  // 'multi-statement' flag is about what the client sent.
  if (t.kind === 'MULTI') return { ...t, text: sql, flags: [], parts: t.parts!.map((p) => removeFlagDeep(p, 'multi-statement')) };
  return t.text === null ? { ...t, text: sql } : t;
}

function removeFlagDeep(t: Tpl, flag: string): Tpl {
  const out: Tpl = { ...t, flags: t.flags.filter((f) => f !== flag) };
  if (t.parts) out.parts = t.parts.map((p) => removeFlagDeep(p, flag));
  return out;
}

/** Parse the PL/pgSQL body of the DO or CREATE FUNCTION statement in c.stmtText; add its SQL as parts. */
function plpgsqlBody(c: Ctx, isDeferred: boolean, fnVars: Set<string> | null = null): void {
  let res: N;
  try {
    res = parsePlPgSQLSync(c.stmtText);
  } catch {
    opaque(c);
    return;
  }
  const fn = res?.plpgsql_funcs?.[0]?.PLpgSQL_function;
  if (!fn) {
    opaque(c);
    return;
  }
  const vars = new Set<string>(fnVars ?? c.vars ?? []);
  for (const d of fn.datums ?? []) {
    const t = typeOf(d);
    const name = t ? d[t]?.refname : undefined;
    if (typeof name === 'string') vars.add(name);
  }
  const add = (t: Tpl): void => pushFlat(c.nested, isDeferred ? deferred(t) : body(t));
  walkPl(fn, '', '', c, vars, add);
}

const DYNAMIC_SLOTS = new Set(['PLpgSQL_stmt_dynexecute.query', 'PLpgSQL_stmt_dynfors.query']);

function walkPl(x: N, parent: string, key: string, c: Ctx, vars: Set<string>, add: (t: Tpl) => void): void {
  if (x === null || typeof x !== 'object') return;
  if (Array.isArray(x)) {
    for (const e of x) walkPl(e, parent, key, c, vars, add);
    return;
  }
  const keys = Object.keys(x);
  if (keys.length === 1 && keys[0]!.startsWith('PLpgSQL_')) {
    const type = keys[0]!;
    const body = x[type];
    if (type === 'PLpgSQL_expr') {
      const dynamic = key === 'dynquery' || DYNAMIC_SLOTS.has(`${parent}.${key}`);
      plExpr(body, dynamic, c, vars, add);
      return;
    }
    for (const k in body) walkPl(body[k], type, k, c, vars, add);
    return;
  }
  for (const k in x) walkPl(x[k], parent, k, c, vars, add);
}

/** Byte offset → UTF-16 index. */
function byteIndex(text: string, byteOff: number): number {
  if (!/[^\x00-\x7f]/.test(text)) return byteOff;
  let b = 0;
  for (let i = 0; i < text.length; i++) {
    if (b >= byteOff) return i;
    const cp = text.codePointAt(i)!;
    b += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (cp >= 0x10000) i++;
  }
  return text.length;
}

/** Code point offset → UTF-16 index. */
function codePointIndex(text: string, cp: number): number {
  let i = 0;
  for (let k = 0; k < cp && i < text.length; k++) i += text.codePointAt(i)! >= 0x10000 ? 2 : 1;
  return i;
}

/** `target := expr` (or `target = expr`) → expr. */
function assignedExpression(query: string): string | null {
  let toks;
  try {
    toks = scanSync(query).tokens;
  } catch {
    return null;
  }
  let depth = 0;
  for (const t of toks) {
    if (t.text === '(' || t.text === '[') depth++;
    else if (t.text === ')' || t.text === ']') depth--;
    else if (depth === 0 && (t.text === ':=' || t.text === '=')) return query.slice(byteIndex(query, t.end));
  }
  return null;
}

function plExpr(e: N, dynamic: boolean, c: Ctx, vars: Set<string>, add: (t: Tpl) => void): void {
  const query: string | undefined = e?.query;
  if (typeof query !== 'string') return;
  const mode: number = e.parseMode ?? 0;
  if (dynamic) {
    // EXECUTE <expr>: judged by its text only when the text is a constant.
    const sql = constantString(query);
    const t = sql === null ? null : classifyNested(sql, c, vars);
    if (t === null) opaque(c);
    else if (t.kind !== 'EMPTY') add(t);
    return;
  }
  if (mode === 1) return; // a type name
  let sql: string;
  if (mode === 0) sql = query;
  else {
    const expr = mode === 2 ? query : assignedExpression(query);
    if (expr === null) {
      opaque(c);
      return;
    }
    sql = `SELECT ${expr}`;
  }
  const t = classifyNested(sql, c, vars);
  if (t === null) {
    opaque(c);
    return;
  }
  if (t.kind === 'EMPTY') return;
  // An expression is worth a part only when it touches something.
  if (mode !== 0 && t.objects.length === 0 && t.flags.length === 0 && !t.parts) return;
  add(t);
}

/** The value of a constant string expression ('…', '…' || '…', '…'::text), or null. */
function constantString(expr: string): string | null {
  let parsed: N;
  try {
    parsed = parseSync(`SELECT ${expr}`);
  } catch {
    return null;
  }
  const stmts = parsed?.stmts ?? [];
  if (stmts.length !== 1) return null;
  const sel = stmts[0]?.stmt?.SelectStmt;
  if (!sel || sel.fromClause || sel.whereClause || (sel.targetList ?? []).length !== 1) return null;
  return constValue(sel.targetList[0]?.ResTarget?.val);
}

function constValue(n: N): string | null {
  const t = typeOf(n);
  if (t === 'A_Const') return typeof n.A_Const.sval?.sval === 'string' ? n.A_Const.sval.sval : n.A_Const.sval ? '' : null;
  if (t === 'TypeCast') {
    const tn = names(n.TypeCast.typeName?.names);
    const last = tn[tn.length - 1];
    return last === 'text' || last === 'varchar' ? constValue(n.TypeCast.arg) : null;
  }
  if (t === 'A_Expr' && n.A_Expr.kind === 'AEXPR_OP' && names(n.A_Expr.name).join('.') === '||') {
    const l = constValue(n.A_Expr.lexpr);
    const r = constValue(n.A_Expr.rexpr);
    return l === null || r === null ? null : l + r;
  }
  return null;
}

// ---------------------------------------------------------------- whole texts

export interface FullResult {
  tpl: Tpl;
  /** The classification read literal values: do not share it across texts of the same shape. */
  sensitive: boolean;
  error: boolean;
}

function errorTpl(message: string): FullResult {
  return { tpl: { kind: 'UNKNOWN', text: null, objects: [], flags: ['parse-error'], error: message }, sensitive: false, error: true };
}

/**
 * With standard_conforming_strings off, PostgreSQL reads '…' like E'…'
 * (backslash escapes), but libpg-query always reads it as on. Both readings
 * agree up to the first plain literal that holds a backslash; we find that
 * literal with libpg-query's own scanner and make it an E'' literal
 * (inserting " E" before it), so that from there on libpg-query reads what
 * the server reads; then the next one, and so on.
 *
 * To find the literal around a backslash without scanning the rest of the
 * text (which may not scan in the wrong reading), we scan the prefix ending
 * at the backslash plus a closing quote: if that backslash is inside a plain
 * literal, the last token is that literal.
 */
function rewriteForScsOff(text: string): { text: string; inserts: number[] } | { error: string } {
  let t = text;
  const inserts: number[] = [];
  let from = 0;
  for (let guard = 0; guard < 1000; guard++) {
    const b = t.indexOf('\\', from);
    if (b < 0) return { text: t, inserts };
    const prefix = t.slice(0, b + 1) + "'";
    let toks;
    try {
      toks = scanSync(prefix).tokens;
    } catch {
      toks = null; // not inside a plain literal (E'', dollar quote, comment, identifier …)
    }
    const last = toks?.[toks.length - 1];
    if (last && last.tokenName === 'SCONST' && last.text.startsWith("'") && byteIndex(prefix, last.end) === prefix.length) {
      const at = byteIndex(prefix, last.start);
      if (at > 0 && /[A-Za-z0-9_$\x80-\uffff]/.test(t[at - 1]!)) {
        return { error: 'a prefixed string literal holds a backslash while standard_conforming_strings is off' };
      }
      t = t.slice(0, at) + ' E' + t.slice(at);
      inserts.push(at);
      from = b + 3;
    } else {
      from = b + 1;
    }
  }
  return { error: 'too many backslashes for standard_conforming_strings off' };
}

/** Map an index in the rewritten text back to the original. */
function origIndex(i: number, inserts: number[] | null): number {
  if (!inserts) return i;
  let shift = 0;
  for (const at of inserts) {
    if (i >= at + 2) shift += 2;
    else if (i >= at) return at - shift;
  }
  return i - shift;
}

function errorMessage(e: unknown, text: string, parseText: string, inserts: number[] | null): string {
  const err = e as { message?: string; sqlDetails?: { cursorPosition?: number } };
  const msg = err?.message ?? String(e);
  const pos = err?.sqlDetails?.cursorPosition;
  // PostgreSQL's cursor position counts characters (code points), not bytes.
  if (typeof pos === 'number' && pos >= 0) {
    const at = origIndex(codePointIndex(parseText, pos), inserts);
    return `${msg} (at character ${[...text.slice(0, at)].length + 1})`;
  }
  return msg;
}

function addFlagDeep(t: Tpl, flag: string): Tpl {
  const out: Tpl = { ...t, flags: t.flags.includes(flag) ? t.flags : [...t.flags, flag] };
  if (t.parts) out.parts = t.parts.map((p) => addFlagDeep(p, flag));
  return out;
}

function fullClassifyInner(text: string, scs: boolean, depth: number, vars: Set<string> | null): FullResult {
  if (text.trim() === '') return { tpl: { kind: 'EMPTY', text: null, objects: [], flags: [] }, sensitive: false, error: false };
  let parseText = text;
  let inserts: number[] | null = null;
  if (!scs && text.includes('\\')) {
    const r = rewriteForScsOff(text);
    if ('error' in r) return errorTpl(r.error);
    parseText = r.text;
    inserts = r.inserts.length ? r.inserts : null;
  }
  let parsed: N;
  try {
    parsed = parseSync(parseText);
  } catch (e) {
    return errorTpl(errorMessage(e, text, parseText, inserts));
  }
  const stmts: N[] = parsed?.stmts ?? [];
  const sh: Shared = { sensitive: false, scs, depth };
  if (stmts.length === 0) return { tpl: { kind: 'EMPTY', text: null, objects: [], flags: [] }, sensitive: false, error: false };
  if (stmts.length === 1) {
    const tpl = classifyStatement(stmts[0].stmt, sh, parseText, [], vars);
    return { tpl, sensitive: sh.sensitive, error: false };
  }
  const parts: Tpl[] = [];
  for (const s of stmts) {
    const loc: number = s.stmt_location ?? 0;
    const start = byteIndex(parseText, loc);
    const end = s.stmt_len ? byteIndex(parseText, loc + s.stmt_len) : parseText.length;
    const stmtParseText = parseText.slice(start, end).trim();
    const stmtText = text.slice(origIndex(start, inserts), origIndex(end, inserts)).trim();
    const t = classifyStatement(s.stmt, sh, stmtParseText, [], vars);
    parts.push(addFlagDeep({ ...t, text: stmtText }, 'multi-statement'));
  }
  return { tpl: { kind: 'MULTI', text: null, objects: [], flags: ['multi-statement'], parts }, sensitive: sh.sensitive, error: false };
}

/**
 * Classify a whole text with the real parser. `scs` is the session's
 * standard_conforming_strings.
 */
export function fullClassify(text: string, scs: boolean): FullResult {
  return fullClassifyInner(text, scs, 0, null);
}

/** Does the text hold a plain '…' literal with a backslash (read differently with standard_conforming_strings off)? */
export function hasBackslashLiteral(text: string): boolean {
  if (!text.includes('\\')) return false;
  try {
    return scanSync(text).tokens.some((x) => x.tokenName === 'SCONST' && !/^[eE$]/.test(x.text) && x.text.includes('\\'));
  } catch {
    return true; // cannot tell: assume the worst
  }
}
