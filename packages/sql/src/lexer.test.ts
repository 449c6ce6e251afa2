import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import {
  lexTokens,
  shapeOf,
  T_BIGNUM,
  T_BLOCK_COMMENT,
  T_COLONEQ,
  T_DOLLAR,
  T_FLOAT,
  T_INT,
  T_LINE_COMMENT,
  T_OP,
  T_PARAM,
  T_PUNCT,
  T_QIDENT,
  T_STRING,
  T_TYPECAST,
  T_WORD,
} from './lexer.js';

/**
 * libpg-query's own scanner, called directly: the package's scanSync builds
 * JSON without escaping control characters inside token texts, so it cannot
 * report on a string literal holding \f or \x01. We call the same WASM
 * function and escape them before JSON.parse.
 */
interface RawScanner {
  lengthBytesUTF8(s: string): number;
  _malloc(n: number): number;
  _free(p: number): void;
  stringToUTF8(s: string, p: number, n: number): void;
  UTF8ToString(p: number): string;
  _wasm_scan(p: number): number;
  _wasm_free_string(p: number): void;
}
let wasm: RawScanner;
beforeAll(async () => {
  const require = createRequire(import.meta.url);
  const factory = require('libpg-query/wasm/libpg-query.js') as () => Promise<RawScanner>;
  wasm = await factory();
});

