import * as nodeCrypto from 'node:crypto';

/** One-shot SHA-256 (crypto.hash, Node ≥ 20.12) is about twice as fast as createHash for short input. */
const sha256hex: (s: string) => string =
  typeof (nodeCrypto as { hash?: unknown }).hash === 'function'
    ? (s) => (nodeCrypto as unknown as { hash(a: string, d: string): string }).hash('sha256', s)
    : (s) => nodeCrypto.createHash('sha256').update(s).digest('hex');
import type { Store, StoredEvent } from './store.js';
import type { CoreMetrics } from './metrics.js';
import { noopMetrics } from './metrics.js';

export const GENESIS = '0'.repeat(64);

let isoMs = -1;
let isoText = '';
/** `new Date().toISOString()`, built once per millisecond (every event of a busy gateway asks). */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

/** JSON with object keys sorted at every level (a stable form for comparing values). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/**
 * hash = SHA-256(prev + JSON of [session, seq, at, type] + JSON of data).
 *
 * The data is hashed as JSON.stringify writes it, keys in their stored order:
 * a store must hand events back with their keys in the order they were
 * written (JSON text, never a key-sorting type such as jsonb), and then the
 * same text comes out again when verifying. Any edit — a value, a key, the
 * order of keys — changes the hash.
 */
export function eventHash(e: Omit<StoredEvent, 'hash'>): string {
  return chainHash(e.prev, JSON.stringify(e.session), e.seq, e.at, e.type, e.dataJson ?? JSON.stringify(e.data));
}

/** The one hash formula (eventHash's), taking the session id already as JSON so a chain can write it once. */
function chainHash(prev: string, sessionJson: string, seq: number, at: string, type: string, dataJson: string): string {
  // The middle part is exactly JSON.stringify([session, seq, at, type]).
  return sha256hex(`${prev}[${sessionJson},${seq},${atJson(at)},${typeJson(type)}]${dataJson}`);
}

let lastAt = '';
let lastAtJson = '""';
/** JSON.stringify(at), remembered for the last time seen (events of one millisecond share it). */
function atJson(at: string): string {
  if (at !== lastAt) {
    lastAtJson = JSON.stringify(at);
    lastAt = at;
  }
  return lastAtJson;
}

const typeJsons = new Map<string, string>();
/** JSON.stringify(type), remembered: a gateway writes a handful of types (bounded for verify's arbitrary input). */
function typeJson(type: string): string {
  let j = typeJsons.get(type);
  if (j === undefined) {
    j = JSON.stringify(type);
    if (typeJsons.size >= 64) typeJsons.clear();
    typeJsons.set(type, j);
  }
  return j;
}

export interface VerifyResult {
  ok: boolean;
  events: number;
  sessions: number;
  firstBad?: { session: string; seq: number; type: string; reason: string };
}

/**
 * Walks every session's chain: seq must be 1, 2, 3 … with no gap, each prev
 * must be the previous hash (GENESIS first) and each hash must match the
 * event's content. Stops at the first bad event.
 */
export async function verifyEvents(events: AsyncIterable<StoredEvent> | Iterable<StoredEvent>): Promise<VerifyResult> {
  let n = 0;
  let sessions = 0;
  let cur = '';
  let prevHash = GENESIS;
  let expectSeq = 1;
  try {
    for await (const e of events as AsyncIterable<StoredEvent>) {
      if (e.session !== cur) {
        cur = e.session;
        sessions++;
        prevHash = GENESIS;
        expectSeq = 1;
      }
      n++;
      const bad = (reason: string): VerifyResult => ({ ok: false, events: n, sessions, firstBad: { session: e.session, seq: e.seq, type: e.type, reason } });
      if (e.seq !== expectSeq) return bad(`expected event #${expectSeq}, found #${e.seq} (an event is missing)`);
      if (e.prev !== prevHash) return bad('prev does not match the previous event (chain broken)');
      if (eventHash(e) !== e.hash) return bad('hash does not match the event content (edited)');
      prevHash = e.hash;
      expectSeq++;
    }
  } catch (err) {
    // A row the store cannot even decode is tampering too.
    const key = String((err as { key?: string }).key ?? `${cur}#${expectSeq}`);
    const [session, seq] = key.split('#');
    return { ok: false, events: n, sessions, firstBad: { session: session ?? cur, seq: Number(seq) || expectSeq, type: 'unreadable', reason: (err as Error).message } };
  }
  return { ok: true, events: n, sessions };
}

interface Pending {
  event: StoredEvent;
  resolve?: () => void;
  reject: (e: unknown) => void;
}

/** Events nobody waits for (results, output) ride along with the next group, or go after this long. */
const LAZY_FLUSH_MS = 25;

/**
 * Group commit over a Store: every event appended in the same tick goes into
 * one append; events nobody waits for (results, output) join the next group,
 * or are appended within LAZY_FLUSH_MS. A session's chain is kept in memory; once an append fails
 * the chain is broken and every later append of that session rejects, so the
 * session fails closed.
 */
export class Recorder {
  private queue: Pending[] = [];
  private scheduled = false;
  private lazyTimer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> = Promise.resolve();
  /** Batches handed to the store's asynchronous append and not yet settled. */
  private running = 0;

