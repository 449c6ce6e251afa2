/*
 * In-process micro-benchmark of the gateway's per-query work for the MySQL
 * part of `pnpm bench` (not a test): a real Gateway with the bench's policy,
 * MySessionRelay and MessageRelay, fed what mysql2 sends for `SELECT v FROM t
 * WHERE id = ?` — COM_QUERY with the id in the text (query()), or
 * COM_STMT_EXECUTE of a statement prepared once (execute()) — and the
 * target's one-row answers, through stand-in sockets. Run through
 * `node tools/bench/hotpath/run.mjs --mode query|execute`.
 */
import { MySessionRelay } from '../../../packages/mysql/src/session-relay.js';
import {
  BufferWriter,
  Capability,
  ColumnFlag,
  ColumnType,
  Command,
  PacketFramer,
  writeBinaryRow,
  writeColumnCount,
  writeColumnDefinition,
  writeComQuery,
  writeComStmtExecute,
  writeCommand,
  writeEof,
  writeStmtPrepareOk,
  writeTextRow,
  type Packet,
} from '../../../packages/mysql/src/protocol/index.js';
import { benchSession, measure, startRelay } from './gateway.js';

export type MyMode = 'query' | 'execute';

/** What mysql2 asks for and a MariaDB target grants (no CLIENT_DEPRECATE_EOF: result sets end with EOF packets). */
const CAPS = Capability.Protocol41 | Capability.SecureConnection | Capability.MultiResults | Capability.Transactions;

/** Per-query cost of the MySQL bench's point select through query() or execute(). */
export async function runMysql(iterations: number, mode: MyMode): Promise<{ usPerTxn: number; cpuUsPerTxn: number; writes: number }> {
  const { gw, session, done } = await benchSession('mysql');
  const handlers = new MySessionRelay(session, CAPS, 'sluice_bench_my', '10.11.6-MariaDB', 2, new AbortController().signal, () => undefined);
  const { client, server, relay } = startRelay<Packet>(gw, handlers, new PacketFramer(), new PacketFramer(), 'mysql');

  const column = { schema: 'sluice_bench_my', table: 't', orgTable: 't', name: 'v', orgName: 'v', type: ColumnType.VarString, length: 256 };
  const resultSet = (row: (w: BufferWriter) => void): Buffer => {
    const w = new BufferWriter(256);
    writeColumnCount(w, 1, 1);
    writeColumnDefinition(w, 2, column);
    writeEof(w, 3);
    row(w);
    writeEof(w, 5);
    return w.take();
  };
  const sql = 'SELECT v FROM t WHERE id = ?';
  if (mode === 'execute') {
    // Prepared once per connection, as mysql2's execute() does.
    const prep = new BufferWriter(64);
    writeCommand(prep, Command.StmtPrepare, sql);
    client.emit('data', prep.take());
    const ok = new BufferWriter(256);
    writeStmtPrepareOk(ok, 1, { statementId: 1, columnCount: 1, paramCount: 1, warnings: 0 });
    writeColumnDefinition(ok, 2, { name: '?', type: ColumnType.VarString, flags: ColumnFlag.Binary });
    writeEof(ok, 3);
    writeColumnDefinition(ok, 4, column);
    writeEof(ok, 5);
    server.emit('data', ok.take());
  }
  // mysql2 draws the id at random from 100,000: in query() mode nearly every text is new.
  const n = mode === 'query' ? iterations + 20001 : 1000;
  const id = (i: number) => 1 + ((i * 7919) % 100000);
  const requests = Array.from({ length: n }, (_, i) => {
    const w = new BufferWriter(64);
    if (mode === 'query') writeComQuery(w, `SELECT v FROM t WHERE id = ${id(i)}`, CAPS);
    else writeComStmtExecute(w, { statementId: 1, params: [{ type: ColumnType.LongLong, value: BigInt(id(i)) }] }, CAPS);
    return w.take();
  });
  const answers = Array.from({ length: 1000 }, (_, i) =>
    resultSet((w) => (mode === 'query' ? writeTextRow(w, 4, [`row-${id(i)}`]) : writeBinaryRow(w, 4, [{ type: ColumnType.VarString, flags: 0 }], [`row-${id(i)}`]))),
  );
  let sent = 0;
  const once = (_i: number) => {
    const k = sent++;
    client.emit('data', requests[k % n]!);
    server.emit('data', answers[k % 1000]!);
  };
  once(0);
  if (!client.writes || !server.writes || relay.closed) throw new Error(`nothing relayed (client ${client.writes}, server ${server.writes} writes; relay closed: ${relay.closed})`);
  const m = await measure(once, iterations);
  await done();
  return { usPerTxn: m.usPerCall, cpuUsPerTxn: m.cpuUsPerCall, writes: (client.writes + server.writes) / (iterations + 20001) };
}
