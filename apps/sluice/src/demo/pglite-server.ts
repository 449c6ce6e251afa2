/**
 * A PostgreSQL wire-protocol front for one PGlite instance that can serve
 * several client connections at once.
 *
 * Why not @electric-sql/pglite-socket's PGLiteSocketServer (0.2.17)?
 * - With its default `maxConnections: 1`, a second connection gets the raw
 *   bytes "Too many connections\n" and is closed: psql reports "server closed
 *   the connection unexpectedly", which tells a newcomer nothing.
 * - With `maxConnections > 1` it interleaves clients *per protocol message*
 *   (only explicit transactions are kept together). Extended-query sequences
 *   (Parse/Bind/Describe/Execute/Sync, used by node-postgres, JDBC, asyncpg,
 *   and by a gateway forwarding them) of two clients can then interleave on
 *   the single backend, so client A's Bind can bind client B's unnamed
 *   statement, and an error in one client's sequence makes the backend
 *   discard the other's messages until Sync.
 *
 * What this front does instead ("transaction pooling", as pgbouncer calls
 * it): PGlite is one backend, shared by all clients through a lease. A client
 * takes the lease when it sends a message and keeps it until the backend
 * says ReadyForQuery with status Idle, i.e. until its statement, its
 * extended-protocol sequence up to Sync, or its whole explicit transaction
 * is over. Other clients' messages wait (FIFO) meanwhile. So:
 * - statements, Sync-delimited sequences and transactions never interleave
 *   (each runs as if it were alone: PGlite executes one thing at a time);
 * - connecting never waits: PGlite ignores StartupMessage parameters and
 *   keeps its one session, so its first startup answer (AuthenticationOk,
 *   ParameterStatus…, BackendKeyData, ReadyForQuery) is replayed to later
 *   connections;
 * - a client that waits longer than `lockTimeoutMs` (another session sits in
 *   an open transaction, or runs a very long statement) gets a proper
 *   ErrorResponse (SQLSTATE 55P03) naming the reason, and its connection
 *   stays usable - never a silent close;
 * - protocol-level named prepared statements and portals (Parse/Bind/
 *   Describe/Execute/Close with a name, as pgx, asyncpg and JDBC use) are
 *   renamed per connection ("c<id>_<name>"), so two clients can both have a
 *   statement "S_1"; a client's named statements are closed when it leaves;
 * - other session state IS shared between concurrent clients, because there
 *   is only one backend: SET, SQL-level PREPARE, temporary tables, LISTEN,
 *   advisory locks. When the last client disconnects the session is reset
 *   (ROLLBACK if needed, then DISCARD ALL), so sequential connections each
 *   start clean, like with a real server;
 * - CancelRequest is accepted and ignored (PGlite cannot interrupt a running
 *   statement); the connection carrying it is closed, as PostgreSQL does.
 *   PGlite runs on this process's thread: while it executes a statement, the
 *   whole event loop waits (statement_timeout has no effect in PGlite).
 *
 * PGlite ignores the user and database in a StartupMessage, so this front
 * checks them itself and answers with PostgreSQL's own errors (28000, 3D000)
 * when they do not match, rather than silently serving something else.
 *
 * Statements that break PGlite itself are refused before they reach it (found
 * by testing 0.5.14): `COPY … FROM STDIN` terminates the WASM program (every
 * later call hangs) and `COPY … TO/FROM PROGRAM` wedges it (every later reply
 * is empty). They are turned into a statement that raises SQLSTATE 0A000 with
 * an explanation, so the client's transaction state stays exactly as with a
 * real server's error. Should PGlite still die or stop answering, every
 * client gets a FATAL XX000 saying so, and new connections are refused with
 * it, instead of hanging.
 */
import net from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

