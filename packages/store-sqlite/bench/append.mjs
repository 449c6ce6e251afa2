// Append throughput of the built store (not a test).
//   cd packages/store-sqlite && ../../node_modules/.bin/tsup && node bench/append.mjs [seconds-per-case]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../dist/index.js';

const seconds = Number(process.argv[2] ?? 2);
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
const data = {
  kind: 'SELECT',
  text: 'SELECT id, email, total FROM public.orders WHERE customer_id = 4711 ORDER BY created_at DESC LIMIT 20',
  objects: ['public.orders'],
  flags: [],
  decision: 'allow',
  policy: 'default',
};

async function run(sync, perTxn) {
  const store = openSqliteStore({ path: join(dir, `${sync}-${perTxn}.db`), synchronous: sync });
  const session = { id: 's1', connection: 'prod', protocol: 'postgres', subject: 'alice@example.com', actors: ['agent'], groups: ['eng'], via: 'api-key', client: '127.0.0.1:5000', startedAt: new Date().toISOString(), endedAt: null, endReason: null };
  await store.createSession(session);
  let seq = 0;
  const batch = () => Array.from({ length: perTxn }, () => {
    seq++;
    return { session: 's1', seq, at: new Date().toISOString(), type: 'command', data, prev: 'a'.repeat(64), hash: 'b'.repeat(64) };
  });
  for (let i = 0; i < 200; i++) await store.appendEvents(batch()); // warm-up
  let txns = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    await store.appendEvents(batch());
    txns++;
  }
  const s = (performance.now() - t0) / 1000;
  await store.close();
  console.log(`synchronous=${sync.padEnd(6)} ${String(perTxn).padStart(2)} event(s)/txn: ${Math.round(txns / s).toLocaleString('en').padStart(7)} txn/s  ${Math.round((txns * perTxn) / s).toLocaleString('en').padStart(8)} events/s  ${((s * 1e6) / txns).toFixed(1).padStart(7)} µs/txn`);
}

try {
  for (const sync of ['normal', 'full']) for (const n of [1, 10]) await run(sync, n);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
