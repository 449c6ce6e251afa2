/**
 * The gateway's own token issuer for delegation (`sluice token delegate`).
 *
 * A person who holds a credential (OIDC login, API key) asks the gateway for
 * a short-lived token for an agent. The token is a JWT signed with an Ed25519
 * key kept in dataDir; it names the person as `sub` and the agent in a nested
 * RFC 8693 `act` claim, and carries the (narrowed) groups and connections.
 * Every token is also a row in the store, so it can be listed and revoked
 * before it expires; verification checks that row (fail closed: a store
 * error throws and the gateway refuses).
 *
 * Narrowing rules (a delegated token can never widen what its issuer has):
 * groups ⊆ the person's groups; connections ⊆ those the narrowed groups (and
 * any connection limit the person already has) can open; TTL ≤ the
 * configured maximum and ≤ the person's own credential's remaining life.
 *
 * Keys: `delegation-keys.json` in dataDir (mode 0600) holds up to
 * KEEP_KEYS keys, newest last; the newest signs, all verify, so
 * `rotateDelegationKey` (the CLI's `sluice token rotate-key`) leaves tokens
 * already issued valid. A running gateway re-reads the file when it meets an
 * unknown `kid` (at most once a second), so rotation needs no restart.
 */
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import type { Authenticator, DelegationRecord, Identity, Store } from '@sluice/core';
import { actorsOf } from './claims.js';

export const DELEGATION_KEY_FILE = 'delegation-keys.json';
const KEEP_KEYS = 3;
const ALG = 'EdDSA';
const AGENT_NAME = /^[A-Za-z0-9_.@-]{1,100}$/;

