/**
 * OIDC / JWT bearer tokens as Sluice credentials.
 *
 * The credential arrives as the password (CONTRACT, Wire). A JWT from a
 * trusted issuer is verified against that issuer's published keys (discovery →
 * jwks_uri) and mapped to an Identity; anything else is "not mine" (null) so
 * the next authenticator (API keys) can look at it.
 *
 * Outcomes, as the core `Authenticator` contract wants them:
 * - not a JWT, unknown issuer, bad signature, expired, wrong audience … → null;
 * - the issuer's discovery document or JWKS cannot be fetched → throws
 *   `OidcLookupError` (the gateway refuses; the next call tries again).
 */
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import type { Authenticator, Identity } from '@sluice/core';
import { ClaimError, identityFromClaims } from './claims.js';

export interface OidcIssuerConfig {
  /** Exactly as the tokens' `iss` and the discovery document's `issuer` spell it. */
  issuer: string;
  /** Required in the token's `aud` (a string, or one of an array). */
  audience: string;
  /** Claim holding the groups (default 'groups'); dotted paths reach nested claims. */
  groupsClaim?: string;
  /**
   * Where the subject comes from. Default: `email` when `email_verified` is
   * true, else `sub`. Set e.g. 'sub' to always use the stable IdP id.
   */
  subjectClaim?: string;
}

export interface OidcOptions {
  issuers: OidcIssuerConfig[];
  /** Leeway for exp / nbf / iat, seconds (default 30). */
  clockSkewSec?: number;
  /** Signature algorithm allow-list (default: every asymmetric JWS algorithm below). HS* and none are refused. */
  algorithms?: string[];
  /** Timeout for discovery and JWKS requests (default 5000 ms). */
  fetchTimeoutMs?: number;
  /** Tests: allow http:// issuers and JWKS on loopback hosts. https is required otherwise. */
  allowInsecureLocalhost?: boolean;
  /** Least time between JWKS refetches caused by an unknown `kid` (default 30000 ms). */
  minRefetchIntervalMs?: number;
  /** How long the discovery document and JWKS are trusted before a background refresh (default 10 min). */
  cacheMaxAgeMs?: number;
}

export const DEFAULT_ALGORITHMS: readonly string[] = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
];
/** What may be put in `algorithms`: asymmetric signatures only. */
const SUPPORTED_ALGORITHMS = new Set([...DEFAULT_ALGORITHMS, 'Ed25519']);

/** Larger than any sane token (a few KB even with many groups), small enough to stop abuse early. */
const MAX_TOKEN_LENGTH = 32 * 1024;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Tokens without a `kid` may match several keys; try at most this many. */
const MAX_KEY_CANDIDATES = 8;

