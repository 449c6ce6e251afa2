/**
 * asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/) from the
 * terminal events a session recorded, and real-time playback of those events.
 */

/** One recorded terminal event. `at` is an RFC 3339 timestamp (millisecond precision). */
export interface TerminalEvent {
  at: string;
  type: 'output' | 'resize';
  stream?: 'stdout' | 'stderr';
  /** Output text (for 'output'). */
  data?: string;
  /** New size (for 'resize'). */
  cols?: number;
  rows?: number;
}

export interface AsciicastOptions {
  width: number;
  height: number;
  title?: string;
  /** Unix time (seconds) of the recording's start; default: the first event's time. */
  timestamp?: number;
}

interface Timed {
  /** Seconds since the first event, never decreasing. */
  t: number;
  ev: TerminalEvent;
}

/**
 * Events keep the order given (the log's order; they are not sorted). An
 * event whose `at` does not parse, or that lies before the previous one,
 * gets the previous time, so times never decrease. Events without data
 * (output) or with an invalid size (resize) are skipped.
 */
function timeline(events: readonly TerminalEvent[]): { start: number; items: Timed[] } {
  const items: Timed[] = [];
  let start = NaN;
  let last = 0;
  for (const ev of events) {
    if (ev.type === 'output') {
      if (typeof ev.data !== 'string' || ev.data.length === 0) continue;
    } else if (ev.type === 'resize') {
      if (!validSize(ev.cols) || !validSize(ev.rows)) continue;
    } else {
      continue;
    }
    const ms = Date.parse(ev.at);
    if (Number.isFinite(ms) && Number.isNaN(start)) start = ms;
    let t = Number.isFinite(ms) ? (ms - start) / 1000 : last;
    if (t < last) t = last;
    last = t;
    items.push({ t, ev });
  }
  return { start: Number.isNaN(start) ? Date.now() : start, items };
}

function validSize(n: number | undefined): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 100000;
}

/**
 * asciicast v2 text: a header line `{"version":2,"width":…,"height":…,"timestamp":…}`
 * then one line per event — `[t, "o", data]` for output (stdout and stderr
 * alike: asciicast has no stderr stream) and `[t, "r", "COLSxROWS"]` for a
 * resize — with t in seconds (millisecond precision) since the first event.
 * Ends with a newline. Throws on a non-positive width or height.
 */
export function toAsciicast(events: TerminalEvent[], opts: AsciicastOptions): string {
  if (!validSize(opts.width) || !validSize(opts.height)) throw new Error('asciicast width and height must be positive integers');
  const { start, items } = timeline(events);
  const header: Record<string, unknown> = {
    version: 2,
    width: opts.width,
    height: opts.height,
    timestamp: opts.timestamp ?? Math.floor(start / 1000),
  };
  if (opts.title !== undefined) header.title = opts.title;
  const lines = [JSON.stringify(header)];
  for (const { t, ev } of items) {
    const time = Math.round(t * 1000) / 1000;
    if (ev.type === 'output') lines.push(JSON.stringify([time, 'o', ev.data]));
    else lines.push(JSON.stringify([time, 'r', `${ev.cols}x${ev.rows}`]));
  }
  return lines.join('\n') + '\n';
}

export interface PlayOptions {
  /** Playback speed factor (2 = twice as fast). Default 1; must be > 0. */
  speed?: number;
  /** Longest pause (seconds, before scaling by speed) between two events. Default: no cap. */
  maxIdleSec?: number;
  /** Receives output text, and for a resize the xterm sequence `ESC [ 8 ; rows ; cols t`. */
  write: (s: string) => void;
  signal?: AbortSignal;
  /** Injected for tests; default setTimeout-based, abortable. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Plays events in real time: waits for each gap (capped at maxIdleSec, divided
 * by speed), then writes the event. Resolves when all events are written, or
 * as soon as `signal` aborts (no write happens after the abort).
 */
export async function playEvents(events: TerminalEvent[], opts: PlayOptions): Promise<void> {
  const speed = opts.speed ?? 1;
  if (!(speed > 0) || !Number.isFinite(speed)) throw new Error('speed must be a positive number');
  const cap = opts.maxIdleSec !== undefined && opts.maxIdleSec >= 0 ? opts.maxIdleSec : Infinity;
  const signal = opts.signal;
  const sleep = opts.sleep ?? ((ms: number) => abortableSleep(ms, signal));
  const { items } = timeline(events);
  let prev = 0;
  for (const { t, ev } of items) {
    if (signal?.aborted) return;
    const gap = Math.min(t - prev, cap);
    prev = t;
    const ms = Math.round((gap * 1000) / speed);
    if (ms > 0) await sleep(ms);
    if (signal?.aborted) return;
    if (ev.type === 'output') opts.write(ev.data!);
    else opts.write(`\x1b[8;${ev.rows};${ev.cols}t`);
  }
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
