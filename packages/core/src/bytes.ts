/**
 * The growable buffer under every protocol's message writer: frames are
 * appended whole, `take()` hands out an exact-size copy and empties it.
 * A frame left open (its build threw half-way) is discarded by the next
 * `beginFrame()` or `take()`, so a long-lived writer never sends half a
 * message. Subclasses write headers and numbers in their protocol's byte
 * order and close frames themselves.
 */
export class ByteBuilder {
  protected buf: Buffer;
  protected len = 0;
  /** Offset of the open frame's first byte, or -1 when no frame is open. */
  protected frameStart = -1;

  constructor(initialCapacity = 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialCapacity));
  }

  /** Bytes written so far (all frames, including an open one). */
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

  /** Opens a frame with `headerBytes` reserved; returns its offset. */
  protected beginFrame(headerBytes: number): number {
    this.discardOpen();
    this.ensure(headerBytes);
    const at = this.len;
    this.frameStart = at;
    this.len += headerBytes;
    return at;
  }

  /** Drops a frame left open by a build that threw. */
  protected discardOpen(): void {
    if (this.frameStart >= 0) {
      this.len = this.frameStart;
      this.frameStart = -1;
    }
  }

  /** UTF-8 text without a terminator. */
  string(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    this.ensure(n);
    this.buf.write(s, this.len, n, 'utf8');
    this.len += n;
    return this;
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

  /** Drops everything written, including an open frame. */
  reset(): this {
    this.len = 0;
    this.frameStart = -1;
    return this;
  }
}

/**
 * The bounds-checked cursor under every protocol's message reader. Every
 * read that would run past the end throws the protocol's own error (from
 * `error`, never a RangeError), with the reader's context and the offset;
 * `bytes`, `rest` and `cstringBytes` return views, not copies. Subclasses add
 * numbers in their protocol's byte order.
 */
export abstract class ByteReader {
  protected pos: number;
  protected readonly end: number;

  /**
   * @param buf     the bytes to read (usually one message or packet payload)
   * @param context a name for error messages ('Bind', 'HandshakeResponse41' …)
   */
  constructor(
    protected readonly buf: Buffer,
    protected readonly context: string,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  /** The protocol's error for malformed input (the caller answers it in the protocol's own form). */
  protected abstract error(message: string): Error;

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws the protocol's error naming this reader's context. */
  fail(what: string): never {
    throw this.error(`${this.context}: ${what}`);
  }

  protected need(n: number, what: string): void {
    if (this.end - this.pos < n) this.fail(`truncated ${what} at offset ${this.pos}`);
  }

  /** The next byte without consuming it, or -1 at the end. */
  peek(): number {
    return this.pos < this.end ? this.buf[this.pos]! : -1;
  }

  skip(n: number): void {
    this.need(n, `${n}-byte field`);
    this.pos += n;
  }

  uint8(): number {
    this.need(1, 'byte');
    return this.buf[this.pos++]!;
  }

  int8(): number {
    this.need(1, 'int8');
    return this.buf.readInt8(this.pos++);
  }

  /**
   * Index of the NUL ending the string at the cursor; throws if there is
   * none before the reader's end. Names are mostly short or empty: the first
   * bytes are looked at here, a longer string is searched natively.
   */
  private nul(): number {
    const { buf, pos, end } = this;
    const near = Math.min(end, pos + 16);
    for (let i = pos; i < near; i++) if (buf[i] === 0) return i;
    const at = near < end ? buf.indexOf(0, near) : -1;
    if (at < 0 || at >= end) this.fail(`string at offset ${pos} has no NUL terminator`);
    return at;
  }

  /** A NUL-terminated string, decoded as UTF-8. */
  cstring(): string {
    const at = this.nul();
    const s = at === this.pos ? '' : this.buf.toString('utf8', this.pos, at);
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
    if (n < 0) this.fail(`negative length ${n}`);
    this.need(n, `${n}-byte field`);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** `n` bytes decoded as UTF-8. */
  string(n: number): string {
    this.need(n, `${n}-byte string`);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** Everything left, as a view. */
  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }

  /** Everything left, decoded as UTF-8. */
  restString(): string {
    const s = this.buf.toString('utf8', this.pos, this.end);
    this.pos = this.end;
    return s;
  }

  /** Asserts the whole payload was consumed (no trailing garbage). */
  done(): void {
    if (this.pos !== this.end) this.fail(`${this.end - this.pos} unexpected trailing byte(s)`);
  }
}
