import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyedHash, looksLikeEmail, partialEmail, partialMask, redactedMarker, stricter } from './strategies.js';

describe('partialMask', () => {
  it('keeps the last 4 and separators', () => {
    expect(partialMask('4111-1111-1111-1111')).toBe('****-****-****-1111');
    expect(partialMask('4111 1111 1111 1111')).toBe('**** **** **** 1111');
    expect(partialMask('123-45-6789')).toBe('***-**-6789');
    expect(partialMask('+1 (415) 555-0132')).toBe('** (***) ***-0132');
    expect(partialMask('DE89 3704 0044 0532 0130 00')).toBe('**** **** **** **** **30 00');
    expect(partialMask('secret-value')).toBe('******-*alue');
  });
  it('masks every other character class, including symbols and non-ASCII', () => {
    expect(partialMask('a/b+c=d_e#f')).toBe('*******_e#f');
    expect(partialMask('José García')).toBe('**** **rcía');
    expect(partialMask('😀😀😀😀😀😀😀😀😀')).toBe('*****😀😀😀😀');
  });
  it('keeps at most half of a short value', () => {
    expect(partialMask('12345678')).toBe('****5678');
    expect(partialMask('1234')).toBe('**34');
    expect(partialMask('abc')).toBe('**c');
    expect(partialMask('x')).toBe('*');
    expect(partialMask('')).toBe('');
    expect(partialMask('---')).toBe('---');
  });
  it('never throws on lone surrogates', () => {
    expect(partialMask('\ud800abc\udc00def')).toBe('****\udc00def');
    expect(partialMask('abc\ud800')).toBe('**c\ud800');
  });
});

describe('partialEmail', () => {
  it('keeps the first character and the domain', () => {
    expect(partialEmail('jane.doe@example.com')).toBe('j***@example.com');
    expect(partialEmail('jo@example.com')).toBe('j***@example.com');
    expect(partialEmail('j@example.com')).toBe('***@example.com');
  });
  it('looksLikeEmail', () => {
    expect(looksLikeEmail('jane@example.com')).toBe(true);
    expect(looksLikeEmail('jane@example')).toBe(false);
    expect(looksLikeEmail('a b@example.com')).toBe(false);
    expect(looksLikeEmail('a@b@example.com')).toBe(false);
    expect(looksLikeEmail('@example.com')).toBe(false);
  });
});

describe('keyedHash', () => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef');
  it('is hash: + 16 hex of HMAC-SHA256', () => {
    const expected = createHmac('sha256', key).update('4111111111111111').digest('hex').slice(0, 16);
    expect(keyedHash(key, '4111111111111111')).toBe('hash:' + expected);
    expect(keyedHash(key, 'x')).toMatch(/^hash:[0-9a-f]{16}$/);
  });
  it('is stable for a key and differs across keys and values', () => {
    expect(keyedHash(key, 'v')).toBe(keyedHash(Buffer.from(key), 'v'));
    expect(keyedHash(key, 'v')).not.toBe(keyedHash(Buffer.from('other key'), 'v'));
    expect(keyedHash(key, 'v')).not.toBe(keyedHash(key, 'w'));
  });
});

describe('strictness', () => {
  it('redact > hash > partial, unknown = redact', () => {
    expect(stricter('partial', 'hash')).toBe('hash');
    expect(stricter('hash', 'partial')).toBe('hash');
    expect(stricter('hash', 'redact')).toBe('redact');
    expect(stricter('partial', undefined)).toBe('redact');
    expect(stricter('partial', 'partial')).toBe('partial');
    expect(stricter('bogus' as never, 'partial')).toBe('redact');
  });
  it('markers', () => {
    expect(redactedMarker('credit_card')).toBe('[REDACTED:credit_card]');
  });
});
