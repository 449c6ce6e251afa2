import pg from 'pg';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Policy } from '@sluice/core';
import { postgresPlugin, type PostgresPluginOptions } from '@sluice/postgres';
import { PG, serviceSkipReason } from '../support/services.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

export const CARD = '4242424242424242';
export const EMAIL = 'jane.doe@example.com';

export const policies: Policy[] = [
  { name: 'no-ddl', block: { sql: ['DROP', 'TRUNCATE', 'ALTER', 'GRANT', 'REVOKE'], message: 'DDL is not allowed through the gateway' } },
  { name: 'no-copy-program', block: { flags: ['copy-program'] } },
  { name: 'bulk-writes-need-approval', approve: { sql: ['DELETE', 'UPDATE'], unbounded: true, approvers: ['dba'], timeoutMs: 3000 } },
  { name: 'pii', mask: { detectors: ['credit_card', 'email'], columns: ['customers.password_hash', '*.ssn', 'customers.balance'], strategy: 'redact' } },
];

export interface PgEnv {
  gw: TestGateway;
  db: string;
  admin: pg.Client;
  agent: { secret: string; identity: import('@sluice/core').Identity };
  approver: { secret: string; identity: import('@sluice/core').Identity };
  outsider: { secret: string };
  url(credentialUser?: string): string;
  connect(secret: string, opts?: Partial<pg.ClientConfig>): Promise<pg.Client>;
  close(): Promise<void>;
}

export async function pgSkip(): Promise<string | undefined> {
  return serviceSkipReason('PostgreSQL', PG.host, PG.port);
}

/** A fresh database on the machine's PostgreSQL, seeded, behind a fresh gateway (`base`: the policies before `extraPolicies`). */
export async function setupPg(extraPolicies: Policy[] = [], pluginOpts: PostgresPluginOptions = {}, base: Policy[] = policies): Promise<PgEnv> {
  const db = `sluice_t_${randomBytes(5).toString('hex')}`;
  const root = new pg.Client({ host: PG.host, port: PG.port, user: PG.user, database: 'postgres' });
  await root.connect();
  await root.query(`CREATE DATABASE ${db}`);
  await root.end();
  const admin = new pg.Client({ host: PG.host, port: PG.port, user: PG.user, database: db });
  await admin.connect();
  await admin.query(`
    CREATE TABLE customers (id int PRIMARY KEY, name text, email text, card text, ssn text, password_hash text, balance int, note text);
    INSERT INTO customers VALUES
      (1, 'Jane Doe', '${EMAIL}', '${CARD}', '123-45-6789', 'x$argon$abc', 100, 'call me at jane.doe@example.com'),
      (2, 'John Roe', 'john@example.org', '4111 1111 1111 1111', '234-56-7890', 'x$argon$def', 200, 'nothing here');
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric);
    INSERT INTO orders SELECT g, 1 + g % 2, g * 1.5 FROM generate_series(1, 20) g;
  `);
  const gw = await startTestGateway({
    plugin: postgresPlugin(pluginOpts),
    connections: [
      { name: 'orders', type: 'postgres', target: `postgres://${PG.user}@${PG.host}:${PG.port}/${db}?sslmode=disable`, access: ['agents', 'dba'], secrets: {}, options: {} },
      { name: 'closed', type: 'postgres', target: `postgres://${PG.user}@${PG.host}:${PG.port}/${db}?sslmode=disable`, access: ['nobody'], secrets: {}, options: {} },
    ],
    policies: [...base, ...extraPolicies],
  });
  const agent = await gw.key('billing-agent', ['agents'], 'alice@example.com');
  const approver = await gw.key('bob@example.com', ['dba']);
  const outsider = await gw.key('mallory', ['other']);
  return {
    gw,
    db,
    admin,
    agent,
    approver,
    outsider,
    url: (u = 'alice') => `postgres://${u}@127.0.0.1:${gw.port}/orders`,
    async connect(secret, opts = {}) {
      const c = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'alice', database: 'orders', password: secret, ...opts });
      c.on('error', () => undefined);
      await c.connect();
      return c;
    },
    async close() {
      await gw.close();
      await admin.end();
      const r = new pg.Client({ host: PG.host, port: PG.port, user: PG.user, database: 'postgres' });
      await r.connect();
      await r.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await r.end();
    },
  };
}

/** Waits for the one pending approval and returns its id. */
export async function pendingApproval(env: PgEnv, timeoutMs = 5000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const p = await env.gw.store.listApprovals('pending');
    if (p[0]) return p[0].id;
    if (Date.now() > end) throw new Error('no pending approval appeared');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs psql through the gateway as a user would; resolves its output and exit code. */
export function psql(env: PgEnv, secret: string, args: string[], input?: string): Promise<{ out: string; err: string; code: number }> {
  return new Promise((resolve) => {
    const p = spawn('psql', [`postgres://alice@127.0.0.1:${env.gw.port}/orders?sslmode=require`, '-X', '-v', 'ON_ERROR_STOP=0', ...args], {
      env: { ...process.env, PGPASSWORD: secret, PGCONNECT_TIMEOUT: '5' },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ out, err, code: code ?? -1 }));
    p.stdin.end(input ?? '');
  });
}
