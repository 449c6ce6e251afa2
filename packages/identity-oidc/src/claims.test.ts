import { describe, expect, it } from 'vitest';
import { actorsOf, ClaimError, groupsOf, identityFromClaims, MAX_ACTOR_DEPTH, subjectOf } from './claims.js';

describe('subjectOf', () => {
  it('uses a verified email, else sub', () => {
    expect(subjectOf({ sub: 'u1', email: 'alice@example.com', email_verified: true })).toBe('alice@example.com');
    expect(subjectOf({ sub: 'u1', email: 'alice@example.com', email_verified: 'true' })).toBe('alice@example.com');
    expect(subjectOf({ sub: 'u1', email: 'alice@example.com' })).toBe('u1');
    expect(subjectOf({ sub: 'u1', email: 'alice@example.com', email_verified: false })).toBe('u1');
    expect(subjectOf({ sub: 'u1', email: 'not an email', email_verified: true })).toBe('u1');
  });
  it('honours a configured subject claim', () => {
    expect(subjectOf({ sub: 'u1', email: 'a@b.c', email_verified: true }, 'sub')).toBe('u1');
    expect(subjectOf({ sub: 'u1', preferred_username: 'alice' }, 'preferred_username')).toBe('alice');
    expect(() => subjectOf({ sub: 'u1' }, 'preferred_username')).toThrow(ClaimError);
  });
  it('refuses a token with no usable subject', () => {
    expect(() => subjectOf({})).toThrow(ClaimError);
    expect(() => subjectOf({ sub: 42 })).toThrow(ClaimError);
    expect(() => subjectOf({ sub: '' })).toThrow(ClaimError);
  });
});

describe('groupsOf', () => {
  it('reads arrays, single strings and nested paths', () => {
    expect(groupsOf({ groups: ['a', 'b', 'a', 3, null] }, 'groups')).toEqual(['a', 'b']);
    expect(groupsOf({ groups: 'dba' }, 'groups')).toEqual(['dba']);
    expect(groupsOf({}, 'groups')).toEqual([]);
    expect(groupsOf({ groups: { a: 1 } }, 'groups')).toEqual([]);
    expect(groupsOf({ realm_access: { roles: ['x'] } }, 'realm_access.roles')).toEqual(['x']);
    // An exact claim name with dots (Auth0-style namespaced claims) wins over the path.
    expect(groupsOf({ 'https://example.com/groups': ['ns'] }, 'https://example.com/groups')).toEqual(['ns']);
  });
});

describe('actorsOf', () => {
  it('lists nested act claims nearest first', () => {
    expect(actorsOf({ sub: 'alice' })).toEqual([]);
    expect(actorsOf({ act: { sub: 'billing-agent' } })).toEqual(['billing-agent']);
    expect(actorsOf({ act: { sub: 'billing-agent', act: { sub: 'other' } } })).toEqual(['billing-agent', 'other']);
  });
  it('refuses malformed or absurdly deep chains instead of ignoring them', () => {
    expect(() => actorsOf({ act: 'billing-agent' })).toThrow(ClaimError);
    expect(() => actorsOf({ act: null })).toThrow(ClaimError);
    expect(() => actorsOf({ act: { iss: 'x' } })).toThrow(ClaimError);
    expect(() => actorsOf({ act: { sub: 'a', act: [] } })).toThrow(ClaimError);
    let deep: Record<string, unknown> = { sub: 'last' };
    for (let i = 0; i < MAX_ACTOR_DEPTH + 1; i++) deep = { sub: `a${i}`, act: deep };
    expect(() => actorsOf({ act: deep })).toThrow(ClaimError);
  });
});

describe('identityFromClaims', () => {
  it('builds the identity', () => {
    const id = identityFromClaims(
      { sub: 'u1', email: 'alice@example.com', email_verified: true, roles: ['dba'], jti: 'tok-1', exp: 2_000_000_000, act: { sub: 'agent' } },
      { groupsClaim: 'roles' },
    );
    expect(id).toEqual({
      subject: 'alice@example.com',
      actors: ['agent'],
      groups: ['dba'],
      via: 'oidc',
      credentialId: 'tok-1',
      expiresAt: new Date(2_000_000_000_000),
    });
  });
});
