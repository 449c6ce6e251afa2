import { ByteReader } from '@sluice/core';
import { ProtocolError } from './errors.js';

/**
 * A bounds-checked big-endian cursor over a message payload (the cursor
 * itself is core's ByteReader). Every read that would run past the end
 * throws ProtocolError (never RangeError); `bytes`, `rest` and
 * `cstringBytes` return views, not copies.
 */
export class BufferReader extends ByteReader {
  /**
   * @param buf     the bytes to read (usually a message payload)
   * @param context a name for error messages ('Bind', 'RowDescription' …)
   */
  constructor(buf: Buffer, context = 'message', start = 0, end = buf.length) {
    super(buf, context, start, end);
  }

  protected error(message: string): Error {
    return new ProtocolError(message);
  }

  int16(): number {
    this.need(2, 'int16');
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  /** Counts in the protocol are read unsigned, as PostgreSQL does (0..65535). */
  uint16(): number {
    this.need(2, 'uint16');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4, 'int32');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4, 'uint32');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
}
