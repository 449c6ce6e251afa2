import { randomBytes } from 'node:crypto';
import { sshFingerprint as fingerprint } from '@sluice/core';
import { existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';

export const HOST_KEY_FILE = 'ssh_host_ed25519_key';

export interface HostKey {
  /** The OpenSSH private key (PEM text). */
  pem: string;
  /** 'SHA256:…' fingerprint clients see (`ssh-keygen -lf`). */
  fingerprint: string;
  /** The public key line ('ssh-ed25519 AAAA… sluice'). */
  publicKey: string;
}

/** 'SHA256:…' of an SSH public key blob, as OpenSSH prints it: core's `sshFingerprint`. */
export { sshFingerprint as fingerprint } from '@sluice/core';

/**
 * A fresh ed25519 key pair in OpenSSH format that ssh2 itself can read back.
 * ssh2 1.17's generator strips leading zero bytes of the public key, so about
 * 1 key in 256 is unusable (mscdex/ssh2#1513): such a key is thrown away and
 * another generated.
 */
export function generateEd25519(comment = 'sluice'): { private: string; public: string } {
  for (let i = 0; i < 16; i++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    const priv = ssh2.utils.parseKey(pair.private);
    const pub = ssh2.utils.parseKey(pair.public);
    if (!(priv instanceof Error) && !(pub instanceof Error) && !Array.isArray(priv) && !Array.isArray(pub)) return pair;
  }
  throw new Error('could not generate a usable ed25519 key');
}

/**
 * The gateway's SSH host key: `<dataDir>/ssh_host_ed25519_key` (mode 0600),
 * generated on first start and reused afterwards, so clients' known_hosts
 * entries stay valid across restarts. Gateways starting at once on the same
 * dataDir agree on one key (the file is published with an exclusive link).
 * Throws when the file exists but is not a usable private key (never
 * silently replaces it: that would look like a man-in-the-middle to clients).
 */
export function loadOrCreateHostKey(dataDir: string): HostKey {
  const path = join(dataDir, HOST_KEY_FILE);
  if (!existsSync(path)) {
    const pair = generateEd25519();
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(tmp, pair.private, { mode: 0o600 });
    try {
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      unlinkSync(tmp);
    }
  }
  const pem = readFileSync(path, 'utf8');
  const parsed = ssh2.utils.parseKey(pem);
  if (parsed instanceof Error || Array.isArray(parsed) || !parsed.isPrivateKey()) {
    throw new Error(`${path} is not a usable SSH private key${parsed instanceof Error ? `: ${parsed.message}` : ''}; move it away to generate a new one`);
  }
  const blob = parsed.getPublicSSH();
  return { pem, fingerprint: fingerprint(blob), publicKey: `${parsed.type} ${blob.toString('base64')} sluice` };
}
