/**
 * The MySQL/MariaDB pre-scan: a hand-written reading of the text the way the
 * server's lexer reads it, before any parser sees it. Security-critical:
 *
 *  - quotes: '…' and "…" (backslash escapes unless NO_BACKSLASH_ESCAPES, and
 *    doubled quotes), `…` (doubled backticks, no escapes);
 *  - comments: `# …`, `-- …` (only when the second dash is followed by a
 *    space, a control character or the end), `/* … *\/` (not nested);
 *  - executable comments: `/*! … *\/`, `/*!NNNNN … *\/` (run when the version
 *    is ≤ the server's) and, on MariaDB, `/*M! … *\/` and `/*M!NNNNNN … *\/`:
 *    their content is code, the markers are dropped. A versioned comment the
 *    server skips is a comment (one level of nested comment allowed inside);
 *  - statements split at `;` outside quotes and comments.
 *
 * Each statement comes out twice: its original text, and a canonical code
 * text for the parser with comments replaced by a space, unquoted words in
 * lower case, `--` written `- -`, and string literals rewritten so that no
 * parser can read their boundaries differently (a literal holding a quote, a
 * backslash or a control character becomes a placeholder; `values` maps it
 * back). Whatever the scan is unsure of is an error: the caller refuses.
 */

export interface LexOptions {
  /** Backslash is an escape in '…' and "…" (false under sql_mode NO_BACKSLASH_ESCAPES). */
  backslashEscapes: boolean;
  /** The server is MariaDB (reads `/*M!`, 6-digit versions, skips MySQL 5.7+ versions). */
  mariadb: boolean;
  /** Server version as MMmmpp (101100 = 10.11.0, 80036 = 8.0.36). */
  version: number;
}

export interface LexStatement {
  /** The statement as sent (trimmed). */
  text: string;
  /** Canonical code for the parser. */
  code: string;
  /** Placeholder literal body → decoded value. Safe literals are their own value. */
  values: Map<string, string>;
}

export interface LexResult {
  statements: LexStatement[];
  /** A literal's extent depends on the backslash-escape mode (it holds \' ). */
  modeSensitive: boolean;
}

export class LexError extends Error {}

const PLACEHOLDER = '\u0001';

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function isWordChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x24 || c >= 0x80;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Decode the body of a '…' or "…" literal (quote = the delimiter). */
function decode(body: string, quote: string, escapes: boolean): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (escapes && ch === '\\' && i + 1 < body.length) {
      const n = body[++i]!;
      switch (n) {
        case '0':
          out += '\0';
          break;
        case 'b':
          out += '\b';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'Z':
          out += '\x1a';
          break;
        case '%':
        case '_':
          out += '\\' + n;
          break;
        default:
          out += n;
      }
    } else if (ch === quote && body[i + 1] === quote) {
      out += quote;
      i++;
    } else out += ch;
  }
  return out;
}

/**
 * Scan a whole text. Throws LexError when the text cannot be read with
 * certainty (unclosed quote or comment, nested or split executable comment,
 * NUL, a "…" literal holding \" whose reading depends on ANSI_QUOTES).
 */
