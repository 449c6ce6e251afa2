#!/usr/bin/env node
// Sluice benchmark: the gateway against a direct PostgreSQL connection and a
// plain Node TCP relay, in the same run, on the same machine.
//
//   pnpm bench [--duration 15 --clients 4 --runs 3 --only pgbench|large --cpu-prof]
//
// 1. Throughput: `pgbench -S` (select-only) in prepared / extended / simple
//    query mode against direct, relay and Sluice, runs interleaved, median TPS.
// 2. Large result: 1,000,000 rows (and 100,000) streamed through each endpoint
//    with masking active in Sluice; wall time, rows/s and the gateway's peak RSS.
//
// 3. MySQL throughput: point selects from a small mysql2 load generator
//    (lib/myload.mjs; query() and execute()) against MariaDB direct, the relay
//    and Sluice's mysql listener, runs interleaved, median queries/s. Then a
//    large result: the 100k-row table ten times on one connection (emails
//    masked through Sluice); wall time and the proxy's CPU per row.
//
// 4. SSH (only with --only ssh): scp of a --ssh-mb (256) MiB file, upload and
//    download (SFTP protocol, scp's default) and upload with scp -O (legacy
//    protocol through exec), against a temporary sshd directly, through the
//    TCP relay and through Sluice's ssh listener; median wall time and MB/s.
//
// Not a test: it prints figures and exits non-zero only when a run fails.
// Needs: a built gateway (`pnpm build`), PostgreSQL on 127.0.0.1:5432 with
// trust auth for user postgres, and pgbench on PATH; for the MySQL part,
// MariaDB/MySQL on 127.0.0.1:3306 (root, empty password) and mysql2 in
// packages/mysql/node_modules.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, closeSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WireClient } from './lib/wire.mjs';
import { cpuSeconds, diff, machineBusySeconds, foreignCpu, foreignDelta, freePort, median, memory, resetPeakRss, run, sampleRss, sleep, snapshot, stopChild, waitForPort } from './lib/proc.mjs';
import { summarizeProfile } from './lib/profile.mjs';
import { staleBuild } from './lib/build.mjs';
import { startBenchSshd } from './lib/sshd.mjs';
import { makeRandomFile, scpOnce, sha256File } from './lib/scp.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const CLI = join(ROOT, 'apps/sluice/dist/cli.js');

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', admin: 'postgres' };
const BENCH_DB = 'sluice_bench';
const CONNECTION = 'bench';
const ALL_MODES = ['prepared', 'extended', 'simple'];
/** MySQL part: root (empty password) creates the database, table and a bench account that everyone uses. */
const MY = { host: '127.0.0.1', port: 3306, admin: 'root', adminPassword: '', user: 'sluice_bench', password: 'sluice-bench', database: 'sluice_bench_my', rows: 100000 };
const MY_CONNECTION = 'bench_my';
const MY_PASSWORD_ENV = 'SLUICE_BENCH_MY_PASSWORD';
/** SSH part: the Sluice connection name (= the ssh user name clients give), transfers, and the one cipher every endpoint uses. */
const SSH_CONNECTION = 'bench_ssh';
const SSH_MODES = ['put', 'get', 'put -O'];
const SSH_CIPHER = 'aes128-gcm@openssh.com';
// The gateway's config refers to the target password by reference (config check, keys create and start read it).
process.env[MY_PASSWORD_ENV] = MY.password;
/** Other processes using more than this many cores during a run make it noisy. */
const BUSY_CORES = 0.15;

// ------------------------------------------------------------------ options

const HELP = `usage: node tools/bench/run.mjs [options]      (or: pnpm bench [options])

  --duration S      seconds per pgbench run (default 15)
  --clients N       pgbench clients (default 4); threads: --threads (default 2)
  --runs N          pgbench runs per endpoint × mode, interleaved; median reported (default 3)
  --modes LIST      pgbench query modes (default prepared,extended,simple)
  --warmup S        seconds of unrecorded pgbench per endpoint × mode before round 1 (default 2; 0 = none)
  --only WHAT       pgbench | large | mysql (default: all three) | ssh (only when asked: scp through a
                    temporary sshd, which needs root or an sshd the bench user may run)
  --ssh-mb N        size of the scp file in MiB (default 256)
  --rows N          rows of the large result (default 1000000); also runs N/10 for the RSS comparison
  --large-runs N    repetitions of each large-result run (default 2)
  --scale N         pgbench -i scale of the ${BENCH_DB} database when it is created (default 10)
  --idle-wait S     before each run, wait up to S seconds (4 × S in all) for other processes on the
                    machine to use < ${BUSY_CORES} of a core (default 30; 0 = don't wait). Runs during which
                    they used more are marked * (their figures are noisy)
  --cpu-prof        run the Sluice child under node --cpu-prof and print where its CPU time goes
                    (profiling costs some throughput: Sluice figures are then pessimistic)
  --node-args=ARGS  extra node options for the Sluice child, space-separated (e.g.
                    --node-args=--perf-basic-prof, so that \`perf record -p PID\` names JavaScript frames)
  --keep            keep the temp directory (config, data, logs, profile)
  -h, --help        this text

Environment: SLUICE_LOG_LEVEL is passed on to the gateway (default: the gateway's own).`;

let opts;
try {
  // `pnpm bench -- --x` passes the `--` through: drop it.
  const args = process.argv.slice(2);
  if (args[0] === '--') args.shift();
  ({ values: opts } = parseArgs({
    args,
    options: {
      duration: { type: 'string', default: '15' },
      clients: { type: 'string', default: '4' },
      threads: { type: 'string', default: '2' },
      runs: { type: 'string', default: '3' },
      modes: { type: 'string', default: ALL_MODES.join(',') },
      warmup: { type: 'string', default: '2' },
      only: { type: 'string' },
      rows: { type: 'string', default: '1000000' },
      'ssh-mb': { type: 'string', default: '256' },
      'large-runs': { type: 'string', default: '2' },
      scale: { type: 'string', default: '10' },
      'idle-wait': { type: 'string', default: '30' },
      'cpu-prof': { type: 'boolean', default: false },
      'node-args': { type: 'string', default: '' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  }));
} catch (e) {
  console.error(`bench: ${e.message}\n\n${HELP}`);
  process.exit(2);
}
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}

function int(name, min) {
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < min) {
    console.error(`bench: --${name} must be an integer ≥ ${min} (got ${JSON.stringify(opts[name])})`);
    process.exit(2);
  }
  return v;
}
const DURATION = int('duration', 1);
const CLIENTS = int('clients', 1);
/** Cores the whole bench shares (PostgreSQL, pgbench and the proxy). */
const CORES = cpus().length;
const THREADS = Math.min(int('threads', 1), CLIENTS);
const RUNS = int('runs', 1);
const WARMUP = int('warmup', 0);
const ROWS = int('rows', 10);
const SMALL_ROWS = Math.max(1, Math.round(ROWS / 10));
const LARGE_RUNS = int('large-runs', 1);
const SCALE = int('scale', 1);
const IDLE_WAIT = int('idle-wait', 0);
const MODES = opts.modes.split(',').map((m) => m.trim()).filter(Boolean);
for (const m of MODES) {
  if (!ALL_MODES.includes(m)) {
    console.error(`bench: unknown --modes entry "${m}" (expected ${ALL_MODES.join(', ')})`);
    process.exit(2);
  }
}
if (opts.only && !['pgbench', 'large', 'mysql', 'ssh'].includes(opts.only)) {
  console.error(`bench: --only must be pgbench, large, mysql or ssh (got "${opts.only}")`);
  process.exit(2);
}
const DO_PGBENCH = !opts.only || opts.only === 'pgbench';
const DO_LARGE = !opts.only || opts.only === 'large';
const DO_MYSQL = !opts.only || opts.only === 'mysql';
const DO_SSH = opts.only === 'ssh';
const SSH_MB = int('ssh-mb', 1);
const DO_PG = DO_PGBENCH || DO_LARGE;

// ----------------------------------------------------------------- output

const out = (s = '') => process.stdout.write(s + '\n');
const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : 'n/a');
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const mb = (kb) => (Number.isFinite(kb) ? `${(kb / 1024).toFixed(1)} MB` : 'n/a');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(3) : 'n/a');

/** Everything that went wrong; printed at the end, and the exit code. */
const failures = [];
function fail(what, detail) {
  failures.push({ what, detail });
  out(`  FAILED: ${what}`);
  if (detail) out(indent(detail.trimEnd(), '    | '));
}
const indent = (s, p) => s.split('\n').map((l) => p + l).join('\n');
const tail = (s, n = 30) => s.trimEnd().split('\n').slice(-n).join('\n');

// ------------------------------------------------------------ housekeeping

