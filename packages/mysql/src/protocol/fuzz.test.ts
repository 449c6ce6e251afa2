import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Capability, ColumnType, Command } from './codes.js';
import * as c from './commands.js';
import { ProtocolError } from './errors.js';
import { PacketFramer, type Packet } from './framer.js';
import * as hs from './handshake.js';
import * as rs from './responses.js';
import * as res from './resultset.js';
import { header, mutate, onlyProtocolErrors, splitAt, type Mutation } from './test-fixtures.js';
import { BufferWriter } from './writer.js';

/*
 * Fuzz properties: whatever the bytes, framing and every parser return a
 * value or throw ProtocolError — never another exception, never a hang —
 * and the framer never holds more than the bytes it received.
 */

const ALL_CAPS = [
  0,
  Capability.Protocol41,
  (Capability.Protocol41 | Capability.SecureConnection | Capability.PluginAuth | Capability.ConnectWithDb | Capability.ConnectAttrs) >>> 0,
  (Capability.Protocol41 | Capability.PluginAuthLenencClientData | Capability.SessionTrack | Capability.QueryAttributes | Capability.DeprecateEof | Capability.OptionalResultsetMetadata) >>> 0,
];

const binCols: res.BinaryColumn[] = [
  { type: ColumnType.Long, flags: 0 },
  { type: ColumnType.VarString, flags: 0 },
  { type: ColumnType.DateTime, flags: 0 },
  { type: ColumnType.Time, flags: 0 },
  { type: ColumnType.Double, flags: 0 },
];

/** Runs every parser over a payload. */
function parseEverything(payload: Buffer): void {
  const all: Array<() => unknown> = [
    () => hs.parseInitialHandshake(payload),
    () => hs.parseHandshakeResponse(payload),
    () => hs.parseSslRequest(payload),
    () => hs.isSslRequest(payload),
    () => hs.parseAuthSwitchRequest(payload),
    () => hs.parseAuthMoreData(payload),
    () => rs.parseErr(payload),
    () => rs.parseEof(payload),
    () => c.parseComInitDb(payload),
    () => c.parseComStmtPrepare(payload),
    () => c.parseComStmtClose(payload),
    () => c.parseComStmtReset(payload),
    () => c.parseComStmtFetch(payload),
    () => c.parseComStmtSendLongData(payload),
    () => c.parseComFieldList(payload),
    () => c.parseComSetOption(payload),
    () => c.parseSimpleCommand(payload, Command.Ping),
    () => c.commandOf(payload),
    () => c.stmtExecuteStatementId(payload),
    () => res.parseColumnDefinition(payload),
    () => res.parseColumnDefinition(payload, { extendedTypeInfo: true, fieldList: true }),
    () => res.parseStmtPrepareOk(payload, Capability.OptionalResultsetMetadata),
    () => res.parseBinaryRow(payload, binCols),
    () => res.parseBinaryRow(payload, []),
  ];
  for (const caps of ALL_CAPS) {
    all.push(
      () => rs.parseOk(payload, caps),
      () => rs.isResultSetEnd(payload, caps),
      () => c.parseComQuery(payload, caps),
      () => c.parseComChangeUser(payload, caps),
      () => res.parseColumnCount(payload, caps),
    );
    for (const n of [0, 1, 3, 40]) {
      all.push(() =>
        c.parseComStmtExecute(payload, {
          paramCount: n,
          capabilities: caps,
          previousTypes: new Array(n).fill({ type: ColumnType.DateTime, unsigned: false }),
          longData: new Set([1]),
        }),
      );
    }
  }
  for (const n of [1, 2, 5, 300]) all.push(() => res.parseTextRow(payload, n));
  for (const f of all) onlyProtocolErrors(f);
}

function consume(chunks: Buffer[], maxPayload?: number): void {
  const f = new PacketFramer({ maxPayload });
  let received = 0;
  const out: Packet[] = [];
  try {
    for (const chunk of chunks) {
      received += chunk.length;
      out.length = 0;
      f.push(chunk, out);
      expect(f.bufferedBytes).toBeLessThanOrEqual(received);
      for (const p of out) parseEverything(p.payload);
    }
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
  }
}