export function lexMysql(text: string, opts: LexOptions): LexResult {
  if (text.includes('\0')) throw new LexError('statement contains a NUL character');
  const statements: LexStatement[] = [];
  let modeSensitive = false;
  let code = '';
  let stmtStart = 0;
  let values = new Map<string, string>();
  let byBody = new Map<string, string>();
  /** Inside an executed /*! … *\/ comment. */
  let inExec = false;
  const n = text.length;
  let i = 0;

  const lastCodeChar = (): string => {
    for (let k = code.length - 1; k >= 0; k--) {
      const ch = code[k]!;
      if (ch !== ' ') return ch;
      return ' ';
    }
    return ' ';
  };

  const endStatement = (end: number): void => {
    const stmtText = text.slice(stmtStart, end).trim();
    if (code.trim() !== '') statements.push({ text: stmtText, code: code.trim(), values });
    else if (stmtText !== '' && statements.length === 0 && end === n) {
      // Only comments: nothing to run.
    }
    code = '';
    values = new Map();
    byBody = new Map();
  };

  /** Skip a comment body from i (just after the opener) to its closing marker; `nest` levels of /* allowed. */
  const consumeComment = (from: number, nest: number): number => {
    let k = from;
    while (k < n) {
      const c = text.charCodeAt(k);
      if (nest > 0 && c === 0x2f && text.charCodeAt(k + 1) === 0x2a) {
        k = consumeComment(k + 2, nest - 1);
        continue;
      }
      if (c === 0x2a && text.charCodeAt(k + 1) === 0x2f) return k + 2;
      k++;
    }
    throw new LexError('unclosed comment');
  };

  while (i < n) {
    const c = text.charCodeAt(i);
    // ---- quotes
    if (c === 0x27 || c === 0x22) {
      const quote = text[i]!;
      let k = i + 1;
      let escapedQuote = false;
      let closed = false;
      while (k < n) {
        const d = text.charCodeAt(k);
        if (opts.backslashEscapes && d === 0x5c) {
          if (k + 1 >= n) break;
          if (text[k + 1] === quote) escapedQuote = true;
          k += 2;
          continue;
        }
        if (d === c) {
          if (text.charCodeAt(k + 1) === c) {
            k += 2;
            continue;
          }
          closed = true;
          break;
        }
        k++;
      }
      if (!closed) throw new LexError(`unclosed ${quote} literal`);
      if (escapedQuote) {
        // Under ANSI_QUOTES "…" is an identifier without escapes: we cannot tell where it ends.
        if (quote === '"') throw new LexError('a "…" literal holds \\" (its reading depends on ANSI_QUOTES)');
        modeSensitive = true;
      }
      const body = text.slice(i + 1, k);
      if (!/['"\\\x00-\x1f\x7f]/.test(body)) {
        code += `'${body}'`;
      } else {
        let ph = byBody.get(quote + body);
        if (ph === undefined) {
          ph = `${PLACEHOLDER}${byBody.size}`;
          byBody.set(quote + body, ph);
          values.set(ph, decode(body, quote, opts.backslashEscapes));
        }
        code += `'${ph}'`;
      }
      i = k + 1;
      continue;
    }
    // ---- backquoted identifier
    if (c === 0x60) {
      let k = i + 1;
      let closed = false;
      while (k < n) {
        if (text.charCodeAt(k) === 0x60) {
          if (text.charCodeAt(k + 1) === 0x60) {
            k += 2;
            continue;
          }
          closed = true;
          break;
        }
        k++;
      }
      if (!closed) throw new LexError('unclosed ` identifier');
      code += text.slice(i, k + 1);
      i = k + 1;
      continue;
    }
    // ---- # comment
    if (c === 0x23) {
      const e = text.indexOf('\n', i);
      i = e < 0 ? n : e + 1;
      code += ' ';
      continue;
    }
    // ---- -- comment (needs a space or control character after)
    if (c === 0x2d && text.charCodeAt(i + 1) === 0x2d) {
      const after = i + 2 < n ? text.charCodeAt(i + 2) : 0;
      if (after <= 0x20 || after === 0x7f) {
        const e = text.indexOf('\n', i);
        i = e < 0 ? n : e + 1;
        code += ' ';
        continue;
      }
    }
    // ---- /* comments
    if (c === 0x2f && text.charCodeAt(i + 1) === 0x2a) {
      let k = i + 2;
      let maria = false;
      if (opts.mariadb && text[k] === 'M' && text[k + 1] === '!') {
        maria = true;
        k++;
      }
      if (text[k] === '!') {
        k++;
        let digits = 0;
        while (digits < 7 && isDigit(text.charCodeAt(k + digits))) digits++;
        let execute = true;
        if (digits >= 5) {
          let len = 5;
          if (digits >= 6) {
            if (!opts.mariadb) throw new LexError('a 6-digit version comment (read differently by MySQL versions)');
            len = 6;
          }
          const v = Number(text.slice(k, k + len));
          k += len;
          execute = v <= opts.version && (!opts.mariadb || maria || v < 50700 || v > 99999);
        }
        if (execute) {
          if (inExec) throw new LexError('an executable comment inside an executable comment');
          inExec = true;
          code += ' ';
          i = k;
        } else {
          i = consumeComment(k, 1);
          code += ' ';
        }
        continue;
      }
      i = consumeComment(i + 2, 0);
      code += ' ';
      continue;
    }
    // ---- end of an executable comment
    if (inExec && c === 0x2a && text.charCodeAt(i + 1) === 0x2f) {
      inExec = false;
      code += ' ';
      i += 2;
      continue;
    }
    // ---- statement separator
    if (c === 0x3b) {
      if (inExec) throw new LexError('a statement separator inside an executable comment');
      endStatement(i);
      i++;
      stmtStart = i;
      continue;
    }
    // ---- charset introducer before a literal (_utf8mb4'…'): drop it, the literal stays
    if (c === 0x5f && !isWordChar(code.length ? code.charCodeAt(code.length - 1) : 0x20)) {
      let k = i + 1;
      while (k < n && isWordChar(text.charCodeAt(k))) k++;
      if (k < n && (text[k] === "'" || text[k] === '"') && /^_[a-z0-9]+$/i.test(text.slice(i, k))) {
        code += ' ';
        i = k;
        continue;
      }
    }
    // ---- plain code
    if (c === 0x2d && lastCodeChar() === '-') code += ' -';
    else if (c >= 0x41 && c <= 0x5a) code += String.fromCharCode(c + 32);
    else if (isSpace(c)) code += c === 0x0b || c === 0x0c ? ' ' : text[i];
    else code += text[i];
    i++;
  }
  if (inExec) throw new LexError('unclosed executable comment');
  endStatement(n);
  return { statements, modeSensitive };
}
