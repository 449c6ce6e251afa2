import { RecordSlab } from '@sluice/core';
import { Capability, Charset, ColumnFlag, ColumnType } from './codes.js';
import { binaryValueSize, readBinaryValue, writeBinaryValue, type BinaryInput } from './binary.js';
import { ProtocolError } from './errors.js';
import { lenencPrefixSize, writeLenencInt } from './lenenc.js';
import type { Packet } from './framer.js';
import { BufferReader } from './reader.js';
import type { BufferWriter } from './writer.js';

/*
 * Result sets (server → client): column count, ColumnDefinition41 packets,
 * [EOF], rows (text protocol for COM_QUERY, binary protocol for
 * COM_STMT_EXECUTE), then EOF or OK (CLIENT_DEPRECATE_EOF) or ERR.
 * Also COM_STMT_PREPARE_OK.
 */

/** The column count packet; `metadataFollows` is false only under MySQL 8's optional metadata. */
export function parseColumnCount(payload: Buffer, capabilities = 0): { count: number; metadataFollows: boolean } {
  const r = new BufferReader(payload, 'column count');
  const count = r.lenencInt();
  if (count === 0 || count > 4096) r.fail(`invalid column count ${count}`);
  let metadataFollows = true;
  if (capabilities & Capability.OptionalResultsetMetadata && r.remaining > 0) metadataFollows = r.uint8() !== 0;
  return { count, metadataFollows };
}

export function writeColumnCount(w: BufferWriter, seq: number, count: number): void {
  w.begin(seq).lenencInt(count).end();
}

/** ColumnDefinition41. Names are UTF-8 decoded. */
export interface ColumnDefinition {
  catalog: string;
  schema: string;
  /** Table alias. */
  table: string;
  orgTable: string;
  /** Column alias. */
  name: string;
  orgName: string;
  /** MariaDB extended type info (MARIADB_CLIENT_EXTENDED_METADATA), raw; else null. */
  extendedInfo: Buffer | null;
  /** Collation id. */
  charset: number;
  /** Maximum display length. */
  length: number;
  /** ColumnType. */
  type: number;
  /** ColumnFlag bits. */
  flags: number;
  decimals: number;
  /** Default values (COM_FIELD_LIST responses only), else null. */
  defaultValues: Buffer | null;
}

export interface ColumnDefinitionOptions {
  /** MariaDB extended type info negotiated. */
  extendedTypeInfo?: boolean;
  /** The response is to COM_FIELD_LIST (a default-values field may follow). */
  fieldList?: boolean;
}

export function parseColumnDefinition(payload: Buffer, options: ColumnDefinitionOptions = {}): ColumnDefinition {
  const r = new BufferReader(payload, 'ColumnDefinition41');
  const catalog = r.lenencString();
  const schema = r.lenencString();
  const table = r.lenencString();
  const orgTable = r.lenencString();
  const name = r.lenencString();
  const orgName = r.lenencString();
  const extendedInfo = options.extendedTypeInfo ? r.lenencBytes() : null;
  const fixed = r.lenencInt();
  if (fixed < 10) r.fail(`fixed-length fields of ${fixed} bytes`);
  const end = r.offset + fixed;
  const charset = r.uint16();
  const length = r.uint32();
  const type = r.uint8();
  const flags = r.uint16();
  const decimals = r.uint8();
  r.skip(end - r.offset);
  let defaultValues: Buffer | null = null;
  if (options.fieldList && r.remaining > 0) defaultValues = r.lenencBytes();
  return { catalog, schema, table, orgTable, name, orgName, extendedInfo, charset, length, type, flags, decimals, defaultValues };
}

export function writeColumnDefinition(w: BufferWriter, seq: number, c: Partial<ColumnDefinition> & Pick<ColumnDefinition, 'name' | 'type'>): void {
  w.begin(seq)
    .lenencString(c.catalog ?? 'def')
    .lenencString(c.schema ?? '')
    .lenencString(c.table ?? '')
    .lenencString(c.orgTable ?? '')
    .lenencString(c.name)
    .lenencString(c.orgName ?? '');
  if (c.extendedInfo) w.lenencString(c.extendedInfo);
  w.lenencInt(0x0c)
    .uint16(c.charset ?? Charset.Utf8mb4GeneralCi)
    .uint32(c.length ?? 0)
    .uint8(c.type)
    .uint16(c.flags ?? 0)
    .uint8(c.decimals ?? 0)
    .uint16(0);
  if (c.defaultValues) w.lenencString(c.defaultValues);
  w.end();
}

