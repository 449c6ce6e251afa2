/**
 * `sluice connect` for MySQL / MariaDB connections: the local listener plays
 * the server's side of the connection phase only, then relays bytes.
 *
 * Per client (already known to be on loopback, see connect.ts):
 *
 * 1. Dial the gateway's mysql listener and read its Initial Handshake v10.
 * 2. Greet the client with a HandshakeV10 of our own: the gateway's version,
 *    connection id, collation and status, its capabilities minus CLIENT_SSL
 *    and compression (this hop never leaves the machine), a fresh 20-byte
 *    scramble and mysql_native_password as the default plugin.
 * 3. Read the client's HandshakeResponse41 and ignore its auth data: no
 *    password is needed here, whatever plugin the client used (no auth
 *    switch is ever sent to the client). An SSLRequest is refused with an
 *    ERR (TLS was not offered, so a well-behaved client does not send one).
 * 4. To the gateway: SSLRequest + TLS with the certificate pinned to the
 *    fingerprint the admin API published (`pinnedTls`, shared with the
 *    PostgreSQL path; plaintext only when the gateway is on loopback and
 *    does not offer TLS), then a HandshakeResponse41 with exactly the
 *    client's capabilities ∩ the gateway's (plus the connection-phase-only
 *    flags CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION, CLIENT_PLUGIN_AUTH,
 *    CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, CLIENT_CONNECT_WITH_DB and
 *    CLIENT_SSL when used), the client's max packet size, collation and
 *    connect attributes, user = the logged-in subject, database = the
 *    connection, and the credential + NUL as mysql_clear_password data.
 *    An AuthSwitchRequest to mysql_clear_password is answered with the
 *    credential again; any other plugin fails the client with a clear ERR.
 * 5. The gateway's OK is forwarded with its sequence id rewritten to the one
 *    the client expects (the two hops' connection phases have different
 *    lengths), then bytes are relayed untouched: command-phase sequence ids
 *    restart with every command, and both hops negotiated the same
 *    capabilities (the client only saw flags the gateway offered, and the
 *    gateway got the client's choice), so CLIENT_DEPRECATE_EOF,
 *    CLIENT_MULTI_RESULTS etc. mean the same on both. The gateway's ERR is
 *    forwarded likewise and the connection closed.
 *
 * Failures before the gateway answered reach the client as MySQL ERR
 * packets in answer to its HandshakeResponse (an unreachable gateway still
 * gets the client a greeting, with a minimal capability set, since clients
 * do not read an ERR in place of the greeting reliably): 1045 (no credential,
 * unsupported auth plugin), 1043 (bad handshake, an SSLRequest), and
 * 1105 (ER_UNKNOWN_ERROR) for a gateway that cannot be reached, refuses
 * TLS or shows another certificate — not 2003: clients treat error numbers
 * of their own range (2000–2999) from a server as a malformed packet.
 *
 * The packet codec is @sluice/mysql's (handshake, SSLRequest,
 * HandshakeResponse41, AuthSwitchRequest, ERR writers and parsers); packets
 * are read here with connect.ts's byte Reader (the connection phase has
 * small, single packets, so no framer is needed).
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { isLoopbackAddress } from '@sluice/core';
import {
  AuthPlugin,
  BufferWriter,
  Capability,
  generateScramble,
  isSslRequest,
  parseAuthSwitchRequest,
  parseHandshakeResponse,
  parseInitialHandshake,
  writeErr,
  writeHandshakeResponse,
  writeInitialHandshake,
  writeSslRequest,
  type HandshakeResponse,
  type InitialHandshake,
} from '@sluice/mysql';
import { dialTcp, pinnedTls, pipe, Reader, type ConnectOptions } from './connect.js';

/** ER_UNKNOWN_ERROR: the gateway is unreachable or not the one published (a server-range number; see above). */
const GATEWAY_ERROR = 1105;
/** The whole connection phase (both hops) must finish within this. */
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** Largest connection-phase packet accepted from either side. */
const MAX_HANDSHAKE_PACKET = 64 * 1024;

/** Never offered to the local client: TLS (this hop stays on the machine) and compression (relayed raw, so both hops must agree: none). */
const NOT_LOCAL = (Capability.Ssl | Capability.SslVerifyServerCert | Capability.Compress | Capability.ZstdCompression) >>> 0;
/** Connection-phase-only flags always sent to the gateway (when it offers them). */
/** Offered to the client when the gateway could not be reached (only so that it answers and can be told why). */
const FALLBACK_CAPABILITIES = (Capability.LongPassword | Capability.Protocol41 | Capability.SecureConnection | Capability.PluginAuth | Capability.ConnectWithDb | Capability.Transactions) >>> 0;
const HANDSHAKE_FLAGS = (Capability.Protocol41 | Capability.SecureConnection | Capability.PluginAuth | Capability.PluginAuthLenencClientData | Capability.ConnectWithDb) >>> 0;

