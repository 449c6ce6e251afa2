/*
 * Test helpers: build wire bytes by hand, independently of BufferWriter, so
 * writers can be checked against them and fixtures read like the spec.
 * (Not exported from index.ts.)
 */
import { ProtocolError } from './errors.js';

export const i8 = (n: number): Buffer => Buffer.from([n & 0xff]);
export const i16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
};
export const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
export const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
export const ch = (c: string): number => c.charCodeAt(0);

/** A regular message: type char, int32 length (counting itself), body parts. */
export function msg(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([ch(type)]), i32(body.length + 4), body]);
}

/** A startup-phase packet: int32 length (counting itself), body parts. */
export function packet(...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([i32(body.length + 4), body]);
}

/** A regular message with a forged length word. */
export function header(type: string, length: number): Buffer {
  return Buffer.concat([Buffer.from([ch(type)]), i32(length)]);
}

/** Splits `buf` at the given offsets (sorted, deduplicated, clamped). */
export function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(buf.length, c))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    if (p > prev) out.push(buf.subarray(prev, p));
    prev = p;
  }
  if (prev < buf.length) out.push(buf.subarray(prev));
  return out;
}

/** Copies each chunk, as a socket would hand over fresh buffers. */
export function fresh(chunks: Buffer[]): Buffer[] {
  return chunks.map((c) => Buffer.from(c));
}

/** Runs `fn`; passes if it returns or throws ProtocolError, rethrows anything else. */
export function onlyProtocolErrors(fn: () => void): 'ok' | 'protocol-error' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof ProtocolError) return 'protocol-error';
    throw err;
  }
}
