import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Capability, Charset, ColumnFlag, ColumnType, Command, CursorFlag, MariaDbCapability, ServerStatus } from './codes.js';
import * as c from './commands.js';
import { PacketFramer, type Packet } from './framer.js';
import * as hs from './handshake.js';
import * as rs from './responses.js';
import * as res from './resultset.js';
import { cstr, lstr, pkt, u16, u32, u8 } from './test-fixtures.js';
import { BufferWriter } from './writer.js';

/** Writes with `write`, frames the bytes, returns the single packet. */
function roundTrip(write: (w: BufferWriter) => void): Packet {
  const w = new BufferWriter();
  write(w);
  const ps = new PacketFramer().push(w.take());
  expect(ps.length).toBe(1);
  return ps[0];
}

const BASE = (Capability.Protocol41 | Capability.SecureConnection | Capability.PluginAuth | Capability.LongPassword | Capability.Transactions) >>> 0;
const scramble = Buffer.from('abcdefghijklmnopqrst');

describe('connection phase', () => {
  it('Initial Handshake v10 round-trips (MySQL and MariaDB flavours)', () => {
    for (const caps of [BASE, (BASE & ~Capability.LongPassword) >>> 0, (BASE | Capability.Ssl | Capability.RememberOptions) >>> 0]) {
      const h = {
        serverVersion: '5.5.5-10.11.6-MariaDB-sluice',
        connectionId: 0xdeadbeef,
        scramble,
        capabilities: caps,
        mariadbCapabilities: caps & Capability.LongPassword ? 0 : MariaDbCapability.StmtBulkOperations,
        charset: Charset.Utf8mb4GeneralCi,
        status: ServerStatus.Autocommit,
        authPluginName: 'caching_sha2_password',
      };
      const p = roundTrip((w) => hs.writeInitialHandshake(w, h));
      expect(p.seq).toBe(0);
      expect(hs.parseInitialHandshake(p.payload)).toEqual({ protocolVersion: 10, ...h });
      // Layout: part 1 of the scramble right after the connection id, then a filler.
      const at = 1 + h.serverVersion.length + 1 + 4;
      expect(p.payload.subarray(at, at + 9).toString('latin1')).toBe('abcdefgh\0');
    }
  });

  it('HandshakeResponse41 parses the three auth-response encodings and the optional fields', () => {
    const auth = Buffer.from([1, 2, 3, 0, 255]);
    for (const enc of [Capability.PluginAuthLenencClientData, Capability.SecureConnection, 0]) {
      const caps = (Capability.Protocol41 | Capability.LongPassword | Capability.ConnectWithDb | Capability.PluginAuth | Capability.ConnectAttrs | enc) >>> 0;
      const a = enc === 0 ? Buffer.from('token') : auth;
      const resp = {
        capabilities: caps,
        maxPacketSize: 0x1000000,
        charset: 45,
        mariadbCapabilities: 0,
        username: 'alice',
        authResponse: a,
        database: 'shop',
        authPluginName: 'mysql_clear_password',
        attributes: [['_client_name', 'libmariadb'], ['program_name', 'mysql']] as Array<[string, string]>,
        zstdLevel: null,
      };
      const p = roundTrip((w) => hs.writeHandshakeResponse(w, resp));
      expect(p.seq).toBe(1);
      const got = hs.parseHandshakeResponse(p.payload);
      expect({ ...got, authResponse: Buffer.from(got.authResponse) }).toEqual(resp);
      expect(hs.isSslRequest(p.payload)).toBe(false);
    }
  });

  it('HandshakeResponse41 from hand-built bytes (no database, no attributes)', () => {
    const caps = Capability.Protocol41 | Capability.SecureConnection | Capability.PluginAuth;
    const payload = Buffer.concat([u32(caps), u32(16777216), u8(33), Buffer.alloc(23), cstr('bob'), u8(2), Buffer.from([9, 9]), cstr('mysql_native_password')]);
    const r = hs.parseHandshakeResponse(payload);
    expect(r.username).toBe('bob');
    expect([...r.authResponse]).toEqual([9, 9]);
    expect(r.database).toBeNull();
    expect(r.authPluginName).toBe('mysql_native_password');
    expect(r.mariadbCapabilities).toBe(0);
    expect(() => hs.parseHandshakeResponse(Buffer.concat([u32(0), Buffer.alloc(40)]))).toThrow(/protocol 41/);
  });

  it('SSLRequest: 32 bytes with CLIENT_SSL', () => {
    const req = { capabilities: BASE, maxPacketSize: 1 << 24, charset: 45, mariadbCapabilities: 0 };
    const p = roundTrip((w) => hs.writeSslRequest(w, req));
    expect(p.length).toBe(32);
    expect(hs.isSslRequest(p.payload)).toBe(true);
    expect(hs.parseSslRequest(p.payload)).toEqual({ ...req, capabilities: (BASE | Capability.Ssl) >>> 0 });
    const maria = { capabilities: (BASE & ~Capability.LongPassword | Capability.Ssl) >>> 0, maxPacketSize: 0, charset: 8, mariadbCapabilities: 0x1f };
    expect(hs.parseSslRequest(roundTrip((w) => hs.writeSslRequest(w, maria)).payload)).toEqual(maria);
  });

  it('AuthSwitchRequest and AuthMoreData', () => {
    let p = roundTrip((w) => hs.writeAuthSwitchRequest(w, 2, 'mysql_clear_password', Buffer.alloc(0)));
    expect(p.payload.toString('latin1')).toBe('\xfemysql_clear_password\0');
    expect(hs.parseAuthSwitchRequest(p.payload)).toEqual({ pluginName: 'mysql_clear_password', data: Buffer.alloc(0) });
    p = roundTrip((w) => hs.writeAuthSwitchRequest(w, 2, 'mysql_native_password', scramble));
    const sw = hs.parseAuthSwitchRequest(p.payload);
    expect(sw.data.toString('latin1')).toBe('abcdefghijklmnopqrst\0');
    p = roundTrip((w) => hs.writeAuthMoreData(w, 3, 0x04));
    expect([...hs.parseAuthMoreData(p.payload)]).toEqual([4]);
    expect(hs.parseAuthMoreData(roundTrip((w) => hs.writeAuthMoreData(w, 3, Buffer.from('-----BEGIN'))).payload).toString()).toBe('-----BEGIN');
  });
});

