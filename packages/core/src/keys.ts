import { createHash, randomBytes } from 'node:crypto';
import type { ApiKeyRecord, Store } from './store.js';
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