interface ScanTok {
  start: number;
  end: number;
  text: string;
  tokenName: string;
  keywordKind: number;
}
function scanSync(text: string): { tokens: ScanTok[] } {
  if (text === '') return { tokens: [] };
  const len = wasm.lengthBytesUTF8(text) + 1;
  const p = wasm._malloc(len);
  wasm.stringToUTF8(text, p, len);
  const r = wasm._wasm_scan(p);
  const raw = wasm.UTF8ToString(r);
  wasm._free(p);
  wasm._wasm_free_string(r);
  if (!raw.startsWith('{')) throw new Error(raw);
  const json = raw.replace(/[\u0000-\u001f]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  return JSON.parse(json) as { tokens: ScanTok[] };
}

interface PgTok {
  start: number; // char offsets
  end: number;
  cat: string;
}

/** UTF-8 byte offset → UTF-16 index. */
function byteToChar(text: string): Map<number, number> {
  const m = new Map<number, number>();
  let b = 0;
  for (let i = 0; i < text.length; i++) {
    m.set(b, i);
    const c = text.codePointAt(i)!;
    if (c < 0x80) b += 1;
    else if (c < 0x800) b += 2;
    else if (c < 0x10000) b += 3;
    else {
      b += 4;
      i++;
    }
  }
  m.set(b, text.length);
  return m;
}

/** PostgreSQL's own scanner, or null when it reports an error. */
function pgTokens(text: string): PgTok[] | null {
  let res;
  try {
    res = scanSync(text);
  } catch {
    return null;
  }
  const map = byteToChar(text);
  return res.tokens.map((t) => {
    let cat: string;
    if (t.tokenName === 'SQL_COMMENT' || t.tokenName === 'C_COMMENT') cat = 'comment';
    else if (t.tokenName === 'SCONST') cat = t.text.startsWith('$') ? 'dollar' : 'str';
    else if (t.tokenName === 'ICONST') cat = 'int';
    else if (t.tokenName === 'FCONST') cat = 'float';
    else if (t.tokenName === 'PARAM') cat = 'param';
    else if (t.tokenName === 'IDENT') cat = t.text.startsWith('"') ? 'qident' : 'word';
    else if (t.keywordKind > 0) cat = 'word';
    else cat = 'sym:' + t.text;
    const start = map.get(t.start);
    const end = map.get(t.end);
    if (start === undefined || end === undefined) throw new Error(`offset not on a character boundary in ${JSON.stringify(text)}`);
    return { start, end, cat };
  });
}

/** Scale the property runs up for a longer fuzzing session: SLUICE_FUZZ=50 npx vitest run packages/sql */
const SCALE = Number(process.env.SLUICE_FUZZ ?? '1') || 1;

const OP_CHARS = '~!@#^&|`?+-*/%<>=';

/**
 * Compare our tokens with PostgreSQL's. Returns null when they agree or when
 * our lexer gave up (that is always safe); otherwise a description.
 */
function disagreement(text: string): string | null {
  const ours = lexTokens(text);
  const pg = pgTokens(text);
  if (ours === null) return null;
  if (pg === null) return `PostgreSQL's scanner rejects the text but our lexer accepted it: ${JSON.stringify(ours)}`;
  let k = 0;
  for (const t of ours) {
    const slice = text.slice(t.start, t.end);
    if (t.type === T_OP) {
      // PostgreSQL may split a run of operator characters into several tokens: they must tile it.
      let pos = t.start;
      while (pos < t.end) {
        const p = pg[k];
        if (!p || p.start !== pos || p.end > t.end || !p.cat.startsWith('sym:'))
          return `operator run ${JSON.stringify(slice)} at ${t.start} vs ${JSON.stringify(p)}`;
        for (const ch of text.slice(p.start, p.end)) if (!OP_CHARS.includes(ch)) return `non-operator ${JSON.stringify(p)} inside run`;
        pos = p.end;
        k++;
      }
      continue;
    }
    const p = pg[k++];
    if (!p) return `our token ${JSON.stringify(slice)} at ${t.start} has no PostgreSQL counterpart`;
    let want: string;
    switch (t.type) {
      case T_WORD:
        want = 'word';
        break;
      case T_QIDENT:
        want = 'qident';
        break;
      case T_STRING:
        want = 'str';
        break;
      case T_DOLLAR:
        want = 'dollar';
        break;
      case T_INT:
        want = 'int';
        break;
      case T_BIGNUM:
      case T_FLOAT:
        want = 'float';
        break;
      case T_PARAM:
        want = 'param';
        break;
      case T_LINE_COMMENT:
      case T_BLOCK_COMMENT:
        want = 'comment';
        break;
      case T_PUNCT:
      case T_TYPECAST:
      case T_COLONEQ:
        want = 'sym:' + slice;
        break;
      default:
        want = '?';
    }
    if (p.start !== t.start || p.end !== t.end || p.cat !== want)
      return `ours ${want} ${JSON.stringify(slice)} [${t.start},${t.end}) vs PostgreSQL ${p.cat} ${JSON.stringify(text.slice(p.start, p.end))} [${p.start},${p.end})`;
  }
  if (k !== pg.length) return `PostgreSQL has extra tokens from ${JSON.stringify(pg[k])}`;
  return null;
}

/** Fragments an attacker would combine: quotes, escapes, dollar tags, comment starts, keywords. */
const FRAGMENTS = [
  "'", "''", "'''", '"', '""', '\\', "\\'", "E'", "e'", 'E', 'e', "N'", "b'", "X'", "U&'", 'u&"', 'U&', 'UESCAPE',
  '$$', '$a$', '$A$', '$ab$', '$b$', '$1', '$2', '$', '$_$', '$a', 'a$', '$1a',
  '--', '-', '/*', '*/', '/', '*', '/**/', '*/*', '/*/', '**/', '\n', '\r', '\r\n', ' ', '\t', '\f', '\v', '\u00a0',
  ';', ',', '(', ')', '[', ']', '.', '..', ':', '::', ':=', '=', '=>', '<>', '!=', '<=', '>=', '+', '-', '+-', '=-', '@-', '?-',
  '~', '!', '@', '#', '^', '&', '|', '`', '?', '%', '<', '>', '{', '}',
  'SELECT', 'select', 'DROP TABLE x', 'drop', 'TABLE', 'FROM', 't', 'x', 'X', 'a_b', 'DO', 'EXECUTE', 'WHERE', 'true', 'NULL',
  '0', '1', '12', '007', '1.5', '.5', '1.', '1e5', '1E+5', '1e', '1_000', '0x1F', '2147483647', '2147483648', '99999999999',
  'é', 'ü', '日本', '😀', 'ǅ',
];

const fragmentText = fc.array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 14 }).map((xs) => xs.join(''));
/** Fragments interleaved with arbitrary characters, to reach what the list does not. */
const mixedText = fc
  .array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 3 }), fc.constantFrom("'", '$', '-', '/', '*', '\n')), {
    minLength: 1,
    maxLength: 16,
  })
  .map((xs) => xs.join('').replace(/\0/g, ''));

/** Plausible statements with literals of every kind in them. */
const literal = fc.oneof(
  fc.string({ maxLength: 6 }).map((s) => `'${s.replace(/'/g, "''")}'`),
  fc.string({ maxLength: 6 }).map((s) => `E'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`),
  fc.constantFrom("'a'\n'b'", "'a' -- c\n  'b'", "E'x\\\\'\n'y'", "'a'\n-- c\n'b'", "'a' /* c */\n'b'", "$$x$$", "$q$ ' $q$"),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: 0 }).map((d) => String(d)),
  fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
);
const statementText = fc
  .tuple(
    fc.constantFrom('SELECT ', 'DELETE FROM t WHERE a = ', 'UPDATE t SET a = ', 'INSERT INTO t VALUES (', 'select * from t where x in ('),
    fc.array(literal, { minLength: 1, maxLength: 4 }),
    fc.constantFrom('', ')', '; DROP TABLE x', ' -- tail', ' /* c */', '\n'),
  )
  .map(([head, lits, tail]) => head + lits.join(', ') + tail);

