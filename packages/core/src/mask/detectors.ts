/**
 * Value detectors: find sensitive values inside a string.
 *
 * Every detector is hand-written for this project (security code we own).
 * Rules followed throughout:
 *  - a cheap necessary condition (length, digit count, a fixed substring) is
 *    checked before any scanning, so a value that cannot match costs a few
 *    comparisons and allocates nothing;
 *  - scanning is linear in the value length: either a hand loop that never
 *    revisits a character more than a bounded number of times, or a regular
 *    expression whose repetitions are bounded and unambiguous;
 *  - a detector never throws and returns spans in ascending order that do not
 *    overlap; `NO_SPANS` (shared, frozen) when there are none.
 */
import { Buffer } from 'node:buffer';
import type { DetectorName } from '../types.js';

/** A half-open range [start, end) of UTF-16 code units inside a value. */
export interface Span {
  start: number;
  end: number;
}

export interface Detector {
  readonly name: DetectorName;
  /** Shortest value that can contain a match. */
  readonly minLength: number;
  /** Fewest ASCII digits a value must contain to match. */
  readonly minDigits: number;
  /**
   * Cheap necessary condition beyond `minLength`/`minDigits` (substring checks).
   * false = `find` surely finds nothing.
   */
  prefilter(value: string): boolean;
  /** Matches, ascending and non-overlapping. Never throws. */
  find(value: string): readonly Span[];
  /** Canonical form of a matched span, used as the keyed-hash input (formatting must not break joins). */
  canonical(span: string): string;
}

export const NO_SPANS: readonly Span[] = Object.freeze([]) as readonly Span[];

// ---------------------------------------------------------------- char helpers

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isLower = (c: number): boolean => c >= 97 && c <= 122;
/** NaN (charCodeAt out of range) is neither digit nor letter, so string ends need no special case. */
const isAlnum = (c: number): boolean => isDigit(c) || isUpper(c) || isLower(c);

/** Number of ASCII digits in `s`, counting stops once `cap` is reached. */
export function countDigits(s: string, cap: number): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57 && ++n >= cap) return n;
  }
  return n;
}

const isHex = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

// ---------------------------------------------------------------- digit profile

/** Profile flags (bits above the digit count). */
export const P_CARD = 1 << 8; // a separator-joined digit chain of 13+ digits starting with 2-6
export const P_NANP = 1 << 9; // 'ddd<sep>dddd', sep one of ' ', '.', '-'
export const P_SSN_DASH = 1 << 10; // 'ddd-dd-dddd'
/** Digit count mask of a profile (saturates at 255). */
export const P_DIGITS = 0xff;

/**
 * One allocation-free pass computing what the digit-based detectors need to
 * know before scanning: the digit count (saturating at 255) and the P_* flags.
 * Each flag is exactly the standalone gate of its detector (tested).
 */
export function digitProfile(s: string): number {
  const n = s.length;
  let digits = 0;
  let flags = 0;
  let run = 0; // length of the digit run ending at i-1
  let chain = 0; // digits in the current card chain
  let skipping = false; // current run cannot start a card chain
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits < 255) digits++;
      if (run === 0) skipping = chain === 0 && (c < 50 || c > 54);
      run++;
      if (!skipping && ++chain >= 13) flags |= P_CARD;
      continue;
    }
    // Not right after a digit: nothing to update (a kept chain separator is
    // always followed by a digit, so run === 0 implies chain === 0).
    if (run === 0) continue;
    if (run >= 3 && (c === 32 || c === 45 || c === 46)) {
      // 'ddd' + separator: look ahead for the NANP tail and the SSN middle
      if (isDigit(s.charCodeAt(i + 1)) && isDigit(s.charCodeAt(i + 2))) {
        if (isDigit(s.charCodeAt(i + 3)) && isDigit(s.charCodeAt(i + 4))) flags |= P_NANP;
        if (
          c === 45 &&
          s.charCodeAt(i + 3) === 45 &&
          isDigit(s.charCodeAt(i + 4)) && isDigit(s.charCodeAt(i + 5)) && isDigit(s.charCodeAt(i + 6)) && isDigit(s.charCodeAt(i + 7))
        ) {
          flags |= P_SSN_DASH;
        }
      }
    }
    if (!(chain > 0 && (c === 32 || c === 45) && isDigit(s.charCodeAt(i + 1)))) chain = 0;
    run = 0;
  }
  return flags | digits;
}

