import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { base64url, exportJWK, exportSPKI, importJWK, SignJWT, UnsecuredJWT } from 'jose';
import { oidcAuthenticator, OidcLookupError, type OidcOptions } from './oidc.js';
import { freePort, makeKey, startTestIssuer, type TestIssuer } from './test-issuer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => Math.floor(Date.now() / 1000);

let idp: TestIssuer;
const opened: Array<{ close(): void }> = [];

function auth(extra: Partial<OidcOptions> = {}, issuer: TestIssuer = idp) {
  const a = oidcAuthenticator({
    issuers: [{ issuer: issuer.url, audience: 'sluice', groupsClaim: 'groups' }],
    allowInsecureLocalhost: true,
    fetchTimeoutMs: 2000,
    ...extra,
  });
  opened.push(a);
  return a;
}

beforeAll(async () => {
  idp = await startTestIssuer();
});
afterAll(async () => {
  await idp.close();
});
afterEach(() => {
  while (opened.length) opened.pop()!.close();
  idp.hits.discovery = 0;
  idp.hits.jwks = 0;
});

describe('valid tokens', () => {
  it('maps subject, groups, jti and expiry', async () => {
    const a = auth();
    const exp = now() + 600;
    const token = await idp.sign(idp.claims({ groups: ['dba', 'agents'], jti: 'jti-1', exp }));
    expect(await a.authenticate(token)).toEqual({
      subject: 'user-123',
      actors: [],
      groups: ['dba', 'agents'],
      via: 'oidc',
      credentialId: 'jti-1',
      expiresAt: new Date(exp * 1000),
    });
  });

  it('uses a verified email as subject; a single-string group becomes one group', async () => {
    const a = auth();
    const token = await idp.sign(idp.claims({ email: 'alice@example.com', email_verified: true, groups: 'dba' }));
    const id = await a.authenticate(token);
    expect(id?.subject).toBe('alice@example.com');
    expect(id?.groups).toEqual(['dba']);
  });

  it('accepts an audience array containing the audience', async () => {
    const a = auth();
    expect(await a.authenticate(await idp.sign(idp.claims({ aud: ['other', 'sluice'] })))).not.toBeNull();
  });

  it('turns nested act claims into actors, nearest first', async () => {
    const a = auth();
    const token = await idp.sign(
      idp.claims({ sub: 'alice', act: { sub: 'billing-agent', act: { sub: 'other' } } }),
    );
    const id = await a.authenticate(token);
    expect(id?.subject).toBe('alice');
    expect(id?.actors).toEqual(['billing-agent', 'other']);
  });

  it('refuses a malformed act claim', async () => {
    const a = auth();
    expect(await a.authenticate(await idp.sign(idp.claims({ act: 'billing-agent' })))).toBeNull();
  });

  it('caches discovery and JWKS; concurrent first calls share one fetch', async () => {
    const a = auth();
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => idp.sign(idp.claims({ sub: `u${i}` }))));
    const ids = await Promise.all(tokens.map((t) => a.authenticate(t)));
    expect(ids.map((i) => i?.subject)).toEqual(tokens.map((_, i) => `u${i}`));
    await a.authenticate(tokens[0]);
    expect(idp.hits).toEqual({ discovery: 1, jwks: 1 });
  });

  it('picks the config whose audience the token carries when an issuer is listed twice', async () => {
    const a = oidcAuthenticator({
      issuers: [
        { issuer: idp.url, audience: 'sluice', groupsClaim: 'groups' },
        { issuer: idp.url, audience: 'sluice-admin', groupsClaim: 'roles' },
      ],
      allowInsecureLocalhost: true,
    });
    opened.push(a);
    const id = await a.authenticate(await idp.sign(idp.claims({ aud: 'sluice-admin', groups: ['g'], roles: ['r'] })));
    expect(id?.groups).toEqual(['r']);
  });

  it('tries each key when the token has no kid and several keys fit', async () => {
    const k1 = await makeKey('a', 'RS256', { publishKid: false });
    const k2 = await makeKey('b', 'RS256', { publishKid: false });
    const other = await startTestIssuer({ keys: [k1, k2] });
    try {
      const a = auth({}, other);
      expect(await a.authenticate(await other.sign(other.claims(), { key: k2, kid: null }))).not.toBeNull();
      const stranger = await makeKey('c');
      expect(await a.authenticate(await other.sign(other.claims(), { key: stranger, kid: null }))).toBeNull();
    } finally {
      await other.close();
    }
  });
});

