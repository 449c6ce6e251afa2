/**
 * The gateway's side towards a MySQL/MariaDB target over TLS: every ssl mode
 * against a real, temporary MariaDB with TLS on and real accounts (one with
 * REQUIRE SSL), with mysql2 as the client. The machine's own MariaDB has TLS
 * off, so these are the only tests that run the upstream TLS paths.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionConfig } from '@sluice/core';
import { mysqlPlugin } from '@sluice/mysql';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { clearPassword, mysql, type MyConn } from './fixture.js';
import { startTempMariadb, tempMariadbSkipReason, type Account, type TempMariadb } from './temp-mariadb.js';

const skip = tempMariadbSkipReason();
const UPSTREAM_TIMEOUT_MS = 3000;

interface Who {
  user: string;
  cipher: string;
  version: string;
}

describe.skipIf(!!skip)(`mysql upstream TLS against a temporary MariaDB${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let srv: TempMariadb;
  let gw: TestGateway;
  let secret: string;

  beforeAll(async () => {
    srv = await startTempMariadb();
    const { port, accounts, caFile, otherCaFile } = srv;
    const at = (a: Account, host = '127.0.0.1') => `mysql://${a.name}@${host}:${port}/sluice_tls`;
    const ca = (file: string) => `ssl-ca=${encodeURIComponent(file)}`;
    const conn = (name: string, target: string, a: Account, options: Record<string, unknown> = {}, password = a.password): ConnectionConfig => ({
      name,
      type: 'mysql',
      target,
      access: ['agents'],
      secrets: { password },
      options,
    });
    const { native, sslOnly } = accounts;
    const connections: ConnectionConfig[] = [
      conn('native-plain', `${at(native)}?ssl=disabled`, native),
      conn('native-required', `${at(native)}?ssl=required`, native),
      conn('ssl-disabled', `${at(sslOnly)}?ssl=disabled`, sslOnly),
      conn('ssl-required', `${at(sslOnly)}?ssl=required`, sslOnly),
      conn('ssl-required-wrong-password', `${at(sslOnly)}?ssl=required`, sslOnly, {}, 'Wrong-password-0a1b2c3d'),
      conn('ssl-preferred', `${at(sslOnly)}?ssl=preferred`, sslOnly),
      conn('ssl-default-mode', at(sslOnly), sslOnly),
      conn('verify-ca', `${at(sslOnly)}?ssl=verify_ca&${ca(caFile)}`, sslOnly),
      conn('verify-ca-other-name', `${at(sslOnly, '127.0.0.2')}?ssl=verify_ca&${ca(caFile)}`, sslOnly),
      conn('verify-ca-wrong-ca', `${at(sslOnly)}?ssl=verify_ca&${ca(otherCaFile)}`, sslOnly),
      conn('required-wrong-ca', `${at(sslOnly)}?ssl=required&${ca(otherCaFile)}`, sslOnly),
      conn('verify-identity', `${at(sslOnly, 'localhost')}?ssl=verify_identity&${ca(caFile)}`, sslOnly),
      conn('verify-identity-ip-cafile-option', `${at(sslOnly)}?ssl=verify_identity`, sslOnly, { caFile }),
      conn('verify-identity-wrong-ca', `${at(sslOnly, 'localhost')}?ssl=verify_identity&${ca(otherCaFile)}`, sslOnly),
      conn('verify-identity-wrong-name', `${at(sslOnly, '127.0.0.2')}?ssl=verify_identity&${ca(caFile)}`, sslOnly),
      conn('verify-identity-system-cas', `${at(sslOnly, 'localhost')}?ssl=verify_identity`, sslOnly),
    ];
    gw = await startTestGateway({ plugin: mysqlPlugin({ upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS }), connections, policies: [] });
    secret = (await gw.key('tls-agent', ['agents'])).secret;
  });

  afterAll(async () => {
    await gw?.close();
    srv?.stop();
  });

  async function open(connection: string): Promise<MyConn> {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: gw.port, user: 'agent', database: connection, connectTimeout: 10_000, ...clearPassword(secret) });
    c.on('error', () => undefined);
    return c;
  }

  /** Who the target thinks we are, and the TLS cipher of the gateway's connection to it. */
  async function who(connection: string): Promise<Who> {
    const c = await open(connection);
    try {
      const [users] = (await c.query('SELECT CURRENT_USER() AS user, VERSION() AS version')) as unknown as [Array<{ user: string; version: string }>];
      const [status] = (await c.query(`SHOW STATUS LIKE 'Ssl_cipher'`)) as unknown as [Array<{ Variable_name: string; Value: string }>];
      return { user: users[0]!.user, version: users[0]!.version, cipher: status[0]?.Value ?? '' };
    } finally {
      await c.end();
    }
  }

  async function refused(connection: string): Promise<{ message: string; errno?: number }> {
    const err = await open(connection).then(
      async (c) => {
        await c.end();
        throw new Error(`connection "${connection}" was expected to be refused`);
      },
      (e: Error & { errno?: number }) => e,
    );
    // the target's password never reaches the client
    for (const a of Object.values(srv.accounts)) expect(err.message).not.toContain(a.password);
    return { message: err.message, errno: err.errno };
  }

  it('the temporary server has TLS on and the REQUIRE SSL account is real', () => {
    const vars = srv.sql(`SHOW GLOBAL VARIABLES WHERE Variable_name IN ('have_ssl', 'skip_grant_tables')`);
    expect(vars).toMatch(/have_ssl\tYES/);
    expect(vars).not.toMatch(/skip_grant_tables\tON/);
    const req = srv.sql(`SELECT JSON_VALUE(Priv, '$.ssl_type') FROM mysql.global_priv WHERE User = '${srv.accounts.sslOnly.name}'`).trim();
    expect(req).toBe('1'); // SSL_TYPE_ANY: REQUIRE SSL
  });

  it('ssl=disabled: connects in the clear (the baseline)', async () => {
    const r = await who('native-plain');
    expect(r.user).toBe(`${srv.accounts.native.name}@%`);
    expect(r.version).toMatch(/MariaDB/);
    expect(r.cipher).toBe('');
  });

  it('ssl=disabled against a REQUIRE SSL account is refused with a clear error', async () => {
    const { message, errno } = await refused('ssl-disabled');
    expect(errno).toBe(2013);
    expect(message).toContain('Sluice could not connect to "ssl-disabled"');
    expect(message).toContain('Access denied');
    expect(message).toContain('does not use TLS: ssl=disabled');
  });

  it('ssl=required: the gateway talks TLS to the target', async () => {
    const r = await who('ssl-required');
    expect(r.user).toBe(`${srv.accounts.sslOnly.name}@%`);
    expect(r.cipher).not.toBe('');
    expect((await who('native-required')).cipher).not.toBe('');
  });

  it('ssl=required with a wrong password is refused over TLS, naming the login, not TLS', async () => {
    const { message } = await refused('ssl-required-wrong-password');
    expect(message).toContain('Access denied');
    expect(message).not.toContain('does not use TLS');
    expect(message).not.toContain('Wrong-password-0a1b2c3d');
  });

  it('ssl=preferred (and no ssl parameter) use TLS when the target offers it', async () => {
    expect((await who('ssl-preferred')).cipher).not.toBe('');
    expect((await who('ssl-default-mode')).cipher).not.toBe('');
  });

  it('ssl=verify_ca: the right CA works, the name is not checked', async () => {
    expect((await who('verify-ca')).cipher).not.toBe('');
    expect((await who('verify-ca-other-name')).cipher).not.toBe('');
  });

  it('ssl=verify_ca: a wrong CA is refused', async () => {
    const { message } = await refused('verify-ca-wrong-ca');
    expect(message).toContain('TLS to the target failed');
    expect(message).toMatch(/certificate/i);
  });

  it('ssl=required with a CA checks the chain: a wrong CA is refused', async () => {
    const { message } = await refused('required-wrong-ca');
    expect(message).toMatch(/certificate/i);
  });

  it('ssl=verify_identity with host localhost and ssl-ca works', async () => {
    const r = await who('verify-identity');
    expect(r.user).toBe(`${srv.accounts.sslOnly.name}@%`);
    expect(r.cipher).not.toBe('');
  });

  it("ssl=verify_identity to an IP in the certificate, CA from the connection's caFile option, works", async () => {
    expect((await who('verify-identity-ip-cafile-option')).cipher).not.toBe('');
  });

  it('ssl=verify_identity: a wrong CA is refused', async () => {
    const { message } = await refused('verify-identity-wrong-ca');
    expect(message).toContain('TLS to the target failed');
    expect(message).toMatch(/certificate/i);
  });

  it('ssl=verify_identity without a CA uses the system CAs, which do not know ours', async () => {
    const { message } = await refused('verify-identity-system-cas');
    expect(message).toContain('TLS to the target failed');
  });

  it('ssl=verify_identity: a name the certificate does not carry is refused', async () => {
    const { message } = await refused('verify-identity-wrong-name');
    expect(message).toContain('TLS to the target failed');
    expect(message).toMatch(/127\.0\.0\.2 is not in the cert's list/);
  });
});
