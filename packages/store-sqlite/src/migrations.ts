/// <reference path="./better-sqlite3.d.ts" />
import type Database from 'better-sqlite3';

/**
 * Versioned schema migrations. The authority for the schema version is
 * `PRAGMA user_version` (stored in the database header, changed inside the
 * same transaction as the migration, so a migration is applied entirely or
 * not at all); `schema_migrations` keeps a human-readable history.
 *
 * Rules: never edit a migration once released; append a new one. Each runs
 * once, in order, in its own IMMEDIATE transaction.
 */
export interface Migration {
  version: number;
  name: string;
  up(db: Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial tables',
    up(db) {
      db.exec(`
        CREATE TABLE schema_migrations (
          version    INTEGER PRIMARY KEY,
          name       TEXT NOT NULL,
          applied_at TEXT NOT NULL
        );

        CREATE TABLE sessions (
          id          TEXT PRIMARY KEY,
          connection  TEXT NOT NULL,
          protocol    TEXT NOT NULL,
          subject     TEXT NOT NULL,
          actors      TEXT NOT NULL,          -- JSON array
          "groups"    TEXT NOT NULL,          -- JSON array
          via         TEXT NOT NULL,
          client      TEXT NOT NULL,
          started_at  TEXT NOT NULL,          -- RFC 3339
          ended_at    TEXT,
          end_reason  TEXT
        );

        -- Append-only: the store has no API to update or delete events.
        CREATE TABLE events (
          session TEXT NOT NULL REFERENCES sessions(id),
          seq     INTEGER NOT NULL,
          at      TEXT NOT NULL,
          type    TEXT NOT NULL,
          data    TEXT NOT NULL,              -- JSON object
          prev    TEXT NOT NULL,
          hash    TEXT NOT NULL,
          PRIMARY KEY (session, seq)
        );

        CREATE TABLE approvals (
          id          TEXT PRIMARY KEY,
          session     TEXT NOT NULL REFERENCES sessions(id),
          policy      TEXT NOT NULL,
          command     TEXT NOT NULL,          -- JSON {kind, text, objects, flags}
          requester   TEXT NOT NULL,          -- JSON {subject, actors, groups}
          approvers   TEXT NOT NULL,          -- JSON array
          status      TEXT NOT NULL CHECK (status IN ('pending','approved','denied','expired','cancelled','abandoned')),
          created_at  TEXT NOT NULL,
          expires_at  TEXT NOT NULL,
          decided_at  TEXT,
          decided_by  TEXT,
          reason      TEXT
        );

        CREATE TABLE api_keys (
          id            TEXT PRIMARY KEY,
          name          TEXT NOT NULL,
          hash          TEXT NOT NULL,        -- SHA-256 hex of the secret
          "groups"      TEXT NOT NULL,        -- JSON array
          on_behalf_of  TEXT,
          created_at    TEXT NOT NULL,
          expires_at    TEXT,
          revoked_at    TEXT
        );
        CREATE UNIQUE INDEX api_keys_hash ON api_keys(hash);
      `);
    },
  },
  {
    version: 2,
    name: 'query indexes',
    up(db) {
      db.exec(`
        CREATE INDEX sessions_started ON sessions(started_at);
        CREATE INDEX sessions_connection ON sessions(connection, started_at);
        CREATE INDEX sessions_subject ON sessions(subject, started_at);
        CREATE INDEX sessions_open ON sessions(started_at) WHERE ended_at IS NULL;
        CREATE INDEX approvals_status ON approvals(status, created_at);
        CREATE INDEX approvals_session ON approvals(session);
      `);
    },
  },
  {
    version: 3,
    name: 'ssh keys and delegated tokens',
    up(db) {
      db.exec(`
        CREATE TABLE ssh_keys (
          fingerprint TEXT PRIMARY KEY,       -- SHA256:… as ssh-keygen -lf prints it
          key_id      TEXT NOT NULL REFERENCES api_keys(id),
          algo        TEXT NOT NULL,
          public_key  TEXT NOT NULL,          -- base64 key blob
          comment     TEXT,
          created_at  TEXT NOT NULL
        );
        CREATE TABLE delegations (
          id          TEXT PRIMARY KEY,       -- the token's jti
          subject     TEXT NOT NULL,
          actors      TEXT NOT NULL,          -- JSON array, nearest first
          "groups"    TEXT NOT NULL,          -- JSON array
          connections TEXT,                   -- JSON array or NULL
          issued_by   TEXT,
          created_at  TEXT NOT NULL,
          expires_at  TEXT NOT NULL,
          revoked_at  TEXT
        );
        CREATE INDEX delegations_subject ON delegations(subject, created_at);
      `);
    },
  },
  {
    version: 4,
    name: 'events stored in blocks',
    up(db) {
      // One row per session per batch of its consecutive events, holding them
      // as journal lines (journal.ts): moving a batch into SQLite is one
      // insert per session instead of one per event. Existing events become
      // one-event blocks, byte for byte the same fields.
      db.exec(`
        CREATE TABLE event_blocks (
          session   TEXT NOT NULL REFERENCES sessions(id),
          first_seq INTEGER NOT NULL,
          last_seq  INTEGER NOT NULL,
          events    TEXT NOT NULL,            -- journal lines, seq first_seq..last_seq
          PRIMARY KEY (session, first_seq)
        );
        INSERT INTO event_blocks (session, first_seq, last_seq, events)
          SELECT session, seq, seq, session || char(9) || seq || char(9) || at || char(9) || type || char(9) || prev || char(9) || hash || char(9) || data || char(10)
          FROM events ORDER BY session, seq;
        DROP TABLE events;
      `);
    },
  },
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export class SchemaVersionError extends Error {
  constructor(
    message: string,
    readonly found: number,
    readonly supported: number,
  ) {
    super(message);
    this.name = 'SchemaVersionError';
  }
}

export function userVersion(db: Database): number {
  return Number(db.pragma('user_version', { simple: true }));
}

function tooNew(file: string, found: number): SchemaVersionError {
  return new SchemaVersionError(
    `${file}: database schema version ${found} is newer than this Sluice supports (${SCHEMA_VERSION}); upgrade Sluice or use a matching version`,
    found,
    SCHEMA_VERSION,
  );
}

/**
 * Brings the database up to SCHEMA_VERSION. Safe when several processes open
 * the same file at once: each step re-reads the version under the write lock.
 * Returns the resulting version. Throws SchemaVersionError for a newer database.
 */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): number {
  const latest = migrations.length ? migrations[migrations.length - 1]!.version : 0;
  const initial = userVersion(db);
  if (initial > latest) throw tooNew(db.name, initial);
  for (const m of migrations) {
    if (m.version <= initial) continue;
    db.transaction(() => {
      const now = userVersion(db);
      if (now > latest) throw tooNew(db.name, now);
      if (now >= m.version) return; // another process got there first
      if (now !== m.version - 1) {
        throw new SchemaVersionError(`${db.name}: cannot apply migration ${m.version} to schema version ${now}`, now, latest);
      }
      m.up(db);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return userVersion(db);
}

/** For a read-only connection: the schema must already be current. */
export function checkVersion(db: Database): number {
  const v = userVersion(db);
  if (v > SCHEMA_VERSION) throw tooNew(db.name, v);
  if (v === 0) throw new SchemaVersionError(`${db.name}: not a Sluice database (schema version 0)`, v, SCHEMA_VERSION);
  if (v < SCHEMA_VERSION) {
    throw new SchemaVersionError(
      `${db.name}: database schema version ${v} is older than ${SCHEMA_VERSION}; open it read-write once (e.g. start the gateway) to upgrade it`,
      v,
      SCHEMA_VERSION,
    );
  }
  return v;
}
