import { Limits } from './codes.js';
import { ProtocolError } from './errors.js';

const MAX = Limits.MaxPacketPayload;

/**
 * One logical packet. For an ordinary packet (payload < 16 MB) nothing is
 * copied unless it straddled chunks: `source` is the pushed chunk and the
 * `raw` / `payload` views are made only when asked for; consecutive packets
 * from one chunk satisfy `a.end === b.rawStart`, so a relay can forward a
 * run of them as `source.subarray(first.rawStart, last.end)`.
 *
 * A payload of 0xFFFFFF bytes or more arrives as several physical packets;
 * the framer reassembles it (one copy, `source` is then the payload itself)
 * and keeps the physical packets, headers included, in `rawParts` so a relay
 * forwards them unchanged.
 */
export class Packet {
  private payloadView: Buffer | undefined = undefined;

  constructor(
    /** Sequence id of the (first) physical packet. */
    readonly seq: number,
    /** Sequence id of the last physical packet (== seq unless reassembled). */
    readonly lastSeq: number,
    /** The buffer holding the payload. */
    readonly source: Buffer,
    /** Offset of the payload in `source`. */
    readonly payloadStart: number,
    /** Offset just past the payload in `source`. */
    readonly end: number,
    /** The physical packets of a reassembled payload, else null. */
    readonly rawParts: Buffer[] | null = null,
  ) {}

  /** The payload (a view). */
  get payload(): Buffer {
    return (this.payloadView ??= this.source.subarray(this.payloadStart, this.end));
  }

  /** Payload length. */
  get length(): number {
    return this.end - this.payloadStart;
  }

  /** The first payload byte (command, or response header), -1 if empty. */
  get first(): number {
    return this.end > this.payloadStart ? this.source[this.payloadStart] : -1;
  }

  /** Offset of the header in `source` (ordinary packets only; -1 when reassembled). */
  get rawStart(): number {
    return this.rawParts ? -1 : this.payloadStart - 4;
  }

  /** Header and payload as on the wire (for a reassembled payload, a concatenation of `rawParts`). */
  get raw(): Buffer {
    return this.rawParts ? Buffer.concat(this.rawParts) : this.source.subarray(this.payloadStart - 4, this.end);
  }

  /** Bytes this packet took on the wire. */
  get rawLength(): number {
    if (!this.rawParts) return this.end - this.payloadStart + 4;
    let n = 0;
    for (const p of this.rawParts) n += p.length;
    return n;
  }
}

export interface PacketFramerOptions {
  /**
   * Largest accepted logical payload (after reassembly). Default 64 MiB.
   * Refused as soon as a header shows it would be exceeded, before any of the
   * body is buffered.
   */
  maxPayload?: number;
}

/**
 * Splits a byte stream into packets, whatever the chunking. Complete packets
 * inside a chunk are views of that chunk (zero-copy); only a packet that
 * straddles chunks is copied, once, when its last byte arrives. Held parts
 * are views until then, so memory grows with the bytes received, never with
 * what a header claims.
 *
 * Continuation packets of a 16 MB multi-packet payload must carry
 * consecutive sequence ids (checked here); the sequence of logical packets
 * is the caller's business (see SequenceChecker).
 *
 * Views alias the pushed chunks, which must not be reused or mutated by the
 * caller (Node socket chunks never are). After a ProtocolError the framer
 * stays failed: every later push throws it.
 */
export class PacketFramer {
  readonly maxPayload: number;

  /** Parts of a physical packet straddling chunks. */
  private parts: Buffer[] = [];
  private held = 0;
  /** Total size (header + payload) of the held physical packet once its header is known, else -1. */
  private total = -1;

  /** Reassembly of a multi-packet payload: payload views and raw views so far, or null. */
  private multiPayload: Buffer[] | null = null;
  private multiRaw: Buffer[] = [];
  private multiLength = 0;
  private multiFirstSeq = 0;
  private multiLastSeq = 0;

  private failure: ProtocolError | null = null;

  constructor(options?: PacketFramerOptions) {
    const max = options?.maxPayload ?? Limits.DefaultMaxLogicalPayload;
    if (!Number.isInteger(max) || max < 0 || max > 0x7fffffff) {
      throw new RangeError(`maxPayload must be an integer from 0 to 2^31-1, got ${max}`);
    }
    this.maxPayload = max;
  }

  /** Bytes held for a packet not yet complete (including parts of a multi-packet payload). */
  get bufferedBytes(): number {
    let n = this.held;
    for (const p of this.multiRaw) n += p.length;
    return n;
  }

  /**
   * Frames one chunk. Returns the packets it completed (pass `out` to reuse
   * an array). Throws ProtocolError on a protocol violation.
   */
  push(chunk: Buffer, out: Packet[] = []): Packet[] {
    if (this.failure) throw this.failure;
    try {
      this.frame(chunk, out);
    } catch (err) {
      if (err instanceof ProtocolError) this.failure = err;
      throw err;
    }
    return out;
  }

