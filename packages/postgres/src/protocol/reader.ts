import { ProtocolError } from './errors.js';

/**
 * A bounds-checked cursor over a message payload. Every read that would run
 * past the end throws ProtocolError (never RangeError); `bytes`, `rest` and
 * `cstringBytes` return views, not copies.
 */
export class BufferReader {
  private pos: number;
  private readonly end: number;

  /**
   * @param buf     the bytes to read (usually a message payload)
   * @param context a name for error messages ('Bind', 'RowDescription' …)
   */
  constructor(
    private readonly buf: Buffer,
    private readonly context = 'message',
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.end - this.pos < n) {
      throw new ProtocolError(`${this.context}: truncated ${what} at offset ${this.pos}`);
    }
  }

  int8(): number {
    this.need(1, 'int8');
    return this.buf.readInt8(this.pos++);
  }

  uint8(): number {
    this.need(1, 'byte');
    return this.buf[this.pos++];
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

  /** Index of the NUL ending the string at the cursor; throws if there is none. */
  private nul(): number {
    const at = this.buf.indexOf(0, this.pos);
    if (at < 0 || at >= this.end) {
      throw new ProtocolError(`${this.context}: string at offset ${this.pos} has no NUL terminator`);
    }
    return at;
  }

  /** A NUL-terminated string, decoded as UTF-8. */
  cstring(): string {
    const at = this.nul();
    const s = this.buf.toString('utf8', this.pos, at);
    this.pos = at + 1;
    return s;
  }

  /** A NUL-terminated string as a view of its bytes (without the NUL). */
  cstringBytes(): Buffer {
    const at = this.nul();
    const b = this.buf.subarray(this.pos, at);
    this.pos = at + 1;
    return b;
  }

  /** `n` bytes as a view. */
  bytes(n: number): Buffer {
    if (n < 0) throw new ProtocolError(`${this.context}: negative length ${n}`);
    this.need(n, `${n}-byte field`);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** Everything left, as a view. */
  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }

  /** Asserts the whole payload was consumed (no trailing garbage). */
  done(): void {
    if (this.pos !== this.end) {
      throw new ProtocolError(`${this.context}: ${this.end - this.pos} unexpected trailing byte(s)`);
    }
  }
}