/** A stream of valid packets of many kinds. */
const validStream = fc.array(fc.integer({ min: 0, max: 13 }), { minLength: 1, maxLength: 10 }).map((kinds) => {
  const w = new BufferWriter();
  const caps = ALL_CAPS[2];
  for (const k of kinds) {
    switch (k) {
      case 0:
        hs.writeInitialHandshake(w, { serverVersion: '10.11', connectionId: 1, scramble: Buffer.alloc(20, 65), capabilities: caps, mariadbCapabilities: 0, charset: 45, status: 2, authPluginName: 'caching_sha2_password' });
        break;
      case 1:
        hs.writeHandshakeResponse(w, { capabilities: caps, maxPacketSize: 1 << 24, charset: 45, mariadbCapabilities: 0, username: 'u', authResponse: Buffer.alloc(20, 1), database: 'db', authPluginName: 'p', attributes: [['a', 'b']] });
        break;
      case 2:
        rs.writeOk(w, 1, { affectedRows: 1, info: 'x' }, Capability.Protocol41);
        break;
      case 3:
        rs.writeErr(w, 1, { code: 1142, sqlState: '42000', message: 'no' });
        break;
      case 4:
        c.writeComQuery(w, 'SELECT 1', Capability.QueryAttributes, [{ type: ColumnType.Long, name: 'a', value: 1 }]);
        break;
      case 5:
        c.writeComStmtExecute(w, { statementId: 1, params: [{ type: ColumnType.DateTime, value: '2020-01-01 00:00:01' }, { type: ColumnType.VarString, value: 'x' }, { type: ColumnType.Long, value: null }] });
        break;
      case 6:
        res.writeColumnDefinition(w, 2, { name: 'n', type: ColumnType.Long });
        break;
      case 7:
        res.writeTextRow(w, 3, ['a', null, 'ccc', '', 'e']);
        break;
      case 8:
        res.writeBinaryRow(w, 3, binCols, [1, 'x', '2020-01-01 00:00:00.5', '-10:00:00', 2.5]);
        break;
      case 9:
        res.writeStmtPrepareOk(w, 1, { statementId: 1, columnCount: 1, paramCount: 3, warnings: 0 });
        break;
      case 10:
        c.writeComChangeUser(w, { username: 'u', authResponse: Buffer.from([1]), database: 'd', charset: 45, authPluginName: 'x' }, caps);
        break;
      case 11:
        hs.writeSslRequest(w, { capabilities: caps, maxPacketSize: 0, charset: 45, mariadbCapabilities: 0 });
        break;
      case 12:
        c.writeComStmtSendLongData(w, 1, 0, Buffer.from('data'));
        break;
      default:
        hs.writeAuthSwitchRequest(w, 2, 'mysql_clear_password', Buffer.alloc(0));
    }
  }
  return w.take();
});

const chunkCuts = fc.array(fc.nat({ max: 2048 }), { maxLength: 12 });
const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('flip', 'set', 'insert', 'delete') as fc.Arbitrary<Mutation['op']>,
  value: fc.integer({ min: 0, max: 255 }),
});

