/*
 * In-process micro-benchmark of the gateway's per-transaction work for
 * `pgbench -S -M prepared` (not a test): a real Gateway, SQLite store with
 * its journal, policy with a mask rule, PgSessionRelay and MessageRelay, fed
 * the very messages libpq sends (Bind, Describe P, Execute, Sync) and the
 * target's answers, through stand-in sockets that drop what is written. It
 * measures the JavaScript cost without the kernel's, so an optimisation shows
 * up outside the noise of a loopback run. From the repo root:
 *
 *   node tools/bench/hotpath/run.mjs [--iterations 200000] [--cpu-prof]
 */
import { PgSessionRelay } from '../../../packages/postgres/src/session-relay.js';
import { ColumnOrigins } from '../../../packages/postgres/src/catalog.js';
import { BackendFramer, FrontendFramer, FrontendWriter, BackendWriter, type FramedMessage } from '../../../packages/postgres/src/protocol/index.js';
import { benchSession, measure, startRelay } from './gateway.js';

/** A real gateway session behind a MessageRelay and PgSessionRelay, with stand-in sockets. */
async function setup() {
  const { gw, session, done } = await benchSession('postgres');
  const origins = new ColumnOrigins(new Set(['filler']));
  origins.addColumn('16390:4', 'public.pgbench_accounts', 'filler');
  const handlers = new PgSessionRelay(session, origins, 'I', true, new AbortController().signal, () => undefined);
  const { client, server, relay } = startRelay<FramedMessage>(gw, handlers, new FrontendFramer({ startup: false }) as never, new BackendFramer(), 'postgres');
  return { client, server, relay, done };
}

export type Mode = 'prepared' | 'extended' | 'simple';

/**
 * Per-transaction cost of `pgbench -S -M <mode>`, with the messages libpq
 * sends in that mode: prepared = Bind, Describe P, Execute, Sync of a
 * statement parsed once; extended = the same with a Parse of the unnamed
 * statement each time; simple = a Query with the key as a literal.
 */
export async function run(iterations: number, mode: Mode = 'prepared'): Promise<{ usPerTxn: number; cpuUsPerTxn: number; writes: number }> {
  const { client, server, relay, done } = await setup();
  const sql = 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;';
  const fields = [{ name: 'abalance', tableOID: 16390, columnAttr: 3, typeOID: 23, typeLen: 4, typeMod: -1, format: 0 }];
  if (mode === 'prepared') {
    // The statement is prepared once, as pgbench does.
    client.emit('data', new FrontendWriter().parse('P0_1', sql).describe('S', 'P0_1').sync().take());
    server.emit('data', new BackendWriter().parseComplete().parameterDescription([23]).rowDescription(fields).readyForQuery('I').take());
  }
  const key = (i: number) => String(100000 + i * 7);
  const request = (i: number): Buffer => {
    if (mode === 'simple') return new FrontendWriter().query(`SELECT abalance FROM pgbench_accounts WHERE aid = ${key(i)};`).take();
    const w = new FrontendWriter();
    if (mode === 'extended') w.parse('', sql);
    return w.bind('', mode === 'extended' ? '' : 'P0_1', [key(i)]).describe('P', '').execute('', 0).sync().take();
  };
  const answer = (mode === 'simple' ? new BackendWriter() : mode === 'extended' ? new BackendWriter().parseComplete().bindComplete() : new BackendWriter().bindComplete())
    .rowDescription(fields)
    .dataRow(['0'])
    .commandComplete('SELECT 1')
    .readyForQuery('I')
    .take();
  // pgbench draws the key at random from a million: in simple mode nearly every text is new.
  // So every simple-mode transaction here has a text of its own; the other modes cycle through 1,000.
  const n = mode === 'simple' ? iterations + 20001 : 1000;
  const requests = Array.from({ length: n }, (_, i) => request(i));
  let sent = 0;
  const once = (_i: number) => {
    client.emit('data', requests[sent++ % n]!);
    server.emit('data', answer);
  };
  once(0);
  if (!client.writes || !server.writes) throw new Error(`nothing relayed (client ${client.writes}, server ${server.writes} writes; relay closed: ${relay.closed})`);
  const m = await measure(once, iterations);
  await done();
  return { usPerTxn: m.usPerCall, cpuUsPerTxn: m.cpuUsPerCall, writes: (client.writes + server.writes) / (iterations + 20001) };
}

/**
 * Per-row cost of streaming a large result through detector masking: the
 * bench's large-result query (`SELECT g, 'user' || g || '@example.com',
 * md5(g::text)`), every row's email replaced, fed in 64 KiB chunks as a
 * socket delivers them.
 */
export async function runRows(rows: number): Promise<{ nsPerRow: number; cpuNsPerRow: number; outBytes: number }> {
  const { client, server, relay, done } = await setup();
  const fields = ['g', 'email', 'digest'].map((name, i) => ({ name, tableOID: 0, columnAttr: 0, typeOID: i === 0 ? 23 : 25, typeLen: i === 0 ? 4 : -1, typeMod: -1, format: 0 }));
  const { createHash } = await import('node:crypto');
  const w = new BackendWriter(1 << 20);
  const batch = 10000;
  for (let g = 1; g <= batch; g++) w.dataRow([String(g), `user${g}@example.com`, createHash('md5').update(String(g)).digest('hex')]);
  const body = w.take();
  const chunks: Buffer[] = [];
  for (let off = 0; off < body.length; off += 65536) chunks.push(Buffer.from(body.subarray(off, off + 65536)));
  const query = new FrontendWriter().query('SELECT g, email, digest FROM big').take();
  const head = new BackendWriter().rowDescription(fields).take();
  const tail = new BackendWriter().commandComplete(`SELECT ${batch}`).readyForQuery('I').take();
  const once = () => {
    client.emit('data', query);
    server.emit('data', head);
    for (const c of chunks) server.emit('data', c);
    server.emit('data', tail);
  };
  client.bytes = 0;
  once();
  if (!client.bytes || relay.closed) throw new Error(`nothing relayed (relay closed: ${relay.closed})`);
  for (let i = 0; i < 20; i++) once(); // warm up
  await new Promise((r) => setTimeout(r, 200));
  const passes = Math.max(1, Math.round(rows / batch));
  client.bytes = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < passes; i++) {
    once();
    await new Promise((r) => setImmediate(r));
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const outBytes = client.bytes / passes;
  await done();
  const n = passes * batch;
  return { nsPerRow: (wall * 1e6) / n, cpuNsPerRow: ((cpu.user + cpu.system) * 1000) / n, outBytes };
}
