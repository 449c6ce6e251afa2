import type { Socket } from 'node:net';
import { randomBytes, randomInt } from 'node:crypto';
import { MessageRelay, isSluiceError, listenTcp, PUBLIC_MESSAGES, type GatewayContext, type Listener, type ProtocolPlugin, type Session } from '@sluice/core';
import { loadSqlParser } from '@sluice/sql';
import { BackendFramer, BackendWriter, FrontendFramer, type FramedMessage, type CancelRequestPacket } from './protocol/index.js';
import { runStartup, secureContext, fatal, type StartupResult } from './startup.js';
import { connectUpstream, cancelUpstream, parseTarget, type TargetSettings, type Upstream } from './upstream.js';
import { loadColumnOrigins } from './catalog.js';
import { PgSessionRelay, unsafeEncoding } from './session-relay.js';
import { errorMessage } from './errors.js';

export interface PostgresPluginOptions {
  /** A client must finish start-up (TLS, startup, password) within this (default 10 s). */
  startupTimeoutMs?: number;
  /** Largest client message accepted (default 64 MiB); larger ones are refused as a protocol violation. */
  maxMessageLength?: number;
  /** Connect timeout to the target (default 10 s). */
  upstreamTimeoutMs?: number;
}

interface CancelEntry {
  target: TargetSettings;
  processId: number;
  secretKey: Buffer;
}

/**
 * The PostgreSQL protocol plugin. Clients connect with any PostgreSQL client;
 * the database name selects the connection and the password carries the
 * Sluice credential.
 */
export function postgresPlugin(opts: PostgresPluginOptions = {}): ProtocolPlugin {
  const startupTimeoutMs = opts.startupTimeoutMs ?? 10_000;
  const maxMessageLength = opts.maxMessageLength ?? 64 * 1024 * 1024;
  return {
    name: 'postgres',
    async listen(ctx: GatewayContext, address: string): Promise<Listener> {
      await loadSqlParser();
      const secure = secureContext(ctx.tls.cert, ctx.tls.key);
      /** Our cancel keys → the target's, so a client never sees the target's key. */
      const cancels = new Map<string, CancelEntry>();
      /** `host:port:upstream PID` → the PID that session's client was given (for NotificationResponse). */
      const pids = new Map<string, number>();
      const onCancel = (p: CancelRequestPacket) => {
        const e = cancels.get(`${p.processId}:${p.secretKey.toString('hex')}`);
        if (e) cancelUpstream(e.target, e.processId, e.secretKey);
      };

      return listenTcp(address, ctx.logger, 'postgres', async (raw, started) => {
        const outcome = await runStartup(raw, secure, startupTimeoutMs, maxMessageLength);
        started();
        if (outcome.kind === 'cancel') return onCancel(outcome.packet);
        if (outcome.kind !== 'session') return;
        await startSession(ctx, raw, outcome.result, cancels, pids, opts.upstreamTimeoutMs ?? 10_000);
      });
    },
  };
}

