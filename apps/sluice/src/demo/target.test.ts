import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoTarget, startDemoTarget } from './target.js';

const PSQL = '/usr/bin/psql';
const LOCK_TIMEOUT_MS = 1500;

/** psql, asynchronously (the server lives in this process: a sync child would deadlock it). */
function psql(url: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      PSQL,
      ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', url, ...args],
      { env: { ...process.env, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' }, timeout: 15_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout: stdout.trim(), stderr }),
    );
    child.stdin?.end(); // psql waits on an open stdin after a failed COPY FROM STDIN (real PostgreSQL too)
  });
}

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {}); // server-side closes are asserted where expected
  await c.connect();
  return c;
}

function luhnOk(num: string): boolean {
  let sum = 0;
  for (let i = 0; i < num.length; i++) {
    let d = Number(num[num.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

const pgError = (e: unknown) => e as { code?: string; message: string; detail?: string; hint?: string };

describe('startDemoTarget', () => {
  let target: DemoTarget;
  let dataDir = '';
  const progress: string[] = [];
  const logs: string[] = [];
  let startMs = 0;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sluice-demo-'));
    const t0 = Date.now();
    target = await startDemoTarget({
      port: 0,
      dataDir,
      onProgress: (m) => progress.push(m),
      onLog: (m) => logs.push(m),
      lockTimeoutMs: LOCK_TIMEOUT_MS,
    });
    startMs = Date.now() - t0;
  });

  afterAll(async () => {
    await target?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('listens on a free port, reports progress, and describes itself', () => {
    expect(target.host).toBe('127.0.0.1');
    expect(target.port).toBeGreaterThan(0);
    expect(target.user).toBe('postgres');
    expect(target.database).toBe('postgres');
    expect(target.url).toBe(`postgres://postgres@127.0.0.1:${target.port}/postgres?sslmode=disable`);
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress.some((m) => /PGlite/.test(m))).toBe(true);
    expect(progress.some((m) => /seeded 50 customers/.test(m))).toBe(true);
    expect(progress.at(-1)).toContain(`127.0.0.1:${target.port}`);
    console.info(`demo target started in ${startMs} ms: ${progress.join(' | ')}`);
  });

  it('serves the seeded shop to node-postgres', async () => {
    const c = await client(target.url);
    try {
      const counts = await c.query(
        `SELECT (SELECT count(*)::int FROM customers) AS customers, (SELECT count(*)::int FROM orders) AS orders,
                (SELECT count(*)::int FROM products) AS products, (SELECT count(*)::int FROM support_tickets) AS tickets`,
      );
      expect(counts.rows[0]).toMatchObject({ customers: 50, orders: 200 });
      expect(counts.rows[0].products).toBeGreaterThan(0);
      expect(counts.rows[0].tickets).toBeGreaterThan(0);

      const cards = await c.query(`SELECT card_number, card_brand FROM payment_methods WHERE kind = 'card' ORDER BY id`);
      expect(cards.rows.length).toBeGreaterThanOrEqual(50);
      for (const r of cards.rows) expect(luhnOk(r.card_number), r.card_number).toBe(true);

      const email = await c.query(`SELECT email FROM customers WHERE email LIKE $1 ORDER BY id LIMIT 1`, ['%@example.com']);
      expect(email.rows[0].email).toMatch(/^[a-z._0-9]+@example\.com$/);
      const foreign = await c.query(`SELECT count(*)::int AS n FROM customers WHERE email !~ '@(mail\\.)?example\\.(com|org|net)$'`);
      expect(foreign.rows[0].n).toBe(0);

      const totals = await c.query(
        `SELECT count(*)::int AS bad FROM orders o
          WHERE o.total <> (SELECT sum(quantity * unit_price) FROM order_items i WHERE i.order_id = o.id)`,
      );
      expect(totals.rows[0].bad).toBe(0);
    } finally {
      await c.end();
    }
  });

  it('serves psql', async () => {
    const r = await psql(target.url, ['-c', "SELECT count(*) FROM customers WHERE email LIKE '%@example.com'", '-c', 'SELECT count(*) FROM orders']);
    expect(r.stderr).toBe('');
    const [examples, orders] = r.stdout.split('\n');
    expect(Number(examples)).toBeGreaterThan(0);
    expect(orders).toBe('200');
  });

  it('serves sequential connections, each starting with a clean session', async () => {
    const fresh = await psql(target.url, ['-c', 'SHOW search_path']);
    const a = await client(target.url);
    await a.query(`SET search_path = pg_catalog`);
    await a.query(`PREPARE leftover AS SELECT 1`);
    expect((await a.query('SHOW search_path')).rows[0].search_path).toBe('pg_catalog');
    await a.end();

    const r = await psql(target.url, ['-c', 'SHOW search_path', '-c', 'SELECT count(*) FROM pg_prepared_statements']);
    expect(r.stdout.split('\n')).toEqual([fresh.stdout, '0']);
    expect(fresh.stdout).not.toBe('pg_catalog');

    const b = await client(target.url);
    expect((await b.query('SELECT count(*)::int AS n FROM customers')).rows[0].n).toBe(50);
    await b.end();
    const c = await client(target.url);
    expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await c.end();
  });

  it('serves concurrent connections: statements interleave without mixing results', async () => {
    const clients = await Promise.all([1, 2, 3].map(() => client(target.url)));
    try {
      const wrong: string[] = [];
      await Promise.all(
        clients.map(async (c, ci) => {
          for (let i = 0; i < 25; i++) {
            // extended protocol (Parse/Bind/Execute/Sync) with parameters
            const r = await c.query('SELECT $1::int AS v, (SELECT full_name FROM customers WHERE id = $2) AS name', [ci * 100 + i, i + 1]);
            if (r.rows[0].v !== ci * 100 + i || typeof r.rows[0].name !== 'string') wrong.push(`${ci}/${i}`);
          }
        }),
      );
      expect(wrong).toEqual([]);
      // an error in one client's sequence doesn't disturb another's
      const [failed, ok] = await Promise.all([
        clients[0].query('SELECT $1::int / 0', [1]).then(() => 'no error', (e) => pgError(e).code),
        clients[1].query('SELECT $1::int + 1 AS y', [1]).then((r) => r.rows[0].y),
      ]);
      expect(failed).toBe('22012');
      expect(ok).toBe(2);
      // psql alongside the open pg connections
      const r = await psql(target.url, ['-c', 'SELECT count(*) FROM products']);
      expect(Number(r.stdout)).toBeGreaterThan(0);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it('gives each connection its own named prepared statements', async () => {
    const [a, b] = await Promise.all([client(target.url), client(target.url)]);
    try {
      const [ra, rb] = await Promise.all([
        a.query({ name: 'same_name', text: 'SELECT $1::text AS who', values: ['a'] }),
        b.query({ name: 'same_name', text: 'SELECT $1::text || $2::text AS who', values: ['b', '!'] }),
      ]);
      expect(ra.rows[0].who).toBe('a');
      expect(rb.rows[0].who).toBe('b!');
      // reuse (Bind to the existing named statement)
      expect((await a.query({ name: 'same_name', text: 'SELECT $1::text AS who', values: ['again'] })).rows[0].who).toBe('again');
    } finally {
      await a.end();
    }
    // a's statements are gone, b's stay
    const names = (await b.query('SELECT name FROM pg_prepared_statements ORDER BY name')).rows.map((r) => r.name);
    expect(names.filter((n) => n.endsWith('same_name'))).toHaveLength(1);
    await b.end();
  });

  it('makes a second connection wait while the first is in a transaction, then serves it', async () => {
    const a = await client(target.url);
    const b = await client(target.url); // connecting does not wait
    try {
      await a.query('BEGIN');
      await a.query(`UPDATE products SET stock = 4242 WHERE id = 1`);
      const t0 = Date.now();
      const pending = b.query('SELECT stock FROM products WHERE id = 1');
      await new Promise((r) => setTimeout(r, 300));
      await a.query('COMMIT');
      const r = await pending;
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(r.rows[0].stock).toBe(4242); // ran after the commit, saw it
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });

  it('answers a client that waited too long with a clear error, and keeps it usable', async () => {
    const a = await client(target.url);
    const b = await client(target.url);
    try {
      await a.query('BEGIN');
      const err = pgError(await b.query('SELECT 1').then(() => null, (e) => e));
      expect(err).not.toBeNull();
      expect(err.code).toBe('55P03');
      expect(err.message).toMatch(/demo database is busy/);
      expect(err.detail).toMatch(/one statement or transaction at a time/);
      expect(err.detail).toMatch(/open transaction/);
      expect(err.hint).toMatch(/COMMIT or ROLLBACK/);
      // same for psql, which connects fine and gets the error on its statement
      const r = await psql(target.url, ['-c', 'SELECT 1']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/demo database is busy/);
      await a.query('ROLLBACK');
      expect((await b.query('SELECT 2 AS two')).rows[0].two).toBe(2);
      expect(logs.some((l) => /gave up waiting/.test(l))).toBe(true);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });

  it('rolls back the transaction of a client that disconnects in the middle of it', async () => {
    const a = await client(target.url);
    await a.query('BEGIN');
    await a.query('DELETE FROM support_tickets');
    (a as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy(); // vanish, no Terminate
    const b = await client(target.url);
    try {
      expect((await b.query('SELECT count(*)::int AS n FROM support_tickets')).rows[0].n).toBeGreaterThan(0);
      expect((await b.query('SELECT 1 AS ok')).rows[0].ok).toBe(1); // not stuck in a failed transaction
    } finally {
      await b.end();
    }
  });

  it('refuses COPY FROM STDIN (which would crash PGlite) with an error, and stays alive', async () => {
    const r = await psql(target.url, ['-c', 'CREATE TEMP TABLE t_copy (x int)', '-c', '\\copy t_copy from stdin']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/COPY FROM STDIN is not supported by the Sluice demo database/);
    const c = await client(target.url);
    try {
      const e = pgError(await c.query("COPY customers FROM PROGRAM 'id'").then(() => null, (x) => x));
      expect(e.code).toBe('0A000');
      // inside a transaction the refusal aborts it, exactly like a server-side error
      await c.query('BEGIN');
      await c.query('COPY customers FROM STDIN').catch(() => {});
      expect(pgError(await c.query('SELECT 1').then(() => null, (x) => x)).code).toBe('25P02');
      await c.query('ROLLBACK');
      expect((await c.query('SELECT count(*)::int AS n FROM customers')).rows[0].n).toBe(50);
    } finally {
      await c.end();
    }
    const out = await psql(target.url, ['-c', '\\copy (SELECT id, email FROM customers ORDER BY id LIMIT 2) to stdout']);
    expect(out.stdout.split('\n')).toHaveLength(2);
  });

  it('refuses unknown users and databases like PostgreSQL does', async () => {
    const db = await psql(`postgres://postgres@127.0.0.1:${target.port}/shop?sslmode=disable`, ['-c', 'SELECT 1']);
    expect(db.code).not.toBe(0);
    expect(db.stderr).toMatch(/FATAL: +database "shop" does not exist/);
    const user = await psql(`postgres://alice@127.0.0.1:${target.port}/postgres?sslmode=disable`, ['-c', 'SELECT 1']);
    expect(user.stderr).toMatch(/FATAL: +role "alice" does not exist/);
    const e = pgError(await client(`postgres://postgres@127.0.0.1:${target.port}/nope`).then(() => null, (x) => x));
    expect(e.code).toBe('3D000');
  });

  it('answers SSLRequest with N (sslmode=prefer falls back to plaintext) and ignores CancelRequest', async () => {
    const r = await new Promise<string>((resolve) => {
      execFile(PSQL, ['-XAt', target.url.replace('sslmode=disable', 'sslmode=prefer'), '-c', 'SELECT 42'], (_e, out) => resolve(out.trim()));
    });
    expect(r).toBe('42');
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect(target.port, '127.0.0.1', () => {
        const cancel = Buffer.alloc(16);
        cancel.writeInt32BE(16, 0);
        cancel.writeInt32BE(80877102, 4);
        s.write(cancel);
      });
      s.on('close', () => resolve(true));
      s.on('error', () => resolve(true));
      setTimeout(() => resolve(false), 3000);
    });
    expect(closed).toBe(true);
  });

  it('close() ends live sessions with a FATAL and frees the port', async () => {
    const live = await client(target.url);
    const ended = new Promise<string>((resolve) => {
      live.on('error', (e) => resolve(e.message));
      live.on('end', () => resolve('end'));
    });
    await target.close();
    expect(await ended).toMatch(/shutting down|end|terminated/);
    await target.close(); // idempotent
    await new Promise<void>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(target.port, '127.0.0.1', () => srv.close(() => resolve()));
    });
    const refused = await client(target.url).then(() => 'connected', (e) => pgError(e).message);
    expect(refused).toMatch(/ECONNREFUSED/);
  });

  it('keeps a dataDir across restarts (seeded once, changes persist)', async () => {
    const c = await client(target.url).catch(() => null);
    expect(c).toBeNull(); // closed by the previous test
    const again: string[] = [];
    const port = target.port; // freed by close(): start there again
    const starting = startDemoTarget({ port, dataDir, onProgress: (m) => again.push(m) });
    // a client that connects while PGlite is still starting is served once it is ready
    await new Promise((r) => setTimeout(r, 100));
    const early = await client(`postgres://postgres@127.0.0.1:${port}/postgres`);
    const earlyCount = await early.query('SELECT count(*)::int AS n FROM orders');
    target = await starting;
    expect(target.port).toBe(port);
    expect(earlyCount.rows[0].n).toBe(200);
    await early.end();
    expect(again.some((m) => /using the existing demo shop/.test(m))).toBe(true);
    expect(again.some((m) => /seeded/.test(m))).toBe(false);
    // the UPDATE committed in the concurrency test is still there
    const r = await psql(target.url, ['-c', 'SELECT stock FROM products WHERE id = 1', '-c', 'SELECT count(*) FROM customers']);
    expect(r.stdout.split('\n')).toEqual(['4242', '50']);
  });
});

describe('startDemoTarget failures', () => {
  it('fails with a clear error when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const t0 = Date.now();
      await expect(startDemoTarget({ port })).rejects.toThrow(/already in use/);
      expect(Date.now() - t0).toBeLessThan(1000); // before the seconds-long WASM start
    } finally {
      blocker.close();
    }
  });
});
