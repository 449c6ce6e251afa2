/**
 * The CLI without a running gateway: help, usage errors, `config check`, and
 * `keys` against the configured store. Runs the built dist/cli.js.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configYaml, ensureBuilt, freePort, killLeftovers, parseJson, sluice } from './harness.js';

beforeAll(() => ensureBuilt(), 300_000);
afterAll(() => killLeftovers());

/** A fresh temp dir, removed after the test. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const lines = (s: string) => s.split('\n').filter((l) => l.length > 0);

describe('sluice --help and usage errors', () => {
  it('prints the overview on --help, -h and no arguments; exit 0', async () => {
    const all = [['--help'], ['-h'], []];
    const results = await Promise.all(all.map((args) => sluice(args)));
    for (const [i, r] of results.entries()) {
      expect(r.code, all[i]!.join(' ')).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Usage: sluice <command>/m);
      for (const cmd of ['start', 'demo', 'config check', 'keys create', 'approvals approve', 'sessions show', 'audit verify']) expect(r.stdout).toContain(cmd);
    }
  });

  it.each([
    ['start', /sluice start \[-c sluice\.yaml\]/],
    ['demo', /sluice demo/],
    ['config', /sluice config check \[-c FILE\]/],
    ['keys', /sluice keys create --name NAME/],
    ['approvals', /sluice approvals approve ID/],
    ['sessions', /sluice sessions show ID/],
    ['audit', /sluice audit verify/],
  ])('`%s --help` prints that command’s usage and the common options, does nothing else', async (cmd, usage) => {
    const dir = tempDir();
    // `start --help` and `demo --help` must not start anything: they return at once.
    // -h after a subcommand, and `help CMD`, print the same text
    const [long, short] = await Promise.all([sluice([cmd, '--help'], { cwd: dir }), sluice(cmd === 'keys' ? [cmd, 'list', '-h'] : ['help', cmd], { cwd: dir })]);
    for (const r of [long, short]) {
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Usage:/);
      expect(r.stdout).toMatch(usage);
      expect(r.stdout).toContain('--token TOKEN');
    }
    expect(short.stdout).toBe(long.stdout);
    expect(existsSync(join(dir, '.sluice'))).toBe(false);
  });

  it('an unknown command is one line on stderr and exit 1, even with --help', async () => {
    const all = [['frobnicate'], ['frobnicate', '--help'], ['help', 'frobnicate']];
    const results = await Promise.all(all.map((args) => sluice(args)));
    for (const [i, r] of results.entries()) {
      expect(r.code, all[i]!.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(lines(r.stderr)).toEqual([`sluice: unknown command "frobnicate" (see sluice --help)`]);
    }
  });

  it.each([
    [['keys', 'list', '--frobnicate'], /--frobnicate/],
    [['sessions', 'list', '--limit'], /--limit/],
    [['keys', 'create', '--groups', 'a'], /--name is required/],
    [['keys', 'create', '--name', 'x', '--ttl', 'forever'], /--ttl: invalid duration "forever"/],
    [['keys', 'create', '--name', 'x', '--ttl', '0s'], /--ttl must be longer than 0/],
    [['sessions', 'list', '--limit', 'ten'], /--limit must be a positive whole number, got "ten"/],
    [['sessions', 'show', 'a', 'b'], /unexpected argument "b"/],
    [['sessions', 'show'], /usage: sluice sessions show ID/],
    [['keys', 'frob'], /usage: sluice keys create\|list\|revoke/],
    [['config'], /usage: sluice config check/],
    [['audit', 'check'], /usage: sluice audit verify/],
  ])('bad usage %j: one clear line on stderr, exit 1', async (args, message) => {
    const dir = tempDir();
    const r = await sluice(args, { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const err = lines(r.stderr);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^sluice: /);
    expect(err[0]).toMatch(message);
  });

  it('commands that need a token or a gateway say so in one line', async () => {
    const dir = tempDir();
    const noToken = await sluice(['approvals', 'approve', 'apr_x'], { cwd: dir });
    expect(noToken.code).toBe(1);
    expect(lines(noToken.stderr)).toEqual(['sluice: this command needs a credential: sluice login, --token or SLUICE_TOKEN']);
    const port = await freePort();
    const down = await sluice(['sessions', 'list', '--server', `http://127.0.0.1:${port}`, '--token', 'sk_x'], { cwd: dir });
    expect(down.code).toBe(1);
    expect(lines(down.stderr)).toEqual([`sluice: cannot reach the gateway at http://127.0.0.1:${port} (ECONNREFUSED); is it running? (--server)`]);
    // SLUICE_SERVER and SLUICE_TOKEN stand in for the flags
    const viaEnv = await sluice(['sessions', 'list'], { cwd: dir, env: { SLUICE_SERVER: `http://127.0.0.1:${port}/`, SLUICE_TOKEN: 'sk_x' } });
    expect(viaEnv.stderr).toContain(`cannot reach the gateway at http://127.0.0.1:${port} (`);
  });
});

describe('sluice config check', () => {
  it('a valid config: a summary on stdout, exit 0', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'sluice.yaml'), configYaml('sluice_t_none'));
    const r = await sluice(['config', 'check', '-c', 'sluice.yaml'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('sluice.yaml: ok (1 connections, 3 policies)');
    // ./sluice.yaml is found without -c, and SLUICE_CONFIG names another file
    expect((await sluice(['config', 'check'], { cwd: dir })).code).toBe(0);
    const elsewhere = tempDir();
    expect((await sluice(['config', 'check'], { cwd: elsewhere, env: { SLUICE_CONFIG: join(dir, 'sluice.yaml') } })).code).toBe(0);
  });

  // Each case edits one line of the valid config; the error must point at it.
  const base = configYaml('sluice_t_none').split('\n');
  const lineOf = (needle: string) => base.findIndex((l) => l.includes(needle)) + 1;
  it.each([
    ['an unknown key', (l: string[]) => l.map((x) => x.replace('    block:', '    blok:')), lineOf('    block:'), /policies\[0\]\.blok: unknown key "blok" \(did you mean "block"\?\)/],
    ['a bad duration', (l: string[]) => l.map((x) => x.replace('timeout: 1m', 'timeout: 10 parsecs')), lineOf('timeout: 1m'), /policies\[1\]\.approve\.timeout: invalid duration "10 parsecs"/],
    ['an unknown connection in a policy', (l: string[]) => l.map((x) => x.replace('connections: [orders]', 'connections: [ordres]')), lineOf('connections: [orders]'), /policies\[1\]\.connections\[0\]: unknown connection "ordres" \(did you mean "orders"\?\)/],
  ])('%s: FILE:LINE: message on stderr, exit 1', async (_what, edit, line, message) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'broken.yaml'), edit(base).join('\n'));
    const [r, start] = await Promise.all([sluice(['config', 'check', '-c', 'broken.yaml'], { cwd: dir }), sluice(['start', '-c', 'broken.yaml'], { cwd: dir })]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const err = lines(r.stderr);
    expect(err).toHaveLength(1);
    // the file as the user named it
    expect(err[0]!.startsWith(`broken.yaml:${line}: `)).toBe(true);
    expect(err[0]).toMatch(message);
    // the gateway refuses to start on it, naming the same place
    expect(start.code).toBe(1);
    expect(lines(start.stderr)).toHaveLength(1);
    expect(start.stderr).toContain(`broken.yaml:${line}: `);
  });

  it('every problem in a file is reported, in line order', async () => {
    const dir = tempDir();
    const text = base
      .map((x) => x.replace('    block:', '    blok:').replace('timeout: 1m', 'timeout: soon').replace('connections: [orders]', 'connections: [ordres]'))
      .join('\n');
    writeFileSync(join(dir, 'broken.yaml'), text);
    const r = await sluice(['config', 'check', '-c', 'broken.yaml'], { cwd: dir });
    expect(r.code).toBe(1);
    const err = lines(r.stderr);
    expect(err.map((l) => Number(/^[^:]+:(\d+): /.exec(l)?.[1]))).toEqual([lineOf('    block:'), lineOf('connections: [orders]'), lineOf('timeout: 1m')]);
  });

  it('a missing file: one line naming it, exit 1', async () => {
    const dir = tempDir();
    const r = await sluice(['config', 'check', '-c', 'nope.yaml'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('nope.yaml');
  });
});

describe('sluice keys (no gateway running)', () => {
  it('create --json prints the secret once; list never shows secret or hash; revoke marks it revoked', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'sluice.yaml'), configYaml('sluice_t_none'));
    const before = Date.now();
    const r = await sluice(['keys', 'create', '--name', 'billing-agent', '--groups', 'agents, ops', '--on-behalf-of', 'alice@example.com', '--ttl', '1h', '--json'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const k = parseJson(r);
    expect(k).toMatchObject({ name: 'billing-agent', groups: ['agents', 'ops'], onBehalfOf: 'alice@example.com' });
    expect(k.id).toMatch(/^key_\w+$/);
    expect(k.secret).toMatch(/^sk_[\w-]{20,}$/);
    const ttl = Date.parse(k.expiresAt) - before;
    expect(ttl).toBeGreaterThan(3_590_000);
    expect(ttl).toBeLessThan(3_700_000);
    // the store went where the config says
    expect(existsSync(join(dir, 'data', 'sluice.db'))).toBe(true);

    const plain = await sluice(['keys', 'create', '--name', 'bob@example.com', '--groups', 'dba'], { cwd: dir });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^created key key_\w+ for bob@example\.com \[dba\]$/m);
    expect(plain.stdout).toMatch(/^secret \(shown once\): sk_\S+$/m);
    const bobSecret = /sk_\S+/.exec(plain.stdout)![0];

    const list = await sluice(['keys', 'list', '--json'], { cwd: dir });
    expect(list.code).toBe(0);
    const keys = parseJson<Record<string, unknown>[]>(list);
    expect(keys).toHaveLength(2);
    for (const x of keys) {
      expect(Object.keys(x).sort()).toEqual(['createdAt', 'expiresAt', 'groups', 'id', 'name', 'onBehalfOf', 'revokedAt']);
    }
    expect(list.stdout).not.toContain(k.secret);
    expect(list.stdout).not.toContain(bobSecret);
    expect(list.stdout).not.toMatch(/sk_/);
    expect(keys.find((x) => x.id === k.id)).toMatchObject({ name: 'billing-agent', revokedAt: null });

    const text = await sluice(['keys', 'list'], { cwd: dir });
    expect(text.stdout).toMatch(new RegExp(`^${k.id}  billing-agent for alice@example\\.com  \\[agents, ops\\]  active  expires `, 'm'));
    expect(text.stdout).not.toMatch(/sk_/);

    const rev = await sluice(['keys', 'revoke', k.id], { cwd: dir });
    expect(rev.code).toBe(0);
    expect(rev.stdout.trim()).toBe(`revoked ${k.id}`);
    const after = parseJson<Record<string, unknown>[]>(await sluice(['keys', 'list', '--json'], { cwd: dir }));
    expect(after.find((x) => x.id === k.id)!.revokedAt).toEqual(expect.any(String));
    expect((await sluice(['keys', 'list'], { cwd: dir })).stdout).toMatch(new RegExp(`^${k.id} .* revoked`, 'm'));

    const again = await sluice(['keys', 'revoke', k.id], { cwd: dir });
    expect(again.code).toBe(1);
    expect(lines(again.stderr)).toEqual([`sluice: no active key ${k.id}`]);
  });

  it('without a config file, keys live in ./.sluice', async () => {
    const dir = tempDir();
    const r = await sluice(['keys', 'create', '--name', 'ci', '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(parseJson(r)).toMatchObject({ name: 'ci', groups: [], onBehalfOf: null, expiresAt: null });
    expect(existsSync(join(dir, '.sluice', 'sluice.db'))).toBe(true);
    const list = parseJson<unknown[]>(await sluice(['keys', 'list', '--json'], { cwd: dir }));
    expect(list).toHaveLength(1);
  });

  it('store-reading commands work on a fresh store without a gateway', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'sluice.yaml'), configYaml('sluice_t_none'));
    const sessions = await sluice(['sessions', 'list'], { cwd: dir });
    expect(sessions.code).toBe(0);
    expect(sessions.stdout.trim()).toBe('no sessions');
    const [listJson, approvals, audit, missing] = await Promise.all([
      sluice(['sessions', 'list', '--json'], { cwd: dir }),
      sluice(['approvals', 'list', '--pending'], { cwd: dir }),
      sluice(['audit', 'verify'], { cwd: dir }),
      sluice(['sessions', 'show', 'ses_nope'], { cwd: dir }),
    ]);
    expect(parseJson(listJson)).toEqual([]);
    expect(approvals.stdout.trim()).toBe('no approvals');
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(/^audit ok: 0 events/);
    expect(missing.code).toBe(1);
    expect(lines(missing.stderr)).toEqual(['sluice: no session ses_nope']);
  });
});
