#!/usr/bin/env node
// Bundles the hot-path benches (pg-hotpath.ts, my-hotpath.ts) from the sources (esbuild, @sluice/* → packages/*/src)
// and runs them: the gateway's JavaScript cost per pgbench-like transaction or MySQL query.
//
//   node tools/bench/hotpath/run.mjs [--iterations 200000] [--rounds 3] [--mode prepared|extended|simple|query|execute] [--cpu-prof]
//   (query and execute: the MySQL bench's point select through mysql2's query() or execute())
//   node tools/bench/hotpath/run.mjs --instructions [--mode …]   (instructions per transaction, under valgrind)
//   node tools/bench/hotpath/run.mjs --rows 1000000   (a large masked result instead: cost per row)
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../../..');
// esbuild comes with tsup (a root dev dependency).
const { build } = createRequire(createRequire(join(ROOT, 'package.json')).resolve('tsup'))('esbuild');
const { values: o } = parseArgs({ options: { iterations: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '3' }, 'cpu-prof': { type: 'boolean', default: false }, rows: { type: 'string' }, mode: { type: 'string', default: 'prepared' }, instructions: { type: 'boolean', default: false } } });
const MYSQL_MODES = ['query', 'execute'];
if (![...['prepared', 'extended', 'simple'], ...MYSQL_MODES].includes(o.mode)) {
  console.error(`--mode must be prepared, extended, simple (pgbench -S) or query, execute (MySQL) (got "${o.mode}")`);
  process.exit(2);
}
const out = join(mkdtempSync(join(tmpdir(), 'sluice-hotpath-build-')), 'hotpath.cjs');
const alias = Object.fromEntries(['core', 'sql', 'store-sqlite', 'postgres', 'mysql'].map((p) => [`@sluice/${p}`, join(ROOT, `packages/${p}/src/index.ts`)]));
await build({
  entryPoints: [join(HERE, 'main.ts')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: out,
  alias,
  external: ['better-sqlite3', 'prom-client', 'libpg-query', 'node-sql-parser', 'pino', '@xterm/headless'],
  define: { 'import.meta.url': '__importMetaUrl' },
  banner: { js: "const __importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  nodePaths: [join(ROOT, 'node_modules'), join(ROOT, 'packages/store-sqlite/node_modules'), join(ROOT, 'packages/sql/node_modules'), join(ROOT, 'apps/sluice/node_modules')],
});
const env = { ...process.env, NODE_PATH: [join(ROOT, 'node_modules'), join(ROOT, 'packages/store-sqlite/node_modules'), join(ROOT, 'packages/sql/node_modules'), join(ROOT, 'apps/sluice/node_modules')].join(':') };

if (o.instructions) {
  // Instructions per transaction: the difference between a 30,000- and a
  // 10,000-transaction run under callgrind (start-up and warm-up cancel out),
  // with V8 compiling on the main thread so both runs do the same work.
  // Unlike time, the count does not drift with the machine.
  const count = (iterations) =>
    new Promise((done, fail) => {
      const file = join(dirname(out), `callgrind.${iterations}`);
      const child = spawn('valgrind', ['--tool=callgrind', '--separate-threads=yes', `--callgrind-out-file=${file}`, process.execPath, '--single-threaded', out, String(iterations), '1', '', o.mode], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c) => (err += c));
      child.on('error', (e) => fail(new Error(`cannot run valgrind (${e.message}); install it (Debian: apt-get install valgrind)`)));
      child.on('close', (code) => {
        const all = /Collected : (\d+)/.exec(err);
        // Thread 1 is the event loop (every session's JavaScript, the journal write).
        const main = existsSync(`${file}-01`) ? /^totals: (\d+)/m.exec(readFileSync(`${file}-01`, 'utf8')) : null;
        if (code === 0 && all && main) done({ all: Number(all[1]), main: Number(main[1]) });
        else fail(new Error(`valgrind exited ${code}:\n${err.slice(-2000)}`));
      });
    });
  try {
    // One after the other: two callgrind runs side by side slow each other
    // down, and the timer-driven work per transaction grows with that.
    const a = await count(10000);
    const b = await count(30000);
    const what = MYSQL_MODES.includes(o.mode) ? `MySQL ${o.mode}() query` : `pgbench -S -M ${o.mode} transaction`;
    const per = (k) => Math.round((b[k] - a[k]) / 20000);
    console.log(`instructions per ${what}: ${per('main')} on the event loop, ${per('all')} in all threads (callgrind, 30,000 minus 10,000 transactions)`);
    process.exit(0);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}

const args = [...(o['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${dirname(out)}`] : []), out, o.iterations, o.rounds, o.rows ?? '', o.mode];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: ROOT, env });
if (o['cpu-prof']) console.log(`profile in ${dirname(out)}`);
process.exit(r.status ?? 1);
