import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONN, askpass, connectSsh2, lastSessionEvents, pendingApproval, recordedOutput, runSsh, sshArgs, sshSkip, startSshEnv, waitFor, type SshEnv } from './fixture.js';
import type { Ssh2 } from '../support/ssh2.js';

const skip = sshSkip('tmux');
/** The end of bash's prompt (readline may clear the rest of the line after it). */
const PROMPT = /\$ (?:\x1b\[K)?$/;

/** An interactive shell over ssh2's client with a pty; output collected as text. */
async function openShell(env: SshEnv, cols = 80, rows = 24) {
  const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
  const st = await new Promise<Ssh2.ClientChannel>((resolve, reject) =>
    c.shell({ term: 'xterm', cols, rows }, (err, s) => (err ? reject(err) : resolve(s))),
  );
  let out = '';
  let code: number | null = null;
  st.on('data', (d: Buffer) => (out += d.toString('utf8')));
  st.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  st.on('exit', (x: number) => (code = x));
  const closed = new Promise<void>((r) => st.on('close', () => r()));
  const sh = {
    st,
    client: c,
    get out() {
      return out;
    },
    get code() {
      return code;
    },
    closed,
    /** Waits until the output after `from` matches. */
    async expect(re: RegExp, from = 0): Promise<string> {
      return waitFor(() => `${re} in the terminal output:\n${JSON.stringify(out.slice(from))}`, () => re.exec(out.slice(from))?.[0]);
    },
    /** Types a line (keys, then Enter once the shell has echoed them). */
    async type(line: string): Promise<number> {
      const mark = out.length;
      st.write(line);
      // Wait for the echo of the last few characters so the screen holds the line.
      const tail = line.slice(-Math.min(line.length, 6));
      await waitFor(`the echo of ${JSON.stringify(line)}`, () => out.slice(mark).includes(tail));
      st.write('\r');
      return mark;
    },
    close() {
      c.end();
    },
  };
  // The prompt ends with '$ '.
  await sh.expect(PROMPT);
  return sh;
}

describe.skipIf(!!skip)(`ssh interactive shell through Sluice${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: SshEnv;
  beforeAll(async () => {
    env = await startSshEnv();
  });
  afterAll(async () => {
    await env?.close();
  });
  const marker = (name: string) => join(env.sshd.home, `${name}-${randomBytes(3).toString('hex')}`);

  it('runs typed lines, refuses forbidden ones on the terminal without running them, and returns the exit status', async () => {
    const sh = await openShell(env, 200, 50);
    try {
      let at = await sh.type('echo hello-$((6*7))');
      await sh.expect(/hello-42/, at);

      for (const line of ['touch MARK; rm -rf /', 'true && rm -rf /', 'bash -c "touch MARK && rm -rf /"']) {
        const m = marker('typed');
        at = await sh.type(line.replaceAll('MARK', m));
        await sh.expect(/policy "no-rm-root"/, at);
        // A fresh prompt after the cancelled line, and nothing of the line ran.
        await sh.expect(PROMPT, at);
        expect(existsSync(m)).toBe(false);
      }

      at = await sh.type('echo still-$((1+1))');
      await sh.expect(/still-2\r\n/, at);
      await sh.expect(PROMPT, at);
      // Nothing of a refused line ran later either (merged into the next line the shell read).
      expect(readdirSync(env.sshd.home).filter((f) => f.startsWith('typed-'))).toEqual([]);
      await sh.type('exit 5');
      await sh.closed;
      expect(sh.code).toBe(5);
    } finally {
      sh.close();
    }
  });

  it('holds a typed approval-gated line until it is approved, and Ctrl-C cancels a pending one', async () => {
    // A directory of this test only: at the end it must hold exactly what the allowed lines made.
    const dir = marker('approvals');
    mkdirSync(dir);
    chownSync(dir, statSync(env.sshd.home).uid, statSync(env.sshd.home).gid);
    const sh = await openShell(env, 250, 40);
    try {
      let at = await sh.type(`cd ${dir}`);
      await sh.expect(PROMPT, at);
      at = await sh.type('sudo -n true 2>/dev/null; touch approved');
      const id = await pendingApproval(env.gw);
      await sh.expect(new RegExp(`request ${id}`), at);
      expect(existsSync(join(dir, 'approved'))).toBe(false);
      expect((await env.gw.gateway.broker.decide(id, env.approver.identity, true, 'ok')).status).toBe(200);
      await waitFor('the approved line to run', () => existsSync(join(dir, 'approved')));
      await sh.expect(PROMPT, at);

      at = await sh.type('sudo -n true; touch cancelled');
      const id2 = await waitFor('a second approval', async () => {
        const p = (await env.gw.gateway.store.listApprovals('pending'))[0]?.id;
        return p && p !== id ? p : undefined;
      });
      sh.st.write('\x03');
      const a = await waitFor('the approval to be cancelled', async () => {
        const x = await env.gw.gateway.store.getApproval(id2);
        return x && x.status !== 'pending' ? x : undefined;
      });
      expect(a.status).toBe('cancelled');
      await sh.expect(/cancelled/, at);
      await sh.expect(PROMPT, at);
      at = await sh.type('echo usable > after');
      await sh.expect(PROMPT, at);
      await waitFor('the next line to run', () => existsSync(join(dir, 'after')));
      // Nothing of the cancelled line reached the shell, not even merged into the next line.
      expect(readdirSync(dir).sort()).toEqual(['after', 'approved']);
      expect(readFileSync(join(dir, 'after'), 'utf8')).toBe('usable\n');
    } finally {
      sh.close();
    }
  });

  it('records the terminal masked, with its size and resizes', async () => {
    const sh = await openShell(env, 90, 30);
    try {
      let at = await sh.type(`printf '%s\\n' "card 4242424242424242 for $((2+3))"`);
      await sh.expect(/for 5/, at);
      expect(sh.out).not.toContain('4242424242424242 for');
      sh.st.setWindow(40, 120, 0, 0);
      at = await sh.type('stty size');
      await sh.expect(/40 120/, at);
      await sh.type('exit');
      await sh.closed;
    } finally {
      sh.close();
    }
    const events = await lastSessionEvents(env.gw);
    const sizes = events.filter((e) => e.type === 'resize').map((e) => e.data);
    expect(sizes).toEqual([
      { cols: 90, rows: 30 },
      { cols: 120, rows: 40 },
    ]);
    const rec = recordedOutput(events);
    expect(rec).toContain('for 5');
    expect(rec).not.toMatch(/4242424242424242 for/);
  });

  it.skipIf(!existsSync('/usr/bin/less'))('does not judge keys typed into a full-screen program', async () => {
    const sh = await openShell(env, 100, 30);
    try {
      let at = await sh.type('less /etc/passwd');
      // less switches to the alternate screen; a search typed there is not a command line.
      await sh.expect(/\x1b\[\?1049h/, at);
      sh.st.write('/rm -rf /');
      await new Promise((r) => setTimeout(r, 300));
      sh.st.write('\r');
      await new Promise((r) => setTimeout(r, 300));
      sh.st.write('q');
      await sh.expect(PROMPT, at);
      at = await sh.type('echo back-$((2*2))');
      await sh.expect(/back-4/, at);
      await sh.type('exit');
      await sh.closed;
    } finally {
      sh.close();
    }
    const events = await lastSessionEvents(env.gw);
    const texts = events.filter((e) => e.type === 'command').map((e) => (e.data as { text: string }).text);
    expect(texts).toEqual(['less /etc/passwd', 'echo back-$((2*2))', 'exit']);
  });

  it('judges the lines of a shell without a terminal (ssh -T with piped input)', async () => {
    const m = marker('piped');
    const r = await runSsh(['-T', ...sshArgs(env.gw.port, CONN)], env.agent.secret, { input: `echo one\nrm -rf /\ntouch ${m}\necho two\n` });
    expect(r.stdout).toBe('one\ntwo\n');
    expect(r.stderr).toContain('policy "no-rm-root"');
    expect(existsSync(m)).toBe(true);
  });

  it('works from the real OpenSSH client in a terminal (tmux)', async () => {
    const sock = `sluice-test-${randomBytes(4).toString('hex')}`;
    const tmux = (...args: string[]) => spawnSync('tmux', ['-L', sock, ...args], { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-t', 'main').stdout;
    const cmd = ['env', `SSH_ASKPASS=${askpass()}`, 'SSH_ASKPASS_REQUIRE=force', `SLUICE_TEST_CREDENTIAL=${env.agent.secret}`, 'ssh', '-tt', ...sshArgs(env.gw.port, CONN)]
      .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    const started = tmux('new-session', '-d', '-s', 'main', '-x', '100', '-y', '30', `${cmd}; echo "ssh-exit=$?"; sleep 30`);
    expect(started.status).toBe(0);
    try {
      await waitFor('the shell prompt in tmux', () => /\$ $/m.test(screen().trimEnd() + ' '));
      tmux('send-keys', '-t', 'main', '-l', 'echo tmux-$((20+1))');
      await waitFor('the echo', () => screen().includes('echo tmux-$((20+1))'));
      tmux('send-keys', '-t', 'main', 'Enter');
      await waitFor('the output', () => /^tmux-21$/m.test(screen()));
      const m = marker('tmux');
      tmux('send-keys', '-t', 'main', '-l', `touch ${m}; rm -rf /`);
      await waitFor('the echo', () => screen().includes('rm -rf /'));
      tmux('send-keys', '-t', 'main', 'Enter');
      await waitFor('the refusal on the terminal', () => screen().includes('policy "no-rm-root"'));
      expect(existsSync(m)).toBe(false);
      tmux('send-keys', '-t', 'main', '-l', 'exit 3');
      await waitFor('the echo', () => screen().includes('exit 3'));
      tmux('send-keys', '-t', 'main', 'Enter');
      await waitFor('ssh to exit', () => screen().includes('ssh-exit=3'));
    } finally {
      tmux('kill-server');
    }
  });
});
