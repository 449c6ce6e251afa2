import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  BackendCode,
  BackendFramer,
  FrontendWriter,
  md5Password,
  parseAuthentication,
  parseBackendKeyData,
  parseNoticeFields,
  parseParameterStatus,
  parseReadyForQuery,
  type FramedMessage,
  type TransactionState,
} from './protocol/index.js';

const require = createRequire(import.meta.url);
// node-postgres' SCRAM-SHA-256 client (pg/lib/crypto/sasl), a maintained implementation.
const sasl = require('pg/lib/crypto/sasl.js') as {
  startSession(mechanisms: string[], stream?: unknown): { mechanism: string; response: string };
  continueSession(session: object, password: string, serverData: string, stream?: unknown): Promise<void>;
  finalizeSession(session: object, serverData: string): void;
};

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface TargetSettings {
  host: string;
  port: number;
  user: string;
  database: string;
  sslmode: SslMode;
  /** CA bundle for verify-ca / verify-full (sslrootcert). */
  ca?: string;
}

/** Reads a postgres:// target URL. Throws with a message safe to log (no password). */
export function parseTarget(url: string, caFile?: string): TargetSettings {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error('target is not a valid postgres:// URL');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error('target must be a postgres:// URL');
  const sslmode = (u.searchParams.get('sslmode') ?? 'prefer') as SslMode;
  if (!['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'].includes(sslmode)) throw new Error(`unknown sslmode "${sslmode}"`);
  const rootcert = u.searchParams.get('sslrootcert') ?? caFile;
  return {
    host: decodeURIComponent(u.hostname.replace(/^\[|\]$/g, '')) || '127.0.0.1',
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || 'postgres',
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres',
    sslmode,
    ca: rootcert ? readFileSync(rootcert, 'utf8') : undefined,
  };
}

export interface Upstream {
  socket: Socket | TLSSocket;
  /** ParameterStatus values reported at start-up, in order. */
  params: Map<string, string>;
  /** The target's own cancel key: never shown to the client. */
  processId: number;
  secretKey: Buffer;
  txStatus: TransactionState;
  /** Bytes that arrived after ReadyForQuery (none in practice). */
  leftover: FramedMessage[];
  framer: BackendFramer;
}

/**
 * A socket error without the target's address (the client is told the
 * connection name, never where it points): 'ECONNREFUSED', 'ETIMEDOUT' …
 */
function socketReason(e: Error): string {
  const code = (e as { code?: string }).code;
  if (code && /^E[A-Z]+$/.test(code)) return code === 'ECONNREFUSED' ? 'connection refused (ECONNREFUSED)' : code;
  return e.message.replace(/\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b/g, '<target>');
}

/** An error of the target during connect; `message` never carries the password. */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly sqlstate?: string,
    /** The TLS handshake failed (certificate or protocol). */
    readonly tlsFailure = false,
    /** The attempt that failed ran over TLS. */
    readonly overTls = false,
  ) {
    super(message);
  }
}

function once<T>(sock: Socket, ev: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onErr = (e: Error) => {
      sock.off(ev, onEv);
      reject(e);
    };
    const onEv = (v: T) => {
      sock.off('error', onErr);
      resolve(v);
    };
    sock.once(ev, onEv);
    sock.once('error', onErr);
  });
}

/** Reads exactly one byte (the SSLRequest answer) without losing what follows. */
function readByte(sock: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      cleanup();
      if (b.length > 1) {
        // A server must not send anything after its answer before the handshake.
        reject(new UpstreamError('target sent unexpected data after its SSL answer'));
        return;
      }
      resolve(b[0]!);
    };
    const onErr = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onEnd = () => {
      cleanup();
      reject(new UpstreamError('target closed the connection during the SSL request'));
    };
    const cleanup = () => {
      sock.off('data', onData);
      sock.off('error', onErr);
      sock.off('end', onEnd);
      sock.pause();
    };
    sock.on('data', onData);
    sock.on('error', onErr);
    sock.on('end', onEnd);
    sock.resume();
  });
}

type Transport = 'plain' | 'try-tls' | 'tls';

/** The first transport an sslmode tries (allow: plain first; prefer: TLS first). */
function firstTransport(mode: SslMode): Transport {
  if (mode === 'disable' || mode === 'allow') return 'plain';
  return mode === 'prefer' ? 'try-tls' : 'tls';
}

/**
 * Opens the transport: plain TCP, or SSLRequest then TLS. `track` is told of
 * each socket as it is created, so that the caller's deadline can destroy it.
 */
