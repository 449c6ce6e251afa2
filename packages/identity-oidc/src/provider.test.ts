/**
 * Interop with a real OpenID provider (oidc-provider on 127.0.0.1): discovery,
 * its JWKS and its JWT access tokens (client_credentials + resource indicators).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { oidcAuthenticator, OidcLookupError } from './oidc.js';

let server: Server;
let issuer: string;

const RESOURCES: Record<string, string> = { 'urn:sluice': 'sluice', 'urn:other': 'other-api' };

beforeAll(async () => {
  server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'provider-rs256', alg: 'RS256', use: 'sig' };

  const provider = new Provider(issuer, {
    jwks: { keys: [signingKey] },
    ttl: { ClientCredentials: 600 },
    clients: [
      { client_id: 'svc', client_secret: 'svc-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
      { client_id: 'billing-agent', client_secret: 'agent-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
    ],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:sluice',
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          const audience = RESOURCES[resource];
          if (!audience) throw new Error(`unknown resource ${resource}`);
          return { scope: 'db', audience, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) =>
      token.clientId === 'svc' ? { groups: ['dba', 'agents'] } : { groups: 'agents' },
    formats: {
      customizers: {
        // The agent's tokens say it acts for alice (RFC 8693 `act`), as a token-exchange deployment would.
        jwt: (_ctx: unknown, token: { clientId?: string }, jwt: { payload: Record<string, unknown> }) => {
          if (token.clientId !== 'billing-agent') return;
          jwt.payload.sub = 'alice-sub';
          jwt.payload.email = 'alice@example.com';
          jwt.payload.email_verified = true;
          jwt.payload.act = { sub: 'billing-agent', act: { sub: 'orchestrator' } };
        },
      },
    },
  });
  server.on('request', provider.callback());
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

async function clientCredentials(clientId: string, secret: string, resource?: string): Promise<string> {
  const body = new URLSearchParams({ grant_type: 'client_credentials', scope: 'db' });
  if (resource) body.set('resource', resource);
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from(`${clientId}:${secret}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body,
  });
  const json = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
  if (!res.ok || !json.access_token) throw new Error(`token request failed: ${res.status} ${JSON.stringify(json)}`);
  return json.access_token;
}

function authenticator() {
  return oidcAuthenticator({
    issuers: [{ issuer, audience: 'sluice', groupsClaim: 'groups' }],
    allowInsecureLocalhost: true,
  });
}

describe('oidc-provider as the issuer', () => {
  it('a JWT access token from the provider authenticates with subject and groups', async () => {
    const token = await clientCredentials('svc', 'svc-secret', 'urn:sluice');
    expect(token.split('.')).toHaveLength(3);
    const a = authenticator();
    try {
      const id = await a.authenticate(token);
      expect(id).toMatchObject({ subject: 'svc', actors: [], groups: ['dba', 'agents'], via: 'oidc' });
      expect(id?.credentialId).toEqual(expect.any(String));
      expect(id!.expiresAt!.getTime()).toBeGreaterThan(Date.now());
    } finally {
      a.close();
    }
  });

  it('delegation claims from the provider become actors; the verified email is the subject', async () => {
    const token = await clientCredentials('billing-agent', 'agent-secret', 'urn:sluice');
    const a = authenticator();
    try {
      expect(await a.authenticate(token)).toMatchObject({
        subject: 'alice@example.com',
        actors: ['billing-agent', 'orchestrator'],
        groups: ['agents'],
      });
    } finally {
      a.close();
    }
  });

  it("a token for another resource (audience) is refused", async () => {
    const token = await clientCredentials('svc', 'svc-secret', 'urn:other');
    const a = authenticator();
    try {
      expect(await a.authenticate(token)).toBeNull();
    } finally {
      a.close();
    }
  });

  it('a tampered provider token is refused', async () => {
    const token = await clientCredentials('svc', 'svc-secret', 'urn:sluice');
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    claims.groups = ['admins'];
    const a = authenticator();
    try {
      expect(await a.authenticate(`${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`)).toBeNull();
      expect(await a.authenticate(token)).not.toBeNull();
    } finally {
      a.close();
    }
  });

  it('the provider going away: cached keys keep verifying; a fresh authenticator throws', async () => {
    const token = await clientCredentials('svc', 'svc-secret', 'urn:sluice');
    const warm = authenticator();
    expect(await warm.authenticate(token)).not.toBeNull();
    const handler = server.listeners('request')[0] as (...args: unknown[]) => void;
    server.removeAllListeners('request');
    server.on('request', (_req, res) => {
      res.writeHead(503);
      res.end();
    });
    try {
      expect(await warm.authenticate(token)).not.toBeNull();
      const cold = authenticator();
      await expect(cold.authenticate(token)).rejects.toBeInstanceOf(OidcLookupError);
      cold.close();
    } finally {
      server.removeAllListeners('request');
      server.on('request', handler);
      warm.close();
    }
  });
});