describe('refused tokens (null, never a throw)', () => {
  it('ignores credentials that are not JWTs without touching the network', async () => {
    const a = auth();
    for (const c of ['sk_abcdef', '', 'hunter2', 'a.b.c', 'a.b', '...', 'x'.repeat(40_000) + '.a.b']) {
      expect(await a.authenticate(c)).toBeNull();
    }
    expect(idp.hits).toEqual({ discovery: 0, jwks: 0 });
  });

  it('wrong issuer → null, no network', async () => {
    const a = auth();
    expect(await a.authenticate(await idp.sign(idp.claims({ iss: 'https://evil.example.com' })))).toBeNull();
    expect(await a.authenticate(await idp.sign(idp.claims({ iss: idp.url + '/' })))).toBeNull();
    expect(await a.authenticate(await idp.sign(idp.claims({ iss: undefined })))).toBeNull();
    expect(idp.hits).toEqual({ discovery: 0, jwks: 0 });
  });

  it('wrong audience → null', async () => {
    const a = auth();
    expect(await a.authenticate(await idp.sign(idp.claims({ aud: 'someone-else' })))).toBeNull();
    expect(await a.authenticate(await idp.sign(idp.claims({ aud: ['a', 'b'] })))).toBeNull();
    expect(await a.authenticate(await idp.sign(idp.claims({ aud: undefined })))).toBeNull();
  });

  it('expired → null, within the clock skew → accepted', async () => {
    const a = auth();
    expect(await a.authenticate(await idp.sign(idp.claims({ iat: now() - 600, exp: now() - 120 })))).toBeNull();
    expect(await a.authenticate(await idp.sign(idp.claims({ iat: now() - 600, exp: now() - 10 })))).not.toBeNull();
    const strict = auth({ clockSkewSec: 0 });
    expect(await strict.authenticate(await idp.sign(idp.claims({ iat: now() - 600, exp: now() - 10 })))).toBeNull();
  });

  it('a token without exp → null', async () => {
    const a = auth();
    expect(await a.authenticate(await idp.sign(idp.claims({ exp: undefined })))).toBeNull();
  });

  it('not yet valid (nbf) → null, within skew → accepted', async () => {
    const a = auth();
    expect(await a.authenticate(await idp.sign(idp.claims({ nbf: now() + 120 })))).toBeNull();
    expect(await a.authenticate(await idp.sign(idp.claims({ nbf: now() + 10 })))).not.toBeNull();
  });

  it('issued in the future (iat) → null', async () => {
    const a = auth();
    expect(await a.authenticate(await idp.sign(idp.claims({ iat: now() + 3600 })))).toBeNull();
    expect(await a.authenticate(await idp.sign(idp.claims({ iat: 'yesterday' as unknown as number })))).toBeNull();
  });

  it('no subject → null', async () => {
    const a = auth();
    expect(await a.authenticate(await idp.sign(idp.claims({ sub: undefined })))).toBeNull();
  });

  it('tampered signature or payload → null', async () => {
    const a = auth();
    const token = await idp.sign(idp.claims({ groups: ['readers'] }));
    const [h, p, s] = token.split('.');
    const sig = Buffer.from(s, 'base64url');
    sig[10] ^= 0x01;
    expect(await a.authenticate(`${h}.${p}.${sig.toString('base64url')}`)).toBeNull();
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    claims.groups = ['admins'];
    expect(await a.authenticate(`${h}.${base64url.encode(JSON.stringify(claims))}.${s}`)).toBeNull();
    expect(await a.authenticate(`${h}.${p}.`)).toBeNull();
    expect(await a.authenticate(token)).not.toBeNull();
  });

  it('alg none → null, without fetching anything', async () => {
    const a = auth();
    const unsecured = new UnsecuredJWT(idp.claims()).encode();
    expect(await a.authenticate(unsecured)).toBeNull();
    // Same, with a kid and other spellings of "none".
    const payload = base64url.encode(JSON.stringify(idp.claims()));
    for (const alg of ['none', 'None', 'NONE']) {
      const header = base64url.encode(JSON.stringify({ alg, kid: 'k1', typ: 'JWT' }));
      expect(await a.authenticate(`${header}.${payload}.`)).toBeNull();
    }
    expect(idp.hits).toEqual({ discovery: 0, jwks: 0 });
  });

  it('HS256 "signed" with the issuer public key as the secret → null', async () => {
    const a = auth();
    const key = idp.published[0];
    const pem = await exportSPKI(key.publicKey);
    const jwkJson = JSON.stringify(key.publicJwk);
    for (const secret of [pem, pem.trim(), jwkJson, key.publicJwk.n!]) {
      const forged = await new SignJWT(idp.claims({ groups: ['admins'] }))
        .setProtectedHeader({ alg: 'HS256', kid: key.kid })
        .sign(new TextEncoder().encode(secret));
      expect(await a.authenticate(forged)).toBeNull();
    }
  });

  it('refuses HMAC or none in the configured allow-list', () => {
    expect(() => auth({ algorithms: ['RS256', 'HS256'] })).toThrow(/HS256/);
    expect(() => auth({ algorithms: ['none'] })).toThrow(/none/);
    expect(() => auth({ algorithms: [] })).toThrow();
  });

  it('the token alg must agree with the published key alg; the allow-list is honoured', async () => {
    const a = auth();
    // k1 is published with alg RS256: the same RSA key used with PS256 is refused.
    const k1 = idp.published[0];
    const asPss = await importJWK(await exportJWK(k1.privateKey), 'PS256');
    const pss = await new SignJWT(idp.claims()).setProtectedHeader({ alg: 'PS256', kid: k1.kid }).sign(asPss);
    expect(await a.authenticate(pss)).toBeNull();
    const only384 = auth({ algorithms: ['RS384'] });
    expect(await only384.authenticate(await idp.sign(idp.claims()))).toBeNull();
  });

  it('a key embedded in the token header is never trusted', async () => {
    const a = auth();
    const attacker = await makeKey('k1');
    const forged = await new SignJWT(idp.claims({ groups: ['admins'] }))
      .setProtectedHeader({ alg: 'RS256', kid: 'k1', jwk: attacker.publicJwk })
      .sign(attacker.privateKey);
    expect(await a.authenticate(forged)).toBeNull();
  });

  it('unknown kid → null', async () => {
    const a = auth();
    const stranger = await makeKey('nobody-knows-me');
    expect(await a.authenticate(await idp.sign(idp.claims(), { key: stranger }))).toBeNull();
  });

  it("a token naming issuer A but signed with trusted issuer B's key → null", async () => {
    const b = await startTestIssuer();
    try {
      const a = oidcAuthenticator({
        issuers: [
          { issuer: idp.url, audience: 'sluice', groupsClaim: 'groups' },
          { issuer: b.url, audience: 'sluice', groupsClaim: 'groups' },
        ],
        allowInsecureLocalhost: true,
      });
      opened.push(a);
      expect(await a.authenticate(await b.sign(b.claims()))).not.toBeNull();
      const k = { ...b.published[0], kid: 'k1' }; // same kid as A's key, B's private key
      expect(await a.authenticate(await b.sign(idp.claims(), { key: k }))).toBeNull();
    } finally {
      await b.close();
    }
  });
});

