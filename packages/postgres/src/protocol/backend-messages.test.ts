import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  commandTagRows,
  parseAuthentication,
  parseBackendKeyData,
  parseBackendMessage,
  parseCommandComplete,
  parseCopyResponse,
  parseEmpty,
  parseNegotiateProtocolVersion,
  parseNoticeFields,
  parseParameterStatus,
  parseReadyForQuery,
  parseRowDescription,
} from './backend-messages.js';
import { BackendWriter } from './backend-writer.js';
import { errorFieldsFromNotice } from './error-fields.js';
import { ProtocolError } from './errors.js';
import { BackendFramer, type FramedMessage } from './framer.js';
import { backendCase } from './test-arbitraries.js';
import { ch, cstr, i16, i32, i8, msg } from './test-fixtures.js';

function roundTrip(write: (w: BackendWriter) => unknown): FramedMessage[] {
  const w = new BackendWriter();
  write(w);
  return new BackendFramer().push(w.take());
}
const one = (write: (w: BackendWriter) => unknown) => {
  const [m, ...rest] = roundTrip(write);
  expect(rest).toEqual([]);
  return parseBackendMessage(m.type, m.payload);
};

describe('backend messages: writer → framer → parser', () => {
  it('Authentication: Ok, CleartextPassword, MD5Password, SASL, SASLContinue, SASLFinal', () => {
    expect(one((w) => w.authenticationOk())).toEqual({ kind: 'authentication', auth: { kind: 'ok' } });
    expect(one((w) => w.authenticationCleartextPassword())).toEqual({ kind: 'authentication', auth: { kind: 'cleartextPassword' } });
    expect(one((w) => w.authenticationMD5Password(Buffer.from([9, 8, 7, 6])))).toEqual({
      kind: 'authentication',
      auth: { kind: 'md5Password', salt: Buffer.from([9, 8, 7, 6]) },
    });
    expect(one((w) => w.authenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']))).toEqual({
      kind: 'authentication',
      auth: { kind: 'sasl', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] },
    });
    expect(one((w) => w.authenticationSASLContinue(Buffer.from('r=abc,s=xyz,i=4096')))).toEqual({
      kind: 'authentication',
      auth: { kind: 'saslContinue', data: Buffer.from('r=abc,s=xyz,i=4096') },
    });
    expect(one((w) => w.authenticationSASLFinal(Buffer.from('v=sig')))).toEqual({
      kind: 'authentication',
      auth: { kind: 'saslFinal', data: Buffer.from('v=sig') },
    });
  });

  it('ParameterStatus, ReadyForQuery, CommandComplete', () => {
    expect(one((w) => w.parameterStatus('server_version', '17.2'))).toEqual({ kind: 'parameterStatus', name: 'server_version', value: '17.2' });
    expect(one((w) => w.readyForQuery('T'))).toEqual({ kind: 'readyForQuery', status: 'T' });
    expect(one((w) => w.commandComplete('INSERT 0 5'))).toEqual({ kind: 'commandComplete', tag: 'INSERT 0 5' });
  });

  it('BackendKeyData: 3.0 int key and 3.2 variable key', () => {
    expect(one((w) => w.backendKeyData(1234, 0x0a0b0c0d))).toEqual({
      kind: 'backendKeyData',
      processId: 1234,
      secretKey: Buffer.from([10, 11, 12, 13]),
    });
    const key = Buffer.alloc(32, 0x5a);
    expect(one((w) => w.backendKeyData(1234, key))).toEqual({ kind: 'backendKeyData', processId: 1234, secretKey: key });
    expect(() => new BackendWriter().backendKeyData(1, Buffer.alloc(2))).toThrow(ProtocolError);
  });

  it('ErrorResponse and NoticeResponse carry S, V, C, M, D, H and the rest', () => {
    const e = { severity: 'ERROR', code: '42501', message: 'permission denied', detail: 'policy p1', hint: 'ask', position: '8' };
    const m = one((w) => w.errorResponse(e));
    expect(m).toEqual({ kind: 'error', fields: { S: 'ERROR', V: 'ERROR', C: '42501', M: 'permission denied', D: 'policy p1', H: 'ask', P: '8' } });
    if (m.kind !== 'error') throw new Error();
    expect(errorFieldsFromNotice(m.fields)).toEqual(e);
    expect(one((w) => w.noticeResponse({ severity: 'NOTICE', code: '00000', message: 'waiting for approval' }))).toEqual({
      kind: 'notice',
      fields: { S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'waiting for approval' },
    });
  });

  it('RowDescription with defaults', () => {
    expect(one((w) => w.rowDescription([{ name: 'id', typeOID: 23, typeLen: 4 }, { name: 'ssn', typeOID: 25, tableOID: 16384, columnAttr: 3 }]))).toEqual({
      kind: 'rowDescription',
      fields: [
        { name: 'id', tableOID: 0, columnAttr: 0, typeOID: 23, typeLen: 4, typeMod: -1, format: 0 },
        { name: 'ssn', tableOID: 16384, columnAttr: 3, typeOID: 25, typeLen: -1, typeMod: -1, format: 0 },
      ],
    });
  });

  it('DataRow with bytes, text, empty and NULL cells', () => {
    expect(one((w) => w.dataRow([Buffer.from('1'), 'ü', '', null]))).toEqual({
      kind: 'dataRow',
      cells: [Buffer.from('1'), Buffer.from('ü'), Buffer.alloc(0), null],
    });
  });

  it('Copy responses, CopyData, CopyDone', () => {
    expect(one((w) => w.copyInResponse(0, [0, 0]))).toEqual({ kind: 'copyInResponse', format: 0, columnFormats: [0, 0] });
    expect(one((w) => w.copyOutResponse(1, [1]))).toEqual({ kind: 'copyOutResponse', format: 1, columnFormats: [1] });
    expect(one((w) => w.copyBothResponse(0, []))).toEqual({ kind: 'copyBothResponse', format: 0, columnFormats: [] });
    expect(one((w) => w.copyData(Buffer.from('x')))).toEqual({ kind: 'copyData', data: Buffer.from('x') });
    expect(one((w) => w.copyDone())).toEqual({ kind: 'copyDone' });
  });

  it('the empty ones', () => {
    expect(one((w) => w.parseComplete())).toEqual({ kind: 'parseComplete' });
    expect(one((w) => w.bindComplete())).toEqual({ kind: 'bindComplete' });
    expect(one((w) => w.closeComplete())).toEqual({ kind: 'closeComplete' });
    expect(one((w) => w.noData())).toEqual({ kind: 'noData' });
    expect(one((w) => w.portalSuspended())).toEqual({ kind: 'portalSuspended' });
    expect(one((w) => w.emptyQueryResponse())).toEqual({ kind: 'emptyQueryResponse' });
  });

  it('NegotiateProtocolVersion', () => {
    expect(one((w) => w.negotiateProtocolVersion(196610, ['_pq_.unknown']))).toEqual({
      kind: 'negotiateProtocolVersion',
      version: 196610,
      unrecognizedOptions: ['_pq_.unknown'],
    });
  });

  it('every generated message round-trips, alone and in a stream', () => {
    fc.assert(
      fc.property(fc.array(backendCase, { maxLength: 20 }), (cases) => {
        const msgs = roundTrip((w) => cases.forEach((c) => c.write(w)));
        expect(msgs.map((m) => parseBackendMessage(m.type, m.payload))).toEqual(cases.map((c) => c.expected));
      }),
      { numRuns: 300 },
    );
  });

  it('SSL and GSSENC answers are single unframed bytes', () => {
    const w = new BackendWriter();
    expect([...w.sslResponse(true).sslResponse(false).gssencResponse(true).gssencResponse(false).take()]).toEqual(
      [ch('S'), ch('N'), ch('G'), ch('N')],
    );
  });
});

