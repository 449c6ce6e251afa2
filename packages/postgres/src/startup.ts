import type { Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';
import {
  FrontendCode,
  FrontendFramer,
  BackendWriter,
  isStartupPacket,
  parsePasswordMessage,
  ProtocolError,
  type CancelRequestPacket,
  type FrontendItem,
  type StartupMessagePacket,
  type FramedMessage,
} from './protocol/index.js';
import { errorMessage } from './errors.js';
import { isLoopbackAddress } from '@sluice/core';

export interface StartupResult {
  socket: Duplex;
  tls: boolean;
  startup: StartupMessagePacket;
  password: string;
  framer: FrontendFramer;
  /** Regular messages that arrived right behind the password (rare). */
  pending: FramedMessage[];
}

export type StartupOutcome = { kind: 'session'; result: StartupResult } | { kind: 'cancel'; packet: CancelRequestPacket } | { kind: 'closed' };


/** Sends a FATAL error and closes: the client is told why, in its own terms. */
export function fatal(sock: Duplex, code: Parameters<typeof errorMessage>[0], message: string): void {
  try {
    sock.end(errorMessage(code, message, 'FATAL'));
  } catch {
    /* gone already */
  }
  setTimeout(() => sock.destroy(), 1000).unref();
}

/**
 * The start-up phase of one client connection: SSLRequest → TLS,
 * GSSENCRequest → 'N', CancelRequest, StartupMessage, then a cleartext
 * password (only over TLS, or from loopback). A client that does not finish
 * within `deadlineMs` is dropped; a malformed packet is refused with 08P01.
 */
export function runStartup(raw: Socket, secure: SecureContext, deadlineMs: number, maxMessageLength: number): Promise<StartupOutcome> {
  return new Promise((resolve) => {
    const framer = new FrontendFramer({ maxMessageLength });
    let sock: Duplex = raw;
    let tls = false;
    let startup: StartupMessagePacket | null = null;
    let done = false;
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
    const refuse = (code: Parameters<typeof errorMessage>[0], msg: string) => {
      fatal(sock, code, msg);
      finish({ kind: 'closed' });
    };
    const timer = setTimeout(() => refuse('SLUICE_PROTOCOL_VIOLATION', 'start-up took too long; closing'), deadlineMs);
    timer.unref();
    const onClose = () => finish({ kind: 'closed' });

    const handle = (items: FrontendItem[]): void => {
      for (let i = 0; i < items.length && !done; i++) {
        const it = items[i]!;
        if (isStartupPacket(it)) {
          switch (it.kind) {
            case 'ssl': {
              // Answer, then speak TLS on the same socket; the framer refuses
              // plaintext smuggled behind the request.
              sock.off('data', onData);
              raw.write(Buffer.from('S'));
              const t = new TLSSocket(raw, { isServer: true, secureContext: secure });
              t.on('error', () => finish({ kind: 'closed' }));
              sock = t;
              tls = true;
              t.on('data', onData);
              return;
            }
            case 'gssenc':
              sock.write(Buffer.from('N'));
              continue;
            case 'cancel':
              finish({ kind: 'cancel', packet: it });
              sock.end();
              return;
            case 'startup': {
              startup = it;
              if (it.params.get('replication') && it.params.get('replication') !== 'false') {
                return refuse('SLUICE_CONNECTION_REFUSED', 'replication connections are not supported through Sluice');
              }
              if (!tls && !loopback) {
                return refuse('SLUICE_AUTH_FAILED', 'Sluice requires TLS from non-local clients (connect with sslmode=require)');
              }
              const w = new BackendWriter();
              if (it.negotiate || it.protocolOptions.size > 0) {
                w.negotiateProtocolVersion(it.minor > 2 ? (3 << 16) | 2 : it.version, [...it.protocolOptions.keys()]);
              }
              sock.write(w.authenticationCleartextPassword().take());
              continue;
            }
          }
        }
        // A regular message: only the password may come now.
        if (!startup) return refuse('SLUICE_PROTOCOL_VIOLATION', 'expected a startup message');
        if (it.type !== FrontendCode.Password) return refuse('SLUICE_PROTOCOL_VIOLATION', 'expected a password message');
        let password: string;
        try {
          password = parsePasswordMessage(it.payload);
        } catch {
          return refuse('SLUICE_PROTOCOL_VIOLATION', 'malformed password message');
        }
        finish({ kind: 'session', result: { socket: sock, tls, startup, password, framer, pending: items.slice(i + 1) as FramedMessage[] } });
        return;
      }
    };
    const onData = (chunk: Buffer) => {
      if (done) return;
      try {
        handle(framer.push(chunk));
      } catch (e) {
        if (e instanceof ProtocolError) refuse('SLUICE_PROTOCOL_VIOLATION', `invalid start-up packet: ${e.message}`);
        else refuse('SLUICE_INTERNAL', 'internal error during start-up');
      }
    };
    raw.on('close', onClose);
    raw.on('error', () => finish({ kind: 'closed' }));
    sock.on('data', onData);
  });
}

export function secureContext(cert: string, key: string): SecureContext {
  return createSecureContext({ cert, key, minVersion: 'TLSv1.2' });
}
