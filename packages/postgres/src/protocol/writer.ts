import { ByteBuilder } from '@sluice/core';
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
export class BufferWriter extends ByteBuilder {
  /** Offset of the length word of the open message (valid while a frame is open). */
  private lengthAt = 0;

  /** Starts a regular message: type byte, then a length to be patched. */
  begin(type: number): this {
    const at = this.beginFrame(5);
    this.buf[at] = type;
    this.lengthAt = at + 1;
    return this;
  }

  /** Starts a startup-phase packet: a length to be patched, no type byte. */
  beginUntyped(): this {
    this.lengthAt = this.beginFrame(4);
    return this;
  }

  /** Closes the open message, writing its length (which counts itself). */
  end(): this {
    if (this.frameStart < 0) throw new Error('BufferWriter: end() without begin()');
    const n = this.len - this.lengthAt;
    if (n > 0x7fffffff) {
      this.discardOpen();
      throw new ProtocolError(`message too long (${n} bytes)`);
    }
    this.buf.writeInt32BE(n, this.lengthAt);
    this.frameStart = -1;
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

  /**
   * UTF-8 text and a NUL. A NUL inside the text would end the field early and
   * desynchronise the peer, so it is refused.
   */
  cstring(s: string): this {
    if (s.indexOf('\0') !== -1) throw new ProtocolError('string field contains a NUL byte');
    this.string(s);
    return this.byte(0);
  }
}
