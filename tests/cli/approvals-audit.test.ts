/**
 * Approvals decided through the CLI while psql waits, and `audit verify` on an
 * intact and a tampered store. Each test: its own temp dir, config, store,
 * PostgreSQL database and ports.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { join } from 'node:path';
import { createEnv, ensureBuilt, killLeftovers, openRawSqlite, parseJson, pgSkip, waitFor, type Env, type Key, type Proc } from './harness.js';

const skip = await pgSkip();

beforeAll(() => ensureBuilt(), 300_000);
afterAll(() => killLeftovers());

async function env(opts: Parameters<typeof createEnv>[0] = {}): Promise<Env> {
  const e = await createEnv(opts);
  onTestFinished(() => e.close());
  return e;
}

/** An admin, an approver (dba, not admin) and an agent acting for alice. */
async function cast(e: Env): Promise<{ admin: Key; approver: Key; agent: Key }> {
  const [admin, approver, agent] = await Promise.all([
    e.key('ops-admin', ['admins']),
    e.key('bob@example.com', ['dba']),
    e.key('billing-agent', ['agents'], 'alice@example.com'),
  ]);
  return { admin, approver, agent };
}

const lines = (s: string) => s.split('\n').filter((l) => l.length > 0);

/** The request id psql was told about in its NOTICE. */
async function noticedRequest(psql: Proc): Promise<string> {
  const m = await waitFor('the approval NOTICE', async () => /NOTICE:\s+01000: .*request (apr_\w+)/.exec(psql.stderr()), 10_000, 25);
  return m[1]!;
}

