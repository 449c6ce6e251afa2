/**
 * sftp through Sluice end to end: OpenSSH's sftp and scp and ssh2's sftp
 * client → Sluice's ssh listener → a temporary OpenSSH sshd's sftp-server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addSshKey, type Policy } from '@sluice/core';
import { CONN, POLICIES, connectSsh2, lastSessionEvents, sshSkip, startSshEnv, waitFor, type SshEnv } from './fixture.js';
import type { Ssh2 } from '../support/ssh2.js';

const skip = sshSkip('ssh', 'sftp', 'scp');
const BIG = 50 * 1024 * 1024;

const policies: Policy[] = [...POLICIES, { name: 'no-etc', block: { commands: ['sftp * /etc/*'], message: 'system files stay put' } }];

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p)) h.update(c as Buffer);
  return h.digest('hex');
}

type Ev = { type: string; data: Record<string, unknown> };
const commands = (ev: Ev[]) => ev.filter((e) => e.type === 'command').map((e) => e.data);
const results = (ev: Ev[]) => ev.filter((e) => e.type === 'result').map((e) => e.data);

describe.skipIf(!!skip)(`sftp through Sluice${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: SshEnv;
  let local: string;
  let big: string;
  let bigHash: string;
  let keyFile: string;

  beforeAll(async () => {
    env = await startSshEnv({ policies });
    local = mkdtempSync(join(tmpdir(), 'sluice-sftp-e2e-'));
    big = join(local, 'big.bin');
    // 50 MB of random data, written in 1 MB pieces.
    const parts: Buffer[] = [];
    for (let i = 0; i < BIG / (1024 * 1024); i++) parts.push(randomBytes(1024 * 1024));
    writeFileSync(big, Buffer.concat(parts));
    bigHash = await sha256File(big);
    // OpenSSH's sftp -b runs ssh in batch mode (no password prompts): log in with a key bound to the agent's API key.
    keyFile = join(local, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    await addSshKey(env.gw.store, env.agent.id, readFileSync(`${keyFile}.pub`, 'utf8'));
  }, 120_000);
  afterAll(async () => {
    await env?.close();
    if (local) rmSync(local, { recursive: true, force: true });
  });

  const opts = () => ['-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'IdentityAgent=none', '-o', 'IdentitiesOnly=yes', '-i', keyFile];

  function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const env2 = { ...process.env };
      delete env2.SSH_AUTH_SOCK;
      const p = spawn(cmd, args, { env: env2, cwd: local });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
      p.on('error', reject);
      p.on('close', (code) => {
        clearTimeout(t);
        resolve({ code, stdout, stderr });
      });
    });
  }
  function sftpBatch(batch: string) {
    const bf = join(local, `batch-${randomBytes(3).toString('hex')}`);
    writeFileSync(bf, batch);
    return run('sftp', ['-b', bf, '-P', String(env.gw.port), ...opts(), `${CONN}@127.0.0.1`]);
  }

  it('OpenSSH sftp: put and get of a 50 MB file arrive intact; both are recorded with their byte counts', async () => {
    const remote = `${env.sshd.home}/big-sftp.bin`;
    const r = await sftpBatch(`put big.bin ${remote}\nget ${remote} back.bin\n`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await sha256File(remote)).toBe(bigHash);
    expect(await sha256File(join(local, 'back.bin'))).toBe(bigHash);
    const ev = (await lastSessionEvents(env.gw)) as Ev[];
    const cmds = commands(ev).map((c) => `${c.text} ${c.decision}`);
    expect(cmds).toContain(`sftp write ${remote} allow`);
    expect(cmds).toContain(`sftp read ${remote} allow`);
    expect(results(ev).filter((x) => x.affected === BIG)).toHaveLength(2);
  }, 180_000);

  it('ssh2 sftp client: fastPut and fastGet of a 50 MB file (pipelined requests) arrive intact', async () => {
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    const remote = `${env.sshd.home}/big-ssh2.bin`;
    try {
      const sftp = await new Promise<Ssh2.SFTPWrapper>((res, rej) => c.sftp((e, s) => (e ? rej(e) : res(s))));
      await new Promise<void>((res, rej) => sftp.fastPut(big, remote, (e) => (e ? rej(e) : res())));
      await new Promise<void>((res, rej) => sftp.fastGet(remote, join(local, 'back2.bin'), (e) => (e ? rej(e) : res())));
      sftp.end();
    } finally {
      c.end();
    }
    expect(await sha256File(remote)).toBe(bigHash);
    expect(await sha256File(join(local, 'back2.bin'))).toBe(bigHash);
    const ev = (await lastSessionEvents(env.gw)) as Ev[];
    expect(commands(ev).map((x) => x.text)).toEqual(expect.arrayContaining([`sftp write ${remote}`, `sftp read ${remote}`]));
    expect(results(ev).filter((x) => x.affected === BIG)).toHaveLength(2);
  }, 180_000);

  it('a forbidden path is refused: ssh2 gets the policy in the error, OpenSSH sftp fails, both are recorded; the session goes on', async () => {
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    try {
      const sftp = await new Promise<Ssh2.SFTPWrapper>((res, rej) => c.sftp((e, s) => (e ? rej(e) : res(s))));
      const err = await new Promise<Error & { code?: number }>((res) => sftp.readFile('/etc/hostname', (e) => res(e as Error & { code?: number })));
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe(3); // SSH_FX_PERMISSION_DENIED
      expect(err.message).toMatch(/system files stay put \(policy "no-etc"\)/);
      const err2 = await new Promise<Error>((res) => sftp.rename(`${env.sshd.home}/x`, '/etc/x', (e) => res(e!)));
      expect(err2.message).toMatch(/no-etc/);
      // still usable
      const list = await new Promise<unknown[]>((res, rej) => sftp.readdir(env.sshd.home, (e, l) => (e ? rej(e) : res(l))));
      expect(Array.isArray(list)).toBe(true);
      sftp.end();
    } finally {
      c.end();
    }
    const ev = (await lastSessionEvents(env.gw)) as Ev[];
    expect(commands(ev).find((x) => x.decision === 'block')).toMatchObject({ kind: 'sftp', text: 'sftp read /etc/hostname', objects: ['/etc/hostname'], policy: 'no-etc' });

    const r = await sftpBatch('get /etc/hostname h.txt\n');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    expect(r.stderr).toMatch(/sluice: sftp read \/etc\/hostname: system files stay put \(policy "no-etc"\)/);
    expect(existsSync(join(local, 'h.txt'))).toBe(false);
  }, 60_000);

  it('scp (SFTP mode, the default) and scp -O (legacy, through exec) both copy through Sluice and are recorded', async () => {
    writeFileSync(join(local, 'small.txt'), 'hello through scp\n');
    const dst = `${env.sshd.home}/scp-sftp.txt`;
    const r = await run('scp', ['-P', String(env.gw.port), ...opts(), 'small.txt', `${CONN}@127.0.0.1:${dst}`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(dst, 'utf8')).toBe('hello through scp\n');
    const ev = (await lastSessionEvents(env.gw)) as Ev[];
    expect(commands(ev).map((x) => x.text)).toContain(`sftp write ${dst}`);

    const dst2 = `${env.sshd.home}/scp-legacy.txt`;
    const r2 = await run('scp', ['-O', '-P', String(env.gw.port), ...opts(), 'small.txt', `${CONN}@127.0.0.1:${dst2}`]);
    expect(r2.stderr).toBe('');
    expect(r2.code).toBe(0);
    expect(readFileSync(dst2, 'utf8')).toBe('hello through scp\n');
    const ev2 = await waitFor('the scp -O session', async () => {
      const e = (await lastSessionEvents(env.gw)) as Ev[];
      return commands(e).some((x) => String(x.text).startsWith('scp ')) ? e : undefined;
    });
    expect(commands(ev2).map((x) => String(x.text))).toEqual(expect.arrayContaining([expect.stringMatching(/^scp .*-t .*scp-legacy\.txt$/)]));
  }, 60_000);
});
