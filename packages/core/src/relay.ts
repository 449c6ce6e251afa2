import type { Duplex } from 'node:stream';

/** Splits a byte stream into messages. Throws on a malformed stream (the relay then fails closed). */
export interface Framer<M> {
  push(chunk: Buffer): M[];
}

/** Where a handler sends bytes. Writes inside one read are corked into one syscall. */
export interface RelayOut {
  toClient(buf: Buffer | Uint8Array): void;
  toServer(buf: Buffer | Uint8Array): void;
  /**
   * Forward `source[start, end)` as it arrived (a framed message passed
   * through). No view is made per message: consecutive spans of one source
   * leave as one view of it.
   */
  spanToClient(source: Buffer, start: number, end: number): void;
  spanToServer(source: Buffer, start: number, end: number): void;
  /**
   * The client said goodbye (PostgreSQL Terminate, MySQL COM_QUIT). The
   * session then ends as the client's doing whichever socket closes first:
   * the target closing in answer to the goodbye is not the target's doing.
   */
  clientQuit(): void;
  /**
   * Send what is gathered for the server now, instead of when the current
   * read is done: for a handler about to wait for the server's answers to
   * the messages before its own.
   */
  flushToServer(): void;
}

export interface RelayHandlers<CM, SM> {
  /**
   * One client message, in order. May be async (policy, approval): reading
   * from the client pauses until it settles, so later messages keep their
   * order. A rejection closes the relay (fail closed).
   */
  client(msg: CM, out: RelayOut): void | Promise<void>;
  /** One server message, in order; synchronous so responses stream. */
  server(msg: SM, out: RelayOut): void;
  /** A framing error from the client (`side` client) or server: answer and close. */
  protocolError?(err: Error, side: 'client' | 'server', out: RelayOut): void;
  /** Called once when either side ends or errors, or `close` is called. */
  closed(reason: string): void;
}

/**
 * Backpressure: once this much is waiting to be written to one side, reading
 * from the other pauses until it drains, so a peer that does not read (a
 * client that never reads its results, a target stuck behind one) cannot make
 * the gateway buffer without bound.
 */
const HOLD_AT = 256 * 1024;

const CLIENT_GONE = 'client disconnected';
const TARGET_CLOSED = 'target closed the connection';
const TARGET_ERROR = 'target connection error';

/**
 * Outgoing bytes for one socket, gathered while a read is processed and
 * written as one buffer. Pass-through messages are spans of the chunk they
 * arrived in, so consecutive ones are merged back into one view without
 * copying (and without a view per message); buffers of the same memory that
 * follow each other (rows of one slab) merge too; the rest is concatenated
 * (or written with writev when large).
 */
class OutBatch {
  private bufs: Buffer[] = [];
  private bytes = 0;
  private depth = 0;
  /**
   * The run being merged (not yet in `bufs`): bytes [runStart, runEnd) of
   * `run` when `runIsSpan`, else `runEnd` bytes of `run`'s memory from
   * `run.byteOffset`. A view is made only when the run ends.
   */
  private run: Buffer | null = null;
  private runIsSpan = false;
  private runStart = 0;
  private runEnd = 0;

  constructor(
    private readonly sock: Duplex,
    private readonly onFull: () => void,
  ) {}

  push(b: Buffer | Uint8Array): void {
    const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const run = this.run;
    if (run !== null && !this.runIsSpan && run.buffer === buf.buffer && run.byteOffset + this.runEnd === buf.byteOffset) this.runEnd += buf.length;
    else this.startRun(buf, false, 0, buf.length);
    this.added(buf.length);
  }

  pushSpan(source: Buffer, start: number, end: number): void {
    if (this.run === source && this.runIsSpan && this.runEnd === start) this.runEnd = end;
    else this.startRun(source, true, start, end);
    this.added(end - start);
  }

  private startRun(run: Buffer, isSpan: boolean, start: number, end: number): void {
    if (this.run !== null) this.bufs.push(this.endRun(this.run));
    this.run = run;
    this.runIsSpan = isSpan;
    this.runStart = start;
    this.runEnd = end;
  }

  private added(n: number): void {
    this.bytes += n;
    if (this.depth === 0) this.flush();
  }

  private endRun(run: Buffer): Buffer {
    const { runStart, runEnd } = this;
    this.run = null;
    if (this.runIsSpan) return runStart === 0 && runEnd === run.length ? run : run.subarray(runStart, runEnd);
    return runEnd === run.length ? run : Buffer.from(run.buffer, run.byteOffset, runEnd);
  }

  /** Gather writes until the matching release. */
  hold(): void {
    this.depth++;
  }

  release(): void {
    if (this.depth > 0 && --this.depth === 0) this.flush();
  }

