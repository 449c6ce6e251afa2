import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Gateway, apiKeyAuthenticator, type Authenticator, createApiKey, type ConnectionConfig, type Identity, type Policy, type ProtocolPlugin, type Listener, keyIdentity, type StoredEvent } from '@sluice/core';
import { openSqliteStore, type SqliteStore } from '@sluice/store-sqlite';
import selfsigned from 'selfsigned';

let tlsCache: { cert: string; key: string } | null = null;
export async function testTls(): Promise<{ cert: string; key: string }> {
  if (!tlsCache) {
    const p = await (selfsigned as any).generate([{ name: 'commonName', value: 'localhost' }], { days: 2, keySize: 2048 });
    tlsCache = { cert: p.cert, key: p.private };
  }
  return tlsCache;
}

export interface TestGateway {
  gateway: Gateway;
  store: SqliteStore;
  dataDir: string;
  listener: Listener;
  port: number;
  /** Mint an API key; returns the secret and the identity it maps to. */
  key(name: string, groups: string[], onBehalfOf?: string): Promise<{ secret: string; identity: Identity; id: string }>;
  close(): Promise<void>;
}

/** A whole gateway in-process: temp SQLite store, self-signed TLS, one plugin on a free port. */
export async function startTestGateway(opts: { plugin: ProtocolPlugin; connections: ConnectionConfig[]; policies: Policy[]; address?: string; authenticators?: Authenticator[] }): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
  const store = openSqliteStore({ path: join(dataDir, 'sluice.db'), journal: true });
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  const gateway = new Gateway({
    store,
    policies: opts.policies,
    connections: opts.connections,
    authenticators: [apiKeyAuthenticator(store), ...(opts.authenticators ?? [])],
    hashKey: randomBytes(32),
    tls: await testTls(),
    logger: process.env.SLUICE_TEST_LOG ? { ...console, debug() {} } : logger,
    dataDir,
  });
  await gateway.recover();
  const listener = await opts.plugin.listen(gateway, opts.address ?? '127.0.0.1:0');
  return {
    gateway,
    store,
    dataDir,
    listener,
    port: listener.port,
    async key(name, groups, onBehalfOf) {
      const { record, secret } = await createApiKey(store, { name, groups, onBehalfOf });
      return { secret, identity: keyIdentity(record), id: record.id };
    },
    async close() {
      await listener.close();
      await gateway.shutdown('test over');
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The events of the newest session, once it has ended (the client closed it); fails after about a second. */
export async function lastSessionEvents(gw: TestGateway): Promise<StoredEvent[]> {
  for (let i = 0; ; i++) {
    const [s] = await gw.store.listSessions({ limit: 1 });
    if (s?.endedAt) return gw.store.getEvents(s.id);
    if (i >= 50) throw new Error(`the newest session (${s?.id ?? 'none'}) has not ended`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
