import { ApprovalBroker } from './approvals.js';
import { SluiceError, PUBLIC_MESSAGES } from './errors.js';
import { newId } from './ids.js';
import { verifySshKey, type Authenticator } from './keys.js';
import { createMasker } from './mask/index.js';
import type { CoreMetrics } from './metrics.js';
import { noopMetrics } from './metrics.js';
import { PolicyEngine } from './policy.js';
import { Recorder, verifyEvents, type VerifyResult } from './recorder.js';
import { CoreSession } from './session.js';
import type { SessionRecord, Store } from './store.js';
import type { ClientInfo, ConnectionConfig, GatewayContext, Identity, Logger, Masker, Policy, TlsMaterial } from './types.js';

export interface GatewayOptions {
  store: Store;
  policies: Policy[];
  connections: ConnectionConfig[];
  /** Tried in order; the first non-null identity wins. */
  authenticators: Authenticator[];
  /** Key for the `hash` masking strategy (stable across restarts). */
  hashKey: Buffer;
  tls: TlsMaterial;
  logger: Logger;
  metrics?: CoreMetrics;
  dataDir: string;
}

/**
 * The composition of core: authentication, sessions, policy, recording,
 * approvals. Implements the `GatewayContext` plugins see.
 */
export class Gateway implements GatewayContext {
  readonly recorder: Recorder;
  readonly broker: ApprovalBroker;
  readonly engine: PolicyEngine;
  readonly store: Store;
  readonly coreMetrics: CoreMetrics;
  private readonly connections = new Map<string, ConnectionConfig>();
  private readonly live = new Map<string, CoreSession>();
  private readonly maskers = new Map<string, Masker | null>();

  constructor(private readonly opts: GatewayOptions) {
    this.store = opts.store;
    this.coreMetrics = opts.metrics ?? noopMetrics;
    this.recorder = new Recorder(opts.store, this.coreMetrics);
    this.broker = new ApprovalBroker(opts.store, this.coreMetrics);
    this.engine = new PolicyEngine(opts.policies);
    for (const c of opts.connections) this.connections.set(c.name, c);
  }

  get tls(): TlsMaterial {
    return this.opts.tls;
  }
  get logger(): Logger {
    return this.opts.logger;
  }
  get dataDir(): string {
    return this.opts.dataDir;
  }
  get metrics() {
    return { bytesRelayed: this.coreMetrics.bytesRelayed.bind(this.coreMetrics) };
  }

  /** Clean up what a previous run left: open sessions are ended, pending approvals abandoned. */
  async recover(): Promise<void> {
    const at = new Date().toISOString();
    const orphans = await this.store.closeOrphanSessions(at);
    const abandoned = await this.broker.recover();
    if (orphans.length || abandoned.length) {
      this.logger.warn({ sessions: orphans.length, approvals: abandoned.length }, 'closed sessions and abandoned approvals left by a previous run');
    }
  }

  /** A verifier error refuses the credential (fail closed) and is logged without the credential. */
  async authenticate(credential: string): Promise<Identity | null> {
    for (const a of this.opts.authenticators) {
      try {
        const id = await a.authenticate(credential);
        if (id) return id;
      } catch (e) {
        this.logger.error({ err: (e as Error).message }, 'credential verification failed; refusing');
        return null;
      }
    }
    return null;
  }

  async authenticatePublicKey(key: { algo: string; data: Uint8Array }): Promise<Identity | null> {
    try {
      return await verifySshKey(this.store, key);
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, 'SSH key lookup failed; refusing');
      return null;
    }
  }

  /** Kills the live sessions opened with a credential (revoked key or token); returns how many. */
  async killSessionsOf(credentialId: string, reason: string): Promise<number> {
    const hit = this.liveSessions.filter((s) => s.identity.credentialId === credentialId);
    await Promise.all(hit.map((s) => s.kill(reason)));
    return hit.length;
  }

  /** Names of the configured connections, in config order. */
  get connectionNames(): string[] {
    return [...this.connections.keys()];
  }

  connection(name: string): ConnectionConfig | undefined {
    return this.connections.get(name);
  }

  async openSession(identity: Identity, connectionName: string, client: ClientInfo, protocol: string): Promise<CoreSession> {
    const conn = this.connections.get(connectionName);
    if (!conn || conn.type !== protocol || !PolicyEngine.canAccess(identity, conn)) {
      throw new SluiceError('SLUICE_CONNECTION_REFUSED', PUBLIC_MESSAGES.connectionRefused);
    }
    const policy = this.engine.forSession(identity, conn.name);
    const key = policy.policyNames.join('\u0000');
    let masker = this.maskers.get(key);
    if (masker === undefined) {
      masker = createMasker(policy.maskRules, { hashKey: this.opts.hashKey });
      this.maskers.set(key, masker);
    }
    const id = newId('ses_');
    const startedAt = new Date().toISOString();
    const rec: SessionRecord = {
      id,
      connection: conn.name,
      protocol,
      subject: identity.subject,
      actors: identity.actors,
      groups: identity.groups,
      via: identity.via,
      client: client.address,
      startedAt,
      endedAt: null,
      endReason: null,
    };
    const log = this.recorder.log(id);
    try {
      await this.store.createSession(rec);
      await log.append('session.start', {
        identity: {
          subject: identity.subject,
          actors: identity.actors,
          groups: identity.groups,
          via: identity.via,
          credentialId: identity.credentialId,
          ...(identity.connections ? { connections: identity.connections } : {}),
        },
        connection: conn.name,
        protocol,
        client: { address: client.address, application: client.application, tls: client.tls },
      });
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, 'cannot record session start; refusing');
      throw new SluiceError('SLUICE_RECORDING_FAILED', 'the gateway cannot record sessions right now; try again later');
    }
    const session = new CoreSession(id, identity, conn, protocol, policy, log, masker, {
      store: this.store,
      broker: this.broker,
      metrics: this.coreMetrics,
      onClosed: (s) => {
        if (this.live.delete(s.id)) this.coreMetrics.sessionClosed(protocol);
      },
    });
    this.live.set(id, session);
    this.coreMetrics.sessionOpened(protocol);
    return session;
  }

  liveSession(id: string): CoreSession | undefined {
    return this.live.get(id);
  }

  get liveSessions(): CoreSession[] {
    return [...this.live.values()];
  }

  async killSession(id: string, reason = 'killed by an administrator'): Promise<boolean> {
    const s = this.live.get(id);
    if (!s) return false;
    await s.kill(reason);
    return true;
  }

  verifyAudit(): Promise<VerifyResult> {
    return verifyEvents(this.store.iterateEvents());
  }

  /** Cancel approvals, end sessions, flush the log (the app closes listeners first). */
  async shutdown(reason = 'gateway shutting down'): Promise<void> {
    await this.broker.cancelAll(reason);
    await Promise.all(this.liveSessions.map((s) => s.kill(reason)));
    await this.recorder.flush();
  }
}
