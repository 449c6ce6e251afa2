import { ByteReader } from '@sluice/core';
import { ProtocolError } from './errors.js';

const TWO_32 = 0x1_0000_0000;

/**
 * A bounds-checked little-endian cursor over a packet payload (the cursor
 * itself is core's ByteReader). Every read that would run past the end
 * throws ProtocolError (never RangeError); `bytes`, `rest`, `cstringBytes`
 * and `lenencBytes` return views, not copies.
 */
export class BufferReader extends ByteReader {
  /**
   * @param buf     the bytes to read (usually a packet payload)
   * @param context a name for error messages ('HandshakeResponse41' …)
   */
  constructor(buf: Buffer, context = 'packet', start = 0, end = buf.length) {
    super(buf, context, start, end);
  }

  protected error(message: string): Error {
    return new ProtocolError(message);
  }

  uint16(): number {
    this.need(2, 'int<2>');
    const v = this.buf[this.pos] | (this.buf[this.pos + 1] << 8);
    this.pos += 2;
    return v;
  }

  int16(): number {
    this.need(2, 'int<2>');
    const v = this.buf.readInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  uint24(): number {
    this.need(3, 'int<3>');
    const b = this.buf;
    const p = this.pos;
    this.pos += 3;
    return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16);
  }

  uint32(): number {
    this.need(4, 'int<4>');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  int32(): number {
    this.need(4, 'int<4>');
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  uint64(): bigint {
    this.need(8, 'int<8>');
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  int64(): bigint {
    this.need(8, 'int<8>');
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  float(): number {
    this.need(4, 'float');
    const v = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8, 'double');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /**
   * A length-encoded integer, or null for the 0xFB NULL marker (only valid
   * where a value may be NULL: row cells). 0xFF is never a valid prefix.
   * Values above 2^53 - 1 are refused (use `lenencBig` where they can occur).
   */
  lenencIntOrNull(): number | null {
    const v = this.lenencAny(true);
    if (typeof v === 'bigint') this.fail(`length-encoded integer ${v} is too large`);
    return v;
  }

  /** A length-encoded integer where NULL is not allowed. */
  lenencInt(): number {
    const v = this.lenencIntOrNull();
    if (v === null) this.fail(`unexpected NULL (0xFB) at offset ${this.pos - 1}`);
    return v;
  }

  /** A length-encoded integer as a number when it is safe, else a bigint (affected rows, insert ids). */
  lenencBig(): number | bigint {
    const v = this.lenencAny(false);
    return v as number | bigint;
  }

  private lenencAny(allowNull: boolean): number | bigint | null {
    this.need(1, 'length-encoded integer');
    const first = this.buf[this.pos];
    if (first < 0xfb) {
      this.pos++;
      return first;
    }
    switch (first) {
      case 0xfb:
        if (!allowNull) this.fail(`unexpected NULL (0xFB) at offset ${this.pos}`);
        this.pos++;
        return null;
      case 0xfc: {
        this.need(3, 'length-encoded integer');
        const b = this.buf;
        const p = this.pos;
        this.pos += 3;
        return b[p + 1] | (b[p + 2] << 8);
      }
      case 0xfd: {
        this.need(4, 'length-encoded integer');
        const b = this.buf;
        const p = this.pos;
        this.pos += 4;
        return b[p + 1] | (b[p + 2] << 8) | (b[p + 3] << 16);
      }
      case 0xfe: {
        this.need(9, 'length-encoded integer');
        const lo = this.buf.readUInt32LE(this.pos + 1);
        const hi = this.buf.readUInt32LE(this.pos + 5);
        this.pos += 9;
        if (hi < 0x200000) return hi * TWO_32 + lo;
        return (BigInt(hi) << 32n) | BigInt(lo);
      }
      default:
        return this.fail(`invalid length-encoded integer prefix 0xFF at offset ${this.pos}`);
    }
  }

  /** A length-encoded string as a view of its bytes. */
  lenencBytes(): Buffer {
    return this.bytes(this.lenencInt());
  }

  /** A length-encoded string as a view, or null for 0xFB. */
  lenencBytesOrNull(): Buffer | null {
    const n = this.lenencIntOrNull();
    return n === null ? null : this.bytes(n);
  }

  /** A length-encoded string decoded as UTF-8. */
  lenencString(): string {
    return this.string(this.lenencInt());
  }
}
