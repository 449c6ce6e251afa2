/**
 * A throw-away OpenSSH server as the upstream target of SSH tests.
 *
 * Each call starts its own `sshd -D -e` on a free loopback port with its own
 * ed25519 host key, config, pid file and authorized_keys in a temp directory,
 * and gives the run its own directory under the test user's home (`home`), so
 * no test depends on what an earlier run left behind.
 *
 * The test account `sluicetest` is created once when missing (`useradd -m`,
 * then `usermod -p '*'` so that key logins work with `UsePAM no`). Creating
 * it needs root, as tests run here and in CI; `sshdSkipReason()` says why the
 * server cannot run on a user's machine (skip) and throws instead under
 * SLUICE_REQUIRE_SERVICES=1.
 *
 * With `{ password: true }` the account also gets the fixed password
 * `TEST_PASSWORD` (the same for every run, so concurrent runs agree) and the
 * server accepts password logins; otherwise only public-key logins.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { sshFingerprint } from '@sluice/core';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, skipOrFail } from './services.js';

export const SSHD = process.env.SLUICE_TEST_SSHD ?? '/usr/sbin/sshd';
export const SFTP_SERVER = process.env.SLUICE_TEST_SFTP_SERVER ?? '/usr/lib/openssh/sftp-server';
export const TEST_USER = 'sluicetest';
export const TEST_PASSWORD = 'sluice-Test-pw-7';

export interface TestSshd {
  port: number;
  /** The login user on the target ('sluicetest'). */
  user: string;
  /** The server's host key fingerprint as OpenSSH prints it: 'SHA256:…' (no padding). */
  hostKeyFingerprint: string;
  /** The server's host public key line ('ssh-ed25519 AAAA…'). */
  hostPublicKey: string;
  /** OpenSSH-format private key (unencrypted) whose public key is authorized on the server. */
  clientPrivateKey: string;
  /** The account password, only when started with `{ password: true }`. */
  password?: string;
  /** A directory of this run only, owned by the test user (under its home), removed on close. */
  home: string;
  /** sshd's own log lines so far (stderr with -e). */
  logs(): string;
  /** Stops the server and removes its files and the run's home. */
  close(): Promise<void>;
}

export interface SshdOptions {
  /** Allow password logins with TEST_PASSWORD. */
  password?: boolean;
  /** Extra sshd_config lines. */
  config?: string[];
}

