// One timed scp transfer for the SSH part of the bench, and file helpers.
import { createHash } from 'node:crypto';
import { createReadStream, openSync, writeSync, closeSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { run } from './proc.mjs';

/** Writes `mb` MiB of random bytes to `path` (1 MiB at a time). */
export function makeRandomFile(path, mb) {
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < mb; i++) writeSync(fd, randomBytes(1024 * 1024));
  } finally {
    closeSync(fd);
  }
}

export async function sha256File(path) {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c);
  return h.digest('hex');
}

/**
 * scp arguments for one transfer. `mode`: 'put' / 'get' (scp's default SFTP
 * protocol) or 'put -O' (the legacy scp protocol, run through exec).
 * Key login only (-B: batch mode), no config files or agents, one pinned cipher.
 */
export function scpArgs({ port, user, key, cipher }, mode, local, remote) {
  const base = ['-q', '-B', '-F', '/dev/null', '-P', String(port), '-i', key, '-c', cipher, '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'];
  if (mode === 'put -O') base.push('-O');
  const target = `${user}@127.0.0.1:${remote}`;
  return mode === 'get' ? [...base, target, local] : [...base, local, target];
}

/**
 * Runs one transfer; resolves {ok, secs, detail?, command}. The output file
 * (remote for put, local for get) is checked for size; `verifyHash` also
 * compares its SHA-256. The output is deleted afterwards.
 */
export async function scpOnce(ep, mode, { source, out, remoteSource, bytes, verifyHash, timeoutMs }) {
  const args = mode === 'get' ? scpArgs(ep, mode, out, remoteSource) : scpArgs(ep, mode, source, out);
  const command = `scp ${args.join(' ')}`;
  const env = { ...process.env };
  delete env.SSH_AUTH_SOCK;
  const t0 = process.hrtime.bigint();
  const r = await run('scp', args, { env, timeoutMs });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  try {
    if (r.code !== 0) return { ok: false, command, detail: `exit ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}\n${r.stderr}${r.stdout}` };
    const size = statSync(out).size;
    if (size !== bytes) return { ok: false, command, detail: `copied ${size} bytes, expected ${bytes}` };
    if (verifyHash && (await sha256File(out)) !== verifyHash) return { ok: false, command, detail: 'the copy differs from the source (SHA-256)' };
    return { ok: true, secs, command };
  } catch (e) {
    return { ok: false, command, detail: e.message };
  } finally {
    rmSync(out, { force: true });
  }
}
