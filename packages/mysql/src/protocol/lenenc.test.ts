import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors.js';
import { encodeLenencInt, lenencIntSize, readLenencInt } from './lenenc.js';
import { BufferReader } from './reader.js';
import { BufferWriter } from './writer.js';

describe('length-encoded integers and strings', () => {
  it('encodes at the documented boundaries', () => {
    expect([...encodeLenencInt(0)]).toEqual([0]);
    expect([...encodeLenencInt(250)]).toEqual([250]);
    expect([...encodeLenencInt(251)]).toEqual([0xfc, 251, 0]);
    expect([...encodeLenencInt(0xffff)]).toEqual([0xfc, 0xff, 0xff]);
    expect([...encodeLenencInt(0x10000)]).toEqual([0xfd, 0, 0, 1]);
    expect([...encodeLenencInt(0xffffff)]).toEqual([0xfd, 0xff, 0xff, 0xff]);
    expect([...encodeLenencInt(0x1000000)]).toEqual([0xfe, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(lenencIntSize(2n ** 64n - 1n)).toBe(9);
  });

  it('round-trips numbers and bigints', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0x2000000 }), fc.maxSafeNat()), (n) => {
        const b = encodeLenencInt(n);
        expect(readLenencInt(b, 0)).toBe(n);
        expect(new BufferReader(b).lenencInt()).toBe(n);
        expect(new BufferReader(b).lenencBig()).toBe(n);
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (n) => {
        const r = new BufferReader(new BufferWriter().lenencInt(n).take());
        expect(BigInt(r.lenencBig())).toBe(n);
      }),
    );
  });

  it('refuses 0xFF, NULL where not allowed, truncation and unsafe values', () => {
    expect(() => new BufferReader(Buffer.from([0xff])).lenencInt()).toThrow(ProtocolError);
    expect(() => readLenencInt(Buffer.from([0xff]), 0)).toThrow(ProtocolError);
    expect(() => new BufferReader(Buffer.from([0xfb])).lenencInt()).toThrow(/NULL/);
    expect(new BufferReader(Buffer.from([0xfb])).lenencIntOrNull()).toBeNull();
    expect(readLenencInt(Buffer.from([0xfb]), 0)).toBe(-1);
    for (const b of [[0xfc, 1], [0xfd, 1, 2], [0xfe, 1, 2, 3, 4, 5, 6, 7], []]) {
      expect(() => new BufferReader(Buffer.from(b)).lenencInt()).toThrow(ProtocolError);
      expect(() => readLenencInt(Buffer.from(b), 0)).toThrow(ProtocolError);
    }
    const huge = Buffer.from([0xfe, 0, 0, 0, 0, 0, 0, 0x20, 0]);
    expect(() => new BufferReader(huge).lenencInt()).toThrow(/too large/);
    expect(new BufferReader(huge).lenencBig()).toBe(2n ** 53n);
    expect(() => new BufferReader(Buffer.from([5, 1, 2])).lenencBytes()).toThrow(/truncated/);
  });

  it('strings round-trip, NULL marker in rows', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.string({ maxLength: 400 }))), (cells) => {
        const w = new BufferWriter();
        for (const c of cells) c === null ? w.lenencNull() : w.lenencString(c);
        const r = new BufferReader(w.take());
        for (const c of cells) {
          const b = r.lenencBytesOrNull();
          expect(b === null ? null : b.toString('utf8')).toBe(c);
        }
        r.done();
      }),
    );
  });
});