describe('key rotation', () => {
  it('accepts a token signed with a newly published key without restart', async () => {
    const rotating = await startTestIssuer();
    try {
      const a = auth({ minRefetchIntervalMs: 200 }, rotating);
      const oldKey = rotating.published[0];
      expect(await a.authenticate(await rotating.sign(rotating.claims()))).not.toBeNull();
      expect(rotating.hits.jwks).toBe(1);

      const newKey = await makeKey('k2', 'ES256');
      rotating.published = [newKey];
      await sleep(250);
      const id = await a.authenticate(await rotating.sign(rotating.claims({ sub: 'after-rotation' }), { key: newKey }));
      expect(id?.subject).toBe('after-rotation');
      expect(rotating.hits.jwks).toBe(2);
      // The retired key no longer verifies (it is gone from the refetched set).
      expect(await a.authenticate(await rotating.sign(rotating.claims(), { key: oldKey }))).toBeNull();
      expect(rotating.hits.discovery).toBe(1);
    } finally {
      await rotating.close();
    }
  });

  it('a flood of unknown kids refetches the JWKS at most once per interval', async () => {
    const flooded = await startTestIssuer();
    try {
      // Mint the flood first: key generation is slow and must not eat into the interval.
      const strangers = await Promise.all(Array.from({ length: 5 }, (_, i) => makeKey(`x${i}`, 'ES256')));
      const forged = await Promise.all(
        Array.from({ length: 100 }, (_, i) => flooded.sign(flooded.claims(), { key: strangers[i % 5], kid: `unknown-${i}` })),
      );
      const valid = await flooded.sign(flooded.claims());
      const a = auth({ minRefetchIntervalMs: 1500 }, flooded);
      expect(await a.authenticate(valid)).not.toBeNull();
      expect(flooded.hits.jwks).toBe(1);

      // Inside the interval: no refetch at all, concurrently or one by one.
      expect((await Promise.all(forged.slice(0, 50).map((t) => a.authenticate(t)))).every((r) => r === null)).toBe(true);
      for (const t of forged.slice(50, 60)) expect(await a.authenticate(t)).toBeNull();
      expect(flooded.hits.jwks).toBe(1);

      // After the interval a burst causes exactly one refetch (concurrent misses share it).
      await sleep(1600);
      expect((await Promise.all(forged.slice(60).map((t) => a.authenticate(t)))).every((r) => r === null)).toBe(true);
      expect(flooded.hits.jwks).toBe(2);
      // Valid tokens keep working throughout.
      expect(await a.authenticate(valid)).not.toBeNull();
      expect(flooded.hits.jwks).toBe(2);
    } finally {
      await flooded.close();
    }
  });

  it('with the default interval, an unknown kid right after a fetch does not refetch', async () => {
    const a = auth();
    expect(await a.authenticate(await idp.sign(idp.claims()))).not.toBeNull();
    const stranger = await makeKey('k-new');
    expect(await a.authenticate(await idp.sign(idp.claims(), { key: stranger }))).toBeNull();
    expect(idp.hits.jwks).toBe(1);
  });
});

