import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors.js';
import { BufferReader } from './reader.js';
import { BufferWriter } from './writer.js';
import { cstr, i16, i32, i8, msg, packet } from './test-fixtures.js';

describe('BufferReader', () => {
  it('reads integers and strings in order', () => {
    const buf = Buffer.concat([i8(0xff), i16(0xfffe), i32(0xfffffffd), cstr('héllo'), Buffer.from([1, 2, 3])]);
    const r = new BufferReader(buf);
    expect(r.int8()).toBe(-1);
    expect(r.int16()).toBe(-2);
    expect(r.int32()).toBe(-3);
    expect(r.cstring()).toBe('héllo');
    expect([...r.bytes(2)]).toEqual([1, 2]);
    expect(r.remaining).toBe(1);
    expect([...r.rest()]).toEqual([3]);
    r.done();
  });

  it('reads unsigned variants', () => {
    const r = new BufferReader(Buffer.concat([i8(0xff), i16(0xffff), i32(0xffffffff)]));
    expect(r.uint8()).toBe(255);
    expect(r.uint16()).toBe(65535);
    expect(r.uint32()).toBe(4294967295);
  });

  it('returns views, not copies', () => {
    const buf = Buffer.concat([cstr('ab'), Buffer.from([9, 9])]);
    const r = new BufferReader(buf);
    expect(r.cstringBytes().toString()).toBe('ab');
    const b = r.bytes(2);
    expect(b.buffer).toBe(buf.buffer);
    expect(b.byteOffset).toBe(buf.byteOffset + 3);
  });

  it('throws ProtocolError on every out-of-bounds read', () => {
    const reads: Array<(r: BufferReader) => unknown> = [
      (r) => r.int8(),
      (r) => r.uint8(),
      (r) => r.int16(),
      (r) => r.uint16(),
      (r) => r.int32(),
      (r) => r.uint32(),
      (r) => r.cstring(),
      (r) => r.cstringBytes(),
      (r) => r.bytes(1),
    ];
    for (const read of reads) {
      expect(() => read(new BufferReader(Buffer.alloc(0)))).toThrow(ProtocolError);
    }
    expect(() => new BufferReader(Buffer.alloc(3)).int32()).toThrow(ProtocolError);
    expect(() => new BufferReader(Buffer.from('abc')).cstring()).toThrow(/no NUL/);
    expect(() => new BufferReader(Buffer.alloc(8)).bytes(-1)).toThrow(ProtocolError);
  });

  it('respects an end before the buffer end', () => {
    const buf = Buffer.from('abc\0');
    expect(() => new BufferReader(buf, 'x', 0, 3).cstring()).toThrow(ProtocolError);
    expect(new BufferReader(buf, 'x', 1, 4).cstring()).toBe('bc');
  });

  it('done() refuses trailing bytes and names the context', () => {
    const r = new BufferReader(Buffer.from([1, 2]), 'Sync');
    r.uint8();
    expect(() => r.done()).toThrow(/Sync: 1 unexpected trailing byte/);
  });
});

describe('BufferWriter', () => {
  it('writes a typed message with a back-patched length', () => {
    const w = new BufferWriter();
    w.begin(0x51).cstring('select 1').end();
    expect(w.take()).toEqual(msg('Q', cstr('select 1')));
  });

  it('writes an untyped startup-phase packet', () => {
    const w = new BufferWriter();
    w.beginUntyped().int32(80877103).end();
    expect(w.take()).toEqual(packet(i32(80877103)));
  });

  it('appends several messages and resets after take()', () => {
    const w = new BufferWriter(16);
    w.begin(0x53).end().begin(0x48).end();
    expect(w.take()).toEqual(Buffer.concat([msg('S'), msg('H')]));
    expect(w.length).toBe(0);
    w.begin(0x58).end();
    expect(w.take()).toEqual(msg('X'));
  });

  it('grows past its initial capacity', () => {
    const w = new BufferWriter(16);
    const big = Buffer.alloc(100_000, 7);
    w.begin(0x64).bytes(big).int16(-2).uint16(65535).int8(-1).uint32(0xffffffff).end();
    const out = w.take();
    expect(out.length).toBe(5 + 100_000 + 9);
    expect(out.readInt32BE(1)).toBe(4 + 100_000 + 9);
    expect(out.subarray(5, 100_005).equals(big)).toBe(true);
  });

  it('take() returns a copy that later writes do not touch', () => {
    const w = new BufferWriter();
    const first = w.begin(0x51).cstring('a').end().take();
    w.begin(0x51).cstring('b').end();
    expect(first).toEqual(msg('Q', cstr('a')));
  });

  it('refuses a NUL inside a string field', () => {
    const w = new BufferWriter();
    expect(() => w.begin(0x51).cstring('a\0b')).toThrow(ProtocolError);
  });

  it('discards a half-built message on the next begin() or take()', () => {
    const w = new BufferWriter();
    w.begin(0x53).end();
    expect(() => w.begin(0x51).cstring('x\0')).toThrow(ProtocolError);
    w.begin(0x48).end();
    expect(w.take()).toEqual(Buffer.concat([msg('S'), msg('H')]));
    w.begin(0x51).int32(1);
    expect(w.take()).toEqual(Buffer.alloc(0));
  });

  it('end() without begin() is a programming error', () => {
    expect(() => new BufferWriter().end()).toThrow(/without begin/);
  });
});