describe('OK / ERR / EOF', () => {
  it('OK round-trips with and without session tracking', () => {
    for (const caps of [Capability.Protocol41, Capability.Protocol41 | Capability.SessionTrack]) {
      const ok = { header: 0, affectedRows: 3, lastInsertId: 2n ** 63n, status: ServerStatus.Autocommit | ServerStatus.InTrans, warnings: 1, info: 'Rows matched: 3', sessionState: null };
      expect(rs.parseOk(roundTrip((w) => rs.writeOk(w, 1, ok, caps)).payload, caps)).toEqual(ok);
    }
    const caps = Capability.Protocol41 | Capability.SessionTrack;
    const ok = { header: 0xfe, affectedRows: 0, lastInsertId: 0, status: ServerStatus.SessionStateChanged, warnings: 0, info: '', sessionState: Buffer.from([1, 2, 3]) };
    const got = rs.parseOk(roundTrip((w) => rs.writeOk(w, 1, ok, caps)).payload, caps);
    expect({ ...got, sessionState: Buffer.from(got.sessionState!) }).toEqual(ok);
    expect(rs.parseOk(pkt(0, Buffer.from([0, 0, 0, 2, 0, 0, 0])).subarray(4), Capability.Protocol41)).toMatchObject({ affectedRows: 0, status: 2, info: '' });
  });

  it('ERR with the SQLSTATE marker', () => {
    const p = roundTrip((w) => rs.writeErr(w, 2, { code: 1142, sqlState: '42000', message: 'DROP command denied by policy "no-ddl"' }));
    expect(p.payload.subarray(0, 9).toString('latin1')).toBe('\xff\x76\x04#42000');
    expect(rs.parseErr(p.payload)).toEqual({ code: 1142, sqlState: '42000', message: 'DROP command denied by policy "no-ddl"' });
    expect(rs.parseErr(Buffer.concat([u8(0xff), u16(1045), Buffer.from('denied')]))).toEqual({ code: 1045, sqlState: '', message: 'denied' });
  });

  it('EOF and the end-of-rows test', () => {
    const p = roundTrip((w) => rs.writeEof(w, 5, { warnings: 2, status: ServerStatus.MoreResultsExist }));
    expect(rs.isEofPacket(p.payload)).toBe(true);
    expect(rs.parseEof(p.payload)).toEqual({ warnings: 2, status: 8 });
    expect(rs.isResultSetEnd(p.payload, 0)).toBe(true);
    const okEnd = roundTrip((w) => rs.writeOk(w, 5, { header: 0xfe, info: 'x'.repeat(20) }, Capability.Protocol41)).payload;
    expect(rs.isResultSetEnd(okEnd, Capability.DeprecateEof)).toBe(true);
    expect(rs.isResultSetEnd(okEnd, 0)).toBe(false);
    expect(rs.isResultSetEnd(Buffer.from([1, 0x61]), 0)).toBe(false);
  });
});