/**
 * Whether an escape sequence ends right before `i`: '\n', '\t' … (JSON or C
 * string escapes), '\uXXXX', '\xXX' or '%XX' (URL encoding). Text stored as
 * escaped JSON reads 'card:\n4111…'; the 'n' there is not part of a word.
 */
function escapeEndsAt(s: string, i: number): boolean {
  if (i >= 2 && s.charCodeAt(i - 2) === 92 /* \ */ && 'nrtbfv'.indexOf(s[i - 1]) !== -1) return true;
  if (i >= 3 && isHex(s.charCodeAt(i - 1)) && isHex(s.charCodeAt(i - 2))) {
    if (s.charCodeAt(i - 3) === 37 /* % */) return true;
    if (i >= 4 && s.charCodeAt(i - 3) === 120 /* x */ && s.charCodeAt(i - 4) === 92) return true;
    if (i >= 6 && s.charCodeAt(i - 5) === 117 /* u */ && s.charCodeAt(i - 6) === 92 && isHex(s.charCodeAt(i - 3)) && isHex(s.charCodeAt(i - 4))) return true;
  }
  return false;
}

/** Whether the character before `i` is a letter or digit of the same word (not the tail of an escape). */
function wordBefore(s: string, i: number): boolean {
  return i > 0 && isAlnum(s.charCodeAt(i - 1)) && !escapeEndsAt(s, i);
}

/**
 * Whether a number-like match may start at `i`: the character before is not a
 * letter or digit (an escape such as '\n' does not count), and is not one of
 * `joiners` glued to a digit before it (so '12-415-555-0132' or '3.4111…' are
 * parts of longer numbers).
 */
function leftClear(s: string, i: number, joiners: string): boolean {
  if (i === 0) return true;
  if (wordBefore(s, i)) return false;
  if (i >= 2 && joiners.indexOf(s[i - 1]) !== -1 && isDigit(s.charCodeAt(i - 2))) return false;
  return true;
}

/** Mirror of `leftClear` for the character at `end`. */
function rightClear(s: string, end: number, joiners: string): boolean {
  if (end >= s.length) return true;
  const c = s.charCodeAt(end);
  if (isAlnum(c)) return false;
  if (joiners.indexOf(s[end]) !== -1 && isDigit(s.charCodeAt(end + 1))) return false;
  return true;
}

function digitsOnly(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isDigit(c)) out += s[i];
  }
  return out;
}

/** Sorts and merges overlapping spans (union). Used when one detector has several patterns. */
export function mergeSpans(spans: Span[] | null): readonly Span[] {
  if (spans === null || spans.length === 0) return NO_SPANS;
  if (spans.length === 1) return spans;
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Span[] = [spans[0]];
  for (let i = 1; i < spans.length; i++) {
    const last = out[out.length - 1];
    const cur = spans[i];
    if (cur.start < last.end) {
      if (cur.end > last.end) last.end = cur.end;
    } else {
      out.push(cur);
    }
  }
  return out;
}

/**
 * Runs a global regex over `s`; `accept` returns the span to keep (or null to
 * retry one character later). Appends to `out`, creating it on the first span.
 */
function regexSpans(
  re: RegExp,
  s: string,
  accept: (m: RegExpExecArray) => Span | null,
  out: Span[] | null,
): Span[] | null {
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    const span = accept(m);
    if (span) {
      (out ??= []).push(span);
      re.lastIndex = Math.max(span.end, m.index + 1);
    } else {
      re.lastIndex = m.index + 1;
    }
  }
  return out;
}

// ---------------------------------------------------------------- credit_card

/** Luhn check over the digits in s[from, to). */
export function luhnValid(s: string, from: number, to: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = to - 1; i >= from; i--) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) continue;
    if (double) {
      const x = d * 2;
      sum += x > 9 ? x - 9 : x;
    } else {
      sum += d;
    }
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * 13-19 digits, either contiguous or in groups of at least 3 digits joined by
 * one space or one dash; Luhn-valid; first digit 2-6 (the major industry
 * identifiers of payment cards: Mastercard 2/5, Amex/Diners/JCB 3, Visa 4,
 * Discover/UnionPay/Maestro 6) — which keeps epoch-millisecond timestamps and
 * large ids starting with 1, 7, 8, 9 out. A longer digit sequence is not a
 * card, but a card-shaped group run inside a longer separated chain is found
 * ('12 4111 1111 1111 1111'). A run touching a letter or a decimal point
 * ('3.4111…', '…1111.25') is not a card.
 */
