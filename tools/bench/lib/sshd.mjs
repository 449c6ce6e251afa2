// A throw-away OpenSSH server for the SSH part of the bench: its own host key,
// config and authorized_keys in a temp directory, listening on 127.0.0.1 only,
// key logins only, for the user running the bench (root logs in with
// `PermitRootLogin prohibit-password`; an unprivileged sshd can serve only its
// own user, which is what it does then). Nothing outside `dir` is touched but
// /run/sshd (created when missing, as sshd requires when run as root).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './proc.mjs';

export const SSHD = process.env.SLUICE_BENCH_SSHD ?? '/usr/sbin/sshd';
export const SFTP_SERVER = process.env.SLUICE_BENCH_SFTP_SERVER ?? '/usr/lib/openssh/sftp-server';

function keygen(dir, name) {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `sluice-bench-${name}`, '-f', file], { stdio: 'pipe' });
  return { file, pub: readFileSync(`${file}.pub`, 'utf8').trim() };
}

/** 'SHA256:…' of an OpenSSH public key line, as ssh-keygen -l prints it. */
export function fingerprint(pubLine) {
  const blob = Buffer.from(pubLine.split(/\s+/)[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Starts sshd; resolves {port, user, hostKeyFingerprint, clientKey, gatewayKey, child, pid, logs()}.
 * `clientKey` (the bench's scp) and `gatewayKey` (Sluice's login to the target) are both authorized.
 */
export async function startBenchSshd(dir) {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} not found (apt-get install openssh-server, or set SLUICE_BENCH_SSHD)`);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const root = process.getuid?.() === 0;
  if (root && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const host = keygen(dir, 'host_ed25519');
  const client = keygen(dir, 'client_ed25519');
  const gateway = keygen(dir, 'gateway_ed25519');
  const authorized = join(dir, 'authorized_keys');
  writeFileSync(authorized, `${client.pub}\n${gateway.pub}\n`, { mode: 0o644 });
  const user = userInfo().username;
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1',
      `HostKey ${host.file}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorized}`,
      'UsePAM no',
      'StrictModes no',
      `PermitRootLogin ${root ? 'prohibit-password' : 'no'}`,
      `AllowUsers ${user}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PrintMotd no',
      'PrintLastLog no',
      'AllowTcpForwarding no',
      'MaxStartups 50',
      'LogLevel ERROR',
      `Subsystem sftp ${SFTP_SERVER}`,
      '',
    ].join('\n'),
  );
  let log = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (d) => (log += d));
    const ok = await new Promise((resolve) => {
      const t = setTimeout(() => resolve(true), 1500); // LogLevel ERROR prints nothing when all is well
      child.once('exit', () => {
        clearTimeout(t);
        resolve(false);
      });
    });
    if (!ok) continue;
    // Listening? (sshd binds before the grace period above ends.)
    try {
      await waitForPort('127.0.0.1', port, 5000, () => (child.exitCode !== null ? new Error('sshd exited') : null));
    } catch {
      child.kill('SIGKILL');
      continue;
    }
    return { port, user, hostKeyFingerprint: fingerprint(host.pub), clientKey: client.file, clientPub: `${client.file}.pub`, gatewayKey: gateway.file, child, pid: child.pid, logs: () => log };
  }
  throw new Error(`sshd did not start (${SSHD} -D -e -f ${config}):\n${log}`);
}