async function openSocket(t: TargetSettings, transport: Transport, track: (s: Socket) => void): Promise<Socket | TLSSocket> {
  const sock = netConnect({ host: t.host, port: t.port });
  track(sock);
  sock.setNoDelay(true);
  await once(sock, 'connect');
  if (transport === 'plain') return sock;
  sock.write(new FrontendWriter().sslRequest().take());
  const answer = await readByte(sock);
  if (answer !== 0x53 /* S */) {
    if (transport === 'try-tls') return sock;
    sock.destroy();
    throw new UpstreamError(`the target does not offer TLS (sslmode=${t.sslmode})`);
  }
  // verify-ca and verify-full check the chain; so does require when a root
  // certificate is configured (as libpq does). Only verify-full checks the name.
  const verify = t.sslmode === 'verify-ca' || t.sslmode === 'verify-full' || (t.sslmode === 'require' && t.ca !== undefined);
  const tls = tlsConnect({
    socket: sock,
    host: t.host,
    servername: /^[\d.]+$|:/.test(t.host) ? undefined : t.host,
    ca: t.ca,
    rejectUnauthorized: verify,
    // Node's default checks the name; passing `checkServerIdentity: undefined` is an error.
    ...(t.sslmode === 'verify-full' ? {} : { checkServerIdentity: () => undefined }),
  });
  // From here on the TLS socket owns the connection and reports its errors.
  sock.on('error', () => undefined);
  track(tls);
  try {
    await once(tls, 'secureConnect');
  } catch (e) {
    tls.destroy();
    if (e instanceof UpstreamError) throw e;
    const code = (e as { code?: string }).code ?? '';
    const certProblem = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS_CERT_ALTNAME|HOSTNAME/i.test(code) || /certificate/i.test((e as Error).message);
    throw new UpstreamError(
      certProblem
        ? `the target's TLS certificate was rejected (sslmode=${t.sslmode}): ${(e as Error).message}`
        : `TLS handshake with the target failed: ${(e as Error).message}`,
      undefined,
      true,
    );
  }
  return tls;
}

/**
 * Connects to the target and authenticates with the gateway-held password
 * (trust, cleartext, MD5 or SCRAM-SHA-256, with channel binding over TLS),
 * reading until ReadyForQuery. `clientParams` are start-up parameters passed
 * on from the client (application_name, client_encoding, DateStyle …); user
 * and database come from the target only. `timeoutMs` bounds the whole
 * start-up (connect, TLS, authentication); a second attempt (sslmode allow
 * or prefer, as libpq makes) shares it.
 */
export async function connectUpstream(t: TargetSettings, password: string | undefined, clientParams: Map<string, string>, timeoutMs = 10_000): Promise<Upstream> {
  const deadline = Date.now() + timeoutMs;
  const first = firstTransport(t.sslmode);
  try {
    return await attempt(t, first, password, clientParams, timeoutMs, deadline);
  } catch (e) {
    // libpq: allow retries over TLS, prefer retries without, when the server
    // refused the first attempt (pg_hba.conf: hostssl / hostnossl, SQLSTATE
    // 28000) or, for prefer, when the TLS handshake itself failed.
    if (!(e instanceof UpstreamError)) throw e;
    const retry =
      (t.sslmode === 'allow' && e.sqlstate === '28000') ||
      (t.sslmode === 'prefer' && e.overTls && (e.sqlstate === '28000' || e.tlsFailure));
    if (!retry || Date.now() >= deadline) throw e;
    return attempt(t, t.sslmode === 'allow' ? 'tls' : 'plain', password, clientParams, timeoutMs, deadline);
  }
}

async function attempt(
  t: TargetSettings,
  transport: Transport,
  password: string | undefined,
  clientParams: Map<string, string>,
  timeoutMs: number,
  deadline: number,
): Promise<Upstream> {
  let current: Socket | undefined;
  const timer = setTimeout(() => current?.destroy(new UpstreamError(`timed out connecting to the target after ${timeoutMs} ms`)), Math.max(0, deadline - Date.now()));
  try {
    let socket: Socket | TLSSocket;
    try {
      socket = await openSocket(t, transport, (s) => (current = s));
    } catch (e) {
      current?.destroy();
      throw e instanceof UpstreamError ? e : new UpstreamError(`cannot connect to the target: ${socketReason(e as Error)}`);
    }
    const overTls = 'encrypted' in socket && socket.encrypted === true;
    try {
      return await startup(t, socket, overTls, password, clientParams);
    } catch (e) {
      if (e instanceof UpstreamError) throw new UpstreamError(e.message, e.sqlstate, false, overTls);
      throw e;
    }
  } finally {
    clearTimeout(timer);
  }
}

