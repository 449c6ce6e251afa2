/**
 * A throw-away PostgreSQL server for upstream tests: its own data directory,
 * port and unix socket, TLS with a CA we generate, and a pg_hba.conf that
 * gives each role one authentication method. Run as the `postgres` OS user
 * (PostgreSQL refuses root), so the tests need root to switch to it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { freePort, skipOrFail } from '../support/services.js';
import { makeTestCerts } from '../support/certs.js';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_BIN = process.env.SLUICE_TEST_PGBIN ?? '/usr/lib/postgresql/15/bin';

/** Why the temp server cannot run here, or undefined when it can. */
export function tempServerSkipReason(): string | undefined {
  const why = ((): string | undefined => {
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'a temporary PostgreSQL must be started as the postgres OS user, which needs root';
    if (!existsSync(join(PG_BIN, 'initdb')) || !existsSync(join(PG_BIN, 'pg_ctl'))) return `no PostgreSQL binaries in ${PG_BIN}`;
    if (spawnSync('id', ['-u', 'postgres']).status !== 0) return 'there is no postgres OS user';
    if (spawnSync('openssl', ['version']).status !== 0) return 'the openssl CLI is missing';
    return undefined;
  })();
  return skipOrFail(why);
}

export interface Role {
  name: string;
  password: string;
}

export interface TempServer {
  dir: string;
  port: number;
  /** CA that signed the server certificate (PEM file). */
  caFile: string;
  /** A CA unrelated to the server (PEM file). */
  otherCaFile: string;
  roles: { scram: Role; md5: Role; clear: Role; trust: Role; sslOnly: Role; plainOnly: Role };
  /** The MD5 verifier stored for the md5 role ('md5' + md5(password + user)): password-equivalent. */
  md5Verifier: string;
  /** A superuser connection over the unix socket. */
  admin(): Promise<pg.Client>;
  stop(): void;
}

function asPostgres(args: string[]): void {
  execFileSync('runuser', ['-u', 'postgres', '--', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

export async function startTempServer(): Promise<TempServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pg-'));
  chmodSync(dir, 0o755);
  const pgUid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const pgGid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(dir, pgUid, pgGid);
  const data = join(dir, 'data');
  let started = false;
  const stop = () => {
    process.off('exit', stop);
    if (started) {
      spawnSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop'], { stdio: 'ignore' });
      started = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const certs = makeTestCerts(dir, 'test');
    for (const f of [certs.cert, certs.key]) {
      chownSync(f, pgUid, pgGid);
      chmodSync(f, 0o600);
    }
    asPostgres([join(PG_BIN, 'initdb'), '-D', data, '--no-sync', '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C']);

    const pw = (tag: string) => `Sk-${tag}-${randomBytes(9).toString('hex')}`;
    const roles = {
      scram: { name: 'u_scram', password: pw('scram') },
      md5: { name: 'u_md5', password: pw('md5') },
      clear: { name: 'u_clear', password: pw('clear') },
      trust: { name: 'u_trust', password: pw('trust') },
      sslOnly: { name: 'u_sslonly', password: pw('sslonly') },
      plainOnly: { name: 'u_plainonly', password: pw('plainonly') },
    };
    // First match wins. Loopback only (listen_addresses), so 'all' addresses are safe.
    writeFileSync(
      join(data, 'pg_hba.conf'),
      [
        'local     all all                        trust',
        `hostssl   all ${roles.sslOnly.name} all  scram-sha-256`,
        `hostnossl all ${roles.sslOnly.name} all  reject`,
        `hostssl   all ${roles.plainOnly.name} all reject`,
        `hostnossl all ${roles.plainOnly.name} all scram-sha-256`,
        `host      all ${roles.scram.name}   all  scram-sha-256`,
        `host      all ${roles.md5.name}     all  md5`,
        `host      all ${roles.clear.name}   all  password`,
        `host      all ${roles.trust.name}   all  trust`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    appendFileSync(
      join(data, 'postgresql.conf'),
      [
        '',
        `port = ${port}`,
        `listen_addresses = 'localhost'`,
        `unix_socket_directories = '${dir}'`,
        'ssl = on',
        `ssl_cert_file = '${certs.cert}'`,
        `ssl_key_file = '${certs.key}'`,
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        'shared_buffers = 16MB',
        'max_connections = 40',
        "log_min_messages = 'warning'",
        '',
      ].join('\n'),
    );
    // a crashed or killed test run must not leave a server behind
    process.once('exit', stop);
    started = true;
    asPostgres([join(PG_BIN, 'pg_ctl'), '-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start']);

    const admin = async () => {
      const c = new pg.Client({ host: dir, port, user: 'postgres', database: 'postgres' });
      c.on('error', () => undefined);
      await c.connect();
      return c;
    };
    const c = await admin();
    try {
      const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
      await c.query(`SET password_encryption = 'scram-sha-256'`);
      for (const r of [roles.scram, roles.clear, roles.trust, roles.sslOnly, roles.plainOnly]) await c.query(`CREATE ROLE ${r.name} LOGIN PASSWORD ${lit(r.password)}`);
      await c.query(`SET password_encryption = 'md5'`);
      await c.query(`CREATE ROLE ${roles.md5.name} LOGIN PASSWORD ${lit(roles.md5.password)}`);
      const v = await c.query<{ rolpassword: string }>(`SELECT rolpassword FROM pg_authid WHERE rolname = $1`, [roles.md5.name]);
      const md5Verifier = v.rows[0]!.rolpassword;
      if (!md5Verifier.startsWith('md5')) throw new Error(`the md5 role got a ${md5Verifier.slice(0, 8)}… verifier`);
      return { dir, port, caFile: certs.caFile, otherCaFile: certs.otherCaFile, roles, md5Verifier, admin, stop };
    } finally {
      await c.end();
    }
  } catch (e) {
    const log = join(dir, 'server.log');
    const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    stop();
    throw new Error(`cannot start a temporary PostgreSQL: ${(e as Error).message}\n${stderr}\n${tail}`);
  }
}

export { freePort };
