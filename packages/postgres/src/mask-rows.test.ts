import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMasker, type ResultMasker } from '@sluice/core';
import { BackendFramer, BackendWriter, parseDataRow, type FieldDescription } from './protocol/index.js';
import { RowMasker, RowSlab } from './mask-rows.js';

const masker = createMasker(
  [{ detectors: ['credit_card', 'email'], strategy: 'redact' }, { columns: ['secret'], strategy: 'redact' }],
  { hashKey: Buffer.alloc(32, 7) },
)!;

const field = (name: string, typeOID: number): FieldDescription => ({ name, tableOID: 0, columnAttr: 0, typeOID, typeLen: -1, typeMod: -1, format: 0 });

/** DataRow messages framed as the relay frames them (views of one chunk). */
function frame(rows: (string | Buffer | null)[][]): ReturnType<BackendFramer['push']> {
  const w = new BackendWriter();
  for (const r of rows) w.dataRow(r);
  return new BackendFramer().push(w.take());
}

/** What a row must become: each cell masked on its own, written afresh. */
function expected(rm: ResultMasker, row: (string | Buffer | null)[]): (string | null)[] {
  return row.map((c, i) => {
    if (c === null) return null;
    const text = typeof c === 'string' ? c : c.toString('utf8');
    return rm.cell(i, text) ?? text;
  });
}

const cellsOf = (b: Buffer): (string | null)[] => parseDataRow(b.subarray(5)).map((c) => (c === null ? null : c.toString('utf8')));

describe('RowMasker', () => {
  it('rewrites only rows with a change, copies the other cells byte for byte, and never overwrites a row it handed out', () => {
    const cell = fc.oneof(
      fc.constant(null),
      fc.string({ maxLength: 30 }),
      fc.constantFrom('alice@example.com', '4111 1111 1111 1111', 'x', '', 'card 4111111111111111 and bob@example.org'),
      fc.integer({ min: 0, max: 70000 }).map((n) => 'a'.repeat(n) + ' carol@example.net'),
    );
    fc.assert(
      fc.property(fc.array(fc.array(cell, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 40 }), (rows) => {
        const fields = [field('a', 25), field('secret', 25), field('c', 25)];
        const slab = new RowSlab();
        const rm = new RowMasker(masker.forResult(fields.map((f) => ({ name: f.name, column: f.name }))), fields, [0, 0, 0], slab);
        const reference = masker.forResult(fields.map((f) => ({ name: f.name, column: f.name })));
        const msgs = frame(rows);
        const outs = msgs.map((m) => rm.row(m));
        // Checked after all rows were written: a later row must not have touched an earlier one.
        outs.forEach((out, k) => {
          const want = expected(reference, rows[k]!);
          expect(cellsOf(out)).toEqual(want);
          const changed = want.some((c, i) => c !== (rows[k]![i] === null ? null : String(rows[k]![i])));
          if (!changed) expect(out).toBe(msgs[k]!.raw);
        });
        expect(rm.rm.masked).toBe(reference.masked);
      }),
      { numRuns: 60 },
    );
  });

  it('consecutive rewritten rows are one contiguous span (one write for the relay)', () => {
    const fields = [field('email', 25)];
    const rm = new RowMasker(masker.forResult([{ name: 'email' }]), fields, [0], new RowSlab());
    const [a, b] = frame([['alice@example.com'], ['bob@example.com']]).map((m) => rm.row(m));
    expect(a!.buffer).toBe(b!.buffer);
    expect(a!.byteOffset + a!.length).toBe(b!.byteOffset);
  });

  it('a slab grown for one huge row is not kept for the rows after it', () => {
    const fields = [field('email', 25)];
    const rm = new RowMasker(masker.forResult([{ name: 'email' }]), fields, [0], new RowSlab());
    const [huge, small] = frame([['x'.repeat(200_000) + ' alice@example.com'], ['bob@example.com']]).map((m) => rm.row(m));
    expect(cellsOf(huge!)).toEqual(['x'.repeat(200_000) + ' [REDACTED:email]']);
    expect(huge!.buffer.byteLength).toBeGreaterThan(200_000);
    expect(small!.buffer.byteLength).toBeLessThanOrEqual(65536);
    expect(cellsOf(small!)).toEqual(['[REDACTED:email]']);
  });

  it('nulls a binary integer whose text is a card number, though its 8 bytes are shorter than a card', () => {
    const fields = [{ ...field('n', 20), typeLen: 8 }];
    const cards = createMasker([{ detectors: ['credit_card'] }], { hashKey: Buffer.alloc(32, 7) })!;
    const rm = new RowMasker(cards.forResult([{ name: 'n' }]), fields, [1], new RowSlab());
    expect(rm.rm.minLength).toBeGreaterThan(8);
    const int8 = Buffer.alloc(8);
    int8.writeBigInt64BE(4111111111111111n);
    const [m] = frame([[int8]]);
    expect(parseDataRow(rm.row(m!).subarray(5))).toEqual([null]);
  });

  it('refuses a malformed row (the relay fails closed)', () => {
    const rm = new RowMasker(masker.forResult([{ name: 'a' }]), [field('a', 25)], [0], new RowSlab());
    const bad = Buffer.from([0x44, 0, 0, 0, 10, 0, 1, 0, 0, 0, 9, 0x61]);
    const [m] = new BackendFramer().push(bad);
    expect(() => rm.row(m!)).toThrow(/DataRow/);
  });
});