export interface PgliteServerOptions {
  /**
   * The database, or a promise of it: the port can be bound (and a busy port
   * reported) before PGlite has finished its seconds-long start; clients
   * that connect meanwhile are answered once it is ready.
   */
  db: PGlite | Promise<PGlite>;
  host: string;
  /** 0 = pick a free port. */
  port: number;
  /** The only user name accepted (PGlite runs everything as its superuser). */
  user: string;
  /** The only database name accepted. */
  database: string;
  /** How long a client may wait for the shared backend before it gets an error. */
  lockTimeoutMs: number;
  /** Refuse (with SQLSTATE 53300) beyond this many simultaneous connections. */
  maxConnections: number;
  onLog?: (msg: string) => void;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const MAX_STARTUP_LENGTH = 10_000;
const MAX_MESSAGE_LENGTH = 1 << 30;

type TxStatus = 'I' | 'T' | 'E';

interface FrontendMessage {
  /** 0 for the StartupMessage (no type byte). */
  type: number;
  bytes: Buffer;
}

const T = {
  bind: 0x42, // B
  close: 0x43, // C
  describe: 0x44, // D
  execute: 0x45, // E
  parse: 0x50, // P
  query: 0x51, // Q
  sync: 0x53, // S
  terminate: 0x58, // X
  functionCall: 0x46, // F
  readyForQuery: 0x5a, // Z
} as const;

// ---------------------------------------------------------------------------
// Message builders

function backendMessage(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

export interface PgErrorFields {
  severity: 'ERROR' | 'FATAL';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

export function errorResponse(f: PgErrorFields): Buffer {
  const parts: Buffer[] = [];
  const field = (k: string, v: string) => parts.push(Buffer.from(k, 'latin1'), Buffer.from(v + '\0', 'utf8'));
  field('S', f.severity);
  field('V', f.severity);
  field('C', f.code);
  field('M', f.message);
  if (f.detail) field('D', f.detail);
  if (f.hint) field('H', f.hint);
  parts.push(Buffer.from([0]));
  return backendMessage('E', Buffer.concat(parts));
}

function readyForQuery(status: TxStatus): Buffer {
  return backendMessage('Z', Buffer.from(status, 'latin1'));
}

function frontendMessage(type: string, body: Buffer): Buffer {
  return backendMessage(type, body); // same framing in both directions
}

const SYNC = frontendMessage('S', Buffer.alloc(0));
const simpleQuery = (sql: string) => frontendMessage('Q', Buffer.from(sql + '\0', 'utf8'));

// ---------------------------------------------------------------------------
// Statements PGlite cannot survive

/**
 * COPY FROM STDIN and COPY … PROGRAM, anywhere in the text (also inside a
 * string, e.g. EXECUTE in a DO block: better a false refusal than a dead
 * database). Not a security control (the gateway's policies are); this only
 * keeps the demo database alive.
 */
const FATAL_COPY = /\bcopy\b[^;]*?\b(from\s+stdin|(?:from|to)\s+program)\b/i;

export function pgliteKiller(sql: string): string | null {
  const m = FATAL_COPY.exec(sql);
  if (!m) return null;
  return /stdin/i.test(m[1]) ? 'COPY FROM STDIN' : 'COPY ... PROGRAM';
}

const sqlLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** A statement that fails with our explanation, executed by PGlite so the transaction state is right. */
function refusalSql(what: string): string {
  const message = `${what} is not supported by the Sluice demo database`;
  const detail =
    `The demo database is PGlite (PostgreSQL compiled to WASM); ${what} would crash it, ` +
    'so the statement was not run.';
  const hint = 'Use INSERT to load rows; COPY ... TO STDOUT (psql \\copy ... to) works.';
  return (
    `DO $sluice_demo$ BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', ` +
    `MESSAGE = ${sqlLiteral(message)}, DETAIL = ${sqlLiteral(detail)}, HINT = ${sqlLiteral(hint)}; END $sluice_demo$`
  );
}

/** Null-terminated string at `offset`; returns it and the offset after the terminator. */
function cstring(b: Buffer, offset: number): [string, number] {
  const end = b.indexOf(0, offset);
  if (end < 0) return [b.toString('utf8', offset), b.length];
  return [b.toString('utf8', offset, end), end + 1];
}

/**
 * Give a connection's named prepared statements and portals their own
 * namespace on the shared backend. The unnamed ones ("") are per-unit
 * anyway (a unit never interleaves with another client's).
 */
export function namespaceNames(m: Buffer, prefix: string): Buffer {
  const type = m[0];
  const scoped = (name: string) => (name === '' ? '' : prefix + name);
  const build = (parts: (string | Buffer)[]) =>
    frontendMessage(
      String.fromCharCode(type),
      Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p + '\0', 'utf8') : p))),
    );
  switch (type) {
    case T.parse: {
      const [name, at] = cstring(m, 5);
      return name === '' ? m : build([scoped(name), m.subarray(at)]);
    }
    case T.bind: {
      const [portal, at1] = cstring(m, 5);
      const [stmt, at2] = cstring(m, at1);
      return portal === '' && stmt === '' ? m : build([scoped(portal), scoped(stmt), m.subarray(at2)]);
    }
    case T.execute: {
      const [portal, at] = cstring(m, 5);
      return portal === '' ? m : build([scoped(portal), m.subarray(at)]);
    }
    case T.describe:
    case T.close: {
      const [name, at] = cstring(m, 6);
      return name === '' ? m : build([m.subarray(5, 6), scoped(name), m.subarray(at)]);
    }
    default:
      return m;
  }
}