describe('codec fuzz', () => {
  it('arbitrary bytes, any chunking', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), chunkCuts, (bytes, cuts) => consume(splitAt(Buffer.from(bytes), cuts))),
      { numRuns: 1000 },
    );
  });

  it('arbitrary payloads behind a valid header, into every parser', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 0, max: 255 }), (body, first) => {
        const payload = Buffer.concat([Buffer.from([first]), body]);
        consume([Buffer.concat([header(payload.length, 0), payload])]);
      }),
      { numRuns: 1500 },
    );
  });

  it('random mutations of valid streams', () => {
    fc.assert(
      fc.property(validStream, fc.array(mutation, { minLength: 1, maxLength: 8 }), chunkCuts, (s, ms, cuts) => {
        consume(splitAt(mutate(s, ms), cuts));
      }),
      { numRuns: 1500 },
    );
  });

  it('valid streams parse with their own parsers under any chunking', () => {
    fc.assert(
      fc.property(validStream, chunkCuts, (s, cuts) => {
        const a = new PacketFramer().push(s);
        const out: Packet[] = [];
        const f = new PacketFramer();
        for (const ch of splitAt(s, cuts)) f.push(ch, out);
        expect(out.map((p) => p.raw.toString('hex'))).toEqual(a.map((p) => p.raw.toString('hex')));
        expect(f.bufferedBytes).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('truncated payloads of valid packets throw ProtocolError in their parser', () => {
    const w = new BufferWriter();
    const caps = ALL_CAPS[2];
    hs.writeHandshakeResponse(w, { capabilities: caps, maxPacketSize: 0, charset: 45, mariadbCapabilities: 0, username: 'user', authResponse: Buffer.alloc(20, 1), database: 'db', authPluginName: 'p', attributes: [['k', 'v']] });
    res.writeColumnDefinition(w, 2, { name: 'n', type: ColumnType.Long });
    res.writeBinaryRow(w, 3, binCols, [1, 'x', '2020-01-01 00:00:00.5', '-10:00:00', 2.5]);
    c.writeComStmtExecute(w, { statementId: 1, params: [{ type: ColumnType.DateTime, value: '2020-01-01 00:00:01' }, { type: ColumnType.VarString, value: 'xyz' }] });
    const [resp, def, row, exec] = new PacketFramer().push(w.take()).map((p) => p.payload);
    const parsers: Array<[Buffer, (b: Buffer) => unknown]> = [
      [resp, hs.parseHandshakeResponse],
      [def, (b) => res.parseColumnDefinition(b)],
      [row, (b) => res.parseBinaryRow(b, binCols)],
      [exec, (b) => c.parseComStmtExecute(b, { paramCount: 2 })],
    ];
    for (const [full, parse] of parsers) {
      expect(() => parse(full)).not.toThrow();
      // The trailing optional fields of a HandshakeResponse (database, plugin, attributes) may be cut at a field boundary.
      const from = parse === hs.parseHandshakeResponse ? full.indexOf(Buffer.from('db\0')) : full.length;
      for (let n = 0; n < from; n++) expect(() => parse(full.subarray(0, n)), `cut at ${n}`).toThrow(ProtocolError);
    }
  });

  it('absurd lengths are refused at the header with no big allocation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1001, max: 0xffffff }), fc.nat({ max: 4 }), fc.nat({ max: 255 }), (len, split, seq) => {
        const f = new PacketFramer({ maxPayload: 1000 });
        const h = header(len, seq);
        const before = process.memoryUsage().arrayBuffers;
        expect(() => {
          f.push(h.subarray(0, split));
          f.push(h.subarray(split));
        }).toThrow(ProtocolError);
        expect(f.bufferedBytes).toBeLessThanOrEqual(4);
        expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
      }),
      { numRuns: 300 },
    );
  });

  it('a 16 MB header with a trickle of bytes holds only what arrived', () => {
    const f = new PacketFramer();
    f.push(header(0xffffff, 0));
    const chunk = Buffer.alloc(1024, 1);
    for (let i = 0; i < 100; i++) expect(f.push(chunk)).toEqual([]);
    expect(f.bufferedBytes).toBe(4 + 100 * 1024);
  });

  it('absurd counts inside packets do not allocate (text row cell count, parameter counts)', () => {
    const payload = Buffer.from([Command.StmtExecute, 1, 0, 0, 0, 0x08, 1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    expect(() => c.parseComStmtExecute(payload, { paramCount: 0, capabilities: Capability.QueryAttributes })).toThrow(ProtocolError);
    const q = Buffer.from([Command.Query, 0xfd, 0xff, 0xff, 0xff, 1]);
    expect(() => c.parseComQuery(q, Capability.QueryAttributes)).toThrow(ProtocolError);
    expect(() => res.parseColumnCount(Buffer.from([0xfe, 0, 0, 0, 0, 1, 0, 0, 0]))).toThrow(ProtocolError);
  });
});
