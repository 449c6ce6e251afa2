/**
 * Does a DELETE/UPDATE/MERGE condition restrict the rows it touches?
 *
 * A condition is *unbounded* when it can hold for every row: no condition,
 * one that folds to true from constants alone (`true`, `1=1`, `'a'='a'`,
 * `NOT false`, `x OR true`), or one that does not depend on the target row at
 * all (`$1`, `now() > '2000-01-01'`, `EXISTS (SELECT 1 FROM other)`,
 * `other.flag` in a USING/FROM join) — such a condition is the same for
 * every row, so it selects all of them or none. `x = x` and
 * `x IS NULL OR x IS NOT NULL` count as unbounded too. This is best effort:
 * tautologies in general are undecidable (`id IN (SELECT id FROM t)`).
 *
 * The evaluator also reports whether its answer depended on the *values* of
 * string or numeric literals (`WHERE 1=1` vs `WHERE 1=2`): such statements
 * must not share a cache entry with others of the same shape.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type N = any;

/** Three-valued logic plus C (row-independent, value unknown) and R (depends on the row). */
export type Truth = 'T' | 'F' | 'N' | 'C' | 'R';

interface Val {
  /** Depends on the target row. */
  dep: boolean;
  /** Value known from constants. */
  known: boolean;
  /** Value derived from a string/numeric literal (whose value the cache shape erases). */
  lit: boolean;
  v?: unknown;
}

export interface EvalEnv {
  /** Names that qualify a target column: relation name, schema.relation, alias. */
  targets: Set<string>;
  /** PL/pgSQL variables and function parameters (row-independent). */
  vars: Set<string> | null;
  /** Set when a decision read a literal's value. */
  sensitive: boolean;
}

const DEP: Val = { dep: true, known: false, lit: false };
const CONST: Val = { dep: false, known: false, lit: false };

function known(v: unknown, lit: boolean): Val {
  return { dep: false, known: true, lit, v };
}

function typeOf(n: N): string | null {
  if (n === null || typeof n !== 'object' || Array.isArray(n)) return null;
  const keys = Object.keys(n);
  return keys.length === 1 ? keys[0]! : null;
}

function sval(n: N): string | undefined {
  return n?.String?.sval;
}

/** Does the row of the target table appear anywhere in this subtree? */
function mentionsRow(n: N, env: EvalEnv): boolean {
  if (n === null || typeof n !== 'object') return false;
  if (Array.isArray(n)) {
    for (const x of n) if (mentionsRow(x, env)) return true;
    return false;
  }
  if (n.ColumnRef) return columnDep(n.ColumnRef, env);
  if (n.CurrentOfExpr) return true;
  for (const k in n) if (mentionsRow(n[k], env)) return true;
  return false;
}

function columnDep(cr: N, env: EvalEnv): boolean {
  const fields: N[] = cr.fields ?? [];
  const names = fields.map((f) => sval(f));
  const first = names[0];
  if (first !== undefined && env.vars?.has(first)) return false; // a PL/pgSQL variable or record
  if (fields.length <= 1) return true; // unqualified column (or *): could be the target's
  const qual = names[names.length - 2];
  const full = names.slice(0, -1).join('.');
  if (qual === undefined) return true;
  return env.targets.has(qual) || env.targets.has(full);
}

function parseBool(s: string): boolean | null {
  const t = s.trim().toLowerCase();
  if (t.length === 0) return null;
  if ('true'.startsWith(t) || 'yes'.startsWith(t) || t === 'on' || t === '1') return true;
  if ('false'.startsWith(t) || 'no'.startsWith(t) || t === 'off' || t === '0' || 'of' === t) return false;
  return null;
}

/** Read a value for a decision (marks the result literal-sensitive). */
function read(v: Val, env: EvalEnv): unknown {
  if (v.lit) env.sensitive = true;
  return v.v;
}

function toTruth(v: Val, env: EvalEnv): Truth {
  if (v.dep) return 'R';
  if (!v.known) return 'C';
  const x = read(v, env);
  if (x === null) return 'N';
  if (typeof x === 'boolean') return x ? 'T' : 'F';
  if (typeof x === 'number') return x !== 0 ? 'T' : 'F';
  if (typeof x === 'string') {
    const b = parseBool(x);
    return b === null ? 'C' : b ? 'T' : 'F';
  }
  return 'C';
}

function fromTruth(t: Truth): Val {
  switch (t) {
    case 'T':
      return known(true, false);
    case 'F':
      return known(false, false);
    case 'N':
      return known(null, false);
    case 'C':
      return CONST;
    default:
      return DEP;
  }
}

function and(ts: Truth[]): Truth {
  if (ts.includes('F')) return 'F';
  if (ts.includes('N')) return 'N';
  if (ts.includes('R')) return 'R';
  if (ts.includes('C')) return 'C';
  return 'T';
}

function or(ts: Truth[]): Truth {
  if (ts.includes('T')) return 'T';
  if (ts.includes('C')) return 'C';
  if (ts.includes('R')) return 'R';
  if (ts.includes('N')) return 'N';
  return 'F';
}

