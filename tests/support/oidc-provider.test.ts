/**
 * The device-flow provider harness, driven by a real OAuth client
 * (openid-client) and checked against Sluice's own OIDC authenticator.
 *
 * openid-client (like jose and oidc-provider) is a dependency of
 * packages/identity-oidc only, so a bare import does not resolve from tests/;
 * it is imported from that package's node_modules by path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowInsecureRequests,
  discovery,
  initiateDeviceAuthorization,
  None,
  pollDeviceAuthorizationGrant,
  refreshTokenGrant,
  type Configuration,
} from 'openid-client';
import { oidcAuthenticator } from '../../packages/identity-oidc/src/oidc.js';
import { startDeviceProvider, type DeviceProvider } from '../../packages/identity-oidc/src/device-provider.js';

/** The payload of a JWT, unverified (what jose's decodeJwt does; jose does not resolve from tests/ either). */
function decodeJwt(jwt: string): Record<string, unknown> & { iat?: number; exp?: number; sub?: string } {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
}

const SCOPE = 'openid email profile groups offline_access';
const TTL = 2;

describe('device-flow OpenID provider harness', () => {
  let op: DeviceProvider;
  let config: Configuration;
  let auth: ReturnType<typeof oidcAuthenticator>;

  beforeAll(async () => {
    op = await startDeviceProvider({
      accounts: [
        { id: 'alice', email: 'alice@example.com', groups: ['engineers', 'dba'] },
        { id: 'bob', email: 'bob@example.com', groups: [] },
      ],
      accessTokenTtlSec: TTL,
      idTokenTtlSec: TTL,
    });
    config = await discovery(new URL(op.issuer), op.clientId, undefined, None(), { execute: [allowInsecureRequests] });
    auth = oidcAuthenticator({
      issuers: [{ issuer: op.issuer, audience: op.clientId, groupsClaim: 'groups' }],
      allowInsecureLocalhost: true,
      clockSkewSec: 0,
    });
  });

  afterAll(async () => {
    auth?.close();
    await op?.close();
  });

  it('approve(): tokens with the account claims, accepted by Sluice; refresh after expiry gives a new ID token', async () => {
    expect(op.clientId).toBe('sluice');
    expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const started = Date.now();
    const device = await initiateDeviceAuthorization(config, { scope: SCOPE });
    expect(device.verification_uri_complete).toContain(device.user_code);
    expect(device.interval).toBe(1);
    const [tokens] = await Promise.all([pollDeviceAuthorizationGrant(config, device), op.approve(device.verification_uri_complete!, 'alice')]);
    expect(Date.now() - started).toBeLessThan(4000);

    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.expires_in).toBeLessThanOrEqual(TTL);
    expect(tokens.scope?.split(' ').sort()).toEqual(SCOPE.split(' ').sort());
    const claims = decodeJwt(tokens.id_token!);
    expect(claims).toMatchObject({
      iss: op.issuer,
      aud: 'sluice',
      sub: 'alice',
      email: 'alice@example.com',
      email_verified: true,
      groups: ['engineers', 'dba'],
    });
    expect(claims.exp! - claims.iat!).toBe(TTL);
    expect(tokens.claims()).toMatchObject({ sub: 'alice', email: 'alice@example.com' });

    expect(await auth.authenticate(tokens.id_token!)).toMatchObject({ subject: 'alice@example.com', groups: ['engineers', 'dba'], actors: [], via: 'oidc' });

    // Let the ID token expire: Sluice refuses it; a refresh gets a fresh one.
    await new Promise((r) => setTimeout(r, (TTL + 1.1) * 1000));
    expect(await auth.authenticate(tokens.id_token!)).toBeNull();

    const refreshed = await refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.id_token).toBeTruthy();
    expect(refreshed.id_token).not.toBe(tokens.id_token);
    const again = decodeJwt(refreshed.id_token!);
    expect(again).toMatchObject({ aud: 'sluice', sub: 'alice', email: 'alice@example.com', email_verified: true, groups: ['engineers', 'dba'] });
    expect(again.iat!).toBeGreaterThan(claims.iat!);
    expect(refreshed.refresh_token).toBeTruthy(); // public client: rotated
    expect(await auth.authenticate(refreshed.id_token!)).toMatchObject({ subject: 'alice@example.com', groups: ['engineers', 'dba'] });
  }, 20_000);

  it('approve() logs in the account it names', async () => {
    const device = await initiateDeviceAuthorization(config, { scope: SCOPE });
    const [tokens] = await Promise.all([pollDeviceAuthorizationGrant(config, device), op.approve(device.verification_uri_complete!, 'bob')]);
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ sub: 'bob', email: 'bob@example.com', email_verified: true, groups: [] });
    expect(await auth.authenticate(tokens.id_token!)).toMatchObject({ subject: 'bob@example.com', groups: [] });
  });

  it('deny(): polling rejects with access_denied', async () => {
    const device = await initiateDeviceAuthorization(config, { scope: SCOPE });
    const [polled] = await Promise.all([
      pollDeviceAuthorizationGrant(config, device).then(
        () => undefined,
        (e: unknown) => e,
      ),
      op.deny(device.verification_uri_complete!),
    ]);
    expect(polled).toMatchObject({ error: 'access_denied' });
  });

  it('approve() fails clearly on an unknown account, a wrong code, or a code already used', async () => {
    const device = await initiateDeviceAuthorization(config, { scope: SCOPE });
    await expect(op.approve(device.verification_uri_complete!, 'mallory')).rejects.toThrow(/unknown account "mallory"/);

    const wrong = new URL(device.verification_uri_complete!);
    wrong.searchParams.set('user_code', 'BCDF-GHJK');
    await expect(op.approve(wrong.href, 'alice')).rejects.toThrow(/NotFoundError: the code was not found/);

    const [tokens] = await Promise.all([pollDeviceAuthorizationGrant(config, device), op.approve(device.verification_uri_complete!, 'alice')]);
    expect(decodeJwt(tokens.id_token!).sub).toBe('alice');
    await expect(op.approve(device.verification_uri_complete!, 'alice')).rejects.toThrow(/AlreadyUsedError/);
  });
});
