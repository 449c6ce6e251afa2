import { createHash, randomBytes } from 'node:crypto';
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

/** 'SHA256:…' of an SSH public key blob, as OpenSSH prints it (unpadded base64). */
export function fingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
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
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'sluice' });
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
