import { Limits } from './codes.js';
import { ProtocolError } from './errors.js';
import { checkStartupLength, parseStartupPacket, type StartupPacket } from './startup.js';

/**
 * One framed message: a type byte and a span of `source`. Nothing is copied
 * unless the message straddled chunks (then `source` is its own copy), and
 * the `raw` / `payload` views are made only when first asked for, so a relay
 * that forwards runs of messages can skip them altogether: messages framed
 * from one chunk share `source`, and consecutive ones satisfy
 * `a.end === b.start`, so `source.subarray(first.start, last.end)` forwards a
 * whole run in one view.
 */
export class FramedMessage {
  private rawView: Buffer | undefined = undefined;
  private payloadView: Buffer | undefined = undefined;

  constructor(
    /** The type byte ('Q' = 0x51 …). */
    readonly type: number,
    /** The buffer holding the message: a pushed chunk, or a copy if the message straddled chunks. */
    readonly source: Buffer,
    /** Offset of the type byte in `source`. */
    readonly start: number,
    /** Offset just past the message in `source`. */
    readonly end: number,
  ) {}

  /** The whole message: type byte, length word and body; forward this when nothing changes. */
  get raw(): Buffer {
    return (this.rawView ??= this.source.subarray(this.start, this.end));
  }

  /** The body after the length word (a view). */
  get payload(): Buffer {
    return (this.payloadView ??= this.source.subarray(this.start + 5, this.end));
  }

  /** Offset of the body in `source`. */
  get payloadStart(): number {
    return this.start + 5;
  }

  /** Whole message length in bytes (type byte included). */
  get length(): number {
    return this.end - this.start;
  }
}

export interface FramerOptions {
  /**
   * Largest accepted message, length word included (type byte excluded, as
   * PostgreSQL counts). Default 1 GiB - 1, PostgreSQL's own limit. Messages are
   * buffered whole, so this bounds the memory one message can take.
   */
  maxMessageLength?: number;
}

const enum Mode {
  /** Startup phase: int32 length (counting itself), no type byte. */
  Startup,
  /** After an SSLRequest/GSSENCRequest: nothing may follow until the server answers. */
  AwaitingAnswer,
  /** type byte + int32 length. */
  Regular,
  /** After a CancelRequest: the connection carries nothing else. */
  Closed,
}

/**
 * Splits a byte stream into messages, whatever the chunking. Complete messages
 * inside a chunk are views of that chunk (zero-copy); only a message that
 * straddles chunks is copied, once, when its last byte arrives. The parts of a
 * straddling message are kept as views until then, so memory grows with the
 * bytes actually received, never with what a length word claims.
 *
 * Length words are checked as soon as they arrive: an absurd length is refused
 * before any of its body is buffered.
 *
 * Views: emitted buffers and kept parts alias the pushed chunks, which must not
 * be reused or mutated by the caller (Node socket chunks never are).
 *
 * After a ProtocolError the framer stays failed: every later push throws it.
 */
export class Framer {
  protected mode: Mode;
  /** Per type byte: the largest accepted length, 0 if the type is refused. */
  protected readonly limits: Int32Array;
  /** SSLRequest / GSSENCRequest already seen (each is allowed once). */
  private sslSeen = false;
  private gssSeen = false;

  /** Parts of a message straddling chunks. */
  private parts: Buffer[] = [];
  /** Bytes held in `parts`. */
  private held = 0;
  /** Total size of the held message once its header is known, else -1. */
  private total = -1;
  private failure: ProtocolError | null = null;

  protected constructor(startup: boolean, limits: Int32Array) {
    this.mode = startup ? Mode.Startup : Mode.Regular;
    this.limits = limits;
  }

  /** 'startup' until a StartupMessage (or startupDone()), then 'regular'; 'closed' after a CancelRequest. */
  get phase(): 'startup' | 'regular' | 'closed' {
    return this.mode === Mode.Regular ? 'regular' : this.mode === Mode.Closed ? 'closed' : 'startup';
  }

  /** Switches to regular framing (type byte + length). */
  protected enterRegular(): void {
    if (this.mode === Mode.Regular) return;
    if (this.mode === Mode.Closed) throw new ProtocolError('connection closed by CancelRequest');
    if (this.held > 0) throw new ProtocolError('a partial startup packet is pending');
    this.mode = Mode.Regular;
  }

  /** Bytes held for a message not yet complete. */
  get bufferedBytes(): number {
    return this.held;
  }

  /**
   * Frames one chunk. Returns the messages it completed (pass `out` to reuse
   * an array). Throws ProtocolError on a protocol violation.
   */
  protected pushAny(chunk: Buffer, out: Array<FramedMessage | StartupPacket>): void {
    if (this.failure) throw this.failure;
    try {
      this.frame(chunk, out);
      // The answer to SSLRequest/GSSENCRequest is written before the next chunk is read.
      if (this.mode === Mode.AwaitingAnswer) this.mode = Mode.Startup;
    } catch (err) {
      if (err instanceof ProtocolError) this.failure = err;
      throw err;
    }
  }

