import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MaskRule, MaskStrategy } from '../types.js';
import { DETECTOR_NAMES } from '../types.js';
import { digitProfile, hasCardChain, hasNanpTail, IBAN_LENGTHS, luhnValid, P_CARD, P_DIGITS, P_NANP, P_SSN_DASH } from './detectors.js';
import { createMasker } from './index.js';

const key = Buffer.from('property-test-key-0123456789abcdef');
const maskerFor = (strategy: MaskStrategy, extra: Partial<MaskRule> = {}) => {
  const m = createMasker([{ detectors: [...DETECTOR_NAMES], strategy, ...extra }], { hashKey: key });
  if (!m) throw new Error('masker expected');
  return m;
};
const STRATEGIES: MaskStrategy[] = ['redact', 'hash', 'partial'];

/** Any UTF-16 code unit, lone surrogates included. */
const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const noise = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: anyUnit, maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...'0123456789 -.+()@:'.split('')), maxLength: 20 }),
);

const digit = fc.integer({ min: 0, max: 9 }).map(String);
/** A Luhn-valid 16-digit card with a payment-card first digit (2-6). */
const card16 = fc
  .tuple(fc.constantFrom('2', '3', '4', '5', '6'), fc.array(digit, { minLength: 14, maxLength: 14 }))
  .map(([first, rest]) => {
    const body = first + rest.join('');
    for (let d = 0; d <= 9; d++) if (luhnValid(body + d, 0, 16)) return body + d;
    throw new Error('unreachable');
  });
const cardFormat = fc.constantFrom('', ' ', '-');
const formatCard = (digits: string, sep: string): string => (sep ? digits.match(/.{4}/g)!.join(sep) : digits);

/** A valid IBAN for a registry country, with a random BBAN of the right length. */
const iban = fc
  .tuple(
    fc.constantFrom(...Object.keys(IBAN_LENGTHS)),
    fc.array(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.split('')), { minLength: 30, maxLength: 30 }),
  )
  .map(([cc, chars]) => {
    const bban = chars.slice(0, IBAN_LENGTHS[cc] - 4).join('');
    let rem = 0;
    for (const ch of bban + cc + '00') {
      const v = parseInt(ch, 36);
      rem = (v < 10 ? rem * 10 + v : rem * 100 + v) % 97;
    }
    return cc + String(98 - rem).padStart(2, '0') + bban;
  });

/** Planted secrets for the idempotence and never-throws properties. */
const secret = fc.oneof(
  card16.map((c) => formatCard(c, ' ')),
  iban,
  fc.constantFrom(
    '123-45-6789',
    'jane.doe@example.com',
    '(415) 555-0132',
    '+44 20 7946 0958',
    'AKIAIOSFODNN7EXAMPLE',
    'aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl',
    '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----',
    'SSN: 123456789',
  ),
);
/** What must not survive masking of each planted secret (the secret itself, or its core). */
const core = (s: string): string =>
  s.startsWith('aws_secret') ? s.slice(22) : s.startsWith('SSN: ') ? s.slice(5) : s.startsWith('-----') ? 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC' : s;

describe('properties', () => {
  it('every Luhn-valid 16-digit card embedded in text is masked and its digits never appear', () => {
    for (const strategy of ['redact', 'hash'] as const) {
      const m = maskerFor(strategy);
      const r = m.forResult([{ name: 'c' }]);
      fc.assert(
        fc.property(noise, card16, cardFormat, noise, (pre, digits, sep, post) => {
          const value = `${pre} ${formatCard(digits, sep)} ${post}`;
          const out = m.text(value);
          expect(out.masked).toBeGreaterThanOrEqual(1);
          expect(out.text).not.toContain(digits);
          expect(out.text.replace(/[ -]/g, '')).not.toContain(digits);
          const cell = r.cell(0, value);
          expect(cell).not.toBeNull();
          expect(cell!.replace(/[ -]/g, '')).not.toContain(digits);
        }),
        { numRuns: 500 },
      );
    }
  });

  it('partial keeps at most the last 4 digits of an embedded card', () => {
    const m = maskerFor('partial');
    fc.assert(
      fc.property(card16, cardFormat, (digits, sep) => {
        const out = m.text(`pay ${formatCard(digits, sep)} now`).text;
        expect(out).toBe(`pay ${formatCard('************' + digits.slice(12), sep)} now`);
      }),
    );
  });

  it('every valid generated IBAN is masked, compact or spaced', () => {
    const m = maskerFor('redact');
    fc.assert(
      fc.property(noise, iban, fc.boolean(), noise, (pre, value, spaced, post) => {
        const shown = spaced ? value.match(/.{1,4}/g)!.join(' ') : value;
        const out = m.text(`${pre} ${shown} ${post}`);
        expect(out.masked).toBeGreaterThanOrEqual(1);
        expect(out.text).not.toContain(shown);
        expect(out.text).not.toContain(value.slice(4));
        expect(out.text).toContain('[REDACTED:iban]');
      }),
      { numRuns: 500 },
    );
  });

  it('masking the output again reveals nothing (and changes nothing under redact)', () => {
    for (const strategy of STRATEGIES) {
      const m = maskerFor(strategy);
      fc.assert(
        fc.property(noise, secret, noise, secret, noise, (a, s1, b, s2, c) => {
          const value = `${a} ${s1} ${b} ${s2} ${c}`;
          const once = m.text(value).text;
          const twice = m.text(once).text;
          for (const s of [s1, s2]) {
            expect(once).not.toContain(core(s));
            expect(twice).not.toContain(core(s));
          }
          if (strategy === 'redact') expect(twice).toBe(once);
        }),
        { numRuns: 300 },
      );
    }
  });

  it('cell never throws on arbitrary unicode, and counts what it changes', () => {
    for (const strategy of STRATEGIES) {
      const m = maskerFor(strategy, { columns: ['*.secret'] });
      const r = m.forResult([{ name: 'secret' }, { name: 'free' }]);
      let changed = 0;
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2 }), noise, fc.option(secret, { nil: undefined }), noise, (index, a, s, b) => {
          const value = s === undefined ? a + b : `${a}${s}${b}`;
          const out = r.cell(index, value);
          if (out !== null) {
            changed++;
            expect(typeof out).toBe('string');
            expect(out).not.toBe(value);
          }
          expect(r.masked).toBe(changed);
          const t = m.text(value);
          expect(typeof t.text).toBe('string');
        }),
        { numRuns: 500 },
      );
    }
  });

  it('the fused digit profile equals the standalone gates (a wrong gate would be a silent leak)', () => {
    const dense = fc.string({ unit: fc.constantFrom(...'0123456789012345678923456 -.+a'.split('')), maxLength: 60 });
    fc.assert(
      fc.property(fc.oneof(dense, noise), (v) => {
        const p = digitProfile(v);
        expect((p & P_DIGITS) === Math.min(255, (v.match(/[0-9]/g) ?? []).length)).toBe(true);
        expect((p & P_CARD) !== 0).toBe(hasCardChain(v));
        expect((p & P_NANP) !== 0).toBe(hasNanpTail(v));
        expect((p & P_SSN_DASH) !== 0).toBe(/\d{3}-\d\d-\d{4}/.test(v));
      }),
      { numRuns: 3000 },
    );
  });

  it('text without any detector trigger is returned unchanged', () => {
    const m = maskerFor('redact');
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz ,;!?'.split('')) }), (v) => {
        expect(m.text(v)).toEqual({ text: v, masked: 0 });
      }),
    );
  });
});