function not(t: Truth): Truth {
  return t === 'T' ? 'F' : t === 'F' ? 'T' : t;
}

/** Same column reference on both sides (`x = x`): true for every non-null row. */
function sameColumn(a: N, b: N): boolean {
  if (!a?.ColumnRef || !b?.ColumnRef) return false;
  const fa = (a.ColumnRef.fields ?? []).map((f: N) => sval(f) ?? '*').join('.');
  const fb = (b.ColumnRef.fields ?? []).map((f: N) => sval(f) ?? '*').join('.');
  return fa === fb;
}

function compare(op: string, a: unknown, b: unknown): unknown {
  if (a === null || b === null) return null;
  let x: unknown = a;
  let y: unknown = b;
  if (typeof x !== typeof y) {
    // An untyped literal takes the other side's type.
    if (typeof x === 'number' && typeof y === 'string') y = y.trim() === '' ? NaN : Number(y);
    else if (typeof x === 'string' && typeof y === 'number') x = x.trim() === '' ? NaN : Number(x);
    else if (typeof x === 'boolean' && typeof y === 'string') y = parseBool(y);
    else if (typeof x === 'string' && typeof y === 'boolean') x = parseBool(x);
    else return undefined;
    if (x === null || y === null || (typeof x === 'number' && Number.isNaN(x)) || (typeof y === 'number' && Number.isNaN(y)))
      return undefined;
  }
  if (typeof x === 'string' && op !== '=' && op !== '<>' && op !== '!=') return undefined; // collation-dependent
  switch (op) {
    case '=':
      return x === y;
    case '<>':
    case '!=':
      return x !== y;
    case '<':
      return (x as number) < (y as number);
    case '>':
      return (x as number) > (y as number);
    case '<=':
      return (x as number) <= (y as number);
    case '>=':
      return (x as number) >= (y as number);
    default:
      return undefined;
  }
}

const BOOL_TYPES = new Set(['bool', 'boolean']);
const NUM_TYPES = new Set(['int2', 'int4', 'int8', 'integer', 'smallint', 'bigint', 'numeric', 'decimal', 'float4', 'float8', 'real']);
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'char', 'name']);

function evalNode(n: N, env: EvalEnv): Val {
  const type = typeOf(n);
  if (type === null) return mentionsRow(n, env) ? DEP : CONST;
  const b = n[type];
  switch (type) {
    case 'A_Const': {
      if (b.isnull) return known(null, false);
      if (b.boolval !== undefined) return known(b.boolval.boolval === true, false);
      if (b.ival !== undefined) return known(b.ival.ival ?? 0, true);
      if (b.fval !== undefined) return known(Number(b.fval.fval ?? '0'), true);
      if (b.sval !== undefined) return known(b.sval.sval ?? '', true);
      return { dep: false, known: false, lit: true };
    }
    case 'ColumnRef':
      return columnDep(b, env) ? DEP : CONST;
    case 'ParamRef':
    case 'SQLValueFunction':
      return CONST;
    case 'CurrentOfExpr':
      return DEP;
    case 'TypeCast': {
      const a = evalNode(b.arg, env);
      if (a.dep) return DEP;
      if (!a.known) return CONST;
      const names: N[] = b.typeName?.names ?? [];
      const tname = sval(names[names.length - 1]) ?? '';
      if (b.typeName?.arrayBounds) return CONST;
      if (BOOL_TYPES.has(tname)) {
        const t = toTruth(a, env);
        return t === 'C' ? CONST : fromTruth(t);
      }
      if (NUM_TYPES.has(tname)) {
        if (a.v === null) return a;
        const x = typeof a.v === 'number' ? a.v : typeof a.v === 'string' && a.v.trim() !== '' ? Number(a.v) : NaN;
        return Number.isNaN(x) ? { dep: false, known: false, lit: a.lit } : { dep: false, known: true, lit: a.lit, v: x };
      }
      if (TEXT_TYPES.has(tname)) {
        if (a.v === null || typeof a.v === 'string') return a;
        return { dep: false, known: false, lit: a.lit };
      }
      return CONST;
    }
    case 'BoolExpr': {
      const args: N[] = b.args ?? [];
      if (b.boolop === 'NOT_EXPR') return fromTruth(not(truth(args[0], env)));
      const ts = args.map((x) => truth(x, env));
      if (b.boolop === 'OR_EXPR') {
        // x IS NULL OR x IS NOT NULL
        const isNull = args.filter((x) => x?.NullTest?.nulltesttype === 'IS_NULL').map((x) => x.NullTest.arg);
        const notNull = args.filter((x) => x?.NullTest?.nulltesttype === 'IS_NOT_NULL').map((x) => x.NullTest.arg);
        for (const x of isNull) for (const y of notNull) if (sameColumn(x, y)) return CONST;
        return fromTruth(or(ts));
      }
      return fromTruth(and(ts));
    }
    case 'BooleanTest': {
      const t = truth(b.arg, env);
      if (t === 'C' || t === 'R') return fromTruth(t);
      switch (b.booltesttype) {
        case 'IS_TRUE':
          return fromTruth(t === 'T' ? 'T' : 'F');
        case 'IS_NOT_TRUE':
          return fromTruth(t === 'T' ? 'F' : 'T');
        case 'IS_FALSE':
          return fromTruth(t === 'F' ? 'T' : 'F');
        case 'IS_NOT_FALSE':
          return fromTruth(t === 'F' ? 'F' : 'T');
        case 'IS_UNKNOWN':
          return fromTruth(t === 'N' ? 'T' : 'F');
        case 'IS_NOT_UNKNOWN':
          return fromTruth(t === 'N' ? 'F' : 'T');
        default:
          return CONST;
      }
    }
    case 'NullTest': {
      const a = evalNode(b.arg, env);
      if (a.dep) return DEP;
      if (!a.known) return CONST;
      const isNull = a.v === null; // an erased literal is never NULL: no need to mark sensitive
      return known(b.nulltesttype === 'IS_NULL' ? isNull : !isNull, false);
    }
    case 'A_Expr':
      return evalAExpr(b, env);
    case 'SubLink': {
      const sub = b.subselect?.SelectStmt;
      if (b.subLinkType === 'EXISTS_SUBLINK' && sub && isBareSelect(sub)) return known(true, false);
      if (b.subLinkType === 'EXPR_SUBLINK' && sub && isBareSelect(sub) && (sub.targetList ?? []).length === 1) {
        return evalNode(sub.targetList[0]?.ResTarget?.val, env);
      }
      return mentionsRow(b, env) ? DEP : CONST;
    }
    default:
      return mentionsRow(b, env) ? DEP : CONST;
  }
}

