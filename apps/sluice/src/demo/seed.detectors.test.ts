/**
 * The point of the demo data: the gateway's value detectors must recognise
 * it. Checked against the real detectors of @sluice/core.
 */
import { describe, expect, it } from 'vitest';
import { detectors } from '@sluice/core';
import { formatCardSpaced, formatIbanSpaced, generateDemoData } from './seed.js';

const data = generateDemoData();

/** The detector finds exactly `value` inside `text`. */
function found(name: keyof typeof detectors, text: string, value: string = text): boolean {
  const start = text.indexOf(value);
  return detectors[name].find(text).some((s) => s.start === start && s.end === start + value.length);
}

describe('demo data vs. the core value detectors', () => {
  it('detects every customer email, phone and SSN as stored', () => {
    for (const c of data.customers) {
      expect(found('email', c.email), c.email).toBe(true);
      expect(found('phone', c.phone), c.phone).toBe(true);
      if (c.ssn) expect(found('ssn', c.ssn), c.ssn).toBe(true);
    }
  });

  it('detects every card number and IBAN, compact and as typed with spaces', () => {
    for (const p of data.paymentMethods) {
      if (p.cardNumber) {
        expect(found('credit_card', p.cardNumber), p.cardNumber).toBe(true);
        expect(found('credit_card', formatCardSpaced(p.cardNumber)), p.cardNumber).toBe(true);
      }
      if (p.iban) {
        expect(found('iban', p.iban), p.iban).toBe(true);
        expect(found('iban', formatIbanSpaced(p.iban)), p.iban).toBe(true);
      }
    }
  });

  it('detects the PII embedded in support ticket prose', () => {
    for (const t of data.supportTickets) {
      const c = data.customers.find((x) => x.id === t.customerId)!;
      if (t.body.includes(c.email)) expect(found('email', t.body, c.email), t.body).toBe(true);
      if (t.body.includes(c.phone)) expect(found('phone', t.body, c.phone), t.body).toBe(true);
      if (c.ssn && t.body.includes(c.ssn)) expect(found('ssn', t.body, c.ssn), t.body).toBe(true);
      for (const p of data.paymentMethods.filter((x) => x.customerId === c.id)) {
        if (p.iban && t.body.includes(formatIbanSpaced(p.iban))) expect(found('iban', t.body, formatIbanSpaced(p.iban)), t.body).toBe(true);
        if (!p.cardNumber) continue;
        const forms = [p.cardNumber, formatCardSpaced(p.cardNumber), p.cardNumber.replace(/(\d{4})(?=\d)/g, '$1-')];
        for (const f of forms) if (t.body.includes(f)) expect(found('credit_card', t.body, f), t.body).toBe(true);
      }
    }
  });

  it('does not flag the PII-free columns', () => {
    for (const p of data.products) {
      for (const name of ['credit_card', 'ssn', 'email', 'iban', 'phone'] as const) {
        expect(detectors[name].find(`${p.sku} ${p.name} ${(p.priceCents / 100).toFixed(2)}`)).toHaveLength(0);
      }
    }
  });
});
