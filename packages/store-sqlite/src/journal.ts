import { closeSync, constants, fdatasyncSync, fstatSync, ftruncateSync, openSync, readFileSync, writeSync, existsSync } from 'node:fs';
import type { StoredEvent } from '@sluice/core';

/** The encoding buffer's size; one grown past BUF_KEEP for a huge event is dropped after its write. */
const BUF_START = 64 * 1024;
const BUF_KEEP = 1024 * 1024;
const NL = 0x0a;

/**
 * The event journal: an append-only file of JSON lines written with one
 * write(2) per group of events. Once write returns, the events are in the
 * kernel's page cache and survive a kill -9 of the gateway (with `fsync`,
 * also a power loss) — that is what "durable before the command is
 * forwarded" needs, at a fraction of a SQLite commit's cost. The store moves
 * journalled events into SQLite in larger batches shortly after, and replays
 * the journal at open, so nothing acknowledged is ever lost.
 *
 * Once everything in it is in SQLite the journal starts over at offset 0
 * (`rewind`) without shrinking the file: writing into pages the file already
 * has costs less than growing it (no block allocation, no zeroing of fresh
 * pages). So every write ends with an empty line, which the next write
 * overwrites: it marks where the current lines end and the older ones
 * (already moved) begin.
 */
export class EventJournal {
  private fd: number;
  /** Where the current lines end (the next write's offset); the file may be longer. */
  private bytes: number;
  private buf = Buffer.allocUnsafe(BUF_START);

  constructor(
    readonly path: string,
    private readonly fsync: boolean,
  ) {
    // Not O_APPEND: writes go to `bytes`, which rewind() moves back to 0.
    this.fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    this.bytes = fstatSync(this.fd).size;
  }

  /**
   * Appends events as lines `session TAB seq TAB at TAB type TAB prev TAB hash
   * TAB data-JSON` (JSON text never holds a raw tab or newline), encoded once
   * into a reused buffer and written with one write(2), followed by the
   * empty line that marks the end. Throws if the write fails (the caller
   * refuses).
   */
  append(events: readonly StoredEvent[]): void {
    let off = 0;
    for (const e of events) {
      checkFields(e);
      off = this.put(`${e.session}\t${e.seq}\t${e.at}\t${e.type}\t${e.prev}\t${e.hash}\t`, off);
      off = this.put(e.dataJson ?? JSON.stringify(e.data), off);
      this.buf[off++] = NL; // put leaves room for two bytes
    }
    // The end mark rides along; the next append starts on it.
    this.buf[off] = NL;
    const total = off + 1;
    // A short write, which a regular file only gives when the disk is nearly
    // full, goes on from the bytes already written.
    let done = 0;
    while (done < total) done += writeSync(this.fd, this.buf, done, total - done, this.bytes + done);
    if (this.fsync) fdatasyncSync(this.fd);
    this.bytes += off;
    if (this.buf.length > BUF_KEEP) this.buf = Buffer.allocUnsafe(BUF_START);
  }

  /**
   * Encodes `s` as UTF-8 at `off` (growing the buffer first if it might not
   * fit, with room for two more bytes after it); returns the new end.
   */
  private put(s: string, off: number): number {
    const worst = off + s.length * 3 + 2;
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

  /** Starts over at offset 0, keeping the file's pages: only once everything in it is committed to SQLite. */
  rewind(): void {
    this.bytes = 0;
  }

  /** Empties the file: only once everything in it is committed to SQLite. */
  truncate(): void {
    ftruncateSync(this.fd, 0);
    this.bytes = 0;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /**
   * Events left in a journal by a previous run, in order, up to the empty
   * line that ends the current lines (what follows it was moved into SQLite
   * before a rewind). A torn line (a write cut short by a kill or a power
   * loss) ends the list too; it was never acknowledged. Lines after a torn
   * write that still read as whole events are older ones, already in
   * SQLite, which the replay skips.
   */
  static read(path: string): StoredEvent[] {
    if (!existsSync(path)) return [];
    const text = readFileSync(path, 'utf8');
    const out: StoredEvent[] = [];
    for (const line of text.split('\n')) {
      if (!line) break;
      const f = line.split('\t');
      if (f.length < 7 || !/^[1-9][0-9]*$/.test(f[1]!)) break;
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

/** No tab or newline (two scans of a short id are cheaper than a regular expression's). */
function plain(s: string): boolean {
  return s.indexOf('\t') === -1 && s.indexOf('\n') === -1;
}

/** The last session id, type and time that passed the check (most events repeat them). */
const passed = { session: '', type: '', at: '' };

/** Fields other than data are ids, times and hex: a tab or newline in them is refused (it would split the line). */
function checkFields(e: StoredEvent): void {
  if (e.session !== passed.session) {
    if (!plain(e.session)) throw new Error('event field holds a tab or newline');
    passed.session = e.session;
  }
  if (e.type !== passed.type) {
    if (!plain(e.type)) throw new Error('event field holds a tab or newline');
    passed.type = e.type;
  }
  if (e.at !== passed.at) {
    if (!plain(e.at)) throw new Error('event field holds a tab or newline');
    passed.at = e.at;
  }
}

/** One journal line. */
export function journalLine(e: StoredEvent): string {
  checkFields(e);
  return `${e.session}\t${e.seq}\t${e.at}\t${e.type}\t${e.prev}\t${e.hash}\t${e.dataJson ?? JSON.stringify(e.data)}\n`;
}
