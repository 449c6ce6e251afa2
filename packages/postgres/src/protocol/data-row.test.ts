import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BackendWriter } from './backend-writer.js';
import { DataRowCursor, parseDataRow, validateDataRow } from './data-row.js';
import { ProtocolError } from './errors.js';
import { BackendFramer } from './framer.js';
import { i16, i32 } from './test-fixtures.js';

const payload = (cells: Array<Buffer | string | null>) => new BackendWriter().dataRow(cells).take().subarray(5);

describe('DataRowCursor', () => {
  it('walks cell offsets and lengths without allocating per cell', () => {
    const p = payload(['ab', null, '', 'xyz']);
    const c = new DataRowCursor();
    expect(c.reset(p)).toBe(4);
    const seen: Array<[number, number, number]> = [];
    while (c.next()) seen.push([c.index, c.offset, c.length]);
    expect(seen).toEqual([
      [0, 6, 2],
      [1, 12, -1],
      [2, 16, 0],
      [3, 20, 3],
    ]);
    expect(p.toString('latin1', 20, 23)).toBe('xyz');
  });

  it('resetMessage() walks a framed message in place, offsets into its source', () => {
    const wire = Buffer.concat([new BackendWriter().commandComplete('x').take(), new BackendWriter().dataRow(['ab', null]).take()]);
    const [, m] = new BackendFramer().push(wire);
    const c = new DataRowCursor();
    expect(c.resetMessage(m)).toBe(2);
    expect(c.next()).toBe(true);
    expect(c.buffer).toBe(wire);
    expect(wire.toString('latin1', c.offset, c.offset + c.length)).toBe('ab');
    expect(c.next() && c.length).toBe(-1);
    expect(c.next()).toBe(false);
  });

  it('value() gives a view or null', () => {
    const p = payload(['ab', null]);
    const c = new DataRowCursor();
    c.reset(p);
    c.next();
    expect(c.value()?.buffer).toBe(p.buffer);
    c.next();
    expect(c.value()).toBe(null);
    expect(c.next()).toBe(false);
  });

  it('is reusable across rows', () => {
    const c = new DataRowCursor();
    for (const row of [['1'], ['22', '333'], []]) {
      c.reset(payload(row));
      const out: string[] = [];
      while (c.next()) out.push(String(c.value()));
      expect(out).toEqual(row);
    }
  });

  it('agrees with parseDataRow on any row', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u)), { nil: null }), { maxLength: 30 }), (cells) => {
        expect(parseDataRow(payload(cells))).toEqual(cells);
        expect(validateDataRow(payload(cells))).toBe(cells.length);
      }),
    );
  });

  it.each([
    ['an empty payload', Buffer.alloc(0)],
    ['a truncated count', Buffer.alloc(1)],
    ['more cells announced than present', Buffer.concat([i16(2), i32(0)])],
    ['a truncated length word', Buffer.concat([i16(1), Buffer.alloc(3)])],
    ['a length past the end', Buffer.concat([i16(1), i32(4), Buffer.from('abc')])],
    ['a negative length other than -1', Buffer.concat([i16(1), i32(-2)])],
    ['trailing bytes', Buffer.concat([i16(1), i32(-1), Buffer.from([0])])],
    ['an int32-max length', Buffer.concat([i16(1), i32(0x7fffffff)])],
  ])('refuses %s', (_, p) => {
    expect(() => validateDataRow(p)).toThrow(ProtocolError);
    expect(() => parseDataRow(p)).toThrow(ProtocolError);
  });
});
