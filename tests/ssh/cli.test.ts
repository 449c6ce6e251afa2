/**
 * The assembled gateway: `sluice start` with an ssh listener and an ssh
 * connection from sluice.yaml (privateKey by ${file:…}, pinned hostKey),
 * OpenSSH through it with a key registered by `sluice keys add-ssh`, and an
 * approval decided with `sluice approvals approve`.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { CLI, ROOT, ensureBuilt, killLeftovers, parseJson, startProc, waitFor as waitForProc, type Proc } from '../cli/harness.js';
import { generateKey, startSshd, type TestSshd } from '../support/sshd.js';
import { connectSsh2, execOn, runSsh, sshArgs, sshSkip, waitFor } from './fixture.js';

const skip = sshSkip();

describe.skipIf(!!skip)(`sluice start with the ssh plugin${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let sshd: TestSshd;
  let dir: string;
  let gw: Proc;
  let sshPort = 0;
  let adminUrl = '';
  const cli = (args: string[], env?: Record<string, string>) => startProc(process.execPath, [CLI, ...args, '-c', join(dir, 'sluice.yaml')], { cwd: dir, env }).done;

  beforeAll(async () => {
    ensureBuilt();
    // The root `pnpm test` builds everything first; a bare run builds when the ssh package was never built.
    if (!existsSync(join(ROOT, 'packages/ssh/dist/index.js'))) execFileSync('pnpm', ['build'], { cwd: ROOT, stdio: 'inherit' });
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), 'sluice-ssh-cli-'));
    writeFileSync(join(dir, 'deploy_key'), sshd.clientPrivateKey, { mode: 0o600 });
    writeFileSync(
      join(dir, 'sluice.yaml'),
      `dataDir: ./data
admin:
  listen: 127.0.0.1:0
  groups: [admins]
listeners:
  ssh: 127.0.0.1:0
connections:
  - name: web-1
    type: ssh
    target: ssh://${sshd.user}@127.0.0.1:${sshd.port}
    privateKey: \${file:${join(dir, 'deploy_key')}}
    hostKey: ${sshd.hostKeyFingerprint}
    access: [oncall]
policies:
  - name: no-rm-root
    block:
      commands: ["rm -rf /"]
  - name: sudo-needs-approval
    approve:
      commands: ["sudo *"]
      approvers: [leads]
      timeout: 1m
  - name: cards
    mask:
      detectors: [credit_card]
`,
    );
    gw = startProc(process.execPath, [CLI, 'start', '-c', join(dir, 'sluice.yaml')], { cwd: dir, timeoutMs: 300_000 });
    await waitForProc('the gateway to listen', async () => /admin API listening/.test(gw.stderr()) || (gw.child.exitCode !== null ? (() => { throw new Error(gw.stderr()); })() : false), 30_000, 25);
    for (const line of gw.stderr().split('\n')) {
      if (!line.startsWith('{')) continue;
      const o = JSON.parse(line) as { msg?: string; protocol?: string; address?: string; url?: string };
      if (o.msg === 'listening' && o.protocol === 'ssh') sshPort = Number(o.address!.split(':').pop());
      if (o.msg === 'admin API listening') adminUrl = o.url!;
    }
    if (!sshPort) throw new Error(`no ssh listener in:\n${gw.stderr()}`);
  });
  afterAll(async () => {
    gw?.child.kill('SIGTERM');
    await gw?.done;
    killLeftovers();
    await sshd?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves OpenSSH with a registered key, blocks by policy, and runs an approved command after `sluice approvals approve`', async () => {
    const agent = parseJson<{ id: string; secret: string }>(await cli(['keys', 'create', '--name', 'deploy-agent', '--groups', 'oncall', '--on-behalf-of', 'alice@example.com', '--json']));
    const lead = parseJson<{ id: string; secret: string }>(await cli(['keys', 'create', '--name', 'bob@example.com', '--groups', 'leads', '--json']));
    const [, pub] = generateKey(dir, 'alice_ed25519');
    const added = await cli(['keys', 'add-ssh', '--key', join(dir, 'alice_ed25519.pub'), '--id', agent.id]);
    expect(added.code).toBe(0);
    expect(pub).toMatch(/^ssh-ed25519 /);

    const viaKey = await runSsh(['-i', join(dir, 'alice_ed25519'), '-o', 'IdentitiesOnly=yes', ...sshArgs(sshPort, 'web-1', 'publickey'), 'echo "key works for $(whoami)"; exit 4'], '');
    expect(viaKey.stdout).toBe(`key works for ${sshd.user}\n`);
    expect(viaKey.code).toBe(4);

    const blocked = await runSsh([...sshArgs(sshPort, 'web-1'), 'rm -rf /'], agent.secret);
    expect(blocked.code).toBe(126);
    expect(blocked.stderr).toContain('policy "no-rm-root"');

    const mark = join(sshd.home, 'cli-approved');
    const c = await connectSsh2(sshPort, 'web-1', { password: agent.secret });
    try {
      const run = execOn(c, `sudo -n true 2>/dev/null; touch ${mark}; echo ran`);
      const id = await waitFor('a pending approval', async () => {
        const r = await cli(['approvals', 'list', '--pending', '--json', '--server', adminUrl, '--token', lead.secret]);
        return (parseJson<{ id: string }[]>(r)[0] ?? undefined)?.id;
      });
      expect(existsSync(mark)).toBe(false);
      const ok = await cli(['approvals', 'approve', id, '--reason', 'go', '--server', adminUrl, '--token', lead.secret]);
      expect(ok.code).toBe(0);
      const r = await run;
      expect(r.stdout).toBe('ran\n');
      expect(r.stderr).toContain(id);
      expect(existsSync(mark)).toBe(true);
    } finally {
      c.end();
    }
  });

  it('a shell session replays with its masked output: asciicast export and real-pace playback', async () => {
    const key = parseJson<{ id: string; secret: string }>(await cli(['keys', 'create', '--name', 'carol@example.com', '--groups', 'oncall', '--json']));
    const c = await connectSsh2(sshPort, 'web-1', { password: key.secret });
    let seen = '';
    try {
      const sh = await new Promise<import('ssh2').ClientChannel>((resolve, reject) =>
        c.shell({ term: 'xterm', cols: 100, rows: 30 }, (err, s) => (err ? reject(err) : resolve(s))),
      );
      sh.on('data', (d: Buffer) => (seen += d.toString('utf8')));
      sh.stderr.on('data', () => undefined);
      // the card number is assembled by the shell, so only the output holds it whole
      sh.write("X=4111; echo \"card $X 1111 1111 1111 done\"\r");
      await waitFor('the echo', async () => /done/.test(seen.split('echo')[1] ?? '') || /card .* done/.test(seen));
      sh.setWindow(40, 120, 0, 0);
      sh.write('exit\r');
      await new Promise<void>((r) => sh.on('close', () => r()));
    } finally {
      c.end();
    }
    expect(seen).not.toContain('4111 1111 1111 1111');
    const list = await waitFor('the session to end', async () => {
      const r = parseJson<{ id: string; subject: string; endedAt: string | null }[]>(await cli(['sessions', 'list', '--json', '--subject', 'carol@example.com']));
      return r[0]?.endedAt ? r : undefined;
    });
    const id = list[0]!.id;

    const castFile = join(dir, 'session.cast');
    const exported = await cli(['sessions', 'replay', id, '--cast', castFile]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(/wrote .*session\.cast \(asciicast v2, \d+ events\)/);
    const [header, ...events] = readFileSync(castFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(header).toMatchObject({ version: 2, width: 100, height: 30 });
    let last = 0;
    for (const e of events) {
      expect(e[0]).toBeGreaterThanOrEqual(last);
      last = e[0];
      expect(['o', 'r']).toContain(e[1]);
    }
    const text = events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    expect(text).toContain('[REDACTED:credit_card] done');
    expect(text).not.toContain('4111 1111');
    expect(events.some((e) => e[1] === 'r' && e[2] === '120x40')).toBe(true);

    const played = await cli(['sessions', 'replay', id, '--speed', '50', '--max-idle', '0.2']);
    expect(played.code, played.stderr).toBe(0);
    expect(played.stdout).toContain('[REDACTED:credit_card] done');
    expect(played.stdout).toContain(`[session ${id} ended:`);
    const bad = await cli(['sessions', 'replay', id, '--speed', 'fast']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--speed must be a positive number/);
  });
});
