import { ColumnType } from './codes.js';
import { ProtocolError } from './errors.js';
import { lenencPrefixSize, readLenencInt } from './lenenc.js';
import type { BufferReader } from './reader.js';
import type { BufferWriter } from './writer.js';

/*
 * Values of the binary protocol (COM_STMT_EXECUTE parameters, binary result
 * rows), by column type:
 *
 *   TINY 1, SHORT/YEAR 2, LONG/INT24 4, LONGLONG 8 bytes (little-endian)
 *   FLOAT 4, DOUBLE 8 bytes (IEEE 754)
 *   DATE/DATETIME/TIMESTAMP: length byte 0|4|7|11, then year(2) month day
 *     [hour minute second [microsecond(4)]]
 *   TIME: length byte 0|8|12, then is_negative days(4) hour minute second
 *     [microsecond(4)]
 *   NULL: nothing (NULLs live in the null bitmap)
 *   everything else (strings, blobs, decimals, JSON, BIT, ENUM, SET,
 *   GEOMETRY …): a length-encoded string
 */

/** Fixed width of a numeric type in the binary protocol, 0 for variable-length types, -1 for NULL. */
export function binaryFixedSize(type: number): number {
  switch (type) {
    case ColumnType.Tiny:
      return 1;
    case ColumnType.Short:
    case ColumnType.Year:
      return 2;
    case ColumnType.Long:
    case ColumnType.Int24:
    case ColumnType.Float:
      return 4;
    case ColumnType.LongLong:
    case ColumnType.Double:
      return 8;
    case ColumnType.Null:
      return -1;
    default:
      return 0;
  }
}

function isTemporal(type: number): boolean {
  return (
    type === ColumnType.Date ||
    type === ColumnType.DateTime ||
    type === ColumnType.Timestamp ||
    type === ColumnType.NewDate ||
    type === ColumnType.Time
  );
}

/**
 * Size in bytes of the binary value of `type` at `pos` (bounded by `end`),
 * without allocating. Throws ProtocolError if it runs past `end` or is malformed.
 */
export function binaryValueSize(buf: Buffer, pos: number, end: number, type: number): number {
  const fixed = binaryFixedSize(type);
  let size: number;
  if (fixed > 0) size = fixed;
  else if (fixed < 0) size = 0;
  else if (isTemporal(type)) {
    if (pos >= end) throw new ProtocolError(`truncated ${typeName(type)} value at offset ${pos}`);
    const n = buf[pos];
    const ok = type === ColumnType.Time ? n === 0 || n === 8 || n === 12 : n === 0 || n === 4 || n === 7 || n === 11;
    if (!ok) throw new ProtocolError(`invalid ${typeName(type)} length ${n} at offset ${pos}`);
    size = 1 + n;
  } else {
    const n = readLenencInt(buf, pos, end);
    if (n < 0) throw new ProtocolError(`unexpected NULL marker in a binary value at offset ${pos}`);
    size = lenencPrefixSize(buf[pos]) + n;
  }
  if (size > end - pos) throw new ProtocolError(`truncated ${typeName(type)} value at offset ${pos}`);
  return size;
}

function typeName(type: number): string {
  return `type 0x${type.toString(16).padStart(2, '0')}`;
}

const pad2 = (n: number): string => (n < 10 ? '0' : '') + n;
const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/**
 * Decodes the binary value at the reader's cursor into text as MySQL would
 * print it (for recording parameters and masking): integers in decimal
 * (`unsigned` from the UNSIGNED flag), floats, dates 'YYYY-MM-DD[ hh:mm:ss[.ffffff]]',
 * times '[-]hhh:mm:ss[.ffffff]', strings and blobs as UTF-8. MYSQL_TYPE_NULL yields null.
 */
export function readBinaryValue(r: BufferReader, type: number, unsigned: boolean): string | null {
  switch (type) {
    case ColumnType.Null:
      return null;
    case ColumnType.Tiny:
      return String(unsigned ? r.uint8() : r.int8());
    case ColumnType.Short:
    case ColumnType.Year:
      return String(unsigned || type === ColumnType.Year ? r.uint16() : r.int16());
    case ColumnType.Long:
    case ColumnType.Int24:
      return String(unsigned ? r.uint32() : r.int32());
    case ColumnType.LongLong:
      return String(unsigned ? r.uint64() : r.int64());
    case ColumnType.Float:
      return formatFloat32(r.float());
    case ColumnType.Double:
      return String(r.double());
    case ColumnType.Date:
    case ColumnType.DateTime:
    case ColumnType.Timestamp:
    case ColumnType.NewDate:
      return readDateTime(r, type);
    case ColumnType.Time:
      return readTime(r);
    default:
      return r.lenencString();
  }
}

/** FLOAT as the shortest decimal that reads back as the same float32 (1.1, not 1.100000023841858). */
export function formatFloat32(f: number): string {
  if (!Number.isFinite(f)) return String(f);
  for (let p = 1; p < 10; p++) {
    const v = Number(f.toPrecision(p));
    if (Math.fround(v) === f) return String(v);
  }
  return String(f);
}