  flush(): void {
    if (this.run !== null) this.bufs.push(this.endRun(this.run));
    const n = this.bufs.length;
    if (n === 0) return;
    const bufs = this.bufs;
    this.bufs = [];
    const bytes = this.bytes;
    this.bytes = 0;
    if (this.sock.destroyed) return;
    if (n === 1) this.sock.write(bufs[0]!);
    else if (bytes <= 65536) this.sock.write(Buffer.concat(bufs, bytes));
    else {
      this.sock.cork();
      for (const b of bufs) this.sock.write(b);
      this.sock.uncork();
    }
    if (this.sock.writableLength >= HOLD_AT) this.onFull();
  }
}

export interface RelayOptions {
  onBytes?: (direction: 'in' | 'out', n: number) => void;
}

/**
 * The relay for message-framed protocols: frames both directions with
 * plugin-supplied codecs, hands each message to the plugin in order, and
 * corks writes so one read becomes one write. Pass-through messages are
 * forwarded as the very bytes that arrived (the handler writes `raw`).
 */
export class MessageRelay<CM, SM> {
  private queue: CM[] = [];
  private draining = false;
  private done = false;
  /** Reading from that side is paused for backpressure (until the other drains). */
  private clientHeld = false;
  private serverHeld = false;
  /** A client message's verdict is pending (reading from the client is paused). */
  private awaiting = false;
  /** The client sent its goodbye: any close from now on is the client's. */
  private quit = false;
  private readonly toClient: OutBatch;
  private readonly toServer: OutBatch;
  readonly out: RelayOut;

  constructor(
    private readonly client: Duplex,
    private readonly server: Duplex,
    private readonly clientFramer: Framer<CM>,
    private readonly serverFramer: Framer<SM>,
    private readonly handlers: RelayHandlers<CM, SM>,
    private readonly opts: RelayOptions = {},
  ) {
    this.toClient = new OutBatch(client, () => this.holdServer());
    this.toServer = new OutBatch(server, () => this.holdClient());
    this.out = {
      toClient: (b) => {
        if (!this.done) this.toClient.push(b);
      },
      toServer: (b) => {
        if (!this.done) this.toServer.push(b);
      },
      spanToClient: (source, start, end) => {
        if (!this.done) this.toClient.pushSpan(source, start, end);
      },
      spanToServer: (source, start, end) => {
        if (!this.done) this.toServer.pushSpan(source, start, end);
      },
      clientQuit: () => {
        this.quit = true;
      },
      flushToServer: () => {
        if (!this.done) this.toServer.flush();
      },
    };
  }

  private holdServer(): void {
    this.server.pause();
    if (this.serverHeld) return;
    this.serverHeld = true;
    this.client.once('drain', () => {
      this.serverHeld = false;
      if (!this.done) this.server.resume();
    });
  }

  private holdClient(): void {
    this.client.pause();
    if (this.clientHeld) return;
    this.clientHeld = true;
    this.server.once('drain', () => {
      this.clientHeld = false;
      if (!this.done && !this.awaiting) this.client.resume();
    });
  }

  /** Begin relaying. `pending*` = messages already framed during start-up. */
  start(pendingClient: CM[] = [], pendingServer: SM[] = []): void {
    this.client.on('data', (c: Buffer) => this.onClientData(c));
    this.server.on('data', (c: Buffer) => this.onServerData(c));
    const end = (why: string) => () => this.close(why);
    this.client.on('end', end(CLIENT_GONE));
    this.client.on('close', end(CLIENT_GONE));
    this.client.on('error', end('client connection error'));
    this.server.on('end', end(TARGET_CLOSED));
    this.server.on('close', end(TARGET_CLOSED));
    this.server.on('error', end(TARGET_ERROR));
    // A side may have gone while the plugin was still setting up (the client
    // left during authentication): its 'close' has fired already, so end now.
    const gone = (s: Duplex) => s.destroyed || s.readableEnded;
    if (gone(this.client)) return this.close(CLIENT_GONE);
    if (gone(this.server)) return this.close(TARGET_CLOSED);
    if (pendingServer.length) {
      this.toClient.hold();
      try {
        for (const m of pendingServer) this.handlers.server(m, this.out);
      } finally {
        this.toClient.release();
      }
    }
    if (pendingClient.length) {
      this.queue = pendingClient.slice();
      this.drain();
    }
  }

  private onClientData(chunk: Buffer): void {
    if (this.done) return;
    this.opts.onBytes?.('in', chunk.length);
    let msgs: CM[];
    try {
      msgs = this.clientFramer.push(chunk);
    } catch (e) {
      this.fail(e as Error, 'client');
      return;
    }
    if (msgs.length === 0) return;
    if (this.queue.length === 0) this.queue = msgs;
    else for (const m of msgs) this.queue.push(m);
    if (!this.draining) this.drain();
  }

