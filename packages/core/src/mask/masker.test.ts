import { describe, expect, it } from 'vitest';
import type { MaskRule } from '../types.js';
import { DETECTOR_NAMES } from '../types.js';
import { createMasker } from './index.js';
import { keyedHash } from './strategies.js';

const key = Buffer.from('test-hash-key-0123456789abcdef');
const make = (rules: MaskRule[]) => {
  const m = createMasker(rules, { hashKey: key });
  if (!m) throw new Error('expected a masker');
  return m;
};
const ALL: MaskRule = { detectors: [...DETECTOR_NAMES] };

describe('createMasker', () => {
  it('returns null when nothing is to be masked', () => {
    expect(createMasker([], { hashKey: key })).toBeNull();
    expect(createMasker([{}], { hashKey: key })).toBeNull();
    expect(createMasker([{ detectors: [], columns: [], strategy: 'hash' }], { hashKey: key })).toBeNull();
  });
  it('rejects unknown detectors, bad patterns, and hash without a key', () => {
    expect(() => createMasker([{ detectors: ['passport' as never] }], { hashKey: key })).toThrow(/passport/);
    expect(() => createMasker([{ columns: ['a..b'] }], { hashKey: key })).toThrow();
    expect(() => createMasker([{ detectors: ['email'], strategy: 'hash' }], { hashKey: Buffer.alloc(0) })).toThrow(/hashKey/);
    expect(createMasker([{ detectors: ['email'] }], { hashKey: Buffer.alloc(0) })).not.toBeNull();
  });
});

describe('columnNames', () => {
  it('lists the lower-case column names that column rules name', () => {
    const m = make([
      { columns: ['Customers.Phone', '*.password_hash'] },
      { columns: ['public.customers."SSN"', 'phone'], detectors: ['email'] },
    ]);
    expect([...m.columnNames].sort()).toEqual(['password_hash', 'phone', 'ssn']);
    expect(make([{ detectors: ['email'] }]).columnNames.size).toBe(0);
  });
});

describe('forResult / cell', () => {
  it('masks whole rule columns and counts them', () => {
    const r = make([{ columns: ['*.password_hash', 'customers.phone'] }]).forResult([
      { name: 'id', table: 'customers', column: 'id' },
      { name: 'phone', table: 'public.customers', column: 'phone' },
      { name: 'password_hash', table: 'users', column: 'password_hash' },
    ]);
    expect(r.active).toBe(true);
    expect([...r.ruleColumns]).toEqual([1, 2]);
    expect(r.cell(0, '42')).toBeNull();
    expect(r.cell(1, 'anything at all')).toBe('[REDACTED]');
    expect(r.cell(2, '$2b$10$abc')).toBe('[REDACTED]');
    expect(r.cell(1, '')).toBeNull(); // empty stays empty
    expect(r.masked).toBe(2);
  });
  it('is inactive when no column is hit and there are no detectors', () => {
    const r = make([{ columns: ['customers.phone'] }]).forResult([{ name: 'id', table: 'orders' }]);
    expect(r.active).toBe(false);
    expect(r.ruleColumns.size).toBe(0);
    expect(r.cell(0, '415-555-0132')).toBeNull();
    expect(r.masked).toBe(0);
  });
  it('runs detectors on every cell, replacing only the span', () => {
    const r = make([{ detectors: ['credit_card', 'email'] }]).forResult([{ name: 'note' }, { name: 'n' }]);
    expect(r.active).toBe(true);
    expect(r.ruleColumns.size).toBe(0);
    expect(r.cell(0, 'card 4111 1111 1111 1111 ok')).toBe('card [REDACTED:credit_card] ok');
    expect(r.cell(1, 'mail bob@example.com, 5555-5555-5555-4444')).toBe('mail [REDACTED:email], [REDACTED:credit_card]');
    expect(r.cell(0, 'nothing here')).toBeNull();
    expect(r.cell(7, 'bob@example.com')).toBe('[REDACTED:email]'); // index past the description still checked
    expect(r.masked).toBe(3);
  });
  it('does not run detectors that are not configured', () => {
    const r = make([{ detectors: ['email'] }]).forResult([{ name: 'x' }]);
    expect(r.cell(0, '4111111111111111')).toBeNull();
  });
  it('applies strategies to columns', () => {
    const cols = [{ name: 'email', table: 't' }, { name: 'card', table: 't' }, { name: 'tok', table: 't' }];
    const r = make([
      { columns: ['t.email', 't.card'], strategy: 'partial' },
      { columns: ['t.tok'], strategy: 'hash' },
    ]).forResult(cols);
    expect(r.cell(0, 'jane@example.com')).toBe('j***@example.com');
    expect(r.cell(1, '4111-1111-1111-1111')).toBe('****-****-****-1111');
    expect(r.cell(2, 'abc')).toBe(keyedHash(key, 'abc'));
    expect(r.cell(1, '---')).toBeNull(); // partial changed nothing
    expect(r.masked).toBe(3);
  });
  it('applies strategies to detector spans', () => {
    const partial = make([{ detectors: [...DETECTOR_NAMES], strategy: 'partial' }]);
    expect(partial.text('card 4111 1111 1111 1111 ok').text).toBe('card **** **** **** 1111 ok');
    expect(partial.text('ssn 123-45-6789').text).toBe('ssn ***-**-6789');
    expect(partial.text('to jane.doe@example.com.').text).toBe('to j***@example.com.');
    expect(partial.text('call (415) 555-0132').text).toBe('call (***) ***-0132');
    // partial never shows pieces of a credential
    expect(partial.text('AKIAIOSFODNN7EXAMPLE').text).toBe('[REDACTED:aws_access_key]');
    const hash = make([{ detectors: ['credit_card', 'email'], strategy: 'hash' }]);
    const h1 = hash.text('a 4111 1111 1111 1111').text;
    expect(h1).toBe('a ' + keyedHash(key, '4111111111111111'));
    // canonical input: formatting does not break joins
    expect(hash.text('4111-1111-1111-1111').text).toBe(keyedHash(key, '4111111111111111'));
    expect(hash.text('Bob@Example.com').text).toBe(hash.text('bob@example.com').text);
    // stable across masker instances with the same key
    expect(make([{ detectors: ['credit_card'], strategy: 'hash' }]).text('a 4111111111111111').text).toBe(h1);
  });
});

