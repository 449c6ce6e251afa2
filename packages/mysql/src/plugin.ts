import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { MessageRelay, PUBLIC_MESSAGES, isSluiceError, listenTcp, type GatewayContext, type Listener, type ProtocolPlugin, type Session } from '@sluice/core';
import { loadSqlParser } from '@sluice/sql';
import { BufferWriter, Capability, Command as Com, Packet, ServerStatus, parseComQuery, writeOk } from './protocol/index.js';
import { refuse, runStartup, secureContext, type StartupResult } from './startup.js';
import { connectUpstream, parseMysqlTarget, type MysqlUpstream } from './upstream.js';
import { loadLineage } from './catalog.js';
import { MySessionRelay } from './session-relay.js';
import { errPacket } from './errors.js';

export interface MysqlPluginOptions {
  /** A client must finish the connection phase within this (default 10 s). */
  startupTimeoutMs?: number;
  /** Largest logical client packet accepted (default 64 MiB). */
  maxPacketSize?: number;
  /** Connect timeout to the target (default 10 s). */
  upstreamTimeoutMs?: number;
}

/**
 * The MySQL / MariaDB protocol plugin. The database name selects the
 * connection; the password carries the Sluice credential, obtained in
 * cleartext through an auth switch to mysql_clear_password (TLS required
 * unless the client is on loopback). Clients:
 *
 *   MariaDB CLI   mysql -h gw -P 13306 -u alice --password=sk_… --ssl orders
 *                 (cleartext is allowed by default; --enable-cleartext-plugin is accepted but obsolete)
 *   Oracle MySQL  mysql … --enable-cleartext-plugin --ssl-mode=REQUIRED orders
 *   mysql2        { database: 'orders', password, ssl: {…},
 *                   authPlugins: { mysql_clear_password: () => () => Buffer.from(password + '\0') } }
 *
 * Upstream: one connection per session, as the connection's own account
 * (mysql_native_password or caching_sha2_password; TLS per `?ssl=`).
 */
export function mysqlPlugin(opts: MysqlPluginOptions = {}): ProtocolPlugin {
  const startupTimeoutMs = opts.startupTimeoutMs ?? 10_000;
  const maxPacketSize = opts.maxPacketSize ?? 64 * 1024 * 1024;
  return {
    name: 'mysql',
    async listen(ctx: GatewayContext, address: string): Promise<Listener> {
      await loadSqlParser();
      const secure = secureContext(ctx.tls.cert, ctx.tls.key);
      return listenTcp(address, ctx.logger, 'mysql', async (raw, started) => {
        const outcome = await runStartup(raw, secure, startupTimeoutMs, maxPacketSize);
        started();
        if (outcome.kind !== 'session') return;
        await startSession(ctx, raw, outcome.result, opts.upstreamTimeoutMs ?? 10_000);
      });
    },
  };
}

