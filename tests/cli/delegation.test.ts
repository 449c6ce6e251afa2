/**
 * Delegated tokens as a platform engineer uses them: a person mints a
 * short-lived token for an agent with `sluice token delegate`, the agent
 * connects with psql, policies tell the agent from the person, the token
 * cannot widen anything, revocation works before expiry, the signing key
 * rotates without a restart, and approvals routed to `$subject` go to the
 * human the agent acts for.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { writeFileSync } from 'node:fs';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { createEnv, ensureBuilt, killLeftovers, parseJson, pgSkip, waitFor, type Env } from './harness.js';
import { PG } from '../support/services.js';

const skip = await pgSkip();

beforeAll(() => ensureBuilt(), 300_000);
afterAll(() => killLeftovers());

function config(db: string): string {
  return `dataDir: ./data
admin:
  listen: 127.0.0.1:0
  groups: [admins]
listeners:
  postgres: 127.0.0.1:0
identity:
  delegation:
    maxTtl: 1h
connections:
  - name: orders
    type: postgres
    target: postgres://${PG.user}@${PG.host}:${PG.port}/${db}?sslmode=disable
    access: [agents, dba]
  - name: reports
    type: postgres
    target: postgres://${PG.user}@${PG.host}:${PG.port}/${db}?sslmode=disable
    access: [dba]
policies:
  - name: agents-read-only
    actors: any
    block:
      sql: [INSERT, UPDATE]
      message: agents may only read
  - name: owner-confirms-agent-deletes
    actors: any
    approve:
      sql: [DELETE]
      approvers: [$subject]
      timeout: 1m
`;
}

async function env(): Promise<Env> {
  const e = await createEnv();
  writeFileSync(e.config, config(e.db.name));
  onTestFinished(() => e.close());
  return e;
}

describe.skipIf(!!skip)(`sluice token delegate / revoke / rotate-key and $subject approvals${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('a delegated token names agent and human, is judged as an agent, cannot widen, and is revocable', { timeout: 90_000 }, async () => {
    const e = await env();
    const alice = await e.key('alice@example.com', ['agents', 'dba']);
    const gw = await e.start();
    const as = (token: string) => ['--server', gw.adminUrl, '--token', token];

    // mint: the token alone on stdout, a description on stderr
    const d = await e.cli(['token', 'delegate', '--agent', 'billing-agent', '--ttl', '10m', '--groups', 'agents', ...as(alice.secret)]);
    expect(d.code, d.stderr).toBe(0);
    const token = d.stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    expect(d.stderr).toMatch(/billing-agent for alice@example\.com \[agents\].*expires/);

    // the token verifies against the gateway's published JWKS (EdDSA)
    const jwks = (await (await fetch(`${gw.adminUrl}/.well-known/jwks.json`)).json()) as { keys: Array<Record<string, string>> };
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(JSON.stringify(jwks)).not.toMatch(/"d"/);
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: gw.adminUrl, audience: 'sluice' });
    expect(payload).toMatchObject({ sub: 'alice@example.com', act: { sub: 'billing-agent' }, groups: ['agents'] });

    // whoami with the token
    const w = parseJson(await e.cli(['whoami', '--json', ...as(token)]));
    expect(w).toMatchObject({ subject: 'alice@example.com', actors: ['billing-agent'], groups: ['agents'], via: 'delegated' });

    // the agent reads; its INSERT is blocked by the actors: any policy; alice's own INSERT is not
    const read = await e.psql(token, 'SELECT count(*) FROM customers').done;
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout.trim()).toBe('3');
    const ins = await e.psql(token, "INSERT INTO customers VALUES (9, 'x', 'x@example.com')").done;
    expect(ins.code).not.toBe(0);
    expect(ins.stderr).toMatch(/42501.*agents-read-only/s);
    const own = await e.psql(alice.secret, "INSERT INTO customers VALUES (9, 'x', 'x@example.com')").done;
    expect(own.code, own.stderr).toBe(0);

    // the sessions name both
    const sessions = parseJson<any[]>(await e.cli(['sessions', 'list', '--json', ...as(alice.secret)]).then(async (r) => (r.code === 0 ? r : e.cli(['sessions', 'list', '--json']))));
    expect(sessions.map((s) => s.who)).toContain('billing-agent for alice@example.com');

    // it cannot widen groups, TTL or connections
    const wider = await e.cli(['token', 'delegate', '--agent', 'x', '--groups', 'agents,admins', ...as(alice.secret)]);
    expect(wider.code).toBe(1);
    expect(wider.stderr).toMatch(/not a member of admins/);
    const longer = await e.cli(['token', 'delegate', '--agent', 'x', '--ttl', '2h', ...as(alice.secret)]);
    expect(longer.code).toBe(1);
    expect(longer.stderr).toMatch(/longer than the maximum 1h/);
    // a token limited to agents cannot name a dba-only connection; nor can a token re-delegate wider
    const conn = await e.cli(['token', 'delegate', '--agent', 'x', '--groups', 'agents', '--connections', 'reports', ...as(alice.secret)]);
    expect(conn.code).toBe(1);
    expect(conn.stderr).toMatch(/no connection "reports"/);
    const again = await e.cli(['token', 'delegate', '--agent', 'sub-agent', '--groups', 'dba', ...as(token)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not a member of dba/);
    const outlive = await e.cli(['token', 'delegate', '--agent', 'sub-agent', '--ttl', '30m', ...as(token)]);
    expect(outlive.code).toBe(1);
    expect(outlive.stderr).toMatch(/cannot outlive/);

    // a connection-limited token opens only that connection
    const limited = (await e.cli(['token', 'delegate', '--agent', 'rep', '--connections', 'reports', ...as(alice.secret)])).stdout.trim();
    expect((await e.psql(limited, 'SELECT 1', { database: 'reports' }).done).code).toBe(0);
    const other = await e.psql(limited, 'SELECT 1').done;
    expect(other.code).not.toBe(0);
    expect(other.stderr).not.toMatch(/password authentication failed/);

    // list shows it; revoke refuses the next connection with 28P01 and ends live sessions
    const list = parseJson<any[]>(await e.cli(['token', 'list', '--json', ...as(alice.secret)]));
    const id = list.find((t) => t.actors[0] === 'billing-agent')!.id as string;
    const live = e.psql(token, null, { stopOnError: false });
    live.child.stdin!.write('SELECT 40 + 2;\n');
    await waitFor('the agent session', async () => live.stdout().includes('42'));
    const rv = await e.cli(['token', 'revoke', id, ...as(alice.secret)]);
    expect(rv.code, rv.stderr).toBe(0);
    expect(rv.stdout).toMatch(new RegExp(`revoked ${id} \\(ended 1 live session\\)`));
    await live.done;
    const after = await e.psql(token, 'SELECT 1').done;
    expect(after.code).not.toBe(0);
    expect(after.stderr).toMatch(/password authentication failed/);
    // someone else cannot see or revoke alice's tokens
    const bob = await e.key('bob@example.com', ['dba']);
    const foreign = await e.cli(['token', 'revoke', list[0].id, ...as(bob.secret)]);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/404: no token/);
  });

  it('rotate-key: new tokens use the new key, earlier tokens keep working, without a restart', async () => {
    const e = await env();
    const alice = await e.key('alice@example.com', ['agents']);
    const gw = await e.start();
    const as = ['--server', gw.adminUrl, '--token', alice.secret];
    const t1 = (await e.cli(['token', 'delegate', '--agent', 'a1', ...as])).stdout.trim();
    const r = await e.cli(['token', 'rotate-key']);
    expect(r.code, r.stderr).toBe(0);
    const t2 = (await e.cli(['token', 'delegate', '--agent', 'a2', ...as])).stdout.trim();
    expect(decodeProtectedHeader(t2).kid).not.toBe(decodeProtectedHeader(t1).kid);
    expect(r.stdout).toContain(String(decodeProtectedHeader(t2).kid));
    for (const t of [t1, t2]) expect((await e.psql(t, 'SELECT 1').done).code).toBe(0);
    const jwks = (await (await fetch(`${gw.adminUrl}/.well-known/jwks.json`)).json()) as { keys: Array<Record<string, string>> };
    expect(jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([decodeProtectedHeader(t1).kid, decodeProtectedHeader(t2).kid]));
  });

  it("an agent's DELETE routed to $subject: only the human it acts for may approve", async () => {
    const e = await env();
    const alice = await e.key('alice@example.com', ['agents']);
    const bob = await e.key('bob@example.com', ['agents', 'dba', 'admins']);
    const gw = await e.start();
    const agentToken = (await e.cli(['token', 'delegate', '--agent', 'billing-agent', '--server', gw.adminUrl, '--token', alice.secret])).stdout.trim();
    // another agent key acting for alice (same subject, different actor)
    const sibling = await e.key('other-agent', ['agents'], 'alice@example.com');

    const del = e.psql(agentToken, 'DELETE FROM customers WHERE id = 1');
    const notice = await waitFor('the approval notice', async () => /apr_[\w-]+/.exec(del.stderr()), 15_000);
    const reqId = notice[0];
    const approve = (token: string) => e.cli(['approvals', 'approve', reqId, '--server', gw.adminUrl, '--token', token]);

    // the agent itself, another agent acting for alice, and bob (even an admin) cannot approve
    for (const t of [agentToken, sibling.secret, bob.secret]) {
      const r = await approve(t);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/403/);
    }
    // alice, acting directly, can
    const ok = await approve(alice.secret);
    expect(ok.code, ok.stderr).toBe(0);
    const res = await del.done;
    expect(res.code, res.stderr).toBe(0);
    expect((await e.db.query('SELECT count(*)::int AS n FROM customers')).rows[0].n).toBe(2);
  });
});
