/**
 * A small PostgreSQL lexer for the classification cache.
 *
 * It turns a statement into its *shape*: the token stream with string and
 * numeric literals replaced by placeholders, comments dropped and unquoted
 * words lower-cased, so `SELECT * FROM t WHERE id = 1` and `… id = 2` share
 * one cache entry.
 *
 * SECURITY: the cache is only sound if this lexer agrees with PostgreSQL's own
 * scanner (src/backend/parser/scan.l, standard_conforming_strings = on) about
 * where every token starts and ends. If it ever thought a quote, dollar quote
 * or comment ended somewhere else, a text could share the shape of a harmless
 * cached statement while PostgreSQL reads a DROP out of it. So the lexer is
 * deliberately narrow: whatever it does not fully understand (Unicode
 * escapes, bit strings, non-ASCII outside quotes, \f, \v, numeric literals
 * with underscores or radix prefixes, trailing junk, `..` …) makes it give up
 * (return null), and the caller takes the full parse. It is differentially
 * tested against libpg-query's scanner (lexer.test.ts).
 */

export const T_WORD = 1; // keyword or unquoted identifier
export const T_QIDENT = 2; // "quoted identifier"
export const T_STRING = 3; // '…' or E'…', including continuation segments
export const T_DOLLAR = 4; // $tag$…$tag$
export const T_INT = 5; // integer that fits int4 (PostgreSQL ICONST)
export const T_BIGNUM = 6; // integer that does not fit int4 (PostgreSQL makes it FCONST)
export const T_FLOAT = 7; // 1.5, .5, 1e3 (FCONST)
export const T_PARAM = 8; // $1
export const T_OP = 9; // a run of operator characters (PostgreSQL may split it; kept verbatim)
export const T_PUNCT = 10; // , ( ) [ ] ; . :
export const T_TYPECAST = 11; // ::
export const T_COLONEQ = 12; // :=
export const T_LINE_COMMENT = 13; // -- …
export const T_BLOCK_COMMENT = 14; // /* … */ (nested)

/** Token buffers, reused across calls (the lexer is synchronous and not re-entrant). */
let cap = 512;
let tStart = new Int32Array(cap);
let tEnd = new Int32Array(cap);
let tType = new Uint8Array(cap);
let count = 0;

function push(type: number, start: number, end: number): void {
  if (count === cap) {
    cap *= 2;
    const s = new Int32Array(cap);
    s.set(tStart);
    tStart = s;
    const e = new Int32Array(cap);
    e.set(tEnd);
    tEnd = e;
    const t = new Uint8Array(cap);
    t.set(tType);
    tType = t;
  }
  tStart[count] = start;
  tEnd[count] = end;
  tType[count] = type;
  count++;
}

// Character classes (ASCII only; anything >= 0x80 outside quotes makes us give up).
const C_OTHER = 0;
const C_SPACE = 1; // space, \t, \n, \r
const C_LETTER = 2; // A-Z a-z _
const C_DIGIT = 3;
const C_OPCHAR = 4; // ~ ! @ # ^ & | ` ? + - * / % < > =
const C_SELF = 5; // , ( ) [ ] ;
const CLASS = new Uint8Array(128);
for (const ch of ' \t\n\r') CLASS[ch.charCodeAt(0)] = C_SPACE;
for (let c = 65; c <= 90; c++) CLASS[c] = C_LETTER;
for (let c = 97; c <= 122; c++) CLASS[c] = C_LETTER;
CLASS[95] = C_LETTER; // _
for (let c = 48; c <= 57; c++) CLASS[c] = C_DIGIT;
for (const ch of '~!@#^&|`?+-*/%<>=') CLASS[ch.charCodeAt(0)] = C_OPCHAR;
for (const ch of ',()[];') CLASS[ch.charCodeAt(0)] = C_SELF;

const QUOTE = 39; // '
const DQUOTE = 34; // "
const DOLLAR = 36; // $
const BACKSLASH = 92;
const DASH = 45;
const SLASH = 47;
const STAR = 42;
const DOT = 46;
const COLON = 58;
const EQUALS = 61;
const NL = 10;
const CR = 13;

