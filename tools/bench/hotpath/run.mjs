#!/usr/bin/env node
// Bundles pg-hotpath.ts from the sources (esbuild, @sluice/* → packages/*/src)
// and runs it: the gateway's JavaScript cost per pgbench-like transaction.
//
//   node tools/bench/hotpath/run.mjs [--iterations 200000] [--rounds 3] [--mode prepared|extended|simple] [--cpu-prof]
//   node tools/bench/hotpath/run.mjs --rows 1000000   (a large masked result instead: cost per row)
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../../..');
// esbuild comes with tsup (a root dev dependency).
const { build } = createRequire(createRequire(join(ROOT, 'package.json')).resolve('tsup'))('esbuild');
const { values: o } = parseArgs({ options: { iterations: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '3' }, 'cpu-prof': { type: 'boolean', default: false }, rows: { type: 'string' }, mode: { type: 'string', default: 'prepared' } } });
if (!['prepared', 'extended', 'simple'].includes(o.mode)) {
  console.error(`--mode must be prepared, extended or simple (got "${o.mode}")`);
  process.exit(2);
}
const out = join(mkdtempSync(join(tmpdir(), 'sluice-hotpath-build-')), 'hotpath.cjs');
const alias = Object.fromEntries(['core', 'sql', 'store-sqlite', 'postgres'].map((p) => [`@sluice/${p}`, join(ROOT, `packages/${p}/src/index.ts`)]));
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
const args = [...(o['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${dirname(out)}`] : []), out, o.iterations, o.rounds, o.rows ?? '', o.mode];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: ROOT, env: { ...process.env, NODE_PATH: [join(ROOT, 'node_modules'), join(ROOT, 'packages/store-sqlite/node_modules'), join(ROOT, 'packages/sql/node_modules'), join(ROOT, 'apps/sluice/node_modules')].join(':') } });
if (o['cpu-prof']) console.log(`profile in ${dirname(out)}`);
process.exit(r.status ?? 1);
