import { ProtocolError } from './errors.js';
import type { FramedMessage } from './framer.js';

/**
 * Walks the cells of a DataRow ('D') without allocating per cell:
 *
 *   const c = new DataRowCursor();          // reuse one per connection
 *   c.reset(payload);                       // or c.resetMessage(msg): no payload view at all
 *   while (c.next()) if (c.length >= 0) use(c.buffer, c.offset, c.length);
 *
 * `next()` checks every length against the message and, after the last cell,
 * that nothing trails; violations throw ProtocolError.
 */
/** A cursor's buffer before its first row (one for all: a cursor is made per result). */
const NO_ROW = Buffer.alloc(0);

export class DataRowCursor {
  /** The buffer `offset` refers to: the payload given to reset(), or the message's source. */
  buffer: Buffer = NO_ROW;
  private pos = 0;
  private end = 0;
  /** Number of cells in the row. */
  count = 0;
  /** Index of the current cell (-1 before the first `next()`). */
  index = -1;
  /** Offset of the current cell's value in `buffer`. */
  offset = 0;
  /** Length of the current cell's value, -1 for NULL. */
  length = -1;

  /** Points the cursor at a DataRow payload; returns its cell count. */
  reset(payload: Buffer): number {
    return this.resetSpan(payload, 0, payload.length);
  }

  /** Points the cursor at a framed DataRow message without making a payload view. */
  resetMessage(m: FramedMessage): number {
    return this.resetSpan(m.source, m.payloadStart, m.end);
  }

  private resetSpan(buf: Buffer, start: number, end: number): number {
    if (end - start < 2) throw new ProtocolError('DataRow: truncated column count');
    this.buffer = buf;
    this.count = buf.readUInt16BE(start);
    this.pos = start + 2;
    this.end = end;
    this.index = -1;
    this.offset = 0;
    this.length = -1;
    return this.count;
  }

  /** Advances to the next cell; false after the last one. */
  next(): boolean {
    const end = this.end;
    if (this.index + 1 >= this.count) {
      if (this.pos !== end) throw new ProtocolError(`DataRow: ${end - this.pos} trailing byte(s)`);
      return false;
    }
    const pos = this.pos;
    if (end - pos < 4) throw new ProtocolError(`DataRow: truncated length of cell ${this.index + 1}`);
    const b = this.buffer;
    const len = (b[pos] << 24) | (b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3];
    this.index++;
    this.offset = pos + 4;
    if (len === -1) {
      this.length = -1;
      this.pos = pos + 4;
      return true;
    }
    if (len < 0 || len > end - pos - 4) {
      throw new ProtocolError(`DataRow: invalid length ${len} of cell ${this.index}`);
    }
    this.length = len;
    this.pos = pos + 4 + len;
    return true;
  }

  /** The current cell as a view, or null. */
  value(): Buffer | null {
    return this.length < 0 ? null : this.buffer.subarray(this.offset, this.offset + this.length);
  }
}

const shared = new DataRowCursor();

/** Decodes a DataRow payload into its cells (views; null for NULL). */
export function parseDataRow(payload: Buffer): Array<Buffer | null> {
  const n = shared.reset(payload);
  const cells = new Array<Buffer | null>(n);
  while (shared.next()) cells[shared.index] = shared.value();
  return cells;
}

/** Checks a DataRow payload is well formed without allocating; returns its cell count. */
export function validateDataRow(payload: Buffer): number {
  const n = shared.reset(payload);
  while (shared.next());
  return n;
}
