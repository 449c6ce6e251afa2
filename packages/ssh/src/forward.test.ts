/**
 * direct-tcpip forwarding through handleDirectTcpip: a real ssh2 server in
 * front (clients: ssh2's Client and OpenSSH's `ssh -L`), a real core session,
 * and as the "target" an upstream whose forwardOut dials the destination
 * directly (what the target's sshd would do).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import ssh2 from 'ssh2';
import type { Policy, Session } from '@sluice/core';
import { forwardAllowed, forwardDestination, handleDirectTcpip } from './forward.js';
import { generateEd25519 } from './host-key.js';
import type { ChannelDeps } from './channel-deps.js';
import { startHarness, type Harness } from './sftp/harness.js';

const { Server, Client } = ssh2;
const PASSWORD = 'let-me-in';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

describe('forwardAllowed', () => {
  it('matches host:port globs; absent or empty means nothing', () => {
    expect(forwardAllowed(undefined, '127.0.0.1:5432')).toBe(false);
    expect(forwardAllowed([], '127.0.0.1:5432')).toBe(false);
    expect(forwardAllowed(['127.0.0.1:5432'], '127.0.0.1:5432')).toBe(true);
    expect(forwardAllowed(['127.0.0.1:5432'], '127.0.0.1:54321')).toBe(false);
    expect(forwardAllowed(['db-*.internal:*'], 'db-1.internal:5432')).toBe(true);
    expect(forwardAllowed(['DB.internal:5432'], forwardDestination('db.INTERNAL', 5432))).toBe(true);
    expect(forwardAllowed(['*:5432'], '10.0.0.1:22')).toBe(false);
    expect(forwardDestination('::1', 22)).toBe('[::1]:22');
  });
});

describe('direct-tcpip forwarding', () => {
  let h: Harness;
  let echo: net.Server;
  let echoPort: number;
  let held: net.Server;
  let heldPort: number;
  let gw: InstanceType<typeof Server>;
  let gwPort: number;
  const sessions: Session[] = [];

  beforeAll(async () => {
    echo = net.createServer((s) => s.pipe(s));
    echoPort = await listen(echo);
    held = net.createServer((s) => s.end('held-ok'));
    heldPort = await listen(held);
    const policies: Policy[] = [
      { name: 'no-localhost', block: { commands: ['forward localhost:*'], message: 'use the IP address' } },
      { name: 'held', approve: { commands: [`forward 127.0.0.1:${heldPort}`], approvers: ['ops'], timeoutMs: 5000 } },
    ];
    h = await startHarness(policies, [
      {
        name: 'web',
        type: 'ssh',
        target: 'ssh://x@127.0.0.1:22',
        access: ['agents'],
        secrets: {},
        options: { forward: ['127.0.0.1:5432', `127.0.0.1:${echoPort}`, `127.0.0.1:${heldPort}`, 'localhost:*', '127.0.0.1:1'] },
      },
    ]);
    const upstream = {
      forwardOut(_sip: string, _sp: number, dip: string, dp: number, cb: (err: Error | undefined, ch: unknown) => void) {
        const s = net.connect(dp, dip);
        s.once('connect', () => cb(undefined, Object.assign(s, { close: () => s.destroy() })));
        s.once('error', (e) => cb(e, undefined));
      },
    };
    gw = new Server({ hostKeys: [generateEd25519().private] }, (client) => {
      client.on('authentication', (ctx) => (ctx.method === 'password' && ctx.password === PASSWORD ? ctx.accept() : ctx.reject(['password'])));
      let session: Promise<Session> | null = null;
      client.on('ready', () => {
        session = h.open('web');
        session.then((s) => sessions.push(s));
      });
      client.on('tcpip', (accept, reject, info) => {
        void session!.then((s) => {
          const deps = { session: s, upstream, logger: quiet, connection: s.connection, client } as unknown as ChannelDeps;
          handleDirectTcpip(deps, info, accept, reject);
        });
      });
      client.on('error', () => undefined);
    });
    gwPort = await listen(gw as unknown as net.Server);
  });
  afterAll(async () => {
    gw?.close();
    echo?.close();
    held?.close();
    await h?.close();
  });

  async function connect(): Promise<InstanceType<typeof Client>> {
    const c = new Client();
    await new Promise<void>((resolve, reject) => {
      c.once('ready', () => resolve());
      c.once('error', reject);
      c.connect({ host: '127.0.0.1', port: gwPort, username: 'web', password: PASSWORD });
    });
    return c;
  }
  function forwardOut(c: InstanceType<typeof Client>, host: string, port: number): Promise<ssh2.ClientChannel> {
    return new Promise((resolve, reject) => c.forwardOut('127.0.0.1', 5000, host, port, (err, ch) => (err ? reject(err) : resolve(ch))));
  }

  it('carries bytes to an allowed destination and records the command and the byte counts', async () => {
    const c = await connect();
    try {
      const ch = await forwardOut(c, '127.0.0.1', echoPort);
      const closed = new Promise((r) => ch.once('close', r));
      const payload = Buffer.alloc(300_000, 7);
      let got = 0;
      const done = new Promise<void>((r) =>
        ch.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= payload.length) r();
        }),
      );
      ch.end(payload);
      const tm = setTimeout(() => console.log('GOT', got), 3000);
      await done;
      clearTimeout(tm);
      expect(got).toBe(payload.length);
      await closed;
    } finally {
      c.end();
    }
    const ev = await h.events(sessions.at(-1)!.id);
    expect(ev.find((e) => e.type === 'command')!.data).toMatchObject({ kind: 'forward', text: `forward 127.0.0.1:${echoPort}`, objects: [`127.0.0.1:${echoPort}`], decision: 'allow' });
    expect(ev.find((e) => e.type === 'result')!.data).toMatchObject({ bytesIn: 300_000, bytesOut: 300_000 });
  });

  it('refuses a destination outside the allow-list ("administratively prohibited") and records the refusal', async () => {
    const c = await connect();
    try {
      const err = (await forwardOut(c, '127.0.0.1', 6379).catch((e) => e)) as Error & { reason?: number };
      expect(err).toBeInstanceOf(Error);
      expect(err.reason).toBe(1);
      expect(err.message).toMatch(/forwarding to 127\.0\.0\.1:6379 is not allowed on this connection/);
    } finally {
      c.end();
    }
    const ev = await h.events(sessions.at(-1)!.id);
    expect(ev.find((e) => e.type === 'command')!.data).toMatchObject({ kind: 'forward', text: 'forward 127.0.0.1:6379', decision: 'block', reason: expect.stringContaining('not allowed on this connection') });
  });

  it('a policy can block an allowed destination; an approve rule holds it until approved', async () => {
    const c = await connect();
    try {
      const err = (await forwardOut(c, 'LOCALHOST', echoPort).catch((e) => e)) as Error & { reason?: number };
      expect(err.reason).toBe(1);
      expect(err.message).toMatch(/use the IP address \(policy "no-localhost"\)/);
      const p = forwardOut(c, '127.0.0.1', heldPort);
      const id = await h.pendingApproval();
      await h.gateway.broker.decide(id, h.approver, true, 'ok');
      const ch = await p;
      let text = '';
      const closed = new Promise((r) => ch.once('close', r));
      ch.on('data', (d: Buffer) => (text += d));
      await closed;
      expect(text).toBe('held-ok');
    } finally {
      c.end();
    }
  });

  it('a destination the target cannot reach fails the channel (connect failed) and records the error', async () => {
    const c = await connect();
    try {
      const err = (await forwardOut(c, '127.0.0.1', 1).catch((e) => e)) as Error & { reason?: number };
      expect(err.reason).toBe(2);
    } finally {
      c.end();
    }
    const ev = await h.events(sessions.at(-1)!.id);
    expect(ev.find((e) => e.type === 'result')!.data.error).toMatch(/could not open 127\.0\.0\.1:1/);
  });

  describe.skipIf(!existsSync('/usr/bin/ssh') || !existsSync('/usr/bin/psql'))('OpenSSH ssh -L', () => {
    const kids: ChildProcess[] = [];
    afterAll(() => kids.forEach((k) => k.kill()));

    function sshL(spec: string): { child: ChildProcess; stderr: () => string } {
      const askpass = join(h.dir, 'askpass.sh');
      writeFileSync(askpass, `#!/bin/sh\necho '${PASSWORD}'\n`);
      chmodSync(askpass, 0o755);
      const child = spawn(
        'ssh',
        ['-N', '-L', spec, '-p', String(gwPort), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password', 'web@127.0.0.1'],
        { env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      kids.push(child);
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      return { child, stderr: () => err };
    }
    async function waitPort(port: number): Promise<void> {
      for (let i = 0; i < 100; i++) {
        const ok = await new Promise<boolean>((r) => {
          const s = net.connect(port, '127.0.0.1');
          s.once('connect', () => (s.destroy(), r(true)));
          s.once('error', () => r(false));
        });
        if (ok) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`ssh -L did not listen on ${port}`);
    }
    function psql(port: number): Promise<{ code: number; out: string; err: string }> {
      return new Promise((resolve) => {
        const p = spawn('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-Atc', 'select 40 + 2'], { env: { ...process.env, PGCONNECT_TIMEOUT: '5' } });
        let out = '';
        let err = '';
        p.stdout.on('data', (d) => (out += d));
        p.stderr.on('data', (d) => (err += d));
        p.on('close', (code) => resolve({ code: code ?? -1, out, err }));
      });
    }
    const freePort = async () => {
      const s = net.createServer();
      const p = await listen(s);
      await new Promise((r) => s.close(r));
      return p;
    };

    it('carries a psql session to an allowed destination; a forbidden one is administratively prohibited', async () => {
      const ok = await freePort();
      const bad = await freePort();
      const t = sshL(`${ok}:127.0.0.1:5432`);
      const t2 = sshL(`${bad}:127.0.0.1:5433`);
      await waitPort(ok);
      await waitPort(bad);
      const r = await psql(ok);
      expect(r.err).toBe('');
      expect(r.out.trim()).toBe('42');
      const r2 = await psql(bad);
      expect(r2.code).not.toBe(0);
      await new Promise((res) => setTimeout(res, 200));
      expect(t2.stderr()).toMatch(/open failed: administratively prohibited: forwarding to 127\.0\.0\.1:5433 is not allowed on this connection/);
      t.child.kill();
      t2.child.kill();
    });
  });
});
