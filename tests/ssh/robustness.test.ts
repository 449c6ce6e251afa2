import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sshPlugin } from '@sluice/ssh';
import { CONN, connectSsh2, execOn, lastSessionEvents, ssh2, ssh2Exec, sshSkip, startSshEnv, waitFor, type SshEnv } from './fixture.js';
import { fingerprintOf, startSshd, type TestSshd } from '../support/sshd.js';
import type { Ssh2 } from '../support/ssh2.js';
import { freePort } from '../support/services.js';

const skip = sshSkip();

/** A TCP relay in front of the target whose connections the test can cut. */
async function cuttableProxy(port: number): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((a) => {
    const b = connect(port, '127.0.0.1');
    sockets.add(a).add(b);
    a.pipe(b).pipe(a);
    const drop = () => {
      a.destroy();
      b.destroy();
    };
    a.on('error', drop).on('close', drop);
    b.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Resolves when the gateway closes the socket (or rejects after ms). */
function closedWithin(s: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

describe.skipIf(!!skip)(`ssh robustness and target handling${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: SshEnv;
  beforeAll(async () => {
    env = await startSshEnv({ plugin: { startupTimeoutMs: 1500 } });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('drops a client that stalls in key exchange, and serves others meanwhile', async () => {
    const s = connect(env.gw.port, '127.0.0.1');
    s.on('error', () => undefined);
    let banner = '';
    s.on('data', (d) => (banner += d.toString('latin1')));
    await new Promise((r) => s.once('connect', r));
    s.write('SSH-2.0-Staller_1.0\r\n');
    const closed = closedWithin(s, 10_000);
    // Another client is served while this one hangs.
    expect((await ssh2Exec(env.gw.port, env.agent.secret, 'echo served')).stdout).toBe('served\n');
    expect(await closed).toBe(true);
    expect(banner.startsWith('SSH-2.0-Sluice')).toBe(true);
  });

  it('closes a connection that sends garbage instead of an SSH banner; an established session is unaffected', async () => {
    const other = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    try {
      expect((await execOn(other, 'echo before')).stdout).toBe('before\n');
      const s = connect(env.gw.port, '127.0.0.1');
      s.on('error', () => undefined);
      await new Promise((r) => s.once('connect', r));
      s.resume();
      const closed = closedWithin(s, 10_000);
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n' + '\x00\xff'.repeat(5000));
      expect(await closed).toBe(true);
      expect((await execOn(other, 'echo after')).stdout).toBe('after\n');
      expect((await ssh2Exec(env.gw.port, env.agent.secret, 'echo alive')).stdout).toBe('alive\n');
    } finally {
      other.end();
    }
  });

  it('presents the host key stored in dataDir, the same after a restart of the listener', async () => {
    const seenOn = async (port: number) => {
      let seen = '';
      const c = await connectSsh2(port, CONN, {
        password: env.agent.secret,
        hostVerifier: (key: Buffer) => {
          seen = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
          return true;
        },
      } as never);
      c.end();
      return seen;
    };
    const pem = readFileSync(join(env.gw.dataDir, 'ssh_host_ed25519_key'), 'utf8');
    const parsed = ssh2.utils.parseKey(pem) as Ssh2.ParsedKey;
    expect(parsed.type).toBe('ssh-ed25519');
    const stored = fingerprintOf(`${parsed.type} ${parsed.getPublicSSH().toString('base64')}`);
    expect(await seenOn(env.gw.port)).toBe(stored);
    // A new listener on the same dataDir (a restart) presents the same key.
    const again = await sshPlugin().listen(env.gw.gateway, '127.0.0.1:0');
    try {
      expect(await seenOn(again.port)).toBe(stored);
    } finally {
      await again.close();
    }
  });

  it('ends the session for the client when an administrator kills it', async () => {
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    let started = false;
    const run = new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
      c.exec('echo started; sleep 30; echo never', (err, st) => {
        if (err) return reject(err);
        let stdout = '';
        let stderr = '';
        let code: number | null = null;
        st.on('data', (d: Buffer) => {
          stdout += d;
          started = stdout.includes('started');
        });
        st.stderr.on('data', (d: Buffer) => (stderr += d));
        st.on('exit', (x: number) => (code = x));
        st.on('close', () => resolve({ stdout, stderr, code }));
      });
    });
    await waitFor('the command to start', () => started);
    const live = env.gw.gateway.liveSessions[0]!;
    await env.gw.gateway.killSession(live.id, 'incident 42');
    const r = await run;
    expect(r.stderr).toContain('session killed: incident 42');
    expect(r.stdout).toBe('started\n');
    expect(r.code).toBe(255);
    const closed = await new Promise<boolean>((res) => {
      const t = setTimeout(() => res(false), 5000);
      c.once('close', () => {
        clearTimeout(t);
        res(true);
      });
    });
    expect(closed).toBe(true);
  });
});

describe.skipIf(!!skip)(`ssh target connection${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let sshd: TestSshd;
  beforeAll(async () => {
    sshd = await startSshd({ password: true });
  });
  afterAll(async () => {
    await sshd?.close();
  });

  it('logs in to the target with a gateway-held password', async () => {
    const env = await startSshEnv({ conn: { target: `ssh://${sshd.user}@127.0.0.1:${sshd.port}`, secrets: { password: sshd.password }, options: { hostKey: sshd.hostKeyFingerprint } } });
    try {
      const r = await ssh2Exec(env.gw.port, env.agent.secret, 'whoami');
      expect(r).toMatchObject({ stdout: `${sshd.user}\n`, code: 0 });
    } finally {
      await env.close();
    }
  });

  it('refuses a target whose host key does not match the pinned one, loudly', async () => {
    const env = await startSshEnv({ conn: { target: `ssh://${sshd.user}@127.0.0.1:${sshd.port}`, secrets: { password: sshd.password }, options: { hostKey: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } } });
    try {
      const r = await ssh2Exec(env.gw.port, env.agent.secret, 'echo never');
      expect(r.code).toBe(255);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`the host key of "${CONN}"`);
      expect(r.stderr).toContain(sshd.hostKeyFingerprint);
      expect(r.stderr).toContain('not the pinned SHA256:AAAA');
      const events = await lastSessionEvents(env.gw);
      expect(events.at(-1)).toMatchObject({ type: 'session.end' });
      expect((events.at(-1)!.data as { reason: string }).reason).toContain('host key');
    } finally {
      await env.close();
    }
  });

  it('tells the user when the target is unreachable', async () => {
    const dead = await freePort();
    const env = await startSshEnv({ conn: { target: `ssh://${sshd.user}@127.0.0.1:${dead}`, secrets: { password: 'x' }, options: {} } });
    try {
      const r = await ssh2Exec(env.gw.port, env.agent.secret, 'echo never');
      expect(r.code).toBe(255);
      expect(r.stderr).toContain(`cannot reach the target of "${CONN}"`);
    } finally {
      await env.close();
    }
  });

  it('ends the client channels with a clear message when the target connection is lost', async () => {
    const proxy = await cuttableProxy(sshd.port);
    const env = await startSshEnv({ conn: { target: `ssh://${sshd.user}@127.0.0.1:${proxy.port}`, secrets: { password: sshd.password }, options: { hostKey: sshd.hostKeyFingerprint } } });
    try {
      const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
      const run = execOn(c, 'echo started; sleep 30; echo never');
      await waitFor('the command to start', async () => (await env.gw.gateway.store.listSessions({ limit: 1 }))[0]);
      await new Promise((r) => setTimeout(r, 300));
      proxy.cut();
      const r = await run;
      expect(r.stderr).toContain(`lost the connection to the target of "${CONN}"`);
      expect(r.stdout).not.toContain('never');
      expect(r.code).toBe(255);
      // Other clients get a fresh upstream.
      expect((await ssh2Exec(env.gw.port, env.agent.secret, 'echo again')).stdout).toBe('again\n');
      expect(ssh2).toBeDefined();
    } finally {
      await env.close();
      await proxy.close();
    }
  });
});