describe('lookup failures (throw → the gateway refuses)', () => {
  it('an unreachable issuer throws, and discovery is retried on the next call', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const a = oidcAuthenticator({
      issuers: [{ issuer: url, audience: 'sluice', groupsClaim: 'groups' }],
      allowInsecureLocalhost: true,
      fetchTimeoutMs: 1000,
    });
    opened.push(a);
    const key = await makeKey('k1');
    const claims = { iss: url, aud: 'sluice', sub: 'alice', iat: now(), exp: now() + 300 };
    const token = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(key.privateKey);
    await expect(a.authenticate(token)).rejects.toBeInstanceOf(OidcLookupError);
    await expect(a.authenticate(token)).rejects.toThrow(/discovery/);

    // The issuer comes up: the same authenticator now succeeds.
    const late = await startTestIssuer({ port, keys: [key] });
    try {
      expect((await a.authenticate(token))?.subject).toBe('alice');
    } finally {
      await late.close();
    }
  });

  it('a discovery error status or a mismatching issuer document throws', async () => {
    const bad = await startTestIssuer();
    try {
      const a = auth({}, bad);
      const token = await bad.sign(bad.claims());
      bad.discoveryOverride = { status: 500, body: { error: 'boom' } };
      await expect(a.authenticate(token)).rejects.toThrow(/HTTP 500/);
      bad.discoveryOverride = { status: 200, body: { issuer: 'https://elsewhere.example', jwks_uri: `${bad.url}/jwks` } };
      await expect(a.authenticate(token)).rejects.toThrow(/must match/);
      bad.discoveryOverride = { status: 200, body: { issuer: bad.url, jwks_uri: 'http://10.0.0.1/jwks' } };
      await expect(a.authenticate(token)).rejects.toThrow(/https/);
      bad.discoveryOverride = { status: 200, body: 'not json at all' };
      await expect(a.authenticate(token)).rejects.toBeInstanceOf(OidcLookupError);
      bad.discoveryOverride = null;
      expect(await a.authenticate(token)).not.toBeNull();
    } finally {
      await bad.close();
    }
  });

  it('an unavailable JWKS throws', async () => {
    const bad = await startTestIssuer();
    try {
      bad.jwksStatus = 503;
      const a = auth({}, bad);
      const token = await bad.sign(bad.claims());
      await expect(a.authenticate(token)).rejects.toBeInstanceOf(OidcLookupError);
      bad.jwksStatus = 200;
      expect(await a.authenticate(token)).not.toBeNull();
    } finally {
      await bad.close();
    }
  });

  it('a lookup failure never yields an identity even for a token that is otherwise fine', async () => {
    const port = await freePort();
    const a = oidcAuthenticator({
      issuers: [{ issuer: `http://127.0.0.1:${port}`, audience: 'sluice' }],
      allowInsecureLocalhost: true,
      fetchTimeoutMs: 500,
    });
    opened.push(a);
    const key = await makeKey('k1');
    const token = await new SignJWT({ iss: `http://127.0.0.1:${port}`, aud: 'sluice', sub: 'x', exp: now() + 60 })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .sign(key.privateKey);
    const outcome = await a.authenticate(token).then(
      (v) => ({ value: v }),
      (e: unknown) => ({ error: e }),
    );
    expect(outcome).toHaveProperty('error');
  });
});