const tmp = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
const children = new Set();
let cleaning = false;
async function cleanup() {
  if (cleaning) return;
  cleaning = true;
  await Promise.all([...children].map((c) => stopChild(c, 5000)));
  if (!opts.keep && !failures.length) rmSync(tmp, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    out(`\n${sig}: stopping children…`);
    cleanup().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ endpoints

/** @typedef {{name: string, host: string, port: number, user: string, database: string, password?: string, pid?: number, child?: import('node:child_process').ChildProcess, log?: string}} Endpoint */

/** @returns {Endpoint} */
function directEndpoint() {
  return { name: 'direct', host: PG.host, port: PG.port, user: PG.user, database: BENCH_DB };
}

/** @returns {Promise<Endpoint>} */
async function startRelay(target = PG) {
  const child = spawn(process.execPath, [join(HERE, 'relay.mjs'), '0', target.host, String(target.port)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const t = setTimeout(() => reject(new Error(`relay did not start within 10 s\n${err}`)), 10000);
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    child.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      const m = /listening (\d+)/.exec(buf);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`relay exited with code ${code}\n${err}`));
    });
  });
  child.stdout.resume();
  ownPids.add(child.pid);
  return { name: 'relay', host: '127.0.0.1', port, user: PG.user, database: BENCH_DB, pid: child.pid, child };
}

function sluiceConfig({ dataDir, pgPort, myPort, adminPort, ssh }) {
  return `# written by tools/bench/run.mjs
dataDir: ${JSON.stringify(dataDir)}
admin:
  listen: 127.0.0.1:${adminPort}
  groups: [admins]
listeners:
  postgres: 127.0.0.1:${pgPort}
${myPort ? `  mysql: 127.0.0.1:${myPort}\n` : ''}${ssh ? `  ssh: 127.0.0.1:${ssh.listenPort}\n` : ''}connections:
  - name: ${CONNECTION}
    type: postgres
    target: postgres://${PG.user}@${PG.host}:${PG.port}/${BENCH_DB}?sslmode=disable
    access: [bench]
${
  myPort
    ? `  - name: ${MY_CONNECTION}
    type: mysql
    target: mysql://${MY.user}@${MY.host}:${MY.port}/${MY.database}?ssl=disabled
    password: \${env:${MY_PASSWORD_ENV}}
    access: [bench]
`
    : ''
}${
  ssh
    ? `  - name: ${SSH_CONNECTION}
    type: ssh
    target: ssh://${ssh.user}@127.0.0.1:${ssh.port}
    privateKey: \${file:${ssh.gatewayKey}}
    hostKey: ${ssh.hostKeyFingerprint}
    access: [bench]
`
    : ''
}policies:
  - name: bench-pii
    mask:
      detectors: [credit_card, email]
      columns: ["pgbench_accounts.filler"]
      strategy: redact
`;
}