  constructor(
    private readonly store: Store,
    private readonly metrics: CoreMetrics = noopMetrics,
  ) {}

  /** Start a new chain for a session. */
  log(session: string): SessionLog {
    return new SessionLog(this, session);
  }

  /** @internal An event someone waits for: appended with this tick's group. */
  enqueue(event: StoredEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flushNow());
      }
    });
  }

  /** @internal An event nobody waits for: appended with the next group, or soon. */
  enqueueLazy(event: StoredEvent, onError: (e: unknown) => void): void {
    this.queue.push({ event, reject: onError });
    if (!this.scheduled && !this.lazyTimer) {
      this.lazyTimer = setTimeout(() => this.flushNow(), LAZY_FLUSH_MS);
      this.lazyTimer.unref?.();
    }
  }

  private flushNow(): void {
    this.scheduled = false;
    if (this.lazyTimer) {
      clearTimeout(this.lazyTimer);
      this.lazyTimer = null;
    }
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const t0 = performance.now();
    this.running++;
    // Serialise batches so events of one session land in order.
    this.inflight = this.inflight.then(async () => {
      try {
        await this.store.appendEvents(batch.map((p) => p.event));
        this.metrics.storeAppend((performance.now() - t0) / 1000, batch.length);
        for (const p of batch) p.resolve?.();
      } catch (e) {
        for (const p of batch) p.reject(e);
      } finally {
        this.running--;
      }
    });
  }

  /**
   * Whether `appendNow` can write at once: the store appends synchronously
   * and no earlier batch is still on its way (order within a chain).
   */
  get canAppendNow(): boolean {
    return this.running === 0 && typeof this.store.appendEventsNow === 'function';
  }

  /**
   * @internal Writes the event now, with everything queued so far (their
   * waiters are released): one write, durable on return. Throws if the
   * store fails; the queued events' owners get the error as well.
   */
  appendNow(event: StoredEvent): void {
    const batch = this.queue;
    this.queue = [];
    // A lazy timer still armed is left to fire on an empty queue (cheaper than
    // clearing and re-arming one per command on a busy session).
    const events = new Array<StoredEvent>(batch.length + 1);
    for (let i = 0; i < batch.length; i++) events[i] = batch[i]!.event;
    events[batch.length] = event;
    const t0 = performance.now();
    try {
      this.store.appendEventsNow!(events);
    } catch (e) {
      for (const p of batch) p.reject(e);
      throw e;
    }
    this.metrics.storeAppend((performance.now() - t0) / 1000, events.length);
    for (const p of batch) p.resolve?.();
  }

  /** Resolves when everything queued so far is stored (or failed). */
  async flush(): Promise<void> {
    if (this.queue.length) this.flushNow();
    await this.inflight;
  }
}

export class SessionLog {
  private seq = 0;
  private prev = GENESIS;
  private broken: unknown = null;
  private sessionJson: string | undefined;

  constructor(
    private readonly recorder: Recorder,
    readonly session: string,
  ) {}

  get failed(): boolean {
    return this.broken !== null;
  }

  /**
   * Append an event to the chain. `data` must be JSON-safe (strings, numbers,
   * booleans, null, arrays, plain objects; undefined keys are dropped). The promise resolves once it is committed
   * to the store; callers that must not proceed before that await it.
   * Rejects (and breaks the chain for good) if the store fails.
   */
  append(type: string, data: Record<string, unknown>): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    const p = this.recorder.enqueue(this.next(type, data)).catch((e) => {
      this.broken ??= e;
      throw e;
    });
    return p;
  }

  /** Whether `appendNow` can write without waiting (else use `append`). */
  get canAppendNow(): boolean {
    return !this.broken && this.recorder.canAppendNow;
  }

  /**
   * Append and make durable before returning, when `canAppendNow` said so.
   * Throws (and breaks the chain for good) if the store fails.
   */
  appendNow(type: string, data: Record<string, unknown>, dataJson?: string): void {
    if (this.broken) throw this.broken;
    try {
      this.recorder.appendNow(this.next(type, data, dataJson));
    } catch (e) {
      this.broken ??= e;
      throw e;
    }
  }

  /** Append without waiting (it joins the next group); a failure still breaks the chain. `dataJson` as for `next`. */
  appendLater(type: string, data: Record<string, unknown>, dataJson?: string): void {
    if (this.broken) return;
    this.recorder.enqueueLazy(this.next(type, data, dataJson), (e) => {
      this.broken ??= e;
    });
  }

  /**
   * The next event of the chain. `dataJson`, when given, must be exactly
   * `JSON.stringify(data)` (it is what gets hashed and stored).
   */
  private next(type: string, data: Record<string, unknown>, dataJson = JSON.stringify(data)): StoredEvent {
    const seq = ++this.seq;
    const at = isoNow();
    this.sessionJson ??= JSON.stringify(this.session);
    const hash = chainHash(this.prev, this.sessionJson, seq, at, type, dataJson);
    const event: StoredEvent = { session: this.session, seq, at, type, data, prev: this.prev, hash, dataJson };
    this.prev = hash;
    return event;
  }

}