describe('lexer vs PostgreSQL scanner (differential)', () => {
  const known = [
    "select 'a'\n'b'",
    "select 'a' -- c\n'b'",
    "select 'a' /* c */\n'b'",
    "select 'a'\n/* c */'b'",
    "select e'a\\'b'\n'c\\'d'",
    "select E'\\\\'; DROP TABLE x; --'",
    "select 'a\\'; DROP TABLE x; --'",
    '$$a$$b$$',
    '$a$$b$$a$',
    '$a$ $A$ $a$',
    'select 1 as x$$y$$',
    'a--b',
    'a/*b*/c',
    '+/**/-',
    '=-1',
    '@-',
    '*/*x*/',
    '/* a /* b */ c */ DROP TABLE x',
    "select 'x'''",
    'select "a""b"',
    'select 2147483648, 2147483647, 00000000002147483647',
    'select .5e-3, 1.e5, 1.5.3',
    'select a::int[], b := c, d:e',
    '-- only a comment',
    'SELECT * FROM t WHERE id = 1',
  ];
  for (const q of known) {
    it(`agrees on ${JSON.stringify(q)}`, () => {
      expect(disagreement(q)).toBeNull();
    });
  }

  it('gives up on what it does not handle', () => {
    for (const q of ["select U&'d\\0061t'", "select b'01'", "select x'0F'", "select n'x'", 'select 1_000', 'select 0x1F',
      'select 1abc', 'select $1abc', 'select ..', 'select \\', 'a\fb', 'a\vb', 'select über', 'select 1e', "select 'unterminated",
      'select $a$ unterminated', 'select /* unterminated', 'select ""', "select E'\\u0041'", "select E'\\x41'", "select E'\\101'"]) {
      expect(lexTokens(q), q).toBeNull();
    }
  });

  it('agrees on adversarial fragment soup', () => {
    let understood = 0;
    let total = 0;
    fc.assert(
      fc.property(fragmentText, (text) => {
        total++;
        if (lexTokens(text) !== null) understood++;
        const d = disagreement(text);
        if (d) throw new Error(`${JSON.stringify(text)}: ${d}`);
      }),
      { numRuns: 4000 * SCALE },
    );
    // The property means little if the lexer gives up on everything.
    expect(understood / total).toBeGreaterThan(0.05);
  });

  it('agrees on fragments mixed with arbitrary characters', () => {
    fc.assert(
      fc.property(mixedText, (text) => {
        const d = disagreement(text);
        if (d) throw new Error(`${JSON.stringify(text)}: ${d}`);
      }),
      { numRuns: 4000 * SCALE },
    );
  });

  it('agrees on statements full of literals, and understands most of them', () => {
    let understood = 0;
    let total = 0;
    fc.assert(
      fc.property(statementText, (text) => {
        total++;
        if (lexTokens(text) !== null) understood++;
        const d = disagreement(text);
        if (d) throw new Error(`${JSON.stringify(text)}: ${d}`);
      }),
      { numRuns: 3000 * SCALE },
    );
    expect(understood / total).toBeGreaterThan(0.5);
  });
});

describe('shape', () => {
  it('strips literals, comments and case', () => {
    expect(shapeOf("SELECT * FROM t WHERE id = 1 AND name = 'bob' -- x")).toBe("select * from t where id = 0 and name = ''");
    expect(shapeOf('select * from t where id = 2')).toBe(shapeOf('SELECT  *\nFROM t /* c */ WHERE ID = 99'));
    expect(shapeOf("select E'a\\'b'")).toBe(shapeOf("select 'x'"));
    expect(shapeOf('select 1.5')).toBe('select 0.0');
    expect(shapeOf('select 2147483648')).toBe('select 0.0');
    expect(shapeOf('select 2147483647')).toBe('select 0');
  });
  it('keeps quoted identifiers, dollar quotes, operators and spacing of operators', () => {
    expect(shapeOf('select "T" from t')).not.toBe(shapeOf('select t from t'));
    expect(shapeOf('select $$a$$')).not.toBe(shapeOf('select $$b$$'));
    expect(shapeOf('select a<=b')).not.toBe(shapeOf('select a< =b'));
    expect(shapeOf('select a::int')).not.toBe(shapeOf('select a: :int'));
    expect(shapeOf('select true')).not.toBe(shapeOf('select false'));
  });
  it('is empty for blank text and comments', () => {
    expect(shapeOf('')).toBe('');
    expect(shapeOf('  -- c\n /* d */ ')).toBe('');
  });
  it('gives up rather than guess', () => {
    expect(shapeOf("select 'a")).toBeNull();
  });
});
