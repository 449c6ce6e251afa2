/*
 * fast-check generators of valid messages for the property tests: each case
 * knows how to write itself and what the parser must give back.
 * (Not exported from index.ts.)
 */
import fc from 'fast-check';
import type { BackendMessage } from './backend-messages.js';
import type { BackendWriter } from './backend-writer.js';
import type { FrontendMessage } from './frontend-messages.js';
import type { FrontendWriter } from './frontend-writer.js';

export interface Case<W, M> {
  write: (w: W) => void;
  expected: M;
}
export type FrontendCase = Case<FrontendWriter, FrontendMessage>;
export type BackendCase = Case<BackendWriter, BackendMessage>;

/** Text without NUL (any Unicode, so multi-byte UTF-8 is exercised). */
export const text = (maxLength = 24): fc.Arbitrary<string> =>
  fc.string({ unit: 'grapheme', maxLength }).map((s) => s.replaceAll('\0', ''));
export const nonEmptyText = (maxLength = 24): fc.Arbitrary<string> =>
  text(maxLength).filter((s) => s.length > 0);
export const bytes = (maxLength = 64): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength }).map((u) => Buffer.from(u));
export const int16 = fc.integer({ min: -0x8000, max: 0x7fff });
export const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
export const uint32 = fc.integer({ min: 0, max: 0xffffffff });
function int32Bytes(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

const values = fc.array(fc.option(bytes(32), { nil: null }), { maxLength: 6 });
const formats = fc.array(int16, { maxLength: 4 });
const target = fc.constantFrom<'S' | 'P'>('S', 'P');

export const frontendCase: fc.Arbitrary<FrontendCase> = fc.oneof(
  text(200).map((sql) => ({ write: (w: FrontendWriter) => void w.query(sql), expected: { kind: 'query', sql } as const })),
  fc.record({ name: text(), sql: text(200), paramTypes: fc.array(uint32, { maxLength: 5 }) }).map((m) => ({
    write: (w: FrontendWriter) => void w.parse(m.name, m.sql, m.paramTypes),
    expected: { kind: 'parse', ...m } as const,
  })),
  fc
    .record({ portal: text(), statement: text(), paramFormats: formats, params: values, resultFormats: formats })
    .map((m) => ({
      write: (w: FrontendWriter) => void w.bind(m.portal, m.statement, m.params, m.paramFormats, m.resultFormats),
      expected: { kind: 'bind', ...m } as const,
    })),
  fc.record({ target, name: text() }).map((m) => ({
    write: (w: FrontendWriter) => void w.describe(m.target, m.name),
    expected: { kind: 'describe', ...m } as const,
  })),
  fc.record({ portal: text(), maxRows: int32 }).map((m) => ({
    write: (w: FrontendWriter) => void w.execute(m.portal, m.maxRows),
    expected: { kind: 'execute', ...m } as const,
  })),
  fc.record({ target, name: text() }).map((m) => ({
    write: (w: FrontendWriter) => void w.close(m.target, m.name),
    expected: { kind: 'close', ...m } as const,
  })),
  fc.constant({ write: (w: FrontendWriter) => void w.sync(), expected: { kind: 'sync' } as const }),
  fc.constant({ write: (w: FrontendWriter) => void w.flush(), expected: { kind: 'flush' } as const }),
  fc.constant({ write: (w: FrontendWriter) => void w.terminate(), expected: { kind: 'terminate' } as const }),
  bytes(300).map((data) => ({ write: (w: FrontendWriter) => void w.copyData(data), expected: { kind: 'copyData', data } as const })),
  fc.constant({ write: (w: FrontendWriter) => void w.copyDone(), expected: { kind: 'copyDone' } as const }),
  text().map((message) => ({
    write: (w: FrontendWriter) => void w.copyFail(message),
    expected: { kind: 'copyFail', message } as const,
  })),
  text().map((pw) => ({
    write: (w: FrontendWriter) => void w.passwordMessage(pw),
    expected: { kind: 'password', data: Buffer.from(pw + '\0', 'utf8') } as const,
  })),
  fc.record({ functionOid: uint32, argFormats: formats, args: values, resultFormat: int16 }).map((m) => ({
    write: (w: FrontendWriter) => void w.functionCall(m.functionOid, m.args, m.argFormats, m.resultFormat),
    expected: { kind: 'functionCall', ...m } as const,
  })),
);

const field = fc.record({
  name: text(),
  tableOID: uint32,
  columnAttr: int16,
  typeOID: uint32,
  typeLen: int16,
  typeMod: int32,
  format: int16,
});

const noticeFields = fc.record(
  {
    severity: nonEmptyText(8),
    code: text(5),
    message: text(60),
    detail: text(),
    hint: text(),
    position: text(4),
    where: text(),
    table: text(),
    routine: text(),
  },
  { requiredKeys: ['severity', 'code', 'message'] },
);

/** The raw fields map a writer produces for `e` (S and V both carry severity). */
function letters(e: Record<string, string | undefined>): Record<string, string> {
  const map: Record<string, string> = { S: e.severity!, V: e.severity! };
  const codes: Record<string, string> = { code: 'C', message: 'M', detail: 'D', hint: 'H', position: 'P', where: 'W', table: 't', routine: 'R' };
  for (const [k, l] of Object.entries(codes)) if (e[k] !== undefined) map[l] = e[k]!;
  return map;
}

const empties = [
  ['parseComplete', (w: BackendWriter) => w.parseComplete()],
  ['bindComplete', (w: BackendWriter) => w.bindComplete()],
  ['closeComplete', (w: BackendWriter) => w.closeComplete()],
  ['noData', (w: BackendWriter) => w.noData()],
  ['portalSuspended', (w: BackendWriter) => w.portalSuspended()],
  ['emptyQueryResponse', (w: BackendWriter) => w.emptyQueryResponse()],
  ['copyDone', (w: BackendWriter) => w.copyDone()],
] as const;

export const backendCase: fc.Arbitrary<BackendCase> = fc.oneof(
  fc.constant({ write: (w: BackendWriter) => void w.authenticationOk(), expected: { kind: 'authentication', auth: { kind: 'ok' } } as const }),
  fc.constant({
    write: (w: BackendWriter) => void w.authenticationCleartextPassword(),
    expected: { kind: 'authentication', auth: { kind: 'cleartextPassword' } } as const,
  }),
  bytes(4)
    .filter((b) => b.length === 4)
    .map((salt) => ({
      write: (w: BackendWriter) => void w.authenticationMD5Password(salt),
      expected: { kind: 'authentication', auth: { kind: 'md5Password', salt } } as const,
    })),
  fc.array(nonEmptyText(20), { maxLength: 3 }).map((mechanisms) => ({
    write: (w: BackendWriter) => void w.authenticationSASL(mechanisms),
    expected: { kind: 'authentication', auth: { kind: 'sasl', mechanisms } } as const,
  })),
  bytes().map((data) => ({
    write: (w: BackendWriter) => void w.authenticationSASLContinue(data),
    expected: { kind: 'authentication', auth: { kind: 'saslContinue', data } } as const,
  })),
  bytes().map((data) => ({
    write: (w: BackendWriter) => void w.authenticationSASLFinal(data),
    expected: { kind: 'authentication', auth: { kind: 'saslFinal', data } } as const,
  })),
  fc.record({ name: text(), value: text() }).map((m) => ({
    write: (w: BackendWriter) => void w.parameterStatus(m.name, m.value),
    expected: { kind: 'parameterStatus', ...m } as const,
  })),
  fc.record({ processId: int32, key: int32 }).map((m) => ({
    write: (w: BackendWriter) => void w.backendKeyData(m.processId, m.key),
    expected: { kind: 'backendKeyData', processId: m.processId, secretKey: int32Bytes(m.key) } as const,
  })),
  fc.record({ processId: int32, secretKey: fc.uint8Array({ minLength: 4, maxLength: 256 }).map((u) => Buffer.from(u)) }).map((m) => ({
    write: (w: BackendWriter) => void w.backendKeyData(m.processId, m.secretKey),
    expected: { kind: 'backendKeyData', ...m } as const,
  })),
  fc.constantFrom<'I' | 'T' | 'E'>('I', 'T', 'E').map((status) => ({
    write: (w: BackendWriter) => void w.readyForQuery(status),
    expected: { kind: 'readyForQuery', status } as const,
  })),
  noticeFields.map((e) => ({
    write: (w: BackendWriter) => void w.errorResponse(e),
    expected: { kind: 'error', fields: letters(e) } as const,
  })),
  noticeFields.map((e) => ({
    write: (w: BackendWriter) => void w.noticeResponse(e),
    expected: { kind: 'notice', fields: letters(e) } as const,
  })),
  fc.array(field, { maxLength: 5 }).map((fields) => ({
    write: (w: BackendWriter) => void w.rowDescription(fields),
    expected: { kind: 'rowDescription', fields } as const,
  })),
  fc.array(uint32, { maxLength: 5 }).map((types) => ({
    write: (w: BackendWriter) => void w.parameterDescription(types),
    expected: { kind: 'parameterDescription', types } as const,
  })),
  values.map((cells) => ({
    write: (w: BackendWriter) => void w.dataRow(cells),
    expected: { kind: 'dataRow', cells } as const,
  })),
  text(30).map((tag) => ({
    write: (w: BackendWriter) => void w.commandComplete(tag),
    expected: { kind: 'commandComplete', tag } as const,
  })),
  fc
    .record({
      kind: fc.constantFrom('copyInResponse', 'copyOutResponse', 'copyBothResponse') as fc.Arbitrary<
        'copyInResponse' | 'copyOutResponse' | 'copyBothResponse'
      >,
      format: fc.integer({ min: -128, max: 127 }),
      columnFormats: formats,
    })
    .map((m) => ({
      write: (w: BackendWriter) => void w[m.kind](m.format, m.columnFormats),
      expected: m,
    })),
  bytes(300).map((data) => ({ write: (w: BackendWriter) => void w.copyData(data), expected: { kind: 'copyData', data } as const })),
  fc.constantFrom(...empties).map(([kind, write]) => ({ write: (w: BackendWriter) => void write(w), expected: { kind } })),
  fc.record({ version: int32, unrecognizedOptions: fc.array(text(), { maxLength: 3 }) }).map((m) => ({
    write: (w: BackendWriter) => void w.negotiateProtocolVersion(m.version, m.unrecognizedOptions),
    expected: { kind: 'negotiateProtocolVersion', ...m } as const,
  })),
  fc.record({ processId: int32, channel: text(), payload: text() }).map((m) => ({
    write: (w: BackendWriter) => void w.notificationResponse(m.processId, m.channel, m.payload),
    expected: { kind: 'notification', ...m } as const,
  })),
  fc.option(bytes(), { nil: null }).map((result) => ({
    write: (w: BackendWriter) => void w.functionCallResponse(result),
    expected: { kind: 'functionCallResponse', result } as const,
  })),
) as fc.Arbitrary<BackendCase>;