function startup(t: TargetSettings, socket: Socket, overTls: boolean, password: string | undefined, clientParams: Map<string, string>): Promise<Upstream> {
  const params = new Map<string, string>([
    ['user', t.user],
    ['database', t.database],
  ]);
  for (const [k, v] of clientParams) if (k !== 'user' && k !== 'database' && k !== 'replication' && !k.startsWith('_pq_.')) params.set(k, v);
  socket.write(new FrontendWriter().startupMessage(params).take());

  const framer = new BackendFramer();
  const status = new Map<string, string>();
  let processId = 0;
  let secretKey = Buffer.alloc(0);
  let saslSession: ({ mechanism: string; response: string } & object) | null = null;
  let saslVerified = false;
  // Over TLS, SCRAM binds to the target's certificate (SCRAM-SHA-256-PLUS) when offered.
  const saslStream = overTls ? socket : undefined;
  const needPassword = (): string => {
    if (!password) throw new UpstreamError('the target asks for a password and the connection has none configured');
    return password;
  };

  return new Promise<Upstream>((resolve, reject) => {
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(e instanceof UpstreamError ? e : new UpstreamError(`cannot connect to the target: ${socketReason(e)}`));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('close', onClose);
      socket.pause();
    };
    const onClose = () => fail(new UpstreamError('the target closed the connection during start-up'));
    let chain: Promise<void> = Promise.resolve();
    const handle = async (m: FramedMessage, rest: FramedMessage[]): Promise<void> => {
      switch (m.type) {
        case BackendCode.Authentication: {
          const a = parseAuthentication(m.payload);
          switch (a.kind) {
            case 'ok':
              // A target that skips SCRAM's final message never proved it knows the password.
              if (saslSession && !saslVerified) throw new UpstreamError('the target ended SCRAM authentication without proving its identity');
              return;
            case 'cleartextPassword':
              socket.write(new FrontendWriter().passwordMessage(needPassword()).take());
              return;
            case 'md5Password':
              socket.write(new FrontendWriter().passwordMessage(md5Password(t.user, needPassword(), a.salt)).take());
              return;
            case 'sasl': {
              needPassword();
              saslSession = sasl.startSession(a.mechanisms, saslStream);
              socket.write(new FrontendWriter().saslInitialResponse(saslSession.mechanism, saslSession.response).take());
              return;
            }
            case 'saslContinue':
              if (!saslSession) throw new UpstreamError('unexpected SASL continue from the target');
              await sasl.continueSession(saslSession, needPassword(), a.data.toString('utf8'), saslStream);
              socket.write(new FrontendWriter().saslResponse(saslSession.response).take());
              return;
            case 'saslFinal':
              if (!saslSession) throw new UpstreamError('unexpected SASL final from the target');
              sasl.finalizeSession(saslSession, a.data.toString('utf8'));
              saslVerified = true;
              return;
            default:
              throw new UpstreamError(`the target asks for an unsupported authentication method (${a.kind})`);
          }
        }
        case BackendCode.ParameterStatus: {
          const p = parseParameterStatus(m.payload);
          status.set(p.name, p.value);
          return;
        }
        case BackendCode.BackendKeyData: {
          const k = parseBackendKeyData(m.payload);
          processId = k.processId;
          secretKey = Buffer.from(k.secretKey);
          return;
        }
        case BackendCode.ErrorResponse: {
          const f = parseNoticeFields(m.payload);
          const msg = f.M ?? 'error';
          throw new UpstreamError(`the target refused the connection: ${msg}`, f.C);
        }
        case BackendCode.NoticeResponse:
        case BackendCode.NegotiateProtocolVersion:
          return;
        case BackendCode.ReadyForQuery: {
          settled = true;
          cleanup();
          resolve({ socket, params: status, processId, secretKey, txStatus: parseReadyForQuery(m.payload), leftover: rest, framer });
          return;
        }
        default:
          throw new UpstreamError(`unexpected message 0x${m.type.toString(16)} from the target during start-up`);
      }
    };
    const onData = (chunk: Buffer) => {
      let msgs: FramedMessage[];
      try {
        msgs = framer.push(chunk);
      } catch (e) {
        fail(e as Error);
        return;
      }
      chain = chain.then(async () => {
        for (let i = 0; i < msgs.length && !settled; i++) {
          try {
            await handle(msgs[i]!, msgs.slice(i + 1));
          } catch (e) {
            fail(e as Error);
          }
        }
      });
    };
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', onClose);
    socket.resume();
  });
}

/** Sends a CancelRequest for the target's own backend (fire and forget). */
export function cancelUpstream(t: TargetSettings, processId: number, secretKey: Buffer): void {
  const sock = netConnect({ host: t.host, port: t.port });
  sock.on('error', () => undefined);
  sock.setTimeout(5000, () => sock.destroy());
  sock.on('connect', () => sock.end(new FrontendWriter().cancelRequest(processId, secretKey).take()));
}
