import { describe, expect, it } from 'vitest';
import type { ColumnRef } from '../types.js';
import { columnMatches, coveredBy, parseColumnPattern } from './columns.js';

const m = (pattern: string, ref: ColumnRef): boolean => columnMatches(parseColumnPattern(pattern), ref);

describe('column patterns', () => {
  it('*.column matches any table, by source column or name', () => {
    expect(m('*.ssn', { name: 'ssn', table: 'public.customers', column: 'ssn' })).toBe(true);
    expect(m('*.ssn', { name: 'ssn' })).toBe(true);
    expect(m('*.ssn', { name: 'ssn', table: 'hr.people' })).toBe(true);
    expect(m('*.ssn', { name: 'ssn_last4', table: 'hr.people' })).toBe(false);
  });
  it('an alias is seen through `column`', () => {
    expect(m('customers.phone', { name: 'p', table: 'customers', column: 'phone' })).toBe(true);
    expect(m('customers.phone', { name: 'phone', table: 'customers', column: 'id' })).toBe(false);
    // no source column known: the visible name decides
    expect(m('customers.phone', { name: 'phone', table: 'customers' })).toBe(true);
    expect(m('customers.phone', { name: 'phone', table: 'customers', column: '' })).toBe(true);
  });
  it('unqualified table matches any schema', () => {
    expect(m('customers.phone', { name: 'phone', table: 'customers' })).toBe(true);
    expect(m('customers.phone', { name: 'phone', table: 'public.customers' })).toBe(true);
    expect(m('customers.phone', { name: 'phone', table: 'sales.customers' })).toBe(true);
    expect(m('customers.phone', { name: 'phone', table: 'orders' })).toBe(false);
    expect(m('customers.phone', { name: 'phone', table: 'public.customers_old' })).toBe(false);
  });
  it('schema-qualified table matches the same schema or an unqualified table', () => {
    expect(m('public.customers.phone', { name: 'phone', table: 'public.customers' })).toBe(true);
    expect(m('public.customers.phone', { name: 'phone', table: 'customers' })).toBe(true);
    expect(m('public.customers.phone', { name: 'phone', table: 'sales.customers' })).toBe(false);
    expect(m('public.customers.phone', { name: 'phone', table: 'mydb.public.customers' })).toBe(true);
    expect(m('public.customers.phone', { name: 'phone', table: 'mydb.sales.customers' })).toBe(false);
  });
  it('fails closed when the table is unknown', () => {
    expect(m('customers.phone', { name: 'phone' })).toBe(true);
    expect(m('public.customers.phone', { name: 'x', column: 'phone' })).toBe(true);
    expect(m('customers.phone', { name: 'email' })).toBe(false);
  });
  it('is case-insensitive and ignores identifier quotes', () => {
    expect(m('Customers.Phone', { name: 'PHONE', table: 'PUBLIC.CUSTOMERS' })).toBe(true);
    expect(m('"Customers"."Phone"', { name: 'phone', table: 'customers' })).toBe(true);
    expect(m('customers.phone', { name: 'phone', table: '"public"."Customers"' })).toBe(true);
    expect(m('`shop`.`customers`.`phone`', { name: 'phone', table: 'shop.customers' })).toBe(true);
  });
  it('supports globs in table parts and a bare column', () => {
    expect(m('pay*.iban', { name: 'iban', table: 'public.payouts' })).toBe(true);
    expect(m('pay*.iban', { name: 'iban', table: 'public.orders' })).toBe(false);
    expect(m('*.*.iban', { name: 'iban', table: 'public.payouts' })).toBe(true);
    expect(m('ssn', { name: 'ssn', table: 'anything' })).toBe(true);
    expect(m('a.b+c', { name: 'b+c', table: 'a' })).toBe(true);
    expect(m('a.b+c', { name: 'bbc', table: 'a' })).toBe(false);
  });
  it('rejects malformed patterns', () => {
    expect(() => parseColumnPattern('')).toThrow();
    expect(() => parseColumnPattern('customers.')).toThrow();
    expect(() => parseColumnPattern('.phone')).toThrow();
    expect(() => parseColumnPattern('a..b')).toThrow();
    expect(() => parseColumnPattern('customers.*')).toThrow(/glob/);
    expect(() => parseColumnPattern('*.card_*')).toThrow(/glob/);
  });
});

describe('coveredBy: computed columns and what they carry', () => {
  const p = parseColumnPattern('customers.ssn');
  it('a computed column is covered through any column it carries, and only through those', () => {
    expect(coveredBy(p, { name: 'upper' })).toBe(false);
    expect(coveredBy(p, { name: 'upper', from: [{ name: 'ssn', column: 'ssn' }] })).toBe(true);
    expect(coveredBy(p, { name: 'upper', from: [{ name: 'ssn', table: 'public.customers', column: 'ssn' }] })).toBe(true);
    expect(coveredBy(p, { name: 'upper', from: [{ name: 'ssn', table: 'orders', column: 'ssn' }, { name: 'id', column: 'id' }] })).toBe(false);
  });
  it("a whole row ('*') is covered when the rule's table matches it, or it names no table", () => {
    expect(coveredBy(p, { name: 'row_to_json', from: [{ name: '*', table: 'customers', column: '*' }] })).toBe(true);
    expect(coveredBy(p, { name: 'row_to_json', from: [{ name: '*', table: 'orders', column: '*' }] })).toBe(false);
    expect(coveredBy(p, { name: 'x', from: [{ name: '*', column: '*' }] })).toBe(true);
    expect(coveredBy(parseColumnPattern('*.ssn'), { name: 'x', from: [{ name: '*', table: 'orders', column: '*' }] })).toBe(true);
  });
  it("a result column merely named '*' is no whole row", () => {
    expect(coveredBy(p, { name: '*' })).toBe(false);
  });
});