/**
 * The definition a masked column is announced with: VAR_STRING in the
 * connection's character set, no numeric/binary flags, no decimals (the mask
 * replaces the value with text, so the client must not decode it as a number,
 * a date or bytes). Nullability and key flags are kept.
 */
export function maskedColumnDefinition(c: ColumnDefinition, charset: number = Charset.Utf8mb4GeneralCi, length = 1024): ColumnDefinition {
  const keep = ColumnFlag.NotNull | ColumnFlag.PriKey | ColumnFlag.UniqueKey | ColumnFlag.MultipleKey | ColumnFlag.NoDefaultValue;
  return { ...c, extendedInfo: null, type: ColumnType.VarString, charset, length: Math.min(0xffffffff, Math.max(c.length, length)), flags: c.flags & keep, decimals: 0 };
}

/**
 * Walks the cells of a text-protocol row (length-encoded strings, 0xFB for
 * NULL) without allocating:
 *
 *   const c = new TextRowCursor();        // reuse one per connection
 *   c.resetPacket(packet, columnCount);   // or c.reset(payload, columnCount)
 *   while (c.next()) if (c.length >= 0) use(c.buffer, c.offset, c.length);
 *
 * `next()` checks every length against the packet and, after the last cell,
 * that nothing trails; violations throw ProtocolError.
 */
export class TextRowCursor {
  /** The buffer `offset` refers to. */
  buffer: Buffer = Buffer.alloc(0);
  private pos = 0;
  private end = 0;
  /** Number of cells expected. */
  count = 0;
  /** Index of the current cell (-1 before the first `next()`). */
  index = -1;
  /** Offset of the current cell's value in `buffer`. */
  offset = 0;
  /** Length of the current cell's value, -1 for NULL. */
  length = -1;
  /** Offset where the current cell's encoding (length prefix) starts. */
  cellStart = 0;

  reset(payload: Buffer, columnCount: number): void {
    this.resetSpan(payload, 0, payload.length, columnCount);
  }

  resetPacket(p: Packet, columnCount: number): void {
    this.resetSpan(p.source, p.payloadStart, p.end, columnCount);
  }

  resetSpan(buf: Buffer, start: number, end: number, columnCount: number): void {
    this.buffer = buf;
    this.pos = start;
    this.end = end;
    this.count = columnCount;
    this.index = -1;
    this.offset = start;
    this.length = -1;
  }

  next(): boolean {
    const end = this.end;
    const pos = this.pos;
    if (this.index + 1 >= this.count) {
      if (pos !== end) throw new ProtocolError(`text row: ${end - pos} trailing byte(s)`);
      return false;
    }
    if (pos >= end) throw new ProtocolError(`text row: truncated at cell ${this.index + 1}`);
    const b = this.buffer;
    const first = b[pos];
    this.index++;
    this.cellStart = pos;
    let len: number;
    let hdr: number;
    if (first < 0xfb) {
      len = first;
      hdr = 1;
    } else if (first === 0xfb) {
      this.length = -1;
      this.offset = pos + 1;
      this.pos = pos + 1;
      return true;
    } else if (first === 0xfc) {
      if (end - pos < 3) throw new ProtocolError(`text row: truncated length of cell ${this.index}`);
      len = b[pos + 1] | (b[pos + 2] << 8);
      hdr = 3;
    } else if (first === 0xfd) {
      if (end - pos < 4) throw new ProtocolError(`text row: truncated length of cell ${this.index}`);
      len = b[pos + 1] | (b[pos + 2] << 8) | (b[pos + 3] << 16);
      hdr = 4;
    } else if (first === 0xfe) {
      if (end - pos < 9) throw new ProtocolError(`text row: truncated length of cell ${this.index}`);
      const hi = b.readUInt32LE(pos + 5);
      if (hi !== 0) throw new ProtocolError(`text row: cell ${this.index} too long`);
      len = b.readUInt32LE(pos + 1);
      hdr = 9;
    } else {
      throw new ProtocolError(`text row: invalid length prefix 0xFF at cell ${this.index}`);
    }
    if (len > end - pos - hdr) throw new ProtocolError(`text row: cell ${this.index} of ${len} bytes overruns the packet`);
    this.offset = pos + hdr;
    this.length = len;
    this.pos = pos + hdr + len;
    return true;
  }

