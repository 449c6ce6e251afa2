import type { ResultMasker } from '@sluice/core';
import { BackendCode, BackendWriter, DataRowCursor, type FieldDescription } from './protocol/index.js';

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

/** Bytes of a replacement in the cell's wire format (rule columns were retyped to text). */
function encodeReplacement(value: string, format: number, typeOID: number, ruleColumn: boolean): Buffer | null {
  if (format === 0 || ruleColumn || TEXT_BINARY.has(typeOID)) return Buffer.from(value, 'utf8');
  if (typeOID === JSONB) return Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify(value), 'utf8')]);
  // A detector hit inside a binary integer: the client expects an integer; never leak it.
  return null;
}

/**
 * Masks the rows of one result. `formats[i]` is the wire format of column i
 * (0 text, 1 binary); `fields` the RowDescription as the target sent it.
 */
export class RowMasker {
  private readonly cursor = new DataRowCursor();
  /** Made on the first changed row: most results change none. */
  private writer: BackendWriter | null = null;

  constructor(
    readonly rm: ResultMasker,
    private readonly fields: readonly FieldDescription[],
    private readonly formats: readonly number[],
  ) {}

  /** The row to send: the same bytes when nothing changed, else a re-encoded DataRow. */
  row(raw: Buffer, payload: Buffer): Buffer {
    const c = this.cursor;
    c.reset(payload);
    let cells: (Buffer | null)[] | null = null;
    while (c.next()) {
      const i = c.index;
      if (c.length < 0) {
        if (cells) cells.push(null);
        continue;
      }
      const f = this.fields[i];
      const format = this.formats[i] ?? 0;
      const typeOID = f ? f.typeOID : TEXT_OID;
      const isRule = this.rm.ruleColumns.has(i);
      const text = cellText(payload, c.offset, c.length, format, typeOID);
      let out: Buffer | null | undefined; // undefined = unchanged
      if (text === undefined) {
        out = isRule ? null : undefined;
      } else {
        const masked = this.rm.cell(i, text);
        if (masked !== null) out = encodeReplacement(masked, format, typeOID, isRule);
      }
      if (out !== undefined && !cells) {
        // First change: copy the cells before this one.
        cells = [];
        const again = new DataRowCursor();
        again.reset(payload);
        while (again.next() && again.index < i) cells.push(again.length < 0 ? null : payload.subarray(again.offset, again.offset + again.length));
      }
      if (cells) cells.push(out === undefined ? payload.subarray(c.offset, c.offset + c.length) : out);
    }
    if (!cells) return raw;
    return (this.writer ??= new BackendWriter(256)).dataRow(cells).take();
  }
}

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
