import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readFileSync, writeSync, existsSync } from 'node:fs';
import type { StoredEvent } from '@sluice/core';

/** The encoding buffer's size; one grown past BUF_KEEP for a huge event is dropped after its write. */
const BUF_START = 64 * 1024;
const BUF_KEEP = 1024 * 1024;

/**
 * The event journal: an append-only file of JSON lines written with one
 * write(2) per group of events. Once write returns, the events are in the
 * kernel's page cache and survive a kill -9 of the gateway (with `fsync`,
 * also a power loss) — that is what "durable before the command is
 * forwarded" needs, at a fraction of a SQLite commit's cost. The store moves
 * journalled events into SQLite in larger batches shortly after, and replays
 * the journal at open, so nothing acknowledged is ever lost.
 */
export class EventJournal {
  private fd: number;
  private bytes: number;
  private buf = Buffer.allocUnsafe(BUF_START);

  constructor(
    readonly path: string,
    private readonly fsync: boolean,
  ) {
    this.fd = openSync(path, 'a', 0o600);
    this.bytes = fstatSync(this.fd).size;
  }

  /**
   * Appends events as lines `session TAB seq TAB at TAB type TAB prev TAB hash
   * TAB data-JSON` (JSON text never holds a raw tab or newline), encoded once
   * into a reused buffer and written with one write(2). Throws if the write
   * fails (the caller refuses).
   */
  append(events: readonly StoredEvent[]): void {
    let off = 0;
    for (const e of events) {
      checkFields(e);
      off = this.put(`${e.session}\t${e.seq}\t${e.at}\t${e.type}\t${e.prev}\t${e.hash}\t`, off);
      off = this.put(e.dataJson ?? JSON.stringify(e.data), off);
      off = this.put('\n', off);
    }
    // A short write, which a regular file only gives when the disk is nearly
    // full, goes on from the bytes already written.
    let done = 0;
    while (done < off) done += writeSync(this.fd, this.buf, done, off - done);
    if (this.fsync) fdatasyncSync(this.fd);
    this.bytes += off;
    if (this.buf.length > BUF_KEEP) this.buf = Buffer.allocUnsafe(BUF_START);
  }

  /** Encodes `s` as UTF-8 at `off` (growing the buffer first if it might not fit); returns the new end. */
  private put(s: string, off: number): number {
    const worst = off + s.length * 3;
    if (worst > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(worst, this.buf.length * 2));
      this.buf.copy(bigger, 0, 0, off);
      this.buf = bigger;
    }
    return off + this.buf.write(s, off);
  }

  get size(): number {
    return this.bytes;
  }

  /** Empties the journal: only once everything in it is committed to SQLite. */
  truncate(): void {
    ftruncateSync(this.fd, 0);
    this.bytes = 0;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /**
   * Events left in a journal by a previous run, in order. A torn last line
   * (power loss mid-write) ends the list; it was never acknowledged.
   */
  static read(path: string): StoredEvent[] {
    if (!existsSync(path)) return [];
    const text = readFileSync(path, 'utf8');
    const out: StoredEvent[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      const f = line.split('\t');
      if (f.length < 7) break;
      try {
        const dataJson = f.slice(6).join('\t');
        out.push({ session: f[0]!, seq: Number(f[1]), at: f[2]!, type: f[3]!, prev: f[4]!, hash: f[5]!, data: JSON.parse(dataJson) as Record<string, unknown>, dataJson });
      } catch {
        break;
      }
    }
    return out;
  }
}

const PLAIN = /^[^\t\n]*$/;

/** The last session id, type and time that passed the check (most events repeat them). */
const passed = { session: '', type: '', at: '' };

/** Fields other than data are ids, times and hex: a tab or newline in them is refused (it would split the line). */
function checkFields(e: StoredEvent): void {
  if (e.session !== passed.session) {
    if (!PLAIN.test(e.session)) throw new Error('event field holds a tab or newline');
    passed.session = e.session;
  }
  if (e.type !== passed.type) {
    if (!PLAIN.test(e.type)) throw new Error('event field holds a tab or newline');
    passed.type = e.type;
  }
  if (e.at !== passed.at) {
    if (!PLAIN.test(e.at)) throw new Error('event field holds a tab or newline');
    passed.at = e.at;
  }
}

/** One journal line. */
export function journalLine(e: StoredEvent): string {
  checkFields(e);
  return `${e.session}\t${e.seq}\t${e.at}\t${e.type}\t${e.prev}\t${e.hash}\t${e.dataJson ?? JSON.stringify(e.data)}\n`;
}