describe('strictest strategy', () => {
  it('for a detector in several rules', () => {
    const m = make([
      { detectors: ['email', 'credit_card'], strategy: 'partial' },
      { detectors: ['email'], strategy: 'hash' },
      { detectors: ['credit_card'] }, // default redact
    ]);
    expect(m.text('bob@example.com').text).toBe(keyedHash(key, 'bob@example.com'));
    expect(m.text('4111111111111111').text).toBe('[REDACTED:credit_card]');
  });
  it('for a column in several rules, in any order', () => {
    const cols = [{ name: 'phone', table: 'public.customers' }];
    const a = make([
      { columns: ['*.phone'], strategy: 'hash' },
      { columns: ['customers.phone'], strategy: 'partial' },
    ]).forResult(cols);
    expect(a.cell(0, '415-555-0132')).toBe(keyedHash(key, '415-555-0132'));
    const b = make([
      { columns: ['customers.phone'], strategy: 'partial' },
      { columns: ['public.customers.phone'], strategy: 'redact' },
      { columns: ['*.phone'], strategy: 'hash' },
    ]).forResult(cols);
    expect(b.cell(0, '415-555-0132')).toBe('[REDACTED]');
  });
  it('for overlapping spans of different detectors (united, strictest)', () => {
    const m = make([
      { detectors: ['phone'], strategy: 'hash' },
      { detectors: ['email'], strategy: 'partial' },
    ]);
    // phone 415-555-0132 lies inside the email's local part
    const out = m.text('x 415-555-0132@example.com y');
    expect(out.masked).toBe(1);
    expect(out.text).toBe('x ' + keyedHash(key, '415-555-0132@example.com') + ' y');
    expect(make([ALL]).text('x 415-555-0132@example.com y').text).toBe('x [REDACTED:email] y');
  });
});

describe('text', () => {
  it('counts spans', () => {
    const m = make([ALL]);
    expect(m.text('plain')).toEqual({ text: 'plain', masked: 0 });
    expect(m.text('a@b.co 123-45-6789 AKIAIOSFODNN7EXAMPLE')).toEqual({
      text: '[REDACTED:email] [REDACTED:ssn] [REDACTED:aws_access_key]',
      masked: 3,
    });
  });
  it('masks private keys in terminal output', () => {
    const m = make([ALL]);
    const out = m.text('$ cat id_rsa\r\n-----BEGIN OPENSSH PRIVATE KEY-----\r\nb3BlbnNzaC1rZXktdjEAAAAA\r\n-----END OPENSSH PRIVATE KEY-----\r\n$ ');
    expect(out).toEqual({ text: '$ cat id_rsa\r\n[REDACTED:private_key]\r\n$ ', masked: 1 });
  });
  it('column rules do not apply to free text', () => {
    const m = make([{ columns: ['*.ssn'] }]);
    expect(m.text('123-45-6789')).toEqual({ text: '123-45-6789', masked: 0 });
  });
});

describe('fail closed and linear', () => {
  it('redacts a value it cannot inspect instead of passing it through', () => {
    const m = make([ALL]);
    const r = m.forResult([{ name: 'x' }]);
    expect(r.cell(0, undefined as unknown as string)).toBe('[REDACTED]');
    expect(r.masked).toBe(1);
    expect(m.text(undefined as unknown as string)).toEqual({ text: '[REDACTED]', masked: 1 });
  });
  it('masks 1 MB adversarial values in well under a second each', () => {
    const m = make([ALL]);
    const r = m.forResult([{ name: 'x' }]);
    const MB = 1 << 20;
    const fill = (unit: string): string => unit.repeat(Math.ceil(MB / unit.length)).slice(0, MB);
    for (const v of [
      fill('4'),
      fill('4111 '),
      fill('2024-01-05 '),
      fill('123-45-'),
      fill('(222) 222-'),
      fill('+1 2'),
      fill('a@'),
      fill('DE89 '),
      fill('eyJ'),
      fill('AKIA'),
      fill('-----BEGIN '),
      fill('4111-1111 a@b. eyJ +1 (415) 555 DE89 AKIA ssn secret_key= '),
    ]) {
      const t0 = performance.now();
      r.cell(0, v);
      m.text(v);
      const ms = performance.now() - t0;
      expect(ms, `${v.slice(0, 12)}…: ${ms.toFixed(0)} ms`).toBeLessThan(1500);
    }
  });
  it('masks every card in a 1 MB value of cards', () => {
    const m = make([{ detectors: ['credit_card'] }]);
    const out = m.text('4111 1111 1111 1111\n'.repeat(50_000));
    expect(out.masked).toBe(50_000);
    expect(out.text).not.toMatch(/\d/);
  });
});
