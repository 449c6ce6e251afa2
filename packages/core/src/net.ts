import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Listener, Logger } from './types.js';

/**
 * Whether a client address is this machine (IPv4 127/8, ::1, or IPv4-mapped
 * loopback). Every protocol requires TLS from clients that are not: the
 * credential travels as a password.
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** 'host:port' (IPv6 hosts may be bracketed) → parts. */
export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  if (i < 0) throw new Error(`invalid address "${address}" (expected host:port)`);
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/**
 * The TCP side every protocol plugin shares: accepts clients (TCP_NODELAY),
 * runs `serve` for each — a rejection is logged and the socket destroyed,
 * never crashing the gateway — and tracks clients still in their start-up
 * phase. `serve` calls `started()` once the client has got past start-up.
 * `close()` stops accepting and drops clients still starting; established
 * sessions are the gateway's to drain or end.
 */
export async function listenTcp(
  address: string,
  logger: Logger,
  protocol: string,
  serve: (socket: Socket, started: () => void) => Promise<void>,
): Promise<Listener> {
  const starting = new Set<Socket>();
  const server = createServer((raw) => {
    starting.add(raw);
    raw.setNoDelay(true);
    raw.on('close', () => starting.delete(raw));
    raw.on('error', () => undefined);
    serve(raw, () => starting.delete(raw)).catch((e: unknown) => {
      logger.error({ err: (e as Error).message }, `${protocol}: connection failed`);
      raw.destroy();
    });
  });
  const { host, port } = splitHostPort(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.address}:${a.port}`,
    port: a.port,
    async close() {
      server.close();
      for (const s of starting) s.destroy();
    },
  };
}

/**
 * One request and its response on a connection nobody else reads yet (a
 * target's connection before the client is let in, e.g. a catalog lookup):
 * writes `request`, hands every chunk that arrives to `take` until it returns
 * true, then pauses the socket and stops listening. Rejects when `take`
 * throws, the socket fails, or `timeoutMs` passes (`what` names the exchange
 * in that error).
 */
export function exchangeOnIdle(socket: Socket | Duplex, request: Uint8Array, take: (chunk: Buffer) => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${what} timed out`)), timeoutMs);
    const done = (e?: Error) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', done);
      socket.pause();
      if (e) reject(e);
      else resolve();
    };
    const onData = (chunk: Buffer) => {
      try {
        if (take(chunk)) done();
      } catch (e) {
        done(e as Error);
      }
    };
    socket.on('data', onData);
    socket.on('error', done);
    socket.resume();
    socket.write(request);
  });
}
