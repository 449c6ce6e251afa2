/**
 * Turning the claims of an already verified token into a Sluice `Identity`.
 * Pure functions: no network, no clock.
 */
import type { Identity } from '@sluice/core';

/** Deepest `act` chain accepted (RFC 8693 sets no limit; a real chain is 1–3 long). */
export const MAX_ACTOR_DEPTH = 16;

/** The claims cannot describe an identity (malformed `act`, no subject …): the token is refused. */
export class ClaimError extends Error {
  override name = 'ClaimError';
}

export interface ClaimMapping {
  /** Claim holding the groups; a dotted path ('realm_access.roles') is followed when no claim has that exact name. */
  groupsClaim: string;
  /** Force the subject to come from this claim (e.g. 'sub', 'preferred_username'); see `subjectOf`. */
  subjectClaim?: string;
}

type Claims = Record<string, unknown>;

const EMAIL = /^[^\s@]+@[^\s@]+$/;

function isObject(v: unknown): v is Claims {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 1024;
}

/**
 * The accountable subject.
 *
 * - With `subjectClaim` configured: that claim, which must be a non-empty string.
 * - Otherwise: the `email` claim when the issuer says it is verified
 *   (`email_verified: true`, or the string 'true' some IdPs send) and it looks
 *   like an address; else `sub`.
 *
 * An unverified (or unflagged) email is never used: many IdPs let users edit
 * their email, and the subject is what `$subject` approvals and self-approval
 * checks compare, so it must be something the IdP vouches for.
 */
export function subjectOf(claims: Claims, subjectClaim?: string): string {
  if (subjectClaim) {
    const v = claims[subjectClaim];
    if (!nonEmptyString(v)) throw new ClaimError(`claim "${subjectClaim}" missing or not a string`);
    return v;
  }
  const email = claims.email;
  const verified = claims.email_verified === true || claims.email_verified === 'true';
  if (verified && nonEmptyString(email) && EMAIL.test(email)) return email;
  if (!nonEmptyString(claims.sub)) throw new ClaimError('claim "sub" missing or not a string');
  return claims.sub;
}

/** Claim value by exact name, else by dotted path through nested objects. */
export function claimValue(claims: Claims, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  if (!name.includes('.')) return undefined;
  let cur: unknown = claims;
  for (const part of name.split('.')) {
    if (!isObject(cur) || !Object.hasOwn(cur, part)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Groups: an array of strings (non-strings ignored), a single string = one group, anything else = none. */
export function groupsOf(claims: Claims, groupsClaim: string): string[] {
  const v = claimValue(claims, groupsClaim);
  const list = typeof v === 'string' ? [v] : Array.isArray(v) ? v : [];
  return [...new Set(list.filter(nonEmptyString))];
}

/**
 * The RFC 8693 delegation chain, nearest actor first:
 * `act: { sub: 'billing-agent', act: { sub: 'other' } }` → ['billing-agent', 'other'].
 * A present but malformed `act` (not an object, no `sub`) refuses the token rather
 * than being ignored: ignoring it would make an agent look like a human.
 */
export function actorsOf(claims: Claims): string[] {
  const actors: string[] = [];
  let cur: unknown = claims;
  while (isObject(cur) && Object.hasOwn(cur, 'act')) {
    const act: unknown = cur.act;
    if (!isObject(act)) throw new ClaimError('claim "act" is not an object');
    if (!nonEmptyString(act.sub)) throw new ClaimError('claim "act" has no "sub"');
    actors.push(act.sub);
    if (actors.length > MAX_ACTOR_DEPTH) throw new ClaimError('claim "act" nested too deeply');
    cur = act;
  }
  return actors;
}

export function identityFromClaims(claims: Claims, mapping: ClaimMapping): Identity {
  const identity: Identity = {
    subject: subjectOf(claims, mapping.subjectClaim),
    actors: actorsOf(claims),
    groups: groupsOf(claims, mapping.groupsClaim),
    via: 'oidc',
  };
  if (nonEmptyString(claims.jti)) identity.credentialId = claims.jti;
  if (typeof claims.exp === 'number' && Number.isFinite(claims.exp)) identity.expiresAt = new Date(claims.exp * 1000);
  return identity;
}