  /** The current cell as a view, or null. */
  value(): Buffer | null {
    return this.length < 0 ? null : this.buffer.subarray(this.offset, this.offset + this.length);
  }
}

const sharedText = new TextRowCursor();

/** Decodes a text row into its cells (views; null for NULL). */
export function parseTextRow(payload: Buffer, columnCount: number): Array<Buffer | null> {
  sharedText.reset(payload, columnCount);
  const cells = new Array<Buffer | null>(columnCount);
  while (sharedText.next()) cells[sharedText.index] = sharedText.value();
  return cells;
}

/** Writes a text row (e.g. with masked cells). */
export function writeTextRow(w: BufferWriter, seq: number, cells: ReadonlyArray<string | Uint8Array | null>): void {
  w.begin(seq);
  for (const c of cells) {
    if (c === null) w.lenencNull();
    else w.lenencString(c);
  }
  w.end();
}

/**
 * Rewritten result rows, back to back in slabs (see RecordSlab): a row is
 * one physical packet. One per connection and row protocol.
 */
class RowPacketSlab extends RecordSlab {
  private seq = 0;

  /** Starts a row packet with sequence id `seq` (an unfinished row before it is dropped). */
  protected beginPacket(seq: number): Buffer {
    this.seq = seq;
    return this.open(4);
  }

  /** A cell holding `s` as a length-encoded UTF-8 string. */
  text(s: string): void {
    const bytes = this.utf8(s);
    const b = this.ensure(9);
    this.advance(writeLenencInt(b, this.at, bytes.length) - this.at);
    this.put(bytes);
  }

  /**
   * Ends the row: its packet, as a view no later write touches; null (and
   * nothing kept) when the payload reached 16 MiB - 1, which needs the
   * splitting writer instead.
   */
  end(): Buffer | null {
    const n = this.recordLength - 4;
    if (n >= 0xffffff) {
      this.discard();
      return null;
    }
    const b = this.ensure(0);
    const at = this.recordStart;
    b[at] = n & 0xff;
    b[at + 1] = (n >>> 8) & 0xff;
    b[at + 2] = n >>> 16;
    b[at + 3] = this.seq;
    return this.close();
  }
}

/** Rewritten text-protocol rows (COM_QUERY results). */
export class TextRowSlab extends RowPacketSlab {
  begin(seq: number): void {
    this.beginPacket(seq);
  }

  /** A NULL cell. */
  null(): void {
    this.ensure(1)[this.at] = 0xfb;
    this.advance(1);
  }
}

/** Rewritten binary-protocol rows (COM_STMT_EXECUTE results). */
export class BinaryRowSlab extends RowPacketSlab {
  /** Starts a row: the 0x00 header, then the original NULL bitmap (`bitmapLength` bytes of `src` at `bitmapStart`). */
  begin(seq: number, src: Buffer, bitmapStart: number, bitmapLength: number): void {
    this.beginPacket(seq);
    this.ensure(1)[this.at] = 0x00;
    this.advance(1);
    this.copy(src, bitmapStart, bitmapStart + bitmapLength);
  }

  /** Cell `index` becomes NULL: its bit is set, and no value is written for it. */
  setNull(index: number): void {
    const bit = index + 2;
    this.ensure(0)[this.recordStart + 5 + (bit >> 3)] |= 1 << (bit & 7);
  }
}

/** What a binary row needs to know about each column. */
export interface BinaryColumn {
  type: number;
  /** ColumnFlag bits (UNSIGNED matters). */
  flags: number;
}

/**
 * Walks the cells of a binary-protocol row (0x00 header, NULL bitmap with
 * an offset of 2 bits, values by column type) without allocating. `offset` /
 * `length` are the cell's whole encoding (for copying it unchanged);
 * `length` is -1 for NULL.
 */
export class BinaryRowCursor {
  buffer: Buffer = Buffer.alloc(0);
  private pos = 0;
  private end = 0;
  private bitmapAt = 0;
  private columns: ReadonlyArray<BinaryColumn> = [];
  index = -1;
  offset = 0;
  length = -1;