async function startSession(ctx: GatewayContext, raw: Socket, st: StartupResult, upstreamTimeoutMs: number): Promise<void> {
  const sock = st.socket;
  const seq = (st.lastSeq + 1) & 0xff;
  const user = st.response.username;
  const host = raw.remoteAddress ?? '';
  const identity = await ctx.authenticate(st.password);
  if (!identity) return refuse(sock, 'SLUICE_AUTH_FAILED', `Access denied for user '${user}'@'${host}' (using password: ${st.password ? 'YES' : 'NO'})`, seq);

  // Clients that connect without a database (mysqlslap, `mysql` then `USE c`) choose the connection with their first USE.
  let connectionName = st.database;
  let replySeq = seq;
  if (!connectionName) {
    const picked = await chooseConnection(sock, st, seq);
    if (picked === null) return;
    connectionName = picked;
    replySeq = 1;
  }

  let session: Session;
  try {
    session = await ctx.openSession(identity, connectionName, { address: `${raw.remoteAddress}:${raw.remotePort}`, application: st.response.attributes?.find(([k]) => k === 'program_name')?.[1], tls: st.tls }, 'mysql');
  } catch (e) {
    const why = isSluiceError(e) && e.code !== 'SLUICE_CONNECTION_REFUSED' ? e.message : PUBLIC_MESSAGES.connectionRefused;
    return refuse(sock, isSluiceError(e) ? e.code : 'SLUICE_CONNECTION_REFUSED', `Access denied for user '${user}'@'${host}' to database '${connectionName}': ${why}`, replySeq);
  }

  let upstream: MysqlUpstream;
  let database: string;
  try {
    const target = parseMysqlTarget(session.connection.target, session.connection.options.caFile as string | undefined);
    database = target.database;
    upstream = await connectUpstream(target, session.connection.secrets.password, st.capabilities, st.response.charset, upstreamTimeoutMs);
    if ((upstream.capabilities & Capability.DeprecateEof) !== (st.capabilities & Capability.DeprecateEof)) {
      upstream.socket.destroy();
      throw new Error('the target and the client disagree on CLIENT_DEPRECATE_EOF');
    }
  } catch (e) {
    ctx.logger.warn({ connection: session.connection.name, err: (e as Error).message }, 'mysql: target unavailable');
    refuse(sock, 'SLUICE_UPSTREAM_UNAVAILABLE', `Sluice could not connect to "${session.connection.name}": ${(e as Error).message}`, replySeq);
    await session.close('target unavailable');
    return;
  }

  let lineage;
  try {
    lineage = await loadLineage(upstream, session.masker?.columnNames ?? new Set(), upstreamTimeoutMs);
  } catch (e) {
    // Without the catalog, column rules cannot be applied safely: refuse.
    upstream.socket.destroy();
    refuse(sock, 'SLUICE_INTERNAL', `Sluice could not prepare masking for "${session.connection.name}"; refusing`, replySeq);
    await session.close(`masking set-up failed: ${(e as Error).message}`);
    return;
  }
  if (lineage) session.useColumnLineage?.(lineage);

  const w = new BufferWriter(64);
  writeOk(w, replySeq, { status: upstream.status }, st.capabilities);
  sock.write(w.take());

  const abort = new AbortController();
  const handlers = new MySessionRelay(
    session,
    st.capabilities,
    database,
    upstream.handshake.serverVersion,
    upstream.status,
    abort.signal,
    (reason) => {
      abort.abort();
      void session.close(reason);
    },
    lineage,
  );
  // The client framer carried over from the connection phase (it may hold the start of the first command).
  const clientFramer = st.framer;
  const relay = new MessageRelay<Packet, Packet>(sock, upstream.socket, clientFramer, upstream.framer, {
    client: (m, out) => handlers.client(m, out),
    server: (m, out) => handlers.server(m, out),
    protocolError: (err, side, out) => {
      if (side === 'client') out.toClient(errPacket('SLUICE_PROTOCOL_VIOLATION', `Sluice: malformed packet: ${err.message}`, 1));
      else out.toClient(errPacket('SLUICE_PROTOCOL_VIOLATION', `Sluice closed the connection: ${err.message}`, 1));
    },
    closed: (reason) => handlers.closed(reason),
  }, { onBytes: (dir, n) => ctx.metrics.bytesRelayed(dir, n, 'mysql') });
  session.onKill((reason) => {
    relay.out.toClient(errPacket('SLUICE_SESSION_KILLED', `Connection was killed: ${reason}`, 1));
    relay.close(reason);
  });
  relay.start(st.pending, upstream.leftover);
  sock.resume();
  upstream.socket.resume();
}

const NO_CONNECTION =
  'No connection selected: Sluice chooses the connection by the database name; name it as the database (mysql -h HOST -P PORT -u USER -p CONNECTION) or start with USE CONNECTION';
const USE_RE = /^\s*use\s+`?([^`\s;]+)`?\s*;?\s*$/i;

/**
 * The client authenticated without naming a database: say OK and wait for a
 * first `USE <connection>` (COM_INIT_DB or the statement), answering PING
 * and refusing anything else with 1046. Resolves the name, or null when the
 * client left (or stayed silent for a minute).
 */
function chooseConnection(sock: Duplex, st: StartupResult, seq: number): Promise<string | null> {
  const ok = () => {
    const w = new BufferWriter(32);
    writeOk(w, 1, { status: ServerStatus.Autocommit }, st.capabilities);
    return w.take();
  };
  const w = new BufferWriter(32);
  writeOk(w, seq, { status: ServerStatus.Autocommit }, st.capabilities);
  sock.write(w.take());
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: string | null, rest: Packet[] = []) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.pause();
      st.pending = rest;
      resolve(v);
    };
    const timer = setTimeout(() => {
      refuse(sock, 1046, NO_CONNECTION, 1, '3D000');
      finish(null);
    }, 60_000);
    timer.unref();
    const onClose = () => finish(null);
    const handle = (packets: Packet[]) => {
      for (let i = 0; i < packets.length && !done; i++) {
        const p = packets[i]!;
        const cmd = p.payload[0];
        let name: string | null = null;
        if (cmd === Com.InitDb) name = p.payload.subarray(1).toString('utf8');
        else if (cmd === Com.Query) name = USE_RE.exec(parseComQuery(p.payload, st.capabilities).sql)?.[1] ?? null;
        else if (cmd === Com.Ping) {
          sock.write(ok());
          continue;
        } else if (cmd === Com.Quit) {
          sock.end();
          return finish(null);
        }
        if (name) return finish(name, packets.slice(i + 1));
        sock.write(errPacket(1046, NO_CONNECTION, 1, '3D000'));
      }
    };
    const onData = (chunk: Buffer) => {
      try {
        handle(st.framer.push(chunk));
      } catch {
        refuse(sock, 'SLUICE_PROTOCOL_VIOLATION', 'Sluice: malformed packet', 1);
        finish(null);
      }
    };
    sock.on('close', onClose);
    sock.on('data', onData);
    if (st.pending.length) handle(st.pending.splice(0));
    if (!done) sock.resume();
  });
}