function readDateTime(r: BufferReader, type: number): string {
  const n = r.uint8();
  const dateOnly = type === ColumnType.Date || type === ColumnType.NewDate;
  if (n !== 0 && n !== 4 && n !== 7 && n !== 11) r.fail(`invalid date/time length ${n}`);
  let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, us = 0;
  if (n >= 4) {
    y = r.uint16();
    mo = r.uint8();
    d = r.uint8();
  }
  if (n >= 7) {
    h = r.uint8();
    mi = r.uint8();
    s = r.uint8();
  }
  if (n === 11) us = r.uint32();
  const date = `${pad(y, 4)}-${pad2(mo)}-${pad2(d)}`;
  if (dateOnly) return date;
  return `${date} ${pad2(h)}:${pad2(mi)}:${pad2(s)}${us ? '.' + pad(us, 6) : ''}`;
}

function readTime(r: BufferReader): string {
  const n = r.uint8();
  if (n !== 0 && n !== 8 && n !== 12) r.fail(`invalid time length ${n}`);
  if (n === 0) return '00:00:00';
  const neg = r.uint8();
  const days = r.uint32();
  const h = r.uint8();
  const mi = r.uint8();
  const s = r.uint8();
  const us = n === 12 ? r.uint32() : 0;
  const hours = days * 24 + h;
  return `${neg ? '-' : ''}${pad2(hours)}:${pad2(mi)}:${pad2(s)}${us ? '.' + pad(us, 6) : ''}`;
}

/** A JS value for a binary parameter or cell. */
export type BinaryInput = string | number | bigint | Uint8Array | null;

const DATETIME_RE = /^(\d{1,4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?)?$/;
const TIME_RE = /^(-)?(\d+):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?$/;

/**
 * Encodes `value` as the binary value of `type` (the inverse of
 * readBinaryValue for the text it produces). Integers accept number, bigint
 * or decimal text; dates and times accept the text forms readBinaryValue
 * returns. NULL is not encoded here: it goes in the null bitmap.
 */
export function writeBinaryValue(w: BufferWriter, type: number, unsigned: boolean, value: Exclude<BinaryInput, null>): void {
  switch (type) {
    case ColumnType.Null:
      return;
    case ColumnType.Tiny:
    case ColumnType.Short:
    case ColumnType.Year:
    case ColumnType.Long:
    case ColumnType.Int24:
    case ColumnType.LongLong: {
      const big = BigInt(typeof value === 'object' ? Buffer.from(value).toString('utf8') : value);
      const size = binaryFixedSize(type);
      const bits = size * 8;
      const n = BigInt.asUintN(bits, big);
      if (unsigned ? big < 0n || big !== n : BigInt.asIntN(bits, big) !== big) {
        throw new RangeError(`${big} does not fit type 0x${type.toString(16)}`);
      }
      if (size === 8) w.uint64(n);
      else if (size === 4) w.uint32(Number(n));
      else if (size === 2) w.uint16(Number(n));
      else w.uint8(Number(n));
      return;
    }
    case ColumnType.Float:
      w.float(Number(typeof value === 'object' ? Buffer.from(value).toString('utf8') : value));
      return;
    case ColumnType.Double:
      w.double(Number(typeof value === 'object' ? Buffer.from(value).toString('utf8') : value));
      return;
    case ColumnType.Date:
    case ColumnType.DateTime:
    case ColumnType.Timestamp:
    case ColumnType.NewDate: {
      const m = DATETIME_RE.exec(String(value));
      if (!m) throw new RangeError(`not a date/time: ${String(value)}`);
      const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0));
      const us = m[7] ? Number(m[7].padEnd(6, '0')) : 0;
      if (us) w.uint8(11);
      else if (h || mi || s) w.uint8(7);
      else if (y || mo || d) w.uint8(4);
      else return void w.uint8(0);
      w.uint16(y).uint8(mo).uint8(d);
      if (us || h || mi || s) w.uint8(h).uint8(mi).uint8(s);
      if (us) w.uint32(us);
      return;
    }
    case ColumnType.Time: {
      const m = TIME_RE.exec(String(value));
      if (!m) throw new RangeError(`not a time: ${String(value)}`);
      const hours = Number(m[2]);
      const mi = Number(m[3]);
      const s = Number(m[4]);
      const us = m[5] ? Number(m[5].padEnd(6, '0')) : 0;
      if (!hours && !mi && !s && !us) return void w.uint8(0);
      w.uint8(us ? 12 : 8).uint8(m[1] ? 1 : 0).uint32(Math.floor(hours / 24)).uint8(hours % 24).uint8(mi).uint8(s);
      if (us) w.uint32(us);
      return;
    }
    default:
      w.lenencString(typeof value === 'object' ? value : String(value));
  }
}