/** If the message would run a statement that kills PGlite, a replacement message that raises an error instead. */
function guardMessage(m: FrontendMessage): { bytes: Buffer; what: string } | null {
  if (m.type === T.query) {
    const [sql] = cstring(m.bytes, 5);
    const what = pgliteKiller(sql);
    return what ? { bytes: simpleQuery(refusalSql(what)), what } : null;
  }
  if (m.type === T.parse) {
    const [name, at] = cstring(m.bytes, 5);
    const [sql] = cstring(m.bytes, at);
    const what = pgliteKiller(sql);
    if (!what) return null;
    // Same statement name, no parameter types (COPY takes no parameters).
    const body = Buffer.concat([Buffer.from(name + '\0', 'utf8'), Buffer.from(refusalSql(what) + '\0', 'utf8'), Buffer.alloc(2)]);
    return { bytes: frontendMessage('P', body), what };
  }
  return null;
}

// ---------------------------------------------------------------------------
// Tracks backend message boundaries across output chunks to find the
// transaction status of each ReadyForQuery.

export class ReadyForQueryScanner {
  private header = Buffer.alloc(5);
  private headerLen = 0;
  private remaining = 0;
  private bodyOffset = 0;
  private type = 0;
  /** Status of the last ReadyForQuery seen, if any. */
  last: TxStatus | null = null;

