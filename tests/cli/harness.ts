/**
 * End-to-end harness for the built CLI: every call is `node apps/sluice/dist/cli.js …`
 * as a child process, in the test's own temp dir, with its own config, store,
 * PostgreSQL database and ports (listeners and admin bind to port 0; the bound
 * addresses are read from the gateway's startup log on stderr).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import selfsigned from 'selfsigned';
import { PG, serviceSkipReason } from '../support/services.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'apps/sluice/dist/cli.js');
export const PSQL = existsSync('/usr/bin/psql') ? '/usr/bin/psql' : 'psql';

/** The root `pnpm test` builds first; a bare `vitest run tests/cli` builds only when dist is missing. */
export function ensureBuilt(): void {
  const outputs = [CLI, ...['core', 'sql', 'store-sqlite', 'postgres'].map((p) => join(ROOT, 'packages', p, 'dist/index.js'))];
  if (outputs.every((f) => existsSync(f))) return;
  execFileSync('pnpm', ['build'], { cwd: ROOT, stdio: 'inherit' });
}

export async function pgSkip(): Promise<string | undefined> {
  return serviceSkipReason('PostgreSQL', PG.host, PG.port);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();

/** Kills whatever a test left running (only processes this harness spawned). */
export function killLeftovers(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}

/** An environment without SLUICE_* or PG* settings from the caller's shell. */
function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(SLUICE_|PG)/.test(k)) env[k] = v;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export interface Proc {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process exits. */
  done: Promise<RunResult>;
}

export function startProc(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; stdin?: string | 'pipe'; timeoutMs?: number } = {}): Proc {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: cleanEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  if (opts.stdin !== 'pipe') child.stdin!.end(opts.stdin ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  const done = new Promise<RunResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout: out, stderr: err });
    });
  });
  return { child, stdout: () => out, stderr: () => err, done };
}