/** The issuer's keys could not be looked up. Not a verdict on the token: the caller refuses and retries later. */
export class OidcLookupError extends Error {
  override name = 'OidcLookupError';
  constructor(
    message: string,
    readonly issuer: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface IssuerState {
  issuer: string;
  configs: Array<Required<Pick<OidcIssuerConfig, 'issuer' | 'audience' | 'groupsClaim'>> & Pick<OidcIssuerConfig, 'subjectClaim'>>;
  jwksUri?: string;
  keys?: JWTVerifyGetKey;
  /** When discovery last succeeded (or when a failed refresh last gave up). */
  discoveredAt: number;
  pending?: Promise<JWTVerifyGetKey>;
}

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

function checkUrl(raw: string, what: string, allowInsecureLocalhost: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${what} "${raw}" is not a URL`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && allowInsecureLocalhost && isLoopbackHost(url.hostname)) return url;
  throw new Error(`${what} "${raw}" must use https`);
}

function audienceIncludes(aud: unknown, audience: string): boolean {
  return aud === audience || (Array.isArray(aud) && aud.includes(audience));
}

function message(e: unknown): string {
  if (e instanceof Error) {
    const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
    return e.message + cause;
  }
  return String(e);
}

/** Errors from key selection that say "this token names no usable key", not "the issuer is down". */
function isKeySelectionError(e: unknown): boolean {
  return e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys || e instanceof errors.JOSENotSupported;
}

export function oidcAuthenticator(opts: OidcOptions): Authenticator & { close(): void } {
  const allowInsecure = opts.allowInsecureLocalhost ?? false;
  const skew = opts.clockSkewSec ?? 30;
  const fetchTimeoutMs = opts.fetchTimeoutMs ?? 5000;
  const minRefetchIntervalMs = opts.minRefetchIntervalMs ?? 30_000;
  const cacheMaxAgeMs = opts.cacheMaxAgeMs ?? 10 * 60_000;
  if (!(skew >= 0)) throw new Error('clockSkewSec must be ≥ 0');
  if (!(Number.isInteger(fetchTimeoutMs) && fetchTimeoutMs > 0)) throw new Error('fetchTimeoutMs must be a positive integer');
  if (!(minRefetchIntervalMs >= 0)) throw new Error('minRefetchIntervalMs must be ≥ 0');
  if (!(cacheMaxAgeMs > 0)) throw new Error('cacheMaxAgeMs must be > 0');

  const algorithms = [...(opts.algorithms ?? DEFAULT_ALGORITHMS)];
  if (algorithms.length === 0) throw new Error('algorithms must not be empty');
  for (const alg of algorithms) {
    if (!SUPPORTED_ALGORITHMS.has(alg)) {
      throw new Error(`algorithm "${alg}" is not allowed: only asymmetric signatures (${[...SUPPORTED_ALGORITHMS].join(', ')})`);
    }
  }
  const allowedAlgs = new Set(algorithms);

  const states = new Map<string, IssuerState>();
  for (const c of opts.issuers) {
    if (!c || typeof c.issuer !== 'string' || !c.issuer) throw new Error('identity.oidc: issuer is required');
    if (typeof c.audience !== 'string' || !c.audience) throw new Error(`identity.oidc: audience is required for issuer ${c.issuer}`);
    checkUrl(c.issuer, 'OIDC issuer', allowInsecure);
    let st = states.get(c.issuer);
    if (!st) states.set(c.issuer, (st = { issuer: c.issuer, configs: [], discoveredAt: 0 }));
    st.configs.push({ issuer: c.issuer, audience: c.audience, groupsClaim: c.groupsClaim || 'groups', subjectClaim: c.subjectClaim || undefined });
  }

  const lifetime = new AbortController();
  let closed = false;

  async function discover(st: IssuerState): Promise<string> {
    const url = st.issuer.replace(/\/+$/, '') + '/.well-known/openid-configuration';
    let doc: unknown;
    try {
      const res = await fetch(url, {
        headers: { accept: 'application/json' },
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(fetchTimeoutMs), lifetime.signal]),
      });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        throw new Error(`HTTP ${res.status}`);
      }
      doc = await res.json();
    } catch (e) {
      throw new OidcLookupError(`OIDC discovery for ${st.issuer} failed (${url}): ${message(e)}`, st.issuer, { cause: e });
    }
    const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
    if (d.issuer !== st.issuer) {
      throw new OidcLookupError(
        `OIDC discovery for ${st.issuer}: the document names issuer ${JSON.stringify(d.issuer)}; the configured issuer must match it exactly`,
        st.issuer,
      );
    }
    if (typeof d.jwks_uri !== 'string') throw new OidcLookupError(`OIDC discovery for ${st.issuer}: no jwks_uri`, st.issuer);
    try {
      return checkUrl(d.jwks_uri, 'jwks_uri', allowInsecure).href;
    } catch (e) {
      throw new OidcLookupError(`OIDC discovery for ${st.issuer}: ${message(e)}`, st.issuer);
    }
  }

  /** The issuer's key resolver, discovering it first (cached; concurrent callers share one request). */
  function keysFor(st: IssuerState): Promise<JWTVerifyGetKey> {
    if (st.keys && Date.now() - st.discoveredAt < cacheMaxAgeMs) return Promise.resolve(st.keys);
    if (!st.pending) {
      const p = (async () => {
        try {
          const jwksUri = await discover(st);
          if (closed) throw new OidcLookupError('OIDC authenticator closed', st.issuer);
          if (!st.keys || jwksUri !== st.jwksUri) {
            st.jwksUri = jwksUri;
            st.keys = createRemoteJWKSet(new URL(jwksUri), {
              timeoutDuration: fetchTimeoutMs,
              cooldownDuration: minRefetchIntervalMs,
              cacheMaxAge: cacheMaxAgeMs,
            });
          }
          st.discoveredAt = Date.now();
          return st.keys;
        } catch (e) {
          // A refresh that fails keeps the last good keys (retried after the refetch interval);
          // a first discovery that fails throws, and the next call tries again.
          if (st.keys && !closed) {
            st.discoveredAt = Date.now() - cacheMaxAgeMs + minRefetchIntervalMs;
            return st.keys;
          }
          throw e;
        } finally {
          st.pending = undefined;
        }
      })();
      st.pending = p;
    }
    return st.pending;
  }

  function guarded(st: IssuerState, keys: JWTVerifyGetKey): JWTVerifyGetKey {
    return async (header, token) => {
      try {
        return await keys(header, token);
      } catch (e) {
        if (isKeySelectionError(e)) throw e;
        throw new OidcLookupError(`JWKS for ${st.issuer} (${st.jwksUri}) unavailable: ${message(e)}`, st.issuer, { cause: e });
      }
    };
  }

  async function verify(token: string, getKey: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTPayload> {
    try {
      return (await jwtVerify(token, getKey, options)).payload;
    } catch (e) {
      if (!(e instanceof errors.JWKSMultipleMatchingKeys)) throw e;
      // No `kid` and several keys fit: try each (bounded).
      let n = 0;
      for await (const key of e) {
        if (++n > MAX_KEY_CANDIDATES) break;
        try {
          return (await jwtVerify(token, key, options)).payload;
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw e;
    }
  }

  async function authenticate(credential: string): Promise<Identity | null> {
    if (typeof credential !== 'string' || credential.length > MAX_TOKEN_LENGTH || !JWT_SHAPE.test(credential)) return null;
    let alg: unknown;
    let unverified: JWTPayload;
    try {
      alg = decodeProtectedHeader(credential).alg;
      unverified = decodeJwt(credential);
    } catch {
      return null;
    }
    // Everything below the signature check is re-checked on the verified claims;
    // these early exits only spare the network for tokens that cannot pass.
    if (typeof alg !== 'string' || !allowedAlgs.has(alg)) return null;
    if (typeof unverified.iss !== 'string') return null;
    const st = states.get(unverified.iss);
    if (!st) return null;
    const configs = st.configs.filter((c) => audienceIncludes(unverified.aud, c.audience));
    if (configs.length === 0) return null;
    if (closed) throw new OidcLookupError('OIDC authenticator closed', st.issuer);

    const getKey = guarded(st, await keysFor(st));
    let payload: JWTPayload;
    try {
      payload = await verify(credential, getKey, {
        issuer: st.issuer,
        audience: configs.map((c) => c.audience),
        algorithms,
        clockTolerance: skew,
        requiredClaims: ['exp'],
      });
    } catch (e) {
      if (e instanceof OidcLookupError) throw e;
      return null;
    }
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + skew) return null;
    const config = configs.find((c) => audienceIncludes(payload.aud, c.audience));
    if (!config) return null;
    try {
      return identityFromClaims(payload as Record<string, unknown>, config);
    } catch (e) {
      if (e instanceof ClaimError) return null;
      throw e;
    }
  }

  return {
    authenticate,
    close() {
      closed = true;
      lifetime.abort();
      for (const st of states.values()) {
        st.keys = undefined;
        st.jwksUri = undefined;
        st.discoveredAt = 0;
      }
    },
  };
}