  feed(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        if (this.type === T.readyForQuery && this.bodyOffset === 0) {
          this.last = String.fromCharCode(chunk[i]) as TxStatus;
        }
        const take = Math.min(this.remaining, chunk.length - i);
        i += take;
        this.remaining -= take;
        this.bodyOffset += take;
        continue;
      }
      this.header[this.headerLen++] = chunk[i++];
      if (this.headerLen === 5) {
        this.type = this.header[0];
        this.remaining = this.header.readInt32BE(1) - 4;
        this.bodyOffset = 0;
        this.headerLen = 0;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The lease on the single backend

class LeaseTimeout extends Error {}
class LeaseAborted extends Error {}

interface Waiter {
  conn: Connection;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

class Lease {
  holder: Connection | null = null;
  since = 0;
  private waiters: Waiter[] = [];

  acquire(conn: Connection, timeoutMs: number): Promise<void> {
    if (this.holder === conn) return Promise.resolve();
    if (this.holder === null && this.waiters.length === 0) {
      this.grant(conn);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { conn, resolve, reject, timer: undefined };
      if (Number.isFinite(timeoutMs)) {
        w.timer = setTimeout(() => {
          this.remove(w);
          reject(new LeaseTimeout());
        }, timeoutMs);
      }
      this.waiters.push(w);
    });
  }

  release(conn: Connection): void {
    if (this.holder !== conn) return;
    this.holder = null;
    const next = this.waiters.shift();
    if (next) {
      if (next.timer) clearTimeout(next.timer);
      this.grant(next.conn);
      next.resolve();
    }
  }

  /** Drop a connection's pending wait (it disconnected). */
  abandon(conn: Connection): void {
    for (const w of [...this.waiters]) {
      if (w.conn === conn) {
        this.remove(w);
        w.reject(new LeaseAborted());
      }
    }
  }

  private grant(conn: Connection): void {
    this.holder = conn;
    this.since = Date.now();
  }

  private remove(w: Waiter): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
    if (w.timer) clearTimeout(w.timer);
  }
}

// ---------------------------------------------------------------------------
// One client connection

class Connection {
  private inbuf: Buffer = Buffer.alloc(0);
  private pending: FrontendMessage[] = [];
  private phase: 'startup' | 'ready' = 'startup';
  private pumping: Promise<void> | null = null;
  private skipUntilSync = false;
  /** Transaction status after the last ReadyForQuery this client saw. */
  txStatus: TxStatus = 'I';
  /** True between sending a message and seeing ReadyForQuery (mid statement / mid sequence). */
  midUnit = false;
  executing = false;
  startedUp = false;
  closed = false;
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    readonly id: number,
    readonly socket: net.Socket,
    private readonly server: PgliteServer,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => this.onClose());
    socket.on('close', () => this.onClose());
  }

  /** Send bytes unless the socket is gone. */
  write(b: Buffer): void {
    if (!this.closed && this.socket.writable) this.socket.write(b);
  }

  fatal(f: Omit<PgErrorFields, 'severity'>): void {
    this.write(errorResponse({ severity: 'FATAL', ...f }));
    this.hangUp();
    this.server.log(`connection #${this.id} refused: ${f.message}`);
  }

  /** Close our side; the socket's 'close' event then runs the cleanup. */
  hangUp(): void {
    this.closed = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private onData(d: Buffer): void {
    if (this.closed) return;
    this.inbuf = this.inbuf.length === 0 ? d : Buffer.concat([this.inbuf, d]);
    try {
      this.parse();
    } catch (err) {
      this.fatal({ code: '08P01', message: `invalid frontend message: ${(err as Error).message}` });
      return;
    }
    if (this.pending.length > 0 && !this.pumping) {
      this.pumping = this.pump().finally(() => {
        this.pumping = null;
        // Messages may have arrived while the pump was finishing.
        if (this.pending.length > 0 && !this.closed) this.onData(Buffer.alloc(0));
      });
    }
  }

  private parse(): void {
    while (!this.closed) {
      if (this.phase === 'startup') {
        if (this.inbuf.length < 8) return;
        const len = this.inbuf.readInt32BE(0);
        if (len < 8 || len > MAX_STARTUP_LENGTH) throw new Error(`bad startup packet length ${len}`);
        if (this.inbuf.length < len) return;
        const packet = this.inbuf.subarray(0, len);
        this.inbuf = this.inbuf.subarray(len);
        const code = packet.readInt32BE(4);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          this.write(Buffer.from('N')); // no TLS/GSS on the local demo target; the client goes on in plaintext
          continue;
        }
        if (code === CANCEL_REQUEST) {
          this.server.log(`connection #${this.id}: cancel request ignored (PGlite cannot interrupt a running statement)`);
          this.hangUp();
          return;
        }
        if (code >> 16 !== 3) {
          this.fatal({ code: '0A000', message: `unsupported frontend protocol ${code >> 16}.${code & 0xffff}: server supports 3.0` });
          return;
        }
        if (!this.checkStartup(packet)) return;
        this.phase = 'ready';
        this.pending.push({ type: 0, bytes: Buffer.from(packet) });
        continue;
      }
      if (this.inbuf.length < 5) return;
      const len = this.inbuf.readInt32BE(1);
      if (len < 4 || len > MAX_MESSAGE_LENGTH) throw new Error(`bad message length ${len}`);
      if (this.inbuf.length < len + 1) return;
      const bytes = Buffer.from(this.inbuf.subarray(0, len + 1));
      this.inbuf = this.inbuf.subarray(len + 1);
      this.pending.push({ type: bytes[0], bytes });
    }
  }

  /** Validate user/database like a real server would; false if refused. */
  private checkStartup(packet: Buffer): boolean {
    const params = new Map<string, string>();
    const fields = packet.subarray(8).toString('utf8').split('\0');
    for (let i = 0; i + 1 < fields.length && fields[i] !== ''; i += 2) params.set(fields[i], fields[i + 1]);
    const user = params.get('user') ?? '';
    const database = params.get('database') || user;
    const { user: wantUser, database: wantDb } = this.server.options;
    if (this.server.dead !== null) {
      this.server.refuseDead(this);
      return false;
    }
    if (this.server.connectionCount() > this.server.options.maxConnections) {
      this.fatal({
        code: '53300',
        message: 'sorry, too many clients already',
        detail: `The Sluice demo target accepts at most ${this.server.options.maxConnections} connections.`,
      });
      return false;
    }
    if (user !== wantUser) {
      this.fatal({
        code: '28000',
        message: `role "${user}" does not exist`,
        hint: `The Sluice demo database has a single user "${wantUser}" (no password): ${this.server.url}`,
      });
      return false;
    }
    if (database !== wantDb) {
      this.fatal({
        code: '3D000',
        message: `database "${database}" does not exist`,
        hint: `The Sluice demo target serves a single database "${wantDb}": ${this.server.url}`,
      });
      return false;
    }
    return true;
  }

  /** Run this client's queued messages, one at a time, on the shared backend. */
  private async pump(): Promise<void> {
    const lease = this.server.lease;
    while (this.pending.length > 0 && !this.closed) {
      const m = this.pending[0];
      if (m.type === T.terminate) {
        this.pending.length = 0;
        this.hangUp();
        break;
      }
      if (m.type === 0 && this.server.startupReply) {
        // PGlite ignores the startup parameters and keeps its one session, so its
        // answer is the same every time: connecting never waits for the lease.
        this.pending.shift();
        this.write(this.server.startupReply);
        this.started();
        continue;
      }
      if (this.skipUntilSync) {
        this.pending.shift();
        if (m.type === T.sync) {
          this.skipUntilSync = false;
          this.write(readyForQuery(this.txStatus));
        }
        continue;
      }
      if (lease.holder !== this) {
        // Say so only when the wait is noticeable, not for every interleaved statement.
        const note = setTimeout(() => {
          const holder = lease.holder;
          if (holder && holder !== this) {
            this.server.log(
              `connection #${this.id} is waiting: connection #${holder.id} is using the database` +
                (holder.txStatus !== 'I' ? ' (open transaction)' : ''),
            );
          }
        }, 1000);
        try {
          await lease.acquire(this, this.server.options.lockTimeoutMs);
        } catch (err) {
          if (err instanceof LeaseTimeout) this.refuseBusy(m);
          continue; // aborted: closed, the loop ends
        } finally {
          clearTimeout(note);
        }
        if (this.closed) break;
      }
      this.pending.shift();
      if (this.server.dead !== null) {
        this.server.refuseDead(this);
        break;
      }
      let bytes = m.bytes;
      const guarded = guardMessage(m);
      if (guarded) {
        bytes = guarded.bytes;
        this.server.log(`connection #${this.id}: refused ${guarded.what} (it would crash PGlite)`);
      }
      bytes = namespaceNames(bytes, this.prefix);
      this.trackStatements(bytes);
      const reply: Buffer[] | null = m.type === 0 ? [] : null;
      const status = await this.server.exec(this, bytes, (chunk) => (reply?.push(chunk), this.write(chunk)), m.type);
      if (status === undefined) {
        this.midUnit = true;
      } else {
        this.txStatus = status;
        this.midUnit = false;
        if (reply && reply.length > 0 && status === 'I' && this.server.dead === null) {
          this.server.startupReply ??= Buffer.concat(reply);
          this.started();
        }
        if (status === 'I') lease.release(this);
      }
    }
  }

  /** The backend stayed busy too long: answer this message with an error instead of running it. */
  private refuseBusy(m: FrontendMessage): void {
    const lease = this.server.lease;
    const holder = lease.holder;
    const secs = Math.round((Date.now() - lease.since) / 1000);
    const what = holder
      ? `Connection #${holder.id} has held it for ${secs} s` +
        (holder.txStatus !== 'I' ? ' with an open transaction.' : holder.midUnit ? ' running a statement.' : '.')
      : '';
    const detail =
      'The demo database (PGlite, PostgreSQL compiled to WASM) runs one statement or transaction at a time for all sessions. ' +
      what;
    const hint = 'Finish the other session\'s transaction (COMMIT or ROLLBACK) or wait for its statement, then retry.';
    this.pending.shift();
    if (m.type === 0) {
      this.fatal({ code: '57P03', message: 'the demo database is busy; cannot connect now', detail, hint });
      return;
    }
    this.server.log(`connection #${this.id}: gave up waiting after ${this.server.options.lockTimeoutMs} ms`);
    this.write(errorResponse({ severity: 'ERROR', code: '55P03', message: 'canceling statement: the demo database is busy', detail, hint }));
    if (m.type === T.query || m.type === T.functionCall || m.type === T.sync) {
      this.write(readyForQuery(this.txStatus));
    } else {
      this.skipUntilSync = true; // extended protocol: like a server after an error
    }
  }

  private started(): void {
    this.startedUp = true;
    this.server.log(`connection #${this.id} started`);
  }

  /** Prefix of this connection's named statements and portals on the backend. */
  get prefix(): string {
    return `c${this.id}_`;
  }

  /** Backend names of this connection's named prepared statements (to close them when it leaves). */
  readonly statements = new Set<string>();

  private trackStatements(m: Buffer): void {
    if (m[0] === T.parse) {
      const [name] = cstring(m, 5);
      if (name !== '') this.statements.add(name);
    } else if (m[0] === T.close && m[5] === 0x53 /* S */) {
      this.statements.delete(cstring(m, 6)[0]);
    }
  }

  private onClose(): void {
    if (this.finishing) return;
    this.finishing = true;
    this.closed = true;
    this.pending.length = 0;
    this.server.lease.abandon(this);
    void this.finish();
  }

  private finishing = false;

  private async finish(): Promise<void> {
    try {
      if (this.pumping) await this.pumping;
      await this.server.afterDisconnect(this);
    } catch (err) {
      if (!(err instanceof LeaseAborted)) this.server.log(`connection #${this.id}: cleanup failed: ${(err as Error).message}`);
    } finally {
      this.server.lease.release(this);
      this.resolveDone();
    }
  }
}