describe('commands', () => {
  it('COM_QUERY plain and with query attributes', () => {
    let p = roundTrip((w) => c.writeComQuery(w, 'SELECT * FROM users'));
    expect(p.payload.toString('latin1')).toBe('\x03SELECT * FROM users');
    expect(c.parseComQuery(p.payload)).toEqual({ sql: 'SELECT * FROM users', sqlOffset: 1, attributes: [] });
    const caps = Capability.QueryAttributes;
    p = roundTrip((w) => c.writeComQuery(w, 'SELECT 1', caps));
    expect([...p.payload.subarray(0, 3)]).toEqual([3, 0, 1]);
    expect(c.parseComQuery(p.payload, caps).sql).toBe('SELECT 1');
    p = roundTrip((w) =>
      c.writeComQuery(w, 'SELECT 2', caps, [
        { type: ColumnType.VarString, name: 'trace', value: 'abc' },
        { type: ColumnType.Long, name: 'n', value: null },
        { type: ColumnType.LongLong, unsigned: true, name: 'big', value: 2n ** 64n - 1n },
      ]),
    );
    const q = c.parseComQuery(p.payload, caps);
    expect(q.sql).toBe('SELECT 2');
    expect(q.attributes.map((a) => [a.name, a.value, a.unsigned])).toEqual([
      ['trace', 'abc', false],
      ['n', null, false],
      ['big', '18446744073709551615', true],
    ]);
    // MariaDB never negotiates the capability: the same bytes read as plain SQL.
    expect(c.parseComQuery(p.payload, 0).sql.endsWith('SELECT 2')).toBe(true);
  });

  it('COM_INIT_DB, COM_STMT_PREPARE, COM_FIELD_LIST, simple commands', () => {
    expect(c.parseComInitDb(roundTrip((w) => c.writeCommand(w, Command.InitDb, 'shop')).payload)).toEqual({ schema: 'shop' });
    expect(c.parseComStmtPrepare(roundTrip((w) => c.writeCommand(w, Command.StmtPrepare, 'SELECT ?')).payload)).toEqual({ sql: 'SELECT ?' });
    expect(c.parseComFieldList(roundTrip((w) => c.writeComFieldList(w, 'users', 'e%')).payload)).toEqual({ table: 'users', wildcard: 'e%' });
    for (const cmd of [Command.Quit, Command.Ping, Command.Statistics, Command.ResetConnection]) {
      const p = roundTrip((w) => c.writeCommand(w, cmd));
      expect(c.commandOf(p.payload)).toBe(cmd);
      expect(c.parseSimpleCommand(p.payload, cmd)).toBe(cmd);
    }
    expect(() => c.parseComInitDb(Buffer.from([Command.Query, 0x61]))).toThrow(/command byte/);
    expect(c.parseComSetOption(Buffer.from([Command.SetOption, 1, 0]))).toEqual({ option: 1 });
  });

  it('COM_STMT_CLOSE / RESET / SEND_LONG_DATA / FETCH', () => {
    expect(c.parseComStmtClose(roundTrip((w) => c.writeStatementCommand(w, Command.StmtClose, 7)).payload)).toEqual({ statementId: 7 });
    expect(c.parseComStmtReset(roundTrip((w) => c.writeStatementCommand(w, Command.StmtReset, 8)).payload)).toEqual({ statementId: 8 });
    const ld = c.parseComStmtSendLongData(roundTrip((w) => c.writeComStmtSendLongData(w, 9, 2, Buffer.from('chunk'))).payload);
    expect({ ...ld, data: ld.data.toString() }).toEqual({ statementId: 9, paramId: 2, data: 'chunk' });
    expect(c.parseComStmtFetch(Buffer.concat([u8(Command.StmtFetch), u32(3), u32(100)]))).toEqual({ statementId: 3, rows: 100 });
  });

  it('COM_CHANGE_USER', () => {
    const caps = Capability.SecureConnection | Capability.PluginAuth | Capability.Protocol41;
    const p = roundTrip((w) => c.writeComChangeUser(w, { username: 'eve', authResponse: Buffer.from([1, 2]), database: 'x', charset: 45, authPluginName: 'mysql_native_password' }, caps));
    const got = c.parseComChangeUser(p.payload, caps);
    expect({ ...got, authResponse: [...got.authResponse] }).toEqual({ username: 'eve', authResponse: [1, 2], database: 'x', charset: 45, authPluginName: 'mysql_native_password', attributes: null });
  });

  const param = fc.oneof(
    fc.record({ type: fc.constant(ColumnType.Tiny), unsigned: fc.constant(false), value: fc.option(fc.integer({ min: -128, max: 127 }).map(String)) }),
    fc.record({ type: fc.constant(ColumnType.Short), unsigned: fc.constant(true), value: fc.option(fc.integer({ min: 0, max: 65535 }).map(String)) }),
    fc.record({ type: fc.constant(ColumnType.Long), unsigned: fc.constant(false), value: fc.option(fc.integer().map(String)) }),
    fc.record({ type: fc.constant(ColumnType.LongLong), unsigned: fc.boolean(), value: fc.option(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String)) }),
    fc.record({ type: fc.constant(ColumnType.Double), unsigned: fc.constant(false), value: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => String(Object.is(d, -0) ? 0 : d))) }),
    fc.record({ type: fc.constant(ColumnType.Float), unsigned: fc.constant(false), value: fc.option(fc.constantFrom('1.1', '0', '-3.5', '1e+30')) }),
    fc.record({ type: fc.constantFrom(ColumnType.VarString, ColumnType.Blob, ColumnType.NewDecimal, ColumnType.String), unsigned: fc.constant(false), value: fc.option(fc.string({ maxLength: 300 })) }),
    fc.record({ type: fc.constant(ColumnType.Date), unsigned: fc.constant(false), value: fc.option(fc.constantFrom('2024-02-29', '0000-00-00', '9999-12-31')) }),
    fc.record({ type: fc.constantFrom(ColumnType.DateTime, ColumnType.Timestamp), unsigned: fc.constant(false), value: fc.option(fc.constantFrom('2024-02-29 13:45:01', '2024-02-29 00:00:00', '2024-02-29 13:45:01.000120', '0000-00-00 00:00:00')) }),
    fc.record({ type: fc.constant(ColumnType.Time), unsigned: fc.constant(false), value: fc.option(fc.constantFrom('00:00:00', '-838:59:59', '12:00:01.500000', '25:00:00')) }),
  );

  it('COM_STMT_EXECUTE round-trips parameters in the binary protocol', () => {
    fc.assert(
      fc.property(fc.array(param, { maxLength: 12 }), fc.boolean(), fc.nat(), (params, attrs, id) => {
        const caps = attrs ? Capability.QueryAttributes : 0;
        const p = roundTrip((w) => c.writeComStmtExecute(w, { statementId: id >>> 0, params }, caps));
        expect(c.stmtExecuteStatementId(p.payload)).toBe(id >>> 0);
        const e = c.parseComStmtExecute(p.payload, { paramCount: params.length, capabilities: caps });
        expect(e.statementId).toBe(id >>> 0);
        expect(e.iterationCount).toBe(1);
        expect(e.newParamsBound).toBe(params.length > 0);
        expect(e.params.map((x) => ({ type: x.type, unsigned: x.unsigned, value: x.value }))).toEqual(params);
      }),
      { numRuns: 400 },
    );
  });

  it('COM_STMT_EXECUTE reuses previous types and skips long data', () => {
    const params = [
      { type: ColumnType.Long, value: '5' },
      { type: ColumnType.Blob, value: 'ignored' },
    ];
    const w = new BufferWriter();
    // Hand-built: bitmap 0, not rebound, value of param 0 only (param 1 came as long data).
    w.begin(0).uint8(Command.StmtExecute).uint32(1).uint8(CursorFlag.NoCursor).uint32(1).uint8(0).uint8(0).int32(-5).end();
    const [p] = new PacketFramer().push(w.take());
    expect(() => c.parseComStmtExecute(p.payload, { paramCount: 2 })).toThrow(/not bound/);
    const e = c.parseComStmtExecute(p.payload, {
      paramCount: 2,
      previousTypes: params.map((x) => ({ type: x.type, unsigned: false })),
      longData: new Set([1]),
    });
    expect(e.params.map((x) => [x.value, x.longData])).toEqual([['-5', false], [null, true]]);
  });
});

