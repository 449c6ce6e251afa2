/**
 * `sluice start` as a user runs it, with psql through the gateway and the CLI
 * and admin API looking at it. Each test: its own temp dir, config, store,
 * PostgreSQL database and ports.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { createEnv, ensureBuilt, killLeftovers, parseJson, pgSkip, waitFor, type Env, type Key } from './harness.js';

const skip = await pgSkip();

beforeAll(() => ensureBuilt(), 300_000);
afterAll(() => killLeftovers());

async function env(opts: Parameters<typeof createEnv>[0] = {}): Promise<Env> {
  const e = await createEnv(opts);
  onTestFinished(() => e.close());
  return e;
}

/** The usual cast: an admin, and an agent acting for alice. */
async function cast(e: Env): Promise<{ admin: Key; agent: Key }> {
  const [admin, agent] = await Promise.all([e.key('ops-admin', ['admins']), e.key('billing-agent', ['agents'], 'alice@example.com')]);
  return { admin, agent };
}

const lines = (s: string) => s.split('\n').filter((l) => l.length > 0);

describe.skipIf(!!skip)(`sluice start, sessions, keys and the admin API${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('start runs in the foreground; SIGTERM drains: no new clients, open sessions finish, exit 0', async () => {
    const e = await env({ seedTls: false });
    const { agent } = await cast(e);
    const gw = await e.start();
    // no cert configured: a self-signed one is generated into dataDir
    expect(existsSync(join(e.dir, 'data', 'tls.crt'))).toBe(true);
    expect(gw.proc.stdout()).toBe('');

    const psql = e.psql(agent.secret, null, { stopOnError: false });
    psql.child.stdin!.write('SELECT 40 + 2;\n');
    await waitFor('psql to answer', async () => psql.stdout().includes('42'));

    gw.proc.child.kill('SIGTERM');
    await waitFor('the gateway to drain', async () => /"signal":"SIGTERM".*"msg":"draining/.test(gw.proc.stderr()));
    // new clients are refused while draining
    const late = await e.psql(agent.secret, 'SELECT 1').done;
    expect(late.code).toBe(2);
    expect(late.stderr).toMatch(/Connection refused/i);
    // the open session still works, and its end lets the gateway stop
    psql.child.stdin!.end("SELECT 'still ' || 'here';\n");
    const p = await psql.done;
    expect(p.code).toBe(0);
    expect(p.stdout).toContain('still here');

    const exit = await gw.proc.done;
    expect(exit.signal).toBeNull();
    expect(exit.code).toBe(0);

    // the store was closed cleanly: the session is ended and the chain verifies
    const [list, audit] = await Promise.all([e.cli(['sessions', 'list', '--json']), e.cli(['audit', 'verify'])]);
    const sessions = parseJson<any[]>(list);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ live: false, endReason: 'client disconnected' });
    expect(audit.code).toBe(0);
  });

  it('a second signal while draining stops at once (exit 1) and ends the open session', async () => {
    const e = await env();
    const { agent } = await cast(e);
    const gw = await e.start();
    const psql = e.psql(agent.secret, 'SELECT pg_sleep(30)');
    await waitFor('the statement to reach PostgreSQL', async () => {
      const r = await e.db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'SELECT pg_sleep(30)'`);
      return r.rows[0].n > 0;
    });
    gw.proc.child.kill('SIGTERM');
    await waitFor('the gateway to drain', async () => /draining/.test(gw.proc.stderr()));
    gw.proc.child.kill('SIGINT');
    const exit = await gw.proc.done;
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/"signal":"SIGINT".*second signal/);
    const p = await psql.done;
    expect(p.code).not.toBe(0);
  });

  it('start on a busy port: one line, exit 1', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    onTestFinished(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as AddressInfo).port;
    const e = await env({ adminListen: `127.0.0.1:${port}` });
    const r = await e.cli(['start']);
    expect(r.code).toBe(1);
    const err = lines(r.stderr).filter((l) => !l.startsWith('{'));
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^sluice: cannot start: .*EADDRINUSE/);
  });

  it('psql through the gateway; sessions list / show / replay describe it', async () => {
    const e = await env();
    const { admin, agent } = await cast(e);
    const gw = await e.start();
    const api = ['--server', gw.adminUrl, '--token', admin.secret];

    const p = await e.psql(agent.secret, ['SELECT id, name, email FROM customers ORDER BY id', 'DROP TABLE customers', 'SELECT count(*) FROM customers'], { stopOnError: false }).done;
    expect(p.stdout.split('\n').slice(0, 3)).toEqual(['1|Jane Doe|[REDACTED:email]', '2|John Roe|[REDACTED:email]', '3|Ann Poe|[REDACTED:email]']);
    expect(p.stdout).not.toContain('@example');
    // the blocked statement: ERROR 42501 naming the policy; the session stays usable
    expect(p.stderr).toMatch(/ERROR:\s+42501: .*DDL is not allowed through the gateway/);
    expect(p.stderr).toContain('no-ddl');
    expect(lines(p.stdout).at(-1)).toBe('3');
    expect((await e.db.query('SELECT count(*)::int AS n FROM customers')).rows[0].n).toBe(3);

    const list = await e.cli(['sessions', 'list', '--json', ...api]);
    expect(list.code).toBe(0);
    const sessions = parseJson<any[]>(list);
    expect(sessions).toHaveLength(1);
    const s = sessions[0];
    expect(s).toMatchObject({
      connection: 'orders',
      protocol: 'postgres',
      subject: 'alice@example.com',
      actors: ['billing-agent'],
      groups: ['agents'],
      via: 'api-key',
      who: 'billing-agent for alice@example.com',
      live: false,
      endReason: expect.any(String),
    });
    expect(s.id).toMatch(/^ses_\w+$/);
    expect(new Date(s.startedAt).toISOString()).toBe(s.startedAt);

    const text = await e.cli(['sessions', 'list', ...api]);
    expect(text.stdout).toMatch(new RegExp(`^${s.id}  \\S+  postgres/orders  billing-agent for alice@example\\.com  ended: `, 'm'));
    // filters reach the API
    expect(parseJson<any[]>(await e.cli(['sessions', 'list', '--json', '--subject', 'bob@example.com', ...api]))).toEqual([]);

    const show = await e.cli(['sessions', 'show', s.id, '--json', ...api]);
    expect(show.code).toBe(0);
    const { session, events } = parseJson<{ session: any; events: any[] }>(show);
    expect(session).toMatchObject({ id: s.id, who: 'billing-agent for alice@example.com' });
    expect(events.map((x) => x.seq)).toEqual(events.map((_, i) => i + 1));
    for (const ev of events) {
      expect(Object.keys(ev)).toEqual(expect.arrayContaining(['seq', 'at', 'type', 'prev', 'hash', 'data']));
      expect(new Date(ev.at).toISOString()).toBe(ev.at);
      expect(ev.hash).toMatch(/^[0-9a-f]{64}$/);
    }
    for (let i = 1; i < events.length; i++) expect(events[i].prev).toBe(events[i - 1].hash);
    expect(events[0].type).toBe('session.start');
    expect(events[0].data).toMatchObject({
      identity: { subject: 'alice@example.com', actors: ['billing-agent'], groups: ['agents'], via: 'api-key' },
      connection: 'orders',
      protocol: 'postgres',
      client: expect.objectContaining({ application: 'psql' }),
    });
    expect(events.at(-1)).toMatchObject({ type: 'session.end', data: { reason: expect.any(String) } });
    const commands = events.filter((x) => x.type === 'command');
    expect(commands.map((c) => [c.data.kind, c.data.decision, c.data.policy])).toEqual([
      ['SELECT', 'allow', null],
      ['DROP', 'block', 'no-ddl'],
      ['SELECT', 'allow', null],
    ]);
    expect(commands[0].data).toMatchObject({ text: 'SELECT id, name, email FROM customers ORDER BY id', objects: ['customers'], flags: [] });
    const firstResult = events[events.indexOf(commands[0]) + 1];
    expect(firstResult).toMatchObject({ type: 'result', data: { rows: 3, masked: 3 } });
    expect(typeof firstResult.data.ms).toBe('number');
    // the API and the store agree (reading the store directly: no --server/--token)
    const direct = parseJson<{ session: any; events: any[] }>(await e.cli(['sessions', 'show', s.id, '--json']));
    expect(direct.events).toEqual(events);

    const replay = await e.cli(['sessions', 'replay', s.id, ...api]);
    expect(replay.code).toBe(0);
    const out = replay.stdout;
    expect(out).toMatch(new RegExp(`^session ${s.id}  postgres → orders  billing-agent for alice@example\\.com  from 127\\.0\\.0\\.1:\\d+$`, 'm'));
    expect(out).toMatch(/^\d\d:\d\d:\d\d\.\d{3}  1 +session start +billing-agent for alice@example\.com \[agents\] via api-key, psql$/m);
    expect(out).toMatch(/ allow +SELECT id, name, email FROM customers ORDER BY id$/m);
    expect(out).toMatch(/→ 3 rows, 3 masked, [\d.]+ ms$/m);
    expect(out).toMatch(/ BLOCK +DROP TABLE customers +\[no-ddl\]$/m);
    expect(out).toMatch(/session end /);
    // `show` without --json is the same timeline
    expect((await e.cli(['sessions', 'show', s.id, ...api])).stdout).toBe(out);

    const missing = await e.cli(['sessions', 'show', 'ses_nope', ...api]);
    expect(missing.code).toBe(1);
    expect(lines(missing.stderr)).toEqual(['sluice: 404: no session ses_nope']);
  });

  it('sessions kill ends a live psql session', async () => {
    const e = await env();
    const { admin, agent } = await cast(e);
    const gw = await e.start();
    const api = ['--server', gw.adminUrl, '--token', admin.secret];
    const psql = e.psql(agent.secret, 'SELECT pg_sleep(30)');
    const live = await waitFor(
      'a live session',
      async () => parseJson<any[]>(await e.cli(['sessions', 'list', '--json', ...api])).find((s) => s.live),
      10_000,
      100,
    );
    expect(live.who).toBe('billing-agent for alice@example.com');
    expect((await e.cli(['sessions', 'list', ...api])).stdout).toMatch(new RegExp(`^${live.id} .* open$`, 'm'));

    const kill = await e.cli(['sessions', 'kill', live.id, ...api]);
    expect(kill.code).toBe(0);
    expect(kill.stdout.trim()).toBe(`killed ${live.id}`);
    const p = await psql.done;
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/FATAL:\s+57P01: terminating connection: killed by an administrator/);

    const { session, events } = parseJson<{ session: any; events: any[] }>(await e.cli(['sessions', 'show', live.id, '--json', ...api]));
    expect(session).toMatchObject({ live: false, endReason: 'killed by an administrator' });
    expect(events.at(-1)).toMatchObject({ type: 'session.end', data: { reason: 'killed by an administrator' } });

    const again = await e.cli(['sessions', 'kill', live.id, ...api]);
    expect(again.code).toBe(1);
    expect(lines(again.stderr)).toEqual([`sluice: 404: no live session ${live.id}`]);
    // killing needs admin
    const agentKill = await e.cli(['sessions', 'kill', live.id, '--server', gw.adminUrl, '--token', agent.secret]);
    expect(agentKill.code).toBe(1);
    expect(agentKill.stderr).toMatch(/^sluice: 403: /);
  });

  it('keys revoke: the revoked key is refused by the running gateway with FATAL 28P01', async () => {
    const e = await env();
    const { agent } = await cast(e);
    const gw = await e.start();
    const ok = await e.psql(agent.secret, 'SELECT 1').done;
    expect(ok.code).toBe(0);

    const rev = await e.cli(['keys', 'revoke', agent.id]);
    expect(rev.code).toBe(0);
    const refused = await e.psql(agent.secret, 'SELECT 1').done;
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/FATAL:\s+password authentication failed for user "alice"/);
    // the same refusal as for a credential that never existed (never which part was wrong)
    const bogus = await e.psql('sk_not_a_key', 'SELECT 1').done;
    expect(bogus.stderr.replace(/port \d+/, '')).toBe(refused.stderr.replace(/port \d+/, ''));
    // SQLSTATE as a driver sees it
    const c = new pg.Client({ host: '127.0.0.1', port: gw.pgPort, user: 'alice', database: 'orders', password: agent.secret, ssl: { rejectUnauthorized: false } });
    c.on('error', () => undefined);
    const err = await c.connect().then(
      () => null,
      (x: unknown) => x as { code?: string; severity?: string },
    );
    await c.end().catch(() => undefined);
    expect(err).toMatchObject({ code: '28P01', severity: 'FATAL' });
  });

  it('admin API: 401 without or with a bad token, 403 for non-admins, /healthz and /metrics', async () => {
    const e = await env();
    const { admin, agent } = await cast(e);
    const gw = await e.start();
    const get = async (path: string, token?: string) => {
      const r = await fetch(gw.adminUrl + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
    };
    const body = (r: { text: string }) => JSON.parse(r.text);

    for (const path of ['/api/sessions', '/api/sessions/ses_x', '/api/approvals', '/api/audit/verify']) {
      const none = await get(path);
      expect(none.status, path).toBe(401);
      expect(none.type).toMatch(/application\/json/);
      expect(body(none).error).toMatch(/bearer token/);
      expect((await get(path, 'sk_bogus')).status, path).toBe(401);
    }
    const forbidden = await get('/api/sessions', agent.secret);
    expect(forbidden.status).toBe(403);
    expect(body(forbidden)).toEqual({ error: 'the admin API needs membership of: admins' });
    expect((await get('/api/audit/verify', agent.secret)).status).toBe(403);
    const del = await fetch(`${gw.adminUrl}/api/sessions/ses_x`, { method: 'DELETE', headers: { authorization: `Bearer ${agent.secret}` } });
    expect(del.status).toBe(403);

    const okList = await get('/api/sessions', admin.secret);
    expect(okList.status).toBe(200);
    expect(body(okList)).toEqual({ sessions: [] });
    expect(body(await get('/api/audit/verify', admin.secret))).toMatchObject({ ok: true, events: 0 });
    const unknown = await get('/api/nope', admin.secret);
    expect(unknown.status).toBe(404);
    expect(body(unknown).error).toMatch(/no route/);

    const health = await get('/healthz');
    expect(health.status).toBe(200);
    expect(body(health)).toMatchObject({ ok: true, sessions: 0 });

    const badStatus = await get('/api/approvals?status=bogus', admin.secret);
    expect(badStatus.status).toBe(400);
    expect(body(badStatus).error).toMatch(/^status must be one of pending, /);

    // traffic, in two sessions: one masked select, one blocked statement
    expect((await e.psql(agent.secret, 'SELECT email FROM customers').done).code).toBe(0);
    expect((await e.psql(agent.secret, 'TRUNCATE customers').done).stderr).toMatch(/ERROR:\s+42501: /);

    // listing: newest first, limit, before (a start time), connection and subject filters
    const all = body(await get('/api/sessions', admin.secret)).sessions as any[];
    expect(all).toHaveLength(2);
    expect(all[0].startedAt >= all[1].startedAt).toBe(true);
    const one = body(await get('/api/sessions?limit=1', admin.secret)).sessions as any[];
    expect(one.map((x) => x.id)).toEqual([all[0].id]);
    const older = body(await get(`/api/sessions?before=${encodeURIComponent(all[0].startedAt)}`, admin.secret)).sessions as any[];
    expect(older.map((x) => x.id)).toEqual([all[1].id]);
    expect(body(await get('/api/sessions?connection=nope', admin.secret)).sessions).toEqual([]);
    expect((body(await get('/api/sessions?subject=alice%40example.com&connection=orders', admin.secret)).sessions as any[]).length).toBe(2);
    const detail = await get(`/api/sessions/${all[1].id}`, admin.secret);
    expect(detail.status).toBe(200);
    expect(Object.keys(body(detail)).sort()).toEqual(['events', 'session']);
    expect((await get('/api/sessions/ses_nope', admin.secret)).status).toBe(404);
    const metrics = await waitFor('metrics of the finished session', async () => {
      const m = await get('/metrics');
      return /^sluice_sessions_active\{protocol="postgres"\} 0$/m.test(m.text) ? m : undefined;
    });
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain/);
    const m = metrics.text;
    for (const name of ['sluice_sessions_active', 'sluice_commands_total', 'sluice_approvals_pending', 'sluice_masked_cells_total', 'sluice_store_append_seconds', 'sluice_bytes_relayed_total']) {
      expect(m, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    const value = (re: RegExp) => Number(re.exec(m)?.[1]);
    expect(value(/^sluice_commands_total\{protocol="postgres",decision="allow"\} (\d+)$/m)).toBe(1);
    expect(value(/^sluice_commands_total\{protocol="postgres",decision="block"\} (\d+)$/m)).toBe(1);
    expect(value(/^sluice_approvals_pending (\d+)$/m)).toBe(0);
    expect(value(/^sluice_masked_cells_total\{protocol="postgres"\} (\d+)$/m)).toBe(3);
    expect(value(/^sluice_store_append_seconds_count (\d+)$/m)).toBeGreaterThan(0);
    expect(value(/^sluice_bytes_relayed_total\{protocol="postgres",direction="in"\} (\d+)$/m)).toBeGreaterThan(0);
    expect(value(/^sluice_bytes_relayed_total\{protocol="postgres",direction="out"\} (\d+)$/m)).toBeGreaterThan(0);
    expect(m).not.toContain(agent.secret);
  });
});
