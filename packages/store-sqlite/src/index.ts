export { openSqliteStore, SqliteStore, CorruptRowError, BUSY_TIMEOUT_MS, DEFAULT_SESSION_LIMIT, MAX_SESSION_LIMIT } from './store.js';
export type { SqliteStoreOptions } from './store.js';
export { MIGRATIONS, SCHEMA_VERSION, SchemaVersionError } from './migrations.js';
export type { Migration } from './migrations.js';