describe('backend messages: hand-built fixtures', () => {
  it('match what the writer produces', () => {
    const w = new BackendWriter();
    expect(w.authenticationOk().take()).toEqual(msg('R', i32(0)));
    expect(w.authenticationSASL(['SCRAM-SHA-256']).take()).toEqual(msg('R', i32(10), cstr('SCRAM-SHA-256'), Buffer.from([0])));
    expect(w.backendKeyData(7, 9).take()).toEqual(msg('K', i32(7), i32(9)));
    expect(w.readyForQuery('I').take()).toEqual(msg('Z', Buffer.from('I')));
    expect(w.dataRow([null, 'a']).take()).toEqual(msg('D', i16(2), i32(-1), i32(1), Buffer.from('a')));
    expect(w.rowDescription([{ name: 'a', typeOID: 25 }]).take()).toEqual(
      msg('T', i16(1), cstr('a'), i32(0), i16(0), i32(25), i16(-1), i32(-1), i16(0)),
    );
    expect(w.errorResponse({ severity: 'FATAL', code: '28P01', message: 'no' }).take()).toEqual(
      msg('E', i8(ch('S')), cstr('FATAL'), i8(ch('V')), cstr('FATAL'), i8(ch('C')), cstr('28P01'), i8(ch('M')), cstr('no'), i8(0)),
    );
    expect(w.negotiateProtocolVersion(196610).take()).toEqual(msg('v', i32(196610), i32(0)));
  });

  it('writers refuse what cannot be encoded', () => {
    const w = new BackendWriter();
    expect(() => w.errorResponse({ severity: 'ERROR', code: 'XX000', message: 'a\0b' })).toThrow(ProtocolError);
    expect(() => w.dataRow(new Array(70000).fill(null))).toThrow(ProtocolError);
    expect(() => w.authenticationMD5Password(Buffer.alloc(3))).toThrow(ProtocolError);
    expect(() => w.authenticationSASL([''])).toThrow(ProtocolError);
    expect(w.take().length).toBe(0);
  });

  it('commandTagRows reads the row count of a tag', () => {
    expect(commandTagRows('INSERT 0 5')).toBe(5);
    expect(commandTagRows('SELECT 12')).toBe(12);
    expect(commandTagRows('UPDATE 0')).toBe(0);
    expect(commandTagRows('COPY 3')).toBe(3);
    expect(commandTagRows('CREATE TABLE')).toBe(null);
    expect(commandTagRows('BEGIN')).toBe(null);
    expect(commandTagRows('')).toBe(null);
  });
});

