#!/usr/bin/env node
// Micro-benchmark for @sluice/sql (not a test).
//
//   cd packages/sql && node bench.mjs            # builds dist/ with tsup first
//   node bench.mjs --no-build                    # use the existing dist/
//
// Prints µs per classify for: the shape-cache hit path (a new literal every
// call, as pgbench -M simple or an agent sends), the raw libpg-query parse,
// and the full uncached classification.
import { execSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
if (!process.argv.includes('--no-build')) execSync('npx tsup --silent', { cwd: here, stdio: 'inherit' });

const sql = await import('./dist/index.js');
const { parseSync } = await import('libpg-query');
await sql.loadSqlParser();

/** Best of three passes over n inputs (the first passes also warm the JIT up). */
function bench(name, n, fn) {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000 / n);
  }
  console.log(`${name.padEnd(58)} ${best.toFixed(2).padStart(8)} µs/op`);
  return best;
}

const statements = {
  'pgbench -S select': (i) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${(i * 7919) % 100000};`,
  'pgbench update': (i) => `UPDATE pgbench_accounts SET abalance = abalance + ${i % 5000} WHERE aid = ${(i * 31) % 100000};`,
  'insert with strings': (i) =>
    `INSERT INTO orders (customer, note, total) VALUES ('cust-${i}', 'it''s a note ${i}', ${i}.50) RETURNING id`,
  'join with comments': (i) =>
    `/* app=web */ SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id -- tail\nWHERE o.id = ${i} AND c.region = 'eu'`,
};

const classifier = new sql.PostgresClassifier();
console.log('shape-cache hits (a different literal every call):');
for (const [name, make] of Object.entries(statements)) {
  const texts = Array.from({ length: 50_000 }, (_, i) => make(i + 1));
  bench(`  classify  ${name}`, texts.length, (i) => classifier.classify(texts[i]));
}
console.log('lexer only:');
for (const [name, make] of Object.entries(statements)) {
  const texts = Array.from({ length: 50_000 }, (_, i) => make(i + 1));
  bench(`  shapeOf   ${name}`, texts.length, (i) => sql.shapeOf(texts[i]));
}
console.log('cache stats after the hit runs', sql.sqlCacheStats);
console.log('uncached:');
for (const [name, make] of Object.entries(statements)) {
  const texts = Array.from({ length: 3000 }, (_, i) => make(i + 1));
  bench(`  libpg-query parseSync  ${name}`, texts.length, (i) => parseSync(texts[i]));
  bench(`  classify, cache cleared ${name}`, texts.length, (i) => {
    sql.clearSqlCache();
    classifier.classify(texts[i]);
  });
}
