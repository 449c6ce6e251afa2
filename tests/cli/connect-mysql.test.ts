/**
 * `sluice connect` for a MySQL connection: a loopback listener that lets the
 * MariaDB `mysql` CLI and mysql2 in without any password, through the
 * gateway's mysql listener (TLS, certificate pinned), as the credential's
 * subject — masking and blocking apply as for a direct client.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { createEnv, CLI, ensureBuilt, freePort, killLeftovers, parseJson, pgSkip, startProc, waitFor, type Env, type RunResult } from './harness.js';
import { serviceSkipReason } from '../support/services.js';

// mysql2 is a devDependency of packages/mysql; resolve it from there (as tests/mysql/fixture.ts does).
const require = createRequire(new URL('../../packages/mysql/package.json', import.meta.url));
const mysql = require('mysql2/promise') as typeof import('../../packages/mysql/node_modules/mysql2/promise.js');

const MY = { host: '127.0.0.1', port: Number(process.env.SLUICE_TEST_MYPORT ?? 3306), user: process.env.SLUICE_TEST_MYUSER ?? 'root', password: process.env.SLUICE_TEST_MYPASSWORD ?? '' };

const skip = (await pgSkip()) ?? (await serviceSkipReason('MariaDB', MY.host, MY.port));

beforeAll(() => ensureBuilt(), 300_000);
afterAll(() => killLeftovers());

function config(target: string, passwordFile: string): string {
  return `dataDir: ./data
admin:
  listen: 127.0.0.1:0
  groups: [admins]
listeners:
  mysql: 127.0.0.1:0
  postgres: 127.0.0.1:0
connections:
  - name: orders
    type: mysql
    target: ${target}
    password: \${file:${passwordFile}}
    access: [agents]
policies:
  - name: no-ddl
    block:
      sql: [DROP, TRUNCATE, ALTER]
      message: DDL is not allowed through the gateway
  - name: pii
    mask:
      detectors: [email]
`;
}

/** A fresh database and account on the machine's MariaDB, dropped when the test ends. */
async function myDatabase(): Promise<{ target: string; password: string }> {
  const db = `sluice_t_${randomBytes(5).toString('hex')}`;
  const user = `sluice_u_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const admin = await mysql.createConnection({ ...MY, multipleStatements: true });
  await admin.query(`
    CREATE DATABASE ${db};
    CREATE TABLE ${db}.customers (id int PRIMARY KEY, name text, email text);
    INSERT INTO ${db}.customers VALUES (1, 'Jane Doe', 'jane.doe@example.com'), (2, 'John Roe', 'john@example.org');
    CREATE USER '${user}'@'%' IDENTIFIED BY '${password}';
    GRANT ALL ON ${db}.* TO '${user}'@'%';
  `);
  onTestFinished(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${db}; DROP USER IF EXISTS '${user}'@'%'`);
    await admin.end();
  });
  return { target: `mysql://${user}@${MY.host}:${MY.port}/${db}?ssl=preferred`, password };
}

/** The MariaDB CLI against the local connect listener, with no password at all. */
function mysqlCli(port: number, sql: string, database: string | null = 'orders'): Promise<RunResult> {
  return startProc('mysql', ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', 'whatever', '-N', '-B', ...(database ? [database] : []), '-e', sql]).done;
}

describe.skipIf(!!skip)(`sluice connect (MySQL)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('mysql CLI and mysql2 get in without a password, as the key subject, with masking and blocking', { timeout: 90_000 }, async () => {
    const e: Env = await createEnv();
    onTestFinished(() => e.close());
    const my = await myDatabase();
    const pwFile = join(e.dir, 'orders-db-password');
    writeFileSync(pwFile, my.password, { mode: 0o600 });
    writeFileSync(e.config, config(my.target, pwFile));
    const alice = await e.key('alice@example.com', ['agents']);
    const gw = await e.start();

    const port = await freePort();
    const c = startProc(process.execPath, [CLI, 'connect', 'orders', '--port', String(port), '--server', gw.adminUrl, '--token', alice.secret, '-c', e.config], {
      cwd: e.dir,
      timeoutMs: 80_000,
    });
    await waitFor('connect to listen', async () => {
      if (c.child.exitCode !== null) throw new Error(`sluice connect exited ${c.child.exitCode}: ${c.stderr()}`);
      return c.stderr().includes(`Forwarding 127.0.0.1:${port}`);
    }, 15_000);
    expect(c.stderr()).toMatch(new RegExp(`Forwarding 127\\.0\\.0\\.1:${port} → orders \\(mysql\\) as alice@example\\.com`));

    // the MariaDB CLI, no password: through the gateway, so masked
    const q = await mysqlCli(port, 'SELECT email FROM customers ORDER BY id LIMIT 1');
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout.trim()).toBe('[REDACTED:email]');

    // no database named: the listener names the connection anyway
    const noDb = await mysqlCli(port, 'SELECT COUNT(*) FROM customers', null);
    expect(noDb.code, noDb.stderr).toBe(0);
    expect(noDb.stdout.trim()).toBe('2');

    // a blocked statement: 1142 naming the policy
    const drop = await mysqlCli(port, 'DROP TABLE customers');
    expect(drop.code).not.toBe(0);
    expect(drop.stderr).toMatch(/ERROR 1142 .*no-ddl/);

    // the session is the key's subject
    const sessions = parseJson<any[]>(await e.cli(['sessions', 'list', '--json']));
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions[0]).toMatchObject({ subject: 'alice@example.com', connection: 'orders' });

    // mysql2: text protocol and prepared statements
    const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'whatever', database: 'orders' });
    try {
      const [rows] = await conn.query('SELECT id, email FROM customers ORDER BY id');
      expect(rows).toEqual([
        { id: 1, email: '[REDACTED:email]' },
        { id: 2, email: '[REDACTED:email]' },
      ]);
      const [prepared] = await conn.execute('SELECT id, email, name FROM customers WHERE id = ?', [2]);
      expect(prepared).toEqual([{ id: 2, email: '[REDACTED:email]', name: 'John Roe' }]);
      await expect(conn.query('DROP TABLE customers')).rejects.toMatchObject({ errno: 1142, message: expect.stringMatching(/no-ddl/) });
      // the session stays usable after a block
      const [again] = await conn.query('SELECT COUNT(*) AS n FROM customers');
      expect(again).toEqual([{ n: 2 }]);
    } finally {
      await conn.end();
    }

    c.child.kill('SIGINT');
    expect((await c.done).code).toBe(0);
  });
});