interface RawPacket {
  seq: number;
  payload: Buffer;
  /** Header and payload as received. */
  raw: Buffer;
}

/** One connection-phase packet (never split: they are small). */
async function readPacket(r: Reader, who: string): Promise<RawPacket> {
  const head = await r.take(4);
  const len = head.readUIntLE(0, 3);
  if (len > MAX_HANDSHAKE_PACKET) throw new Error(`${who} sent a connection-phase packet of ${len} bytes`);
  const payload = len ? await r.take(len) : Buffer.alloc(0);
  return { seq: head[3]!, payload, raw: Buffer.concat([head, payload]) };
}

/** A copy of a packet with its sequence id replaced. */
function withSeq(raw: Buffer, seq: number): Buffer {
  const b = Buffer.from(raw);
  b[3] = seq & 0xff;
  return b;
}

function errPacket(seq: number, code: number, sqlState: string, message: string): Buffer {
  const w = new BufferWriter(64 + message.length * 2);
  writeErr(w, seq, { code, sqlState, message });
  return w.take();
}

/** The credential as mysql_clear_password data: cleartext + NUL. */
function clearData(credential: string): Buffer {
  return Buffer.from(credential + '\0', 'utf8');
}

/** Serves one local client: the connection phase on both hops, then a raw relay. */
export async function serveMysql(client: Socket, o: ConnectOptions): Promise<void> {
  let upstream: Socket | TLSSocket | null = null;
  /** Sequence id of our next packet to the client; -1 while no ERR can be sent (the client is mid-packet). */
  let clientSeq = 0;
  let relaying = false;
  const fail = (code: number, sqlState: string, message: string) => {
    if (clientSeq >= 0 && !client.destroyed) client.end(errPacket(clientSeq, code, sqlState, `sluice connect: ${message}`));
    else client.destroy();
    upstream?.destroy();
  };
  const timer = setTimeout(() => {
    if (relaying) return;
    o.log(`client ${client.remotePort}: the MySQL connection phase took too long`);
    client.destroy();
    upstream?.destroy();
  }, HANDSHAKE_TIMEOUT_MS);
  timer.unref();
  try {
    // 1. The gateway's greeting. A failure is reported once the client has answered our greeting:
    //    clients do not read an ERR in place of the greeting well (the MariaDB CLI calls it an unverifiable pre-TLS error).
    let ur: Reader | null = null;
    let host = '';
    let g: InitialHandshake | null = null;
    /** An ERR for the client after its handshake response: [code, SQLSTATE, message] or the gateway's own ERR packet. */
    let early: [number, string, string] | Buffer | null = null;
    try {
      const d = await dialTcp(o.gateway);
      upstream = d.raw;
      host = d.host;
      ur = new Reader(d.raw);
      const greeting = await readPacket(ur, 'the gateway');
      if (greeting.payload[0] === 0xff) early = greeting.raw;
      else {
        g = parseInitialHandshake(greeting.payload);
        if (!(g.capabilities & Capability.Protocol41)) early = [GATEWAY_ERROR, 'HY000', 'the gateway does not speak MySQL protocol 41'];
      }
    } catch (e) {
      early = [GATEWAY_ERROR, 'HY000', `cannot reach the gateway at ${o.gateway}: ${(e as Error).message}`];
    }

    // 2. Our greeting to the client.
    const w = new BufferWriter(128);
    writeInitialHandshake(w, {
      serverVersion: g?.serverVersion ?? '8.0.0-sluice',
      connectionId: g?.connectionId ?? 0,
      scramble: generateScramble(20),
      capabilities: g ? (g.capabilities & ~NOT_LOCAL) >>> 0 : FALLBACK_CAPABILITIES,
      mariadbCapabilities: g?.mariadbCapabilities ?? 0,
      charset: g?.charset ?? 45 /* utf8mb4_general_ci */,
      status: g?.status ?? 0x0002 /* autocommit */,
      authPluginName: AuthPlugin.NativePassword,
    });
    client.write(w.take());
    clientSeq = -1;

    // 3. The client's answer (auth data ignored).
    const cr = new Reader(client);
    const answer = await readPacket(cr, 'the client');
    clientSeq = (answer.seq + 1) & 0xff;
    if (early || !g || !ur || !upstream) {
      if (Buffer.isBuffer(early)) {
        client.end(withSeq(early, clientSeq));
        upstream?.destroy();
        return;
      }
      const [code, state, message] = early ?? [GATEWAY_ERROR, 'HY000', 'no greeting from the gateway'];
      return fail(code, state, message);
    }
    if (answer.seq !== 1) return fail(1043, '08S01', `Bad handshake (packet sequence id ${answer.seq}, expected 1)`);
    if (isSslRequest(answer.payload)) {
      return fail(1043, '08S01', 'this local listener does not offer TLS (the hop to it never leaves this machine); connect without --ssl');
    }
    let hr: HandshakeResponse;
    try {
      hr = parseHandshakeResponse(answer.payload);
    } catch (e) {
      return fail(1043, '08S01', `Bad handshake: ${(e as Error).message}`);
    }
    if (hr.capabilities & (Capability.Compress | Capability.ZstdCompression)) {
      return fail(1043, '08S01', 'the compressed protocol is not supported; connect without compression');
    }
    let credential: string;
    try {
      credential = await o.credential();
    } catch (e) {
      return fail(1045, '28000', (e as Error).message);
    }

    // 4. TLS to the gateway, then our HandshakeResponse41 with the credential.
    const shared = (hr.capabilities & g.capabilities & ~NOT_LOCAL) >>> 0;
    let gwCaps = (shared | (HANDSHAKE_FLAGS & g.capabilities)) >>> 0;
    const mariadbCapabilities = (hr.mariadbCapabilities & g.mariadbCapabilities) >>> 0;
    let seq = 1;
    if (g.capabilities & Capability.Ssl) {
      gwCaps = (gwCaps | Capability.Ssl) >>> 0;
      const sw = new BufferWriter(40);
      writeSslRequest(sw, { capabilities: gwCaps, maxPacketSize: hr.maxPacketSize, charset: hr.charset, mariadbCapabilities }, seq++);
      upstream.write(sw.take());
      if (ur.detach().length) return fail(GATEWAY_ERROR, 'HY000', 'the gateway sent data before the TLS handshake');
      try {
        upstream = await pinnedTls(upstream as Socket, host, o.tlsCert);
      } catch (e) {
        return fail(GATEWAY_ERROR, 'HY000', `TLS to the gateway failed: ${(e as Error).message}`);
      }
      ur = new Reader(upstream);
    } else if (!isLoopbackAddress(host)) {
      return fail(GATEWAY_ERROR, 'HY000', 'the gateway refused TLS');
    }
    const secret = clearData(credential);
    // Without lenenc auth data a response is at most 255 bytes: a longer credential (a JWT) goes through the auth switch instead.
    const inline = (gwCaps & Capability.PluginAuthLenencClientData) !== 0 || secret.length <= 255;
    const hw = new BufferWriter(256 + secret.length);
    writeHandshakeResponse(
      hw,
      {
        capabilities: gwCaps,
        maxPacketSize: hr.maxPacketSize,
        charset: hr.charset,
        mariadbCapabilities,
        username: o.user,
        authResponse: inline ? secret : Buffer.alloc(0),
        database: o.connection,
        authPluginName: inline ? AuthPlugin.ClearPassword : AuthPlugin.NativePassword,
        attributes: gwCaps & Capability.ConnectAttrs ? (hr.attributes ?? []) : null,
      },
      seq,
    );
    upstream.write(hw.take());

    // 5. The gateway's verdict.
    for (let switches = 0; ; ) {
      const p = await readPacket(ur, 'the gateway');
      const kind = p.payload[0];
      if (kind === 0x00) {
        client.write(withSeq(p.raw, clientSeq));
        relaying = true;
        clearTimeout(timer);
        pipe(client, cr.detach(), upstream, ur.detach());
        return;
      }
      if (kind === 0xff) {
        client.end(withSeq(p.raw, clientSeq));
        upstream.destroy();
        return;
      }
      if (kind === 0xfe && switches++ < 2) {
        const sw = parseAuthSwitchRequest(p.payload);
        if (sw.pluginName !== AuthPlugin.ClearPassword) {
          return fail(1045, '28000', `the gateway asked for the auth plugin ${sw.pluginName}; only mysql_clear_password is supported`);
        }
        const aw = new BufferWriter(16 + secret.length);
        aw.packet((p.seq + 1) & 0xff, secret);
        upstream.write(aw.take());
        continue;
      }
      return fail(1045, '28000', `unexpected answer from the gateway during authentication (packet type 0x${(kind ?? 0).toString(16)})`);
    }
  } catch (e) {
    if (relaying) throw e;
    upstream?.destroy();
    if (clientSeq < 0 || client.destroyed) throw e;
    // Sent as an ERR rather than thrown (connect.ts would destroy the socket before the ERR is flushed).
    o.log(`client ${client.remotePort}: ${(e as Error).message}`);
    fail(GATEWAY_ERROR, 'HY000', `the MySQL handshake with the gateway failed: ${(e as Error).message}`);
  } finally {
    if (!relaying) clearTimeout(timer);
  }
}
