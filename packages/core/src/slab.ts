/**
 * Rewritten records (result rows) written back to back into slabs and handed
 * out as views: consecutive records form one contiguous span (the relay
 * merges them into one write) and a record allocates nothing of its own. A
 * view handed out is never written again: a full slab is replaced, not
 * reused. Slabs grow from 2 KiB to 64 KiB, so a connection that rewrites a
 * few small rows keeps a few kilobytes; a slab grown past that for one huge
 * record goes with that record.
 *
 * Protocols subclass it with their record header and cell encoding; one
 * instance per connection.
 */
export class RecordSlab {
  private buf: Buffer | null = null;
  /** Offset of the record being built (everything before it has been handed out). */
  private start = 0;
  private len = 0;
  /** The last short text encoded, and its UTF-8 bytes. */
  private lastText = '';
  private lastBytes: Buffer = Buffer.alloc(0);

  /** Room for `n` more bytes; returns the buffer to write at `this.at`. */
  protected ensure(n: number): Buffer {
    const buf = this.buf;
    if (buf && this.len + n <= buf.length) return buf;
    const open = this.len - this.start;
    let size = buf ? Math.min(SLAB_MAX, buf.length * 2) : SLAB_MIN;
    while (size < open + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    if (buf && open > 0) buf.copy(next, 0, this.start, this.len);
    this.buf = next;
    this.start = 0;
    this.len = open;
    return next;
  }

  /** Where the next byte goes. */
  protected get at(): number {
    return this.len;
  }

  /** Moves past `n` bytes just written at `at`. */
  protected advance(n: number): void {
    this.len += n;
  }

  /** Starts a record with `header` bytes reserved (an unfinished record is dropped); returns the buffer. */
  protected open(header: number): Buffer {
    this.len = this.start;
    const b = this.ensure(header);
    this.len += header;
    return b;
  }

  /** Offset of the current record's first byte in the buffer. */
  protected get recordStart(): number {
    return this.start;
  }

  /** Bytes in the current record so far, header included. */
  protected get recordLength(): number {
    return this.len - this.start;
  }

  /** Copies bytes as they are (whole cells, length prefixes included). */
  copy(src: Buffer, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    const b = this.ensure(n);
    let at = this.len;
    // Buffer#copy makes a view per call: dearer than a short loop for a cell or two.
    if (n <= SHORT_COPY) for (let i = from; i < to; i++) b[at++] = src[i]!;
    else src.copy(b, at, from, to);
    this.len += n;
  }

  /** The UTF-8 bytes of `s`. Replacements repeat ('[REDACTED:email]' on every row): a short one is encoded once. */
  protected utf8(s: string): Buffer {
    if (s.length > SHORT_COPY) return Buffer.from(s, 'utf8');
    if (s !== this.lastText) {
      this.lastText = s;
      this.lastBytes = Buffer.from(s, 'utf8');
    }
    return this.lastBytes;
  }

  /** Appends `bytes`. */
  protected put(bytes: Uint8Array): void {
    const n = bytes.length;
    const b = this.ensure(n);
    let at = this.len;
    if (n <= SHORT_COPY) for (let i = 0; i < n; i++) b[at++] = bytes[i]!;
    else b.set(bytes, at);
    this.len += n;
  }

  /** Hands out the current record (its header already patched) as a view no later write touches. */
  protected close(): Buffer {
    const b = this.buf!;
    const record = b.subarray(this.start, this.len);
    if (b.length > SLAB_MAX) {
      this.buf = null;
      this.start = this.len = 0;
    } else this.start = this.len;
    return record;
  }

  /** Drops the record being built. */
  discard(): void {
    this.len = this.start;
  }
}

const SLAB_MIN = 2048;
const SLAB_MAX = 65536;
/** Copies up to this many bytes are done by hand. */
const SHORT_COPY = 64;