/** @returns {Promise<Endpoint>} */
async function startSluice(sshd = null) {
  if (!existsSync(CLI)) throw new Error(`${CLI} not found: run \`pnpm build\` first`);
  const [pgPort, adminPort] = [await freePort(), await freePort()];
  const myPort = DO_MYSQL ? await freePort() : 0;
  const sshPort = sshd ? await freePort() : 0;
  const dataDir = join(tmp, 'data');
  const cfgPath = join(tmp, 'sluice.yaml');
  writeFileSync(cfgPath, sluiceConfig({ dataDir, pgPort, myPort, adminPort, ssh: sshd ? { ...sshd, listenPort: sshPort } : null }));

  const check = await run(process.execPath, [CLI, 'config', 'check', '-c', cfgPath], { cwd: tmp });
  if (check.code !== 0) throw new Error(`\`sluice config check -c ${cfgPath}\` failed (exit ${check.code}):\n${check.stderr}${check.stdout}\nconfig:\n${readFileSync(cfgPath, 'utf8')}`);

  const keyCmd = [CLI, 'keys', 'create', '--name', 'bench', '--groups', 'bench', '--json', '-c', cfgPath];
  const k = await run(process.execPath, keyCmd, { cwd: tmp });
  let key;
  try {
    if (k.code !== 0) throw new Error(`exit ${k.code}`);
    key = JSON.parse(k.stdout);
    if (typeof key.secret !== 'string') throw new Error('no "secret" in the output');
  } catch (e) {
    throw new Error(`\`node ${keyCmd.join(' ')}\` failed (${e.message}):\n${k.stderr}${k.stdout}`);
  }
  if (sshd) {
    // scp logs in to Sluice with the bench's client key, bound to the bench API key.
    const add = [CLI, 'keys', 'add-ssh', '--key', sshd.clientPub, '--id', key.id, '-c', cfgPath];
    const a = await run(process.execPath, add, { cwd: tmp });
    if (a.code !== 0) throw new Error(`\`node ${add.join(' ')}\` failed (exit ${a.code}):\n${a.stderr}${a.stdout}`);
  }

  const log = join(tmp, 'sluice.log');
  const fd = openSync(log, 'a');
  const nodeArgs = [...(opts['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(tmp, 'prof')}`] : []), ...opts['node-args'].split(' ').filter(Boolean)];
  const args = [...nodeArgs, CLI, 'start', '-c', cfgPath];
  const child = spawn(process.execPath, args, { cwd: tmp, stdio: ['ignore', fd, fd], env: { ...process.env } });
  closeSync(fd);
  children.add(child);
  ownPids.add(child.pid);
  let exited = null;
  child.once('exit', (code, signal) => {
    children.delete(child);
    exited = { code, signal };
  });
  const ep = { name: 'sluice', host: '127.0.0.1', port: pgPort, myPort, sshPort, user: 'bench', database: CONNECTION, password: key.secret, pid: child.pid, child, log, cfgPath, adminPort, startCmd: `node ${args.join(' ')}` };
  ep.state = () => (exited ? `sluice process (pid ${child.pid}) has EXITED: code ${exited.code}, signal ${exited.signal}` : `sluice process (pid ${child.pid}) is still running`);
  const deadErr = () => (exited ? new Error(`sluice exited (code ${exited.code}, signal ${exited.signal}) during start-up:\n${tail(readFileSync(log, 'utf8'))}`) : null);
  try {
    await waitForPort('127.0.0.1', pgPort, 30000, deadErr);
    if (myPort) await waitForPort('127.0.0.1', myPort, 30000, deadErr);
    if (sshPort) await waitForPort('127.0.0.1', sshPort, 30000, deadErr);
  } catch (e) {
    throw new Error(`${e.message}\ncommand: ${ep.startCmd}\nlog (${log}):\n${tail(readFileSync(log, 'utf8'))}`);
  }
  return ep;
}

/** Proves an endpoint answers a query (with a clear error if not). */
async function smoke(ep) {
  let c;
  try {
    c = await WireClient.connect({ ...ep, timeoutMs: 15000 });
    const r = await c.query('SELECT abalance FROM pgbench_accounts WHERE aid = 1');
    if (r.rows !== 1) throw new Error(`expected 1 row, got ${r.rows}`);
  } catch (e) {
    let more = '';
    if (ep.log) more = `\n${ep.state()}; log (${ep.log}), last lines:\n${tail(readFileSync(ep.log, 'utf8'), 20)}`;
    throw new Error(`${ep.name} (127.0.0.1:${ep.port}, db ${ep.database}) does not answer a query: ${e.message}${more}`);
  } finally {
    c?.close();
  }
}

// --------------------------------------------------------------- bench DB

async function ensureBenchDb() {
  const admin = await WireClient.connect({ host: PG.host, port: PG.port, user: PG.user, database: PG.admin }).catch((e) => {
    throw new Error(`cannot connect to PostgreSQL at ${PG.host}:${PG.port} as ${PG.user}: ${e.message}`);
  });
  try {
    const v = await admin.query('SHOW server_version');
    PG.version = v.firstRow?.[0];
    const r = await admin.query(`SELECT 1 FROM pg_database WHERE datname = '${BENCH_DB}'`);
    if (r.rows === 0) {
      out(`creating database ${BENCH_DB}`);
      await admin.query(`CREATE DATABASE ${BENCH_DB}`);
    }
  } finally {
    admin.close();
  }
  const db = await WireClient.connect({ host: PG.host, port: PG.port, user: PG.user, database: BENCH_DB });
  let scale = 0;
  try {
    scale = Number((await db.query('SELECT count(*) FROM pgbench_branches')).firstRow[0]);
    const acc = await db.query(`SELECT 1 FROM pgbench_accounts WHERE aid = ${scale * 100000}`);
    if (acc.rows !== 1) scale = 0;
  } catch {
    scale = 0;
  } finally {
    db.close();
  }
  if (scale > 0) {
    out(`reusing database ${BENCH_DB} (pgbench scale ${scale})`);
    return scale;
  }
  const args = ['-i', '-s', String(SCALE), '-q', '-h', PG.host, '-p', String(PG.port), '-U', PG.user, BENCH_DB];
  out(`initialising: pgbench ${args.join(' ')}`);
  const r = await run('pgbench', args, { env: { ...process.env, PGSSLMODE: 'disable' } });
  if (r.code !== 0) throw new Error(`pgbench ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return SCALE;
}

// ------------------------------------------------------- background load

/** Our own processes: never counted as background load. */
const ownPids = new Set([process.pid]);
const bgStats = { waits: 0, waitedMs: 0, gaveUp: 0 };

/** Waits (up to --idle-wait s) until the rest of the machine is quiet. */
async function waitIdle() {
  // Per run at most IDLE_WAIT s, in all at most 4 × IDLE_WAIT s: on a machine
  // that is simply busy, measure anyway (runs are marked) rather than stall.
  const budget = IDLE_WAIT * 4000 - bgStats.waitedMs;
  if (!IDLE_WAIT || budget <= 0) return;
  const until = Date.now() + Math.min(IDLE_WAIT * 1000, budget);
  const t0 = Date.now();
  let first = true;
  for (;;) {
    const a = foreignCpu(ownPids);
    await sleep(500);
    const cores = foreignDelta(a, foreignCpu(ownPids)) / 0.5;
    if (cores < BUSY_CORES) break;
    if (first) {
      bgStats.waits++;
      process.stdout.write(`  (other processes are using ${cores.toFixed(2)} cores; waiting up to ${fmt((until - Date.now()) / 1000)} s for quiet…)\n`);
      first = false;
    }
    if (Date.now() >= until) {
      bgStats.gaveUp++;
      break;
    }
  }
  bgStats.waitedMs += Date.now() - t0;
}

/** Runs fn, returning its result with `bgCores`: other processes' CPU use meanwhile. */
async function measured(fn) {
  await waitIdle();
  const a = foreignCpu(ownPids);
  const t0 = Date.now();
  const r = await fn();
  const secs = (Date.now() - t0) / 1000;
  r.bgCores = foreignDelta(a, foreignCpu(ownPids)) / Math.max(secs, 0.001);
  return r;
}
const mark = (r) => (r.bgCores > BUSY_CORES ? '*' : '');

// ------------------------------------------------------------------ pgbench

function pgbenchArgs(ep, mode, seconds) {
  return ['-n', '-S', '-M', mode, '-c', String(CLIENTS), '-j', String(THREADS), '-T', String(seconds), '-h', ep.host, '-p', String(ep.port), '-U', ep.user, ep.database];
}

async function pgbench(ep, mode, seconds) {
  const args = pgbenchArgs(ep, mode, seconds);
  const env = { ...process.env, PGSSLMODE: 'disable', PGAPPNAME: 'sluice-bench' };
  if (ep.password) env.PGPASSWORD = ep.password;
  else delete env.PGPASSWORD;
  const s0 = ep.pid ? snapshot(ep.pid) : null;
  const m0 = machineBusySeconds();
  const r = await run('pgbench', args, { env, timeoutMs: (seconds + 60) * 1000 });
  const machine = machineBusySeconds() - m0;
  const d = ep.pid ? diff(s0, snapshot(ep.pid)) : null;
  const cpu = d ? d.user + d.sys : NaN;
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(r.stdout);
  const txns = /number of transactions actually processed: (\d+)/.exec(r.stdout);
  const failed = /number of failed transactions: (\d+)/.exec(r.stdout);
  const lat = /latency average = ([\d.]+) ms/.exec(r.stdout);
  const shown = `${ep.password ? 'PGPASSWORD=<bench key> ' : ''}PGSSLMODE=disable pgbench ${args.join(' ')}`;
  const aborted = /aborted|error|fatal/i.test(r.stderr);
  if (r.code !== 0 || !tps || (failed && Number(failed[1]) > 0) || aborted) {
    let detail = `command: ${shown}\nexit: ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}\n${tail(r.stderr, 15)}\n${tail(r.stdout, 15)}`;
    if (ep.log) detail += `\n${ep.state()}; log (${ep.log}), last lines:\n${tail(readFileSync(ep.log, 'utf8'), 15)}`;
    return { ok: false, detail, command: shown };
  }
  const n = Number(txns?.[1] ?? NaN);
  const per = (x) => (d ? x / n : NaN);
  return {
    ok: true,
    tps: Number(tps[1]),
    txns: n,
    latencyMs: Number(lat?.[1] ?? NaN),
    cpuSec: cpu,
    cpuUsPerTxn: (cpu * 1e6) / n,
    // Everything else the machine did per transaction: PostgreSQL, pgbench, the kernel's loopback work.
    restUsPerTxn: ((machine - (d ? cpu : 0)) * 1e6) / n,
    userUsPerTxn: per(d?.user * 1e6),
    sysUsPerTxn: per(d?.sys * 1e6),
    // The event loop alone: one thread, so the proxy can never pass 1e6 / mainUsPerTxn.
    mainUsPerTxn: per(d?.main * 1e6),
    mainCores: d ? d.main / seconds : NaN,
    machineCores: machine / seconds,
    readsPerTxn: per(d?.syscr),
    writesPerTxn: per(d?.syscw),
    diskBytesPerTxn: per(d?.write_bytes),
    command: shown,
  };
}

async function throughput(endpoints) {
  out(`\n== 1. Throughput: pgbench -S, ${CLIENTS} clients, ${THREADS} threads, ${DURATION} s per run, ${RUNS} run(s) per endpoint × mode, interleaved`);
  const results = {}; // mode -> endpoint -> [result]
  for (const m of MODES) results[m] = Object.fromEntries(endpoints.map((e) => [e.name, []]));
  const dead = new Set();

  if (WARMUP > 0) {
    out(`warm-up (${WARMUP} s each, not recorded)`);
    for (const mode of MODES) {
      for (const ep of endpoints) {
        const r = await pgbench(ep, mode, WARMUP);
        if (!r.ok) {
          fail(`pgbench warm-up, ${ep.name}, -M ${mode}`, r.detail);
          dead.add(ep.name);
        }
      }
    }
  }

  const total = RUNS * MODES.length * endpoints.length;
  let i = 0;
  for (let round = 0; round < RUNS; round++) {
    for (let mi = 0; mi < MODES.length; mi++) {
      const mode = MODES[mi];
      // Rotate the order each time so no endpoint always runs first / last.
      const k = (round + mi) % endpoints.length;
      const order = [...endpoints.slice(k), ...endpoints.slice(0, k)];
      for (const ep of order) {
        i++;
        if (dead.has(ep.name)) continue;
        const r = await measured(() => pgbench(ep, mode, DURATION));
        const label = `[${lpad(i, String(total).length)}/${total}] ${pad(mode, 9)} ${pad(ep.name, 7)}`;
        if (!r.ok) {
          out(label);
          fail(`pgbench ${ep.name} -M ${mode}`, r.detail);
          dead.add(ep.name);
          continue;
        }
        results[mode][ep.name].push(r);
        const cpu = Number.isFinite(r.cpuUsPerTxn)
          ? `   ${ep.name}: ${fmt((100 * r.cpuSec) / DURATION)}% of a core (event loop ${fmt(100 * r.mainCores)}%), per txn ${fmt(r.cpuUsPerTxn, 1)} µs CPU (usr ${fmt(r.userUsPerTxn, 1)} sys ${fmt(r.sysUsPerTxn, 1)}; event loop ${fmt(r.mainUsPerTxn, 1)}), ${fmt(r.readsPerTxn, 2)} read + ${fmt(r.writesPerTxn, 2)} write syscalls`
          : '';
        out(`${label} ${lpad(fmt(r.tps), 7)} tps   latency ${r.latencyMs.toFixed(3)} ms   bg ${r.bgCores.toFixed(2)} cores${mark(r)}   machine ${fmt(r.machineCores, 2)} of ${CORES} cores   rest ${fmt(r.restUsPerTxn, 1)} µs/txn${cpu}`);
      }
    }
  }
  return results;
}

/**
 * The 0.85 × relay target as CPU arithmetic: the target server, its load
 * generator and the proxy share this machine's cores, so at 0.85 × the
 * relay's rate the proxy may spend at most cores / rate − (what the rest
 * used per transaction in the relay runs). `parts`: [mode, relay µs, sluice µs].
 */
function budgetLines(results, parts) {
  for (const [m, relayUs, sluiceUs] of parts) {
    const rate = 0.85 * median((results[m].relay ?? []).map((x) => x.tps));
    // The rest as measured with the relay (at the relay's rate): a slower proxy
    // also makes the server and client pay more per transaction (more sleeps
    // and wake-ups), which the target rate would not have.
    const rest = median((results[m].relay ?? []).map((x) => x.restUsPerTxn));
    const budget = (CORES * 1e6) / rate - rest;
    if (!Number.isFinite(budget)) continue;
    out(`  ${m}: at 0.85 × relay (${fmt(rate)}/s) on ${CORES} cores, with the rest of the machine at ${fmt(rest, 1)} µs per transaction (relay runs), the proxy could spend at most ${fmt(budget, 1)} µs (relay ${fmt(relayUs, 1)} µs, sluice ${fmt(sluiceUs, 1)} µs)`);
  }
}

/**
 * The other limit: Sluice's event loop is one thread. Its CPU per transaction
 * caps the rate at 1e6 / µs even with every core free, and long before that
 * the clients queue for it (a closed loop of CLIENTS connections). Printed
 * with how busy that thread and the whole machine were in the Sluice runs:
 * an event loop near a full core while the machine has cores to spare means
 * the rate is bound by that one thread, not by the machine.
 */
function loopLines(results, modes) {
  for (const m of modes) {
    const runs = results[m].sluice ?? [];
    const loopUs = median(runs.map((x) => x.mainUsPerTxn));
    if (!Number.isFinite(loopUs)) continue;
    const target = 0.85 * median((results[m].relay ?? []).map((x) => x.tps));
    out(
      `  ${m}: Sluice's event loop spent ${fmt(loopUs, 1)} µs per transaction and was ${fmt(100 * median(runs.map((x) => x.mainCores)))}% busy, the machine ${fmt(median(runs.map((x) => x.machineCores)), 2)} of ${CORES} cores;` +
        ` one thread's ceiling ${fmt(1e6 / loopUs)}/s vs 0.85 × relay ${fmt(target)}/s (the target needs the loop under ${fmt(1e6 / target, 1)} µs, and lower still for the clients' queueing)`,
    );
  }
}

function printThroughput(results, endpoints) {
  const names = ['direct', 'relay', 'sluice'];
  const runsOf = (mode, name) => results[mode][name] ?? [];
  const med = (mode, name) => median(runsOf(mode, name).map((r) => r.tps));
  out(`\nTPS, median of ${RUNS} (individual runs in brackets; * = other processes used > ${BUSY_CORES} cores meanwhile)`);
  const w = 11 + RUNS * 8;
  out(`${pad('mode', 10)}${names.map((n) => pad(n, w)).join('')}${['sluice/direct', 'sluice/relay', 'relay/direct'].map((h) => lpad(h, 14)).join('')}`);
  for (const mode of MODES) {
    const cells = names.map((n) => {
      const rs = runsOf(mode, n);
      if (!rs.length) return pad('     FAILED', w);
      return pad(`${lpad(fmt(med(mode, n)), 7)} [${rs.map((r) => Math.round(r.tps) + mark(r)).join(' ')}]`, w);
    });
    const s = med(mode, 'sluice');
    const r = med(mode, 'relay');
    const d = med(mode, 'direct');
    out(`${pad(mode, 10)}${cells.join('')}${lpad(ratio(s, d), 14)}${lpad(ratio(s, r), 14)}${lpad(ratio(r, d), 14)}`);
  }
  const gws = names.filter((n) => n !== 'direct');
  if (gws.length) {
    out(`\nProxy process cost per transaction, median (the relay's is the floor of any Node hop; syscalls = read/write family, sockets and files)`);
    const cols = [
      ['CPU µs', 'cpuUsPerTxn', 1],
      ['usr µs', 'userUsPerTxn', 1],
      ['sys µs', 'sysUsPerTxn', 1],
      ['reads', 'readsPerTxn', 2],
      ['writes', 'writesPerTxn', 2],
      ['disk B', 'diskBytesPerTxn', 0],
    ];
    out(`${pad('mode', 10)}${pad('proxy', 8)}${cols.map(([h]) => lpad(h, 9)).join('')}`);
    for (const mode of MODES) {
      for (const n of gws) {
        const rs = runsOf(mode, n);
        if (!rs.length) continue;
        out(`${pad(mode, 10)}${pad(n, 8)}${cols.map(([, k, dp]) => lpad(fmt(median(rs.map((r) => r[k])), dp), 9)).join('')}`);
      }
    }
  }
}

// ------------------------------------------------------------ large result

const largeSql = (n) => `SELECT g, 'user' || g || '@example.com' AS email, md5(g::text) AS digest FROM generate_series(1, ${n}) g`;

async function largeOnce(ep, rows) {
  const c = await WireClient.connect({ ...ep, timeoutMs: 15000 });
  try {
    let mem0 = null;
    let sampler = null;
    let hwmReset = false;
    const cpu0 = ep.pid ? cpuSeconds(ep.pid) : NaN;
    if (ep.pid) {
      hwmReset = resetPeakRss(ep.pid);
      mem0 = memory(ep.pid);
      sampler = sampleRss(ep.pid, 50);
    }
    const r = await c.query(largeSql(rows), Math.max(60000, rows / 5)); // ≥ 5,000 rows/s or it counts as stalled
    const sampledPeak = sampler ? sampler.stop() : NaN;
    const mem1 = ep.pid ? memory(ep.pid) : null;
    const cpu = ep.pid ? cpuSeconds(ep.pid) - cpu0 : NaN;
    if (r.rows !== rows) throw new Error(`expected ${rows} rows, got ${r.rows} (${r.command})`);
    return {
      ...r,
      rowsPerSec: r.rows / (r.ms / 1000),
      mbPerSec: r.bytes / 1048576 / (r.ms / 1000),
      cpuSec: cpu,
      baseRssKb: mem0?.rssKb ?? NaN,
      peakRssKb: hwmReset && mem1 ? Math.max(mem1.hwmKb, sampledPeak) : sampledPeak,
      endRssKb: mem1?.rssKb ?? NaN,
    };
  } finally {
    c.close();
  }
}

async function largeResult(endpoints) {
  out(`\n== 2. Large result: ${fmt(ROWS)} rows (and ${fmt(SMALL_ROWS)}) in one simple query, streamed and counted by a minimal wire client`);
  out(`   ${largeSql(ROWS)}`);
  const res = {}; // `${ep}:${rows}` -> [result]
  const dead = new Set();
  const plan = [];
  for (let r = 0; r < LARGE_RUNS; r++) {
    for (const ep of endpoints) {
      if (ep.name === 'sluice') plan.push([ep, SMALL_ROWS]);
      plan.push([ep, ROWS]);
    }
  }
  for (const [ep, rows] of plan) {
    if (dead.has(ep.name)) continue;
    const label = `${pad(ep.name, 7)} ${lpad(fmt(rows), 9)} rows`;
    let r;
    try {
      r = await measured(() => largeOnce(ep, rows));
    } catch (e) {
      out(label);
      let detail = e.message;
      if (ep.log) detail += `\n${ep.state()}; log (${ep.log}), last lines:\n${tail(readFileSync(ep.log, 'utf8'), 15)}`;
      fail(`large result via ${ep.name} (${rows} rows)`, detail);
      dead.add(ep.name);
      continue;
    }
    (res[`${ep.name}:${rows}`] ??= []).push(r);
    const mem = ep.pid ? `   RSS before ${mb(r.baseRssKb)}, peak ${mb(r.peakRssKb)}, after ${mb(r.endRssKb)}   CPU ${fmt(r.cpuSec, 2)} s (${fmt((r.cpuSec * 1e9) / rows, 0)} ns/row)` : '';
    out(`${label} ${lpad(fmt(r.ms / 1000, 2), 6)} s  ${lpad(fmt(r.rowsPerSec), 9)} rows/s  ${lpad(fmt(r.mbPerSec, 1), 5)} MB/s   bg ${r.bgCores.toFixed(2)} cores${mark(r)}${mem}`);
    if (ep.name === 'sluice' && !res.sample) {
      res.sample = r.firstRow;
      const email = r.firstRow?.[1];
      if (email === 'user1@example.com') fail('masking is not active through sluice', `first row came back unmasked: ${JSON.stringify(r.firstRow)}`);
    }
  }
  return res;
}

function printLarge(res) {
  const endpoints = ['direct', 'relay', 'sluice'].map((name) => ({ name }));
  out(`\nLarge result, median of ${LARGE_RUNS}`);
  out(`${pad('endpoint', 10)}${lpad('rows', 11)}${lpad('time s', 9)}${lpad('rows/s', 12)}${lpad('vs direct', 11)}${lpad('RSS before', 13)}${lpad('peak RSS', 11)}${lpad('max growth', 13)}`);
  out(`(sluice: RSS before = median at the start of the runs, peak = highest, max growth = largest peak − before of one run)`);
  const d = median((res[`direct:${ROWS}`] ?? []).map((r) => r.ms));
  for (const ep of endpoints) {
    for (const rows of ep.name === 'sluice' ? [SMALL_ROWS, ROWS] : [ROWS]) {
      const rs = res[`${ep.name}:${rows}`] ?? [];
      if (!rs.length) {
        out(`${pad(ep.name, 10)}${lpad(fmt(rows), 11)}  FAILED`);
        continue;
      }
      const ms = median(rs.map((r) => r.ms));
      const mem = ep.name === 'sluice';
      const base = median(rs.map((r) => r.baseRssKb));
      const peak = Math.max(...rs.map((r) => r.peakRssKb));
      const growth = Math.max(...rs.map((r) => r.peakRssKb - r.baseRssKb));
      out(
        `${pad(ep.name, 10)}${lpad(fmt(rows), 11)}${lpad(fmt(ms / 1000, 2), 9)}${lpad(fmt(rows / (ms / 1000)), 12)}${lpad(rows === ROWS ? ratio(d, ms) : '', 11)}` +
          (mem ? `${lpad(mb(base), 13)}${lpad(mb(peak), 11)}${lpad(mb(growth), 13)}` : ''),
      );
    }
  }
  if (res.sample) out(`sample row through sluice (masking): ${JSON.stringify(res.sample)}`);
}


// ------------------------------------------------------------ MySQL throughput

/** mysql2, from the mysql plugin's dev dependencies (the bench has no package of its own). */
function mysql2() {
  const req = createRequire(join(ROOT, 'packages/mysql/package.json'));
  return req('mysql2/promise');
}

/** Connection options for mysql2; through Sluice the key goes as the cleartext password. */
function myOptions(ep) {
  const o = { host: ep.host, port: ep.port, user: ep.user, password: ep.password ?? '', database: ep.database, connectTimeout: 15000 };
  if (ep.name === 'sluice') o.authPlugins = { mysql_clear_password: () => () => Buffer.from(`${ep.password}\0`) };
  return o;
}

/** Creates (once) the database, a 100k-row table and the bench account; returns the server version. */
async function ensureMyDb() {
  const mysql = mysql2();
  const admin = await mysql.createConnection({ host: MY.host, port: MY.port, user: MY.admin, password: MY.adminPassword, multipleStatements: true }).catch((e) => {
    throw new Error(`cannot connect to MySQL/MariaDB at ${MY.host}:${MY.port} as ${MY.admin} (empty password): ${e.message}`);
  });
  try {
    const [[v]] = await admin.query('SELECT VERSION() AS v');
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${MY.database}`);
    await admin.query(`CREATE TABLE IF NOT EXISTS ${MY.database}.t (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL, email VARCHAR(64) NOT NULL) ENGINE=InnoDB`);
    const [[c]] = await admin.query(`SELECT COUNT(*) AS n FROM ${MY.database}.t`);
    if (Number(c.n) !== MY.rows) {
      out(`filling ${MY.database}.t with ${fmt(MY.rows)} rows`);
      await admin.query(`TRUNCATE ${MY.database}.t`);
      // Batches of 10,000 (no dependency on MariaDB's sequence engine).
      for (let i = 1; i <= MY.rows; i += 10000) {
        const vals = [];
        for (let id = i; id < Math.min(i + 10000, MY.rows + 1); id++) vals.push(`(${id},'row-${id}','user${id}@example.com')`);
        await admin.query(`INSERT INTO ${MY.database}.t VALUES ${vals.join(',')}`);
      }
    } else out(`reusing ${MY.database}.t (${fmt(MY.rows)} rows)`);
    // A password-protected account, so the gateway's upstream authentication is exercised as in production.
    await admin.query(`CREATE USER IF NOT EXISTS '${MY.user}'@'127.0.0.1' IDENTIFIED BY '${MY.password}'`);
    await admin.query(`ALTER USER '${MY.user}'@'127.0.0.1' IDENTIFIED BY '${MY.password}'`);
    await admin.query(`GRANT SELECT ON ${MY.database}.* TO '${MY.user}'@'127.0.0.1'`);
    return v.v;
  } finally {
    await admin.end().catch(() => {});
  }
}

/** Proves a MySQL endpoint answers; through Sluice also that masking applies. Returns the row. */
async function smokeMy(ep) {
  let c;
  try {
    c = await mysql2().createConnection(myOptions(ep));
    const [rows] = await c.query('SELECT id, v, email FROM t WHERE id = 1');
    if (rows.length !== 1) throw new Error(`expected 1 row, got ${rows.length}`);
    if (ep.name === 'sluice' && rows[0].email === 'user1@example.com') throw new Error(`masking is not active: ${JSON.stringify(rows[0])}`);
    return rows[0];
  } catch (e) {
    let more = '';
    if (ep.log) more = `\n${ep.state()}; log (${ep.log}), last lines:\n${tail(readFileSync(ep.log, 'utf8'), 20)}`;
    throw new Error(`${ep.name} (127.0.0.1:${ep.port}, db ${ep.database}) does not answer a MySQL query: ${e.message}${more}`);
  } finally {
    await c?.end().catch(() => {});
  }
}

const MY_MODES = ['query', 'execute'];
const myQuerySql = 'SELECT v FROM t WHERE id = <random 1..100000>';
const MYLOAD = join(HERE, 'lib/myload.mjs');

/** One load run: lib/myload.mjs in its own process (its CPU is not background load). */
async function myload(ep, mode, seconds) {
  const spec = { host: ep.host, port: ep.port, user: ep.user, password: ep.password ?? '', database: ep.database, clear: ep.name === 'sluice', mode, seconds, clients: CLIENTS, rows: MY.rows };
  const shown = `node tools/bench/lib/myload.mjs '${JSON.stringify({ ...spec, password: ep.name === 'sluice' ? '<bench key>' : '…' })}'`;
  const s0 = ep.pid ? snapshot(ep.pid) : null;
  const m0 = machineBusySeconds();
  const child = spawn(process.execPath, [MYLOAD, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
  ownPids.add(child.pid);
  const r = await new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    const t = setTimeout(() => child.kill('SIGKILL'), (seconds + 60) * 1000);
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.once('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
  ownPids.delete(child.pid);
  const machine = machineBusySeconds() - m0;
  const d = ep.pid ? diff(s0, snapshot(ep.pid)) : null;
  let res = null;
  try {
    res = JSON.parse(r.stdout.trim().split('\n').at(-1));
  } catch {
    /* reported below */
  }
  if (r.code !== 0 || !res || res.errors > 0 || !(res.queries > 0)) {
    let detail = `command: ${shown}\nexit: ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}\n${tail(r.stderr, 15)}\n${tail(r.stdout, 15)}`;
    if (ep.log) detail += `\n${ep.state()}; log (${ep.log}), last lines:\n${tail(readFileSync(ep.log, 'utf8'), 15)}`;
    return { ok: false, detail, command: shown };
  }
  const n = res.queries;
  const cpu = d ? d.user + d.sys : NaN;
  const x = (v) => (d ? v / n : NaN);
  return {
    ok: true,
    tps: n / res.secs, // queries per second (named like the pgbench results)
    txns: n,
    secs: res.secs,
    latencyMs: (res.secs * 1000 * CLIENTS) / n,
    cpuSec: cpu,
    cpuUsPerTxn: (cpu * 1e6) / n,
    // Everything else per query (MariaDB, the load generator with its start-up, the kernel).
    restUsPerTxn: ((machine - (d ? cpu : 0)) * 1e6) / n,
    userUsPerTxn: x(d?.user * 1e6),
    sysUsPerTxn: x(d?.sys * 1e6),
    mainUsPerTxn: x(d?.main * 1e6),
    mainCores: d ? d.main / res.secs : NaN,
    machineCores: machine / res.secs,
    readsPerTxn: x(d?.syscr),
    writesPerTxn: x(d?.syscw),
    diskBytesPerTxn: x(d?.write_bytes),
    command: shown,
  };
}

async function myThroughput(endpoints) {
  out(`\n== 3. MySQL throughput: mysql2 load generator (lib/myload.mjs, own process), ${CLIENTS} connections, ${myQuerySql}, query() and execute(), ${DURATION} s per run, ${RUNS} run(s) per endpoint × mode, interleaved`);
  const results = Object.fromEntries(MY_MODES.map((m) => [m, Object.fromEntries(endpoints.map((e) => [e.name, []]))]));
  const dead = new Set();
  if (WARMUP > 0) {
    out(`warm-up (${WARMUP} s each, not recorded)`);
    for (const mode of MY_MODES) {
      for (const ep of endpoints) {
        const r = await myload(ep, mode, WARMUP);
        if (!r.ok) {
          fail(`MySQL warm-up, ${ep.name}, ${mode}`, r.detail);
          dead.add(ep.name);
        }
      }
    }
  }
  const total = RUNS * MY_MODES.length * endpoints.length;
  let i = 0;
  for (let round = 0; round < RUNS; round++) {
    for (let mi = 0; mi < MY_MODES.length; mi++) {
      const mode = MY_MODES[mi];
      const k = (round + mi) % endpoints.length;
      const order = [...endpoints.slice(k), ...endpoints.slice(0, k)];
      for (const ep of order) {
        i++;
        if (dead.has(ep.name)) continue;
        const r = await measured(() => myload(ep, mode, DURATION));
        const label = `[${lpad(i, String(total).length)}/${total}] ${pad(mode, 9)} ${pad(ep.name, 7)}`;
        if (!r.ok) {
          out(label);
          fail(`MySQL load ${ep.name} ${mode}`, r.detail);
          dead.add(ep.name);
          continue;
        }
        results[mode][ep.name].push(r);
        const cpu = Number.isFinite(r.cpuUsPerTxn)
          ? `   ${ep.name}: ${fmt((100 * r.cpuSec) / r.secs)}% of a core (event loop ${fmt(100 * r.mainCores)}%), per query ${fmt(r.cpuUsPerTxn, 1)} µs CPU (usr ${fmt(r.userUsPerTxn, 1)} sys ${fmt(r.sysUsPerTxn, 1)}; event loop ${fmt(r.mainUsPerTxn, 1)}), ${fmt(r.readsPerTxn, 2)} read + ${fmt(r.writesPerTxn, 2)} write syscalls`
          : '';
        out(`${label} ${lpad(fmt(r.tps), 7)} q/s   latency ${r.latencyMs.toFixed(3)} ms   bg ${r.bgCores.toFixed(2)} cores${mark(r)}   machine ${fmt(r.machineCores, 2)} of ${CORES} cores   rest ${fmt(r.restUsPerTxn, 1)} µs/q${cpu}`);
      }
    }
  }
  return results;
}

const MY_LARGE_REPEAT = 10;
const myLargeSql = 'SELECT id, v, email FROM t';

/** The whole 100k-row table MY_LARGE_REPEAT times on one connection (mysql2 `mode`: query = text rows, execute = binary rows); proxy CPU per row. */
async function myLargeOnce(ep, mode) {
  const c = await mysql2().createConnection(myOptions(ep));
  try {
    const cpu0 = ep.pid ? cpuSeconds(ep.pid) : NaN;
    const t0 = performance.now();
    let rows = 0;
    let first = null;
    for (let i = 0; i < MY_LARGE_REPEAT; i++) {
      const [rs] = await c[mode]({ sql: myLargeSql, rowsAsArray: true });
      rows += rs.length;
      first ??= rs[0];
    }
    const ms = performance.now() - t0;
    if (rows !== MY.rows * MY_LARGE_REPEAT) throw new Error(`expected ${MY.rows * MY_LARGE_REPEAT} rows, got ${rows}`);
    return { ms, rows, first, cpuSec: ep.pid ? cpuSeconds(ep.pid) - cpu0 : NaN };
  } finally {
    await c.end().catch(() => {});
  }
}

async function myLarge(endpoints) {
  out(`\n== 3b. MySQL large result: ${myLargeSql} (${fmt(MY.rows)} rows, emails masked through Sluice) ${MY_LARGE_REPEAT} times on one mysql2 connection, query() and execute(), ${LARGE_RUNS} run(s) per endpoint × mode`);
  const res = Object.fromEntries(MY_MODES.map((m) => [m, {}]));
  for (let r = 0; r < LARGE_RUNS; r++) {
    for (const mode of MY_MODES) {
      for (const ep of endpoints) {
        let x;
        try {
          x = await measured(() => myLargeOnce(ep, mode));
        } catch (e) {
          fail(`MySQL large result via ${ep.name} (${mode})`, e.message);
          continue;
        }
        if (ep.name === 'sluice' && x.first?.[2] === 'user1@example.com') fail('MySQL masking is not active through sluice', JSON.stringify(x.first));
        (res[mode][ep.name] ??= []).push(x);
        const cpu = Number.isFinite(x.cpuSec) ? `   CPU ${fmt(x.cpuSec, 2)} s (${fmt((x.cpuSec * 1e9) / x.rows, 0)} ns/row)` : '';
        out(`${pad(mode, 8)} ${pad(ep.name, 7)} ${lpad(fmt(x.rows), 9)} rows ${lpad(fmt(x.ms / 1000, 2), 6)} s  ${lpad(fmt(x.rows / (x.ms / 1000)), 9)} rows/s   bg ${x.bgCores.toFixed(2)} cores${mark(x)}${cpu}`);
      }
    }
  }
  return res;
}

function printMy(results) {
  const names = ['direct', 'relay', 'sluice'];
  const runsOf = (m, n) => results[m][n] ?? [];
  const med = (m, n) => median(runsOf(m, n).map((r) => r.tps));
  out(`\nMySQL queries/s (point selects, ${CLIENTS} connections), median of ${RUNS} (individual runs in brackets; * = other processes used > ${BUSY_CORES} cores meanwhile)`);
  const w = 11 + RUNS * 8;
  out(`${pad('mode', 10)}${names.map((n) => pad(n, w)).join('')}${['sluice/direct', 'sluice/relay', 'relay/direct'].map((h) => lpad(h, 14)).join('')}`);
  for (const m of MY_MODES) {
    const cells = names.map((n) => {
      const rs = runsOf(m, n);
      if (!rs.length) return pad('     FAILED', w);
      return pad(`${lpad(fmt(med(m, n)), 7)} [${rs.map((r) => Math.round(r.tps) + mark(r)).join(' ')}]`, w);
    });
    const [d, r, s] = names.map((n) => med(m, n));
    out(`${pad(m, 10)}${cells.join('')}${lpad(ratio(s, d), 14)}${lpad(ratio(s, r), 14)}${lpad(ratio(r, d), 14)}`);
  }
  out(`\nProxy process cost per query, median`);
  const cols = [
    ['CPU µs', 'cpuUsPerTxn', 1],
    ['usr µs', 'userUsPerTxn', 1],
    ['sys µs', 'sysUsPerTxn', 1],
    ['reads', 'readsPerTxn', 2],
    ['writes', 'writesPerTxn', 2],
    ['disk B', 'diskBytesPerTxn', 0],
  ];
  out(`${pad('mode', 10)}${pad('proxy', 8)}${cols.map(([h]) => lpad(h, 9)).join('')}`);
  for (const m of MY_MODES) {
    for (const n of ['relay', 'sluice']) {
      const rs = runsOf(m, n);
      if (!rs.length) continue;
      out(`${pad(m, 10)}${pad(n, 8)}${cols.map(([, k, dp]) => lpad(fmt(median(rs.map((r) => r[k])), dp), 9)).join('')}`);
    }
  }
}

// ------------------------------------------------------------------ SSH (scp)

async function sshTransfers(endpoints) {
  out(`\n== 4. SSH: scp of a ${SSH_MB} MiB file (${SSH_MODES.map((m) => `scp ${m}`).join(', ')}; put/get use scp's default SFTP protocol, -O the legacy one through exec), cipher ${SSH_CIPHER}, ${RUNS} run(s) per endpoint × mode, interleaved`);
  const dir = join(tmp, 'scp');
  mkdirSync(dir, { recursive: true });
  const source = join(dir, 'source.bin');
  makeRandomFile(source, SSH_MB);
  const hash = await sha256File(source);
  const bytes = SSH_MB * 1024 * 1024;
  const results = Object.fromEntries(SSH_MODES.map((m) => [m, Object.fromEntries(endpoints.map((e) => [e.name, []]))]));
  const dead = new Set();
  const total = RUNS * SSH_MODES.length * endpoints.length;
  let i = 0;
  for (let round = 0; round < RUNS; round++) {
    for (let mi = 0; mi < SSH_MODES.length; mi++) {
      const mode = SSH_MODES[mi];
      const k = (round + mi) % endpoints.length;
      const order = [...endpoints.slice(k), ...endpoints.slice(0, k)];
      for (const ep of order) {
        i++;
        if (dead.has(ep.name)) continue;
        const outPath = join(dir, `${mode === 'get' ? 'got' : 'put'}-${ep.name}.bin`);
        const s0 = ep.pid ? snapshot(ep.pid) : null;
        const r = await measured(() => scpOnce(ep, mode, { source, out: outPath, remoteSource: source, bytes, verifyHash: round === 0 ? hash : null, timeoutMs: 600_000 }));
        const d = ep.pid ? diff(s0, snapshot(ep.pid)) : null;
        const label = `[${lpad(i, String(total).length)}/${total}] scp ${pad(mode, 7)} ${pad(ep.name, 7)}`;
        if (!r.ok) {
          out(label);
          let detail = `command: ${r.command}\n${r.detail}`;
          if (ep.log) detail += `\n${ep.state()}; log (${ep.log}), last lines:\n${tail(readFileSync(ep.log, 'utf8'), 15)}`;
          fail(`scp ${mode} via ${ep.name}`, detail);
          dead.add(ep.name);
          continue;
        }
        r.mbps = SSH_MB / r.secs;
        r.cpuSec = d ? d.user + d.sys : NaN;
        r.cpuMsPerMb = (r.cpuSec * 1000) / SSH_MB;
        results[mode][ep.name].push(r);
        const cpu = Number.isFinite(r.cpuSec) ? `   ${ep.name}: ${fmt((100 * r.cpuSec) / r.secs)}% of a core, ${fmt(r.cpuMsPerMb, 2)} ms CPU per MiB` : '';
        out(`${label} ${lpad(r.secs.toFixed(2), 7)} s ${lpad(fmt(r.mbps, 1), 7)} MiB/s   bg ${r.bgCores.toFixed(2)} cores${mark(r)}${cpu}`);
      }
    }
  }
  rmSync(source, { force: true });
  return results;
}

function printSsh(results) {
  const names = ['direct', 'relay', 'sluice'];
  const med = (m, n) => median((results[m][n] ?? []).map((r) => r.mbps));
  out(`\nscp of ${SSH_MB} MiB, MiB/s, median of ${RUNS} (individual runs in brackets; * = other processes used > ${BUSY_CORES} cores meanwhile)`);
  const w = 11 + RUNS * 7;
  out(`${pad('mode', 10)}${names.map((n) => pad(n, w)).join('')}${['sluice/direct', 'sluice/relay', 'relay/direct'].map((h) => lpad(h, 14)).join('')}`);
  for (const m of SSH_MODES) {
    const cells = names.map((n) => {
      const rs = results[m][n] ?? [];
      if (!rs.length) return pad('     FAILED', w);
      return pad(`${lpad(fmt(med(m, n), 1), 7)} [${rs.map((r) => r.mbps.toFixed(0) + mark(r)).join(' ')}]`, w);
    });
    const [d, r, s] = names.map((n) => med(m, n));
    out(`${pad(m, 10)}${cells.join('')}${lpad(ratio(s, d), 14)}${lpad(ratio(s, r), 14)}${lpad(ratio(r, d), 14)}`);
  }
  out(`\nProxy process CPU per MiB transferred (ms), median`);
  for (const m of SSH_MODES) {
    const c = (n) => median((results[m][n] ?? []).map((r) => r.cpuMsPerMb));
    out(`${pad(m, 10)}relay ${lpad(fmt(c('relay'), 2), 8)}   sluice ${lpad(fmt(c('sluice'), 2), 8)}`);
  }
}

// ------------------------------------------------------------------- main

function gitState() {
  try {
    const head = readFileSync(join(ROOT, '.git/HEAD'), 'utf8').trim();
    return head;
  } catch {
    return '?';
  }
}

async function main() {
  const argv = [`--duration ${DURATION}`, `--clients ${CLIENTS}`, `--threads ${THREADS}`, `--runs ${RUNS}`, `--modes ${MODES.join(',')}`, `--warmup ${WARMUP}`, `--rows ${ROWS}`, `--large-runs ${LARGE_RUNS}`, `--idle-wait ${IDLE_WAIT}`];
  if (opts.only) argv.push(`--only ${opts.only}`);
  if (DO_SSH) argv.push(`--ssh-mb ${SSH_MB}`);
  if (opts['cpu-prof']) argv.push('--cpu-prof');
  if (opts['node-args']) argv.push(`--node-args=${JSON.stringify(opts['node-args'])}`);
  out(`reproduce: cd ${ROOT} && pnpm build && node tools/bench/run.mjs ${argv.join(' ')}`);
  const git = await run('git', ['-C', ROOT, 'log', '-1', '--format=%h %s']).catch(() => null);
  const dirty = await run('git', ['-C', ROOT, 'status', '--porcelain']).catch(() => null);
  out(`commit: ${git?.stdout.trim() || gitState()}${dirty?.stdout.trim() ? ` (+ ${dirty.stdout.trim().split('\n').length} uncommitted changes)` : ''}`);
  const pgbv = await run('pgbench', ['--version']).catch((e) => ({ stdout: `not found: ${e.message}` }));
  out(`node ${process.version}, ${pgbv.stdout.trim()}, ${cpus().length} CPUs (${cpus()[0]?.model}), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  if (existsSync(CLI)) {
    out(`gateway: ${CLI} built ${statSync(CLI).mtime.toISOString()}`);
    const stale = staleBuild(ROOT, CLI);
    if (stale) out(`WARNING: the gateway build is older than its sources (${stale.p.slice(ROOT.length + 1)} changed ${new Date(stale.m).toISOString()}); run \`pnpm build\` to measure the current code.`);
  }
  out(`temp dir: ${tmp}`);
  if (opts['cpu-prof']) out('NOTE: the Sluice child runs under --cpu-prof; its figures include profiler overhead.');

  let pgOk = DO_PG;
  if (DO_PG) {
    try {
      const scale = await ensureBenchDb();
      out(`PostgreSQL ${PG.version ?? '?'} at ${PG.host}:${PG.port}, database ${BENCH_DB}, scale ${scale}`);
    } catch (e) {
      fail('preparing the bench database', e.message);
      pgOk = false;
    }
  }
  let myOk = DO_MYSQL;
  if (DO_MYSQL) {
    try {
      const v = await ensureMyDb();
      out(`MySQL/MariaDB ${v} at ${MY.host}:${MY.port}, database ${MY.database}, user ${MY.user}`);
    } catch (e) {
      fail('preparing the MySQL bench database', e.message);
      myOk = false;
    }
  }
  let sshd = null;
  if (DO_SSH) {
    try {
      sshd = await startBenchSshd(join(tmp, 'sshd'));
      children.add(sshd.child);
      ownPids.add(sshd.pid);
      sshd.child.once('exit', () => children.delete(sshd.child));
      out(`sshd (temporary, ${sshd.hostKeyFingerprint}) at 127.0.0.1:${sshd.port}, user ${sshd.user}`);
    } catch (e) {
      fail('starting a temporary sshd', e.message);
    }
  }
  if (!pgOk && !myOk && !sshd) return;

  const endpoints = pgOk ? [directEndpoint()] : [];
  const myEndpoints = myOk ? [{ name: 'direct', host: MY.host, port: MY.port, user: MY.user, password: MY.password, database: MY.database }] : [];
  if (pgOk) {
    try {
      endpoints.push(await startRelay());
    } catch (e) {
      fail('starting the TCP relay', e.message);
    }
  }
  if (myOk) {
    try {
      myEndpoints.push({ ...(await startRelay(MY)), user: MY.user, password: MY.password, database: MY.database });
    } catch (e) {
      fail('starting the TCP relay for MySQL', e.message);
    }
  }
  const sshEndpoints = [];
  if (sshd) {
    const auth = { key: sshd.clientKey, cipher: SSH_CIPHER };
    sshEndpoints.push({ name: 'direct', port: sshd.port, user: sshd.user, ...auth });
    try {
      sshEndpoints.push({ ...(await startRelay({ host: '127.0.0.1', port: sshd.port })), user: sshd.user, ...auth });
    } catch (e) {
      fail('starting the TCP relay for sshd', e.message);
    }
  }
  let sluice = null;
  try {
    sluice = await startSluice(sshd);
    if (sshd) sshEndpoints.push({ ...sluice, port: sluice.sshPort, user: SSH_CONNECTION, key: sshd.clientKey, cipher: SSH_CIPHER });
    if (pgOk) endpoints.push(sluice);
    if (myOk) myEndpoints.push({ ...sluice, port: sluice.myPort, database: MY_CONNECTION });
  } catch (e) {
    fail('starting sluice', e.message);
  }
  for (const ep of [...endpoints]) {
    try {
      await smoke(ep);
    } catch (e) {
      fail(`smoke query via ${ep.name}`, e.message);
      endpoints.splice(endpoints.indexOf(ep), 1);
    }
  }
  let mySample = null;
  for (const ep of [...myEndpoints]) {
    try {
      const row = await smokeMy(ep);
      if (ep.name === 'sluice') mySample = row;
    } catch (e) {
      fail(`MySQL smoke query via ${ep.name}`, e.message);
      myEndpoints.splice(myEndpoints.indexOf(ep), 1);
    }
  }
  if (endpoints.length) out(`endpoints: ${endpoints.map((e) => `${e.name} 127.0.0.1:${e.port}${e.pid ? ` (pid ${e.pid})` : ''}`).join(', ')}`);
  if (myEndpoints.length) out(`MySQL endpoints: ${myEndpoints.map((e) => `${e.name} 127.0.0.1:${e.port}${e.pid ? ` (pid ${e.pid})` : ''}`).join(', ')}`);
  if (mySample) out(`MySQL row through sluice (masking): ${JSON.stringify(mySample)}`);
  if (sshEndpoints.length) out(`SSH endpoints: ${sshEndpoints.map((e) => `${e.name} 127.0.0.1:${e.port}${e.pid ? ` (pid ${e.pid})` : ''}`).join(', ')}`);
  if (sluice) out(`sluice: ${sluice.startCmd}  (config ${sluice.cfgPath}, log ${sluice.log})`);

  let tput = null;
  let large = null;
  let my = null;
  let myBig = null;
  if (DO_PGBENCH && endpoints.length) {
    tput = await throughput(endpoints);
    printThroughput(tput, endpoints);
  }
  if (DO_LARGE && endpoints.length) {
    large = await largeResult(endpoints);
    printLarge(large);
  }
  if (DO_MYSQL && myEndpoints.length) {
    my = await myThroughput(myEndpoints);
    printMy(my);
    myBig = await myLarge(myEndpoints);
  }
  let ssh = null;
  if (sshEndpoints.length) {
    ssh = await sshTransfers(sshEndpoints);
    printSsh(ssh);
  }

  // Profile: stop Sluice gracefully so V8 writes the profile.
  let profile = null;
  if (sluice && opts['cpu-prof']) {
    const t = snapshot(sluice.pid);
    await stopChild(sluice.child, 20000);
    const dir = join(tmp, 'prof');
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
    if (!files.length) fail('--cpu-prof', `no .cpuprofile written in ${dir} (did the gateway exit cleanly on SIGTERM?)`);
    else {
      // One profile per thread: the main thread (sessions) and the journal mover worker.
      for (const f of files.sort()) {
        const file = join(dir, f);
        profile = summarizeProfile(file, ROOT, 25);
        out(`\n== Sluice CPU profile, ${/\.0\.\d+\.cpuprofile$/.test(f) ? 'main thread' : 'worker thread'} (${file})`);
        out(`busy ${fmt(profile.busyMs / 1000, 1)} s of ${fmt(profile.totalMs / 1000, 1)} s sampled; percentages are of busy time.`);
        out(`The process used ${fmt(t.user, 1)} s user + ${fmt(t.sys, 1)} s system CPU in all: V8 samples wall time, so native frames that`);
        out(`make system calls (writev, writeBuffer, SQLite) also collect time spent descheduled inside them on a busy machine.`);
        out('\nself time by area:');
        for (const a of profile.areas.slice(0, 15)) out(`  ${lpad(a.pct.toFixed(1), 5)}%  ${lpad(fmt(a.ms), 7)} ms  ${a.area}`);
        out('\ntop functions by self time:');
        for (const fn of profile.functions) out(`  ${lpad(fn.pct.toFixed(1), 5)}%  ${lpad(fmt(fn.ms), 7)} ms  ${fn.name}  ${fn.where}`);
      }
    }
  }

  // Summary
  out('\n== Summary');
  if (tput) {
    for (const mode of MODES) {
      const s = median((tput[mode].sluice ?? []).map((r) => r.tps));
      const r = median((tput[mode].relay ?? []).map((r) => r.tps));
      const d = median((tput[mode].direct ?? []).map((r) => r.tps));
      const verdict = Number.isFinite(s) && Number.isFinite(r) ? (s >= 0.85 * r ? 'meets' : 'MISSES') + ' the ≥ 0.85 × relay target' : '';
      out(`pgbench -S -M ${pad(mode, 9)} direct ${lpad(fmt(d), 7)}  relay ${lpad(fmt(r), 7)}  sluice ${lpad(fmt(s), 7)} tps   sluice/relay ${ratio(s, r)}  sluice/direct ${ratio(s, d)}  ${verdict}`);
    }
    // CPU per transaction moves far less with background load than TPS does.
    const cpu = (mode, n) => median((tput[mode][n] ?? []).map((r) => r.cpuUsPerTxn));
    const parts = MODES.map((m) => [m, cpu(m, 'relay'), cpu(m, 'sluice')]).filter(([, r, s]) => Number.isFinite(r) && Number.isFinite(s));
    if (parts.length) out(`proxy CPU per transaction (robust to background load): ${parts.map(([m, r, s]) => `${m} relay ${fmt(r, 1)} µs, sluice ${fmt(s, 1)} µs (${(s / r).toFixed(1)}×)`).join('; ')}`);
    budgetLines(tput, parts);
    loopLines(tput, MODES);
  }
  if (large) {
    const t = (k) => median((large[k] ?? []).map((r) => r.ms));
    const s = large[`sluice:${ROWS}`] ?? [];
    const s10 = large[`sluice:${SMALL_ROWS}`] ?? [];
    const nsRow = (k) => median((large[k] ?? []).map((r) => (r.cpuSec * 1e9) / r.rows));
    out(
      `large result ${fmt(ROWS)} rows: direct ${fmt(t(`direct:${ROWS}`) / 1000, 2)} s, relay ${fmt(t(`relay:${ROWS}`) / 1000, 2)} s, sluice (masking) ${fmt(t(`sluice:${ROWS}`) / 1000, 2)} s = ${fmt(ROWS / (t(`sluice:${ROWS}`) / 1000))} rows/s` +
        `; proxy CPU per row: relay ${fmt(nsRow(`relay:${ROWS}`))} ns, sluice ${fmt(nsRow(`sluice:${ROWS}`))} ns`,
    );
    if (s.length && s10.length) {
      const p1 = Math.max(...s.map((r) => r.peakRssKb));
      const p0 = Math.max(...s10.map((r) => r.peakRssKb));
      out(`sluice peak RSS: ${mb(p0)} at ${fmt(SMALL_ROWS)} rows vs ${mb(p1)} at ${fmt(ROWS)} rows (${p1 - p0 > Math.max(32768, 0.25 * p0) ? 'GROWS with the result size' : 'flat'}); idle before: ${mb(median(s10.map((r) => r.baseRssKb)))}`);
    }
  }
  if (my) {
    for (const m of MY_MODES) {
      const [d, r, s] = ['direct', 'relay', 'sluice'].map((n) => median((my[m][n] ?? []).map((x) => x.tps)));
      const verdict = Number.isFinite(s) && Number.isFinite(r) ? (s >= 0.85 * r ? 'meets' : 'MISSES') + ' the ≥ 0.85 × relay target' : '';
      out(`mysql2 ${pad(m, 9)}        direct ${lpad(fmt(d), 7)}  relay ${lpad(fmt(r), 7)}  sluice ${lpad(fmt(s), 7)} q/s   sluice/relay ${ratio(s, r)}  sluice/direct ${ratio(s, d)}  ${verdict}`);
    }
    const c = (m, n) => median((my[m][n] ?? []).map((x) => x.cpuUsPerTxn));
    const parts = MY_MODES.map((m) => [m, c(m, 'relay'), c(m, 'sluice')]).filter(([, r, s]) => Number.isFinite(r) && Number.isFinite(s));
    if (parts.length) out(`MySQL proxy CPU per query: ${parts.map(([m, r, s]) => `${m} relay ${fmt(r, 1)} µs, sluice ${fmt(s, 1)} µs (${(s / r).toFixed(1)}×)`).join('; ')}`);
    budgetLines(my, parts);
    loopLines(my, MY_MODES);
  }
  if (myBig) {
    const n = MY.rows * MY_LARGE_REPEAT;
    for (const m of MY_MODES) {
      const t = (e) => median((myBig[m][e] ?? []).map((x) => x.ms));
      const ns = (e) => median((myBig[m][e] ?? []).map((x) => (x.cpuSec * 1e9) / x.rows));
      out(`MySQL large result ${fmt(n)} rows, ${pad(m + '():', 10)} direct ${fmt(t('direct') / 1000, 2)} s, relay ${fmt(t('relay') / 1000, 2)} s, sluice (masking) ${fmt(t('sluice') / 1000, 2)} s; proxy CPU per row: relay ${fmt(ns('relay'), 0)} ns, sluice ${fmt(ns('sluice'), 0)} ns`);
    }
  }
  if (ssh) {
    for (const m of SSH_MODES) {
      const [d, r, s] = ['direct', 'relay', 'sluice'].map((n) => median((ssh[m][n] ?? []).map((x) => x.mbps)));
      out(`scp ${pad(m, 7)} ${SSH_MB} MiB   direct ${lpad(fmt(d, 1), 6)}  relay ${lpad(fmt(r, 1), 6)}  sluice ${lpad(fmt(s, 1), 6)} MiB/s   sluice/relay ${ratio(s, r)}  sluice/direct ${ratio(s, d)}`);
    }
  }
  const all = [
    ...(ssh ? SSH_MODES.flatMap((m) => Object.values(ssh[m]).flat()) : []),
    ...(tput ? MODES.flatMap((m) => Object.values(tput[m]).flat()) : []),
    ...(large ? Object.entries(large).filter(([k]) => k !== 'sample').flatMap(([, v]) => v) : []),
    ...(my ? MY_MODES.flatMap((m) => Object.values(my[m]).flat()) : []),
    ...(myBig ? MY_MODES.flatMap((m) => Object.values(myBig[m]).flat()) : []),
  ];
  const noisy = all.filter((r) => r.bgCores > BUSY_CORES);
  out(
    `background load: ${noisy.length} of ${all.length} runs had other processes using > ${BUSY_CORES} cores (median over all runs ${median(all.map((r) => r.bgCores)).toFixed(2)}, max ${Math.max(0, ...all.map((r) => r.bgCores)).toFixed(2)})` +
      (bgStats.waits ? `; waited for quiet before ${bgStats.waits} runs (${fmt(bgStats.waitedMs / 1000)} s in all, gave up ${bgStats.gaveUp}×)` : ''),
  );
  if (noisy.length) out('  → the machine was not idle: treat ratios as indicative and rerun when it is.');
  if (sluice?.log && existsSync(sluice.log)) {
    const st = statSync(sluice.log);
    out(`sluice log: ${fmt(st.size)} bytes${opts.keep || failures.length ? ` (${sluice.log})` : ' (temp dir removed at exit; --keep keeps it)'}`);
  }
  if (failures.length) {
    out(`\n${failures.length} failure(s):`);
    for (const f of failures) {
      out(`- ${f.what}`);
      if (f.detail) out(indent(f.detail.trimEnd(), '    | '));
    }
    out(`temp dir kept: ${tmp}`);
  } else if (opts.keep) out(`temp dir kept: ${tmp}`);
}

try {
  await main();
} catch (e) {
  fail('bench crashed', e.stack ?? String(e));
}
await cleanup();
process.exit(failures.length ? 1 : 0);
