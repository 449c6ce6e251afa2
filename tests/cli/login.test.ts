/**
 * `sluice login` (device flow against a real oidc-provider, approved by a
 * scripted "browser"), `whoami`, silent refresh, `connect` (psql with no
 * password), `token delegate` with the logged-in credential, and `logout`.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDeviceProvider, type DeviceProvider } from '../../packages/identity-oidc/src/device-provider.js';
import { createEnv, CLI, ensureBuilt, freePort, killLeftovers, parseJson, pgSkip, PSQL, startProc, waitFor, type Env, type Gateway } from './harness.js';
import { PG } from '../support/services.js';

const skip = await pgSkip();

beforeAll(() => ensureBuilt(), 300_000);
afterAll(() => killLeftovers());

const ACCOUNTS = [{ id: 'alice', email: 'alice@example.com', groups: ['agents', 'dba'] }];

function config(db: string, issuer: string): string {
  return `dataDir: ./data
admin:
  listen: 127.0.0.1:0
  groups: [admins]
listeners:
  postgres: 127.0.0.1:0
identity:
  oidc:
    - issuer: ${issuer}
      audience: sluice
      clientId: sluice
connections:
  - name: orders
    type: postgres
    target: postgres://${PG.user}@${PG.host}:${PG.port}/${db}?sslmode=disable
    access: [agents]
policies:
  - name: pii
    mask:
      detectors: [email]
`;
}

interface Setup {
  e: Env;
  gw: Gateway;
  op: DeviceProvider;
  /** The user's config dir (credential cache). */
  home: string;
  /** `sluice …` as the logged-in user (no --token). */
  user(args: string[]): ReturnType<Env['cli']>;
}

async function setup(opts: { idTokenTtlSec?: number } = {}): Promise<Setup> {
  const op = await startDeviceProvider({ accounts: ACCOUNTS, clientId: 'sluice', idTokenTtlSec: opts.idTokenTtlSec });
  onTestFinished(() => op.close());
  const e = await createEnv();
  onTestFinished(() => e.close());
  writeFileSync(e.config, config(e.db.name, op.issuer));
  const gw = await e.start();
  const home = mkdtempSync(join(tmpdir(), 'sluice-home-'));
  return { e, gw, op, home, user: (args) => e.cli([...args, '--server', gw.adminUrl], { SLUICE_CONFIG_DIR: home }) };
}

/** Runs `sluice login`, approving as `account` in the provider when it prints the URL. */
async function login(s: Setup, account: string | null) {
  const p = startProc(process.execPath, [CLI, 'login', '--server', s.gw.adminUrl, '-c', s.e.config], { cwd: s.e.dir, env: { SLUICE_CONFIG_DIR: s.home }, timeoutMs: 60_000 });
  const url = await waitFor('the device-flow prompt', async () => /open (\S+)\nand confirm the code \S+/.exec(p.stderr())?.[1], 20_000);
  expect(p.stderr()).toMatch(/confirm the code \S+/);
  if (account) await s.op.approve(url, account);
  else await s.op.deny(url);
  return p.done;
}

describe.skipIf(!!skip)(`sluice login / whoami / connect / logout${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('device-flow login, whoami, connect lets psql in without a password, delegate, logout', { timeout: 90_000 }, async () => {
    const s = await setup();
    const r = await login(s, 'alice');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Logged in to .* as alice@example\.com \[agents, dba\]/);
    const cache = join(s.home, 'credentials.json');
    expect(statSync(cache).mode & 0o777).toBe(0o600);
    expect(statSync(s.home).mode & 0o077).toBe(0);

    const who = await s.user(['whoami']);
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toMatch(/subject: alice@example\.com/);
    expect(who.stdout).toMatch(/groups:\s+agents, dba/);
    expect(who.stdout).toMatch(/via:\s+oidc/);
    expect(who.stdout).toMatch(/expiry:\s+expires \S+ \(in \d+/);

    // connect: a loopback listener; psql needs no password
    const port = await freePort();
    const c = startProc(process.execPath, [CLI, 'connect', 'orders', '--port', String(port), '--server', s.gw.adminUrl, '-c', s.e.config], {
      cwd: s.e.dir,
      env: { SLUICE_CONFIG_DIR: s.home },
      timeoutMs: 60_000,
    });
    await waitFor('connect to listen', async () => c.stdout().includes(`port=${port}`) && c.stderr().includes('Forwarding'), 15_000);
    expect(c.stderr()).toMatch(new RegExp(`Forwarding 127\\.0\\.0\\.1:${port} → orders \\(postgres\\) as alice@example\\.com`));
    const q = await startProc(PSQL, ['-X', '-A', '-t', '-w', '-h', '127.0.0.1', '-p', String(port), '-d', 'orders', '-c', 'SELECT email FROM customers ORDER BY id LIMIT 1'], { env: {} }).done;
    expect(q.code, q.stderr).toBe(0);
    // through the gateway: masked
    expect(q.stdout.trim()).toBe('[REDACTED:email]');
    const sessions = parseJson<any[]>(await s.e.cli(['sessions', 'list', '--json']));
    expect(sessions[0]).toMatchObject({ subject: 'alice@example.com', via: 'oidc', connection: 'orders' });
    c.child.kill('SIGINT');
    expect((await c.done).code).toBe(0);

    // a non-loopback listen address is refused
    const bad = await s.user(['connect', 'orders', '--host', '0.0.0.0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/loopback/);
    // an unknown connection: one clear line
    const unknown = await s.user(['connect', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no connection "nope" that you may open/);

    // the logged-in person delegates to an agent
    const d = await s.user(['token', 'delegate', '--agent', 'copilot', '--ttl', '5m']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stderr).toMatch(/copilot for alice@example\.com/);

    const out = await s.user(['logout']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/logged out/);
    const after = await s.user(['whoami']);
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/needs a credential: sluice login/);
    expect(JSON.parse(readFileSync(cache, 'utf8')).servers).toEqual({});
  });

  it('a credential about to expire is refreshed silently', { timeout: 60_000 }, async () => {
    // 62 s tokens: within the CLI's 60 s refresh margin after two seconds
    const s = await setup({ idTokenTtlSec: 62 });
    expect((await login(s, 'alice')).code).toBe(0);
    const cache = join(s.home, 'credentials.json');
    const first = JSON.parse(readFileSync(cache, 'utf8'));
    const before = Object.values<any>(first.servers)[0].credential;
    await new Promise((r) => setTimeout(r, 2500));
    const who = await s.user(['whoami', '--json']);
    expect(who.code, who.stderr).toBe(0);
    expect(parseJson(who).subject).toBe('alice@example.com');
    const now = Object.values<any>(JSON.parse(readFileSync(cache, 'utf8')).servers)[0];
    expect(now.credential).not.toBe(before);
    expect(statSync(cache).mode & 0o777).toBe(0o600);
  });

  it('a denied login says so and caches nothing', { timeout: 60_000 }, async () => {
    const s = await setup();
    const r = await login(s, null);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/login denied/);
    const who = await s.user(['whoami']);
    expect(who.code).toBe(1);
  });
});
