/*
 * What the in-process hot-path benches share: a real Gateway over a SQLite
 * store with its journal and the bench's mask policy, one session open on
 * it, and socket stand-ins that drop what is written.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { Gateway, MessageRelay, type Framer, type RelayOut, type Session } from '@sluice/core';
import { openSqliteStore } from '@sluice/store-sqlite';
import { loadSqlParser } from '@sluice/sql';
import { createMetrics } from '../../../apps/sluice/src/metrics.js';

/** A socket stand-in: 'data' is emitted by the bench; writes are counted and dropped. */
export class FakeSocket extends EventEmitter {
  writes = 0;
  bytes = 0;
  destroyed = false;
  readableEnded = false;
  writableLength = 0;
  write(b: Buffer): boolean {
    this.writes++;
    this.bytes += b.length;
    return true;
  }
  cork(): void {}
  uncork(): void {}
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  end(): void {}
  destroy(): void {
    this.destroyed = true;
  }
}

/** A gateway with the bench's policy (`tools/bench/run.mjs`) and one open session of connection `bench` of `type`. */
export async function benchSession(type: 'postgres' | 'mysql'): Promise<{ gw: Gateway; session: Session; done: () => Promise<void> }> {
  await loadSqlParser();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-hotpath-'));
  const store = openSqliteStore({ path: join(dir, 'sluice.db'), journal: true });
  const target = type === 'postgres' ? 'postgres://x@127.0.0.1/x' : 'mysql://x@127.0.0.1/x';
  const gw = new Gateway({
    store,
    policies: [{ name: 'bench-pii', mask: { detectors: ['credit_card', 'email'], columns: ['pgbench_accounts.filler'], strategy: 'redact' } } as never],
    connections: [{ name: 'bench', type, target, access: ['bench'], secrets: {}, options: {} } as never],
    authenticators: [],
    hashKey: Buffer.alloc(32, 1),
    tls: {} as never,
    logger: { info() {}, warn() {}, error() {}, debug() {} } as never,
    metrics: createMetrics().core,
    dataDir: dir,
  });
  const session = await gw.openSession({ subject: 'bench', actors: [], groups: ['bench'], via: 'api-key' } as never, 'bench', { address: '127.0.0.1', port: 1 } as never, type);
  const done = async () => {
    await session.close('done');
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { gw, session, done };
}

/**
 * Runs `once` 20,000 times to warm up, then `iterations` times measured,
 * yielding to the event loop every 1,024 so timers and the journal mover
 * run as they would live. Returns µs per call, of wall time on this thread
 * and of CPU in all threads.
 */
export async function measure(once: (i: number) => void, iterations: number): Promise<{ usPerCall: number; cpuUsPerCall: number }> {
  for (let i = 0; i < 20000; i++) once(i);
  await new Promise((r) => setTimeout(r, 200));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    once(i);
    if ((i & 1023) === 0) await new Promise((r) => setImmediate(r));
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return { usPerCall: (wall * 1000) / iterations, cpuUsPerCall: (cpu.user + cpu.system) / iterations };
}

/** A started MessageRelay between two socket stand-ins, handing messages to a plugin's session relay. */
export function startRelay<M>(
  gw: Gateway,
  handlers: { client(m: M, out: RelayOut): void | Promise<void>; server(m: M, out: RelayOut): void },
  clientFramer: Framer<M>,
  serverFramer: Framer<M>,
  protocol: string,
): { client: FakeSocket; server: FakeSocket; relay: MessageRelay<M, M> } {
  const client = new FakeSocket();
  const server = new FakeSocket();
  const relay = new MessageRelay<M, M>(client as unknown as Duplex, server as unknown as Duplex, clientFramer, serverFramer, {
    client: (m, out) => handlers.client(m, out),
    server: (m, out) => handlers.server(m, out),
    closed: (why) => console.error('relay closed:', why),
    protocolError: (e, side) => console.error('protocol error', side, e.message),
  }, { onBytes: (d, n) => gw.coreMetrics.bytesRelayed(d, n, protocol) });
  relay.start();
  return { client, server, relay };
}