describe('backend messages: malformed payloads throw ProtocolError', () => {
  const cases: Array<[string, () => unknown]> = [
    ['Authentication without a code', () => parseAuthentication(Buffer.alloc(2))],
    ['Authentication with an unknown code', () => parseAuthentication(i32(99))],
    ['AuthenticationOk with trailing bytes', () => parseAuthentication(Buffer.concat([i32(0), i8(1)]))],
    ['AuthenticationMD5Password with a short salt', () => parseAuthentication(Buffer.concat([i32(5), Buffer.alloc(3)]))],
    ['AuthenticationSASL without the final NUL', () => parseAuthentication(Buffer.concat([i32(10), cstr('SCRAM-SHA-256')]))],
    ['ParameterStatus without a value', () => parseParameterStatus(cstr('a'))],
    ['BackendKeyData with a 2-byte key', () => parseBackendKeyData(Buffer.concat([i32(1), Buffer.alloc(2)]))],
    ['BackendKeyData with a 257-byte key', () => parseBackendKeyData(Buffer.concat([i32(1), Buffer.alloc(257)]))],
    ['ReadyForQuery with a bad status', () => parseReadyForQuery(Buffer.from('X'))],
    ['ReadyForQuery with two bytes', () => parseReadyForQuery(Buffer.from('II'))],
    ['ErrorResponse without the terminator', () => parseNoticeFields(Buffer.concat([i8(ch('M')), cstr('x')]))],
    ['ErrorResponse with a field without NUL', () => parseNoticeFields(Buffer.concat([i8(ch('M')), Buffer.from('x')]))],
    ['RowDescription with a count beyond the payload', () => parseRowDescription(Buffer.concat([i16(3), cstr('a')]))],
    ['RowDescription truncated in a field', () => parseRowDescription(Buffer.concat([i16(1), cstr('a'), i32(0)]))],
    ['RowDescription with trailing bytes', () => parseRowDescription(Buffer.concat([i16(0), i8(0)]))],
    ['CommandComplete without NUL', () => parseCommandComplete(Buffer.from('SELECT 1'))],
    ['CopyResponse with a count beyond the payload', () => parseCopyResponse(Buffer.concat([i8(0), i16(4), i16(0)]))],
    ['NegotiateProtocolVersion with a count beyond the payload', () => parseNegotiateProtocolVersion(Buffer.concat([i32(196608), i32(0x7fffffff)]))],
    ['NegotiateProtocolVersion with a missing option', () => parseNegotiateProtocolVersion(Buffer.concat([i32(196608), i32(2), cstr('a')]))],
    ['ParseComplete with a body', () => parseEmpty(Buffer.from([1]), 'ParseComplete')],
    ['an unknown message type', () => parseBackendMessage(ch('?'), Buffer.alloc(0))],
    ['DataRow with a cell running past the end', () => parseBackendMessage(ch('D'), Buffer.concat([i16(1), i32(5), Buffer.from('ab')]))],
  ];
  it.each(cases)('%s', (_, fn) => {
    expect(fn).toThrow(ProtocolError);
  });
});
