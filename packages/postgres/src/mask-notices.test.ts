import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMasker } from '@sluice/core';
import { maskNotice } from './mask-notices.js';
import { BackendCode, BackendWriter, parseNoticeFields } from './protocol/index.js';

const hashKey = Buffer.alloc(32, 7);
const withRules = createMasker([{ detectors: ['email'], columns: ['customers.password_hash'], strategy: 'redact' }], { hashKey })!;
const detectorsOnly = createMasker([{ detectors: ['email'], strategy: 'redact' }], { hashKey })!;
const fieldsOf = (b: Buffer | null) => (b === null ? null : parseNoticeFields(b.subarray(5)));

describe('maskNotice', () => {
  it('writes back every field in order (property: what it did not change stays byte for byte)', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', ' ', '"', 'é', '(', ')') });
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('S', 'V', 'C', 'M', 'D', 'H', 'W', 'F', 'L', 'R', 'n'), text), (fields) => {
        const raw = new BackendWriter().noticeFields(BackendCode.ErrorResponse, fields).take();
        expect(parseNoticeFields(raw.subarray(5))).toEqual(fields);
      }),
    );
  });

  it('with column rules, a data exception hides its quoted value and an integrity violation its key or row', () => {
    const e = (C: string, M: string, D?: string) => fieldsOf(maskNotice(BackendCode.ErrorResponse, { S: 'ERROR', C, M, ...(D ? { D } : {}) }, withRules));
    expect(e('22P02', 'invalid input syntax for type integer: "x$a"b"')).toEqual({ S: 'ERROR', C: '22P02', M: 'invalid input syntax for type integer: "[REDACTED]"' });
    expect(e('23505', 'duplicate key value violates unique constraint "k"', 'Key (a, b)=(1, x) already exists.')!.D).toBe('Key (a, b)=([REDACTED]) already exists.');
    expect(e('23514', 'new row violates check constraint "c"', 'Failing row contains (1, secret, 3).')!.D).toBe('Failing row contains ([REDACTED]).');
    expect(e('22008', 'date field value out of range: 2020-01-100')!.M).toBe('date field value out of range: [REDACTED]');
    expect(e('22012', 'division by zero')).toBeNull();
    expect(e('42703', 'column "nope" does not exist')).toBeNull();
  });

  it('without column rules only the detectors apply, to notices as to errors', () => {
    expect(maskNotice(BackendCode.ErrorResponse, { S: 'ERROR', C: '22P02', M: 'invalid input syntax for type integer: "abc"' }, detectorsOnly)).toBeNull();
    const n = fieldsOf(maskNotice(BackendCode.NoticeResponse, { S: 'NOTICE', C: '00000', M: 'mail jane@example.com', W: 'PL/pgSQL function f(text) line 1 at RAISE' }, detectorsOnly));
    expect(n).toEqual({ S: 'NOTICE', C: '00000', M: 'mail [REDACTED:email]', W: 'PL/pgSQL function f(text) line 1 at RAISE' });
  });
});
