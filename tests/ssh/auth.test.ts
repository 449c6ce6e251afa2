import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addSshKey } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../support/sshd.js';
import { CONN, connectSsh2, execOn, lastSessionEvents, runSsh, sshArgs, ssh2, ssh2Exec, sshSkip, startSshEnv, type SshEnv } from './fixture.js';

const skip = sshSkip();

describe.skipIf(!!skip)(`ssh client authentication and connection refusal${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: SshEnv;
  let keyDir: string;
  beforeAll(async () => {
    env = await startSshEnv();
    keyDir = mkdtempSync(join(tmpdir(), 'sluice-ssh-keys-'));
  });
  afterAll(async () => {
    await env?.close();
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  });

  it('refuses a wrong credential as an ordinary authentication failure (ssh2 and OpenSSH)', async () => {
    const err = await connectSsh2(env.gw.port, CONN, { password: 'sk_not-a-real-key' }).then(
      (c) => {
        c.end();
        return null;
      },
      (e: Error & { level?: string }) => e,
    );
    expect(err?.level).toBe('client-authentication');
    const r = await runSsh([...sshArgs(env.gw.port, CONN), 'true'], 'sk_not-a-real-key');
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('Permission denied');
    // The same failure for an unknown connection name: nothing tells the two apart.
    const r2 = await runSsh([...sshArgs(env.gw.port, 'no-such-conn'), 'true'], 'sk_not-a-real-key');
    expect(r2.code).toBe(255);
    expect(r2.stderr.replaceAll('no-such-conn', CONN)).toBe(r.stderr);
    // The gateway still serves others.
    expect((await ssh2Exec(env.gw.port, env.agent.secret, 'echo ok')).stdout).toBe('ok\n');
  });

  it('refuses an unknown and a forbidden connection with the same message and status', async () => {
    const unknown = await ssh2Exec(env.gw.port, env.agent.secret, 'echo never', 'no-such-conn');
    const forbidden = await ssh2Exec(env.gw.port, env.outsider.secret, 'echo never', CONN);
    expect(unknown).toEqual({ stdout: '', stderr: 'sluice: no such connection, or you are not allowed to use it\n', code: 1, signal: undefined });
    expect(forbidden).toEqual(unknown);
    const viaOpenSsh = await runSsh([...sshArgs(env.gw.port, 'no-such-conn'), 'echo never'], env.agent.secret);
    const viaOpenSsh2 = await runSsh([...sshArgs(env.gw.port, CONN), 'echo never'], env.outsider.secret);
    expect(viaOpenSsh.code).toBe(1);
    expect(viaOpenSsh.stderr).toContain('no such connection, or you are not allowed to use it');
    expect(viaOpenSsh2.stdout).toBe(viaOpenSsh.stdout);
    expect(viaOpenSsh2.code).toBe(viaOpenSsh.code);
    expect(viaOpenSsh2.stderr).toBe(viaOpenSsh.stderr);
  });

  it('accepts the credential through keyboard-interactive (OpenSSH prompt and ssh2)', async () => {
    const r = await runSsh([...sshArgs(env.gw.port, CONN, 'keyboard-interactive'), 'echo kbd-$((1+2))'], env.agent.secret);
    expect(r.stdout).toBe('kbd-3\n');
    expect(r.code).toBe(0);
    const prompts: string[] = [];
    const c2 = await new Promise<InstanceType<typeof ssh2.Client>>((resolve, reject) => {
      const k = new ssh2.Client();
      k.on('keyboard-interactive', (_n, _i, _l, ps, finish) => {
        prompts.push(...ps.map((p) => p.prompt));
        finish([env.agent.secret]);
      });
      k.once('ready', () => resolve(k));
      k.once('error', reject);
      k.connect({ host: '127.0.0.1', port: env.gw.port, username: CONN, tryKeyboard: true, hostVerifier: () => true });
    });
    try {
      expect((await execOn(c2, 'echo via-kbd')).stdout).toBe('via-kbd\n');
      expect(prompts).toEqual(['Sluice credential (API key or token): ']);
    } finally {
      c2.end();
    }
  });

  it('accepts a registered public key (verified signature) and refuses an unregistered one', async () => {
    const [priv, pub] = generateKey(keyDir, 'alice_ed25519');
    const [otherPriv] = generateKey(keyDir, 'other_ed25519');
    await addSshKey(env.gw.store, env.agent.id, pub);
    const c = await connectSsh2(env.gw.port, CONN, { privateKey: priv });
    try {
      expect((await execOn(c, 'echo key-ok')).stdout).toBe('key-ok\n');
    } finally {
      c.end();
    }
    const events = await lastSessionEvents(env.gw);
    expect((events[0]!.data as { identity: { via: string; subject: string } }).identity).toMatchObject({ via: 'ssh-key', subject: 'alice@example.com' });

    const err = await connectSsh2(env.gw.port, CONN, { privateKey: otherPriv }).then(
      (x) => {
        x.end();
        return null;
      },
      (e: Error & { level?: string }) => e,
    );
    expect(err?.level).toBe('client-authentication');

    // The real OpenSSH client with the registered key file.
    const r = await runSsh(['-i', join(keyDir, 'alice_ed25519'), '-o', 'IdentitiesOnly=yes', ...sshArgs(env.gw.port, CONN, 'publickey'), 'echo openssh-key'], '');
    expect(r.stdout).toBe('openssh-key\n');
    expect(r.code).toBe(0);
    expect(readFileSync(join(keyDir, 'alice_ed25519.pub'), 'utf8').trim()).toBe(pub);
  });

  it('refuses a key whose signature does not verify, even if the key is registered', async () => {
    const [rightPriv, pub] = generateKey(keyDir, 'forged_ed25519');
    await addSshKey(env.gw.store, env.agent.id, pub);
    const [wrongPriv] = generateKey(keyDir, 'signer_ed25519');
    const viaAgent = (signerPem: string) => {
      let tries = 0;
      const signer = ssh2.utils.parseKey(signerPem) as import('../support/ssh2.js').Ssh2.ParsedKey;
      return connectSsh2(env.gw.port, CONN, {
        authHandler: (_methods: unknown, _partial: unknown, cb: (x: unknown) => void) =>
          cb(tries++ === 0 ? { type: 'agent', username: CONN, agent: fakeAgent(pub, signer) } : false),
      } as never).then(
        (x) => {
          x.end();
          return null;
        },
        (e: Error & { level?: string }) => e,
      );
    };
    // Control: the same agent path with the key's own private key gets in.
    expect(await viaAgent(rightPriv)).toBeNull();
    // Offering the registered public key but signing with another private key is refused.
    const err = await viaAgent(wrongPriv);
    expect(err?.level).toBe('client-authentication');
  });

  it('disconnects a client after too many failed attempts', async () => {
    let attempts = 0;
    const err = await connectSsh2(env.gw.port, CONN, {
      authHandler: (_m: unknown, _p: unknown, cb: (x: unknown) => void) => {
        attempts++;
        if (attempts > 20) return cb(false);
        cb({ type: 'password', username: CONN, password: `sk_wrong-${attempts}` });
      },
    } as never).then(
      (x) => {
        x.end();
        return null;
      },
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(attempts).toBeLessThanOrEqual(7);
  });
});

/** An ssh2 agent that offers `pubLine` but signs with `signer` (a forged signature). */
function fakeAgent(pubLine: string, signer: import('../support/ssh2.js').Ssh2.ParsedKey) {
  const { BaseAgent } = ssh2 as unknown as { BaseAgent: new () => object };
  const key = ssh2.utils.parseKey(pubLine) as never;
  const A = class extends (BaseAgent as new () => object) {
    getIdentities(cb: (e: Error | null, keys?: unknown[]) => void) {
      cb(null, [key]);
    }
    sign(_pk: unknown, data: Buffer, _opts: unknown, cb?: (e: Error | null, sig?: Buffer) => void) {
      cb!(null, signer.sign(data) as Buffer);
    }
  };
  return new A();
}
