/**
 * `sluice connect CONNECTION`: a listener on the user's own machine (loopback
 * only) that lets an ordinary client in without a password. For each client
 * it dials the gateway's listener for the connection's protocol over TLS
 * (the gateway's certificate pinned by the SHA-256 fingerprint the admin API
 * published), answers the gateway's password request with the logged-in
 * credential (fetched fresh per client, so a long-running `connect` follows
 * token refreshes), then relays bytes untouched.
 *
 * PostgreSQL: the client's SSLRequest/GSSENCRequest get 'N' (the hop to this
 * listener never leaves the machine); its StartupMessage is forwarded with
 * `database` set to the connection; CancelRequest is passed on.
 *
 * MySQL / MariaDB: see connect-mysql.ts (this listener plays the server's
 * side of the handshake, then relays).
 *
 * Refusals: a client from a non-loopback address is dropped at once; a
 * gateway whose certificate does not match the pin, or that refuses TLS
 * while not on loopback, fails the client's connection (fail closed).
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { isLoopbackAddress, splitHostPort } from '@sluice/core';
import { serveMysql } from './connect-mysql.js';

export interface ConnectOptions {
  connection: string;
  protocol: string;
  /** The gateway listener 'host:port' for that protocol. */
  gateway: string;
  /** PEM of the gateway's client-facing certificate (pinned). */
  tlsCert: string;
  /** Fetches the credential for each new client (cached login, refreshed). */
  credential: () => Promise<string>;
  /** The user name to show the gateway (recorded as the client's user). */
  user: string;
  listen: { host: string; port: number };
  log: (line: string) => void;
}

export interface ConnectServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export const CONNECT_PROTOCOLS = ['postgres', 'mysql'];

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const MAX_STARTUP = 10_000;

/** Reads exactly n bytes from a socket that is paused between calls. */
export class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private wait: (() => void) | null = null;
  private ended = false;
  constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.wait?.();
    });
    const end = () => {
      this.ended = true;
      this.wait?.();
    };
    sock.on('end', end);
    sock.on('close', end);
    sock.on('error', end);
  }
  async take(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.ended) throw new Error('connection closed');
      await new Promise<void>((r) => (this.wait = r));
      this.wait = null;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Whatever arrived beyond what was taken; stops listening. */
  detach(): Buffer {
    this.sock.removeAllListeners('data');
    this.sock.removeAllListeners('end');
    return this.buf;
  }
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** A TCP connection to the gateway's listener. */
export async function dialTcp(gateway: string): Promise<{ raw: Socket; host: string }> {
  const { host, port } = splitHostPort(gateway);
  const raw = tcpConnect({ host, port });
  await new Promise<void>((resolve, reject) => {
    raw.once('connect', resolve);
    raw.once('error', reject);
  });
  return { raw, host };
}

/** TLS over an established connection (after the protocol's upgrade request), the certificate pinned to `pem`'s fingerprint. */
export async function pinnedTls(raw: Socket, host: string, pem: string): Promise<TLSSocket> {
  const pin = fingerprint(pem);
  const tls = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: isIp(host) ? undefined : host });
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', resolve);
    tls.once('error', reject);
  });
  const peer = tls.getPeerX509Certificate();
  if (!peer || peer.fingerprint256 !== pin) {
    tls.destroy();
    throw new Error("the gateway's TLS certificate does not match the one its admin API published");
  }
  return tls;
}

/** TCP to the gateway, then TLS via the protocol's own upgrade request, with the certificate pinned. */
async function dialPostgres(o: ConnectOptions): Promise<Socket | TLSSocket> {
  const { raw, host } = await dialTcp(o.gateway);
  const req = Buffer.alloc(8);
  req.writeInt32BE(8, 0);
  req.writeInt32BE(SSL_REQUEST, 4);
  raw.write(req);
  const answer = await new Promise<Buffer>((resolve, reject) => {
    raw.once('data', resolve);
    raw.once('close', () => reject(new Error('the gateway closed the connection')));
  });
  if (answer[0] !== 0x53 /* S */) {
    if (!isLoopbackAddress(host)) throw new Error('the gateway refused TLS');
    return raw;
  }
  return pinnedTls(raw, host, o.tlsCert);
}

