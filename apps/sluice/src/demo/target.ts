/**
 * The database behind `sluice demo`: an embedded PostgreSQL (PGlite, WASM)
 * seeded with a small shop full of FAKE personal data, reachable over TCP
 * with any PostgreSQL client (psql, node-postgres, the gateway).
 *
 * Connections: PGlite is a single backend. Any number of clients (up to
 * `maxConnections`) may be connected at once; their statements and
 * transactions take turns on that backend (see pglite-server.ts for the
 * exact rules). A client that has to wait longer than `lockTimeoutMs` -
 * because another session keeps a transaction open - gets an explicit
 * PostgreSQL error (SQLSTATE 55P03), never a silent close. Session settings
 * (SET, SQL PREPARE, temp tables) are shared while sessions overlap and
 * reset when the last one disconnects.
 *
 * The port is bound before PGlite starts (a busy port fails at once);
 * clients connecting during the start are answered when it is ready.
 */
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PgliteServer, withTimeout } from './pglite-server.js';
import { demoSeedSql, DEMO_TABLES } from './seed.js';

export interface DemoTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  /** postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable */
  url: string;
  close(): Promise<void>;
}

export interface DemoTargetOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Keep the database in this directory across runs; undefined = in memory. */
  dataDir?: string;
  /** Start-up progress, for the user (start-up takes a few seconds). */
  onProgress?: (msg: string) => void;
  /** Runtime notes: connections waiting for the shared backend, refused connections. */
  onLog?: (msg: string) => void;
  /** Longest a client waits for the shared backend before getting an error (default 15 000 ms). */
  lockTimeoutMs?: number;
  /** Most simultaneous client connections (default 32). */
  maxConnections?: number;
}

const USER = 'postgres';
const DATABASE = 'postgres';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function startDemoTarget(opts: DemoTargetOptions = {}): Promise<DemoTarget> {
  const progress = opts.onProgress ?? (() => {});
  const host = opts.host ?? '127.0.0.1';
  const t0 = Date.now();

  progress(
    opts.dataDir
      ? `starting embedded PostgreSQL (PGlite, WASM) with data in ${opts.dataDir}; this takes a few seconds…`
      : 'starting embedded PostgreSQL (PGlite, WASM) in memory; this takes a few seconds…',
  );
  if (opts.dataDir) await mkdir(opts.dataDir, { recursive: true });

  // Bind the port first: a busy port is reported at once, not after the WASM start.
  let resolveDb: (db: PGlite) => void = () => {};
  const server = new PgliteServer({
    db: new Promise<PGlite>((resolve) => (resolveDb = resolve)),
    host,
    port: opts.port ?? 0,
    user: USER,
    database: DATABASE,
    lockTimeoutMs: opts.lockTimeoutMs ?? 15_000,
    maxConnections: opts.maxConnections ?? 32,
    onLog: opts.onLog,
  });
  await server.listen();

  let db: PGlite | undefined;
  try {
    try {
      db = await PGlite.create(opts.dataDir ? { dataDir: opts.dataDir } : {});
    } catch (err) {
      throw new Error(
        `could not start the embedded PostgreSQL${opts.dataDir ? ` in ${opts.dataDir}` : ''}: ${(err as Error).message}`,
      );
    }
    progress(`PostgreSQL ready (${seconds(Date.now() - t0)})`);
    await seedIfNeeded(db, opts.dataDir, progress);
  } catch (err) {
    await server.close().catch(() => {});
    if (db) await withTimeout(db.close(), 5000);
    throw err;
  }
  resolveDb(db);

  const srv = server;
  const pglite = db;
  progress(`demo database listening on ${host}:${srv.port} (ready in ${seconds(Date.now() - t0)})`);

  let closing: Promise<void> | undefined;
  return {
    host,
    port: srv.port,
    user: USER,
    database: DATABASE,
    url: srv.url,
    close() {
      closing ??= (async () => {
        try {
          await srv.close();
        } finally {
          // A crashed PGlite may never settle close(); don't hang the caller's shutdown on it.
          await withTimeout(pglite.close(), 5000);
        }
      })();
      return closing;
    },
  };
}

/** Create the demo shop unless the (persistent) database already has it. */
async function seedIfNeeded(db: PGlite, dataDir: string | undefined, progress: (msg: string) => void): Promise<void> {
  const present = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY($1)`,
    [[...DEMO_TABLES]],
  );
  const n = present.rows[0]?.n ?? 0;
  if (n === DEMO_TABLES.length) {
    progress(`using the existing demo shop in ${dataDir}`);
    return;
  }
  if (n !== 0) {
    throw new Error(
      `the data directory ${dataDir} holds a partial demo schema (${n} of ${DEMO_TABLES.length} tables); ` +
        'delete the directory to start over',
    );
  }
  const t1 = Date.now();
  progress('creating the demo shop: customers, payment methods, orders, support tickets (all fake)…');
  await db.exec(demoSeedSql());
  const counts = await db.query<{ customers: number; payment_methods: number; orders: number; order_items: number; support_tickets: number }>(
    `SELECT (SELECT count(*)::int FROM customers) AS customers,
            (SELECT count(*)::int FROM payment_methods) AS payment_methods,
            (SELECT count(*)::int FROM orders) AS orders,
            (SELECT count(*)::int FROM order_items) AS order_items,
            (SELECT count(*)::int FROM support_tickets) AS support_tickets`,
  );
  const c = counts.rows[0];
  progress(
    `seeded ${c.customers} customers, ${c.payment_methods} payment methods, ${c.orders} orders ` +
      `(${c.order_items} items), ${c.support_tickets} support tickets (${seconds(Date.now() - t1)})`,
  );
}
