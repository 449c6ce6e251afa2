/**
 * The "shape" of a MySQL statement text: the text with every standalone
 * integer literal replaced by one placeholder character, so that
 * `SELECT v FROM t WHERE id = 17` and `… id = 42` share one cached
 * classification instead of running the SQL parser for each.
 *
 * Sharing is only sound where a classification cannot depend on the value of
 * an integer, so this is deliberately narrow:
 * - `mysqlShape` gives up (null) on any text holding a backslash (string
 *   extents depend on sql_mode), a comment of any kind (`/*!50000 …` makes a
 *   number code), or the placeholder character itself; inside '…', "…" and
 *   `…` nothing is touched. Only a run of decimal digits with no identifier
 *   character, `.`, `@` or `$` on either side counts as an integer (`t1`,
 *   `1e5`, `1.5`, `0x1F`, `db.1`, `@1` are left as they are).
 * - `shapeSafe` admits only the classification of a single SELECT with no
 *   flag at all and no object that could be a number: whether a
 *   DELETE/UPDATE is unbounded does depend on values (`WHERE 1` vs `WHERE 0`),
 *   so those are never shared.
 */
import type { MResult } from './mysqlClassify.js';

/** Stands for an integer in a shape; a text holding it has no shape. */
const HOLE = '\u0001';

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** A character that continues a word next to a number: letters, digits, _, $, @, '.', anything non-ASCII. */
function sticky(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c === 64 || c === 46 || c >= 128;
}

/** The text with standalone integers replaced, or null when it has none or cannot be shaped safely. */
export function mysqlShape(text: string): string | null {
  if (text.includes('\\') || text.includes('/*') || text.includes('#') || text.includes('--') || text.includes(HOLE)) return null;
  let out = '';
  let from = 0; // start of the text not yet copied to out
  let holes = 0;
  const n = text.length;
  for (let i = 0; i < n; ) {
    const c = text.charCodeAt(i);
    if (c === 39 || c === 34 || c === 96) {
      // '…', "…", `…`: a doubled quote stays inside; copied as they are.
      let j = i + 1;
      for (;;) {
        const k = text.indexOf(text[i]!, j);
        if (k < 0) return null; // unterminated: let the classifier say so
        if (text.charCodeAt(k + 1) === c) j = k + 2;
        else {
          i = k + 1;
          break;
        }
      }
      continue;
    }
    if (isDigit(c) && (i === 0 || !sticky(text.charCodeAt(i - 1)))) {
      let j = i + 1;
      while (j < n && isDigit(text.charCodeAt(j))) j++;
      if (j === n || !sticky(text.charCodeAt(j))) {
        out += text.slice(from, i) + HOLE;
        from = j;
        holes++;
      }
      i = j;
      continue;
    }
    i++;
  }
  return holes ? out + text.slice(from) : null;
}

/** Whether a classification may be shared by every text of its shape (see the module comment). */
export function shapeSafe(r: MResult): boolean {
  const t = r.tpl;
  return (
    !r.modeSensitive &&
    t.kind === 'SELECT' &&
    t.text === null &&
    t.flags.length === 0 &&
    t.parts === undefined &&
    t.error === undefined &&
    t.exec === undefined &&
    t.prepare === undefined &&
    t.deallocate === undefined &&
    !t.sqlMode &&
    t.objects.every((o) => !/(^|\.)\d+($|\.)/.test(o))
  );
}