/** Why a temporary sshd cannot run here, or undefined when it can (throws under SLUICE_REQUIRE_SERVICES=1). */
export function sshdSkipReason(): string | undefined {
  const why = ((): string | undefined => {
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'a temporary sshd with a test account needs root';
    if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
    for (const bin of ['ssh-keygen', 'useradd', 'usermod', 'chpasswd']) {
      if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} is missing`;
    }
    return undefined;
  })();
  return skipOrFail(why);
}

/** Whether the OpenSSH client (`ssh`) is installed; a reason to skip otherwise. */
export function sshClientSkipReason(...extra: string[]): string | undefined {
  for (const bin of ['ssh', ...extra]) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return skipOrFail(`${bin} is missing`);
  }
  return undefined;
}

let userReady: Promise<{ uid: number; gid: number; home: string }> | undefined;

function retrying(fn: () => void): void {
  for (let i = 0; ; i++) {
    try {
      fn();
      return;
    } catch (e) {
      // /etc/shadow may be locked by a concurrent test file doing the same.
      if (i >= 20) throw e;
      spawnSync('sleep', ['0.2']);
    }
  }
}

/**
 * Runs `fn` holding a lock shared by every test process on this machine (a
 * directory created atomically), so concurrent test files do not interleave
 * useradd / usermod / chpasswd on the test account. A lock older than 60 s is
 * taken over (its holder died).
 */
function withUserLock<T>(fn: () => T): T {
  const lock = join(tmpdir(), `sluice-sshd-${TEST_USER}.lock`);
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      try {
        if (Date.now() - statSync(lock).mtimeMs > 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* released meanwhile */
      }
      if (i > 600) throw new Error(`could not take ${lock}`);
      spawnSync('sleep', ['0.1']);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function ensureUser(password: boolean): { uid: number; gid: number; home: string } {
  return withUserLock(() => ensureUserLocked(password));
}

function ensureUserLocked(password: boolean): { uid: number; gid: number; home: string } {
  if (spawnSync('id', ['-u', TEST_USER]).status !== 0) {
    retrying(() => {
      if (spawnSync('id', ['-u', TEST_USER]).status === 0) return;
      execFileSync('useradd', ['-m', '-s', '/bin/bash', TEST_USER], { stdio: 'pipe' });
    });
  }
  const shadow = execFileSync('getent', ['shadow', TEST_USER]).toString().split(':')[1] ?? '';
  if (password) {
    // Our password (a crypt hash) or not yet: every run sets the same one.
    if (!shadow.startsWith('$') || !verifiedPasswordMarker()) {
      retrying(() => execFileSync('chpasswd', [], { input: `${TEST_USER}:${TEST_PASSWORD}\n`, stdio: ['pipe', 'pipe', 'pipe'] }));
      markPasswordSet();
    }
  } else if (shadow.startsWith('!') || shadow === '') {
    // A fresh useradd account is locked: sshd refuses even key logins for it with UsePAM no.
    retrying(() => execFileSync('usermod', ['-p', '*', TEST_USER], { stdio: 'pipe' }));
  }
  const uid = Number(execFileSync('id', ['-u', TEST_USER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', TEST_USER]).toString().trim());
  const home = execFileSync('getent', ['passwd', TEST_USER]).toString().trim().split(':')[5] ?? `/home/${TEST_USER}`;
  if (!existsSync(home)) {
    mkdirSync(home, { recursive: true });
    chownSync(home, uid, gid);
  }
  return { uid, gid, home };
}

// The password we set is recorded beside the account so later runs need not rewrite /etc/shadow.
const MARKER = join(tmpdir(), `sluice-sshd-${TEST_USER}-password`);
function verifiedPasswordMarker(): boolean {
  try {
    return readFileSync(MARKER, 'utf8') === TEST_PASSWORD;
  } catch {
    return false;
  }
}
function markPasswordSet(): void {
  writeFileSync(MARKER, TEST_PASSWORD);
}

/** SHA256 fingerprint of an OpenSSH public key line, as `ssh-keygen -l` prints it. */
export function fingerprintOf(publicKeyLine: string): string {
  return sshFingerprint(Buffer.from(publicKeyLine.trim().split(/\s+/)[1] ?? '', 'base64'));
}

/** Generates an unencrypted OpenSSH key pair in `dir`; returns [private key, public key line]. */
export function generateKey(dir: string, name: string, type: 'ed25519' | 'rsa' | 'ecdsa' = 'ed25519'): [string, string] {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `sluice-test-${name}`, '-f', file], { stdio: 'pipe' });
  return [readFileSync(file, 'utf8'), readFileSync(`${file}.pub`, 'utf8').trim()];
}

export async function startSshd(opts: SshdOptions = {}): Promise<TestSshd> {
  const why = sshdSkipReason();
  if (why) throw new Error(`cannot start sshd: ${why}`);
  // One account set-up per process; a password request after a key-only one still sets the password.
  const user = opts.password ? ensureUser(true) : await (userReady ??= Promise.resolve(ensureUser(false)));
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const dir = mkdtempSync(join(tmpdir(), 'sluice-sshd-'));
  // sshd reads authorized_keys as the user: the directory must be traversable.
  chmodSync(dir, 0o755);
  const [, hostPub] = generateKey(dir, 'host_ed25519', 'ed25519');
  const [clientPrivateKey, clientPub] = generateKey(dir, 'client_ed25519', 'ed25519');
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, `${clientPub}\n`, { mode: 0o644 });
  chmodSync(authorizedKeys, 0o644);

  const home = mkdtempSync(join(user.home, 'run-'));
  chownSync(home, user.uid, user.gid);
  chmodSync(home, 0o755);

  const config = join(dir, 'sshd_config');
  const pidFile = join(dir, 'sshd.pid');
  writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_ed25519')}`,
      `PidFile ${pidFile}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin no',
      `AllowUsers ${TEST_USER}`,
      'PubkeyAuthentication yes',
      `PasswordAuthentication ${opts.password ? 'yes' : 'no'}`,
      'KbdInteractiveAuthentication no',
      'PermitEmptyPasswords no',
      'PrintMotd no',
      'PrintLastLog no',
      'AllowTcpForwarding yes',
      'AcceptEnv LANG LC_* SLUICE_*',
      'LoginGraceTime 30',
      'MaxStartups 100',
      'MaxSessions 50',
      'LogLevel INFO',
      `Subsystem sftp ${SFTP_SERVER}`,
      ...(opts.config ?? []),
      '',
    ].join('\n'),
  );

  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const logLines: string[] = [];
    const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    const started = await new Promise<boolean>((resolve) => {
      let buf = '';
      const timer = setTimeout(() => resolve(false), 10_000);
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          logLines.push(line);
          if (logLines.length > 2000) logLines.shift();
          if (/Server listening on/.test(line)) {
            clearTimeout(timer);
            resolve(true);
          }
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
      child.once('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!started) {
      lastError = logLines.join('\n');
      child.kill('SIGKILL');
      continue;
    }
    const stopSync = () => {
      process.off('exit', stopSync);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    };
    process.on('exit', stopSync);
    return {
      port,
      user: TEST_USER,
      hostKeyFingerprint: fingerprintOf(hostPub),
      hostPublicKey: hostPub,
      clientPrivateKey,
      password: opts.password ? TEST_PASSWORD : undefined,
      home,
      logs: () => logLines.join('\n'),
      async close() {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise<void>((r) => child.once('exit', () => r()));
          child.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        }
        stopSync();
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
  throw new Error(`sshd did not start:\n${lastError}`);
}