/** Identifier continuation for the purpose of detecting trailing junk: letters, digits, _, $, non-ASCII. */
function isIdentCont(c: number): boolean {
  return c >= 128 || c === DOLLAR || (c < 128 && (CLASS[c] === C_LETTER || CLASS[c] === C_DIGIT));
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * After a closing quote at `p - 1`, does a continuation follow? PostgreSQL
 * joins `'a'` NEWLINE `'b'` into one literal: {whitespace_with_newline}{quote}
 * where whitespace_with_newline = {horiz_whitespace}* {newline}
 * {special_whitespace}*, horiz_whitespace = [ \t\f\v] | --comment,
 * special_whitespace = {space}+ | --comment {newline}. (\f and \v make the
 * main loop give up, so they need no handling here.) Returns the index just
 * after the continuation's opening quote, or -1 when there is none.
 *
 * libpg-query's scanner differs from the server here: it returns -- comments
 * as tokens, so a comment inside the continuation breaks it there (two
 * literals, usually a syntax error) while the server joins them. Where the
 * two disagree we return -2: give up and let the full parse decide.
 */
function continuation(s: string, p: number, n: number): number {
  let j = p;
  let sawComment = false;
  // {horiz_whitespace}*
  for (;;) {
    if (j >= n) return -1;
    const c = s.charCodeAt(j);
    if (c === 32 || c === 9) {
      j++;
    } else if (c === DASH && j + 1 < n && s.charCodeAt(j + 1) === DASH) {
      sawComment = true;
      j += 2;
      while (j < n) {
        const d = s.charCodeAt(j);
        if (d === NL || d === CR) break;
        j++;
      }
    } else break;
  }
  // {newline}
  const nl = s.charCodeAt(j);
  if (nl !== NL && nl !== CR) return -1;
  j++;
  // {special_whitespace}*
  for (;;) {
    if (j >= n) return -1;
    const c = s.charCodeAt(j);
    if (c === 32 || c === 9 || c === NL || c === CR) {
      j++;
    } else if (c === DASH && j + 1 < n && s.charCodeAt(j + 1) === DASH) {
      sawComment = true;
      let k = j + 2;
      while (k < n) {
        const d = s.charCodeAt(k);
        if (d === NL || d === CR) break;
        k++;
      }
      if (k >= n) return -1; // a comment here must end in a newline
      j = k + 1;
    } else break;
  }
  if (s.charCodeAt(j) !== QUOTE) return -1;
  return sawComment ? -2 : j + 1;
}

/**
 * Scan a quoted string whose opening quote is at `q`. `escapes` is true for
 * E'' strings (backslash escapes the next character). Returns the index after
 * the closing quote (including any continuation segments), or -1 (give up).
 */
function scanString(s: string, q: number, n: number, escapes: boolean): number {
  let j = q + 1;
  for (;;) {
    if (j >= n) return -1; // unterminated
    const c = s.charCodeAt(j);
    if (c === QUOTE) {
      if (j + 1 < n && s.charCodeAt(j + 1) === QUOTE) {
        j += 2; // '' is an embedded quote
        continue;
      }
      const k = continuation(s, j + 1, n);
      if (k === -2) return -1;
      if (k >= 0) {
        j = k;
        continue;
      }
      return j + 1;
    }
    if (escapes && c === BACKSLASH) {
      if (j + 1 >= n) return -1;
      const d = s.charCodeAt(j + 1);
      // Unicode (\u \U), hex (\x) and octal escapes can produce invalid
      // strings (an error in PostgreSQL that depends on the literal's value):
      // leave those to the full parse.
      if (d === 117 || d === 85 || d === 120 || (d >= 48 && d <= 55)) return -1;
      j += 2;
      continue;
    }
    j++;
  }
}

/**
 * Tokenize `s` into the module buffers. Returns false when the lexer is not
 * sure it reads `s` exactly as PostgreSQL does.
 */
function scan(s: string): boolean {
  count = 0;
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c >= 128) return false; // non-ASCII outside quotes (identifiers, NBSP …)
    switch (CLASS[c]) {
      case C_SPACE:
        i++;
        continue;
      case C_LETTER: {
        let j = i + 1;
        while (j < n) {
          const d = s.charCodeAt(j);
          if (d >= 128) return false;
          const k = CLASS[d];
          if (k === C_LETTER || k === C_DIGIT || d === DOLLAR) j++;
          else break;
        }
        if (j === i + 1 && j < n) {
          const next = s.charCodeAt(j);
          if (next === QUOTE) {
            if (c === 69 || c === 101) {
              // E'…'
              const end = scanString(s, j, n, true);
              if (end < 0) return false;
              push(T_STRING, i, end);
              i = end;
              continue;
            }
            // b'…' x'…' n'…' u&… and friends: not handled here.
            if (c === 66 || c === 98 || c === 88 || c === 120 || c === 78 || c === 110) return false;
          } else if (next === 38 && (c === 85 || c === 117)) {
            return false; // U& strings and identifiers
          }
        }
        push(T_WORD, i, j);
        i = j;
        continue;
      }
      case C_DIGIT: {
        const end = scanNumber(s, i, n);
        if (end < 0) return false;
        i = end;
        continue;
      }
      case C_SELF:
        push(T_PUNCT, i, i + 1);
        i++;
        continue;
      case C_OPCHAR: {
        if (c === DASH && i + 1 < n && s.charCodeAt(i + 1) === DASH) {
          let j = i + 2;
          while (j < n) {
            const d = s.charCodeAt(j);
            if (d === NL || d === CR) break;
            j++;
          }
          push(T_LINE_COMMENT, i, j);
          i = j;
          continue;
        }
        if (c === SLASH && i + 1 < n && s.charCodeAt(i + 1) === STAR) {
          let depth = 1;
          let j = i + 2;
          while (j < n) {
            const d = s.charCodeAt(j);
            if (d === SLASH && j + 1 < n && s.charCodeAt(j + 1) === STAR) {
              depth++;
              j += 2;
            } else if (d === STAR && j + 1 < n && s.charCodeAt(j + 1) === SLASH) {
              j += 2;
              if (--depth === 0) break;
            } else j++;
          }
          if (depth !== 0) return false; // unterminated comment
          push(T_BLOCK_COMMENT, i, j);
          i = j;
          continue;
        }
        // A run of operator characters, cut where a comment starts.
        let j = i + 1;
        while (j < n) {
          const d = s.charCodeAt(j);
          if (d >= 128 || CLASS[d] !== C_OPCHAR) break;
          if ((d === DASH || d === SLASH) && j + 1 < n) {
            const e = s.charCodeAt(j + 1);
            if ((d === DASH && e === DASH) || (d === SLASH && e === STAR)) break;
          }
          j++;
        }
        if (j - i >= 63) return false; // "operator too long"
        push(T_OP, i, j);
        i = j;
        continue;
      }
      default:
        break;
    }
    // Characters with their own rules.
    if (c === QUOTE) {
      const end = scanString(s, i, n, false);
      if (end < 0) return false;
      push(T_STRING, i, end);
      i = end;
      continue;
    }
    if (c === DQUOTE) {
      let j = i + 1;
      for (;;) {
        const k = s.indexOf('"', j);
        if (k < 0) return false; // unterminated
        if (k + 1 < n && s.charCodeAt(k + 1) === DQUOTE) {
          j = k + 2;
          continue;
        }
        j = k + 1;
        break;
      }
      if (j === i + 2) return false; // zero-length delimited identifier
      push(T_QIDENT, i, j);
      i = j;
      continue;
    }
    if (c === DOLLAR) {
      const end = scanDollar(s, i, n);
      if (end < 0) return false;
      i = end;
      continue;
    }
    if (c === DOT) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (isDigit(d)) {
        const end = scanNumber(s, i, n);
        if (end < 0) return false;
        i = end;
        continue;
      }
      if (d === DOT) return false; // ".." (DOT_DOT)
      push(T_PUNCT, i, i + 1);
      i++;
      continue;
    }
    if (c === COLON) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (d === COLON) {
        push(T_TYPECAST, i, i + 2);
        i += 2;
      } else if (d === EQUALS) {
        push(T_COLONEQ, i, i + 2);
        i += 2;
      } else {
        push(T_PUNCT, i, i + 1);
        i++;
      }
      continue;
    }
    return false; // \f \v \\ { } control characters …
  }
  return true;
}

