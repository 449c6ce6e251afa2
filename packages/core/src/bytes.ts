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