  /**
   * Hands queued client messages to the plugin in order, synchronously while
   * every verdict is immediate; the first pending one (policy, approval)
   * continues in `drainAfter`, which owns the held batches from then on.
   */
  private drain(): void {
    this.draining = true;
    this.toServer.hold();
    this.toClient.hold();
    let pending: Promise<void> | null = null;
    try {
      pending = this.runQueue();
    } catch (e) {
      this.clientFailed(e as Error);
    }
    if (pending !== null) {
      void this.drainAfter(pending);
      return;
    }
    this.toServer.release();
    this.toClient.release();
    this.draining = false;
  }

  /**
   * Runs queued messages until the queue is empty (null) or a handler returns
   * a promise, which is returned with the messages after it back at the head
   * of the queue.
   */
  private runQueue(): Promise<void> | null {
    while (this.queue.length && !this.done) {
      const q = this.queue;
      this.queue = [];
      for (let i = 0; i < q.length; i++) {
        const r = this.handlers.client(q[i]!, this.out);
        if (r && typeof (r as Promise<void>).then === 'function') {
          if (i + 1 < q.length) {
            const rest = q.slice(i + 1);
            for (const m of this.queue) rest.push(m);
            this.queue = rest;
          }
          return r as Promise<void>;
        }
      }
    }
    return null;
  }

  private async drainAfter(first: Promise<void>): Promise<void> {
    try {
      for (let r: Promise<void> | null = first; r !== null; r = this.runQueue()) {
        // Stop reading while the verdict is pending. What the client is
        // owed goes now (notices must reach it); what the server is owed
        // waits, so a batch still leaves in one write once allowed.
        this.toClient.release();
        this.client.pause();
        this.awaiting = true;
        try {
          await r;
        } finally {
          this.awaiting = false;
          if (!this.clientHeld) this.client.resume();
          this.toClient.hold();
        }
        if (this.done) return;
      }
    } catch (e) {
      this.clientFailed(e as Error);
    } finally {
      this.toServer.release();
      this.toClient.release();
      this.draining = false;
    }
  }

  /** A client handler threw or its verdict rejected: answer and close (fail closed). */
  private clientFailed(e: Error): void {
    this.handlers.protocolError?.(e, 'client', this.out);
    this.close(e.message || 'internal error');
  }

  private onServerData(chunk: Buffer): void {
    if (this.done) return;
    this.opts.onBytes?.('out', chunk.length);
    this.toClient.hold();
    try {
      const msgs = this.serverFramer.push(chunk);
      for (let i = 0; i < msgs.length; i++) this.handlers.server(msgs[i]!, this.out);
    } catch (e) {
      this.fail(e as Error, 'server');
    } finally {
      this.toClient.release();
    }
  }

  private fail(e: Error, side: 'client' | 'server'): void {
    try {
      this.handlers.protocolError?.(e, side, this.out);
    } finally {
      this.close(side === 'client' ? `client protocol violation: ${e.message}` : `target protocol violation: ${e.message}`);
    }
  }

  get closed(): boolean {
    return this.done;
  }

  /** Ends both sides once; pending writes are flushed first. */
  close(reason: string): void {
    if (this.done) return;
    this.done = true;
    if (this.quit && (reason === TARGET_CLOSED || reason === TARGET_ERROR)) reason = CLIENT_GONE;
    this.queue = [];
    this.toClient.flush();
    this.toServer.flush();
    this.client.end();
    this.server.end();
    setTimeout(() => {
      this.client.destroy();
      this.server.destroy();
    }, 1000).unref();
    this.handlers.closed(reason);
  }
}

/**
 * Client messages that cannot be judged before the target has answered
 * earlier ones (a statement the target confirms, an id it assigns in its
 * answer). `when` runs a handler at once when `ready()` holds; otherwise it
 * sends what is gathered for the target (the answers waited for may depend
 * on it) and returns a promise, which the relay treats as a pending verdict:
 * reading from the client pauses, later messages keep their order. Call
 * `recheck` after answers that may make waiters ready; the promise settles
 * as the handler's result does. Once `signal` aborts (the session closed),
 * every waiter rejects.
 */
export class AnswerGate {
  private waiters: (() => boolean)[] = [];
  private scheduled = false;

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', () => this.run(), { once: true });
  }

  when(ready: () => boolean, out: RelayOut, handler: () => void | Promise<void>): void | Promise<void> {
    if (ready()) return handler();
    out.flushToServer();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push(() => {
        if (this.signal.aborted) reject(new Error('session closed'));
        else if (ready()) {
          try {
            Promise.resolve(handler()).then(resolve, reject);
          } catch (e) {
            reject(e as Error);
          }
        } else return false;
        return true;
      });
    });
  }

  /** Looks at the waiters again once the answer being processed is done (a microtask later). */
  recheck(): void {
    if (this.waiters.length === 0 || this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.run();
    });
  }

  private run(): void {
    if (this.waiters.length > 0) this.waiters = this.waiters.filter((ready) => !ready());
  }
}
