/// <reference path="./better-sqlite3.d.ts" />
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type {
  ApiKeyRecord,
  DelegationRecord,
  SshKeyRecord,
  ApprovalRecord,
  ApprovalStatus,
  SessionQuery,
  SessionRecord,
  Store,
  StoredEvent,
} from '@sluice/core';
import { checkVersion, migrate } from './migrations.js';
import { EventJournal } from './journal.js';
import { JournalMover } from './mover.js';
import { CorruptRowError } from './errors.js';
import { blockEvents, toBlocks, trimBlock } from './blocks.js';

export { CorruptRowError };

export interface SqliteStoreOptions {
  /** File path, or ':memory:'. */
  path: string;
  /** 'normal' (default; WAL commits survive kill -9) or 'full' (fsync each commit, power-loss durable). */
  synchronous?: 'normal' | 'full';
  /** Open read-only (no migrations; the schema must be current). Writes reject. */
  readonly?: boolean;
  /**
   * Acknowledge events once they are in an append-only journal file
   * (`<path>.journal`, and `<path>.journal2` in turn) and move them into
   * SQLite in batches a few ms later: the gateway's mode (one write(2) per
   * group instead of a SQLite commit).
   * The journal is replayed at open. Only the one process that appends events
   * (the gateway) should use it; CLI readers see events once moved (≤ a few ms).
   */
  journal?: boolean;
}

/**
 * Past this size the store switches journal files, as soon as the other one
 * is drained (everything in it committed to SQLite); the other then starts
 * over at offset 0, in the pages it already has.
 */
const JOURNAL_SWITCH_AT = 1 << 20;

/** How long a connection waits for another process's write lock before failing. */
export const BUSY_TIMEOUT_MS = 5000;
export const DEFAULT_SESSION_LIMIT = 50;
export const MAX_SESSION_LIMIT = 1000;
/** Blocks fetched per page by iterateEvents. */
const BLOCK_PAGE = 64;

interface SessionRow {
  id: string;
  connection: string;
  protocol: string;
  subject: string;
  actors: string;
  groups: string;
  via: string;
  client: string;
  started_at: string;
  ended_at: string | null;
  end_reason: string | null;
}

interface BlockRow {
  session: string;
  first_seq: number;
  last_seq: number;
  events: string;
}

interface ApprovalRow {
  id: string;
  session: string;
  policy: string;
  command: string;
  requester: string;
  approvers: string;
  status: string;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  reason: string | null;
}

