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
// The journal's two files (store.ts writes one while this drains the other).
const journals = workerData.journals.map((p) => fs.openSync(p, 'r'));
// The lines go in as the bytes read from the journal, cast to TEXT in SQLite
// (the same UTF-8): no JavaScript string is made of them.
const insert = db.prepare('INSERT INTO event_blocks (session, first_seq, last_seq, events) VALUES (?, ?, ?, CAST(? AS TEXT))');
// Reused between batches: a fresh megabyte per batch costs page faults.
let input = Buffer.allocUnsafe(1 << 20);
let output = Buffer.allocUnsafe(1 << 20);
// Lines are copied as they are: one block per session per run of consecutive
// seqs (blocks.ts reads them back and checks that they are exactly that).
const move = db.transaction((n) => {
  const open = new Map();
  const blocks = [];
  let start = 0;
  while (start < n) {
    const end = input.indexOf(10, start);
    if (end < 0 || end >= n) throw new Error('malformed journal line at byte ' + start);
    // session TAB seq TAB … (journal.ts)
    const t1 = input.indexOf(9, start);
    if (t1 < 0 || t1 > end) throw new Error('malformed journal line at byte ' + start);
    let seq = 0;
    let t2 = t1 + 1;
    for (let c = input[t2]; c >= 48 && c <= 57; c = input[++t2]) seq = seq * 10 + c - 48;
    if (t2 === t1 + 1 || t2 > end || input[t2] !== 9) throw new Error('malformed journal line at byte ' + start);
    const session = input.toString('utf8', start, t1);
    let b = open.get(session);
    if (b === undefined || seq !== b.last + 1) {
      b = { session, first: seq, last: seq, spans: [], bytes: 0 };
      open.set(session, b);
      blocks.push(b);
    }
    b.last = seq;
    const spans = b.spans;
    // Consecutive lines of one session (a lone session) stay one span.
    if (spans.length > 0 && spans[spans.length - 1] === start) spans[spans.length - 1] = end + 1;
    else spans.push(start, end + 1);
    b.bytes += end + 1 - start;
    start = end + 1;
  }
  for (const b of blocks) {
    let lines;
    if (b.spans.length === 2) lines = input.subarray(b.spans[0], b.spans[1]);
    else {
      if (output.length < b.bytes) output = Buffer.allocUnsafe(Math.max(b.bytes, output.length * 2));
      let off = 0;
      for (let i = 0; i < b.spans.length; i += 2) off += input.copy(output, off, b.spans[i], b.spans[i + 1]);
      lines = output.subarray(0, off);
    }
    insert.run(b.session, b.first, b.last, lines);
  }
});
/** Reads bytes [from, to) of journal file \`file\` into \`input\`: whole lines, written before the main thread asked. */
function read(file, from, to) {
  const n = to - from;
  if (input.length < n) input = Buffer.allocUnsafe(Math.max(n, input.length * 2));
  let off = 0;
  while (off < n) {
    const got = fs.readSync(journals[file], input, off, n - off, from + off);
    if (got === 0) throw new Error('the journal is shorter than expected (' + (from + off) + ' of ' + to + ' bytes)');
    off += got;
  }
  return n;
}
parentPort.on('message', (m) => {
  if (m.close) {
    db.close();
    for (const fd of journals) fs.closeSync(fd);
    parentPort.postMessage({ closed: true });
    return;
  }
  try {
    if (m.to > m.from) move(read(m.file, m.from, m.to));
    // A batch grown by a huge event does not keep its buffers.
    if (input.length > 4 << 20) input = Buffer.allocUnsafe(1 << 20);
    if (output.length > 4 << 20) output = Buffer.allocUnsafe(1 << 20);
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

/** Where one journal file stands: everything before `sent` is handed to the worker, before `acked` committed; `written` is its end. */
interface FileState {
  sent: number;
  written: number;
  acked: number;
}

/**
 * Moves journalled events into SQLite. The journal is two files: the store
 * appends to one while the worker may still be draining the other, and
 * switches files only to one that is drained, so neither grows without bound
 * under a load that never pauses.
 */
export class JournalMover {
  private readonly worker: Worker;
  private readonly files: [FileState, FileState] = [
    { sent: 0, written: 0, acked: 0 },
    { sent: 0, written: 0, acked: 0 },
  ];
  private timer: NodeJS.Timeout | null = null;
  private nextId = 0;
  /** Messages posted and not yet answered: what each one moves (the worker answers in order). */
  private readonly waiting = new Map<number, { file: number; to: number; done: () => void }>();
  private closed = false;

  constructor(
    dbPath: string,
    journalPaths: readonly [string, string],
    sync: 'NORMAL' | 'FULL',
    /** A batch could not be inserted: the store must refuse appends from now on. */
    private readonly onFailure: (message: string) => void,
    /** Everything handed over so far is committed to SQLite. */
    private readonly onIdle: () => void,
  ) {
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path: dbPath, journals: journalPaths, sync, sqlite } });
    this.worker.unref();
    this.worker.on('message', (m: { id?: number; error?: string; closed?: boolean }) => {
      if (m.error) this.onFailure(m.error);
      if (m.id !== undefined) {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        // A failed batch is not committed: its file never counts as drained.
        if (w && !m.error && w.to > this.files[w.file]!.acked) this.files[w.file]!.acked = w.to;
        w?.done();
        if (this.waiting.size === 0 && this.drained(0) && this.drained(1)) this.onIdle();
      }
    });
    this.worker.on('error', (e) => this.onFailure(e.message));
  }

  /** Journal file `file` now ends at `end` (whole lines): move what is new. */
  add(file: 0 | 1, end: number): void {
    const f = this.files[file];
    f.written = end;
    if (end - f.sent >= BATCH_BYTES) this.send();
    else this.timer ??= setTimeout(() => this.send(), DELAY_MS);
  }

  /** Whether everything written to `file` is committed to SQLite. */
  drained(file: 0 | 1): boolean {
    const f = this.files[file];
    return f.acked === f.written; // acked ≤ sent ≤ written
  }

  /** File `file` starts over at offset 0 (only once it is drained). */
  rewind(file: 0 | 1): void {
    const f = this.files[file];
    f.sent = f.written = f.acked = 0;
  }

  /** Posts what is written and not yet sent, file by file; with `barrier`, even nothing (the worker answers in order). */
  private send(barrier = false): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // The worker answers in order: the last message posted settles after the others.
    let last: Promise<void> | null = null;
    for (const file of [0, 1] as const) {
      const f = this.files[file];
      if (f.sent === f.written) continue;
      last = this.post(file, f.sent, f.written);
      f.sent = f.written;
    }
    if (last === null && barrier) last = this.post(0, 0, 0);
    return last ?? Promise.resolve();
  }

  private post(file: number, from: number, to: number): Promise<void> {
    const id = ++this.nextId;
    return new Promise<void>((done) => {
      this.waiting.set(id, { file, to, done });
      this.worker.postMessage({ id, file, from, to });
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