describe('result sets', () => {
  const col: res.ColumnDefinition = {
    catalog: 'def', schema: 'shop', table: 'u', orgTable: 'users', name: 'email', orgName: 'email', extendedInfo: null,
    charset: 45, length: 1020, type: ColumnType.VarString, flags: ColumnFlag.NotNull, decimals: 0, defaultValues: null,
  };

  it('column count and ColumnDefinition41 round-trip; masked definition is VAR_STRING', () => {
    expect(res.parseColumnCount(roundTrip((w) => res.writeColumnCount(w, 1, 3)).payload)).toEqual({ count: 3, metadataFollows: true });
    expect(res.parseColumnDefinition(roundTrip((w) => res.writeColumnDefinition(w, 2, col)).payload)).toEqual(col);
    const num = { ...col, name: 'card', type: ColumnType.LongLong, flags: ColumnFlag.Unsigned | ColumnFlag.Num | ColumnFlag.NotNull, charset: Charset.Binary, length: 20 };
    const m = res.maskedColumnDefinition(num);
    expect(m).toMatchObject({ type: ColumnType.VarString, flags: ColumnFlag.NotNull, charset: 45, decimals: 0 });
    expect(res.parseColumnDefinition(roundTrip((w) => res.writeColumnDefinition(w, 2, m)).payload)).toEqual(m);
    const ext = { ...col, extendedInfo: Buffer.from([0, 4, 106, 115, 111, 110]) };
    const got = res.parseColumnDefinition(roundTrip((w) => res.writeColumnDefinition(w, 2, ext)).payload, { extendedTypeInfo: true });
    expect([...got.extendedInfo!]).toEqual([...ext.extendedInfo]);
    const fl = { ...col, defaultValues: Buffer.from('x') };
    expect(res.parseColumnDefinition(roundTrip((w) => res.writeColumnDefinition(w, 2, fl)).payload, { fieldList: true }).defaultValues!.toString()).toBe('x');
  });

  it('ColumnDefinition41 from hand-built bytes', () => {
    const payload = Buffer.concat([lstr('def'), lstr('s'), lstr('t'), lstr('t'), lstr('id'), lstr('id'), u8(0x0c), u16(63), u32(11), u8(3), u16(0x4203), u8(0), u16(0)]);
    expect(res.parseColumnDefinition(payload)).toMatchObject({ name: 'id', charset: 63, length: 11, type: 3, flags: 0x4203 });
  });

  it('text rows: cursor walks cells, writer re-encodes', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.string({ maxLength: 300 })), { minLength: 1, maxLength: 20 }), (cells) => {
        const p = roundTrip((w) => res.writeTextRow(w, 4, cells));
        expect(res.parseTextRow(p.payload, cells.length).map((b) => (b === null ? null : b.toString('utf8')))).toEqual(cells);
        const cur = new res.TextRowCursor();
        cur.resetPacket(p, cells.length);
        let n = 0;
        while (cur.next()) n++;
        expect(n).toBe(cells.length);
        expect(() => res.parseTextRow(p.payload, cells.length + 1)).toThrow(/truncated/);
        if (cells.length > 1) expect(() => res.parseTextRow(p.payload, cells.length - 1)).toThrow(/trailing/);
      }),
      { numRuns: 300 },
    );
  });

  it('text row slab: rows written back to back are the same bytes the writer makes, and earlier rows stay intact', () => {
    const cell = fc.option(fc.oneof(fc.string({ maxLength: 300 }), fc.integer({ min: 60000, max: 70000 }).map((n) => 'é'.repeat(n))), { nil: null });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.array(cell, { minLength: 1, maxLength: 6 })), { minLength: 1, maxLength: 12 }), (rows) => {
        const slab = new res.TextRowSlab();
        const out = rows.map(([seq, cells]) => {
          slab.begin(seq);
          for (const x of cells) if (x === null) slab.null();
          else slab.text(x);
          return slab.end()!;
        });
        rows.forEach(([seq, cells], k) => {
          const w = new BufferWriter();
          res.writeTextRow(w, seq, cells);
          expect(out[k]!.equals(w.take())).toBe(true);
        });
      }),
      { numRuns: 60 },
    );
  });

  it('text row slab: copies unchanged spans; a row of 16 MiB - 1 or more is left to the splitting writer', () => {
    const slab = new res.TextRowSlab();
    const src = Buffer.from([0x03, 0x61, 0x62, 0x63]);
    slab.begin(7);
    slab.copy(src, 0, 4);
    slab.text('x');
    expect([...slab.end()!]).toEqual([6, 0, 0, 7, 0x03, 0x61, 0x62, 0x63, 0x01, 0x78]);
    slab.begin(1);
    slab.text('a'.repeat(0xffffff - 4));
    expect(slab.end()).toBeNull();
    slab.begin(2);
    slab.text('ok');
    expect([...slab.end()!]).toEqual([3, 0, 0, 2, 0x02, 0x6f, 0x6b]);
  });

  it('binary rows: decode, copy unchanged cells, re-encode a masked cell', () => {
    const cols: res.BinaryColumn[] = [
      { type: ColumnType.Long, flags: 0 },
      { type: ColumnType.VarString, flags: 0 },
      { type: ColumnType.DateTime, flags: 0 },
      { type: ColumnType.LongLong, flags: ColumnFlag.Unsigned },
      { type: ColumnType.Double, flags: 0 },
      { type: ColumnType.Null, flags: 0 },
      { type: ColumnType.Time, flags: 0 },
    ];
    const cells = ['-7', 'alice@example.com', '2024-01-02 03:04:05', '18446744073709551615', '2.5', null, '-01:02:03'];
    const p = roundTrip((w) => res.writeBinaryRow(w, 3, cols, cells));
    expect(p.payload[0]).toBe(0);
    expect(p.payload[1]).toBe(1 << 7); // column 5 NULL → bit 7
    expect(res.parseBinaryRow(p.payload, cols)).toEqual(cells);
    // Mask column 1 (now VAR_STRING anyway) and column 3 (LONGLONG → VAR_STRING), copy the rest.
    const cur = new res.BinaryRowCursor();
    cur.resetPacket(p, cols);
    const out: res.BinaryRowCell[] = [];
    while (cur.next()) {
      const enc = cur.encoded();
      out.push(cur.index === 1 ? 'a***@example.com' : cur.index === 3 ? '****' : enc === null ? null : { encoded: enc });
    }
    const maskedCols = cols.map((x, i) => (i === 1 || i === 3 ? { type: ColumnType.VarString, flags: 0 } : x));
    const m = roundTrip((w) => res.writeBinaryRow(w, 3, maskedCols, out));
    expect(res.parseBinaryRow(m.payload, maskedCols)).toEqual(['-7', 'a***@example.com', '2024-01-02 03:04:05', '****', '2.5', null, '-01:02:03']);
    expect(() => res.parseBinaryRow(m.payload, cols)).toThrow();
  });

  it('a binary cell\'s textLength is never below the length of its text (exact for integers of every width and sign)', () => {
    const ints: [number, boolean, fc.Arbitrary<bigint>][] = [
      [ColumnType.Tiny, false, fc.bigInt(-128n, 127n)],
      [ColumnType.Tiny, true, fc.bigInt(0n, 255n)],
      [ColumnType.Short, false, fc.bigInt(-32768n, 32767n)],
      [ColumnType.Short, true, fc.bigInt(0n, 65535n)],
      [ColumnType.Year, true, fc.bigInt(0n, 65535n)],
      [ColumnType.Int24, false, fc.bigInt(-8388608n, 8388607n)],
      [ColumnType.Long, false, fc.bigInt(-(2n ** 31n), 2n ** 31n - 1n)],
      [ColumnType.Long, true, fc.bigInt(0n, 2n ** 32n - 1n)],
      [ColumnType.LongLong, false, fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n)],
      [ColumnType.LongLong, true, fc.bigInt(0n, 2n ** 64n - 1n)],
    ];
    const pick = fc.constantFrom(...ints.keys());
    const cell = pick.chain((k) => ints[k]![2].map((v) => [k, v] as const));
    fc.assert(
      fc.property(fc.array(cell, { minLength: 1, maxLength: 6 }), fc.constantFrom('x', 'a@b.example', ''), (cells, str) => {
        const cols = [...cells.map(([k]) => ({ type: ints[k]![0], flags: ints[k]![1] ? ColumnFlag.Unsigned : 0 })), { type: ColumnType.VarString, flags: 0 }];
        const values = [...cells.map(([, v]) => String(v)), str];
        const p = roundTrip((w) => res.writeBinaryRow(w, 1, cols, values));
        const cur = new res.BinaryRowCursor();
        cur.resetPacket(p, cols);
        while (cur.next()) {
          const text = cur.text()!;
          expect(text).toBe(values[cur.index]);
          const n = cur.textLength;
          if (cur.index < cells.length && (cols[cur.index]!.type !== ColumnType.LongLong || Number.isSafeInteger(Number(cells[cur.index]![1])))) expect(n).toBe(text.length);
          else if (n >= 0) expect(n).toBeGreaterThanOrEqual(text.length);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('COM_STMT_PREPARE_OK', () => {
    const ok = { statementId: 42, columnCount: 3, paramCount: 2, warnings: 1 };
    expect(res.parseStmtPrepareOk(roundTrip((w) => res.writeStmtPrepareOk(w, 1, ok)).payload)).toEqual({ ...ok, metadataFollows: true });
    expect(res.parseStmtPrepareOk(Buffer.concat([u8(0), u32(1), u16(0), u16(0)]))).toMatchObject({ statementId: 1, warnings: 0 });
  });
});