describe.skipIf(!!skip)(`sluice approvals and audit${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('approve: the approver lists it, the requester may not decide, the approver’s yes runs the DELETE, deciding twice is 409', async () => {
    const e = await env();
    const { admin, approver, agent } = await cast(e);
    const gw = await e.start();
    const as = (k: Key) => ['--server', gw.adminUrl, '--token', k.secret];

    const psql = e.psql(agent.secret, 'DELETE FROM customers');
    const id = await noticedRequest(psql);
    expect(psql.stderr()).toMatch(/needs approval \(policy "bulk-writes-need-approval"\).* sent to dba; waiting up to 1m/);
    const pendingGauge = async () => Number(/^sluice_approvals_pending (\d+)$/m.exec(await (await fetch(`${gw.adminUrl}/metrics`)).text())?.[1]);
    expect(await pendingGauge()).toBe(1);

    // the approver (not an admin) sees what they may decide
    const list = await e.cli(['approvals', 'list', '--pending', '--json', ...as(approver)]);
    expect(list.code).toBe(0);
    const pending = parseJson<any[]>(list);
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({
      id,
      status: 'pending',
      policy: 'bulk-writes-need-approval',
      command: { kind: 'DELETE', text: 'DELETE FROM customers', objects: ['customers'], flags: expect.arrayContaining(['unbounded']) },
      requester: { subject: 'alice@example.com', actors: ['billing-agent'] },
      requestedBy: 'billing-agent for alice@example.com',
      approvers: ['dba'],
      decidedAt: null,
      decidedBy: null,
    });
    expect(pending[0].session).toMatch(/^ses_/);
    expect(Date.parse(pending[0].expiresAt) - Date.parse(pending[0].createdAt)).toBe(60_000);
    const [text, asAgent, asAdmin] = await Promise.all([
      e.cli(['approvals', 'list', '--pending', ...as(approver)]),
      e.cli(['approvals', 'list', '--pending', '--json', ...as(agent)]),
      e.cli(['approvals', 'list', '--json', ...as(admin)]),
    ]);
    expect(text.stdout).toMatch(new RegExp(`^${id}  pending  billing-agent for alice@example\\.com  \\[bulk-writes-need-approval\\]  approvers: dba  expires \\S+$`, 'm'));
    expect(text.stdout).toMatch(/^ {4}DELETE FROM customers$/m);
    // the requester's own credential does not list it as something to decide
    expect(parseJson(asAgent)).toEqual([]);
    expect(parseJson<any[]>(asAdmin).map((a) => a.id)).toEqual([id]);

    // the requester cannot approve their own request
    const own = await e.cli(['approvals', 'approve', id, ...as(agent)]);
    expect(own.code).not.toBe(0);
    expect(lines(own.stderr)).toHaveLength(1);
    expect(own.stderr).toMatch(/403/);
    expect(own.stderr).toMatch(/own request/);
    // nor can an admin who is not an approver
    const byAdmin = await e.cli(['approvals', 'approve', id, ...as(admin)]);
    expect(byAdmin.code).not.toBe(0);
    expect(byAdmin.stderr).toMatch(/^sluice: 403: approving needs membership of: dba$/m);
    expect(psql.child.exitCode).toBeNull();

    const ok = await e.cli(['approvals', 'approve', id, '--reason', 'cleanup ticket 42', ...as(approver)]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim()).toBe(`${id} approved`);
    const p = await psql.done;
    expect(p.code).toBe(0);
    expect(p.stdout.trim()).toBe('DELETE 3');
    expect((await e.db.query('SELECT count(*)::int AS n FROM customers')).rows[0].n).toBe(0);
    expect(await pendingGauge()).toBe(0);

    // deciding again: 409, either way
    const [twice, denyLate] = await Promise.all([e.cli(['approvals', 'approve', id, ...as(approver)]), e.cli(['approvals', 'deny', id, ...as(approver)])]);
    for (const r of [twice, denyLate]) {
      expect(r.code).toBe(1);
      expect(lines(r.stderr)).toEqual([`sluice: 409: approval ${id} is already approved`]);
    }
    const unknown = await e.cli(['approvals', 'approve', 'apr_nope', ...as(approver)]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^sluice: 404: /);

    // the record and the session log
    const [after, show] = await Promise.all([e.cli(['approvals', 'list', '--json', ...as(admin)]), e.cli(['sessions', 'show', pending[0].session, '--json', ...as(admin)])]);
    expect(parseJson<any[]>(after)[0]).toMatchObject({ id, status: 'approved', decidedBy: 'bob@example.com', reason: 'cleanup ticket 42' });
    const events = parseJson<{ events: any[] }>(show).events;
    expect(events.map((x) => x.type)).toEqual(['session.start', 'command', 'approval.requested', 'approval.decided', 'result', 'session.end']);
    expect(events[1].data).toMatchObject({ kind: 'DELETE', decision: 'approve', policy: 'bulk-writes-need-approval' });
    expect(events[2].data).toMatchObject({ id, approvers: ['dba'], expiresAt: pending[0].expiresAt });
    expect(events[3].data).toMatchObject({ id, outcome: 'approved', by: 'bob@example.com', reason: 'cleanup ticket 42' });
    expect(events[4].data).toMatchObject({ affected: 3 });
    const replay = await e.cli(['sessions', 'replay', pending[0].session, ...as(admin)]);
    expect(replay.stdout).toMatch(/APPROVE +DELETE FROM customers +\[bulk-writes-need-approval\]/);
    expect(replay.stdout).toContain(`waiting for approval ${id} by dba until `);
    expect(replay.stdout).toContain(`approval ${id} approved by bob@example.com: cleanup ticket 42`);
    expect(replay.stdout).toMatch(/→ .*3 affected/);
  });

  it('deny: psql gets ERROR 42501 with the reason and keeps its session; nothing is deleted', async () => {
    const e = await env();
    const { approver, agent } = await cast(e);
    const gw = await e.start();
    const as = (k: Key) => ['--server', gw.adminUrl, '--token', k.secret];

    const psql = e.psql(agent.secret, ['UPDATE customers SET name = NULL', 'SELECT count(*) FROM customers WHERE name IS NOT NULL'], { stopOnError: false });
    const id = await noticedRequest(psql);
    const r = await e.cli(['approvals', 'deny', id, '--reason', 'not during business hours', '--json', ...as(approver)]);
    expect(r.code).toBe(0);
    expect(parseJson(r)).toMatchObject({ id, status: 'denied', decidedBy: 'bob@example.com', reason: 'not during business hours' });
    const p = await psql.done;
    expect(p.stderr).toMatch(new RegExp(`ERROR:\\s+42501: approval ${id} denied by bob@example\\.com: not during business hours`));
    expect(p.stderr).toContain('bulk-writes-need-approval');
    expect(p.stdout.trim()).toBe('3');
    expect((await e.db.query('SELECT count(*)::int AS n FROM customers WHERE name IS NOT NULL')).rows[0].n).toBe(3);

    const again = await e.cli(['approvals', 'approve', id, ...as(approver)]);
    expect(again.code).toBe(1);
    expect(lines(again.stderr)).toEqual([`sluice: 409: approval ${id} is already denied`]);
  });

  it('timeout: an undecided request expires, psql gets ERROR 42501, the list shows it expired', async () => {
    const e = await env({ approvalTimeout: '1500ms' });
    const [admin, agent] = await Promise.all([e.key('ops-admin', ['admins']), e.key('billing-agent', ['agents'], 'alice@example.com')]);
    const gw = await e.start();
    const psql = e.psql(agent.secret, 'DELETE FROM customers');
    const id = await noticedRequest(psql);
    const p = await psql.done;
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(new RegExp(`ERROR:\\s+42501: approval ${id} (timed out|expired)`));
    expect((await e.db.query('SELECT count(*)::int AS n FROM customers')).rows[0].n).toBe(3);
    const list = parseJson<any[]>(await e.cli(['approvals', 'list', '--json', '--server', gw.adminUrl, '--token', admin.secret]));
    expect(list).toEqual([expect.objectContaining({ id, status: 'expired' })]);
    const late = await e.cli(['approvals', 'approve', id, '--server', gw.adminUrl, '--token', admin.secret]);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/^sluice: 409: /);
  });

  it('audit verify: exit 0 on an intact store; after one event is edited in the SQLite file, exit 1 naming the session and seq', async () => {
    const e = await env();
    const { admin, agent } = await cast(e);
    const gw = await e.start();
    const p = await e.psql(agent.secret, ['SELECT id, email FROM customers', 'SELECT 1']).done;
    expect(p.code).toBe(0);

    const [viaApi, viaApiJson, direct] = await Promise.all([
      e.cli(['audit', 'verify', '--server', gw.adminUrl, '--token', admin.secret]),
      e.cli(['audit', 'verify', '--json', '--server', gw.adminUrl, '--token', admin.secret]),
      e.cli(['audit', 'verify']),
    ]);
    expect(viaApi.code).toBe(0);
    expect(viaApi.stdout.trim()).toMatch(/^audit ok: \d+ events in 1 sessions, hash chains intact$/);
    const ok = parseJson(viaApiJson);
    expect(ok).toMatchObject({ ok: true, sessions: 1 });
    expect(ok.events).toBeGreaterThanOrEqual(6);
    expect(ok.firstBad).toBeUndefined();
    expect(direct.code).toBe(0);
    expect(direct.stdout).toBe(viaApi.stdout);

    const stop = await gw.stop('SIGTERM');
    expect(stop.code).toBe(0);
    e.gw = null;

    // edit the first result's row count, behind the log's back
    const db = openRawSqlite(join(e.dir, 'data', 'sluice.db'));
    let target!: { session: string; seq: number };
    try {
      // events are stored as journal lines (session, seq, at, type, prev, hash, data), a block per session per batch
      const blocks = db.prepare(`SELECT session, first_seq, events FROM event_blocks ORDER BY session, first_seq`).all() as { session: string; first_seq: number; events: string }[];
      const block = blocks.find((b) => b.events.split('\n').some((l) => l.split('\t')[3] === 'result'))!;
      const lines = block.events.split('\n');
      const i = lines.findIndex((l) => l.split('\t')[3] === 'result');
      const f = lines[i]!.split('\t');
      target = { session: f[0]!, seq: Number(f[1]) };
      const data = JSON.parse(f[6]!);
      expect(data.rows).toBe(3);
      data.rows = 1;
      lines[i] = [...f.slice(0, 6), JSON.stringify(data)].join('\t');
      expect(db.prepare('UPDATE event_blocks SET events = ? WHERE session = ? AND first_seq = ?').run(lines.join('\n'), block.session, block.first_seq).changes).toBe(1);
    } finally {
      db.close();
    }

    const [bad, badJson] = await Promise.all([e.cli(['audit', 'verify']), e.cli(['audit', 'verify', '--json'])]);
    expect(bad.code).toBe(1);
    const said = bad.stdout + bad.stderr;
    expect(said).toContain(target.session);
    expect(said).toMatch(new RegExp(`event #${target.seq}\\b`));
    expect(said).toMatch(/edited|hash does not match/);
    expect(badJson.code).toBe(1);
    expect(parseJson(badJson)).toMatchObject({ ok: false, firstBad: { session: target.session, seq: target.seq, type: 'result' } });
  });
});
