/**
 * The gateway's side towards the target: every authentication method and
 * sslmode against a real, temporary PostgreSQL 15 configured for each, with
 * node-postgres as the client. The target's password must never reach the
 * client, the event log or the gateway's log.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import pg from 'pg';
import type { ConnectionConfig } from '@sluice/core';
import { postgresPlugin } from '@sluice/postgres';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { freePort, startTempServer, tempServerSkipReason, type Role, type TempServer } from './temp-server.js';

const skip = tempServerSkipReason();
/** The gateway's connect timeout to targets: short, so stalled targets are quick to test. */
const UPSTREAM_TIMEOUT_MS = 1500;
const WRONG = { scram: 'Wrong-scram-9f8e7d6c5b', md5: 'Wrong-md5-1a2b3c4d5e', clear: 'Wrong-clear-0f1e2d3c4b' };

interface Opened {
  client: pg.Client;
  received: Buffer[];
}

describe.skipIf(!!skip)(`postgres upstream against a temporary PostgreSQL${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let srv: TempServer;
  let gw: TestGateway;
  let secret: string;
  let downPort: number;
  const stalls: Server[] = [];
  const stallSockets = new Set<Socket>();
  let silentPort = 0;
  let sslStallPort = 0;
  let scramSkipPort = 0;
  /** Every byte any client received from the gateway. */
  const received: Buffer[] = [];
  /** Everything the gateway logged. */
  const logged: string[] = [];
  const logSpies: ReturnType<typeof vi.spyOn>[] = [];
  let savedLogEnv: string | undefined;

  /** A TCP server that accepts and then does `onConn` (nothing, or half a TLS answer). */
  async function stallServer(onConn: (s: Socket) => void): Promise<number> {
    const s = createServer((sock) => {
      stallSockets.add(sock);
      sock.on('error', () => undefined);
      sock.on('close', () => stallSockets.delete(sock));
      onConn(sock);
    });
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    stalls.push(s);
    return (s.address() as AddressInfo).port;
  }

  beforeAll(async () => {
    srv = await startTempServer();
    downPort = await freePort();
    silentPort = await stallServer(() => undefined);
    // Says "S" to the SSLRequest, then never speaks TLS.
    sslStallPort = await stallServer((sock) => sock.once('data', () => sock.write('S')));
    // Asks for SCRAM, then says AuthenticationOk without the server's proof (SASLFinal).
    scramSkipPort = await stallServer((sock) => {
      let step = 0;
      sock.on('data', () => {
        step++;
        if (step === 1) {
          const mech = Buffer.from('SCRAM-SHA-256\0\0');
          const m = Buffer.alloc(9 + mech.length);
          m.write('R', 0);
          m.writeInt32BE(8 + mech.length, 1);
          m.writeInt32BE(10, 5);
          mech.copy(m, 9);
          sock.write(m);
        } else if (step === 2) {
          const ok = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49]);
          sock.write(ok);
        }
      });
    });

    const { port, roles, caFile, otherCaFile } = srv;
    const at = (r: Role, host = '127.0.0.1', p = port) => `postgres://${r.name}@${host}:${p}/postgres`;
    const conn = (name: string, target: string, password?: string, options: Record<string, unknown> = {}): ConnectionConfig => ({
      name,
      type: 'postgres',
      target,
      access: ['agents'],
      secrets: password === undefined ? {} : { password },
      options,
    });
    const connections: ConnectionConfig[] = [
      conn('scram', `${at(roles.scram)}?sslmode=disable`, roles.scram.password),
      conn('md5', `${at(roles.md5)}?sslmode=disable`, roles.md5.password),
      conn('clear', `${at(roles.clear)}?sslmode=disable`, roles.clear.password),
      conn('trust', `${at(roles.trust)}?sslmode=disable`),
      conn('scram-wrong', `${at(roles.scram)}?sslmode=disable`, WRONG.scram),
      conn('md5-wrong', `${at(roles.md5)}?sslmode=disable`, WRONG.md5),
      conn('clear-wrong', `${at(roles.clear)}?sslmode=disable`, WRONG.clear),
      conn('scram-nopass', `${at(roles.scram)}?sslmode=disable`),
      conn('md5-tls', `${at(roles.md5)}?sslmode=require`, roles.md5.password),
      conn('clear-tls', `${at(roles.clear)}?sslmode=require`, roles.clear.password),
      conn('ssl-disable', `${at(roles.sslOnly)}?sslmode=disable`, roles.sslOnly.password),
      conn('ssl-allow', `${at(roles.sslOnly)}?sslmode=allow`, roles.sslOnly.password),
      conn('allow-plain', `${at(roles.trust)}?sslmode=allow`),
      conn('prefer-plain-only', `${at(roles.plainOnly)}?sslmode=prefer`, roles.plainOnly.password),
      conn('require-plain-only', `${at(roles.plainOnly)}?sslmode=require`, roles.plainOnly.password),
      conn('require-wrong-ca', `${at(roles.sslOnly)}?sslmode=require&sslrootcert=${encodeURIComponent(otherCaFile)}`, roles.sslOnly.password),
      conn('ssl-require', `${at(roles.sslOnly)}?sslmode=require`, roles.sslOnly.password),
      conn('ssl-verify-ca', `${at(roles.sslOnly)}?sslmode=verify-ca&sslrootcert=${encodeURIComponent(caFile)}`, roles.sslOnly.password),
      conn('ssl-verify-full', `${at(roles.sslOnly, 'localhost')}?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`, roles.sslOnly.password),
      conn('ssl-verify-full-ip', `${at(roles.sslOnly)}?sslmode=verify-full`, roles.sslOnly.password, { caFile }),
      conn('ssl-verify-full-wrong-ca', `${at(roles.sslOnly, 'localhost')}?sslmode=verify-full&sslrootcert=${encodeURIComponent(otherCaFile)}`, roles.sslOnly.password),
      conn('ssl-verify-ca-wrong-ca', `${at(roles.sslOnly)}?sslmode=verify-ca&sslrootcert=${encodeURIComponent(otherCaFile)}`, roles.sslOnly.password),
      conn('prefer', `${at(roles.scram)}?sslmode=prefer`, roles.scram.password),
      conn('default-mode', at(roles.trust)),
      conn('down', `${at(roles.trust, '127.0.0.1', downPort)}?sslmode=disable`),
      conn('silent', `${at(roles.trust, '127.0.0.1', silentPort)}?sslmode=disable`),
      conn('tls-stall', `${at(roles.trust, '127.0.0.1', sslStallPort)}?sslmode=require`),
      conn('scram-skip', `${at(roles.scram, '127.0.0.1', scramSkipPort)}?sslmode=disable`, roles.scram.password),
    ];

    // The test gateway logs to console when SLUICE_TEST_LOG is set: capture it.
    savedLogEnv = process.env.SLUICE_TEST_LOG;
    process.env.SLUICE_TEST_LOG = '1';
    for (const m of ['log', 'info', 'warn', 'error'] as const) {
      logSpies.push(vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void logged.push(JSON.stringify(args))));
    }
    gw = await startTestGateway({ plugin: postgresPlugin({ upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS }), connections, policies: [] });
    secret = (await gw.key('upstream-agent', ['agents'])).secret;
  });

  afterAll(async () => {
    await gw?.close();
    for (const s of stallSockets) s.destroy();
    await Promise.all(stalls.map((s) => new Promise((r) => s.close(r))));
    srv?.stop();
    for (const s of logSpies) s.mockRestore();
    if (savedLogEnv === undefined) delete process.env.SLUICE_TEST_LOG;
    else process.env.SLUICE_TEST_LOG = savedLogEnv;
  });

  /** A node-postgres client through the gateway; records every byte it receives. */
  function client(connection: string): Opened {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'agent', database: connection, password: secret, connectionTimeoutMillis: 10_000 });
    c.on('error', () => undefined);
    const mine: Buffer[] = [];
    (c as unknown as { connection: { stream: Socket } }).connection.stream.on('data', (b: Buffer) => {
      mine.push(b);
      received.push(b);
    });
    return { client: c, received: mine };
  }

  async function open(connection: string): Promise<Opened> {
    const o = client(connection);
    await o.client.connect();
    return o;
  }

  async function refused(connection: string): Promise<{ err: pg.DatabaseError; ms: number; bytes: string }> {
    const o = client(connection);
    const t0 = Date.now();
    const err = await o.client.connect().then(
      () => {
        void o.client.end();
        throw new Error(`connection "${connection}" was expected to be refused`);
      },
      (e: pg.DatabaseError) => e,
    );
    return { err, ms: Date.now() - t0, bytes: Buffer.concat(o.received).toString('latin1') };
  }

  async function one<T>(connection: string, sql: string): Promise<T> {
    const { client: c } = await open(connection);
    try {
      return (await c.query(sql)).rows[0] as T;
    } finally {
      await c.end();
    }
  }

  const WHO = `SELECT current_user AS "user", (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl`;

  describe('authentication methods', () => {
    it.each([
      ['scram', 'u_scram'],
      ['md5', 'u_md5'],
      ['clear', 'u_clear'],
      ['trust', 'u_trust'],
    ])('%s: connects and queries through Sluice', async (connection, role) => {
      const r = await one<{ user: string; ssl: boolean; n: number }>(connection, `${WHO.replace('AS ssl', 'AS ssl, 40 + 2 AS n')}`);
      expect(r).toEqual({ user: role, ssl: false, n: 42 });
    });

    it('the server really uses each method (its hba and stored verifiers)', async () => {
      const c = await srv.admin();
      try {
        const hba = await c.query<{ user_name: string[]; auth_method: string; type: string }>(`SELECT type, user_name, auth_method FROM pg_hba_file_rules WHERE type <> 'local'`);
        const method = (role: string) => hba.rows.find((r) => r.user_name.includes(role) && r.type === 'host')?.auth_method;
        expect([method('u_scram'), method('u_md5'), method('u_clear'), method('u_trust')]).toEqual(['scram-sha-256', 'md5', 'password', 'trust']);
        const v = await c.query<{ rolname: string; kind: string }>(`SELECT rolname, left(rolpassword, 3) AS kind FROM pg_authid WHERE rolname IN ('u_scram', 'u_md5')`);
        expect(Object.fromEntries(v.rows.map((r) => [r.rolname, r.kind]))).toEqual({ u_scram: 'SCR', u_md5: 'md5' });
      } finally {
        await c.end();
      }
    });

    it('MD5 and cleartext also work over TLS to the target', async () => {
      expect(await one(`md5-tls`, WHO)).toEqual({ user: 'u_md5', ssl: true });
      expect(await one(`clear-tls`, WHO)).toEqual({ user: 'u_clear', ssl: true });
    });

    it('SCRAM binds to the TLS channel (SCRAM-SHA-256-PLUS) over TLS, plain SCRAM-SHA-256 without', async () => {
      // the gateway's SCRAM client is node-postgres' own module: watch which mechanism it picks
      const sasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js') as { startSession: (...a: unknown[]) => { mechanism: string } };
      const spy = vi.spyOn(sasl, 'startSession');
      try {
        expect(await one('ssl-require', WHO)).toEqual({ user: 'u_sslonly', ssl: true });
        expect(await one('scram', WHO)).toEqual({ user: 'u_scram', ssl: false });
        expect(spy.mock.results.map((r) => (r.value as { mechanism: string }).mechanism)).toEqual(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
      } finally {
        spy.mockRestore();
      }
    });

    it.each([
      ['scram-wrong', WRONG.scram],
      ['md5-wrong', WRONG.md5],
      ['clear-wrong', WRONG.clear],
    ])('%s: a wrong target password gives a clear FATAL without the password', async (connection, password) => {
      const { err, ms, bytes } = await refused(connection);
      expect(ms).toBeLessThan(5000);
      expect(err.severity).toBe('FATAL');
      expect(err.code).toBe('08006');
      expect(err.message).toContain(`"${connection}"`);
      expect(err.message).toMatch(/password authentication failed/);
      expect(err.message).not.toContain(password);
      expect(bytes).not.toContain(password);
    });

    it('a target asking for a password when none is configured: FATAL naming the problem', async () => {
      const { err } = await refused('scram-nopass');
      expect(err.severity).toBe('FATAL');
      expect(err.message).toContain('"scram-nopass"');
      expect(err.message).toMatch(/password/);
      expect(err.message).toMatch(/none configured/);
    });
  });

  describe('sslmode', () => {
    it('disable against a hostssl-only role is refused clearly', async () => {
      const { err, ms } = await refused('ssl-disable');
      expect(ms).toBeLessThan(5000);
      expect(err.severity).toBe('FATAL');
      expect(err.message).toContain('"ssl-disable"');
      expect(err.message).toMatch(/pg_hba\.conf rejects connection.*no encryption/);
    });

    it('require works (TLS on the server side)', async () => {
      expect(await one('ssl-require', WHO)).toEqual({ user: 'u_sslonly', ssl: true });
    });

    it('verify-full with sslrootcert = the CA and host localhost works', async () => {
      expect(await one('ssl-verify-full', WHO)).toEqual({ user: 'u_sslonly', ssl: true });
    });

    it('verify-full by IP address, CA from the connection option caFile, works (IP SAN)', async () => {
      expect(await one('ssl-verify-full-ip', WHO)).toEqual({ user: 'u_sslonly', ssl: true });
    });

    it('verify-ca with the CA works', async () => {
      expect(await one('ssl-verify-ca', WHO)).toEqual({ user: 'u_sslonly', ssl: true });
    });

    it.each(['ssl-verify-full-wrong-ca', 'ssl-verify-ca-wrong-ca'])('%s: a certificate from another CA is refused', async (connection) => {
      const { err, ms } = await refused(connection);
      expect(ms).toBeLessThan(5000);
      expect(err.severity).toBe('FATAL');
      expect(err.message).toContain(`"${connection}"`);
      expect(err.message).toMatch(/certificate/i);
      expect(err.message).toMatch(/TLS certificate was rejected/);
    });

    it('prefer uses TLS when the server offers it', async () => {
      expect(await one('prefer', WHO)).toEqual({ user: 'u_scram', ssl: true });
    });

    it('no sslmode means prefer', async () => {
      expect(await one('default-mode', WHO)).toEqual({ user: 'u_trust', ssl: true });
    });

    it('allow falls back to TLS when the server refuses a plain connection (as libpq does)', async () => {
      expect(await one('ssl-allow', WHO)).toEqual({ user: 'u_sslonly', ssl: true });
    });

    it('allow uses a plain connection when the server accepts one', async () => {
      expect(await one('allow-plain', WHO)).toEqual({ user: 'u_trust', ssl: false });
    });

    it('prefer falls back to a plain connection when the server refuses TLS for the role (as libpq does)', async () => {
      expect(await one('prefer-plain-only', WHO)).toEqual({ user: 'u_plainonly', ssl: false });
    });

    it('require against a hostnossl-only role is refused, never downgraded', async () => {
      const { err } = await refused('require-plain-only');
      expect(err.severity).toBe('FATAL');
      expect(err.message).toMatch(/pg_hba\.conf rejects connection.*SSL encryption/);
    });

    it('require with an sslrootcert verifies the chain (as libpq does): another CA is refused', async () => {
      const { err } = await refused('require-wrong-ca');
      expect(err.severity).toBe('FATAL');
      expect(err.message).toContain('"require-wrong-ca"');
      expect(err.message).toMatch(/certificate/i);
    });

    it(`an idle TLS session outlives the connect timeout (${UPSTREAM_TIMEOUT_MS} ms)`, async () => {
      const { client: c } = await open('ssl-require');
      try {
        expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
        await new Promise((r) => setTimeout(r, UPSTREAM_TIMEOUT_MS + 700));
        expect((await c.query('SELECT 2 AS two')).rows[0].two).toBe(2);
      } finally {
        await c.end();
      }
    });
  });

  describe('a misbehaving or unavailable target', () => {
    it('a target that skips the SCRAM server proof is refused', async () => {
      const { err } = await refused('scram-skip');
      expect(err.severity).toBe('FATAL');
      expect(err.message).toContain('"scram-skip"');
      expect(err.message).toMatch(/without proving/);
    });

    it('a closed port: FATAL quickly, naming the connection; the gateway keeps serving', async () => {
      const held = await open('trust');
      try {
        const { err, ms } = await refused('down');
        expect(ms).toBeLessThan(2000);
        expect(err.severity).toBe('FATAL');
        expect(err.code).toBe('08006');
        expect(err.message).toContain('"down"');
        // the client learns the connection name, never where it points
        expect(err.message).not.toMatch(/127\.0\.0\.1|:\d{4,5}\b/);
        // the session that was already open, and new ones, still work
        expect((await held.client.query('SELECT 1 AS one')).rows[0].one).toBe(1);
        expect(await one('scram', 'SELECT current_user AS u')).toEqual({ u: 'u_scram' });
      } finally {
        await held.client.end();
      }
      const ended = await gw.store.listSessions({ connection: 'down' });
      expect(ended[0]?.endedAt).not.toBeNull();
    });

    it('a target that accepts and never answers: FATAL after the connect timeout, not a hang', async () => {
      const { err, ms } = await refused('silent');
      expect(ms).toBeGreaterThanOrEqual(UPSTREAM_TIMEOUT_MS - 100);
      expect(ms).toBeLessThan(UPSTREAM_TIMEOUT_MS + 2000);
      expect(err.severity).toBe('FATAL');
      expect(err.message).toContain('"silent"');
      expect(err.message).toMatch(/timed out/);
    });

    it('a target that stalls in the TLS handshake: FATAL after the connect timeout', async () => {
      const { err, ms } = await refused('tls-stall');
      expect(ms).toBeLessThan(UPSTREAM_TIMEOUT_MS + 2000);
      expect(err.severity).toBe('FATAL');
      expect(err.message).toContain('"tls-stall"');
      expect(err.message).toMatch(/timed out/);
    });
  });

  describe('the target password stays in the gateway', () => {
    const secrets = (): string[] => {
      const r = srv.roles;
      return [r.scram.password, r.md5.password, r.clear.password, r.sslOnly.password, r.plainOnly.password, srv.md5Verifier, WRONG.scram, WRONG.md5, WRONG.clear];
    };

    it('not in anything a client received', () => {
      expect(received.length).toBeGreaterThan(20);
      const all = Buffer.concat(received);
      for (const s of secrets()) {
        expect(all.includes(Buffer.from(s))).toBe(false);
        expect(all.includes(Buffer.from(s.slice(3)))).toBe(false);
      }
    });

    it('not in the event log, nor anywhere in the store files', async () => {
      const sessions = await gw.store.listSessions({ limit: 1000 });
      expect(sessions.length).toBeGreaterThan(20);
      const events = (await Promise.all(sessions.map((s) => gw.store.getEvents(s.id)))).flat();
      expect(events.some((e) => e.type === 'session.end' && JSON.stringify(e.data).includes('target unavailable'))).toBe(true);
      const text = JSON.stringify({ sessions, events });
      const files = readdirSync(gw.dataDir).map((f) => readFileSync(join(gw.dataDir, f)));
      for (const s of secrets()) {
        expect(text).not.toContain(s);
        for (const f of files) expect(f.includes(Buffer.from(s))).toBe(false);
      }
    });

    it('not in the gateway log', () => {
      expect(logged.some((l) => l.includes('target unavailable') && l.includes('down'))).toBe(true);
      const text = logged.join('\n');
      for (const s of secrets()) expect(text).not.toContain(s);
    });
  });
});