  private frame(chunk: Buffer, out: Packet[]): void {
    const end = chunk.length;
    let off = 0;
    if (this.held > 0) {
      off = this.continueHeld(chunk, out);
      if (off < 0) return;
    }
    while (end - off >= 4) {
      // The hot path: packets wholly inside this chunk.
      const len = chunk[off] | (chunk[off + 1] << 8) | (chunk[off + 2] << 16);
      const seq = chunk[off + 3];
      this.checkHeader(len, seq);
      const stop = off + 4 + len;
      if (stop > end) break;
      if (len < MAX && this.multiPayload === null) {
        out.push(new Packet(seq, seq, chunk, off + 4, stop));
      } else {
        this.physical(chunk, off, stop, len, seq, out);
      }
      off = stop;
    }
    if (off < end) this.hold(chunk, off);
  }

  private checkHeader(len: number, seq: number): void {
    if (this.multiPayload === null) {
      if (len > this.maxPayload) {
        throw new ProtocolError(`packet payload of ${len} bytes exceeds the limit of ${this.maxPayload}`);
      }
      return;
    }
    const expected = (this.multiLastSeq + 1) & 0xff;
    if (seq !== expected) {
      throw new ProtocolError(`continuation packet out of order: sequence id ${seq}, expected ${expected}`);
    }
    if (this.multiLength + len > this.maxPayload) {
      throw new ProtocolError(
        `multi-packet payload of at least ${this.multiLength + len} bytes exceeds the limit of ${this.maxPayload}`,
      );
    }
  }

  /** A complete physical packet that starts or continues a multi-packet payload. */
  private physical(source: Buffer, start: number, stop: number, len: number, seq: number, out: Packet[]): void {
    if (this.multiPayload === null) {
      this.multiPayload = [];
      this.multiRaw = [];
      this.multiLength = 0;
      this.multiFirstSeq = seq;
    }
    this.multiPayload.push(source.subarray(start + 4, stop));
    this.multiRaw.push(source.subarray(start, stop));
    this.multiLength += len;
    this.multiLastSeq = seq;
    if (len === MAX) return;
    const payload = Buffer.concat(this.multiPayload, this.multiLength);
    out.push(new Packet(this.multiFirstSeq, seq, payload, 0, payload.length, this.multiRaw));
    this.multiPayload = null;
    this.multiRaw = [];
    this.multiLength = 0;
  }

  /** Starts holding the tail of a chunk: a packet whose end has not arrived. */
  private hold(chunk: Buffer, off: number): void {
    if (chunk.length - off >= 4) this.total = 4 + chunk.readUIntLE(off, 3); // already checked
    this.parts.push(chunk.subarray(off));
    this.held = chunk.length - off;
  }

  /**
   * Feeds a chunk to the held packet. Returns the offset in `chunk` after it,
   * or -1 if the whole chunk was absorbed and the packet is still incomplete.
   */
  private continueHeld(chunk: Buffer, out: Packet[]): number {
    let off = 0;
    if (this.total < 0) {
      const missing = 4 - this.held;
      if (chunk.length < missing) {
        this.parts.push(chunk);
        this.held += chunk.length;
        return -1;
      }
      // Assemble the 4-byte header and check it before taking any body.
      this.parts.push(chunk.subarray(0, missing));
      const head = Buffer.concat(this.parts, 4);
      const len = head.readUIntLE(0, 3);
      this.checkHeader(len, head[3]);
      this.total = 4 + len;
      this.parts = [head];
      this.held = 4;
      off = missing;
    }
    const missing = this.total - this.held;
    const avail = chunk.length - off;
    if (avail < missing) {
      if (avail > 0) {
        this.parts.push(off === 0 ? chunk : chunk.subarray(off));
        this.held += avail;
      }
      return -1;
    }
    this.parts.push(chunk.subarray(off, off + missing));
    const raw = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.total);
    this.parts = [];
    this.held = 0;
    this.total = -1;
    const len = raw.length - 4;
    const seq = raw[3];
    if (len < MAX && this.multiPayload === null) out.push(new Packet(seq, seq, raw, 4, raw.length));
    else this.physical(raw, 0, raw.length, len, seq, out);
    return off + missing;
  }
}

/**
 * Tracks the sequence id expected next within one command/response exchange:
 * the client's command has 0, every packet after increments (wrapping at 256),
 * and a reassembled packet advances it by its physical packet count.
 */
export class SequenceChecker {
  /** The sequence id expected on the next packet. */
  expected = 0;

  constructor(private readonly side = 'peer') {}

  /** Starts a new exchange (a new command): the next packet must carry `seq`. */
  reset(seq = 0): void {
    this.expected = seq & 0xff;
  }

  /** True if `packet` is the one expected; advances past it either way. */
  accept(packet: Pick<Packet, 'seq' | 'lastSeq'>): boolean {
    const ok = packet.seq === this.expected;
    this.expected = (packet.lastSeq + 1) & 0xff;
    return ok;
  }

  /** Like accept(), but throws ProtocolError on a packet out of order. */
  check(packet: Pick<Packet, 'seq' | 'lastSeq'>): void {
    const expected = this.expected;
    if (!this.accept(packet)) {
      throw new ProtocolError(`${this.side} sent packets out of order: sequence id ${packet.seq}, expected ${expected}`);
    }
  }

  /** Takes the next id for a packet we send (advancing the expectation past it). */
  take(): number {
    const s = this.expected;
    this.expected = (s + 1) & 0xff;
    return s;
  }
}
