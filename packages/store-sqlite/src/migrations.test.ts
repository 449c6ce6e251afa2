import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, migrate, SCHEMA_VERSION, SchemaVersionError, userVersion } from './migrations.js';
import { openSqliteStore } from './index.js';
import { event, session, tempDirs } from './test-fixtures.js';

const tmp = tempDirs();
afterEach(() => tmp.cleanup());

function indexes(db: Database): string[] {
  return (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[]).map(
    (r) => r.name,
  );
}

/**
 * The schema as version 1 shipped, written out by hand (frozen: never derive
 * this from MIGRATIONS, so a later edit of migration 1 is caught).
 */
function createV1(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);
    CREATE TABLE sessions (id TEXT PRIMARY KEY, connection TEXT NOT NULL, protocol TEXT NOT NULL, subject TEXT NOT NULL,
      actors TEXT NOT NULL, "groups" TEXT NOT NULL, via TEXT NOT NULL, client TEXT NOT NULL, started_at TEXT NOT NULL,
      ended_at TEXT, end_reason TEXT);
    CREATE TABLE events (session TEXT NOT NULL REFERENCES sessions(id), seq INTEGER NOT NULL, at TEXT NOT NULL,
      type TEXT NOT NULL, data TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (session, seq));
    CREATE TABLE approvals (id TEXT PRIMARY KEY, session TEXT NOT NULL REFERENCES sessions(id), policy TEXT NOT NULL,
      command TEXT NOT NULL, requester TEXT NOT NULL, approvers TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('pending','approved','denied','expired','cancelled','abandoned')),
      created_at TEXT NOT NULL, expires_at TEXT NOT NULL, decided_at TEXT, decided_by TEXT, reason TEXT);
    CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, "groups" TEXT NOT NULL,
      on_behalf_of TEXT, created_at TEXT NOT NULL, expires_at TEXT, revoked_at TEXT);
    CREATE UNIQUE INDEX api_keys_hash ON api_keys(hash);
    INSERT INTO schema_migrations VALUES (1, 'initial tables', '2024-12-01T00:00:00.000Z');
    INSERT INTO sessions VALUES ('old', 'db', 'postgres', 'alice', '["agent"]', '["eng"]', 'oidc', '1.2.3.4:5', '2024-12-01T00:00:00.000Z', NULL, NULL);
    INSERT INTO events VALUES ('old', 1, '2024-12-01T00:00:00.000Z', 'session.start', '{"connection":"db"}', '${'0'.repeat(64)}', 'h1');
    INSERT INTO approvals VALUES ('ap', 'old', 'p', '{"kind":"DROP","text":"drop table t","objects":["t"],"flags":[]}',
      '{"subject":"alice","actors":[],"groups":["eng"]}', '["dba"]', 'pending', '2024-12-01T00:00:00.000Z', '2024-12-01T00:05:00.000Z', NULL, NULL, NULL);
    INSERT INTO api_keys VALUES ('k', 'ci', '${'a'.repeat(64)}', '["ci"]', NULL, '2024-12-01T00:00:00.000Z', NULL, NULL);
  `);
  db.pragma('user_version = 1');
  db.close();
}

describe('migrations', () => {
  it('versions are 1..N in order', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(2);
  });

  it('a fresh database gets every migration once, recorded in schema_migrations and user_version', async () => {
    const path = join(tmp.make(), 'new.db');
    const store = openSqliteStore({ path });
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    await store.close();
    const again = openSqliteStore({ path }); // reopening applies nothing
    expect(again.schemaVersion).toBe(SCHEMA_VERSION);
    await again.close();
    const db = new Database(path);
    expect(userVersion(db)).toBe(SCHEMA_VERSION);
    const rows = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    db.close();
  });

  it('upgrades a version-1 database in place, keeping its data', async () => {
    const path = join(tmp.make(), 'v1.db');
    createV1(path);
    const before = new Database(path);
    expect(indexes(before)).toEqual(['api_keys_hash']);
    before.close();

    const store = openSqliteStore({ path });
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    expect(await store.getSession('old')).toMatchObject({ id: 'old', actors: ['agent'], groups: ['eng'], endedAt: null });
    expect(await store.getEvents('old')).toEqual([
      { session: 'old', seq: 1, at: '2024-12-01T00:00:00.000Z', type: 'session.start', data: { connection: 'db' }, prev: '0'.repeat(64), hash: 'h1' },
    ]);
    expect((await store.getApproval('ap'))?.command.kind).toBe('DROP');
    expect((await store.findApiKeyByHash('a'.repeat(64)))?.id).toBe('k');
    // and it keeps working
    await store.appendEvents([event('old', 2)]);
    expect(await store.closeOrphanSessions('2025-01-01T00:00:00.000Z')).toEqual(['old']);
    await store.close();

    const db = new Database(path);
    expect(userVersion(db)).toBe(SCHEMA_VERSION);
    expect(indexes(db)).toEqual(
      expect.arrayContaining(['api_keys_hash', 'sessions_started', 'sessions_connection', 'sessions_subject', 'sessions_open', 'approvals_status']),
    );
    expect((db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version)).toEqual(
      MIGRATIONS.map((m) => m.version),
    );
    db.close();
  });

  it('refuses a database from a newer Sluice, with a clear error, and leaves it untouched', () => {
    const path = join(tmp.make(), 'future.db');
    const raw = new Database(path);
    raw.exec('CREATE TABLE from_the_future (x)');
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    let err: unknown;
    try {
      openSqliteStore({ path });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SchemaVersionError);
    expect((err as Error).message).toMatch(new RegExp(`schema version ${SCHEMA_VERSION + 1} is newer than this Sluice supports \\(${SCHEMA_VERSION}\\)`));
    expect((err as SchemaVersionError).found).toBe(SCHEMA_VERSION + 1);
    expect(() => openSqliteStore({ path, readonly: true })).toThrow(/newer/);
    const db = new Database(path);
    expect(userVersion(db)).toBe(SCHEMA_VERSION + 1);
    expect(db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'sessions'`).get()).toEqual({ n: 0 });
    db.close();
  });

  it('read-only open refuses an older schema (it cannot upgrade) and a non-Sluice file', () => {
    const dir = tmp.make();
    createV1(join(dir, 'v1.db'));
    expect(() => openSqliteStore({ path: join(dir, 'v1.db'), readonly: true })).toThrow(/older than .*read-write/);
    const other = new Database(join(dir, 'other.db'));
    other.exec('CREATE TABLE t (x)');
    other.close();
    expect(() => openSqliteStore({ path: join(dir, 'other.db'), readonly: true })).toThrow(/not a Sluice database/);
  });

  it('a failing migration rolls back entirely and leaves the previous version', () => {
    const db = new Database(join(tmp.make(), 'fail.db'));
    const ok = MIGRATIONS[0]!;
    const bad = {
      version: 2,
      name: 'half done',
      up(d: Database) {
        d.exec('CREATE TABLE half (x)');
        throw new Error('boom');
      },
    };
    expect(() => migrate(db, [ok, bad])).toThrow('boom');
    expect(userVersion(db)).toBe(1);
    expect(db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'half'`).get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT count(*) AS n FROM schema_migrations').get()).toEqual({ n: 1 });
    db.close();
  });

  it('an unexpected existing table fails loudly instead of being adopted', () => {
    const path = join(tmp.make(), 'clash.db');
    const raw = new Database(path);
    raw.exec('CREATE TABLE sessions (whatever)');
    raw.close();
    expect(() => openSqliteStore({ path })).toThrow(/already exists/);
    const db = new Database(path);
    expect(userVersion(db)).toBe(0);
    db.close();
  });

  it('two stores opening the same fresh file both end up at the current version', async () => {
    const path = join(tmp.make(), 'both.db');
    const a = openSqliteStore({ path });
    const b = openSqliteStore({ path });
    expect([a.schemaVersion, b.schemaVersion]).toEqual([SCHEMA_VERSION, SCHEMA_VERSION]);
    await a.createSession(session('s'));
    expect((await b.getSession('s'))?.id).toBe('s');
    await a.close();
    await b.close();
  });
});
