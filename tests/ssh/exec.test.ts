import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONN, connectSsh2, execOn, lastSessionEvents, pendingApproval, recordedOutput, runSsh, sshArgs, ssh2Exec, sshSkip, startSshEnv, waitFor, type SshEnv } from './fixture.js';

const skip = sshSkip();

describe.skipIf(!!skip)(`ssh exec through Sluice${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: SshEnv;
  beforeAll(async () => {
    env = await startSshEnv();
  });
  afterAll(async () => {
    await env?.close();
  });
  const marker = (name: string) => join(env.sshd.home, name);

  it('runs an allowed command and passes its output and exit status back (ssh2 client)', async () => {
    const r = await ssh2Exec(env.gw.port, env.agent.secret, 'echo "hello from $(whoami)"; echo oops >&2; exit 3');
    expect(r.stdout).toBe(`hello from ${env.sshd.user}\n`);
    expect(r.stderr).toBe('oops\n');
    expect(r.code).toBe(3);
  });

  it('runs a command with the OpenSSH client (password = the credential) and returns its exit status', async () => {
    const ok = await runSsh([...sshArgs(env.gw.port, CONN), `cd ${env.sshd.home} && pwd && exit 7`], env.agent.secret);
    expect(ok.stdout).toBe(`${env.sshd.home}\n`);
    expect(ok.code).toBe(7);
  });

  const blocked = [
    'rm -rf /',
    `touch ${'MARK'}; rm -rf /`,
    `true && rm -rf /`,
    `bash -c "touch MARK; rm -rf /"`,
    `sh -c 'rm -rf /*'`,
  ];
  for (const line of blocked) {
    it(`blocks \`${line}\` with exit status 126 and a stderr line naming the policy; nothing of it runs`, async () => {
      const name = `blocked-${Math.random().toString(36).slice(2)}`;
      const cmd = line.replaceAll('MARK', marker(name));
      const r = await ssh2Exec(env.gw.port, env.agent.secret, cmd);
      expect(r.code).toBe(126);
      expect(r.stderr).toContain('policy "no-rm-root"');
      expect(r.stderr).toContain('deleting the root file system is not allowed');
      expect(r.stdout).toBe('');
      expect(existsSync(marker(name))).toBe(false);
    });
  }

  it('keeps the connection usable after a refusal, and records the decisions', async () => {
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    try {
      expect((await execOn(c, 'rm -fr /')).code).toBe(126);
      const again = await execOn(c, 'echo still-here');
      expect(again).toMatchObject({ stdout: 'still-here\n', code: 0 });
    } finally {
      c.end();
    }
    const events = await lastSessionEvents(env.gw);
    const commands = events.filter((e) => e.type === 'command').map((e) => e.data as { text: string; decision: string; policy: string | null });
    expect(commands).toEqual([
      expect.objectContaining({ text: 'rm -fr /', decision: 'block', policy: 'no-rm-root' }),
      expect.objectContaining({ text: 'echo still-here', decision: 'allow' }),
    ]);
    expect(events.at(-1)!.type).toBe('session.end');
  });

  it('holds an approval-gated command, tells the client at once, and runs it only after approval', async () => {
    const name = marker('approved');
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    try {
      let stderrSoFar = '';
      const run = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        c.exec(`sudo -n true 2>/dev/null; touch ${name}; echo done`, (err, st) => {
          if (err) return reject(err);
          let stdout = '';
          let code: number | null = null;
          st.on('data', (d: Buffer) => (stdout += d));
          st.stderr.on('data', (d: Buffer) => (stderrSoFar += d));
          st.on('exit', (x: number) => (code = x));
          st.on('close', () => resolve({ code, stdout, stderr: stderrSoFar }));
        });
      });
      const id = await pendingApproval(env.gw);
      // The notice arrives while the command waits, naming the request, the policy and the approvers.
      await waitFor('the approval notice', () => stderrSoFar.includes(id));
      expect(stderrSoFar).toContain('sudo-needs-approval');
      expect(stderrSoFar).toContain('oncall-leads');
      expect(existsSync(name)).toBe(false);
      // The requester cannot approve its own command.
      expect((await env.gw.gateway.broker.decide(id, env.agent.identity, true, null)).status).toBe(403);
      expect((await env.gw.gateway.broker.decide(id, env.approver.identity, true, 'go')).status).toBe(200);
      const r = await run;
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('done\n');
      expect(existsSync(name)).toBe(true);
    } finally {
      c.end();
      rmSync(name, { force: true });
    }
  });

  it('refuses an approval-gated command that is denied (126, nothing ran)', async () => {
    const name = marker('denied');
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    try {
      const run = execOn(c, `sudo -n true; touch ${name}`);
      const id = await pendingApproval(env.gw);
      expect((await env.gw.gateway.broker.decide(id, env.approver.identity, false, 'not today')).status).toBe(200);
      const r = await run;
      expect(r.code).toBe(126);
      expect(r.stderr).toContain('denied');
      expect(r.stderr).toContain('sudo-needs-approval');
      expect(existsSync(name)).toBe(false);
    } finally {
      c.end();
    }
  });

  it('cancels the pending approval when the client disconnects', async () => {
    const name = marker('cancelled');
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    c.on('error', () => undefined);
    void execOn(c, `sudo -n true; touch ${name}`).catch(() => undefined);
    const id = await pendingApproval(env.gw);
    c.destroy();
    const a = await waitFor('the approval to be cancelled', async () => {
      const x = await env.gw.gateway.store.getApproval(id);
      return x && x.status !== 'pending' ? x : undefined;
    });
    expect(a.status).toBe('cancelled');
    expect(existsSync(name)).toBe(false);
  });

  it('masks sensitive values in output and records only the masked bytes', async () => {
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    let r;
    try {
      // Two writes: the card may reach the gateway in two chunks; the masker must still see one value.
      r = await execOn(c, `printf 'card 4242 4242 '; printf '4242 4242 and mail jane@example.com\\n'`);
    } finally {
      c.end();
    }
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('4242 4242 4242 4242');
    expect(r.stdout).not.toContain('jane@example.com');
    expect(r.stdout).toMatch(/^card .+ and mail .+\n$/);
    const events = await lastSessionEvents(env.gw);
    const rec = recordedOutput(events);
    expect(rec).toBe(r.stdout);
    const result = events.find((e) => e.type === 'result')!.data as { masked: number };
    expect(result.masked).toBeGreaterThanOrEqual(2);
  });

  it('streams large output and input with backpressure, byte for byte', async () => {
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    try {
      const big = await execOn(c, `head -c 6000000 /dev/zero | tr '\\0' 'a'`);
      expect(big.stdout.length).toBe(6_000_000);
      expect(big.code).toBe(0);
      const input = 'x'.repeat(4_000_000);
      const counted = await execOn(c, 'wc -c', {}, input);
      expect(counted.stdout.trim()).toBe('4000000');
    } finally {
      c.end();
    }
  });

  it('passes a signal exit back, and locale variables but not others from the environment', async () => {
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    try {
      const killed = await execOn(c, 'kill -9 $$');
      expect(killed.signal).toBe('SIGKILL');
      const e = await execOn(c, 'echo "lc=$LC_SLUICE_TEST bashenv=$BASH_ENV"', { env: { LC_SLUICE_TEST: 'yes', BASH_ENV: '/tmp/evil' } });
      expect(e.stdout).toBe('lc=yes bashenv=\n');
    } finally {
      c.end();
    }
  });

  it('judges each line a shell reads from stdin (exec of a bare shell)', async () => {
    const name = marker('stdin-shell');
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    try {
      const out = await execOn(c, 'bash -s', {}, `echo first\nrm -rf /\ntouch ${name}\necho last\n`);
      expect(out.stdout).toBe('first\nlast\n');
      expect(out.stderr).toContain('no-rm-root');
      expect(existsSync(name)).toBe(true);
      // An over-long line is refused whole, never forwarded in pieces the shell would join.
      const long = marker('long-line');
      const big = await execOn(c, 'bash -s', {}, `${' '.repeat(300_000)}touch ${long}\necho after\n`);
      expect(big.stdout).toBe('after\n');
      expect(big.stderr).toContain('longer than');
      expect(existsSync(long)).toBe(false);
    } finally {
      c.end();
      rmSync(name, { force: true });
    }
  });
});