async function startSession(
  ctx: GatewayContext,
  raw: Socket,
  st: StartupResult,
  cancels: Map<string, CancelEntry>,
  pids: Map<string, number>,
  upstreamTimeoutMs: number,
): Promise<void> {
  const sock = st.socket;
  const user = st.startup.params.get('user') ?? '';
  const database = st.startup.params.get('database') ?? user;
  if (unsafeEncoding(st.startup.params.get('client_encoding'))) {
    return fatal(sock, 'SLUICE_PROTOCOL_VIOLATION', `client_encoding ${st.startup.params.get('client_encoding')} is not supported through Sluice; use UTF8`);
  }
  const identity = await ctx.authenticate(st.password);
  if (!identity) return fatal(sock, 'SLUICE_AUTH_FAILED', `password authentication failed for user "${user}"`);

  let session: Session;
  try {
    session = await ctx.openSession(identity, database, {
      address: `${raw.remoteAddress}:${raw.remotePort}`,
      application: st.startup.params.get('application_name'),
      tls: st.tls,
    }, 'postgres');
  } catch (e) {
    if (isSluiceError(e)) return fatal(sock, e.code, e.message);
    return fatal(sock, 'SLUICE_CONNECTION_REFUSED', PUBLIC_MESSAGES.connectionRefused);
  }

  let upstream: Upstream;
  let target: TargetSettings;
  try {
    target = parseTarget(session.connection.target, session.connection.options.caFile as string | undefined);
    const passOn = new Map<string, string>();
    for (const [k, v] of st.startup.params) if (k !== 'user' && k !== 'database' && k !== 'options') passOn.set(k, v);
    upstream = await connectUpstream(target, session.connection.secrets.password, passOn, upstreamTimeoutMs);
  } catch (e) {
    ctx.logger.warn({ connection: session.connection.name, err: (e as Error).message }, 'postgres: target unavailable');
    fatal(sock, 'SLUICE_UPSTREAM_UNAVAILABLE', `Sluice could not connect to "${session.connection.name}": ${(e as Error).message}`);
    await session.close('target unavailable');
    return;
  }

  let origins;
  try {
    origins = await loadColumnOrigins(upstream, session.masker?.columnNames ?? new Set());
    // Tables' rule columns, what views and functions carry: the policy's check of copied columns reads them too.
    if (origins.lineage.names.size > 0) session.useColumnLineage?.(origins.lineage);
  } catch (e) {
    // Without column origins, column rules cannot be applied safely: refuse.
    upstream.socket.destroy();
    fatal(sock, 'SLUICE_INTERNAL', `Sluice could not prepare masking for "${session.connection.name}"; refusing`);
    await session.close(`masking set-up failed: ${(e as Error).message}`);
    return;
  }

  // Our own cancel key, mapped to the target's.
  const v32 = st.startup.minor >= 2;
  const processId = randomInt(1, 0x7fffffff);
  const secretKey = randomBytes(v32 ? 32 : 4);
  const cancelKey = `${processId}:${secretKey.toString('hex')}`;
  cancels.set(cancelKey, { target, processId: upstream.processId, secretKey: upstream.secretKey });
  const targetKey = `${target.host}:${target.port}`;
  const pidKey = `${targetKey}:${upstream.processId}`;
  pids.set(pidKey, processId);

  const w = new BackendWriter();
  w.authenticationOk();
  for (const [k, v] of upstream.params) w.parameterStatus(k, v);
  w.backendKeyData(processId, v32 ? secretKey : secretKey.readInt32BE(0));
  w.readyForQuery(upstream.txStatus);
  sock.write(w.take());

  const scs = (upstream.params.get('standard_conforming_strings') ?? 'on') === 'on';
  const abort = new AbortController();
  const handlers = new PgSessionRelay(
    session,
    origins,
    upstream.txStatus,
    scs,
    abort.signal,
    (reason) => {
      abort.abort();
      cancels.delete(cancelKey);
      if (pids.get(pidKey) === processId) pids.delete(pidKey);
      void session.close(reason);
    },
    // A notification names the sending backend: ours, another Sluice session's (as its client knows it), or a PID of the target's own.
    (pid) => pids.get(`${targetKey}:${pid}`) ?? pid,
  );
  const relay = new MessageRelay<FramedMessage, FramedMessage>(sock, upstream.socket, st.framer as unknown as FrontendFramer & { push(c: Buffer): FramedMessage[] }, upstream.framer as BackendFramer, {
    client: (m, out) => handlers.client(m, out),
    server: (m, out) => handlers.server(m, out),
    protocolError: (err, side, out) => {
      if (side === 'client') out.toClient(errorMessage('SLUICE_PROTOCOL_VIOLATION', `invalid message: ${err.message}`, 'FATAL'));
      else out.toClient(errorMessage('SLUICE_PROTOCOL_VIOLATION', `Sluice closed the connection: ${err.message}`, 'FATAL'));
    },
    closed: (reason) => handlers.closed(reason),
  }, { onBytes: (dir, n) => ctx.metrics.bytesRelayed(dir, n, 'postgres') });
  session.onKill((reason) => {
    relay.out.toClient(errorMessage('SLUICE_SESSION_KILLED', `terminating connection: ${reason}`, 'FATAL'));
    relay.close(reason);
  });
  relay.start(st.pending, upstream.leftover);
  sock.resume();
  upstream.socket.resume();
}
