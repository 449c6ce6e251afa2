import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Gateway, apiKeyAuthenticator, createApiKey, keyIdentity, verifyApiKey, type Command } from '@sluice/core';
import { openSqliteStore } from '@sluice/store-sqlite';

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const conn = { name: 'db', type: 'postgres', target: 'postgres://x@127.0.0.1/x', access: ['agents'], secrets: {}, options: {} };
const del: Command = { protocol: 'postgres', kind: 'DELETE', text: 'DELETE FROM t', objects: ['t'], flags: ['unbounded'] };

function gateway(path: string) {
  const store = openSqliteStore({ path });
  const gw = new Gateway({
    store,
    policies: [{ name: 'bulk', approve: { sql: ['DELETE'], unbounded: true, approvers: ['dba'], timeoutMs: 60_000 } }],
    connections: [conn],
    authenticators: [apiKeyAuthenticator(store)],
    hashKey: randomBytes(32),
    tls: { cert: '', key: '' },
    logger,
    dataDir: tmpdir(),
  });
  return { store, gw };
}

describe('gateway restart', () => {
  it('marks pending approvals abandoned and ends sessions left open by a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-restart-'));
    try {
      const path = join(dir, 's.db');
      const a = gateway(path);
      const { record } = await createApiKey(a.store, { name: 'agent', groups: ['agents'] });
      const session = await a.gw.openSession(keyIdentity(record), 'db', { address: '127.0.0.1:1' }, 'postgres');
      void session.authorize(del);
      for (let i = 0; i < 100 && (await a.store.listApprovals('pending')).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const [pending] = await a.store.listApprovals('pending');
      expect(pending).toBeDefined();
      // "crash": a second gateway opens the same store without the first shutting down
      const b = gateway(path);
      await b.gw.recover();
      expect((await b.store.getApproval(pending!.id))!.status).toBe('abandoned');
      const s = await b.store.getSession(session.id);
      expect(s!.endedAt).not.toBeNull();
      // a decision after restart is refused as already final
      expect((await b.gw.broker.decide(pending!.id, { subject: 'bob', actors: [], groups: ['dba'], via: 'api-key' }, true, null)).status).toBe(409);
      await a.gw.broker.cancelAll('test');
      await a.store.close();
      await b.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses expired and revoked keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'));
    try {
      const store = openSqliteStore({ path: join(dir, 's.db') });
      const short = await createApiKey(store, { name: 'short', groups: ['agents'], ttlMs: 50 });
      expect(await verifyApiKey(store, short.secret)).not.toBeNull();
      await new Promise((r) => setTimeout(r, 80));
      expect(await verifyApiKey(store, short.secret)).toBeNull();
      const k = await createApiKey(store, { name: 'agent', groups: ['agents'], onBehalfOf: 'alice@example.com' });
      expect(await verifyApiKey(store, k.secret)).toMatchObject({ subject: 'alice@example.com', actors: ['agent'], groups: ['agents'] });
      expect(await store.revokeApiKey(k.record.id, new Date().toISOString())).toBe(true);
      expect(await verifyApiKey(store, k.secret)).toBeNull();
      expect(await verifyApiKey(store, k.secret.slice(0, -1) + 'x')).toBeNull();
      expect(JSON.stringify(await store.listApiKeys())).not.toContain(k.secret);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails closed when the store cannot append: the command is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-fail-'));
    try {
      const a = gateway(join(dir, 's.db'));
      const { record } = await createApiKey(a.store, { name: 'agent', groups: ['agents'] });
      const session = await a.gw.openSession(keyIdentity(record), 'db', { address: '127.0.0.1:1' }, 'postgres');
      await a.store.close();
      const v = await session.authorize({ protocol: 'postgres', kind: 'SELECT', text: 'SELECT 1', objects: [], flags: [] });
      expect(v).toMatchObject({ effect: 'deny', code: 'SLUICE_RECORDING_FAILED' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
