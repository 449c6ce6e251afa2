import type { StoredEvent } from '@sluice/core';
import { journalLine } from './journal.js';
import { CorruptRowError } from './errors.js';

/**
 * A row of `event_blocks`: consecutive events of one session (`first`..`last`)
 * as journal lines. Events are moved into SQLite a batch at a time, so one
 * insert per session per batch replaces one per event.
 */
export interface EventBlock {
  session: string;
  first: number;
  last: number;
  lines: string;
}

/**
 * Groups events (in append order) into blocks of consecutive seqs per
 * session. An event whose seq is not the next of its session's open block
 * starts a new block, so a block never claims a range it does not hold.
 */
export function toBlocks(events: readonly StoredEvent[]): EventBlock[] {
  const open = new Map<string, EventBlock>();
  const out: EventBlock[] = [];
  for (const e of events) {
    let b = open.get(e.session);
    if (!b || e.seq !== b.last + 1) {
      b = { session: e.session, first: e.seq, last: e.seq - 1, lines: '' };
      open.set(e.session, b);
      out.push(b);
    }
    b.lines += journalLine(e);
    b.last = e.seq;
  }
  return out;
}

/** The part of a block after seq `stored` (its lines are one per event, in seq order). */
export function trimBlock(b: EventBlock, stored: number): [string, number, number, string] {
  let at = 0;
  for (let seq = b.first; seq <= stored; seq++) at = b.lines.indexOf('\n', at) + 1;
  return [b.session, stored + 1, b.last, b.lines.slice(at)];
}

/**
 * The events of one stored block, decoded one at a time (a caller walking
 * the log gets every good event before the first bad one). Anything that
 * does not read back as the block's own consecutive events — a line of
 * another session or seq, a missing field, data that is not a JSON object,
 * fewer or more lines than the block's range — throws CorruptRowError
 * naming `session#seq`: an edited log, which audit verify reports.
 */
export function* blockEvents(session: string, first: number, last: number, lines: string): Generator<StoredEvent> {
  let seq = first;
  let start = 0;
  const bad = (why: string): CorruptRowError => new CorruptRowError(`events ${session}#${seq}: ${why}`, 'events', `${session}#${seq}`);
  while (start < lines.length) {
    let end = lines.indexOf('\n', start);
    if (end < 0) end = lines.length;
    const f = lines.slice(start, end).split('\t');
    start = end + 1;
    if (seq > last) throw bad('the block holds more events than its range');
    if (f.length !== 7) throw bad('malformed event line');
    if (f[0] !== session || f[1] !== String(seq)) throw bad(`line belongs to ${f[0]}#${f[1]}`);
    let data: unknown;
    try {
      data = JSON.parse(f[6]!);
    } catch {
      throw bad('data is not valid JSON');
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data)) throw bad('data is not a JSON object');
    yield { session, seq, at: f[2]!, type: f[3]!, prev: f[4]!, hash: f[5]!, data: data as Record<string, unknown> };
    seq++;
  }
  if (seq <= last) throw bad('the block holds fewer events than its range');
}
