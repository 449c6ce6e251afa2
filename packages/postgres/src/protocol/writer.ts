import { ProtocolError } from './errors.js';

/**
 * A growable byte buffer that builds whole messages: `begin(type)` writes the
 * type byte and a length placeholder, `end()` back-patches the length.
 * Several messages can be appended before `take()` hands out the bytes (an
 * exact-size copy; the writer is then empty and reusable).
 *
 * A message left open (its build threw half-way, e.g. on a NUL inside a
 * string) is discarded by the next `begin()` or `take()`, so a long-lived
 * writer never sends half a message.
 */
export class BufferWriter {
  private buf: Buffer;
  private len = 0;
  /** Offset of the length word of the open message, or -1. */
  private lengthAt = -1;
  /** Offset of the open message's first byte. */
  private msgStart = 0;

  constructor(initialCapacity = 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialCapacity));
  }

  /** Bytes written so far (all messages, including an open one). */
  get length(): number {
    return this.len;
  }

  protected ensure(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Drops a message left open by a build that threw. */
  private discardOpen(): void {
    if (this.lengthAt >= 0) {
      this.len = this.msgStart;
      this.lengthAt = -1;
    }
  }

  /** Starts a regular message: type byte, then a length to be patched. */
  begin(type: number): this {
    this.discardOpen();
    this.ensure(5);
    this.msgStart = this.len;
    this.buf[this.len] = type;
    this.lengthAt = this.len + 1;
    this.len += 5;
    return this;
  }

  /** Starts a startup-phase packet: a length to be patched, no type byte. */
  beginUntyped(): this {
    this.discardOpen();
    this.ensure(4);
    this.msgStart = this.len;
    this.lengthAt = this.len;
    this.len += 4;
    return this;
  }

  /** Closes the open message, writing its length (which counts itself). */
  end(): this {
    if (this.lengthAt < 0) throw new Error('BufferWriter: end() without begin()');
    const n = this.len - this.lengthAt;
    if (n > 0x7fffffff) {
      this.discardOpen();
      throw new ProtocolError(`message too long (${n} bytes)`);
    }
    this.buf.writeInt32BE(n, this.lengthAt);
    this.lengthAt = -1;
    return this;
  }

  /** A raw byte outside any message framing (e.g. the 'S'/'N' SSL answer). */
  byte(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  int8(v: number): this {
    this.ensure(1);
    this.buf.writeInt8(v, this.len);
    this.len += 1;
    return this;
  }

  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.len);
    this.len += 2;
    return this;
  }

  uint16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.len);
    this.len += 4;
    return this;
  }

  uint32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.len);
    this.len += 4;
    return this;
  }

  /** UTF-8 text without a terminator. */
  string(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    this.ensure(n);
    this.buf.write(s, this.len, n, 'utf8');
    this.len += n;
    return this;
  }

  /**
   * UTF-8 text and a NUL. A NUL inside the text would end the field early and
   * desynchronise the peer, so it is refused.
   */
  cstring(s: string): this {
    if (s.indexOf('\0') !== -1) throw new ProtocolError('string field contains a NUL byte');
    this.string(s);
    return this.byte(0);
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** Returns everything written (exact-size copy) and empties the writer. */
  take(): Buffer {
    this.discardOpen();
    const out = Buffer.allocUnsafe(this.len);
    this.buf.copy(out, 0, 0, this.len);
    this.len = 0;
    return out;
  }

  /** Drops everything written, including an open message. */
  reset(): this {
    this.len = 0;
    this.lengthAt = -1;
    return this;
  }
}
