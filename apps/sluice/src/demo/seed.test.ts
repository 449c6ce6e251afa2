import { describe, expect, it } from 'vitest';
import {
  DEMO_CUSTOMER_COUNT,
  DEMO_ORDER_COUNT,
  demoDataSql,
  demoSeedSql,
  formatCardSpaced,
  formatIbanSpaced,
  generateDemoData,
} from './seed.js';

// Independent validators (not the generator's own helpers).
function luhnOk(num: string): boolean {
  const digits = num.replace(/\D/g, '');
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = Number(digits[i]);
    if (double) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
    double = !double;
  }
  return digits.length >= 13 && sum % 10 === 0;
}

function ibanOk(iban: string): boolean {
  const compact = iban.replace(/ /g, '');
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  const numeric = [...rearranged].map((ch) => (/[A-Z]/.test(ch) ? String(ch.charCodeAt(0) - 55) : ch)).join('');
  return BigInt(numeric) % 97n === 1n;
}

const data = generateDemoData();

describe('demo seed data', () => {
  it('is deterministic', () => {
    expect(demoSeedSql()).toBe(demoSeedSql());
    expect(generateDemoData(7)).toEqual(generateDemoData(7));
    expect(generateDemoData(7).customers[0]).not.toEqual(generateDemoData(8).customers[0]);
  });

  it('has the intended size', () => {
    expect(data.customers).toHaveLength(DEMO_CUSTOMER_COUNT);
    expect(data.orders).toHaveLength(DEMO_ORDER_COUNT);
    expect(data.customers.length).toBe(50);
    expect(data.orders.length).toBe(200);
    expect(data.products.length).toBeGreaterThanOrEqual(20);
    expect(data.orderItems.length).toBeGreaterThan(data.orders.length);
    expect(data.supportTickets.length).toBeGreaterThanOrEqual(30);
    expect(data.paymentMethods.length).toBeGreaterThan(data.customers.length);
  });

  it('uses only reserved example domains for emails, all unique', () => {
    const emails = data.customers.map((c) => c.email);
    expect(new Set(emails).size).toBe(emails.length);
    for (const e of emails) expect(e).toMatch(/^[a-z0-9._]+@(mail\.)?example\.(com|org|net)$/);
    // also every address mentioned in ticket prose
    for (const t of data.supportTickets) {
      for (const m of t.body.match(/[\w.+-]+@[\w.-]+\.[a-z]+/g) ?? []) expect(m).toMatch(/@(mail\.)?example\.(com|org|net)$/);
    }
  });

  it('uses only fictional phone ranges (NANP 555-01xx, UK 07700 900xxx)', () => {
    for (const c of data.customers) {
      if (c.country === 'GB') expect(c.phone).toMatch(/^\+44 7700 900\d{3}$/);
      else expect(c.phone).toMatch(/^\+1 [2-9]\d{2}-555-01\d{2}$/);
    }
  });

  it('gives US customers syntactically valid SSNs (no 000/666/9xx area, no zero group/serial)', () => {
    const us = data.customers.filter((c) => c.country === 'US');
    expect(us.length).toBeGreaterThan(15);
    for (const c of data.customers) {
      if (c.country !== 'US') {
        expect(c.ssn).toBeNull();
        continue;
      }
      const m = /^(\d{3})-(\d{2})-(\d{4})$/.exec(c.ssn ?? '');
      expect(m, c.ssn ?? 'null').not.toBeNull();
      const [area, group, serial] = [Number(m![1]), Number(m![2]), Number(m![3])];
      expect(area).toBeGreaterThan(0);
      expect(area).not.toBe(666);
      expect(area).toBeLessThan(900);
      expect(group).toBeGreaterThan(0);
      expect(serial).toBeGreaterThan(0);
    }
  });

  it('has Luhn-valid card numbers with brand-correct test prefixes and lengths', () => {
    const cards = data.paymentMethods.filter((p) => p.kind === 'card');
    expect(cards.length).toBeGreaterThanOrEqual(DEMO_CUSTOMER_COUNT);
    const brands = new Set<string>();
    for (const p of cards) {
      const n = p.cardNumber!;
      brands.add(p.cardBrand!);
      expect(luhnOk(n), n).toBe(true);
      expect(n).toMatch(/^\d+$/);
      if (p.cardBrand === 'visa') expect(n).toMatch(/^4\d{15}$/);
      if (p.cardBrand === 'mastercard') expect(n).toMatch(/^(5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)\d{12,14}$/);
      if (p.cardBrand === 'amex') expect(n).toMatch(/^3[47]\d{13}$/);
      if (p.cardBrand === 'discover') expect(n).toMatch(/^6011\d{12}$/);
      expect(p.expiry).toMatch(/^(0[1-9]|1[0-2])\/\d{2}$/);
    }
    expect([...brands].sort()).toEqual(['amex', 'discover', 'mastercard', 'visa']);
    // every customer has a card, exactly one default card
    for (const c of data.customers) {
      expect(cards.filter((p) => p.customerId === c.id && p.isDefault)).toHaveLength(1);
    }
  });

  it('has valid (mod-97) GB IBANs for some UK customers only', () => {
    const banks = data.paymentMethods.filter((p) => p.kind === 'bank_account');
    expect(banks.length).toBeGreaterThanOrEqual(3);
    for (const p of banks) {
      expect(p.iban).toMatch(/^GB\d{2}[A-Z]{4}\d{14}$/);
      expect(ibanOk(p.iban!), p.iban!).toBe(true);
      expect(p.cardNumber).toBeNull();
      expect(data.customers.find((c) => c.id === p.customerId)?.country).toBe('GB');
    }
    expect(ibanOk('GB82WEST12345698765432')).toBe(true); // the validator itself (ISO 13616 example)
  });

  it('keeps orders consistent: totals are the sum of items, dates after sign-up, known customers', () => {
    const byOrder = new Map<number, number>();
    for (const i of data.orderItems) byOrder.set(i.orderId, (byOrder.get(i.orderId) ?? 0) + i.quantity * i.unitPriceCents);
    for (const o of data.orders) {
      expect(byOrder.get(o.id)).toBe(o.totalCents);
      const c = data.customers.find((x) => x.id === o.customerId)!;
      expect(c).toBeDefined();
      expect(o.createdAt > c.createdAt).toBe(true);
    }
    const ordering = new Set(data.orders.map((o) => o.customerId));
    expect(ordering.size).toBeGreaterThan(30);
    expect(ordering.size).toBeLessThan(DEMO_CUSTOMER_COUNT); // some customers never ordered
  });

  it('embeds emails, phones, card numbers, SSNs and IBANs in support ticket prose', () => {
    const bodies = data.supportTickets.map((t) => t.body);
    const has = (re: RegExp) => bodies.filter((b) => re.test(b)).length;
    expect(has(/@example\./)).toBeGreaterThan(3);
    expect(has(/\+(1 \d{3}-555-01\d{2}|44 7700 900\d{3})/)).toBeGreaterThan(3);
    expect(has(/\b\d{3}-\d{2}-\d{4}\b/)).toBeGreaterThan(1);
    expect(has(/\bGB\d{2}( [A-Z0-9]{4}){4} [0-9]{2}\b/)).toBeGreaterThan(0);
    const cardLike = bodies.flatMap((b) => b.match(/\b\d{4}[ -]?\d{4,6}[ -]?\d{4,5}(?:[ -]?\d{4})?\b/g) ?? []);
    expect(cardLike.filter(luhnOk).length).toBeGreaterThan(3);
    expect(bodies.some((b) => !/@|\d{3}-\d{2}-\d{4}|\+\d/.test(b))).toBe(true); // and some without PII
    // each ticket's PII belongs to its customer (email or phone), so joins make sense
    for (const t of data.supportTickets) {
      const c = data.customers.find((x) => x.id === t.customerId)!;
      if (/@/.test(t.body) && !/change the email/.test(t.body)) expect(t.body).toContain(c.email);
    }
  });

  it('formats cards and IBANs the way people type them', () => {
    expect(formatCardSpaced('4242424242424242')).toBe('4242 4242 4242 4242');
    expect(formatCardSpaced('378282246310005')).toBe('3782 822463 10005');
    expect(formatIbanSpaced('GB82WEST12345698765432')).toBe('GB82 WEST 1234 5698 7654 32');
  });

  it('produces SQL with quotes escaped', () => {
    const sql = demoDataSql(data);
    expect(sql).toContain('INSERT INTO public.customers');
    const irish = data.customers.find((c) => c.fullName.includes("'"));
    if (irish) expect(sql).toContain(irish.fullName.replace(/'/g, "''"));
    expect(sql).not.toMatch(/[^']'[^',)\s]*O'B/); // no unescaped O'Brien
    expect(demoSeedSql().startsWith('BEGIN;')).toBe(true);
    expect(demoSeedSql().trimEnd().endsWith('COMMIT;')).toBe(true);
  });
});
