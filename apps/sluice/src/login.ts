/**
 * `sluice login` / `logout` and the credential cache behind every CLI call.
 *
 * Login is the OAuth 2.0 device authorization grant (RFC 8628) against an
 * issuer the gateway trusts: the gateway publishes at GET /api/login which
 * issuers offer a public `clientId` for the CLI; the CLI starts the flow,
 * prints the URL and code, polls, then asks the gateway (/api/whoami) whether
 * it accepts the token before saving it. The credential is the access token
 * when it is a JWT (IdPs that mint JWT access tokens for the gateway's
 * audience), else the ID token.
 *
 * Cache: `$SLUICE_CONFIG_DIR` or `$XDG_CONFIG_HOME/sluice` or
 * `~/.config/sluice`, file `credentials.json`, mode 0600 (directory 0700),
 * keyed by gateway URL. A credential about to expire is refreshed silently
 * with the refresh token; when that fails the user is told to log in again.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';

export interface CachedLogin {
  issuer: string;
  clientId: string;
  scopes: string[];
  resource: string | null;
  /** The token the gateway accepts (JWT access token or ID token). */
  credential: string;
  /** Which of the two it is. */
  kind: 'access_token' | 'id_token';
  refreshToken: string | null;
  /** Epoch ms, from the credential's `exp`. */
  expiresAt: number | null;
  subject: string;
}

interface CacheFile {
  version: 1;
  servers: Record<string, CachedLogin>;
}

/** Refresh this long before expiry so a credential never dies mid-command. */
const REFRESH_MARGIN_MS = 60_000;
const DEFAULT_SCOPES = ['openid', 'email', 'profile', 'groups', 'offline_access'];

export function configDir(): string {
  if (process.env.SLUICE_CONFIG_DIR) return process.env.SLUICE_CONFIG_DIR;
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'sluice');
}

function cachePath(): string {
  return join(configDir(), 'credentials.json');
}

function readCache(): CacheFile {
  const p = cachePath();
  if (!existsSync(p)) return { version: 1, servers: {} };
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as CacheFile;
    if (v && typeof v.servers === 'object' && v.servers) return v;
  } catch {
    /* a damaged cache is treated as empty (log in again) */
  }
  return { version: 1, servers: {} };
}

function writeCache(c: CacheFile): void {
  const dir = configDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = cachePath();
  const tmp = `${p}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(c, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, p);
}

export function cachedLogin(server: string): CachedLogin | undefined {
  return readCache().servers[server];
}

export function saveLogin(server: string, login: CachedLogin): void {
  const c = readCache();
  c.servers[server] = login;
  writeCache(c);
}

/** Removes the cached login of a server; returns it (for token revocation) or undefined. */
export function forgetLogin(server: string): CachedLogin | undefined {
  const c = readCache();
  const had = c.servers[server];
  if (!had) return undefined;
  delete c.servers[server];
  writeCache(c);
  return had;
}

/** The unverified claims of a JWT (the gateway verifies; this only reads exp/email for display), or null. */
function jwtClaims(token: string): Record<string, unknown> | null {
  try {
    return decodeJwt(token);
  } catch {
    return null;
  }
}

/** Picks the credential out of a token response: a JWT access token, else the ID token. */
export function credentialOf(tokens: { access_token?: string; id_token?: string }): { credential: string; kind: CachedLogin['kind']; expiresAt: number | null; subject: string } {
  const access = tokens.access_token && jwtClaims(tokens.access_token) ? tokens.access_token : undefined;
  const credential = access ?? tokens.id_token;
  if (!credential) throw new Error('the identity provider returned neither a JWT access token nor an ID token');
  const claims = jwtClaims(credential) ?? {};
  const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : null;
  const subject = typeof claims.email === 'string' ? claims.email : String(claims.sub ?? '?');
  return { credential, kind: access ? 'access_token' : 'id_token', expiresAt: exp, subject };
}

async function oidcConfig(issuer: string, clientId: string) {
  const client = await import('openid-client');
  const url = new URL(issuer);
  const insecure = url.protocol === 'http:';
  const config = await client.discovery(url, clientId, undefined, client.None(), insecure ? { execute: [client.allowInsecureRequests] } : undefined);
  return { client, config };
}

/**
 * The credential to send to `server`: the cached login's, refreshed first
 * when it is about to expire. Undefined when not logged in. Throws a
 * one-line message when the login expired and cannot be refreshed.
 */
export async function loginCredential(server: string, now = Date.now()): Promise<string | undefined> {
  const l = cachedLogin(server);
  if (!l) return undefined;
  if (l.expiresAt === null || l.expiresAt - REFRESH_MARGIN_MS > now) return l.credential;
  if (!l.refreshToken) throw new Error(`your login to ${server} expired: run sluice login`);
  try {
    const { client, config } = await oidcConfig(l.issuer, l.clientId);
    const tokens = await client.refreshTokenGrant(config, l.refreshToken, l.resource ? { resource: l.resource } : undefined);
    const c = credentialOf(tokens);
    saveLogin(server, { ...l, ...c, refreshToken: tokens.refresh_token ?? l.refreshToken });
    return c.credential;
  } catch (e) {
    throw new Error(`your login to ${server} expired and could not be refreshed (${(e as Error).message}): run sluice login`);
  }
}

export interface LoginIssuer {
  issuer: string;
  clientId: string;
  scopes: string[] | null;
  resource: string | null;
}

export interface DevicePrompt {
  verificationUri: string;
  verificationUriComplete?: string;
  userCode: string;
  expiresInSec: number;
}

/**
 * Runs the device flow against one issuer: `prompt` is told where the user
 * must go; resolves with the tokens once they approved. Rejects when they
 * deny, the code expires or the IdP fails.
 */
export async function deviceLogin(i: LoginIssuer, prompt: (p: DevicePrompt) => void, signal?: AbortSignal): Promise<CachedLogin> {
  const { client, config } = await oidcConfig(i.issuer, i.clientId);
  const scopes = i.scopes ?? DEFAULT_SCOPES;
  const params: Record<string, string> = { scope: scopes.join(' ') };
  if (i.resource) params.resource = i.resource;
  const da = await client.initiateDeviceAuthorization(config, params);
  prompt({
    verificationUri: da.verification_uri,
    verificationUriComplete: da.verification_uri_complete,
    userCode: da.user_code,
    expiresInSec: da.expires_in,
  });
  const tokens = await client.pollDeviceAuthorizationGrant(config, da, i.resource ? { resource: i.resource } : undefined, signal ? { signal } : undefined);
  const c = credentialOf(tokens);
  return { issuer: i.issuer, clientId: i.clientId, scopes, resource: i.resource, refreshToken: tokens.refresh_token ?? null, ...c };
}

/** Best effort: tell the IdP to revoke the refresh token (logout). */
export async function revokeAtIssuer(l: CachedLogin): Promise<boolean> {
  if (!l.refreshToken) return false;
  try {
    const { client, config } = await oidcConfig(l.issuer, l.clientId);
    if (!config.serverMetadata().revocation_endpoint) return false;
    await client.tokenRevocation(config, l.refreshToken, { token_type_hint: 'refresh_token' });
    return true;
  } catch {
    return false;
  }
}
