import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fullClassify } from './classify.js';
import { classifyPostgres, clearSqlCache, loadSqlParser, PostgresClassifier, sqlCacheStats } from './index.js';
import { lexTokens, shapeOf, T_BIGNUM, T_FLOAT, T_INT, T_STRING } from './lexer.js';
import { GenerationalCache } from './cache.js';
import { textFree } from './tpl.js';

const SCALE = Number(process.env.SLUICE_FUZZ ?? '1') || 1;

beforeAll(async () => {
  await loadSqlParser();
});
beforeEach(() => clearSqlCache());

describe('shape cache', () => {
  it('statements differing only in literals share one entry and keep their own text', () => {
    const a = classifyPostgres('SELECT * FROM t WHERE id = 1');
    const hits = sqlCacheStats.hits;
    const b = classifyPostgres("select * FROM t  WHERE id = 2 -- other comment");
    expect(sqlCacheStats.hits).toBe(hits + 1);
    expect(a).toMatchObject({ kind: 'SELECT', objects: ['t'], text: 'SELECT * FROM t WHERE id = 1' });
    expect(b).toEqual({ ...a, text: "select * FROM t  WHERE id = 2 -- other comment" });
  });

  it('a constant WHERE is not shared with its sibling shapes', () => {
    expect(classifyPostgres('DELETE FROM t WHERE 1=1').flags).toEqual(['unbounded']);
    expect(classifyPostgres('DELETE FROM t WHERE 1=2').flags).toEqual([]);
    expect(classifyPostgres('DELETE FROM t WHERE 3=3').flags).toEqual(['unbounded']);
    clearSqlCache();
    expect(classifyPostgres("DELETE FROM t WHERE 'a'='b'").flags).toEqual([]);
    expect(classifyPostgres("DELETE FROM t WHERE 'a'='a'").flags).toEqual(['unbounded']);
  });

  it('a row-dependent WHERE is shared (the literal cannot matter)', () => {
    classifyPostgres('DELETE FROM t WHERE id = 1');
    const hits = sqlCacheStats.hits;
    expect(classifyPostgres('DELETE FROM t WHERE id = 2').flags).toEqual([]);
    expect(sqlCacheStats.hits).toBe(hits + 1);
  });

  it('DO bodies in plain strings are judged by their own text', () => {
    const a = classifyPostgres("DO 'BEGIN EXECUTE ''SELECT 1''; END'");
    expect(a.parts!.map((p) => p.kind)).toEqual(['DO', 'SELECT']);
    const b = classifyPostgres("DO 'BEGIN EXECUTE ''DROP TABLE x''; END'");
    expect(b.parts!.map((p) => p.kind)).toEqual(['DO', 'DROP']);
  });

  it('function bodies in plain strings are judged by their own text', () => {
    classifyPostgres("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'");
    const b = classifyPostgres("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'DELETE FROM t RETURNING 1'");
    expect(b.parts!.map((p) => p.kind)).toEqual(['CREATE', 'DELETE']);
  });

  it('multi-statement strings carry their own parts texts', () => {
    classifyPostgres('SELECT 1; DELETE FROM t WHERE id = 1');
    const b = classifyPostgres('SELECT 22; DELETE FROM t WHERE id = 333');
    expect(b.parts!.map((p) => p.text)).toEqual(['SELECT 22', 'DELETE FROM t WHERE id = 333']);
  });

  it('PREPARE through the cache still registers the statement', () => {
    const s1 = new PostgresClassifier();
    s1.classify('PREPARE p AS DELETE FROM t WHERE id = 1');
    const s2 = new PostgresClassifier();
    const hits = sqlCacheStats.hits;
    s2.classify('PREPARE p AS DELETE FROM t WHERE id = 2');
    expect(sqlCacheStats.hits).toBe(hits + 1);
    expect(s2.classify('EXECUTE p')).toMatchObject({ kind: 'DELETE', objects: ['t'], text: 'EXECUTE p' });
    expect(s1.classify('EXECUTE p').kind).toBe('DELETE');
    expect(new PostgresClassifier().classify('EXECUTE p').kind).toBe('EXECUTE');
  });

  it('changing a returned command does not change the cache', () => {
    const a = classifyPostgres('DELETE FROM t');
    a.flags.push('tampered');
    a.objects.length = 0;
    a.kind = 'SELECT';
    expect(classifyPostgres('DELETE FROM t')).toMatchObject({ kind: 'DELETE', objects: ['t'], flags: ['unbounded'] });
    const m = classifyPostgres('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d');
    m.parts![1]!.flags.length = 0;
    expect(classifyPostgres('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d').parts![1]!.flags).toEqual(['unbounded']);
  });

  it('standard_conforming_strings off never uses the shape cache', () => {
    classifyPostgres("SELECT 'x'; SELECT 1");
    const c = classifyPostgres("SELECT 'a\\'; SELECT 1; --'", { standardConformingStrings: false });
    expect(c.kind).toBe('SELECT');
  });

  it('is bounded', () => {
    const cache = new GenerationalCache<number>(100, 1_000_000);
    for (let i = 0; i < 10_000; i++) cache.set(`k${i}`, i);
    expect(cache.size).toBeLessThanOrEqual(100);
    expect(cache.get('k9999')).toBe(9999);
    const byChars = new GenerationalCache<number>(1_000_000, 1000);
    for (let i = 0; i < 1000; i++) byChars.set('x'.repeat(100) + i, i);
    expect(byChars.size).toBeLessThanOrEqual(12);
  });
});