function findCards(s: string, profile = -1): readonly Span[] {
  if (profile < 0 ? !hasCardChain(s) : (profile & P_CARD) === 0) return NO_SPANS;
  const n = s.length;
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < n; ) {
    if (isDigit(s.charCodeAt(i))) {
      const st = i++;
      while (i < n && isDigit(s.charCodeAt(i))) i++;
      starts.push(st);
      ends.push(i);
    } else {
      i++;
    }
  }
  let out: Span[] | null = null;
  const runs = starts.length;
  for (let a = 0; a < runs; a++) {
    const first = s.charCodeAt(starts[a]);
    if (first < 50 || first > 54) continue; // '2'..'6'
    if (!cardLeftClear(s, starts[a])) continue;
    const firstLen = ends[a] - starts[a];
    let total = 0;
    let best = -1;
    for (let b = a; b < runs; b++) {
      const len = ends[b] - starts[b];
      if (b > a) {
        if (starts[b] !== ends[b - 1] + 1) break;
        const sep = s.charCodeAt(ends[b - 1]);
        if (sep !== 32 && sep !== 45) break;
        if (len < 3 || firstLen < 3) break;
      }
      total += len;
      if (total > 19) break;
      if (total >= 13 && cardRightClear(s, ends[b]) && luhnValid(s, starts[a], ends[b])) best = b;
    }
    if (best >= 0) {
      (out ??= []).push({ start: starts[a], end: ends[best] });
      a = best;
    }
  }
  return out ?? NO_SPANS;
}

/**
 * Allocation-free pre-scan: is there a chain of digits (single ' ' or '-'
 * between digits allowed) holding 13+ digits that starts with 2-6? Timestamps,
 * uuids, prices and most ids fail here without a single allocation.
 */
export function hasCardChain(s: string): boolean {
  let total = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (total === 0 && (c < 50 || c > 54)) {
        // a chain must start with 2-6: skip this digit run
        while (i + 1 < s.length && isDigit(s.charCodeAt(i + 1))) i++;
        continue;
      }
      if (++total >= 13) return true;
    } else if (total > 0 && (c === 32 || c === 45) && isDigit(s.charCodeAt(i + 1))) {
      // joined: keep counting
    } else {
      total = 0;
    }
  }
  return false;
}

function cardLeftClear(s: string, i: number): boolean {
  if (i === 0) return true;
  if (wordBefore(s, i)) return false;
  if (s.charCodeAt(i - 1) === 46 /* . */ && isDigit(s.charCodeAt(i - 2))) return false;
  return true;
}
function cardRightClear(s: string, end: number): boolean {
  if (end >= s.length) return true;
  const c = s.charCodeAt(end);
  if (isAlnum(c)) return false;
  if (c === 46 && isDigit(s.charCodeAt(end + 1))) return false;
  return true;
}

// ---------------------------------------------------------------- ssn

/**
 * A bare or space-separated SSN right after an SSN label ('SSN: 123456789',
 * 'social security no. 123 45 6789'). Our own marker '[REDACTED:ssn]' is not a
 * label, so masking output again changes nothing.
 */
