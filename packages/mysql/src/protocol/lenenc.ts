import { ProtocolError } from './errors.js';

/*
 * Length-encoded integers (int<lenenc>), as standalone functions for code
 * that walks buffers by offset (cursors, writers). BufferReader and
 * BufferWriter have the same encodings as methods.
 *
 *   < 0xFB        the value itself, 1 byte
 *   0xFB          NULL (row cells only)
 *   0xFC + 2      up to 0xFFFF
 *   0xFD + 3      up to 0xFFFFFF
 *   0xFE + 8      up to 2^64 - 1
 *   0xFF          invalid (it is the ERR packet header)
 */

/** Bytes taken by the length-encoded form of `v`. */
export function lenencIntSize(v: number | bigint): number {
  if (typeof v === 'bigint') {
    if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`length-encoded integer out of range: ${v}`);
    return v < 0xfbn ? 1 : v <= 0xffffn ? 3 : v <= 0xffffffn ? 4 : 9;
  }
  if (!Number.isInteger(v) || v < 0 || v > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`length-encoded integer out of range: ${v}`);
  }
  return v < 0xfb ? 1 : v <= 0xffff ? 3 : v <= 0xffffff ? 4 : 9;
}

/**
 * Size of the length-encoded integer whose first byte is `first` (1, 3, 4 or
 * 9; 1 for the NULL marker 0xFB); -1 for the invalid prefix 0xFF.
 */
export function lenencPrefixSize(first: number): number {
  if (first < 0xfb) return 1;
  switch (first) {
    case 0xfb:
      return 1;
    case 0xfc:
      return 3;
    case 0xfd:
      return 4;
    case 0xfe:
      return 9;
    default:
      return -1;
  }
}

/**
 * Reads the length-encoded integer at `pos` (bounded by `end`) without
 * allocating. Returns -1 for NULL (0xFB). Throws ProtocolError on truncation,
 * on 0xFF and on values above 2^53 - 1.
 */
export function readLenencInt(buf: Buffer, pos: number, end = buf.length): number {
  if (pos >= end) throw new ProtocolError(`truncated length-encoded integer at offset ${pos}`);
  const first = buf[pos];
  if (first < 0xfb) return first;
  const size = lenencPrefixSize(first);
  if (size < 0) throw new ProtocolError(`invalid length-encoded integer prefix 0xFF at offset ${pos}`);
  if (first === 0xfb) return -1;
  if (end - pos < size) throw new ProtocolError(`truncated length-encoded integer at offset ${pos}`);
  if (size === 3) return buf[pos + 1] | (buf[pos + 2] << 8);
  if (size === 4) return buf[pos + 1] | (buf[pos + 2] << 8) | (buf[pos + 3] << 16);
  const lo = buf.readUInt32LE(pos + 1);
  const hi = buf.readUInt32LE(pos + 5);
  if (hi >= 0x200000) throw new ProtocolError(`length-encoded integer too large at offset ${pos}`);
  return hi * 0x1_0000_0000 + lo;
}

/** Writes `v` length-encoded into `buf` at `pos`; returns the offset after it. */
export function writeLenencInt(buf: Buffer, pos: number, v: number | bigint): number {
  const size = lenencIntSize(v);
  const n = typeof v === 'bigint' ? v : v;
  if (size === 1) {
    buf[pos] = Number(n);
    return pos + 1;
  }
  if (size === 3) {
    buf[pos] = 0xfc;
    buf.writeUInt16LE(Number(n), pos + 1);
    return pos + 3;
  }
  if (size === 4) {
    buf[pos] = 0xfd;
    buf.writeUIntLE(Number(n), pos + 1, 3);
    return pos + 4;
  }
  buf[pos] = 0xfe;
  buf.writeBigUInt64LE(BigInt(n), pos + 1);
  return pos + 9;
}

/** The length-encoded form of `v` as a new buffer. */
export function encodeLenencInt(v: number | bigint): Buffer {
  const b = Buffer.allocUnsafe(lenencIntSize(v));
  writeLenencInt(b, 0, v);
  return b;
}