/** SELECT <exprs> with no FROM, WHERE, GROUP, HAVING, LIMIT, set operation or VALUES. */
function isBareSelect(s: N): boolean {
  return (
    !s.fromClause &&
    !s.whereClause &&
    !s.groupClause &&
    !s.havingClause &&
    !s.limitCount &&
    !s.limitOffset &&
    !s.valuesLists &&
    !s.withClause &&
    (s.op === undefined || s.op === 'SETOP_NONE') &&
    Array.isArray(s.targetList)
  );
}

const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);

function evalAExpr(b: N, env: EvalEnv): Val {
  const names: N[] = b.name ?? [];
  const op = sval(names[names.length - 1]) ?? '';
  const kind: string = b.kind;
  const l = b.lexpr;
  const r = b.rexpr;
  if ((kind === 'AEXPR_OP' && (op === '=' || op === '<=' || op === '>=')) || kind === 'AEXPR_NOT_DISTINCT') {
    if (sameColumn(l, r)) return CONST; // x = x
  }
  if (kind === 'AEXPR_OP' || kind === 'AEXPR_DISTINCT' || kind === 'AEXPR_NOT_DISTINCT') {
    const lv = l === undefined ? known(null, false) : evalNode(l, env);
    const rv = evalNode(r, env);
    if (lv.dep || rv.dep) return DEP;
    if (l === undefined || !lv.known || !rv.known) return CONST;
    const a = read(lv, env);
    const c = read(rv, env);
    if (kind === 'AEXPR_OP') {
      if (!COMPARISONS.has(op)) return CONST;
      const res = compare(op, a, c);
      return res === undefined ? CONST : known(res, false);
    }
    // IS [NOT] DISTINCT FROM: NULL-safe.
    let same: unknown;
    if (a === null || c === null) same = a === c;
    else same = compare('=', a, c);
    if (same === undefined) return CONST;
    return known(kind === 'AEXPR_NOT_DISTINCT' ? same : !same, false);
  }
  if (kind === 'AEXPR_IN') {
    const lv = evalNode(l, env);
    const items: N[] = Array.isArray(r) ? r : r?.List?.items ?? [r];
    const vals = items.map((x) => evalNode(x, env));
    if (lv.dep || vals.some((v) => v.dep)) return DEP;
    if (!lv.known || vals.some((v) => !v.known)) return CONST;
    const a = read(lv, env);
    let any: unknown = false;
    for (const v of vals) {
      const res = compare('=', a, read(v, env));
      if (res === undefined) return CONST;
      if (res === true) {
        any = true;
        break;
      }
      if (res === null) any = null;
    }
    const inRes = op === '<>' ? (any === null ? null : !any) : any;
    return known(inRes, false);
  }
  // LIKE, BETWEEN, ANY/ALL, NULLIF, SIMILAR …: only row dependence matters.
  return mentionsRow(b, env) ? DEP : CONST;
}

/** The truth value of a condition. */
export function truth(n: N, env: EvalEnv): Truth {
  return toTruth(evalNode(n, env), env);
}

/** True when the condition does not restrict the rows (or is absent). */
export function unboundedCondition(cond: N | undefined, env: EvalEnv): boolean {
  if (cond === undefined || cond === null) return true;
  const t = truth(cond, env);
  return t === 'T' || t === 'C';
}