// ---------------------------------------------------------------------------
// The server

/** Resolves when `p` settles or after `ms`, whichever is first; never rejects. */
export function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    p.then(
      () => (clearTimeout(timer), resolve()),
      () => (clearTimeout(timer), resolve()),
    );
  });
}

export class PgliteServer {
  readonly lease = new Lease();
  private readonly tcp: net.Server;
  private readonly conns = new Set<Connection>();
  private nextId = 1;
  private closing = false;
  private listenPort = 0;

  /** Resolves to the database, or to null if the server closes before it is ready. */
  private readonly db: Promise<PGlite | null>;
  private noDb: () => void = () => {};

  constructor(readonly options: PgliteServerOptions) {
    this.tcp = net.createServer((socket) => this.accept(socket));
    this.db = new Promise<PGlite | null>((resolve) => {
      this.noDb = () => resolve(null);
      Promise.resolve(options.db).then(resolve, () => resolve(null));
    });
  }

  get port(): number {
    return this.listenPort;
  }

  get url(): string {
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `postgres://${this.options.user}@${host}:${this.listenPort}/${this.options.database}?sslmode=disable`;
  }

  log(msg: string): void {
    this.options.onLog?.(msg);
  }

  connectionCount(): number {
    return this.conns.size;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const where = `${this.options.host}:${this.options.port}`;
        reject(
          new Error(
            err.code === 'EADDRINUSE'
              ? `cannot start the demo database on ${where}: the port is already in use (choose another port, or 0 for a free one)`
              : `cannot start the demo database on ${where}: ${err.message}`,
          ),
        );
      };
      this.tcp.once('error', onError);
      this.tcp.listen(this.options.port, this.options.host, () => {
        this.tcp.off('error', onError);
        const addr = this.tcp.address();
        this.listenPort = typeof addr === 'object' && addr ? addr.port : this.options.port;
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const conn = new Connection(this.nextId++, socket, this);
    this.conns.add(conn);
    void conn.done.then(() => this.conns.delete(conn));
  }

  /** PGlite's answer to a StartupMessage (AuthenticationOk … ReadyForQuery), once known. */
  startupReply: Buffer | null = null;

  /** Why PGlite can no longer be used (it crashed or stopped answering), or null. */
  dead: string | null = null;

  /**
   * Run one frontend message on PGlite, streaming the output to `sink`.
   * Returns the transaction status if the output ended a unit (ReadyForQuery).
   * `type` is the frontend message type (0 = StartupMessage), for the liveness check.
   */
  async exec(
    conn: Connection | null,
    message: Buffer,
    sink: (chunk: Buffer) => void,
    type: number = message[0],
  ): Promise<TxStatus | undefined> {
    const db = await this.db;
    if (db === null || this.dead !== null) return 'I';
    if (conn) conn.executing = true;
    const scanner = new ReadyForQueryScanner();
    try {
      await db.runExclusive(() =>
        db.execProtocolRawStream(new Uint8Array(message.buffer, message.byteOffset, message.length), {
          onRawData: (data) => {
            const chunk = Buffer.from(data); // copy: the view may point into WASM memory
            scanner.feed(chunk);
            sink(chunk);
          },
        }),
      );
    } catch (err) {
      // Not an SQL error (those come back as ErrorResponse): PGlite itself failed.
      this.markDead(`it failed with "${(err as Error).message}"`);
      return 'I';
    } finally {
      if (conn) conn.executing = false;
    }
    // These messages always end with ReadyForQuery; no answer at all means PGlite is wedged.
    if (scanner.last === null && (type === 0 || type === T.query || type === T.sync || type === T.functionCall)) {
      this.markDead('it stopped answering');
      return 'I';
    }
    return scanner.last ?? undefined;
  }

  private markDead(why: string): void {
    if (this.dead !== null) return;
    this.dead = why;
    this.log(`the embedded PostgreSQL is no longer usable: ${why}`);
    for (const c of this.conns) if (!c.closed) this.refuseDead(c);
  }

  refuseDead(conn: Connection): void {
    conn.fatal({
      code: 'XX000',
      message: `the embedded PostgreSQL of the Sluice demo is no longer usable: ${this.dead}`,
      hint: 'Restart `sluice demo` (the in-memory demo data is recreated on start).',
    });
  }

  /** Called once per connection after it closed (holds no lease yet, or still holds it). */
  async afterDisconnect(conn: Connection): Promise<void> {
    if (this.closing || !conn.startedUp) return;
    const discard = () => {};
    // Leave no half-finished work behind for the next client.
    if (this.lease.holder === conn && (conn.midUnit || conn.txStatus !== 'I')) {
      const status = conn.midUnit ? await this.exec(null, SYNC, discard) : conn.txStatus;
      if (status !== 'I') await this.exec(null, simpleQuery('ROLLBACK'), discard);
      this.log(`connection #${conn.id} closed mid-transaction: rolled back`);
    }
    // The last client out resets the shared session, so the next connection starts clean.
    const others = [...this.conns].some((c) => c !== conn && c.startedUp && !c.closed);
    if (others && conn.statements.size > 0) {
      // Others go on: only drop what was this client's.
      await this.lease.acquire(conn, Infinity);
      if (this.closing) return;
      for (const name of conn.statements) {
        await this.exec(null, frontendMessage('C', Buffer.from(`S${name}\0`, 'utf8')), discard);
      }
      await this.exec(null, SYNC, discard);
    }
    if (!others) {
      await this.lease.acquire(conn, Infinity);
      if (this.closing) return;
      const stillAlone = ![...this.conns].some((c) => c !== conn && c.startedUp && !c.closed);
      if (stillAlone) await this.exec(null, simpleQuery('DISCARD ALL'), discard);
    }
    this.log(`connection #${conn.id} closed`);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const conn of this.conns) {
      this.lease.abandon(conn);
      if (!conn.closed && !conn.executing) {
        // Between messages a FATAL is well-formed; mid-output it is not, so just drop those.
        conn.write(
          errorResponse({
            severity: 'FATAL',
            code: '57P01',
            message: 'terminating connection because the Sluice demo database is shutting down',
          }),
        );
        conn.socket.end();
      }
      conn.closed = true;
      setTimeout(() => conn.socket.destroy(), 200).unref();
    }
    await Promise.all([...this.conns].map((c) => c.done));
    await closed;
    // Wait for a statement still running inside PGlite (unless PGlite is dead: it may never return).
    this.noDb(); // clients still waiting for the start won't get it
    const db = await this.db;
    if (db && this.dead === null) await withTimeout(db.runExclusive(async () => {}), 5000);
  }
}
