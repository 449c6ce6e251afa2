import type { Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';
import { Duplex } from 'node:stream';
import { isLoopbackAddress } from '@sluice/core';
import {
  AuthPlugin,
  BufferWriter,
  Capability,
  Charset,
  Packet,
  PacketFramer,
  ProtocolError,
  ServerStatus,
  cleartextPassword,
  generateScramble,
  isSslRequest,
  parseHandshakeResponse,
  parseSslRequest,
  writeAuthSwitchRequest,
  writeInitialHandshake,
  type HandshakeResponse,
} from './protocol/index.js';
import { errPacket } from './errors.js';

/** What the gateway offers clients. Never CLIENT_COMPRESS; never LOCAL INFILE; no MariaDB extensions (CLIENT_MYSQL set). */
export const SERVER_CAPABILITIES =
  (Capability.LongPassword |
    Capability.FoundRows |
    Capability.LongFlag |
    Capability.ConnectWithDb |
    Capability.NoSchema |
    Capability.Odbc |
    Capability.IgnoreSpace |
    Capability.Protocol41 |
    Capability.Interactive |
    Capability.Ssl |
    Capability.IgnoreSigpipe |
    Capability.Transactions |
    Capability.SecureConnection |
    Capability.MultiStatements |
    Capability.MultiResults |
    Capability.PsMultiResults |
    Capability.PluginAuth |
    Capability.ConnectAttrs |
    Capability.PluginAuthLenencClientData |
    Capability.DeprecateEof) >>>
  0;

export const SERVER_VERSION = '8.0.0-sluice';

export interface StartupResult {
  socket: Duplex;
  tls: boolean;
  response: HandshakeResponse;
  /** Negotiated capabilities (client ∩ ours). */
  capabilities: number;
  /** The cleartext credential. */
  password: string;
  /** The connection (database) named. */
  database: string;
  framer: PacketFramer;
  /** Sequence id of the client's last packet; our OK/ERR takes the next. */
  lastSeq: number;
  /** Packets that arrived behind the credential (none in practice). */
  pending: Packet[];
}

export type StartupOutcome = { kind: 'session'; result: StartupResult } | { kind: 'closed' };

/** Sends ERR and closes. */
export function refuse(sock: Duplex, code: Parameters<typeof errPacket>[0], message: string, seq: number, sqlState?: string): void {
  try {
    sock.end(errPacket(code, message, seq, sqlState));
  } catch {
    /* gone already */
  }
  setTimeout(() => sock.destroy(), 1000).unref();
}

let connectionIds = 1;

/**
 * The connection phase with one client: Initial Handshake v10 (a fresh
 * scramble) → optional SSLRequest + TLS → HandshakeResponse41 → an
 * AuthSwitchRequest to mysql_clear_password (unless the client already used
 * it) → the cleartext credential. TLS is required from non-loopback clients.
 */
export function runStartup(raw: Socket, secure: SecureContext, deadlineMs: number, maxPayload: number): Promise<StartupOutcome> {
  return new Promise((resolve) => {
    let framer = new PacketFramer({ maxPayload });
    let sock: Duplex = raw;
    let tls = false;
    let done = false;
    let response: HandshakeResponse | null = null;
    let capabilities = 0;
    let database = '';
    /** 'response' (HandshakeResponse or SSLRequest), 'switch' (cleartext after AuthSwitch). */
    let phase: 'response' | 'switch' = 'response';
    let expectSeq = 1;
    const loopback = isLoopbackAddress(raw.remoteAddress);

    const finish = (o: StartupOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.off('data', onData);
      raw.off('close', onClose);
      sock.pause();
      resolve(o);
    };
    const fail = (code: Parameters<typeof errPacket>[0], msg: string, seq = expectSeq, state?: string) => {
      refuse(sock, code, msg, seq, state);
      finish({ kind: 'closed' });
    };
    const timer = setTimeout(() => fail('SLUICE_PROTOCOL_VIOLATION', 'Sluice: connection phase took too long; closing'), deadlineMs);
    timer.unref();
    const onClose = () => finish({ kind: 'closed' });

    const credential = (password: string, lastSeq: number, rest: Packet[]) => {
      finish({
        kind: 'session',
        result: { socket: sock, tls, response: response!, capabilities, password, database, framer, lastSeq, pending: rest },
      });
    };

    const handle = (packets: Packet[]): void => {
      for (let i = 0; i < packets.length && !done; i++) {
        const p = packets[i]!;
        if (p.seq !== expectSeq) return fail('SLUICE_PROTOCOL_VIOLATION', `packet out of order: sequence id ${p.seq}, expected ${expectSeq}`, (p.seq + 1) & 0xff);
        if (phase === 'switch') {
          return credential(cleartextPassword(p.payload), p.seq, packets.slice(i + 1));
        }
        if (!tls && isSslRequest(p.payload)) {
          parseSslRequest(p.payload);
          if (i !== 0 || p.seq !== 1) return fail('SLUICE_PROTOCOL_VIOLATION', 'SSLRequest out of place');
          sock.off('data', onData);
          // Clients may send their TLS ClientHello right behind the SSLRequest (no answer is due): hand those bytes to TLS.
          const early = Buffer.concat(received).subarray(4 + p.length);
          const t = new TLSSocket(early.length ? prepend(raw, early) : raw, { isServer: true, secureContext: secure });
          t.on('error', () => finish({ kind: 'closed' }));
          sock = t;
          tls = true;
          framer = new PacketFramer({ maxPayload: framer.maxPayload });
          expectSeq = (p.seq + 1) & 0xff;
          t.on('data', onData);
          return;
        }
        const hr = parseHandshakeResponse(p.payload);
        response = hr;
        capabilities = (hr.capabilities & SERVER_CAPABILITIES) >>> 0;
        const next = (p.seq + 1) & 0xff;
        if (hr.capabilities & Capability.Compress) return fail('SLUICE_PROTOCOL_VIOLATION', 'Sluice does not support the compressed protocol; connect without compression', next);
        if (!tls && !loopback) {
          return fail(1045, 'Access denied: Sluice requires TLS from non-local clients (connect with --ssl / ssl: {})', next, '28000');
        }
        // No database: the connection can still be chosen by a first `USE <connection>` (plugin.ts).
        database = hr.database ?? '';
        if (hr.authPluginName === AuthPlugin.ClearPassword) {
          return credential(cleartextPassword(hr.authResponse), p.seq, packets.slice(i + 1));
        }
        // Ask for the cleartext credential (the gateway must verify an API key or JWT).
        phase = 'switch';
        expectSeq = (next + 1) & 0xff;
        const w = new BufferWriter(64);
        writeAuthSwitchRequest(w, next, AuthPlugin.ClearPassword, Buffer.alloc(0), false);
        sock.write(w.take());
      }
    };
    /** Bytes before TLS, until the first packet is handled (an SSLRequest is always the first). */
    let received: Buffer[] = [];
    let receivedBytes = 0;
    const onData = (chunk: Buffer) => {
      if (done) return;
      if (!tls && phase === 'response' && response === null) {
        received.push(chunk);
        receivedBytes += chunk.length;
        // The first packet (SSLRequest or HandshakeResponse) is small.
        if (receivedBytes > 64 * 1024) return fail('SLUICE_PROTOCOL_VIOLATION', 'connection-phase packet too large');
      } else received = [];
      try {
        handle(framer.push(chunk));
      } catch (e) {
        if (e instanceof ProtocolError) fail('SLUICE_PROTOCOL_VIOLATION', `invalid packet in the connection phase: ${e.message}`);
        else fail('SLUICE_INTERNAL', 'internal error in the connection phase');
      }
    };
    raw.on('close', onClose);
    raw.on('error', () => finish({ kind: 'closed' }));
    sock.on('data', onData);

    const w = new BufferWriter(128);
    writeInitialHandshake(w, {
      serverVersion: SERVER_VERSION,
      connectionId: connectionIds++ & 0x7fffffff,
      scramble: generateScramble(20),
      capabilities: SERVER_CAPABILITIES,
      mariadbCapabilities: 0,
      charset: Charset.Utf8mb4GeneralCi,
      status: ServerStatus.Autocommit,
      authPluginName: AuthPlugin.NativePassword,
    });
    raw.write(w.take());
  });
}

/** A duplex over `raw` whose readable side starts with `head` (bytes already read from it). */
function prepend(raw: Socket, head: Buffer): Duplex {
  const d = new Duplex({
    read() {
      raw.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      raw.write(chunk, cb);
    },
    final(cb) {
      raw.end();
      cb();
    },
    destroy(err, cb) {
      raw.destroy(err ?? undefined);
      cb(err);
    },
  });
  d.push(head);
  raw.on('data', (c: Buffer) => {
    if (!d.push(c)) raw.pause();
  });
  raw.on('end', () => d.push(null));
  raw.on('close', () => d.destroy());
  return d;
}

export function secureContext(cert: string, key: string): SecureContext {
  return createSecureContext({ cert, key, minVersion: 'TLSv1.2' });
}
