import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { oidcAuthenticator } from '@sluice/identity-oidc';
import { postgresPlugin } from '@sluice/postgres';
import { startTestIssuer, type TestIssuer } from '../../packages/identity-oidc/src/test-issuer.js';
import { PG } from '../support/services.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { pgSkip } from './fixture.js';

const skip = await pgSkip();

describe.skipIf(!!skip)('OIDC tokens as the PostgreSQL password', () => {
  let issuer: TestIssuer;
  let gw: TestGateway;
  const audience = 'sluice';
  beforeAll(async () => {
    issuer = await startTestIssuer({ audience });
    gw = await startTestGateway({
      plugin: postgresPlugin(),
      connections: [{ name: 'db', type: 'postgres', target: `postgres://${PG.user}@${PG.host}:${PG.port}/postgres?sslmode=disable`, access: ['engineers'], secrets: {}, options: {} }],
      policies: [{ name: 'agents-read-only', actors: 'any', block: { sql: ['INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP'] } }],
      authenticators: [oidcAuthenticator({ issuers: [{ issuer: issuer.url, audience, groupsClaim: 'groups' }], allowInsecureLocalhost: true })],
    });
  });
  afterAll(async () => {
    await gw?.close();
    await issuer?.close();
  });

  const connect = async (token: string) => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'x', database: 'db', password: token });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };

  it('a valid token connects; the session names the subject, groups and the agent it came through', async () => {
    const human = await connect(await issuer.sign(issuer.claims({ sub: 'alice@example.com', groups: ['engineers'] })));
    await human.query('CREATE TEMP TABLE t (a int)');
    await human.end();
    const agent = await connect(await issuer.sign(issuer.claims({ sub: 'alice@example.com', groups: ['engineers'], act: { sub: 'billing-agent' } })));
    expect((await agent.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    const e = await agent.query('CREATE TEMP TABLE t (a int)').catch((x: { code: string; message: string }) => x);
    expect(e).toMatchObject({ code: '42501' });
    expect((e as { message: string }).message).toContain('agents-read-only');
    await agent.end();
    const sessions = await gw.store.listSessions({ limit: 2 });
    const start = (await gw.store.getEvents(sessions[0]!.id))[0]!.data as { identity: { subject: string; actors: string[]; groups: string[]; via: string } };
    expect(start.identity).toMatchObject({ subject: 'alice@example.com', actors: ['billing-agent'], groups: ['engineers'], via: 'oidc' });
  });

  it('expired, wrong-audience and tampered tokens get 28P01 and nothing else', async () => {
    const now = Math.floor(Date.now() / 1000);
    const bad = [
      await issuer.sign(issuer.claims({ sub: 'alice@example.com', groups: ['engineers'], exp: now - 3600, iat: now - 7200 })),
      await issuer.sign(issuer.claims({ sub: 'alice@example.com', groups: ['engineers'], aud: 'someone-else' })),
      (await issuer.sign(issuer.claims({ sub: 'alice@example.com', groups: ['engineers'] }))).slice(0, -4) + 'AAAA',
    ];
    for (const token of bad) {
      const e = await connect(token).catch((x: { code: string; message: string }) => x);
      expect(e).toMatchObject({ code: '28P01' });
      expect((e as { message: string }).message).toBe('password authentication failed for user "x"');
    }
  });
});