// ---------------------------------------------------------------- properties

const stringLiteral = fc.oneof(
  fc.string({ maxLength: 8 }).map((s) => `'${s.replace(/\0/g, '').replace(/'/g, "''")}'`),
  fc.string({ maxLength: 8 }).map((s) => `E'${s.replace(/\0/g, '').replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`),
  fc.constantFrom(
    "'DROP TABLE x'",
    "'SELECT 1'",
    "'BEGIN EXECUTE ''DROP TABLE x''; END'",
    "'BEGIN DELETE FROM t; END'",
    "'DELETE FROM t'",
    "'t'",
    "'f'",
    "'yes'",
    "'1'",
    "'0'",
    "'a'",
    "''",
    "'sql'",
    "'plpgsql'",
    "'standard_conforming_strings'",
    "'a'\n'b'",
    "E'\\''",
    "E'\\\\'",
    "'it''s'",
    "'; DROP TABLE x; --'",
  ),
);
const intLiteral = fc.oneof(fc.integer({ min: 0, max: 2147483647 }).map(String), fc.constantFrom('0', '1', '2', '007'));
const bigLiteral = fc.oneof(
  fc.bigInt({ min: 2147483648n, max: 10n ** 20n }).map(String),
  fc.double({ min: 0, max: 1e9, noNaN: true }).map((d) => (Number.isInteger(d) ? `${d}.0` : String(d))).filter((s) => !/e/i.test(s)),
  fc.constantFrom('1.5', '.5', '1e3', '0.0', '2.5E-3'),
);
const anyLiteral = fc.oneof(stringLiteral, intLiteral, bigLiteral);

/** Statement templates; each ? is a literal. */
const TEMPLATES = [
  'SELECT * FROM t WHERE id = ?',
  'SELECT ?, ? FROM t WHERE a = ? AND b > ? LIMIT ?',
  'DELETE FROM t WHERE id = ?',
  'DELETE FROM t WHERE ? = ?',
  'DELETE FROM t WHERE ?',
  'DELETE FROM t WHERE ?::bool',
  'DELETE FROM t WHERE id = ? OR ? = ?',
  'DELETE FROM t WHERE id = ? AND ? = ?',
  'DELETE FROM t WHERE ? IN (?, ?)',
  'DELETE FROM t WHERE NOT (? <> ?)',
  'DELETE FROM t WHERE (? = ?) IS TRUE',
  'DELETE FROM t WHERE ? IS NOT DISTINCT FROM ?',
  'DELETE FROM t WHERE EXISTS (SELECT ? WHERE ? = ?)',
  'DELETE FROM t WHERE (SELECT ? = ?)',
  'UPDATE t SET a = ? WHERE ?',
  'UPDATE t SET a = ? WHERE b = ?',
  'UPDATE t SET a = ? WHERE ? < ?',
  'MERGE INTO t USING s ON ? = ? WHEN MATCHED THEN DELETE',
  'WITH d AS (DELETE FROM t WHERE ? = ? RETURNING *) SELECT * FROM d WHERE x = ?',
  'DO ?',
  'DO LANGUAGE plpgsql ?',
  'SELECT ?; DELETE FROM t WHERE x = ?',
  'SELECT dblink(?, ?)',
  'SELECT set_config(?, ?, false)',
  'EXPLAIN (ANALYZE ?) DELETE FROM t WHERE ? = ?',
  'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS ?',
  'CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS ?',
  'PREPARE p AS DELETE FROM t WHERE ? = ?; EXECUTE p',
  'COPY t TO ?',
  "COPY t TO PROGRAM ?",
  'INSERT INTO t VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET a = ? WHERE t.b = ?',
  'SELECT * FROM t WHERE a = ? -- ?\n AND b = ?',
  'SELECT ? /* ? */ FROM t',
];

