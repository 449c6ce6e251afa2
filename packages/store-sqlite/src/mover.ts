import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

/**
 * The worker that moves journalled events into SQLite, off the gateway's
 * event loop, one row per session per batch (`event_blocks`).
 * It reads the lines from the journal file itself: the main thread only
 * says up to which offset the journal is written, so no event text is
 * gathered or copied between threads.
 * Plain CommonJS evaluated in the worker, so it runs the same from source
 * (tests) and from the build; better-sqlite3 is resolved here and passed in.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const Database = require(workerData.sqlite);
const db = new Database(workerData.path, { timeout: 5000 });
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = ' + workerData.sync);
db.pragma('foreign_keys = ON');
const journal = fs.openSync(workerData.journal, 'r');
const insert = db.prepare('INSERT INTO event_blocks (session, first_seq, last_seq, events) VALUES (?, ?, ?, ?)');
// Lines are copied as they are: one block per session per run of consecutive
// seqs (blocks.ts reads them back and checks that they are exactly that).
const move = db.transaction((text) => {
  const open = new Map();
  const blocks = [];
  let start = 0;
  for (;;) {
    const end = text.indexOf('\\n', start);
    if (end < 0) break;
    // session TAB seq TAB … (journal.ts)
    const t1 = text.indexOf('\\t', start);
    const t2 = text.indexOf('\\t', t1 + 1);
    if (t1 < 0 || t2 < 0 || t2 > end) throw new Error('malformed journal line at byte ' + start);
    const session = text.slice(start, t1);
    const seq = Number(text.slice(t1 + 1, t2));
    let b = open.get(session);
    if (b === undefined || seq !== b.last + 1) {
      b = { session, first: seq, last: seq, lines: [] };
      open.set(session, b);
      blocks.push(b);
    }
    b.last = seq;
    b.lines.push(text.slice(start, end + 1));
    start = end + 1;
  }
  for (const b of blocks) insert.run(b.session, b.first, b.last, b.lines.length === 1 ? b.lines[0] : b.lines.join(''));
});
/** The journal's bytes [from, to): whole lines, written before the main thread asked. */
function read(from, to) {
  const buf = Buffer.allocUnsafe(to - from);
  let off = 0;
  while (off < buf.length) {
    const n = fs.readSync(journal, buf, off, buf.length - off, from + off);
    if (n === 0) throw new Error('the journal is shorter than expected (' + (from + off) + ' of ' + to + ' bytes)');
    off += n;
  }
  return buf.toString('utf8');
}
parentPort.on('message', (m) => {
  if (m.close) {
    db.close();
    fs.closeSync(journal);
    parentPort.postMessage({ closed: true });
    return;
  }
  try {
    if (m.to > m.from) move(read(m.from, m.to));
    parentPort.postMessage({ id: m.id });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) });
  }
});
`;

/**
 * How long events gather before one SQLite transaction moves them. Every
 * commit rewrites whole WAL pages, so fewer, larger commits cost far less
 * (bench: 5 ms → 100 ms halved the gateway's CPU per pgbench transaction).
 * Reads wait for the mover (`settled`), so nobody sees the lag.
 */
const DELAY_MS = 100;
const BATCH_BYTES = 1024 * 1024;

export class JournalMover {
  private readonly worker: Worker;
  /** Journal offsets: everything before `sent` is handed to the worker; `written` is the journal's end. */
  private sent = 0;
  private written = 0;
  private timer: NodeJS.Timeout | null = null;
  private nextId = 0;
  private readonly waiting = new Map<number, () => void>();
  private closed = false;

  constructor(
    dbPath: string,
    journalPath: string,
    sync: 'NORMAL' | 'FULL',
    /** A batch could not be inserted: the store must refuse appends from now on. */
    private readonly onFailure: (message: string) => void,
    /** Everything handed over so far is committed to SQLite. */
    private readonly onIdle: () => void,
  ) {
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path: dbPath, journal: journalPath, sync, sqlite } });
    this.worker.unref();
    this.worker.on('message', (m: { id?: number; error?: string; closed?: boolean }) => {
      if (m.error) this.onFailure(m.error);
      if (m.id !== undefined) {
        const done = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        done?.();
        if (this.waiting.size === 0 && this.sent === this.written) this.onIdle();
      }
    });
    this.worker.on('error', (e) => this.onFailure(e.message));
  }

  /** The journal now ends at `end` (whole lines): move what is new. */
  add(end: number): void {
    this.written = end;
    if (end - this.sent >= BATCH_BYTES) this.send();
    else this.timer ??= setTimeout(() => this.send(), DELAY_MS);
  }

  /** The journal was emptied (only while idle): offsets start over. */
  rewind(): void {
    this.sent = this.written = 0;
  }

  /** Posts what is written and not yet sent; with `barrier`, even nothing (the worker answers in order). */
  private send(barrier = false): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.sent === this.written && !barrier) return Promise.resolve();
    const id = ++this.nextId;
    const from = this.sent;
    const to = this.written;
    this.sent = to;
    return new Promise<void>((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ id, from, to });
    });
  }

  /** Resolves once everything handed over so far is committed (or failed): the worker answers in order. */
  async flush(): Promise<void> {
    if (this.closed) return;
    await this.send(true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.worker.once('message', () => resolve());
      this.worker.postMessage({ close: true });
    });
    await this.worker.terminate();
  }
}