/** One CLI invocation, run to completion. */
export function sluice(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<RunResult> {
  return startProc(process.execPath, [CLI, ...args], opts).done;
}

/** Parses the stdout of a `--json` command, with the output in the message when it is not JSON. */
export function parseJson<T = any>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// ------------------------------------------------------------------ TLS

let tls: Promise<{ cert: string; key: string }> | null = null;
/** One self-signed pair per test file, copied into each test's dataDir so start does not generate one. */
export function testTls(): Promise<{ cert: string; key: string }> {
  tls ??= (selfsigned as any)
    .generate([{ name: 'commonName', value: 'localhost' }], { days: 2, keySize: 2048 })
    .then((p: { cert: string; private: string }) => ({ cert: p.cert, key: p.private }));
  return tls!;
}

// ------------------------------------------------------------------ PostgreSQL

export interface TestDb {
  name: string;
  query(sql: string): Promise<pg.QueryResult>;
  drop(): Promise<void>;
}

async function rootQuery(database: string, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ host: PG.host, port: PG.port, user: PG.user, database });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A fresh database `sluice_t_<random>` with a small table of PII. */
export async function createDb(): Promise<TestDb> {
  const name = `sluice_t_${randomBytes(5).toString('hex')}`;
  await rootQuery('postgres', `CREATE DATABASE ${name}`);
  await rootQuery(
    name,
    `CREATE TABLE customers (id int PRIMARY KEY, name text, email text);
     INSERT INTO customers VALUES (1, 'Jane Doe', 'jane.doe@example.com'), (2, 'John Roe', 'john@example.org'), (3, 'Ann Poe', 'ann@example.net');`,
  );
  return {
    name,
    query: (sql) => rootQuery(name, sql),
    drop: async () => void (await rootQuery('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

// ------------------------------------------------------------------ config + gateway

export function configYaml(db: string, opts: { approvalTimeout?: string; adminListen?: string } = {}): string {
  return `# written by tests/cli
dataDir: ./data
admin:
  listen: ${opts.adminListen ?? '127.0.0.1:0'}
  groups: [admins]
listeners:
  postgres: 127.0.0.1:0
connections:
  - name: orders
    type: postgres
    target: postgres://${PG.user}@${PG.host}:${PG.port}/${db}?sslmode=disable
    access: [agents, dba]
policies:
  - name: no-ddl
    block:
      sql: [DROP, TRUNCATE, ALTER]
      message: DDL is not allowed through the gateway
  - name: bulk-writes-need-approval
    connections: [orders]
    approve:
      sql: [DELETE, UPDATE]
      unbounded: true
      approvers: [dba]
      timeout: ${opts.approvalTimeout ?? '1m'}
  - name: pii
    mask:
      detectors: [email]
      strategy: redact
`;
}

export interface Key {
  id: string;
  secret: string;
}

export interface Gateway {
  proc: Proc;
  pgPort: number;
  adminUrl: string;
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<RunResult>;
}

export interface Env {
  dir: string;
  config: string;
  db: TestDb;
  /** `sluice …` in the env's dir; `-c sluice.yaml` is added. */
  cli(args: string[], env?: Record<string, string | undefined>): Promise<RunResult>;
  /** `keys create` through the CLI. */
  key(name: string, groups: string[], onBehalfOf?: string): Promise<Key>;
  start(): Promise<Gateway>;
  gw: Gateway | null;
  /** psql to the gateway's `orders` connection with a credential as the password. */
  /**
   * psql to the gateway's `orders` connection with a credential as the
   * password: each statement one `-c`; null reads statements from stdin
   * (left open: write to proc.child.stdin).
   */
  psql(secret: string, sql: string | string[] | null, opts?: { stopOnError?: boolean; database?: string }): Proc;
  close(): Promise<void>;
}

export async function createEnv(opts: { approvalTimeout?: string; adminListen?: string; seedTls?: boolean } = {}): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  const db = await createDb();
  const config = join(dir, 'sluice.yaml');
  writeFileSync(config, configYaml(db.name, opts));
  if (opts.seedTls !== false) {
    const { cert, key } = await testTls();
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data/tls.crt'), cert);
    writeFileSync(join(dir, 'data/tls.key'), key, { mode: 0o600 });
  }
  const env: Env = {
    dir,
    config,
    db,
    gw: null,
    cli: (args, e) => sluice([...args, '-c', config], { cwd: dir, env: e }),
    async key(name, groups, onBehalfOf) {
      const args = ['keys', 'create', '--name', name, '--groups', groups.join(','), '--json'];
      if (onBehalfOf) args.push('--on-behalf-of', onBehalfOf);
      const r = await env.cli(args);
      if (r.code !== 0) throw new Error(`keys create failed: ${r.stderr}`);
      return parseJson<Key>(r);
    },
    async start() {
      const proc = startProc(process.execPath, [CLI, 'start', '-c', config], { cwd: dir, timeoutMs: 120_000 });
      let exited: RunResult | null = null;
      void proc.done.then((r) => (exited = r));
      await waitFor('the gateway to log its addresses', async () => {
        if (exited) throw new Error(`sluice start exited ${exited.code}: ${exited.stderr}`);
        return /admin API listening/.test(proc.stderr());
      }, 20_000, 25);
      let pgPort = 0;
      let adminUrl = '';
      for (const line of proc.stderr().split('\n')) {
        if (!line.startsWith('{')) continue;
        const o = JSON.parse(line) as { msg?: string; protocol?: string; address?: string; url?: string };
        if (o.msg === 'listening' && o.protocol === 'postgres') pgPort = Number(o.address!.split(':').pop());
        if (o.msg === 'admin API listening') adminUrl = o.url!;
      }
      if (!pgPort || !adminUrl) throw new Error(`could not read the bound addresses from:\n${proc.stderr()}`);
      const gw: Gateway = {
        proc,
        pgPort,
        adminUrl,
        async stop(signal = 'SIGTERM') {
          if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal);
          return proc.done;
        },
      };
      env.gw = gw;
      return gw;
    },
    psql(secret, sql, opts = {}) {
      if (!env.gw) throw new Error('gateway not started');
      const conn = `host=127.0.0.1 port=${env.gw.pgPort} user=alice dbname=${opts.database ?? 'orders'} sslmode=require connect_timeout=5`;
      const args = ['-X', '-A', '-t', '-v', 'VERBOSITY=verbose', '-d', conn];
      if (opts.stopOnError !== false) args.push('-v', 'ON_ERROR_STOP=1');
      for (const s of sql === null ? [] : Array.isArray(sql) ? sql : [sql]) args.push('-c', s);
      return startProc(PSQL, args, { cwd: dir, env: { PGPASSWORD: secret }, stdin: sql === null ? 'pipe' : '' });
    },
    async close() {
      if (env.gw) await env.gw.stop('SIGKILL');
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}

// ------------------------------------------------------------------ the SQLite store, raw

interface RawDb {
  prepare(sql: string): { run(...a: unknown[]): { changes: number }; get(...a: unknown[]): unknown; all(...a: unknown[]): unknown[] };
  close(): void;
}

/** better-sqlite3 as installed for packages/store-sqlite, to edit a store behind the gateway's back. */
export function openRawSqlite(path: string): RawDb {
  const req = createRequire(join(ROOT, 'packages/store-sqlite/package.json'));
  const Database = req('better-sqlite3') as new (p: string) => RawDb;
  return new Database(path);
}


export { freePort } from '../support/services.js';
