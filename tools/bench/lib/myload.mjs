#!/usr/bin/env node
// A small MySQL load generator (mysqlslap cannot name the database at connect
// time, which Sluice needs): N connections, each running point selects on
// random ids back to back for S seconds, with query() (COM_QUERY, text rows)
// or execute() (COM_STMT_PREPARE once, then COM_STMT_EXECUTE, binary rows).
//
//   node tools/bench/lib/myload.mjs '<json: host port user password database clear mode seconds clients rows>'
//
// Prints one JSON line: {queries, secs, errors, firstError}. Runs in its own
// process so the bench can keep its CPU apart from the proxy's.
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const mysql = createRequire(join(ROOT, 'packages/mysql/package.json'))('mysql2/promise');
const o = JSON.parse(process.argv[2]);
const sql = 'SELECT v FROM t WHERE id = ?';

const conns = await Promise.all(
  Array.from({ length: o.clients }, () =>
    mysql.createConnection({
      host: o.host,
      port: o.port,
      user: o.user,
      password: o.password,
      database: o.database,
      connectTimeout: 15000,
      ...(o.clear ? { authPlugins: { mysql_clear_password: () => () => Buffer.from(`${o.password}\0`) } } : {}),
    }),
  ),
);
let x = 12345 + o.clients;
const nextId = () => {
  x = (x * 1103515245 + 12345) % 2147483648;
  return 1 + (x % o.rows);
};
let queries = 0;
let errors = 0;
let firstError = null;
let stop = false;
const t0 = process.hrtime.bigint();
setTimeout(() => (stop = true), o.seconds * 1000);
await Promise.all(
  conns.map(async (c) => {
    while (!stop) {
      try {
        const id = nextId();
        const [rows] = o.mode === 'execute' ? await c.execute(sql, [id]) : await c.query(`SELECT v FROM t WHERE id = ${id}`);
        if (rows.length !== 1) throw new Error(`expected 1 row, got ${rows.length}`);
        queries++;
      } catch (e) {
        errors++;
        firstError ??= e.message;
        if (errors > 10) stop = true;
      }
    }
  }),
);
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
await Promise.all(conns.map((c) => c.end().catch(() => {})));
process.stdout.write(JSON.stringify({ queries, secs, errors, firstError }) + '\n');