const SSN_LABELED =
  /(?<!\[REDACTED:)\b(?:ssn|social[ _-]?security(?:[ _-]?(?:number|num|no))?)\b[^0-9\r\n]{0,12}?(\d{3} ?\d{2} ?\d{4})(?![0-9A-Za-z])/gi;
/** Cheap gate for an SSN label (native regex scan: faster here than a JS loop). */
const SSN_LABEL_GATE = /ssn|security/i;
const hasSsnLabel = (v: string): boolean => SSN_LABEL_GATE.test(v);

/** Area 001-665, 667-899; group 01-99; serial 0001-9999. */
export function ssnValid(digits: string): boolean {
  if (digits.length !== 9) return false;
  const area = +digits.slice(0, 3);
  const group = +digits.slice(3, 5);
  const serial = +digits.slice(5);
  return area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0;
}

/**
 * US SSN in the dashed form AAA-GG-SSSS anywhere (not part of a longer dashed
 * or dotted number), and the bare 9-digit / space-separated form only right
 * after an SSN label. A cell that is just 9 digits is NOT treated as an SSN:
 * that is also every integer id between 100 000 000 and 899 999 999 — mask
 * such columns with a column rule instead.
 */
function findSsns(s: string, profile = -1): readonly Span[] {
  let out: Span[] | null = null;
  // dashed: find 'ddd-dd-dddd' around each dash, no regex
  const dashed = profile < 0 || (profile & P_SSN_DASH) !== 0;
  for (let d = dashed ? s.indexOf('-', 3) : -1; d !== -1 && d + 8 <= s.length; d = s.indexOf('-', d + 1)) {
    const start = d - 3;
    if (
      s.charCodeAt(d + 3) !== 45 ||
      !isDigit(s.charCodeAt(start)) || !isDigit(s.charCodeAt(start + 1)) || !isDigit(s.charCodeAt(start + 2)) ||
      !isDigit(s.charCodeAt(d + 1)) || !isDigit(s.charCodeAt(d + 2)) ||
      !isDigit(s.charCodeAt(d + 4)) || !isDigit(s.charCodeAt(d + 5)) || !isDigit(s.charCodeAt(d + 6)) || !isDigit(s.charCodeAt(d + 7))
    ) {
      continue;
    }
    const end = d + 8;
    if (!leftClear(s, start, '-.') || !rightClear(s, end, '-.')) continue;
    const text = s.slice(start, end);
    if (ssnValid(text.slice(0, 3) + text.slice(4, 6) + text.slice(7))) (out ??= []).push({ start, end });
  }
  if (hasSsnLabel(s)) {
    out = regexSpans(SSN_LABELED, s, (m) => {
      const end = m.index + m[0].length;
      const start = end - m[1].length;
      if (isDigit(s.charCodeAt(start - 1))) return null;
      return ssnValid(digitsOnly(m[1])) ? { start, end } : null;
    }, out);
  }
  return mergeSpans(out);
}

// ---------------------------------------------------------------- phone

/**
 * E.164: '+', a non-zero digit, then 7-14 more digits, each after at most two
 * separators. The boundaries are inside the pattern so that a run that goes on
 * too long backs off to the longest acceptable prefix (at most 14 steps)
 * instead of being dropped: '+44 20 7946 0958  123-45-6789'.
 */
const PHONE_E164 = /\+[1-9](?:[ .()-]{0,2}\d){7,14}(?![0-9A-Za-z])(?![.-]\d)/g;
/**
 * North American: optional '1 ' / '1-' trunk prefix, area code (in parentheses
 * or followed by a separator), exchange, separator, 4-digit line. Area and
 * exchange start with 2-9. Separators are required: a bare 10-digit integer is
 * not a phone number.
 */
const PHONE_NANP = /(?:1[ .-]?)?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}/g;

/**
 * Allocation-free pre-scan for the NANP tail 'ddd<sep>dddd' (sep one of
 * ' ', '.', '-') that every North American format ends with.
 */
export function hasNanpTail(s: string): boolean {
  for (let i = 3; i + 4 < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 45 && c !== 46) continue;
    if (
      isDigit(s.charCodeAt(i + 1)) && isDigit(s.charCodeAt(i + 2)) && isDigit(s.charCodeAt(i + 3)) && isDigit(s.charCodeAt(i + 4)) &&
      isDigit(s.charCodeAt(i - 1)) && isDigit(s.charCodeAt(i - 2)) && isDigit(s.charCodeAt(i - 3))
    ) {
      return true;
    }
  }
  return false;
}

function findPhones(s: string, profile = -1): readonly Span[] {
  let out: Span[] | null = null;
  if (s.indexOf('+') !== -1) {
    out = regexSpans(PHONE_E164, s, (m) => {
      const start = m.index;
      if (s.charCodeAt(start - 1) === 43 /* + */ || wordBefore(s, start)) return null;
      return { start, end: start + m[0].length };
    }, out);
  }
  if (profile < 0 ? hasNanpTail(s) : (profile & P_NANP) !== 0) {
    out = regexSpans(PHONE_NANP, s, (m) => {
      const start = m.index;
      const end = start + m[0].length;
      return leftClear(s, start, '-.') && rightClear(s, end, '-.') ? { start, end } : null;
    }, out);
  }
  return mergeSpans(out);
}