  reset(payload: Buffer, columns: ReadonlyArray<BinaryColumn>): void {
    this.resetSpan(payload, 0, payload.length, columns);
  }

  resetPacket(p: Packet, columns: ReadonlyArray<BinaryColumn>): void {
    this.resetSpan(p.source, p.payloadStart, p.end, columns);
  }

  resetSpan(buf: Buffer, start: number, end: number, columns: ReadonlyArray<BinaryColumn>): void {
    const bitmapLen = (columns.length + 9) >> 3;
    if (end - start < 1 + bitmapLen) throw new ProtocolError('binary row: truncated header or NULL bitmap');
    if (buf[start] !== 0x00) throw new ProtocolError(`binary row: header 0x${buf[start].toString(16)}, expected 0x00`);
    this.buffer = buf;
    this.bitmapAt = start + 1;
    this.pos = start + 1 + bitmapLen;
    this.end = end;
    this.columns = columns;
    this.index = -1;
    this.offset = this.pos;
    this.length = -1;
  }

  /** The current cell's column type. */
  get type(): number {
    return this.columns[this.index].type;
  }

  /** Offset of the row's NULL bitmap in `buffer`. */
  get bitmapStart(): number {
    return this.bitmapAt;
  }

  /** Length of the row's NULL bitmap. */
  get bitmapLength(): number {
    return (this.columns.length + 9) >> 3;
  }

  /**
   * An upper bound on the length of the current cell's text (`text()`): the
   * byte length for string-like cells, the exact decimal length for
   * integers (read without decoding the cell); -1 for NULL and for other
   * types. A masker may skip a cell whose bound is under its shortest match,
   * so the bound must never be low.
   */
  get textLength(): number {
    if (this.length < 0) return -1;
    const c = this.columns[this.index];
    const b = this.buffer;
    const o = this.offset;
    const unsigned = (c.flags & ColumnFlag.Unsigned) !== 0;
    switch (c.type) {
      case ColumnType.Tiny:
        return decimalLength(unsigned ? b[o] : (b[o] << 24) >> 24);
      case ColumnType.Short:
        return decimalLength(unsigned ? b.readUInt16LE(o) : b.readInt16LE(o));
      case ColumnType.Year:
        return decimalLength(b.readUInt16LE(o));
      case ColumnType.Long:
      case ColumnType.Int24:
        return decimalLength(unsigned ? b.readUInt32LE(o) : b.readInt32LE(o));
      case ColumnType.LongLong: {
        // Exact while the value is a safe integer; else unknown.
        const lo = b.readUInt32LE(o);
        const hi = unsigned ? b.readUInt32LE(o + 4) : b.readInt32LE(o + 4);
        return hi >= -0x200000 && hi < 0x200000 ? decimalLength(hi * 0x100000000 + lo) : -1;
      }
      default:
        return isLenencType(c.type) ? this.length - lenencPrefixSize(b[o]) : -1;
    }
  }

  next(): boolean {
    const i = this.index + 1;
    if (i >= this.columns.length) {
      if (this.pos !== this.end) throw new ProtocolError(`binary row: ${this.end - this.pos} trailing byte(s)`);
      return false;
    }
    this.index = i;
    const bit = i + 2;
    this.offset = this.pos;
    if (this.buffer[this.bitmapAt + (bit >> 3)] & (1 << (bit & 7))) {
      this.length = -1;
      return true;
    }
    const size = binaryValueSize(this.buffer, this.pos, this.end, this.columns[i].type);
    this.length = size;
    this.pos += size;
    return true;
  }

  /** The current cell's whole encoding as a view, or null. */
  encoded(): Buffer | null {
    return this.length < 0 ? null : this.buffer.subarray(this.offset, this.offset + this.length);
  }

  /** The current cell decoded to text (see readBinaryValue), or null. */
  text(): string | null {
    if (this.length < 0) return null;
    const c = this.columns[this.index];
    if (isLenencType(c.type)) return this.buffer.toString('utf8', this.offset + lenencPrefixSize(this.buffer[this.offset]), this.offset + this.length);
    const r = new BufferReader(this.buffer, 'binary row', this.offset, this.offset + this.length);
    return readBinaryValue(r, c.type, (c.flags & ColumnFlag.Unsigned) !== 0);
  }

