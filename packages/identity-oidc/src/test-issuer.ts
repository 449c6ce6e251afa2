/**
 * Test helper (not exported from the package): a tiny OIDC issuer on loopback
 * that serves a discovery document and a JWKS whose keys the test controls,
 * and signs whatever tokens a test needs, including invalid ones.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeKey(kid: string, alg = 'RS256', opts: { publishAlg?: boolean; publishKid?: boolean } = {}): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), use: 'sig' };
  if (opts.publishKid !== false) publicJwk.kid = kid;
  if (opts.publishAlg !== false) publicJwk.alg = alg;
  return { kid, alg, privateKey, publicKey, publicJwk };
}

export interface TestIssuer {
  url: string;
  port: number;
  /** Keys published in the JWKS (change freely: rotation). */
  published: TestKey[];
  /** Requests served, by kind. */
  hits: { discovery: number; jwks: number };
  /** Replace the discovery response (status, body) — null restores the default. */
  discoveryOverride: { status: number; body: unknown } | null;
  jwksStatus: number;
  sign(claims: JWTPayload, opts?: { key?: TestKey; kid?: string | null; alg?: string }): Promise<string>;
  /** Standard valid claims for this issuer, merged with `extra`. */
  claims(extra?: JWTPayload): JWTPayload;
  close(): Promise<void>;
}

export async function startTestIssuer(opts: { port?: number; keys?: TestKey[]; audience?: string } = {}): Promise<TestIssuer> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const issuer: TestIssuer = {
    url,
    port,
    published: opts.keys ?? [await makeKey('k1')],
    hits: { discovery: 0, jwks: 0 },
    discoveryOverride: null,
    jwksStatus: 200,
    async sign(claims, o = {}) {
      const key = o.key ?? issuer.published[0];
      const header: { alg: string; kid?: string } = { alg: o.alg ?? key.alg };
      const kid = o.kid === undefined ? key.kid : o.kid;
      if (kid !== null) header.kid = kid;
      return new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey);
    },
    claims(extra = {}) {
      const now = Math.floor(Date.now() / 1000);
      return { iss: url, aud: opts.audience ?? 'sluice', sub: 'user-123', iat: now, exp: now + 300, ...extra };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('request', (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/openid-configuration') {
      issuer.hits.discovery++;
      if (issuer.discoveryOverride) return send(issuer.discoveryOverride.status, issuer.discoveryOverride.body);
      return send(200, { issuer: url, jwks_uri: `${url}/jwks`, id_token_signing_alg_values_supported: ['RS256'] });
    }
    if (req.url === '/jwks') {
      issuer.hits.jwks++;
      return send(issuer.jwksStatus, { keys: issuer.published.map((k) => k.publicJwk) });
    }
    send(404, { error: 'not found' });
  });
  return issuer;
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