describe('configuration', () => {
  it('requires https issuers except loopback http in test mode', () => {
    expect(() => oidcAuthenticator({ issuers: [{ issuer: 'http://idp.example.com', audience: 'a', groupsClaim: 'groups' }] })).toThrow(/https/);
    expect(() =>
      oidcAuthenticator({ issuers: [{ issuer: 'http://idp.example.com', audience: 'a', groupsClaim: 'groups' }], allowInsecureLocalhost: true }),
    ).toThrow(/https/);
    expect(() => oidcAuthenticator({ issuers: [{ issuer: 'http://127.0.0.1:1', audience: 'a', groupsClaim: 'groups' }] })).toThrow(/https/);
    expect(() => oidcAuthenticator({ issuers: [{ issuer: 'not a url', audience: 'a', groupsClaim: 'groups' }] })).toThrow(/URL/);
    expect(() => oidcAuthenticator({ issuers: [{ issuer: 'https://idp.example.com', audience: '', groupsClaim: 'groups' }] })).toThrow(/audience/);
    oidcAuthenticator({ issuers: [{ issuer: 'https://idp.example.com', audience: 'a', groupsClaim: 'groups' }] }).close();
  });

  it('with no issuers configured everything is null', async () => {
    const a = oidcAuthenticator({ issuers: [] });
    expect(await a.authenticate(await idp.sign(idp.claims()))).toBeNull();
  });

  it('after close, a token for a trusted issuer is refused with a throw', async () => {
    const a = auth();
    const token = await idp.sign(idp.claims());
    expect(await a.authenticate(token)).not.toBeNull();
    a.close();
    await expect(a.authenticate(token)).rejects.toThrow(/closed/);
  });
});
