/**
 * Port forwarding (direct-tcpip, `ssh -L`) through Sluice end to end: the
 * OpenSSH client and ssh2's client → Sluice → a temporary OpenSSH sshd, which
 * opens the destination (the machine's PostgreSQL, or a local echo server).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { Policy } from '@sluice/core';
import { CONN, POLICIES, askpass, connectSsh2, lastSessionEvents, pendingApproval, sshArgs, sshSkip, startSshEnv, waitFor, type SshEnv } from './fixture.js';
import { PG, freePort, serviceSkipReason } from '../support/services.js';
import type { Ssh2 } from '../support/ssh2.js';

const skip = sshSkip('ssh', 'psql') ?? (await serviceSkipReason('PostgreSQL', PG.host, PG.port));

type Ev = { type: string; data: Record<string, unknown> };
const commands = (ev: Ev[]) => ev.filter((e) => e.type === 'command').map((e) => e.data);

describe.skipIf(!!skip)(`port forwarding through Sluice${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: SshEnv;
  let echo: net.Server;
  let echoPort: number;
  const kids: ChildProcess[] = [];

  beforeAll(async () => {
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as net.AddressInfo).port;
    const policies: Policy[] = [...POLICIES, { name: 'echo-needs-approval', approve: { commands: [`forward 127.0.0.1:${echoPort}`], approvers: ['oncall-leads'], timeoutMs: 10_000 } }];
    env = await startSshEnv({ policies });
    // The allow-list (`forward:` in sluice.yaml). The gateway holds this very
    // object, so setting it here is what the config would have said.
    env.conn.options.forward = [`${PG.host}:${PG.port}`, `127.0.0.1:${echoPort}`];
  }, 120_000);

  afterAll(async () => {
    kids.forEach((k) => k.kill());
    echo?.close();
    await env?.close();
  });

  /** `ssh -N -L spec` through Sluice; resolves once the local port listens. */
  async function sshL(localPort: number, dest: string): Promise<{ child: ChildProcess; stderr: () => string }> {
    const e = { ...process.env, SSH_ASKPASS: askpass(), SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', SLUICE_TEST_CREDENTIAL: env.agent.secret };
    delete (e as Record<string, string | undefined>).SSH_AUTH_SOCK;
    const args = sshArgs(env.gw.port, CONN).map((a) => (a === 'LogLevel=ERROR' ? 'LogLevel=INFO' : a));
    const child = spawn('ssh', ['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `${localPort}:${dest}`, ...args], { env: e, stdio: ['ignore', 'ignore', 'pipe'] });
    kids.push(child);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(`ssh -L on ${localPort}`, () =>
      new Promise<boolean>((r) => {
        const s = net.connect(localPort, '127.0.0.1');
        s.once('connect', () => (s.destroy(), r(true)));
        s.once('error', () => r(false));
      }),
    );
    return { child, stderr: () => err };
  }

  function psql(port: number): Promise<{ code: number | null; out: string; err: string }> {
    return new Promise((resolve) => {
      const p = spawn('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', PG.user, '-d', 'postgres', '-Atc', 'select 40 + 2'], { env: { ...process.env, PGCONNECT_TIMEOUT: '10', PGSSLMODE: 'disable' } });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      p.on('close', (code) => resolve({ code, out, err }));
    });
  }

  it('ssh -L to an allowed destination carries a psql session; a forbidden one is administratively prohibited; both are recorded', async () => {
    const ok = await freePort();
    const bad = await freePort();
    const good = await sshL(ok, `${PG.host}:${PG.port}`);
    const r = await psql(ok);
    expect(r.err).toBe('');
    expect(r.out.trim()).toBe('42');
    good.child.kill();
    const ev = (await lastSessionEvents(env.gw)) as Ev[];
    expect(commands(ev)).toContainEqual(expect.objectContaining({ kind: 'forward', text: `forward ${PG.host}:${PG.port}`, objects: [`${PG.host}:${PG.port}`], decision: 'allow' }));
    // (the readiness probe opened a forward too, with no bytes)
    const res = ev.filter((e) => e.type === 'result').map((e) => e.data as { bytesIn: number; bytesOut: number });
    expect(res.some((x) => x.bytesIn > 0 && x.bytesOut > 0)).toBe(true);

    const forbidden = await sshL(bad, '127.0.0.1:5433');
    const r2 = await psql(bad);
    expect(r2.code).not.toBe(0);
    await waitFor('the refusal on ssh stderr', () => /administratively prohibited/.test(forbidden.stderr()));
    expect(forbidden.stderr()).toMatch(/open failed: administratively prohibited: forwarding to 127\.0\.0\.1:5433 is not allowed on this connection/);
    forbidden.child.kill();
    const ev2 = (await lastSessionEvents(env.gw)) as Ev[];
    expect(commands(ev2)).toContainEqual(expect.objectContaining({ kind: 'forward', text: 'forward 127.0.0.1:5433', decision: 'block', reason: expect.stringContaining('not allowed on this connection') }));
  }, 60_000);

  function forwardOut(c: Ssh2.Client, host: string, port: number): Promise<Ssh2.ClientChannel> {
    return new Promise((resolve, reject) => c.forwardOut('127.0.0.1', 40000, host, port, (err, ch) => (err ? reject(err) : resolve(ch))));
  }

  it('ssh2 forwardOut: an approve rule holds the channel until approved, then bytes flow and are counted', async () => {
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    try {
      const p = forwardOut(c, '127.0.0.1', echoPort);
      const id = await pendingApproval(env.gw);
      expect((await env.gw.gateway.broker.decide(id, env.approver.identity, true, 'ok')).status).toBe(200);
      const ch = await p;
      const closed = new Promise((r) => ch.once('close', r));
      let got = 0;
      ch.on('data', (d: Buffer) => (got += d.length));
      ch.end(Buffer.alloc(100_000, 1));
      await closed;
      expect(got).toBe(100_000);
    } finally {
      c.end();
    }
    const ev = (await lastSessionEvents(env.gw)) as Ev[];
    expect(ev.find((e) => e.type === 'result')!.data).toMatchObject({ bytesIn: 100_000, bytesOut: 100_000 });
  }, 60_000);

  it('ssh2 forwardOut: a denied approval and a connection without an allow-list both refuse the channel', async () => {
    const c = await connectSsh2(env.gw.port, CONN, { password: env.agent.secret });
    try {
      const p = forwardOut(c, '127.0.0.1', echoPort).catch((e: Error & { reason?: number }) => e);
      const id = await pendingApproval(env.gw);
      await env.gw.gateway.broker.decide(id, env.approver.identity, false, 'not now');
      const err = (await p) as Error & { reason?: number };
      expect(err.reason).toBe(1);
      expect(err.message).toMatch(/denied by bob@example\.com: not now \(policy "echo-needs-approval"\)/);
      const saved = env.conn.options.forward;
      delete env.conn.options.forward;
      try {
        const err2 = (await forwardOut(c, PG.host, PG.port).catch((e) => e)) as Error & { reason?: number };
        expect(err2.reason).toBe(1);
        expect(err2.message).toMatch(/not allowed on this connection/);
      } finally {
        env.conn.options.forward = saved;
      }
    } finally {
      c.end();
    }
  }, 60_000);
});
