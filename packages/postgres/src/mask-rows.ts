import { RecordSlab, type ResultMasker } from '@sluice/core';
import { BackendCode, BackendWriter, DataRowCursor, ProtocolError, type FieldDescription, type FramedMessage } from './protocol/index.js';

/** Type OIDs whose binary form is UTF-8 text. */
const TEXT_BINARY = new Set([25 /* text */, 1043 /* varchar */, 1042 /* bpchar */, 19 /* name */, 705 /* unknown */, 114 /* json */, 18 /* char */]);
const JSONB = 3802;
const INT2 = 21;
const INT4 = 23;
const INT8 = 20;
export const TEXT_OID = 25;

/**
 * The text of a cell for the masker, or undefined when its binary form
 * cannot be read (the caller then nulls a rule-masked cell).
 */
function cellText(buf: Buffer, off: number, len: number, format: number, typeOID: number): string | undefined {
  if (format === 0 || TEXT_BINARY.has(typeOID)) return buf.toString('utf8', off, off + len);
  if (typeOID === JSONB && len >= 1 && buf[off] === 1) return buf.toString('utf8', off + 1, off + len);
  if (typeOID === INT8 && len === 8) return buf.readBigInt64BE(off).toString();
  if (typeOID === INT4 && len === 4) return String(buf.readInt32BE(off));
  if (typeOID === INT2 && len === 2) return String(buf.readInt16BE(off));
  return undefined;
}

/** Rewritten DataRows, back to back in slabs (see RecordSlab). One per connection. */
export class RowSlab extends RecordSlab {
  /** Starts a DataRow of `count` cells (an unfinished row before it is dropped). */
  begin(count: number): void {
    const b = this.open(7);
    const at = this.recordStart;
    b[at] = BackendCode.DataRow;
    b.writeUInt16BE(count, at + 5);
  }

  /** A cell holding `s` as UTF-8. */
  text(s: string): void {
    this.bytes(this.utf8(s));
  }

  /** A cell holding `bytes`. */
  bytes(bytes: Uint8Array): void {
    this.ensure(4).writeInt32BE(bytes.length, this.at);
    this.advance(4);
    this.put(bytes);
  }

  /** A NULL cell. */
  null(): void {
    this.ensure(4).writeInt32BE(-1, this.at);
    this.advance(4);
  }

  /** Ends the row: its bytes, as a view no later write touches. */
  end(): Buffer {
    const n = this.recordLength - 1;
    if (n > 0x7fffffff) {
      this.discard();
      throw new ProtocolError(`DataRow too long (${n} bytes)`);
    }
    this.ensure(0).writeInt32BE(n, this.recordStart + 1);
    return this.close();
  }
}

/**
 * Masks the rows of one result. `formats[i]` is the wire format of column i
 * (0 text, 1 binary); `fields` the RowDescription as the target sent it.
 */
export class RowMasker {
  private readonly cursor = new DataRowCursor();
  /** Cells shorter than this (in bytes) cannot hold a detector match: not decoded at all. */
  private readonly minLength: number;

  constructor(
    readonly rm: ResultMasker,
    private readonly fields: readonly FieldDescription[],
    private readonly formats: readonly number[],
    private readonly slab: RowSlab,
  ) {
    this.minLength = rm.minLength;
  }

  /**
   * The row to send: `m.raw` when nothing changed, else the re-encoded
   * DataRow (unchanged cells copied byte for byte). Throws ProtocolError on a
   * malformed row (the relay then fails closed).
   */
  row(m: FramedMessage): Buffer {
    return this.rewrite(m) ?? m.raw;
  }

  /** The masked row, or null when nothing in it changed (forward the message as it came). */
  rewrite(m: FramedMessage): Buffer | null {
    const c = this.cursor;
    const count = c.resetMessage(m);
    const src = m.source;
    const rm = this.rm;
    const slab = this.slab;
    /** Offset in `src` up to which the rewritten row has its bytes; -1 while nothing changed. */
    let copied = -1;
    while (c.next()) {
      const len = c.length;
      if (len < 0) continue;
      const i = c.index;
      const isRule = rm.ruleColumns.has(i);
      const f = this.fields[i];
      const format = this.formats[i] ?? 0;
      const typeOID = f ? f.typeOID : TEXT_OID;
      // Text of at most `len` characters (a binary integer's text can be longer than its bytes).
      if (!isRule && len < this.minLength && (format === 0 || TEXT_BINARY.has(typeOID) || typeOID === JSONB)) continue;
      const text = cellText(src, c.offset, len, format, typeOID);
      let masked: string | null;
      if (text === undefined) {
        if (!isRule) continue;
        masked = null; // a rule-masked value we cannot read becomes NULL
      } else {
        masked = rm.cell(i, text);
        if (masked === null) continue;
      }
      if (copied < 0) {
        slab.begin(count);
        copied = m.payloadStart + 2;
      }
      slab.copy(src, copied, c.offset - 4);
      copied = c.offset + len;
      if (masked === null) slab.null();
      else if (format === 0 || isRule || TEXT_BINARY.has(typeOID)) slab.text(masked);
      else if (typeOID === JSONB) slab.bytes(Buffer.concat([JSONB_VERSION, Buffer.from(JSON.stringify(masked), 'utf8')]));
      else slab.null(); // a detector hit inside a binary integer: the client expects an integer; never leak it
    }
    if (copied < 0) return null;
    slab.copy(src, copied, m.end);
    return slab.end();
  }
}

const JSONB_VERSION = Buffer.from([1]);

/** RowDescription with rule-masked columns retyped to text (so typed clients accept the mask). */
export function retypeRuleColumns(fields: readonly FieldDescription[], rule: ReadonlySet<number>): Buffer | null {
  if (rule.size === 0) return null;
  let changed = false;
  const out = fields.map((f, i) => {
    if (!rule.has(i) || f.typeOID === TEXT_OID) return f;
    changed = true;
    return { ...f, typeOID: TEXT_OID, typeLen: -1, typeMod: -1 };
  });
  return changed ? new BackendWriter().rowDescription(out).take() : null;
}

/** Result column formats from a Bind's result format codes. */
export function resultFormats(codes: readonly number[], n: number): number[] {
  if (codes.length === 0) return new Array<number>(n).fill(0);
  if (codes.length === 1) return new Array<number>(n).fill(codes[0]!);
  return codes.slice(0, n);
}

export { BackendCode };