// ---------------------------------------------------------------- email

/** Local-part characters accepted (a practical subset of RFC 5322 atext). */
function isLocalChar(c: number): boolean {
  return isAlnum(c) || c === 46 /* . */ || c === 95 /* _ */ || c === 37 /* % */ || c === 43 /* + */ || c === 45 /* - */;
}
function isDomainChar(c: number): boolean {
  return isAlnum(c) || c === 46 || c === 45;
}

/**
 * ASCII addresses local@domain.tld: local part of [A-Za-z0-9._%+-], domain of
 * at least two dot-separated labels (letters, digits, inner dashes), the last
 * one (the TLD) letters only, 2+ long. A trailing sentence dot is not part of
 * the address. Internationalised addresses are not detected.
 */
function findEmails(s: string): readonly Span[] {
  let out: Span[] | null = null;
  let floor = 0; // the local part never extends left of this (previous '@' or match end)
  let at = s.indexOf('@');
  while (at !== -1) {
    let l = at;
    while (l > floor && isLocalChar(s.charCodeAt(l - 1))) l--;
    while (l < at && s.charCodeAt(l) === 46) l++; // no leading dots
    let r = at + 1;
    while (r < s.length && isDomainChar(s.charCodeAt(r))) r++;
    const domainEnd = l < at ? emailDomainEnd(s, at + 1, r) : -1;
    if (domainEnd > 0) {
      (out ??= []).push({ start: l, end: domainEnd });
      floor = domainEnd;
      at = s.indexOf('@', domainEnd);
    } else {
      floor = at + 1;
      at = s.indexOf('@', at + 1);
    }
  }
  return out ?? NO_SPANS;
}

/** End of the longest valid domain in s[from, to), or -1. */
function emailDomainEnd(s: string, from: number, to: number): number {
  let best = -1;
  let labelStart = from;
  let labels = 0;
  for (let i = from; i <= to; i++) {
    if (i < to && s.charCodeAt(i) !== 46) continue;
    // label s[labelStart, i)
    if (i === labelStart) break; // empty label ('..', leading or trailing dot)
    if (s.charCodeAt(labelStart) === 45 || s.charCodeAt(i - 1) === 45) break;
    labels++;
    if (labels >= 2 && i - labelStart >= 2) {
      let alpha = true;
      for (let k = labelStart; k < i; k++) {
        const c = s.charCodeAt(k);
        if (!isUpper(c) && !isLower(c)) {
          alpha = false;
          break;
        }
      }
      if (alpha) best = i;
    }
    labelStart = i + 1;
  }
  return best;
}

// ---------------------------------------------------------------- iban

/** IBAN length per country (SWIFT IBAN registry). Only these country codes are detected. */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = Object.freeze({
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27,
  BR: 29, BY: 28, CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28,
  EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23,
  GL: 18, GR: 27, GT: 28, HN: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26,
  IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21,
  LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28,
  NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22,
  RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25,
  SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
});

function ibanDigit(rem: number, c: number): number {
  return isDigit(c) ? (rem * 10 + (c - 48)) % 97 : (rem * 100 + (c - 55)) % 97;
}

/** ISO 7064 mod 97-10 over the IBAN characters in s[start, end) (single spaces ignored). */
export function ibanChecksumValid(s: string, start: number, end: number): boolean {
  let rem = 0;
  for (let i = start + 4; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32) rem = ibanDigit(rem, c);
  }
  for (let i = start; i < start + 4; i++) rem = ibanDigit(rem, s.charCodeAt(i));
  return rem === 1;
}

/**
 * Country code (upper case, a registry country) + 2 check digits + BBAN of
 * upper-case letters and digits, exactly the country's length, compact or with
 * single spaces anywhere after the first four characters; mod-97 == 1; not
 * glued to other letters or digits on either side.
 */
/** Gate: two upper-case letters and two digits somewhere. */
const IBAN_GATE = /[A-Z]{2}\d\d/;