/** A numeric literal starting at `i` (a digit, or '.' followed by a digit). Pushes it; returns its end or -1. */
function scanNumber(s: string, i: number, n: number): number {
  let j = i;
  let isFloat = false;
  if (s.charCodeAt(j) === DOT) {
    isFloat = true;
    j++;
    while (j < n && isDigit(s.charCodeAt(j))) j++;
  } else {
    while (j < n && isDigit(s.charCodeAt(j))) j++;
    if (j < n) {
      const d = s.charCodeAt(j);
      if (d === DOT) {
        if (j + 1 < n && s.charCodeAt(j + 1) === DOT) return -1; // 1..
        isFloat = true;
        j++;
        while (j < n && isDigit(s.charCodeAt(j))) j++;
      }
    }
  }
  if (j < n) {
    const d = s.charCodeAt(j);
    if (d === 69 || d === 101) {
      let k = j + 1;
      if (k < n) {
        const sign = s.charCodeAt(k);
        if (sign === 43 || sign === DASH) k++;
      }
      if (k >= n || !isDigit(s.charCodeAt(k))) return -1; // 1e, 1e+ (realfail / junk)
      while (k < n && isDigit(s.charCodeAt(k))) k++;
      j = k;
      isFloat = true;
    }
  }
  if (j < n) {
    const d = s.charCodeAt(j);
    // Trailing junk (1abc, 1_000, 0x1F, 1.5.x is fine but 1.5x is not) and
    // anything else we would rather not reason about.
    if (isIdentCont(d)) return -1;
    if (d === DOT && !isFloat) return -1;
  }
  if (isFloat) {
    push(T_FLOAT, i, j);
  } else {
    // int4 range, like PostgreSQL's process_integer_literal.
    let a = i;
    while (a < j - 1 && s.charCodeAt(a) === 48) a++;
    const len = j - a;
    const big = len > 10 || (len === 10 && s.slice(a, j) > '2147483647');
    push(big ? T_BIGNUM : T_INT, i, j);
  }
  return j;
}