const templated = fc
  .tuple(fc.constantFrom(...TEMPLATES), fc.array(anyLiteral, { minLength: 8, maxLength: 8 }))
  .map(([tpl, lits]) => {
    let i = 0;
    return tpl.replace(/\?/g, () => lits[i++ % lits.length]!);
  });

/** Replace each literal of `text` (as our lexer sees it) by another of the same class. */
function perturb(text: string, choices: string[]): string | null {
  const toks = lexTokens(text);
  if (!toks) return null;
  let out = text;
  let k = 0;
  for (let i = toks.length - 1; i >= 0; i--) {
    const t = toks[i]!;
    let rep: string | null = null;
    const pick = choices[k++ % choices.length]!;
    if (t.type === T_STRING && pick.includes("'") && !/^\d/.test(pick)) rep = pick;
    else if (t.type === T_INT && /^\d+$/.test(pick) && BigInt(pick) <= 2147483647n) rep = pick;
    else if ((t.type === T_BIGNUM || t.type === T_FLOAT) && /^[\d.]/.test(pick) && !(/^\d+$/.test(pick) && BigInt(pick) <= 2147483647n)) rep = pick;
    if (rep !== null) out = out.slice(0, t.start) + rep + out.slice(t.end);
  }
  return out;
}

function cachedVsFresh(a: string, b: string): void {
  clearSqlCache();
  const fresh = classifyPostgres(b);
  clearSqlCache();
  classifyPostgres(a);
  const cached = classifyPostgres(b);
  expect(cached).toEqual(fresh);
}

/** Drop texts: what must agree across one shape is everything but them. */
function stripTexts(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(stripTexts);
  if (x && typeof x === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (k !== 'text') o[k] = stripTexts(v);
    return o;
  }
  return x;
}

describe('cache correctness (properties)', () => {
  it('a statement classified after another of the same shape gets what a fresh parse gives', () => {
    let sameShape = 0;
    fc.assert(
      fc.property(templated, fc.array(anyLiteral, { minLength: 1, maxLength: 8 }), (a, choices) => {
        const b = perturb(a, choices);
        if (b === null || shapeOf(a) === null || shapeOf(a) !== shapeOf(b)) return;
        sameShape++;
        cachedVsFresh(a, b);
      }),
      { numRuns: 1500 * SCALE },
    );
    expect(sameShape).toBeGreaterThan(500 * SCALE);
  });

  it('texts of one shape have the same full classification whenever it is shareable', () => {
    fc.assert(
      fc.property(templated, fc.array(anyLiteral, { minLength: 1, maxLength: 8 }), (a, choices) => {
        const b = perturb(a, choices);
        if (b === null || shapeOf(a) === null || shapeOf(a) !== shapeOf(b)) return;
        const ra = fullClassify(a, true);
        if (ra.error || ra.sensitive || !textFree(ra.tpl)) return;
        const rb = fullClassify(b, true);
        expect(rb.error, b).toBe(false);
        expect(stripTexts(rb.tpl)).toEqual(stripTexts(ra.tpl));
      }),
      { numRuns: 1500 * SCALE },
    );
  });

  it('holds for adversarial fragment soup too', () => {
    const fragments = [
      "'", "''", '"', '\\', "E'", 'e', '$$', '$a$', '$1', '--', '/*', '*/', '\n', ' ', ';', '(', ')', ',', '=', '1', '0', '2.5',
      'DROP TABLE x', 'SELECT', 'DELETE FROM t', 'WHERE', 'OR', 'AND', 'true', 'x', 'DO', 'EXECUTE', 'PREPARE p AS', '::bool',
      "'a'", "'1'", "E'\\''", 'IN', 'NOT',
    ];
    const soup = fc.array(fc.constantFrom(...fragments), { minLength: 1, maxLength: 12 }).map((xs) => xs.join(' '));
    fc.assert(
      fc.property(soup, fc.array(anyLiteral, { minLength: 1, maxLength: 6 }), (a, choices) => {
        const b = perturb(a, choices);
        if (b === null || shapeOf(a) === null || shapeOf(a) !== shapeOf(b)) return;
        cachedVsFresh(a, b);
      }),
      { numRuns: 1500 * SCALE },
    );
  });

  it('a text without backslashes reads the same whatever standard_conforming_strings is', () => {
    fc.assert(
      fc.property(templated, (a) => {
        fc.pre(!a.includes('\\'));
        clearSqlCache();
        expect(classifyPostgres(a, { standardConformingStrings: false })).toEqual(classifyPostgres(a));
      }),
      { numRuns: 300 * SCALE },
    );
  });
});
