import { createHash, randomBytes } from 'node:crypto';
import type { ApiKeyRecord, SshKeyRecord, Store } from './store.js';
import type { Identity } from './types.js';
import { newId } from './ids.js';

export const API_KEY_PREFIX = 'sk_';

export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export interface CreateKeyInput {
  name: string;
  groups?: string[];
  /** The key then acts as an agent for this human: subject = onBehalfOf, actors = [name]. */
  onBehalfOf?: string | null;
  ttlMs?: number | null;
}

/**
 * Mint an API key. The secret is returned once and only its SHA-256 is stored
 * (the secret has 192 random bits, so a fast hash is not brute-forceable).
 */
export async function createApiKey(store: Store, input: CreateKeyInput): Promise<{ record: ApiKeyRecord; secret: string }> {
  if (!/^[A-Za-z0-9_.@-]{1,100}$/.test(input.name)) throw new Error(`invalid key name "${input.name}": use letters, digits, _ . @ -`);
  const secret = API_KEY_PREFIX + randomBytes(24).toString('base64url');
  const now = new Date();
  const record: ApiKeyRecord = {
    id: newId('key_'),
    name: input.name,
    hash: hashApiKey(secret),
    groups: input.groups ?? [],
    onBehalfOf: input.onBehalfOf ?? null,
    createdAt: now.toISOString(),
    expiresAt: input.ttlMs ? new Date(now.getTime() + input.ttlMs).toISOString() : null,
    revokedAt: null,
  };
  await store.createApiKey(record);
  return { record, secret };
}

export function keyIdentity(k: ApiKeyRecord): Identity {
  return {
    subject: k.onBehalfOf ?? k.name,
    actors: k.onBehalfOf ? [k.name] : [],
    groups: k.groups,
    via: 'api-key',
    credentialId: k.id,
    expiresAt: k.expiresAt ? new Date(k.expiresAt) : undefined,
  };
}

/** Resolves the identity of an API key, or null if unknown, revoked or expired. Store errors propagate (caller refuses). */
export async function verifyApiKey(store: Store, secret: string, now = Date.now()): Promise<Identity | null> {
  if (!secret.startsWith(API_KEY_PREFIX) || secret.length > 200) return null;
  const k = await store.findApiKeyByHash(hashApiKey(secret));
  if (!k || k.revokedAt) return null;
  if (k.expiresAt && Date.parse(k.expiresAt) <= now) return null;
  return keyIdentity(k);
}

/** A credential verifier: API keys now, OIDC tokens plug in here later. Returns null for "not mine / invalid". */
export interface Authenticator {
  authenticate(credential: string): Promise<Identity | null>;
}

export function apiKeyAuthenticator(store: Store): Authenticator {
  return { authenticate: (c) => verifyApiKey(store, c) };
}

/** 'SHA256:…' as `ssh-keygen -lf` prints it: unpadded base64 of the SHA-256 of the key blob. */
export function sshFingerprint(blob: Uint8Array): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/**
 * Identity of a registered SSH public key: its API key's identity (via
 * 'ssh-key'), or null if the key is unknown, registered for another
 * algorithm, or its API key is revoked or expired. Store errors propagate.
 */
export async function verifySshKey(store: Store, key: { algo: string; data: Uint8Array }, now = Date.now()): Promise<Identity | null> {
  const rec = await store.findSshKey(sshFingerprint(key.data));
  if (!rec || rec.algo !== key.algo || rec.publicKey !== Buffer.from(key.data).toString('base64')) return null;
  const k = await store.getApiKey(rec.keyId);
  if (!k || k.revokedAt) return null;
  if (k.expiresAt && Date.parse(k.expiresAt) <= now) return null;
  return { ...keyIdentity(k), via: 'ssh-key' };
}

/**
 * Parses one authorized_keys-style line ("ssh-ed25519 AAAA… comment") and
 * binds it to the API key `keyId`. Throws a one-line message for bad input.
 */
export async function addSshKey(store: Store, keyId: string, line: string): Promise<SshKeyRecord> {
  const m = /^\s*([a-z0-9@.-]+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*?))?\s*$/.exec(line);
  if (!m) throw new Error('not an OpenSSH public key (expected "ssh-ed25519 AAAA… comment", as in a .pub file)');
  const [, algo, b64, comment] = m;
  const blob = Buffer.from(b64!, 'base64');
  // The blob starts with the algorithm name as an SSH string.
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (n <= 0 || 4 + n > blob.length || blob.subarray(4, 4 + n).toString('latin1') !== algo) {
    throw new Error(`the key data does not match its type ${algo}`);
  }
  if (/^(sk-|.*-cert-v01@openssh\.com$)/.test(algo!)) throw new Error(`${algo} keys are not supported (use a plain ed25519, ecdsa or rsa key)`);
  const k = await store.getApiKey(keyId);
  if (!k) throw new Error(`no API key ${keyId} (see sluice keys list)`);
  if (k.revokedAt) throw new Error(`API key ${keyId} is revoked`);
  const fingerprint = sshFingerprint(blob);
  if (await store.findSshKey(fingerprint)) throw new Error(`the key ${fingerprint} is already registered`);
  const rec: SshKeyRecord = { fingerprint, keyId, algo: algo!, publicKey: blob.toString('base64'), comment: comment || null, createdAt: new Date().toISOString() };
  await store.createSshKey(rec);
  return rec;
}
