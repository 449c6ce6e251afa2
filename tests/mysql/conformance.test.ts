import { randomBytes } from 'node:crypto';
import { CONFORMANCE, conformancePolicies, runConformanceSuite, type ConformanceClient } from '@sluice/core/testing';
import { mysqlPlugin } from '@sluice/mysql';
import { startTestGateway } from '../support/gateway.js';
import { MY, clearPassword, mySkip, mysql } from './fixture.js';

const skip = await mySkip();

runConformanceSuite(
  {
    protocol: 'mysql',
    async setup() {
      const db = `sluice_conf_${randomBytes(5).toString('hex')}`;
      const admin = await mysql.createConnection({ host: MY.host, port: MY.port, user: MY.user, password: MY.password, multipleStatements: true });
      await admin.query(`CREATE DATABASE ${db}; USE ${db}; CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('card ${CONFORMANCE.card} on file'); CREATE TABLE gated (id int)`);
      const gw = await startTestGateway({
        plugin: mysqlPlugin(),
        connections: [{ name: 'conf', type: 'mysql', target: `mysql://${MY.user}@${MY.host}:${MY.port}/${db}?ssl=disabled`, access: [CONFORMANCE.agentGroup], secrets: { password: MY.password }, options: {} }],
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
          const c = await mysql.createConnection({ host: '127.0.0.1', port: gw.port, user: 'agent', database: 'conf', ...clearPassword(credential) });
          c.on('error', () => undefined);
          return {
            allowed: async () => void (await c.query('SELECT 1')),
            blocked: async () => (await c.query('DROP TABLE gated').then(() => ({ message: '' }), (e: Error) => e)).message,
            gated: async () => c.query('DELETE FROM gated').then(() => ({ ran: true }), (e: Error) => ({ ran: false, message: e.message })),
            gatedHappened: async () => ((await admin.query('SELECT count(*) AS n FROM gated'))[0] as { n: number }[])[0]!.n === 0,
            sensitive: async () => JSON.stringify((await c.query('SELECT v FROM secrets'))[0]),
            close: () => c.end(),
            destroy: () => c.destroy(),
          };
        },
        async teardown() {
          await gw.close();
          await admin.query(`DROP DATABASE IF EXISTS ${db}`);
          await admin.end();
        },
      };
    },
  },
  skip,
);
