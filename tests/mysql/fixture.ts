import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import type { Policy } from '@sluice/core';
import { mysqlPlugin, type MysqlPluginOptions } from '@sluice/mysql';
import { serviceSkipReason } from '../support/services.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

// mysql2 is a devDependency of packages/mysql; resolve it from there.
const require = createRequire(new URL('../../packages/mysql/package.json', import.meta.url));
export const mysql = require('mysql2/promise') as typeof import('../../packages/mysql/node_modules/mysql2/promise.js');
export type MyConn = import('../../packages/mysql/node_modules/mysql2/promise.js').Connection;
export type MyOptions = import('../../packages/mysql/node_modules/mysql2/promise.js').ConnectionOptions;

export const MY = { host: '127.0.0.1', port: Number(process.env.SLUICE_TEST_MYPORT ?? 3306), user: process.env.SLUICE_TEST_MYUSER ?? 'root', password: process.env.SLUICE_TEST_MYPASSWORD ?? '' };
export const CARD = '4242424242424242';
export const EMAIL = 'jane.doe@example.com';

export const policies: Policy[] = [
  { name: 'no-ddl', block: { sql: ['DROP', 'TRUNCATE', 'ALTER', 'GRANT', 'REVOKE'], message: 'DDL is not allowed through the gateway' } },
  { name: 'bulk-writes-need-approval', approve: { sql: ['DELETE', 'UPDATE'], unbounded: true, approvers: ['dba'], timeoutMs: 3000 } },
  { name: 'pii', mask: { detectors: ['credit_card', 'email'], columns: ['customers.password_hash', '*.ssn', 'customers.balance'], strategy: 'redact' } },
];

export async function mySkip(): Promise<string | undefined> {
  return serviceSkipReason('MariaDB', MY.host, MY.port);
}

/** mysql2 options that hand the credential over as mysql_clear_password (what Sluice asks for). */
export function clearPassword(password: string): Pick<MyOptions, 'password' | 'authPlugins'> {
  return { password, authPlugins: { mysql_clear_password: () => () => Buffer.from(password + '\0') } };
}

export interface MyEnv {
  gw: TestGateway;
  db: string;
  /** The target account the gateway logs in as, and its password (which must never reach a client). */
  targetUser: string;
  targetPassword: string;
  admin: MyConn;
  agent: { secret: string; identity: import('@sluice/core').Identity };
  approver: { secret: string; identity: import('@sluice/core').Identity };
  outsider: { secret: string };
  connect(secret: string, opts?: Partial<MyOptions>): Promise<MyConn>;
  /** Runs the MariaDB CLI through the gateway: exit code, stdout, stderr. */
  cli(secret: string, sql: string, opts?: { database?: string; extra?: string[]; stdin?: boolean }): Promise<{ code: number; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

/** A fresh database on the machine's MariaDB, seeded, behind a fresh gateway (`base`: the policies before `extraPolicies`). */
export async function setupMy(extraPolicies: Policy[] = [], pluginOpts: MysqlPluginOptions = {}, base: Policy[] = policies): Promise<MyEnv> {
  const db = `sluice_t_${randomBytes(5).toString('hex')}`;
  const admin = await mysql.createConnection({ host: MY.host, port: MY.port, user: MY.user, password: MY.password, multipleStatements: true });
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.query(`USE ${db}`);
  await admin.query(`
    CREATE TABLE customers (id int PRIMARY KEY, name text, email text, card text, ssn text, password_hash text, balance int, note text);
    INSERT INTO customers VALUES
      (1, 'Jane Doe', '${EMAIL}', '${CARD}', '123-45-6789', 'x$argon$abc', 100, 'call me at jane.doe@example.com'),
      (2, 'John Roe', 'john@example.org', '4111 1111 1111 1111', '234-56-7890', 'x$argon$def', 200, 'nothing here');
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total decimal(10,2));
    INSERT INTO orders SELECT seq, 1 + seq % 2, seq * 1.5 FROM seq_1_to_20;
  `);
  // The gateway logs in to the target as its own account, with a password (mysql_native_password).
  const user = `sluice_u_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'; GRANT ALL ON ${db}.* TO '${user}'@'%'`);
  const target = `mysql://${user}@${MY.host}:${MY.port}/${db}?ssl=preferred`;
  const gw = await startTestGateway({
    plugin: mysqlPlugin(pluginOpts),
    connections: [
      { name: 'orders', type: 'mysql', target, access: ['agents', 'dba'], secrets: { password }, options: {} },
      { name: 'closed', type: 'mysql', target, access: ['nobody'], secrets: { password }, options: {} },
    ],
    policies: [...base, ...extraPolicies],
  });
  const agent = await gw.key('billing-agent', ['agents'], 'alice@example.com');
  const approver = await gw.key('bob@example.com', ['dba']);
  const outsider = await gw.key('mallory', ['other']);
  return {
    gw,
    db,
    targetUser: user,
    targetPassword: password,
    admin,
    agent,
    approver,
    outsider,
    async connect(secret, opts = {}) {
      const c = await mysql.createConnection({ host: '127.0.0.1', port: gw.port, user: 'alice', database: 'orders', ...clearPassword(secret), ...opts });
      c.on('error', () => undefined);
      return c;
    },
    cli(secret, sql, o = {}) {
      const args = ['-h', '127.0.0.1', '-P', String(gw.port), '-u', 'alice', `--password=${secret}`, '--enable-cleartext-plugin', ...(o.extra ?? []), o.database ?? 'orders', ...(o.stdin ? [] : ['-e', sql])];
      return new Promise((resolve, reject) => {
        const p = spawn('mysql', args, { stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
        if (o.stdin) p.stdin!.end(sql);
        let stdout = '';
        let stderr = '';
        p.stdout!.on('data', (d) => (stdout += d));
        p.stderr!.on('data', (d) => (stderr += d));
        p.on('error', reject);
        p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      });
    },
    async close() {
      await gw.close();
      await admin.query(`DROP DATABASE IF EXISTS ${db}`);
      await admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
      await admin.end();
    },
  };
}

/** Waits for the one pending approval and returns its id. */
export async function pendingApproval(env: { gw: TestGateway }, timeoutMs = 5000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const p = await env.gw.store.listApprovals('pending');
    if (p[0]) return p[0].id;
    if (Date.now() > end) throw new Error('no pending approval appeared');
    await new Promise((r) => setTimeout(r, 20));
  }
}
