/**
 * SSH keys bound to API keys and delegated-token records, through the real
 * store and core's helpers (`sluice keys add-ssh`, SSH public-key login,
 * `sluice token revoke`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addSshKey, createApiKey, sshFingerprint, verifySshKey, type DelegationRecord } from '@sluice/core';
import { openSqliteStore } from './index.js';
import { tempDirs } from './test-fixtures.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

function store() {
  return openSqliteStore({ path: join(dirs.make(), 's.db') });
}

/** A fresh ed25519 key pair from the real ssh-keygen (the .pub line and what ssh-keygen -l says). */
function keygen(): { pub: string; fingerprint: string } | null {
  if (!existsSync('/usr/bin/ssh-keygen')) return null;
  const f = join(dirs.make(), 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', f]);
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${f}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { pub: readFileSync(`${f}.pub`, 'utf8'), fingerprint };
}

describe('SSH keys bound to API keys', () => {
  it('add, look up by the key blob, refuse after the API key is revoked', async () => {
    const k = keygen();
    if (!k) return expect.fail('ssh-keygen is not installed');
    const s = store();
    const { record } = await createApiKey(s, { name: 'alice@example.com', groups: ['oncall'] });
    const rec = await addSshKey(s, record.id, k.pub);
    // the fingerprint is the one ssh-keygen prints
    expect(rec).toMatchObject({ fingerprint: k.fingerprint, algo: 'ssh-ed25519', keyId: record.id, comment: 'alice@laptop' });
    const blob = Buffer.from(k.pub.split(' ')[1]!, 'base64');
    expect(sshFingerprint(blob)).toBe(k.fingerprint);
    expect(await verifySshKey(s, { algo: 'ssh-ed25519', data: blob })).toMatchObject({ subject: 'alice@example.com', groups: ['oncall'], via: 'ssh-key', credentialId: record.id });
    // the same blob claimed under another algorithm is not a match
    expect(await verifySshKey(s, { algo: 'ssh-rsa', data: blob })).toBeNull();
    // registered twice: refused
    await expect(addSshKey(s, record.id, k.pub)).rejects.toThrow(/already registered/);
    expect(await s.listSshKeys()).toHaveLength(1);
    await s.revokeApiKey(record.id, new Date().toISOString());
    expect(await verifySshKey(s, { algo: 'ssh-ed25519', data: blob })).toBeNull();
    expect(await s.deleteSshKey(k.fingerprint)).toBe(true);
    expect(await s.deleteSshKey(k.fingerprint)).toBe(false);
    await s.close();
  });

  it('bad input is refused with a clear message and nothing stored', async () => {
    const s = store();
    const { record } = await createApiKey(s, { name: 'bob', groups: [] });
    await expect(addSshKey(s, record.id, '-----BEGIN OPENSSH PRIVATE KEY-----')).rejects.toThrow(/not an OpenSSH public key/);
    await expect(addSshKey(s, record.id, 'ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x')).rejects.toThrow(/does not match its type/);
    const k = keygen();
    if (k) await expect(addSshKey(s, 'key_nope', k.pub)).rejects.toThrow(/no API key key_nope/);
    expect(await s.listSshKeys()).toEqual([]);
    await s.close();
  });
});

describe('delegated token records', () => {
  it('create, list by subject newest first, revoke once', async () => {
    const s = store();
    const base: DelegationRecord = {
      id: 'tok_1',
      subject: 'alice@example.com',
      actors: ['billing-agent'],
      groups: ['agents'],
      connections: null,
      issuedBy: 'key_a',
      createdAt: '2026-12-01T00:00:00.000Z',
      expiresAt: '2026-12-01T00:15:00.000Z',
      revokedAt: null,
    };
    await s.createDelegation(base);
    await s.createDelegation({ ...base, id: 'tok_2', connections: ['orders'], createdAt: '2026-12-01T00:01:00.000Z' });
    await s.createDelegation({ ...base, id: 'tok_3', subject: 'bob', createdAt: '2026-12-01T00:02:00.000Z' });
    expect((await s.listDelegations('alice@example.com')).map((d) => d.id)).toEqual(['tok_2', 'tok_1']);
    expect((await s.listDelegations()).map((d) => d.id)).toEqual(['tok_3', 'tok_2', 'tok_1']);
    expect(await s.getDelegation('tok_2')).toEqual({ ...base, id: 'tok_2', connections: ['orders'], createdAt: '2026-12-01T00:01:00.000Z' });
    expect(await s.revokeDelegation('tok_1', '2026-12-01T00:05:00.000Z')).toBe(true);
    expect(await s.revokeDelegation('tok_1', '2026-12-01T00:06:00.000Z')).toBe(false);
    expect((await s.getDelegation('tok_1'))!.revokedAt).toBe('2026-12-01T00:05:00.000Z');
    expect(await s.getDelegation('tok_nope')).toBeUndefined();
    await s.close();
  });
});