interface ApiKeyRow {
  id: string;
  name: string;
  hash: string;
  groups: string;
  on_behalf_of: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

interface SshKeyRow {
  fingerprint: string;
  key_id: string;
  algo: string;
  public_key: string;
  comment: string | null;
  created_at: string;
}

interface DelegationRow {
  id: string;
  subject: string;
  actors: string;
  groups: string;
  connections: string | null;
  issued_by: string | null;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

function parseJson<T>(text: string, table: string, key: string, column: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CorruptRowError(`${table} ${key}: column ${column} is not valid JSON`, table, key);
  }
}

function toSession(r: SessionRow): SessionRecord {
  return {
    id: r.id,
    connection: r.connection,
    protocol: r.protocol,
    subject: r.subject,
    actors: parseJson<string[]>(r.actors, 'sessions', r.id, 'actors'),
    groups: parseJson<string[]>(r.groups, 'sessions', r.id, 'groups'),
    via: r.via as SessionRecord['via'],
    client: r.client,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    endReason: r.end_reason,
  };
}

function toApproval(r: ApprovalRow): ApprovalRecord {
  return {
    id: r.id,
    session: r.session,
    policy: r.policy,
    command: parseJson<ApprovalRecord['command']>(r.command, 'approvals', r.id, 'command'),
    requester: parseJson<ApprovalRecord['requester']>(r.requester, 'approvals', r.id, 'requester'),
    approvers: parseJson<string[]>(r.approvers, 'approvals', r.id, 'approvers'),
    status: r.status as ApprovalStatus,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    decidedAt: r.decided_at,
    decidedBy: r.decided_by,
    reason: r.reason,
  };
}

function toApiKey(r: ApiKeyRow): ApiKeyRecord {
  return {
    id: r.id,
    name: r.name,
    hash: r.hash,
    groups: parseJson<string[]>(r.groups, 'api_keys', r.id, 'groups'),
    onBehalfOf: r.on_behalf_of,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}

function toSshKey(r: SshKeyRow): SshKeyRecord {
  return { fingerprint: r.fingerprint, keyId: r.key_id, algo: r.algo, publicKey: r.public_key, comment: r.comment, createdAt: r.created_at };
}

function toDelegation(r: DelegationRow): DelegationRecord {
  return {
    id: r.id,
    subject: r.subject,
    actors: parseJson<string[]>(r.actors, 'delegations', r.id, 'actors'),
    groups: parseJson<string[]>(r.groups, 'delegations', r.id, 'groups'),
    connections: r.connections === null ? null : parseJson<string[]>(r.connections, 'delegations', r.id, 'connections'),
    issuedBy: r.issued_by,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}

const SSHKEY_COLS = `fingerprint, key_id, algo, public_key, comment, created_at`;
const DELEGATION_COLS = `id, subject, actors, "groups" AS groups, connections, issued_by, created_at, expires_at, revoked_at`;

const SESSION_COLS = `id, connection, protocol, subject, actors, "groups" AS groups, via, client, started_at, ended_at, end_reason`;
const BLOCK_COLS = `session, first_seq, last_seq, events`;
const APPROVAL_COLS = `id, session, policy, command, requester, approvers, status, created_at, expires_at, decided_at, decided_by, reason`;
const APIKEY_COLS = `id, name, hash, "groups" AS groups, on_behalf_of, created_at, expires_at, revoked_at`;

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_SESSION_LIMIT;
  return Math.min(MAX_SESSION_LIMIT, Math.max(1, Math.trunc(limit)));
}

/**
 * The embedded store. All work is synchronous inside better-sqlite3; each
 * method returns a promise that settles after the statement (and, for writes,
 * the commit) has completed, and rejects on any SQLite error.
 */
export class SqliteStore implements Store {
  readonly schemaVersion: number;
  readonly path: string;
  private readonly db: Database;

  private readonly insertSession: Database.Statement;
  private readonly endSessionStmt: Database.Statement;
  private readonly getSessionStmt: Database.Statement<SessionRow>;
  private readonly closeOrphansStmt: Database.Statement<{ id: string }>;
  private readonly insertEvents: Database.Transaction<(events: readonly StoredEvent[], replay: boolean) => void>;
  private readonly getBlocksStmt: Database.Statement<BlockRow>;
  private readonly firstBlocksPage: Database.Statement<BlockRow>;
  private readonly nextBlocksPage: Database.Statement<BlockRow>;
  private readonly lastBlockStmt: Database.Statement<BlockRow>;
  private readonly insertApproval: Database.Statement;
  private readonly getApprovalStmt: Database.Statement<ApprovalRow>;
  private readonly listApprovalsAll: Database.Statement<ApprovalRow>;
  private readonly listApprovalsByStatus: Database.Statement<ApprovalRow>;
  private readonly decideApprovalStmt: Database.Statement;
  private readonly abandonStmt: Database.Statement<{ id: string }>;
  private readonly insertApiKey: Database.Statement;
  private readonly findApiKeyStmt: Database.Statement<ApiKeyRow>;
  private readonly listApiKeysStmt: Database.Statement<ApiKeyRow>;
  private readonly revokeApiKeyStmt: Database.Statement;
  private readonly getApiKeyStmt: Database.Statement<ApiKeyRow>;
  private readonly insertSshKey: Database.Statement;
  private readonly findSshKeyStmt: Database.Statement<SshKeyRow>;
  private readonly listSshKeysStmt: Database.Statement<SshKeyRow>;
  private readonly deleteSshKeyStmt: Database.Statement;
  private readonly insertDelegation: Database.Statement;
  private readonly getDelegationStmt: Database.Statement<DelegationRow>;
  private readonly listDelegationsAll: Database.Statement<DelegationRow>;
  private readonly listDelegationsBySubject: Database.Statement<DelegationRow>;
  private readonly revokeDelegationStmt: Database.Statement;
  private readonly sessionQueries = new Map<string, Database.Statement<SessionRow>>();

  /** Journal mode: the journal's two files (`<path>.journal`, `<path>.journal2`) and the one appended to. */
  private journals: [EventJournal, EventJournal] | null = null;
  private active: 0 | 1 = 0;
  /** Moves journalled events into SQLite on a worker thread. */
  private mover: JournalMover | null = null;
  private closing: Promise<void> | null = null;
  /** Set when moving journalled events into SQLite failed: appends are refused from then on. */
  private failure: Error | null = null;

  /** Takes ownership of an open connection; use openSqliteStore() instead. */
  constructor(db: Database, schemaVersion: number) {
    this.db = db;
    this.path = db.name;
    this.schemaVersion = schemaVersion;

    this.insertSession = db.prepare(
      `INSERT INTO sessions (id, connection, protocol, subject, actors, "groups", via, client, started_at, ended_at, end_reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // First end wins: a session already ended keeps its end time and reason.
    this.endSessionStmt = db.prepare(`UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL`);
    this.getSessionStmt = db.prepare(`SELECT ${SESSION_COLS} FROM sessions WHERE id = ?`);
    this.closeOrphansStmt = db.prepare(
      `UPDATE sessions SET ended_at = ?, end_reason = 'gateway restart' WHERE ended_at IS NULL RETURNING id`,
    );

    const insertBlock = db.prepare(`INSERT INTO event_blocks (session, first_seq, last_seq, events) VALUES (?, ?, ?, ?)`);
    const storedUpTo = db.prepare<number | null>(`SELECT max(last_seq) FROM event_blocks WHERE session = ?`).pluck();
    const overlap = db.prepare<number>(`SELECT max(first_seq, ?) FROM event_blocks WHERE session = ? AND first_seq <= ? AND last_seq >= ? LIMIT 1`).pluck();
    this.insertEvents = db.transaction((events: readonly StoredEvent[], replay: boolean) => {
      for (const b of toBlocks(events)) {
        if (replay) {
          // A replayed journal may repeat events the mover had already stored (it only ever continues them).
          const stored = storedUpTo.get(b.session) ?? 0;
          if (b.last <= stored) continue;
          if (b.first <= stored) {
            insertBlock.run(...trimBlock(b, stored));
            continue;
          }
        } else {
          const dup = overlap.get(b.first, b.session, b.last, b.first);
          if (dup !== undefined) throw new Error(`event ${b.session}#${dup} is already stored`);
        }
        insertBlock.run(b.session, b.first, b.last, b.lines);
      }
    });
    this.getBlocksStmt = db.prepare(`SELECT ${BLOCK_COLS} FROM event_blocks WHERE session = ? ORDER BY first_seq`);
    this.firstBlocksPage = db.prepare(`SELECT ${BLOCK_COLS} FROM event_blocks ORDER BY session, first_seq LIMIT ?`);
    this.nextBlocksPage = db.prepare(`SELECT ${BLOCK_COLS} FROM event_blocks WHERE (session, first_seq) > (?, ?) ORDER BY session, first_seq LIMIT ?`);
    this.lastBlockStmt = db.prepare(`SELECT ${BLOCK_COLS} FROM event_blocks WHERE session = ? ORDER BY first_seq DESC LIMIT 1`);