  private frame(chunk: Buffer, out: Array<FramedMessage | StartupPacket>): void {
    const end = chunk.length;
    let off = 0;
    if (this.held > 0) {
      off = this.continueHeld(chunk, out);
      if (off < 0) return;
    }
    while (off < end) {
      if (this.mode === Mode.Regular) {
        // The hot path: regular messages wholly inside this chunk.
        if (end - off < 5) break;
        const type = chunk[off];
        const len = (chunk[off + 1] << 24) | (chunk[off + 2] << 16) | (chunk[off + 3] << 8) | chunk[off + 4];
        this.checkRegular(type, len);
        const stop = off + 1 + len;
        if (stop > end) break;
        out.push(new FramedMessage(type, chunk, off, stop));
        off = stop;
        continue;
      }
      this.checkStartupAllowed();
      if (end - off < 4) break;
      const len = chunk.readInt32BE(off);
      checkStartupLength(len);
      if (off + len > end) break;
      this.emitStartup(chunk.subarray(off, off + len), out);
      off += len;
    }
    if (off < end) this.hold(chunk, off);
  }

  /**
   * Refuses bytes where no startup packet may come: behind an SSLRequest or
   * GSSENCRequest in the same chunk (the client must wait for the answer;
   * plaintext smuggled there must never be taken as if it came through TLS),
   * or after a CancelRequest.
   */
  private checkStartupAllowed(): void {
    if (this.mode === Mode.AwaitingAnswer) {
      throw new ProtocolError('received unencrypted data after an SSL/GSSENC request, before the answer');
    }
    if (this.mode === Mode.Closed) throw new ProtocolError('data after CancelRequest');
  }

  private checkRegular(type: number, len: number): void {
    const max = this.limits[type];
    if (max === 0) throw new ProtocolError(`invalid message type 0x${type.toString(16).padStart(2, '0')}`);
    if (len < 4 || len > max) {
      throw new ProtocolError(`invalid message length ${len} for type 0x${type.toString(16).padStart(2, '0')}`);
    }
  }

  private emitStartup(raw: Buffer, out: Array<FramedMessage | StartupPacket>): void {
    const packet = parseStartupPacket(raw);
    switch (packet.kind) {
      case 'startup':
        this.mode = Mode.Regular;
        break;
      case 'cancel':
        this.mode = Mode.Closed;
        break;
      case 'ssl':
        if (this.sslSeen) throw new ProtocolError('duplicate SSLRequest');
        this.sslSeen = true;
        this.mode = Mode.AwaitingAnswer;
        break;
      case 'gssenc':
        if (this.gssSeen) throw new ProtocolError('duplicate GSSENCRequest');
        this.gssSeen = true;
        this.mode = Mode.AwaitingAnswer;
        break;
    }
    out.push(packet);
  }

  /** Starts holding the tail of a chunk: a message whose end has not arrived. */
  private hold(chunk: Buffer, off: number): void {
    if (this.mode === Mode.Regular) {
      if (chunk.length - off >= 5) this.total = 1 + chunk.readInt32BE(off + 1); // already checked
    } else {
      this.checkStartupAllowed();
      if (chunk.length - off >= 4) this.total = chunk.readInt32BE(off); // already checked
    }
    this.parts.push(chunk.subarray(off));
    this.held = chunk.length - off;
  }

  /**
   * Feeds a chunk to the held message. Returns the offset in `chunk` after it,
   * or -1 if the whole chunk was absorbed and the message is still incomplete.
   */
  private continueHeld(chunk: Buffer, out: Array<FramedMessage | StartupPacket>): number {
    let off = 0;
    if (this.total < 0) {
      const header = this.mode === Mode.Regular ? 5 : 4;
      const missing = header - this.held;
      if (chunk.length < missing) {
        this.parts.push(chunk);
        this.held += chunk.length;
        return -1;
      }
      // Assemble the (tiny) header, check it before taking any body.
      this.parts.push(chunk.subarray(0, missing));
      const head = Buffer.concat(this.parts, header);
      if (this.mode === Mode.Regular) {
        const len = head.readInt32BE(1);
        this.checkRegular(head[0], len);
        this.total = 1 + len;
      } else {
        const len = head.readInt32BE(0);
        checkStartupLength(len);
        this.total = len;
      }
      this.parts = [head];
      this.held = header;
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
    if (this.mode === Mode.Regular) {
      out.push(new FramedMessage(raw[0], raw, 0, raw.length));
    } else {
      this.emitStartup(raw, out);
    }
    return off + missing;
  }
}

/** A limits table that accepts every type byte up to `max`. */
function anyType(max: number): Int32Array {
  return new Int32Array(256).fill(max);
}

function maxOf(options: FramerOptions | undefined): number {
  const max = options?.maxMessageLength ?? Limits.LargeMessage;
  if (!Number.isInteger(max) || max < 4 || max > 0x7fffffff) {
    throw new RangeError(`maxMessageLength must be an integer from 4 to 2^31-1, got ${max}`);
  }
  return max;
}

/**
 * Frames what the upstream PostgreSQL server sends (always type + length).
 * Any type byte is accepted: the upstream is trusted to speak the protocol,
 * and the relay forwards types it does not parse.
 */
export class BackendFramer extends Framer {
  constructor(options?: FramerOptions) {
    super(false, anyType(maxOf(options)));
  }

  push(chunk: Buffer, out: FramedMessage[] = []): FramedMessage[] {
    this.pushAny(chunk, out as Array<FramedMessage | StartupPacket>);
    return out;
  }
}

export { maxOf as framerMaxLength };