/** `$1` or `$tag$…$tag$` at `i`. Pushes it; returns its end or -1. */
function scanDollar(s: string, i: number, n: number): number {
  if (i + 1 >= n) return -1;
  const c = s.charCodeAt(i + 1);
  if (isDigit(c)) {
    let j = i + 2;
    while (j < n && isDigit(s.charCodeAt(j))) j++;
    if (j < n && isIdentCont(s.charCodeAt(j))) return -1; // $1abc (trailing junk)
    if (j - i > 6) return -1; // "parameter number too large" lies beyond; nobody needs $100000
    push(T_PARAM, i, j);
    return j;
  }
  let j = i + 1;
  if (c !== DOLLAR) {
    if (c >= 128 || CLASS[c] !== C_LETTER) return -1; // a lone '$'
    j++;
    while (j < n) {
      const d = s.charCodeAt(j);
      if (d >= 128) return -1;
      const k = CLASS[d];
      if (k === C_LETTER || k === C_DIGIT) j++;
      else break;
    }
    if (j >= n || s.charCodeAt(j) !== DOLLAR) return -1; // $abc without a closing $ (dolqfailed)
  }
  const delim = s.slice(i, j + 1);
  const close = s.indexOf(delim, j + 1);
  if (close < 0) return -1; // unterminated
  const end = close + delim.length;
  push(T_DOLLAR, i, end);
  return end;
}

/** A token as the tests see it. */
export interface LexToken {
  type: number;
  start: number;
  end: number;
}

/** Tokenize (comments included) or null when the lexer gives up. For tests and tools. */
export function lexTokens(s: string): LexToken[] | null {
  if (!scan(s)) return null;
  const out: LexToken[] = [];
  for (let k = 0; k < count; k++) out.push({ type: tType[k]!, start: tStart[k]!, end: tEnd[k]! });
  return out;
}

/**
 * The shape of `s`: its tokens with literals replaced ('' for strings, 0 for
 * int4 integers, 0.0 for other numbers), comments dropped and unquoted words
 * lower-cased, joined by single spaces. Two texts with the same shape are the
 * same token sequence for PostgreSQL except for the values of their string
 * and numeric literals. Returns null when the lexer is not sure; '' for a
 * text with no tokens (blank or only comments).
 */
export function shapeOf(s: string): string | null {
  if (!scan(s)) return null;
  let out = '';
  for (let k = 0; k < count; k++) {
    const type = tType[k];
    let piece: string;
    switch (type) {
      case T_LINE_COMMENT:
      case T_BLOCK_COMMENT:
        continue;
      case T_STRING:
        piece = "''";
        break;
      case T_INT:
        piece = '0';
        break;
      case T_BIGNUM:
      case T_FLOAT:
        piece = '0.0';
        break;
      case T_WORD:
        piece = s.slice(tStart[k], tEnd[k]).toLowerCase(); // ASCII only (checked by scan)
        break;
      default:
        piece = s.slice(tStart[k], tEnd[k]);
    }
    out = out.length === 0 ? piece : out + ' ' + piece;
  }
  return out;
}