  /** For string-like cells, the value bytes without the length prefix; else the encoding. */
  valueBytes(): Buffer | null {
    const e = this.encoded();
    if (!e) return null;
    const t = this.columns[this.index].type;
    if (isLenencType(t)) return e.subarray(lenencPrefixSize(e[0]));
    return e;
  }
}

function isLenencType(t: number): boolean {
  return !(
    (t >= ColumnType.Tiny && t <= ColumnType.DateTime && t !== ColumnType.Decimal) ||
    t === ColumnType.Year ||
    t === ColumnType.NewDate
  );
}

const sharedBinary = new BinaryRowCursor();

/** Decodes a binary row to text cells (null for NULL). */
export function parseBinaryRow(payload: Buffer, columns: ReadonlyArray<BinaryColumn>): Array<string | null> {
  sharedBinary.reset(payload, columns);
  const out = new Array<string | null>(columns.length);
  while (sharedBinary.next()) out[sharedBinary.index] = sharedBinary.text();
  return out;
}

/** A binary-row cell to write: null, an encoding to copy unchanged, or a value to encode by column type. */
export type BinaryRowCell = null | { encoded: Uint8Array } | Exclude<BinaryInput, null>;

/** The length of `String(v)` for a safe integer `v`. */
function decimalLength(v: number): number {
  let n = 1;
  let a = v;
  if (a < 0) {
    n = 2;
    a = -a;
  }
  for (let p = 10; a >= p && n < 22; p *= 10) n++;
  return n;
}

/**
 * Writes a binary row. Cells given as `{ encoded }` are copied as they came
 * (from BinaryRowCursor.encoded()); other values are encoded by the column's
 * type — so a masked column announced as VAR_STRING takes a string here.
 */
export function writeBinaryRow(w: BufferWriter, seq: number, columns: ReadonlyArray<BinaryColumn>, cells: ReadonlyArray<BinaryRowCell>): void {
  if (cells.length !== columns.length) throw new RangeError(`${cells.length} cells for ${columns.length} columns`);
  const bitmap = Buffer.alloc((columns.length + 9) >> 3);
  cells.forEach((c, i) => {
    if (c === null) bitmap[(i + 2) >> 3] |= 1 << ((i + 2) & 7);
  });
  w.begin(seq).uint8(0).bytes(bitmap);
  cells.forEach((c, i) => {
    if (c === null) return;
    if (typeof c === 'object' && !(c instanceof Uint8Array)) w.bytes(c.encoded);
    else writeBinaryValue(w, columns[i].type, (columns[i].flags & ColumnFlag.Unsigned) !== 0, c);
  });
  w.end();
}

/** COM_STMT_PREPARE_OK. */
export interface StmtPrepareOk {
  statementId: number;
  /** Columns of the result set (followed by as many ColumnDefinition41 packets). */
  columnCount: number;
  /** Parameters (followed by as many ColumnDefinition41 packets, before the columns). */
  paramCount: number;
  warnings: number;
  /** MySQL 8 optional metadata: false if the definitions are omitted. */
  metadataFollows: boolean;
}

export function parseStmtPrepareOk(payload: Buffer, capabilities = 0): StmtPrepareOk {
  const r = new BufferReader(payload, 'COM_STMT_PREPARE_OK');
  if (r.uint8() !== 0x00) r.fail('missing 0x00 header');
  const statementId = r.uint32();
  const columnCount = r.uint16();
  const paramCount = r.uint16();
  let warnings = 0;
  let metadataFollows = true;
  if (r.remaining > 0) {
    r.skip(1);
    warnings = r.uint16();
  }
  if (capabilities & Capability.OptionalResultsetMetadata && r.remaining > 0) metadataFollows = r.uint8() !== 0;
  return { statementId, columnCount, paramCount, warnings, metadataFollows };
}

export function writeStmtPrepareOk(w: BufferWriter, seq: number, p: Omit<StmtPrepareOk, 'metadataFollows'>): void {
  w.begin(seq).uint8(0).uint32(p.statementId).uint16(p.columnCount).uint16(p.paramCount).uint8(0).uint16(p.warnings).end();
}
