/**
 * The gateway's delegation issuer: what it refuses to mint and which tokens
 * it refuses to accept.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import type { Identity } from '@sluice/core';
import { openSqliteStore } from '@sluice/store-sqlite';
import { DELEGATION_KEY_FILE, openDelegationIssuer, rotateDelegationKey } from './issuer.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const ISS = 'http://127.0.0.1:8080';
const alice: Identity = { subject: 'alice@example.com', actors: [], groups: ['agents', 'dba'], via: 'oidc', credentialId: 'jti-1' };
const canOpen = (groups: string[], c: string) => (c === 'orders' ? groups.includes('agents') : c === 'reports' ? groups.includes('dba') : false);

async function setup(o: { maxTtlMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-issuer-'));
  dirs.push(dir);
  const store = openSqliteStore({ path: join(dir, 's.db') });
  const issuer = await openDelegationIssuer({ dataDir: dir, store, issuer: ISS, maxTtlMs: o.maxTtlMs ?? 3_600_000, defaultTtlMs: 900_000 });
  return { dir, store, issuer };
}

describe('delegation issuer', () => {
  it('mints a token that verifies to the human with the agent as actor; key file is 0600', async () => {
    const { dir, issuer, store } = await setup();
    expect(statSync(join(dir, DELEGATION_KEY_FILE)).mode & 0o777).toBe(0o600);
    const { token, record } = await issuer.delegate(alice, { agent: 'billing-agent', groups: ['agents'], connections: ['orders'] }, canOpen);
    expect(decodeJwt(token)).toMatchObject({ iss: ISS, aud: 'sluice', sub: 'alice@example.com', act: { sub: 'billing-agent' }, jti: record.id });
    expect(await issuer.authenticate(token)).toMatchObject({ subject: 'alice@example.com', actors: ['billing-agent'], groups: ['agents'], connections: ['orders'], via: 'delegated', credentialId: record.id });
    // default TTL 15 m
    expect(Date.parse(record.expiresAt) - Date.parse(record.createdAt)).toBe(900_000);
    await store.close();
  });

  it('refuses to widen: groups, TTL, connections, outliving the parent', async () => {
    const { issuer, store } = await setup({ maxTtlMs: 3_600_000 });
    await expect(issuer.delegate(alice, { agent: 'a', groups: ['admins'] }, canOpen)).rejects.toThrow(/not a member of admins/);
    await expect(issuer.delegate(alice, { agent: 'a', ttlMs: 7_200_000 }, canOpen)).rejects.toThrow(/longer than the maximum 1h/);
    await expect(issuer.delegate(alice, { agent: 'a', groups: ['agents'], connections: ['reports'] }, canOpen)).rejects.toThrow(/no connection "reports"/);
    await expect(issuer.delegate(alice, { agent: 'a', connections: ['nope'] }, canOpen)).rejects.toThrow(/no connection "nope"/);
    const shortLived = { ...alice, expiresAt: new Date(Date.now() + 60_000) };
    await expect(issuer.delegate(shortLived, { agent: 'a', ttlMs: 600_000 }, canOpen)).rejects.toThrow(/cannot outlive/);
    // without --ttl: shortened to the parent's remaining life
    const { record } = await issuer.delegate(shortLived, { agent: 'a' }, canOpen);
    expect(Date.parse(record.expiresAt)).toBeLessThanOrEqual(shortLived.expiresAt.getTime());
    await expect(issuer.delegate(alice, { agent: 'bad name!' }, canOpen)).rejects.toThrow(/invalid agent name/);
    // an agent re-delegating: its chain grows, its connection limit stays
    const { token } = await issuer.delegate(alice, { agent: 'orchestrator', connections: ['orders'] }, canOpen);
    const orch = (await issuer.authenticate(token))!;
    const sub = await issuer.delegate(orch, { agent: 'worker' }, canOpen);
    expect(await issuer.authenticate(sub.token)).toMatchObject({ subject: 'alice@example.com', actors: ['worker', 'orchestrator'], connections: ['orders'] });
    await store.close();
  });

  it('refuses revoked, tampered, foreign, wrongly signed, expired and not-mine tokens', async () => {
    const { issuer, store } = await setup();
    const { token, record } = await issuer.delegate(alice, { agent: 'billing-agent' }, canOpen);
    const [h, p, sig] = token.split('.');
    const claims = decodeJwt(token);
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    // tampered payload (widened groups), same signature
    expect(await issuer.authenticate(`${h}.${b64({ ...claims, groups: ['admins'] })}.${sig}`)).toBeNull();
    // act chain removed (the agent posing as the human)
    const { act: _a, ...noAct } = claims;
    expect(await issuer.authenticate(`${h}.${b64(noAct)}.${sig}`)).toBeNull();
    // signed by another Ed25519 key with the same kid
    const other = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'EdDSA', kid: decodeProtectedHeader(token).kid! }).sign(other.privateKey);
    expect(await issuer.authenticate(forged)).toBeNull();
    // alg none
    expect(await issuer.authenticate(`${b64({ alg: 'none', kid: decodeProtectedHeader(token).kid })}.${p}.`)).toBeNull();
    // another issuer's token is not this authenticator's business
    const foreign = await new SignJWT({ ...claims, iss: 'https://idp.example.com' }).setProtectedHeader({ alg: 'EdDSA', kid: 'x' }).sign(other.privateKey);
    expect(await issuer.authenticate(foreign)).toBeNull();
    expect(await issuer.authenticate('sk_not_a_jwt')).toBeNull();
    // valid until revoked
    expect(await issuer.authenticate(token)).not.toBeNull();
    await store.revokeDelegation(record.id, new Date().toISOString());
    expect(await issuer.authenticate(token)).toBeNull();
    // expired (beyond the clock skew)
    const { token: t2 } = await issuer.delegate(alice, { agent: 'a', ttlMs: 1000 }, canOpen);
    await new Promise((r) => setTimeout(r, 1100));
    const strict = await openDelegationIssuer({ dataDir: dirs[0]!, store, issuer: ISS, maxTtlMs: 3_600_000, defaultTtlMs: 900_000, clockSkewSec: 0 });
    expect(await strict.authenticate(t2)).toBeNull();
    await store.close();
  });

  it('rotation: new key signs, old tokens verify, oldest keys retire', async () => {
    const { dir, issuer, store } = await setup();
    const { token: before } = await issuer.delegate(alice, { agent: 'a' }, canOpen);
    const { kid } = await rotateDelegationKey(dir);
    const { token: after } = await issuer.delegate(alice, { agent: 'a' }, canOpen);
    expect(decodeProtectedHeader(after).kid).toBe(kid);
    expect(await issuer.authenticate(before)).not.toBeNull();
    expect(await issuer.authenticate(after)).not.toBeNull();
    expect(issuer.jwks().keys).toHaveLength(2);
    const r1 = await rotateDelegationKey(dir);
    const r2 = await rotateDelegationKey(dir);
    expect(r1.retired).toEqual([]);
    expect(r2.retired).toEqual([decodeProtectedHeader(before).kid]);
    await store.close();
  });
});
