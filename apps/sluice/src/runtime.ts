import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import selfsigned from 'selfsigned';
import { Gateway, apiKeyAuthenticator, createMasker, type Listener, type Logger, type ProtocolPlugin, type TlsMaterial } from '@sluice/core';
import { loadSqlParser } from '@sluice/sql';
import { oidcAuthenticator, openDelegationIssuer, type DelegationIssuer } from '@sluice/identity-oidc';
import { postgresPlugin } from '@sluice/postgres';
import { mysqlPlugin } from '@sluice/mysql';
import { sshPlugin } from '@sluice/ssh';
import type { GatewayConfig } from './config/index.js';
import { createMetrics } from './metrics.js';
import { startAdmin, type AdminServer } from './admin.js';
import { ensureDataDir, openStore } from './store.js';

/** The plugin list: adding a protocol adds one line here. */
export const plugins: ProtocolPlugin[] = [postgresPlugin(), mysqlPlugin(), sshPlugin()];

export { ensureDataDir, openStore } from './store.js';

/** A secret file in dataDir, created once with mode 0600. */
function secretFile(path: string, make: () => Buffer): Buffer {
  if (existsSync(path)) return readFileSync(path);
  const v = make();
  writeFileSync(path, v, { mode: 0o600 });
  chmodSync(path, 0o600);
  return v;
}

/** Client-facing TLS: configured files, or a self-signed certificate generated into dataDir once. */
export async function loadTls(config: GatewayConfig): Promise<TlsMaterial> {
  if (config.tls) return { cert: readFileSync(config.tls.cert, 'utf8'), key: readFileSync(config.tls.key, 'utf8') };
  const certPath = join(config.dataDir, 'tls.crt');
  const keyPath = join(config.dataDir, 'tls.key');
  if (existsSync(certPath) && existsSync(keyPath)) return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'sluice' }], {
    days: 825,
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  } as never);
  writeFileSync(keyPath, pems.private, { mode: 0o600 });
  writeFileSync(certPath, pems.cert);
  return { cert: pems.cert, key: pems.private };
}

export interface Running {
  gateway: Gateway;
  admin: AdminServer;
  /** protocol → bound 'host:port'. */
  listeners: Record<string, { address: string; port: number }>;
  /** Stops accepting, waits up to `drainMs` for sessions to end, then ends the rest. */
  stop(reason?: string, drainMs?: number): Promise<void>;
}

/** Starts the whole gateway from a loaded config. */
export async function startGateway(config: GatewayConfig, logger: Logger): Promise<Running> {
  for (const proto of Object.keys(config.listeners)) {
    if (!plugins.some((p) => p.name === proto)) throw new Error(`listeners.${proto}: this build of Sluice has no ${proto} plugin yet (supported: ${plugins.map((p) => p.name).join(', ')})`);
  }
  ensureDataDir(config.dataDir);
  await loadSqlParser();
  const store = openStore(config, { journal: true });
  const hashKey = secretFile(join(config.dataDir, 'mask-hash.key'), () => randomBytes(32));
  // A mask rule the masker cannot use would refuse every session later: refuse to start now, naming it.
  for (const p of config.policies) {
    if (!p.mask) continue;
    try {
      createMasker([p.mask], { hashKey });
    } catch (e) {
      throw new Error(`policies "${p.name}": mask: ${(e as Error).message}`);
    }
  }
  const tls = await loadTls(config);
  const { registry, core } = createMetrics();
  // The gateway's own issuer exists once the admin URL (its default issuer id) is known.
  let delegation: DelegationIssuer | null = null;
  const gateway = new Gateway({
    store,
    policies: config.policies,
    connections: config.connections,
    // API keys first (no network); OIDC tokens from the configured issuers.
    authenticators: [
      apiKeyAuthenticator(store),
      ...(config.identity.oidc.length ? [oidcAuthenticator({ issuers: config.identity.oidc, allowInsecureLocalhost: true })] : []),
      { authenticate: (c: string) => (delegation ? delegation.authenticate(c) : Promise.resolve(null)) },
    ],
    hashKey,
    tls,
    logger,
    metrics: core,
    dataDir: config.dataDir,
  });
  await gateway.recover();
  const listeners: Running['listeners'] = {};
  const stopList: Listener[] = [];
  let admin: AdminServer | undefined;
  try {
    for (const p of plugins) {
      const addr = config.listeners[p.name];
      if (!addr) continue;
      const l = await p.listen(gateway, addr);
      listeners[p.name] = { address: l.address, port: l.port };
      stopList.push(l);
    }
    admin = await startAdmin({
      gateway,
      registry,
      adminGroups: config.admin.groups,
      listen: config.admin.listen,
      login: config.identity.oidc,
      listeners,
      delegation: async (adminUrl) =>
        (delegation = await openDelegationIssuer({
          dataDir: config.dataDir,
          store,
          issuer: config.identity.delegation.issuer ?? adminUrl,
          maxTtlMs: config.identity.delegation.maxTtlMs,
          defaultTtlMs: config.identity.delegation.defaultTtlMs,
        })),
    });
  } catch (e) {
    await Promise.all(stopList.splice(0).map((l) => l.close()));
    await store.close();
    throw e;
  }
  const a = admin;
  let stopped: Promise<void> | null = null;
  return {
    gateway,
    admin: a,
    listeners,
    stop(reason = 'gateway shutting down', drainMs = 10_000) {
      stopped ??= (async () => {
        // Drain: stop accepting, let open sessions finish for a while, then end the rest.
        await Promise.all(stopList.splice(0).map((l) => l.close().catch(() => undefined)));
        const until = Date.now() + drainMs;
        while (gateway.liveSessions.length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
        await gateway.shutdown(reason);
        await a.close();
        await store.close();
      })();
      return stopped;
    },
  };
}
