import { ByteBuilder } from '@sluice/core';
import { Limits } from './codes.js';
import { ProtocolError } from './errors.js';
import { lenencIntSize, writeLenencInt } from './lenenc.js';

const MAX = Limits.MaxPacketPayload;

/**
 * A growable byte buffer that builds whole packets: `begin(seq)` writes a
 * header placeholder, `end()` back-patches the 3-byte length. A payload of
 * 0xFFFFFF bytes or more is split at `end()` into 16 MB physical packets with
 * consecutive sequence ids (plus an empty trailing packet when the payload is
 * an exact multiple of 0xFFFFFF). Several packets can be appended before
 * `take()` hands out the bytes (an exact-size copy; the writer is then empty).
 *
 * `nextSeq` is the sequence id that follows the last packet written, so a
 * multi-packet reply is `w.begin(s)…end(); w.begin(w.nextSeq)…end()`.
 *
 * A packet left open (its build threw half-way) is discarded by the next
 * `begin()` or `take()`, so a long-lived writer never sends half a packet.
 */
export class BufferWriter extends ByteBuilder {
  private openSeq = 0;
  /** Sequence id following the last packet closed. */
  nextSeq = 0;

  /** Starts a packet with sequence id `seq` (taken modulo 256). */
  begin(seq: number): this {
    this.beginFrame(4);
    this.openSeq = seq & 0xff;
    return this;
  }

  /** Closes the open packet, splitting it if its payload reaches 0xFFFFFF bytes. */
  end(): this {
    const at = this.frameStart;
    if (at < 0) throw new Error('BufferWriter: end() without begin()');
    this.frameStart = -1;
    const n = this.len - at - 4;
    let seq = this.openSeq;
    if (n < MAX) {
      this.buf[at] = n & 0xff;
      this.buf[at + 1] = (n >>> 8) & 0xff;
      this.buf[at + 2] = n >>> 16;
      this.buf[at + 3] = seq;
      this.nextSeq = (seq + 1) & 0xff;
      return this;
    }
    // Split: every piece but the last is exactly 0xFFFFFF bytes.
    const payload = Buffer.from(this.buf.subarray(at + 4, this.len));
    const pieces = Math.floor(n / MAX) + 1;
    this.len = at;
    this.ensure(n + 4 * pieces);
    for (let i = 0; i < pieces; i++) {
      const from = i * MAX;
      const size = Math.min(MAX, n - from);
      this.buf.writeUIntLE(size, this.len, 3);
      this.buf[this.len + 3] = seq;
      payload.copy(this.buf, this.len + 4, from, from + size);
      this.len += 4 + size;
      seq = (seq + 1) & 0xff;
    }
    this.nextSeq = seq;
    return this;
  }

  /** Frames a ready payload as one packet (split if needed). */
  packet(seq: number, payload: Uint8Array): this {
    return this.begin(seq).bytes(payload).end();
  }

  uint8(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  uint16(v: number): this {
    this.ensure(2);
    this.buf[this.len] = v & 0xff;
    this.buf[this.len + 1] = (v >>> 8) & 0xff;
    this.len += 2;
    return this;
  }

  uint24(v: number): this {
    this.ensure(3);
    this.buf[this.len] = v & 0xff;
    this.buf[this.len + 1] = (v >>> 8) & 0xff;
    this.buf[this.len + 2] = (v >>> 16) & 0xff;
    this.len += 3;
    return this;
  }

  uint32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32LE(v | 0, this.len);
    this.len += 4;
    return this;
  }

  uint64(v: bigint): this {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.len);
    this.len += 8;
    return this;
  }

  float(v: number): this {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.len);
    this.len += 4;
    return this;
  }

  double(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.len);
    this.len += 8;
    return this;
  }

  /** `n` zero bytes (fillers). */
  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
    return this;
  }

  lenencInt(v: number | bigint): this {
    this.ensure(lenencIntSize(v));
    this.len = writeLenencInt(this.buf, this.len, v);
    return this;
  }

  /** The NULL marker of row cells (0xFB). */
  lenencNull(): this {
    return this.uint8(0xfb);
  }

  /** A length-encoded string (UTF-8 for strings). */
  lenencString(s: string | Uint8Array): this {
    if (typeof s === 'string') {
      const n = Buffer.byteLength(s, 'utf8');
      this.ensure(lenencIntSize(n) + n);
      this.len = writeLenencInt(this.buf, this.len, n);
      this.buf.write(s, this.len, n, 'utf8');
      this.len += n;
      return this;
    }
    this.lenencInt(s.length);
    return this.bytes(s);
  }

  /** UTF-8 text and a NUL. A NUL inside the text would end the field early, so it is refused. */
  cstring(s: string | Uint8Array): this {
    if (typeof s === 'string') {
      if (s.indexOf('\0') !== -1) throw new ProtocolError('string field contains a NUL byte');
      this.string(s);
    } else {
      if (s.indexOf(0) !== -1) throw new ProtocolError('string field contains a NUL byte');
      this.bytes(s);
    }
    return this.uint8(0);
  }
}
