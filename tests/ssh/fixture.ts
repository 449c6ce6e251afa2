/**
 * Shared set-up for SSH end-to-end tests: a temporary sshd as the target
 * (tests/support/sshd.ts), Sluice in-process with the ssh plugin, keys, and
 * clients: ssh2's client and the real OpenSSH `ssh` (password through
 * SSH_ASKPASS with SSH_ASKPASS_REQUIRE=force).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionConfig, Policy } from '@sluice/core';
import { sshPlugin, type SshPluginOptions } from '@sluice/ssh';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { sshClientSkipReason, sshdSkipReason, startSshd, type SshdOptions, type TestSshd } from '../support/sshd.js';
import { ssh2, type Ssh2 } from '../support/ssh2.js';

export { ssh2 };

/** Why these tests cannot run here (skip), or undefined; throws under SLUICE_REQUIRE_SERVICES=1. */
export function sshSkip(...clients: string[]): string | undefined {
  return sshdSkipReason() ?? sshClientSkipReason(...clients);
}

export const CONN = 'web-1';

/** The policies most tests use. */
export const POLICIES: Policy[] = [
  { name: 'no-rm-root', block: { commands: ['rm -rf /', 'rm -rf /*', 'rm -fr /'], message: 'deleting the root file system is not allowed' } },
  { name: 'sudo-needs-approval', approve: { commands: ['sudo *'], approvers: ['oncall-leads'], timeoutMs: 20_000 } },
  { name: 'pii', mask: { detectors: ['credit_card', 'email'] } },
];

export interface SshEnv {
  sshd: TestSshd;
  gw: TestGateway;
  conn: ConnectionConfig;
  /** An agent key (group oncall) acting for alice. */
  agent: { secret: string; id: string; identity: import('@sluice/core').Identity };
  /** An approver identity (group oncall-leads). */
  approver: { secret: string; id: string; identity: import('@sluice/core').Identity };
  /** A key whose groups do not grant the connection. */
  outsider: { secret: string; id: string; identity: import('@sluice/core').Identity };
  close(): Promise<void>;
}

export async function startSshEnv(
  opts: { policies?: Policy[]; sshd?: SshdOptions; plugin?: SshPluginOptions; conn?: Partial<ConnectionConfig>; extraConnections?: ConnectionConfig[] } = {},
): Promise<SshEnv> {
  const sshd = await startSshd(opts.sshd);
  try {
    const conn: ConnectionConfig = {
      name: CONN,
      type: 'ssh',
      target: `ssh://${sshd.user}@127.0.0.1:${sshd.port}`,
      access: ['oncall'],
      secrets: { privateKey: sshd.clientPrivateKey },
      options: { hostKey: sshd.hostKeyFingerprint },
      ...opts.conn,
    };
    const gw = await startTestGateway({ plugin: sshPlugin(opts.plugin), connections: [conn, ...(opts.extraConnections ?? [])], policies: opts.policies ?? POLICIES });
    const agent = await gw.key('deploy-agent', ['oncall'], 'alice@example.com');
    const approver = await gw.key('bob@example.com', ['oncall-leads']);
    const outsider = await gw.key('mallory@example.com', ['interns']);
    return {
      sshd,
      gw,
      conn,
      agent,
      approver,
      outsider,
      async close() {
        await gw.close();
        await sshd.close();
      },
    };
  } catch (e) {
    await sshd.close();
    throw e;
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal?: string;
}

/** Connects with ssh2's client (password = credential); rejects with ssh2's error for a refused one. */
export function connectSsh2(port: number, user: string, auth: Partial<Ssh2.ConnectConfig>): Promise<Ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.once('ready', () => {
      // Later socket errors (the gateway going away at the end of a test) are not the test's concern.
      c.on('error', () => undefined);
      resolve(c);
    });
    c.once('error', reject);
    c.once('close', () => reject(new Error('the server closed the connection before authentication completed')));
    c.connect({ host: '127.0.0.1', port, username: user, readyTimeout: 20_000, hostVerifier: () => true, ...auth });
  });
}

/** Runs one command on an ssh2 connection; collects output until the channel closes. */
export function execOn(c: Ssh2.Client, command: string, opts: Ssh2.ExecOptions = {}, stdin?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    c.exec(command, opts, (err, st) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      let signal: string | undefined;
      st.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      st.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      st.on('exit', (c: number | null, s?: string) => {
        code = c;
        signal = s;
      });
      st.on('close', () => resolve({ stdout, stderr, code, signal }));
      if (stdin !== undefined) st.end(stdin);
    });
  });
}

/** Connects, runs one command, disconnects. */
export async function ssh2Exec(port: number, credential: string, command: string, user = CONN): Promise<ExecResult> {
  const c = await connectSsh2(port, user, { password: credential });
  try {
    return await execOn(c, command);
  } finally {
    c.end();
  }
}

let askpassDir: string | null = null;
/** An SSH_ASKPASS program that prints $SLUICE_TEST_CREDENTIAL. */
export function askpass(): string {
  if (!askpassDir) {
    askpassDir = mkdtempSync(join(tmpdir(), 'sluice-askpass-'));
    process.on('exit', () => rmSync(askpassDir!, { recursive: true, force: true }));
  }
  const p = join(askpassDir, 'askpass.sh');
  writeFileSync(p, '#!/bin/sh\nprintf "%s\\n" "$SLUICE_TEST_CREDENTIAL"\n');
  chmodSync(p, 0o755);
  return p;
}

/** OpenSSH client options for tests: no known_hosts, no agent, no config files. */
export function sshArgs(port: number, user: string, method: 'password' | 'keyboard-interactive' | 'publickey' = 'password'): string[] {
  return [
    '-F', '/dev/null',
    '-p', String(port),
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', `PreferredAuthentications=${method}`,
    '-o', 'NumberOfPasswordPrompts=1',
    '-o', 'IdentityAgent=none',
    ...(method === 'publickey' ? [] : ['-o', 'PubkeyAuthentication=no']),
    `${user}@127.0.0.1`,
  ];
}

/** Runs the OpenSSH client non-interactively (password from SSH_ASKPASS); resolves its output and exit code. */
export function runSsh(args: string[], credential: string, opts: { input?: string; timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, SSH_ASKPASS: askpass(), SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', SLUICE_TEST_CREDENTIAL: credential };
    delete (env as Record<string, string | undefined>).SSH_AUTH_SOCK;
    const p = spawn('ssh', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
    p.stdin.end(opts.input ?? '');
  });
}

export async function waitFor<T>(what: string | (() => string), fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, ms = 15_000, every = 50): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** The id of the first pending approval. */
export async function pendingApproval(gw: TestGateway): Promise<string> {
  return waitFor('a pending approval', async () => (await gw.gateway.store.listApprovals('pending'))[0]?.id);
}

/** Events of the newest session (after it has ended). */
export async function lastSessionEvents(gw: TestGateway, ended = true): Promise<{ type: string; data: unknown }[]> {
  const s = await waitFor('a session', async () => {
    const list = await gw.gateway.store.listSessions({ limit: 1 });
    return list[0] && (!ended || list[0].endedAt) ? list[0] : undefined;
  });
  return (await gw.gateway.store.getEvents(s.id)) as { type: string; data: unknown }[];
}

/** The recorded output text of a session's events, both streams in order. */
export function recordedOutput(events: { type: string; data: unknown }[]): string {
  return events
    .filter((e) => e.type === 'output')
    .map((e) => (e.data as { data: string }).data)
    .join('');
}