    this.insertApproval = db.prepare(
      `INSERT INTO approvals (id, session, policy, command, requester, approvers, status, created_at, expires_at, decided_at, decided_by, reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.getApprovalStmt = db.prepare(`SELECT ${APPROVAL_COLS} FROM approvals WHERE id = ?`);
    this.listApprovalsAll = db.prepare(`SELECT ${APPROVAL_COLS} FROM approvals ORDER BY created_at, rowid`);
    this.listApprovalsByStatus = db.prepare(`SELECT ${APPROVAL_COLS} FROM approvals WHERE status = ? ORDER BY created_at, rowid`);
    this.decideApprovalStmt = db.prepare(
      `UPDATE approvals SET status = ?, decided_by = ?, reason = ?, decided_at = ? WHERE id = ? AND status = 'pending'`,
    );
    this.abandonStmt = db.prepare(
      `UPDATE approvals SET status = 'abandoned', decided_at = ?, decided_by = NULL, reason = 'gateway restart'
       WHERE status = 'pending' RETURNING id`,
    );

    this.insertApiKey = db.prepare(
      `INSERT INTO api_keys (id, name, hash, "groups", on_behalf_of, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.findApiKeyStmt = db.prepare(`SELECT ${APIKEY_COLS} FROM api_keys WHERE hash = ?`);
    this.listApiKeysStmt = db.prepare(`SELECT ${APIKEY_COLS} FROM api_keys ORDER BY created_at, rowid`);
    this.revokeApiKeyStmt = db.prepare(`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`);
    this.getApiKeyStmt = db.prepare(`SELECT ${APIKEY_COLS} FROM api_keys WHERE id = ?`);

    this.insertSshKey = db.prepare(`INSERT INTO ssh_keys (${SSHKEY_COLS}) VALUES (?, ?, ?, ?, ?, ?)`);
    this.findSshKeyStmt = db.prepare(`SELECT ${SSHKEY_COLS} FROM ssh_keys WHERE fingerprint = ?`);
    this.listSshKeysStmt = db.prepare(`SELECT ${SSHKEY_COLS} FROM ssh_keys ORDER BY created_at, rowid`);
    this.deleteSshKeyStmt = db.prepare(`DELETE FROM ssh_keys WHERE fingerprint = ?`);

    this.insertDelegation = db.prepare(
      `INSERT INTO delegations (id, subject, actors, "groups", connections, issued_by, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.getDelegationStmt = db.prepare(`SELECT ${DELEGATION_COLS} FROM delegations WHERE id = ?`);
    this.listDelegationsAll = db.prepare(`SELECT ${DELEGATION_COLS} FROM delegations ORDER BY created_at DESC, rowid DESC`);
    this.listDelegationsBySubject = db.prepare(`SELECT ${DELEGATION_COLS} FROM delegations WHERE subject = ? ORDER BY created_at DESC, rowid DESC`);
    this.revokeDelegationStmt = db.prepare(`UPDATE delegations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`);
  }

  /** Whether the connection is still open. */
  get open(): boolean {
    return this.db.open;
  }

  // ------------------------------------------------------------ sessions

  async createSession(s: SessionRecord): Promise<void> {
    this.insertSession.run(
      s.id,
      s.connection,
      s.protocol,
      s.subject,
      JSON.stringify(s.actors),
      JSON.stringify(s.groups),
      s.via,
      s.client,
      s.startedAt,
      s.endedAt,
      s.endReason,
    );
  }

  async endSession(id: string, endedAt: string, reason: string): Promise<void> {
    this.endSessionStmt.run(endedAt, reason, id);
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const r = this.getSessionStmt.get(id);
    return r && toSession(r);
  }

  async listSessions(q: SessionQuery = {}): Promise<SessionRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.connection !== undefined) {
      where.push('connection = ?');
      params.push(q.connection);
    }
    if (q.subject !== undefined) {
      where.push('subject = ?');
      params.push(q.subject);
    }
    if (q.before !== undefined) {
      where.push('started_at < ?');
      params.push(q.before);
    }
    if (q.active) where.push('ended_at IS NULL');
    const sql =
      `SELECT ${SESSION_COLS} FROM sessions` +
      (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
      ` ORDER BY started_at DESC, rowid DESC LIMIT ?`;
    let stmt = this.sessionQueries.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<SessionRow>(sql);
      this.sessionQueries.set(sql, stmt); // at most 16 shapes
    }
    return stmt.all(...params, clampLimit(q.limit)).map(toSession);
  }

  async closeOrphanSessions(endedAt: string): Promise<string[]> {
    return this.closeOrphansStmt.all(endedAt).map((r) => r.id);
  }

  // ------------------------------------------------------------ events

  /**
   * @internal Journal mode: replay what a previous run left in either file,
   * then journal new events. Appends go to one file while the mover drains
   * the other; past JOURNAL_SWITCH_AT the store switches to the other once it
   * is drained, so under a load that never pauses neither file keeps growing.
   */
  enableJournal(path: string, fsync: boolean): void {
    const paths = [path, `${path}2`] as const;
    // Either file may hold events the mover had not stored; per session, in seq order.
    const left = [...EventJournal.read(paths[0]), ...EventJournal.read(paths[1])];
    left.sort((a, b) => (a.session < b.session ? -1 : a.session > b.session ? 1 : a.seq - b.seq));
    if (left.length) this.insertEvents(left, true);
    const journals: [EventJournal, EventJournal] = [new EventJournal(paths[0], fsync), new EventJournal(paths[1], fsync)];
    for (const j of journals) j.truncate();
    this.journals = journals;
    this.active = 0;
    this.mover = new JournalMover(
      this.path,
      paths,
      fsync ? 'FULL' : 'NORMAL',
      (message) => {
        this.failure ??= new Error(`cannot move journalled events into the store: ${message}`);
      },
      () => this.switchJournal(),
    );
  }

  /** Moves appends to the other journal file once the active one is past JOURNAL_SWITCH_AT and the other is drained. */
  private switchJournal(): void {
    const journals = this.journals;
    const mover = this.mover;
    if (!journals || !mover || this.failure || journals[this.active].size <= JOURNAL_SWITCH_AT) return;
    const other = this.active === 0 ? 1 : 0;
    if (!mover.drained(other)) return;
    journals[other].rewind();
    mover.rewind(other);
    this.active = other;
  }

  /** Waits until journalled events are in SQLite, so reads see them. */
  private async settled(): Promise<void> {
    if (this.mover) await this.mover.flush();
  }

  async appendEvents(events: StoredEvent[]): Promise<void> {
    this.appendEventsNow(events);
  }

  /** Both paths (journal, or SQLite directly) write before returning: durable when this returns, throws on failure. */
  appendEventsNow(events: StoredEvent[]): void {
    if (this.failure) throw this.failure;
    if (this.journals && this.mover) {
      if (!this.db.open) throw new Error('the store is closed');
      const journal = this.journals[this.active];
      try {
        journal.append(events);
      } catch (e) {
        // A write that failed part-way leaves a torn line: nothing after it could be read back.
        this.failure ??= new Error(`cannot write the event journal: ${(e as Error).message}`);
        throw this.failure;
      }
      this.mover.add(this.active, journal.size);
      if (journal.size > JOURNAL_SWITCH_AT) this.switchJournal();
      return;
    }
    if (events.length > 0) this.insertEvents(events, false);
  }

  async getEvents(session: string): Promise<StoredEvent[]> {
    await this.settled();
    const out: StoredEvent[] = [];
    for (const b of this.getBlocksStmt.all(session)) for (const e of blockEvents(b.session, b.first_seq, b.last_seq, b.events)) out.push(e);
    return out;
  }

  /**
   * Streams every event ordered by (session, seq), a page at a time. It does not
   * hold a statement open between pages: a live better-sqlite3 iterator makes
   * the connection refuse every other statement, which would stall the
   * gateway's appends while an audit runs. Events appended during the walk
   * after the current position are included; the log is append-only, so
   * nothing before it can change through this API.
   */
  async *iterateEvents(): AsyncIterable<StoredEvent> {
    await this.settled();
    let page = this.firstBlocksPage.all(BLOCK_PAGE);
    while (page.length > 0) {
      for (const b of page) yield* blockEvents(b.session, b.first_seq, b.last_seq, b.events);
      const last = page[page.length - 1]!;
      page = this.nextBlocksPage.all(last.session, last.first_seq, BLOCK_PAGE);
    }
  }

  async lastEvent(session: string): Promise<StoredEvent | undefined> {
    await this.settled();
    const b = this.lastBlockStmt.get(session);
    if (!b) return undefined;
    let last: StoredEvent | undefined;
    for (const e of blockEvents(b.session, b.first_seq, b.last_seq, b.events)) last = e;
    return last;
  }

  // ------------------------------------------------------------ approvals

  async createApproval(a: ApprovalRecord): Promise<void> {
    this.insertApproval.run(
      a.id,
      a.session,
      a.policy,
      JSON.stringify(a.command),
      JSON.stringify(a.requester),
      JSON.stringify(a.approvers),
      a.status,
      a.createdAt,
      a.expiresAt,
      a.decidedAt,
      a.decidedBy,
      a.reason,
    );
  }

  async getApproval(id: string): Promise<ApprovalRecord | undefined> {
    const r = this.getApprovalStmt.get(id);
    return r && toApproval(r);
  }

  /** Oldest first (the order they were requested). */
  async listApprovals(status?: ApprovalStatus): Promise<ApprovalRecord[]> {
    const rows = status === undefined ? this.listApprovalsAll.all() : this.listApprovalsByStatus.all(status);
    return rows.map(toApproval);
  }

  async decideApproval(
    id: string,
    status: Exclude<ApprovalStatus, 'pending'>,
    by: string | null,
    reason: string | null,
    at: string,
  ): Promise<boolean> {
    if ((status as string) === 'pending') throw new TypeError('decideApproval: status must be a final status, not pending');
    return this.decideApprovalStmt.run(status, by, reason, at, id).changes === 1;
  }

  async abandonPendingApprovals(at: string): Promise<string[]> {
    return this.abandonStmt.all(at).map((r) => r.id);
  }

  // ------------------------------------------------------------ API keys

  async createApiKey(k: ApiKeyRecord): Promise<void> {
    this.insertApiKey.run(k.id, k.name, k.hash, JSON.stringify(k.groups), k.onBehalfOf, k.createdAt, k.expiresAt, k.revokedAt);
  }

  /** Returns the key even when revoked or expired; the caller checks. */
  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const r = this.findApiKeyStmt.get(hash);
    return r && toApiKey(r);
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.listApiKeysStmt.all().map(toApiKey);
  }

  async revokeApiKey(id: string, at: string): Promise<boolean> {
    return this.revokeApiKeyStmt.run(at, id).changes === 1;
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const r = this.getApiKeyStmt.get(id);
    return r && toApiKey(r);
  }

  // ------------------------------------------------------------ SSH keys

  async createSshKey(k: SshKeyRecord): Promise<void> {
    this.insertSshKey.run(k.fingerprint, k.keyId, k.algo, k.publicKey, k.comment, k.createdAt);
  }

  async findSshKey(fingerprint: string): Promise<SshKeyRecord | undefined> {
    const r = this.findSshKeyStmt.get(fingerprint);
    return r && toSshKey(r);
  }

  async listSshKeys(): Promise<SshKeyRecord[]> {
    return this.listSshKeysStmt.all().map(toSshKey);
  }

  async deleteSshKey(fingerprint: string): Promise<boolean> {
    return this.deleteSshKeyStmt.run(fingerprint).changes === 1;
  }

  // ------------------------------------------------------------ delegated tokens

  async createDelegation(d: DelegationRecord): Promise<void> {
    this.insertDelegation.run(
      d.id,
      d.subject,
      JSON.stringify(d.actors),
      JSON.stringify(d.groups),
      d.connections === null ? null : JSON.stringify(d.connections),
      d.issuedBy,
      d.createdAt,
      d.expiresAt,
      d.revokedAt,
    );
  }

  async getDelegation(id: string): Promise<DelegationRecord | undefined> {
    const r = this.getDelegationStmt.get(id);
    return r && toDelegation(r);
  }

  async listDelegations(subject?: string): Promise<DelegationRecord[]> {
    return (subject === undefined ? this.listDelegationsAll.all() : this.listDelegationsBySubject.all(subject)).map(toDelegation);
  }

  async revokeDelegation(id: string, at: string): Promise<boolean> {
    return this.revokeDelegationStmt.run(at, id).changes === 1;
  }

  // ------------------------------------------------------------ lifecycle

  /** Closes the connection (checkpointing the WAL if last). Calling it again is harmless. */
  async close(): Promise<void> {
    this.closing ??= (async () => {
      const mover = this.mover;
      this.mover = null;
      if (mover) await mover.close().catch(() => undefined);
      if (this.db.open) {
        if (this.journals && !this.failure) for (const j of this.journals) j.truncate();
        this.db.close();
      }
      if (this.journals) for (const j of this.journals) j.close();
      this.journals = null;
    })();
    return this.closing;
  }

}

/**
 * Opens (creating if needed) a SQLite store: creates the file's directory,
 * sets WAL mode, synchronous, busy_timeout and foreign keys, and runs the
 * migrations. Throws SchemaVersionError for a database written by a newer Sluice.
 */
export function openSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  const sync = opts.synchronous ?? 'normal';
  if (sync !== 'normal' && sync !== 'full') throw new TypeError(`synchronous must be 'normal' or 'full', not ${JSON.stringify(sync)}`);
  const memory = opts.path === ':memory:' || opts.path === '';
  const readonly = opts.readonly === true;
  if (!memory && !readonly) mkdirSync(dirname(resolve(opts.path)), { recursive: true });

  // Several processes opening a new file at once (the CLI minting keys while a
  // gateway starts) can get SQLITE_BUSY where no busy handler runs (switching
  // to WAL): retry the whole open for up to BUSY_TIMEOUT_MS.
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      return openOnce(opts, sync, memory, readonly);
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_BUSY') && !/database is locked/.test((e as Error).message)) throw e;
      if (Date.now() > deadline) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 + Math.floor(Math.random() * 30));
    }
  }
}

function openOnce(opts: SqliteStoreOptions, sync: 'normal' | 'full', memory: boolean, readonly: boolean): SqliteStore {
  const db = new Database(opts.path, { readonly, fileMustExist: readonly, timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (!readonly && !memory) db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    const version = readonly ? checkVersion(db) : migrate(db);
    const store = new SqliteStore(db, version);
    if (opts.journal && !memory && !readonly) store.enableJournal(`${resolve(opts.path)}.journal`, sync === 'full');
    return store;
  } catch (e) {
    db.close();
    throw e;
  }
}
