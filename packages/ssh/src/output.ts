import type { Readable, Writable } from 'node:stream';
import type { Session } from '@sluice/core';

/** What masks a terminal byte stream across chunk boundaries (TerminalMasker). */
export interface ChunkMasker {
  push(chunk: Uint8Array): Uint8Array;
  /** Idle: what is held back and safe to emit now. */
  flush(): Uint8Array;
  /** End of stream: everything held. */
  end(): Uint8Array;
  readonly masked: number;
}

/**
 * Length of the prefix of `buf` that ends on a whole UTF-8 character: a
 * trailing lead byte with fewer continuation bytes than it announces is held
 * back (at most 3 bytes). Invalid sequences are not held (recorded as U+FFFD).
 */
export function utf8Complete(buf: Uint8Array): number {
  const n = buf.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = buf[n - back]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = b >= 0xf0 && b < 0xf8 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

/**
 * One output stream of a channel (stdout or stderr) on its way to the client:
 * masked (when the session masks), recorded as masked bytes (never the clear
 * ones), whole UTF-8 characters at a time, and written to the client.
 *
 * The masker may hold back the tail of a chunk that could be the start of a
 * sensitive value; it is flushed after `idleMs` without output and at `end()`.
 * `write` returns the destination's backpressure signal: false = pause the
 * source until the destination emits 'drain'.
 */
export class TerminalOutput {
  private carry: Uint8Array | null = null;
  private idle: NodeJS.Timeout | null = null;
  private ended = false;

  constructor(
    private readonly session: Session,
    private readonly stream: 'stdout' | 'stderr',
    private readonly dest: Writable,
    private readonly masker: ChunkMasker | null,
    private readonly idleMs = 20,
  ) {}

  get masked(): number {
    return this.masker?.masked ?? 0;
  }

  write(chunk: Uint8Array): boolean {
    if (this.ended) return true;
    if (!this.masker) return this.emit(chunk);
    const out = this.masker.push(chunk);
    this.armIdle();
    return out.length ? this.emit(out) : true;
  }

  /** Flushes what the masker holds and the recording's partial character. Idempotent. */
  end(): void {
    if (this.ended) return;
    this.clearIdle();
    if (this.masker) {
      const rest = this.masker.end();
      if (rest.length) this.emit(rest);
    }
    this.ended = true;
    if (this.carry) {
      this.record(this.carry);
      this.carry = null;
    }
  }

  /** Discards everything held (the client is gone). */
  dispose(): void {
    this.clearIdle();
    this.ended = true;
  }

  private emit(bytes: Uint8Array): boolean {
    let rec = bytes;
    if (this.carry) {
      rec = Buffer.concat([this.carry, bytes]);
      this.carry = null;
    }
    const whole = utf8Complete(rec);
    if (whole < rec.length) this.carry = rec.slice(whole);
    if (whole > 0) this.record(rec.subarray(0, whole));
    return this.dest.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  private record(bytes: Uint8Array): void {
    try {
      this.session.output(bytes, this.stream);
    } catch {
      /* recording batches; a closed session ignores output */
    }
  }

  private armIdle(): void {
    this.clearIdle();
    this.idle = setTimeout(() => {
      this.idle = null;
      if (this.ended || !this.masker) return;
      const rest = this.masker.flush();
      if (rest.length) this.emit(rest);
    }, this.idleMs);
    this.idle.unref?.();
  }

  private clearIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
  }
}

/**
 * Pipes `src` into `out` honouring backpressure: `src` is paused while the
 * client's channel window is full and resumed on the destination's 'drain'.
 * Resolves when `src` has ended or closed (after `out.end()`).
 */
export function pipeOutput(src: Readable, out: TerminalOutput, dest: Writable): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      out.end();
      resolve();
    };
    src.on('data', (chunk: Buffer) => {
      if (!out.write(chunk)) {
        src.pause();
        dest.once('drain', () => src.resume());
      }
    });
    src.once('end', finish);
    src.once('close', finish);
    src.once('error', finish);
  });
}

/** Resolves once everything written to `w` has been handed on (its buffer is empty), or at once. */
export function drained(w: Writable): Promise<void> {
  if (w.writableLength === 0 || w.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    // 'drain' only fires after a write returned false, so the buffer is polled as well.
    const check = () => {
      if (w.writableLength === 0 || w.destroyed || !w.writable) {
        clearInterval(t);
        w.off('drain', check);
        w.off('close', check);
        resolve();
      }
    };
    const t = setInterval(check, 10);
    t.unref?.();
    w.on('drain', check);
    w.on('close', check);
  });
}