function findIbans(s: string): readonly Span[] {
  if (!IBAN_GATE.test(s)) return NO_SPANS;
  let out: Span[] | null = null;
  const n = s.length;
  for (let i = 0; i + 15 <= n; i++) {
    if (!isUpper(s.charCodeAt(i)) || !isUpper(s.charCodeAt(i + 1))) continue;
    if (!isDigit(s.charCodeAt(i + 2)) || !isDigit(s.charCodeAt(i + 3))) continue;
    if (wordBefore(s, i)) continue;
    const want = IBAN_LENGTHS[s.slice(i, i + 2)];
    if (want === undefined) continue;
    let p = i + 4;
    let count = 4;
    while (count < want && p < n) {
      const c = s.charCodeAt(p);
      if (isUpper(c) || isDigit(c)) {
        count++;
        p++;
      } else if (c === 32 && isAlnum(s.charCodeAt(p - 1)) && (isUpper(s.charCodeAt(p + 1)) || isDigit(s.charCodeAt(p + 1)))) {
        p++;
      } else {
        break;
      }
    }
    if (count !== want || isAlnum(s.charCodeAt(p))) continue;
    if (!ibanChecksumValid(s, i, p)) continue;
    (out ??= []).push({ start: i, end: p });
    i = p - 1;
  }
  return out ?? NO_SPANS;
}

// ---------------------------------------------------------------- jwt

function isB64Url(c: number): boolean {
  return isAlnum(c) || c === 45 /* - */ || c === 95 /* _ */;
}
const JWT_MAX_HEADER = 16384;

function jwtHeaderValid(segment: string): boolean {
  if (segment.length > JWT_MAX_HEADER) return false;
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return (
      typeof header === 'object' &&
      header !== null &&
      !Array.isArray(header) &&
      typeof (header as Record<string, unknown>).alg === 'string'
    );
  } catch {
    return false;
  }
}

/**
 * JWS compact (header.payload.signature, signature may be empty for alg
 * 'none') and JWE compact (five segments): the header starts 'eyJ' (base64url
 * of '{"'), decodes to a JSON object with a string "alg". The span covers every
 * dot-joined segment. Not glued to other base64url characters on the left.
 */
function findJwts(s: string): readonly Span[] {
  let out: Span[] | null = null;
  const n = s.length;
  let from = 0;
  let i: number;
  while ((i = s.indexOf('eyJ', from)) !== -1) {
    if (i > 0 && isB64Url(s.charCodeAt(i - 1)) && !escapeEndsAt(s, i)) {
      from = i + 3;
      continue;
    }
    let p = i + 3;
    while (p < n && isB64Url(s.charCodeAt(p))) p++;
    const headerEnd = p;
    if (s.charCodeAt(p) !== 46) {
      from = p;
      continue;
    }
    const payloadStart = ++p;
    while (p < n && isB64Url(s.charCodeAt(p))) p++;
    if (p === payloadStart || s.charCodeAt(p) !== 46) {
      from = p;
      continue;
    }
    p++;
    while (p < n && isB64Url(s.charCodeAt(p))) p++;
    // JWE: two more segments
    while (s.charCodeAt(p) === 46 && isB64Url(s.charCodeAt(p + 1))) {
      p++;
      while (p < n && isB64Url(s.charCodeAt(p))) p++;
    }
    if (jwtHeaderValid(s.slice(i, headerEnd))) {
      (out ??= []).push({ start: i, end: p });
    }
    from = p > i + 3 ? p : i + 3;
  }
  return out ?? NO_SPANS;
}

// ---------------------------------------------------------------- aws_access_key

const AWS_KEY_ID = /(?:AKIA|ASIA)[A-Z0-9]{16}/g;
const AWS_ID_GATE = /A[KS]IA/;
const AWS_SECRET_GATE = /secret/i;
/**
 * A 40-character secret access key right after a secret-key label
 * ('aws_secret_access_key = …', '"SecretAccessKey": "…"', 'secret_key: …').
 */
