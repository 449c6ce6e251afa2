import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readFileSync, writeSync, existsSync } from 'node:fs';
import type { StoredEvent } from '@sluice/core';

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

  constructor(
    readonly path: string,
    private readonly fsync: boolean,
  ) {
    this.fd = openSync(path, 'a', 0o600);
    this.bytes = fstatSync(this.fd).size;
  }

  /**
   * Appends events as lines `session TAB seq TAB at TAB type TAB prev TAB hash
   * TAB data-JSON` (JSON text never holds a raw tab or newline). Throws if
   * the write fails (the caller refuses).
   */
  append(events: readonly StoredEvent[]): void {
    let text = '';
    for (const e of events) text += journalLine(e);
    // The string is written as is (no Buffer to allocate); a short write,
    // which a regular file only gives when the disk is nearly full, goes on
    // from the bytes already written.
    const length = Buffer.byteLength(text, 'utf8');
    let off = writeSync(this.fd, text, null, 'utf8');
    if (off < length) {
      const buf = Buffer.from(text, 'utf8');
      while (off < length) off += writeSync(this.fd, buf, off, length - off);
    }
    if (this.fsync) fdatasyncSync(this.fd);
    this.bytes += length;
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

/** One journal line. Fields other than data are ids, times and hex: a tab or newline in them is refused. */
export function journalLine(e: StoredEvent): string {
  if (!PLAIN.test(e.session) || !PLAIN.test(e.type) || !PLAIN.test(e.at)) throw new Error('event field holds a tab or newline');
  return `${e.session}\t${e.seq}\t${e.at}\t${e.type}\t${e.prev}\t${e.hash}\t${e.dataJson ?? JSON.stringify(e.data)}\n`;
}