function isIp(h: string): boolean {
  return /^[\d.]+$/.test(h) || h.includes(':');
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function startupParams(body: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  const parts = body.subarray(4).toString('utf8').split('\0');
  for (let i = 0; i + 1 < parts.length && parts[i]; i += 2) m.set(parts[i]!, parts[i + 1]!);
  return m;
}

function startupMessage(params: Map<string, string>, version: number): Buffer {
  const kv = [...params].map(([k, v]) => `${k}\0${v}\0`).join('') + '\0';
  const body = Buffer.concat([int32(version), Buffer.from(kv, 'utf8')]);
  return Buffer.concat([int32(body.length + 4), body]);
}

/** A PostgreSQL ErrorResponse, for failures before the gateway answered. */
function pgError(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`, 'utf8');
  return Buffer.concat([Buffer.from('E'), int32(fields.length + 4), fields]);
}

async function servePostgres(client: Socket, o: ConnectOptions): Promise<void> {
  const r = new Reader(client);
  let len: number;
  let code: number;
  for (;;) {
    const head = await r.take(8);
    len = head.readInt32BE(0);
    code = head.readInt32BE(4);
    if (len < 8 || len > MAX_STARTUP) throw new Error('bad start-up packet');
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      client.write('N');
      continue;
    }
    break;
  }
  const body = Buffer.concat([int32(code), await r.take(len - 8)]);
  let upstream: Socket | TLSSocket;
  try {
    upstream = await dialPostgres(o);
  } catch (e) {
    if (code !== CANCEL_REQUEST) client.end(pgError('08001', `sluice connect: cannot reach the gateway: ${(e as Error).message}`));
    else client.destroy();
    return;
  }
  if (code === CANCEL_REQUEST) {
    upstream.end(Buffer.concat([int32(len), body]));
    client.destroy();
    return;
  }
  const params = startupParams(body);
  params.set('database', o.connection);
  params.set('user', o.user);
  let credential: string;
  try {
    credential = await o.credential();
  } catch (e) {
    upstream.destroy();
    client.end(pgError('28000', `sluice connect: ${(e as Error).message}`));
    return;
  }
  upstream.write(startupMessage(params, code));
  // The gateway asks for the password (AuthenticationCleartextPassword) first.
  const ur = new Reader(upstream);
  const head = await ur.take(5);
  const mlen = head.readInt32BE(1);
  const rest = await ur.take(mlen - 4);
  if (head[0] === 0x52 /* R */ && rest.readInt32BE(0) === 3) {
    const pw = Buffer.from(credential + '\0', 'utf8');
    upstream.write(Buffer.concat([Buffer.from('p'), int32(pw.length + 4), pw]));
  } else {
    client.write(Buffer.concat([head, rest]));
  }
  pipe(client, r.detach(), upstream, ur.detach());
}

/** Relays both ways with backpressure (pipe), after flushing what each side had already sent. */
export function pipe(client: Socket, clientPending: Buffer, upstream: Socket, upstreamPending: Buffer): void {
  if (clientPending.length) upstream.write(clientPending);
  if (upstreamPending.length) client.write(upstreamPending);
  client.pipe(upstream);
  upstream.pipe(client);
  const done = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('close', done);
  upstream.on('close', done);
  client.on('error', done);
  upstream.on('error', done);
}

export async function startConnect(o: ConnectOptions): Promise<ConnectServer> {
  if (!CONNECT_PROTOCOLS.includes(o.protocol)) {
    throw new Error(`sluice connect does not support ${o.protocol} connections yet (supported: ${CONNECT_PROTOCOLS.join(', ')})`);
  }
  if (!isLoopbackAddress(o.listen.host)) throw new Error(`--host must be a loopback address (127.0.0.1 or ::1), got ${o.listen.host}`);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (!isLoopbackAddress(client.remoteAddress ?? '')) {
      o.log(`refused a client from ${client.remoteAddress}: only loopback clients may use sluice connect`);
      client.destroy();
      return;
    }
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    client.setNoDelay(true);
    (o.protocol === 'mysql' ? serveMysql(client, o) : servePostgres(client, o)).catch((e: Error) => {
      o.log(`client ${client.remotePort}: ${e.message}`);
      client.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listen.port, o.listen.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