const AWS_SECRET =
  /(?:aws)?[_. -]?secret[_. -]?(?:access)?[_. -]?key["']?[ \t]{0,3}(?::|=>?)[ \t]{0,3}["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi;

/** Access key ids (AKIA… long-term, ASIA… temporary) and labelled secret access keys. */
function findAws(s: string): readonly Span[] {
  let out: Span[] | null = null;
  if (AWS_ID_GATE.test(s)) {
    out = regexSpans(AWS_KEY_ID, s, (m) => {
      const start = m.index;
      const end = start + 20;
      if (wordBefore(s, start)) return null;
      return isAlnum(s.charCodeAt(end)) ? null : { start, end };
    }, out);
  }
  if (s.length >= 46 && AWS_SECRET_GATE.test(s)) {
    out = regexSpans(AWS_SECRET, s, (m) => {
      const end = m.index + m[0].length;
      return { start: end - 40, end };
    }, out);
  }
  return mergeSpans(out);
}

// ---------------------------------------------------------------- private_key

const PEM_BEGIN = /-----BEGIN ([A-Z0-9 ]{0,40}?)PRIVATE KEY( BLOCK)?-----/y;
const PEM_END_ANY = /-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;

/**
 * PEM/OpenSSH/PGP private key blocks, BEGIN line through the matching END
 * line; a BEGIN without an END runs to the end of the value (a truncated key is
 * still a key).
 */
function findPrivateKeys(s: string): readonly Span[] {
  let out: Span[] | null = null;
  let from = 0;
  let i: number;
  while ((i = s.indexOf('-----BEGIN ', from)) !== -1) {
    PEM_BEGIN.lastIndex = i;
    const m = PEM_BEGIN.exec(s);
    if (!m) {
      from = i + 11;
      continue;
    }
    const bodyStart = i + m[0].length;
    const label = m[0].slice(11, -5); // 'RSA PRIVATE KEY'
    const endLine = `-----END ${label}-----`;
    let end: number;
    const e = s.indexOf(endLine, bodyStart);
    if (e !== -1) {
      end = e + endLine.length;
    } else {
      PEM_END_ANY.lastIndex = bodyStart;
      const any = PEM_END_ANY.exec(s);
      end = any ? any.index + any[0].length : s.length;
    }
    (out ??= []).push({ start: i, end });
    from = end;
  }
  return out ?? NO_SPANS;
}

// ---------------------------------------------------------------- registry

/** A detector with its raw scanner (no length/digit/prefilter checks): for the masker, which checks once for all. */
export interface ScanningDetector extends Detector {
  /** `profile`: the value's `digitProfile` when known (the scanner then skips its own digit gates), else -1. */
  readonly scan: (value: string, profile: number) => readonly Span[];
}

function detector(
  name: DetectorName,
  minLength: number,
  minDigits: number,
  prefilter: (value: string) => boolean,
  scan: (value: string, profile: number) => readonly Span[],
  canonical: (span: string) => string,
): ScanningDetector {
  return Object.freeze({
    name,
    minLength,
    minDigits,
    prefilter,
    canonical,
    scan,
    find(value: string): readonly Span[] {
      if (typeof value !== 'string' || value.length < minLength) return NO_SPANS;
      if (minDigits > 0 && countDigits(value, minDigits) < minDigits) return NO_SPANS;
      return prefilter(value) ? scan(value, -1) : NO_SPANS;
    },
  });
}

const always = (): boolean => true;
const same = (s: string): string => s;

/** Internal: the detectors with their raw scanners. */
export const scanningDetectors: Readonly<Record<DetectorName, ScanningDetector>> = Object.freeze({
  credit_card: detector('credit_card', 13, 13, always, findCards, digitsOnly),
  ssn: detector(
    'ssn',
    11,
    9,
    (v) => v.indexOf('-') !== -1 || hasSsnLabel(v),
    findSsns,
    digitsOnly,
  ),
  email: detector('email', 6, 0, (v) => v.indexOf('@') !== -1, findEmails, (s) => s.toLowerCase()),
  iban: detector('iban', 15, 2, always, findIbans, (s) => s.replace(/ /g, '')),
  jwt: detector('jwt', 17, 0, (v) => v.indexOf('eyJ') !== -1, findJwts, same),
  aws_access_key: detector(
    'aws_access_key',
    20,
    0,
    (v) => AWS_ID_GATE.test(v) || (v.length >= 46 && AWS_SECRET_GATE.test(v)),
    findAws,
    same,
  ),
  private_key: detector('private_key', 27, 0, (v) => v.indexOf('-----BEGIN ') !== -1, findPrivateKeys, same),
  phone: detector('phone', 9, 8, always, findPhones, digitsOnly),
});

/** The value detectors, by name. `find` is safe to call on any string. */
export const detectors: Readonly<Record<DetectorName, Detector>> = scanningDetectors;
