import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { networkInterfaces } from 'node:os';
import pg from 'pg';
import { postgresPlugin } from '@sluice/postgres';
import { PG } from '../support/services.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { pgSkip } from './fixture.js';

const skip = await pgSkip();
/** A non-loopback address of this machine: clients from it are "remote" to the gateway. */
const remote = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

describe.skipIf(!!skip)('client-facing TLS', () => {
  let gw: TestGateway;
  let secret: string;
  beforeAll(async () => {
    gw = await startTestGateway({
      plugin: postgresPlugin(),
      address: '0.0.0.0:0',
      connections: [{ name: 'db', type: 'postgres', target: `postgres://${PG.user}@${PG.host}:${PG.port}/postgres?sslmode=disable`, access: ['agents'], secrets: {}, options: {} }],
      policies: [],
    });
    secret = (await gw.key('agent', ['agents'])).secret;
  });
  afterAll(async () => {
    await gw?.close();
  });

  const client = (host: string, ssl: boolean) =>
    new pg.Client({ host, port: gw.port, user: 'agent', database: 'db', password: secret, ssl: ssl ? { rejectUnauthorized: false } : false });

  it('serves TLS (SSLRequest → TLS) and plaintext from loopback', async () => {
    for (const ssl of [true, false]) {
      const c = client('127.0.0.1', ssl);
      await c.connect();
      expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      await c.end();
    }
  });

  it.skipIf(!remote)(`requires TLS from a non-loopback client (${remote ?? 'no such address here'})`, async () => {
    const plain = client(remote!, false);
    const e = await plain.connect().catch((x: unknown) => x as { code?: string; message: string });
    expect(e).toBeInstanceOf(Error);
    expect((e as { message: string }).message).toMatch(/requires TLS/);
    const tls = client(remote!, true);
    await tls.connect();
    expect((await tls.query('SELECT 2 AS two')).rows[0].two).toBe(2);
    await tls.end();
  });
});
