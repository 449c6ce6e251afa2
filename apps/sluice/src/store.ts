import { mkdirSync } from 'node:fs';
import type { Store } from '@sluice/core';
import { openSqliteStore } from '@sluice/store-sqlite';
import type { GatewayConfig } from './config/index.js';

// Kept apart from runtime.ts so that CLI commands which only read or write the
// store (keys, sessions, audit verify) do not load the whole gateway.

export function ensureDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Opens the configured store. Only SQLite is built so far: a postgres:// store is refused clearly. */
/** `journal`: the gateway's mode (events acknowledged once journalled; see @sluice/store-sqlite). */
export function openStore(config: GatewayConfig, opts: { readonly?: boolean; journal?: boolean } = {}): Store {
  if (config.store.kind !== 'sqlite') throw new Error('store: postgres:// is not supported yet; use "sqlite"');
  ensureDataDir(config.dataDir);
  return openSqliteStore({ path: config.store.path, synchronous: config.storeSync, readonly: opts.readonly, journal: opts.journal });
}
