import { resolve } from 'node:path';
import { createApiKey } from '@sluice/core';
import { parseConfigText } from '../config/index.js';
import { createLogger } from '../logger.js';
import { startGateway } from '../runtime.js';
import { startDemoTarget } from './target.js';

/** The demo's policy: one of each feature, against the seeded shop. */
export function demoConfigYaml(targetUrl: string, pgListen: string, adminListen: string): string {
  return `
dataDir: ./.sluice/demo
admin:
  listen: ${adminListen}
  groups: [admins]
listeners:
  postgres: ${pgListen}
connections:
  - name: shop
    type: postgres
    target: ${targetUrl}
    access: [agents, dba]
policies:
  - name: no-ddl
    block:
      sql: [DROP, TRUNCATE, ALTER, GRANT, REVOKE]
      message: DDL is not allowed through the gateway
  - name: no-copy-program
    block:
      flags: [copy-program]
  - name: bulk-writes-need-approval
    approve:
      sql: [DELETE, UPDATE]
      unbounded: true
      approvers: [dba]
      timeout: 5m
  - name: pii
    mask:
      detectors: [credit_card, ssn, email, iban, phone, jwt, aws_access_key, private_key]
      columns: ["customers.password_hash", "customers.date_of_birth"]
      strategy: redact
  - name: pii-joinable
    mask:
      columns: ["customers.ssn"]
      strategy: hash
`;
}

export async function runDemo(values: Record<string, string | boolean | undefined>): Promise<void> {
  const port = typeof values.port === 'string' ? Number(values.port) : 15432;
  const say = (s: string) => process.stderr.write(s + '\n');
  say('sluice demo: starting an embedded PostgreSQL (PGlite, in memory) with a sample shop…');
  const target = await startDemoTarget({ port: 0, onProgress: (m: string) => say(`  ${m}`) });
  const yaml = demoConfigYaml(target.url, `127.0.0.1:${port}`, '127.0.0.1:8080');
  const config = parseConfigText(yaml, resolve('sluice-demo.yaml'));
  const logger = createLogger(process.env.SLUICE_LOG_LEVEL ?? 'warn');
  let running;
  try {
    running = await startGateway(config, logger);
  } catch (e) {
    await target.close();
    throw new Error(`${(e as Error).message} (is another gateway running? try: pnpm sluice demo --port 25432)`);
  }
  const agent = await createApiKey(running.gateway.store, { name: 'demo-agent', groups: ['agents'], onBehalfOf: 'alice@example.com', ttlMs: 24 * 3600e3 });
  const approver = await createApiKey(running.gateway.store, { name: 'bob@example.com', groups: ['dba', 'admins'], ttlMs: 24 * 3600e3 });
  const pg = running.listeners.postgres!;
  const pgPort = pg.port;
  const lines = [
    '',
    `Sluice demo is running: PostgreSQL clients connect to 127.0.0.1:${pgPort}, connection "shop".`,
    `Data dir: ${config.dataDir}   Admin API: ${running.admin.url}`,
    '',
    'As the agent "demo-agent" acting for alice@example.com (group agents):',
    '',
    `  PGPASSWORD=${agent.secret} psql "postgres://demo-agent@127.0.0.1:${pgPort}/shop?sslmode=require"`,
    '',
    'Then try:',
    '  SELECT full_name, email, phone, ssn FROM customers LIMIT 5;   -- masked',
    '  SELECT card_number, iban FROM payment_methods LIMIT 5;        -- masked',
    '  DROP TABLE orders;                                            -- blocked by no-ddl (42501)',
    '  DELETE FROM order_items;                                      -- waits for approval',
    '',
    'In another terminal, as bob@example.com (groups dba, admins):',
    '',
    `  export SLUICE_SERVER=${running.admin.url} SLUICE_TOKEN=${approver.secret}`,
    '  pnpm sluice approvals list --pending',
    '  pnpm sluice approvals approve apr_…     (or deny)',
    '  pnpm sluice sessions list',
    '  pnpm sluice sessions replay ses_…',
    '  pnpm sluice audit verify',
    '',
    'From node-postgres:',
    `  new pg.Client({ host: "127.0.0.1", port: ${pgPort}, user: "demo-agent", database: "shop", password: "${agent.secret}", ssl: { rejectUnauthorized: false } })`,
    '',
    'Several sessions work at once; the embedded database runs one statement or transaction at a time, so an open',
    'transaction makes the others wait (error after 15 s). Try the approval in autocommit mode (psql\'s default).',
    'Ctrl-C stops the demo.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  await new Promise<void>((done) => {
    const stop = () => {
      say('stopping…');
      running!
        .stop('demo stopped', 0)
        .then(() => target.close())
        .then(done, done);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
