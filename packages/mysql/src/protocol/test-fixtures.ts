/*
 * Test helpers: build wire bytes by hand, independently of BufferWriter.
 * (Not exported from index.ts.)
 */
import { ProtocolError } from './errors.js';

/** A physical packet: 3-byte LE length, sequence id, payload. */
export function pkt(seq: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(4);
  h.writeUIntLE(body.length, 0, 3);
  h[3] = seq & 0xff;
  return Buffer.concat([h, body]);
}

/** A packet header with a forged length. */
export function header(len: number, seq = 0): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(len, 0, 3);
  h[3] = seq;
  return h;
}

export const u8 = (n: number): Buffer => Buffer.from([n & 0xff]);
export const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n & 0xffff);
  return b;
};
export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
export const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
export const lstr = (s: string): Buffer => {
  const b = Buffer.from(s, 'utf8');
  if (b.length >= 0xfb) throw new Error('fixture: long strings not supported');
  return Buffer.concat([u8(b.length), b]);
};

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

/** Runs `fn`; passes if it returns or throws ProtocolError, rethrows anything else. */
export function onlyProtocolErrors(fn: () => unknown): 'ok' | 'protocol-error' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof ProtocolError) return 'protocol-error';
    throw err;
  }
}

type Mutation = { at: number; op: 'flip' | 'set' | 'insert' | 'delete'; value: number };

export function mutate(buf: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(buf);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.op === 'flip') b[at] ^= 1 << (m.value % 8);
    else if (m.op === 'set') b[at] = m.value;
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.value]), b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
  }
  return b;
}
export type { Mutation };
