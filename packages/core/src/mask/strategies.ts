/**
 * Masking strategies: what a masked value (a whole cell, or a detector span)
 * is replaced with.
 */
import { createHmac } from 'node:crypto';
import type { DetectorName, MaskStrategy } from '../types.js';

/** Strictness order: redact > hash > partial. Anything unknown counts as redact (fail closed). */
export function strictness(s: MaskStrategy | undefined): number {
  return s === 'partial' ? 1 : s === 'hash' ? 2 : 3;
}

/** The stricter of two strategies. */
export function stricter(a: MaskStrategy | undefined, b: MaskStrategy | undefined): MaskStrategy {
  const x = normalizeStrategy(a);
  const y = normalizeStrategy(b);
  return strictness(y) > strictness(x) ? y : x;
}

/** 'redact' for absent or unknown strategies. */
export function normalizeStrategy(s: MaskStrategy | undefined): MaskStrategy {
  return s === 'partial' || s === 'hash' ? s : 'redact';
}

/** Marker for a whole masked column. */
export const REDACTED = '[REDACTED]';

/** Marker for a detector span: '[REDACTED:credit_card]'. */
export function redactedMarker(detector: DetectorName): string {
  return `[REDACTED:${detector}]`;
}

/** 'hash:' + the first 16 hex digits of HMAC-SHA256(key, value). */
export function keyedHash(key: Buffer, value: string): string {
  return 'hash:' + createHmac('sha256', key).update(value, 'utf8').digest('hex').slice(0, 16);
}

/**
 * Characters a partial mask keeps in place: whitespace and the separators of
 * card numbers, phone numbers, SSNs, IBANs and dates. Everything else (letters,
 * digits, any other symbol or non-ASCII character) is masked.
 */
function isSeparator(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 45 /* - */ || c === 46 /* . */ || c === 40 /* ( */ || c === 41 /* ) */;
}

/**
 * Keep the last 4 maskable characters, replace every other one with '*',
 * keep separators: '4111-1111-1111-1111' → '****-****-****-1111'.
 * Short values keep at most half of their characters ('1234' → '**34',
 * 'ab' → '*b', 'x' → '*'). A surrogate pair counts as one character.
 */
export function partialMask(value: string): string {
  let total = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (isSeparator(c)) continue;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    total++;
  }
  const keepFrom = total - Math.min(4, total >> 1);
  let out = '';
  let seen = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (isSeparator(c)) {
      out += value[i];
      continue;
    }
    let ch = value[i];
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) ch = value.slice(i, ++i + 1);
    }
    out += seen++ >= keepFrom ? ch : '*';
  }
  return out;
}

/**
 * Email partial: first character of the local part, '***', the domain:
 * 'jane.doe@example.com' → 'j***@example.com'. A one-character local part is
 * not kept ('j@example.com' → '***@example.com').
 */
export function partialEmail(value: string): string {
  const at = value.lastIndexOf('@');
  const local = value.slice(0, at);
  const first = Array.from(local)[0];
  const keep = first !== undefined && first.length < local.length ? first : '';
  return keep + '***' + value.slice(at);
}

/** A whole value that is one email address (for column partial masking). */
export function looksLikeEmail(value: string): boolean {
  const at = value.indexOf('@');
  if (at <= 0 || at !== value.lastIndexOf('@')) return false;
  const dot = value.indexOf('.', at + 2);
  if (dot === -1 || dot === value.length - 1) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 32) return false;
  }
  return true;
}