interface StoredKey {
  kid: string;
  createdAt: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

/** A request the issuer refuses, with a message for the person asking. */
export class DelegationError extends Error {
  override name = 'DelegationError';
  constructor(
    message: string,
    readonly status: 400 | 403 | 404 = 400,
  ) {
    super(message);
  }
}

async function newKey(): Promise<StoredKey> {
  const { privateKey, publicKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
  const kid = 'sluice-' + randomBytes(6).toString('hex');
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
  return { kid, createdAt: new Date().toISOString(), privateJwk: { ...(await exportJWK(privateKey)), kid, alg: ALG }, publicJwk };
}

function readKeys(file: string): StoredKey[] {
  const v = JSON.parse(readFileSync(file, 'utf8')) as { keys?: StoredKey[] };
  if (!Array.isArray(v.keys) || v.keys.length === 0) throw new Error(`${file}: no keys`);
  return v.keys;
}

function writeKeys(file: string, keys: StoredKey[]): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ keys }, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** Loads the key file, creating it with one key if absent. */
async function loadOrCreate(dataDir: string): Promise<StoredKey[]> {
  const file = join(dataDir, DELEGATION_KEY_FILE);
  if (existsSync(file)) return readKeys(file);
  const keys = [await newKey()];
  writeKeys(file, keys);
  return keys;
}

/** Adds a new signing key (older ones keep verifying; the oldest beyond KEEP_KEYS are dropped). Returns its kid. */
export async function rotateDelegationKey(dataDir: string): Promise<{ kid: string; retired: string[] }> {
  const file = join(dataDir, DELEGATION_KEY_FILE);
  const keys = existsSync(file) ? readKeys(file) : [];
  const k = await newKey();
  keys.push(k);
  const retired = keys.splice(0, Math.max(0, keys.length - KEEP_KEYS)).map((x) => x.kid);
  writeKeys(file, keys);
  return { kid: k.kid, retired };
}

export interface DelegationIssuerOptions {
  dataDir: string;
  store: Store;
  /** This gateway's issuer identifier (its public admin URL), the tokens' `iss`. */
  issuer: string;
  /** The tokens' `aud` (default 'sluice'). */
  audience?: string;
  maxTtlMs: number;
  defaultTtlMs: number;
  clockSkewSec?: number;
}

export interface DelegateRequest {
  agent: string;
  ttlMs?: number;
  /** Subset of the person's groups (default: all of them). */
  groups?: string[];
  /** Limit to these connections (default: whatever the groups grant). */
  connections?: string[];
}

export interface DelegationIssuer extends Authenticator {
  readonly issuer: string;
  /** The public keys, as served at /.well-known/jwks.json. */
  jwks(): { keys: JWK[] };
  /**
   * Mints a token for `req.agent` acting for `parent`. `mayOpen(groups,
   * connection)` says whether an identity with those groups may open that
   * connection (unknown connections: false). Throws DelegationError for a
   * request that would widen anything.
   */
  delegate(parent: Identity, req: DelegateRequest, mayOpen: (groups: string[], connection: string) => boolean): Promise<{ token: string; record: DelegationRecord }>;
}

export async function openDelegationIssuer(opts: DelegationIssuerOptions): Promise<DelegationIssuer> {
  const file = join(opts.dataDir, DELEGATION_KEY_FILE);
  const audience = opts.audience ?? 'sluice';
  const skew = opts.clockSkewSec ?? 30;
  let keys = await loadOrCreate(opts.dataDir);
  let imported = new Map<string, CryptoKey | Uint8Array>();
  let lastReload = 0;
  // The file is replaced by rename: a new inode (or mtime/size) means new keys.
  const mtime = () => {
    try {
      const st = statSync(file);
      return `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      return '';
    }
  };
  let loadedAt = mtime();
  /** Picks up a rotation done by `sluice token rotate-key` (another process). */
  const reloadIfChanged = () => {
    const m = mtime();
    if (m === loadedAt) return;
    try {
      keys = readKeys(file);
      imported = new Map();
      loadedAt = m;
    } catch {
      /* keep the keys we have */
    }
  };

  const publicKey = async (kid: string): Promise<CryptoKey | Uint8Array | undefined> => {
    let k = imported.get(kid);
    if (k) return k;
    let stored = keys.find((x) => x.kid === kid);
    if (!stored && Date.now() - lastReload > 1000) {
      lastReload = Date.now();
      reloadIfChanged();
      stored = keys.find((x) => x.kid === kid);
    }
    if (!stored) return undefined;
    k = await importJWK(stored.publicJwk, ALG);
    imported.set(kid, k);
    return k;
  };

  return {
    issuer: opts.issuer,
    jwks: () => ({ keys: keys.map((k) => k.publicJwk) }),

    async delegate(parent, req, mayOpen) {
      if (!AGENT_NAME.test(req.agent)) throw new DelegationError(`invalid agent name "${req.agent}": use 1-100 letters, digits, _ . @ -`);
      const now = Date.now();
      const groups = req.groups ?? parent.groups;
      const extra = groups.filter((g) => !parent.groups.includes(g));
      if (extra.length) throw new DelegationError(`you are not a member of ${extra.join(', ')}: a delegated token can only narrow your groups`, 403);
      let connections: string[] | null = null;
      if (req.connections) {
        for (const c of req.connections) {
          if ((parent.connections && !parent.connections.includes(c)) || !mayOpen(groups, c)) {
            throw new DelegationError(`no connection "${c}" that the token's groups may open`, 403);
          }
        }
        connections = [...new Set(req.connections)];
      } else if (parent.connections) {
        connections = parent.connections;
      }
      const parentLeft = parent.expiresAt ? parent.expiresAt.getTime() - now : Infinity;
      // Without --ttl: the default, shortened to what the person's own credential has left.
      const ttlMs = req.ttlMs ?? Math.min(opts.defaultTtlMs, opts.maxTtlMs, parentLeft);
      if (!Number.isFinite(ttlMs) || ttlMs < 1000) {
        throw new DelegationError(parentLeft < 1000 ? 'your credential has expired: log in again' : 'ttl must be at least 1s');
      }
      if (ttlMs > opts.maxTtlMs) throw new DelegationError(`ttl ${fmt(ttlMs)} is longer than the maximum ${fmt(opts.maxTtlMs)} (identity.delegation.maxTtl)`);
      if (ttlMs > parentLeft) {
        throw new DelegationError(`your credential expires at ${parent.expiresAt!.toISOString()}: a delegated token cannot outlive it (ask for a shorter --ttl or log in again)`);
      }
      const expiresAt = now + ttlMs;
      const id = 'tok_' + randomBytes(12).toString('base64url');
      const actors = [req.agent, ...parent.actors];
      const record: DelegationRecord = {
        id,
        subject: parent.subject,
        actors,
        groups: [...groups],
        connections,
        issuedBy: parent.credentialId ?? null,
        createdAt: new Date(now).toISOString(),
        expiresAt: new Date(expiresAt).toISOString(),
        revokedAt: null,
      };
      await opts.store.createDelegation(record);
      reloadIfChanged();
      const signing = keys[keys.length - 1]!;
      const claims: JWTPayload & Record<string, unknown> = { act: actChain(actors), groups: record.groups };
      if (connections) claims.sluice_connections = connections;
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: ALG, kid: signing.kid, typ: 'JWT' })
        .setIssuer(opts.issuer)
        .setAudience(audience)
        .setSubject(parent.subject)
        .setJti(id)
        .setIssuedAt(Math.floor(now / 1000))
        .setNotBefore(Math.floor(now / 1000))
        .setExpirationTime(Math.floor(expiresAt / 1000))
        .sign(await importJWK(signing.privateJwk, ALG));
      return { token, record };
    },

    /** Null for anything not a valid, unrevoked token of this issuer; store errors throw (refuse). */
    async authenticate(credential) {
      if (credential.length > 16 * 1024 || credential.split('.').length !== 3) return null;
      let kid: string | undefined;
      try {
        if (decodeJwt(credential).iss !== opts.issuer) return null;
        const h = decodeProtectedHeader(credential);
        if (h.alg !== ALG || typeof h.kid !== 'string') return null;
        kid = h.kid;
      } catch {
        return null;
      }
      const key = await publicKey(kid);
      if (!key) return null;
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(credential, key, { issuer: opts.issuer, audience, algorithms: [ALG], clockTolerance: skew, requiredClaims: ['exp', 'jti', 'sub'] }));
      } catch {
        return null;
      }
      const rec = await opts.store.getDelegation(String(payload.jti));
      if (!rec || rec.revokedAt || rec.subject !== payload.sub) return null;
      // The signed claims and the stored row must agree (a row is never edited but revoked).
      let actors: string[];
      try {
        actors = actorsOf(payload as Record<string, unknown>);
      } catch {
        return null;
      }
      if (actors.join('\n') !== rec.actors.join('\n')) return null;
      const identity: Identity = {
        subject: rec.subject,
        actors: rec.actors,
        groups: rec.groups,
        via: 'delegated',
        credentialId: rec.id,
        expiresAt: new Date(rec.expiresAt),
      };
      if (rec.connections) identity.connections = rec.connections;
      return identity;
    },
  };
}

/** [a, b, c] → { sub: a, act: { sub: b, act: { sub: c } } } (RFC 8693: nearest actor outermost). */
function actChain(actors: string[]): Record<string, unknown> {
  let act: Record<string, unknown> | undefined;
  for (let i = actors.length - 1; i >= 0; i--) act = act ? { sub: actors[i], act } : { sub: actors[i] };
  return act!;
}

function fmt(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}
