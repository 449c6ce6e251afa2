/**
 * A throw-away MariaDB server for upstream TLS tests: its own data directory,
 * port and unix socket, TLS with a CA and server certificate we generate, and
 * real accounts (no --skip-grant-tables). It runs as the `mysql` OS user, so
 * the tests need root to switch to it.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort, skipOrFail } from '../support/services.js';
import { makeTestCerts } from '../support/certs.js';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export const MARIADBD = process.env.SLUICE_TEST_MARIADBD ?? '/usr/sbin/mariadbd';
export const INSTALL_DB = process.env.SLUICE_TEST_MARIADB_INSTALL_DB ?? '/usr/bin/mariadb-install-db';
export const MARIADB_CLI = process.env.SLUICE_TEST_MARIADB_CLI ?? '/usr/bin/mariadb';

/** Why the temporary MariaDB cannot run here, or undefined when it can. */
export function tempMariadbSkipReason(): string | undefined {
  const why = ((): string | undefined => {
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'a temporary MariaDB must be started as the mysql OS user, which needs root';
    for (const bin of [MARIADBD, INSTALL_DB, MARIADB_CLI]) if (!existsSync(bin)) return `${bin} is missing`;
    if (spawnSync('id', ['-u', 'mysql']).status !== 0) return 'there is no mysql OS user';
    if (spawnSync('runuser', ['--version']).status !== 0) return 'runuser is missing';
    if (spawnSync('openssl', ['version']).status !== 0) return 'the openssl CLI is missing';
    return undefined;
  })();
  return skipOrFail(why);
}

export interface Account {
  name: string;
  password: string;
}

export interface TempMariadb {
  dir: string;
  port: number;
  /** Loopback addresses the server listens on; the certificate names only 127.0.0.1 (and localhost). */
  addresses: string[];
  /** CA that signed the server certificate (PEM file). */
  caFile: string;
  /** A CA unrelated to the server (PEM file). */
  otherCaFile: string;
  accounts: {
    /** mysql_native_password, no TLS requirement. */
    native: Account;
    /** mysql_native_password, REQUIRE SSL. */
    sslOnly: Account;
  };
  /** Runs SQL as root over the unix socket with the mariadb CLI; returns stdout (tab-separated, no headers). */
  sql(statements: string): string;
  stop(): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startTempMariadb(): Promise<TempMariadb> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-my-'));
  chmodSync(dir, 0o755);
  const uid = Number(execFileSync('id', ['-u', 'mysql']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'mysql']).toString().trim());
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const sock = join(dir, 's.sock');
  const pidFile = join(dir, 'mariadbd.pid');
  const log = join(dir, 'server.log');
  let child: ChildProcess | undefined;

  /** Kills the server (synchronously, so it also works from an exit handler) and deletes everything. */
  const stop = () => {
    process.off('exit', stop);
    const pids = new Set<number>();
    try {
      const p = Number(readFileSync(pidFile, 'utf8').trim());
      if (p > 0) pids.add(p);
    } catch {
      /* not started far enough to write a pid file */
    }
    if (child?.pid && child.exitCode === null) pids.add(child.pid);
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    child = undefined;
    rmSync(dir, { recursive: true, force: true });
  };
  // a crashed or killed test run must not leave a server behind
  process.once('exit', stop);

  const sql = (statements: string): string =>
    execFileSync(MARIADB_CLI, ['--no-defaults', `--socket=${sock}`, '-u', 'root', '--batch', '--skip-column-names', '-e', statements], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

  try {
    const certs = makeTestCerts(dir, 'MariaDB test');
    for (const f of [certs.cert, certs.key, certs.caFile]) {
      chownSync(f, uid, gid);
      chmodSync(f, 0o600);
    }
    chmodSync(certs.caFile, 0o644);
    // root@localhost authenticates by unix_socket: only OS root (us) gets in, over the socket.
    execFileSync('runuser', ['-u', 'mysql', '--', INSTALL_DB, '--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=socket', '--skip-test-db', '--skip-name-resolve'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });

    const port = await freePort();
    // 127.0.0.2 is loopback too, but not in the certificate: the identity check must catch it.
    const addresses = ['127.0.0.1', '127.0.0.2'];
    child = spawn(
      'runuser',
      [
        '-u',
        'mysql',
        '--',
        MARIADBD,
        '--no-defaults',
        `--datadir=${data}`,
        `--port=${port}`,
        `--bind-address=${addresses.join(',')}`,
        `--socket=${sock}`,
        `--pid-file=${pidFile}`,
        `--log-error=${log}`,
        `--ssl-cert=${certs.cert}`,
        `--ssl-key=${certs.key}`,
        `--ssl-ca=${certs.caFile}`,
        '--skip-name-resolve',
        '--skip-log-bin',
        '--innodb-buffer-pool-size=16M',
        '--innodb-flush-log-at-trx-commit=0',
        '--performance-schema=OFF',
        '--max-connections=50',
      ],
      { stdio: 'ignore' },
    );
    child.on('error', () => undefined);

    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`mariadbd exited with code ${child.exitCode}`);
      if (existsSync(sock) && spawnSync(MARIADB_CLI, ['--no-defaults', `--socket=${sock}`, '-u', 'root', '-e', 'SELECT 1'], { stdio: 'ignore' }).status === 0) break;
      if (Date.now() > deadline) throw new Error('mariadbd did not become ready within 20 s');
      await sleep(100);
    }

    const pw = (tag: string) => `Mk-${tag}-${randomBytes(9).toString('hex')}`;
    const accounts = {
      native: { name: 'u_native', password: pw('native') },
      sslOnly: { name: 'u_sslonly', password: pw('sslonly') },
    };
    const lit = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    sql(
      [
        // no anonymous accounts may shadow ours
        `DELETE FROM mysql.global_priv WHERE User = ''`,
        `FLUSH PRIVILEGES`,
        `CREATE DATABASE sluice_tls`,
        `CREATE USER ${lit(accounts.native.name)}@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD(${lit(accounts.native.password)})`,
        `CREATE USER ${lit(accounts.sslOnly.name)}@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD(${lit(accounts.sslOnly.password)}) REQUIRE SSL`,
        `GRANT ALL ON sluice_tls.* TO ${lit(accounts.native.name)}@'%'`,
        `GRANT ALL ON sluice_tls.* TO ${lit(accounts.sslOnly.name)}@'%'`,
      ].join(';\n'),
    );
    return { dir, port, addresses, caFile: certs.caFile, otherCaFile: certs.otherCaFile, accounts, sql, stop };
  } catch (e) {
    const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    stop();
    throw new Error(`cannot start a temporary MariaDB: ${(e as Error).message}\n${stderr}\n${tail}`);
  }
}

export { freePort };
