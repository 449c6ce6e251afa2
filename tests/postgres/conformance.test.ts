import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { CONFORMANCE, conformancePolicies, runConformanceSuite, type ConformanceClient } from '@sluice/core/testing';
import { postgresPlugin } from '@sluice/postgres';
import { PG } from '../support/services.js';
import { startTestGateway } from '../support/gateway.js';
import { pgSkip } from './fixture.js';

const skip = await pgSkip();

runConformanceSuite(
  {
    protocol: 'postgres',
    async setup() {
      const db = `sluice_conf_${randomBytes(5).toString('hex')}`;
      const root = new pg.Client({ ...PG, database: 'postgres' });
      await root.connect();
      await root.query(`CREATE DATABASE ${db}`);
      await root.end();
      const admin = new pg.Client({ ...PG, database: db });
      await admin.connect();
      await admin.query(`CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('card ${CONFORMANCE.card} on file'); CREATE TABLE gated (id int)`);
      const gw = await startTestGateway({
        plugin: postgresPlugin(),
        connections: [{ name: 'conf', type: 'postgres', target: `postgres://${PG.user}@${PG.host}:${PG.port}/${db}?sslmode=disable`, access: [CONFORMANCE.agentGroup], secrets: {}, options: {} }],
        policies: conformancePolicies({ sql: ['DROP'] }, { sql: ['DELETE'], unbounded: true }),
      });
      const agent = await gw.key('conformance-agent', [CONFORMANCE.agentGroup], 'human@example.com');
      const approver = await gw.key('approver@example.com', [CONFORMANCE.approverGroup]);
      return {
        gateway: gw.gateway,
        agentKey: agent.secret,
        agentIdentity: agent.identity,
        approver: approver.identity,
        async resetGated() {
          await admin.query('DELETE FROM gated; INSERT INTO gated VALUES (1)');
        },
        async connect(credential): Promise<ConformanceClient> {
          const c = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'agent', database: 'conf', password: credential });
          c.on('error', () => undefined);
          await c.connect();
          return {
            allowed: async () => void (await c.query('SELECT 1')),
            blocked: async () => (await c.query('DROP TABLE gated').then(() => ({ message: '' }), (e: Error) => e)).message,
            gated: async () => c.query('DELETE FROM gated').then(() => ({ ran: true }), (e: Error) => ({ ran: false, message: e.message })),
            gatedHappened: async () => (await admin.query('SELECT count(*)::int AS n FROM gated')).rows[0].n === 0,
            sensitive: async () => JSON.stringify((await c.query('SELECT v FROM secrets')).rows),
            close: () => c.end(),
            destroy: () => (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy(),
          };
        },
        async teardown() {
          await gw.close();
          await admin.end();
          const r = new pg.Client({ ...PG, database: 'postgres' });
          await r.connect();
          await r.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
          await r.end();
        },
      };
    },
  },
  skip,
);
