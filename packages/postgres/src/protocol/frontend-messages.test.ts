import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors.js';
import { FrontendFramer } from './frontend-framer.js';
import type { FramedMessage } from './framer.js';
import {
  bindParamFormat,
  parseBind,
  parseClose,
  parseCopyData,
  parseCopyDone,
  parseCopyFail,
  parseDescribe,
  parseExecute,
  parseFlush,
  parseFrontendMessage,
  parseFunctionCall,
  parseParse,
  parsePasswordMessage,
  parseQuery,
  parseSASLInitialResponse,
  parseSASLResponse,
  parseSync,
  parseTerminate,
} from './frontend-messages.js';
import { FrontendWriter } from './frontend-writer.js';
import { md5Password } from './md5.js';
import { frontendCase } from './test-arbitraries.js';
import { ch, cstr, i16, i32, i8, msg } from './test-fixtures.js';

/** Writer → framer (regular mode) → messages. */
function roundTrip(write: (w: FrontendWriter) => unknown): FramedMessage[] {
  const w = new FrontendWriter();
  write(w);
  return new FrontendFramer({ startup: false }).push(w.take()) as FramedMessage[];
}
const one = (write: (w: FrontendWriter) => unknown) => {
  const [m, ...rest] = roundTrip(write);
  expect(rest).toEqual([]);
  return parseFrontendMessage(m.type, m.payload);
};
const payloadOf = (wire: Buffer) => wire.subarray(5);

describe('frontend messages: writer → framer → parser', () => {
  it('Query', () => {
    expect(one((w) => w.query('select * from t where a = $1 -- ü'))).toEqual({ kind: 'query', sql: 'select * from t where a = $1 -- ü' });
  });

  it('Parse', () => {
    expect(one((w) => w.parse('s1', 'select $1::int', [23, 0xffffffff]))).toEqual({
      kind: 'parse',
      name: 's1',
      sql: 'select $1::int',
      paramTypes: [23, 0xffffffff],
    });
  });

  it('Bind, with NULL and empty parameters', () => {
    const m = one((w) => w.bind('p', 's1', [Buffer.from('42'), null, Buffer.alloc(0), 'txt'], [0, 1], [1]));
    expect(m).toEqual({
      kind: 'bind',
      portal: 'p',
      statement: 's1',
      paramFormats: [0, 1],
      params: [Buffer.from('42'), null, Buffer.alloc(0), Buffer.from('txt')],
      resultFormats: [1],
    });
  });

  it('Describe, Execute, Close', () => {
    expect(one((w) => w.describe('S', 's1'))).toEqual({ kind: 'describe', target: 'S', name: 's1' });
    expect(one((w) => w.describe('P', ''))).toEqual({ kind: 'describe', target: 'P', name: '' });
    expect(one((w) => w.execute('p', 100))).toEqual({ kind: 'execute', portal: 'p', maxRows: 100 });
    expect(one((w) => w.close('P', 'p'))).toEqual({ kind: 'close', target: 'P', name: 'p' });
  });

  it('Sync, Flush, Terminate, CopyDone', () => {
    expect(one((w) => w.sync())).toEqual({ kind: 'sync' });
    expect(one((w) => w.flush())).toEqual({ kind: 'flush' });
    expect(one((w) => w.terminate())).toEqual({ kind: 'terminate' });
    expect(one((w) => w.copyDone())).toEqual({ kind: 'copyDone' });
  });

  it('CopyData, CopyFail', () => {
    expect(one((w) => w.copyData(Buffer.from('1\tx\n')))).toEqual({ kind: 'copyData', data: Buffer.from('1\tx\n') });
    expect(one((w) => w.copyFail('aborted'))).toEqual({ kind: 'copyFail', message: 'aborted' });
  });

  it('FunctionCall', () => {
    expect(one((w) => w.functionCall(1598, [Buffer.from([1]), null], [1], 1))).toEqual({
      kind: 'functionCall',
      functionOid: 1598,
      argFormats: [1],
      args: [Buffer.from([1]), null],
      resultFormat: 1,
    });
  });

  it('PasswordMessage (cleartext and md5)', () => {
    const [m] = roundTrip((w) => w.passwordMessage('s3cret'));
    expect(m.type).toBe(ch('p'));
    expect(parsePasswordMessage(m.payload)).toBe('s3cret');
    const hashed = md5Password('postgres', 'secret', Buffer.from([1, 2, 3, 4]));
    const [h] = roundTrip((w) => w.passwordMessage(hashed));
    expect(parsePasswordMessage(h.payload)).toBe(hashed);
  });

  it('SASLInitialResponse and SASLResponse', () => {
    const [a, b, c] = roundTrip((w) =>
      w.saslInitialResponse('SCRAM-SHA-256', 'n,,n=,r=abc').saslInitialResponse('X', null).saslResponse('c=biws,r=abc,p=xyz'),
    );
    expect(parseSASLInitialResponse(a.payload)).toEqual({ mechanism: 'SCRAM-SHA-256', data: Buffer.from('n,,n=,r=abc') });
    expect(parseSASLInitialResponse(b.payload)).toEqual({ mechanism: 'X', data: null });
    expect(parseSASLResponse(c.payload).toString()).toBe('c=biws,r=abc,p=xyz');
  });

  it('every generated message round-trips, alone and in a stream', () => {
    fc.assert(
      fc.property(fc.array(frontendCase, { maxLength: 20 }), (cases) => {
        const msgs = roundTrip((w) => cases.forEach((c) => c.write(w)));
        expect(msgs.map((m) => parseFrontendMessage(m.type, m.payload))).toEqual(cases.map((c) => c.expected));
      }),
      { numRuns: 300 },
    );
  });
});

describe('frontend messages: hand-built fixtures', () => {
  it('match what the writer produces', () => {
    const w = new FrontendWriter();
    expect(w.query('select 1').take()).toEqual(msg('Q', cstr('select 1')));
    expect(w.parse('', 'select $1', [25]).take()).toEqual(msg('P', cstr(''), cstr('select $1'), i16(1), i32(25)));
    expect(w.bind('', '', [null, Buffer.from('a')], [], [1]).take()).toEqual(
      msg('B', cstr(''), cstr(''), i16(0), i16(2), i32(-1), i32(1), Buffer.from('a'), i16(1), i16(1)),
    );
    expect(w.describe('P', 'x').take()).toEqual(msg('D', Buffer.from('P'), cstr('x')));
    expect(w.execute('', 0).take()).toEqual(msg('E', cstr(''), i32(0)));
    expect(w.sync().take()).toEqual(msg('S'));
    expect(w.saslInitialResponse('M', null).take()).toEqual(msg('p', cstr('M'), i32(-1)));
  });

  it('bindParamFormat resolves 0, 1 and n format codes', () => {
    const bind = (paramFormats: number[]) => parseBind(payloadOf(new FrontendWriter().bind('', '', ['a', 'b'], paramFormats).take()));
    expect(bindParamFormat(bind([]), 1)).toBe(0);
    expect(bindParamFormat(bind([1]), 1)).toBe(1);
    expect(bindParamFormat(bind([0, 1]), 1)).toBe(1);
  });

  it('md5Password matches PostgreSQL (md5(md5(password + user) hex + salt))', () => {
    // md5('postgres' + 'postgres') = 3175bce1…, the well-known stored hash 'md53175bce1d3201d16594cebf9d7eb3f9d';
    // then md5('3175bce1d3201d16594cebf9d7eb3f9d' || 01 02 03 04).
    expect(md5Password('postgres', 'postgres', Buffer.from([1, 2, 3, 4]))).toBe('md568be9ed08db75f318087ab337aaea044');
    expect(() => md5Password('u', 'p', Buffer.alloc(3))).toThrow(RangeError);
  });
});

describe('frontend messages: malformed payloads throw ProtocolError', () => {
  const cases: Array<[string, () => unknown]> = [
    ['Query without NUL', () => parseQuery(Buffer.from('select 1'))],
    ['Query with trailing bytes', () => parseQuery(Buffer.concat([cstr('select 1'), cstr('drop table t')]))],
    ['Query, empty payload', () => parseQuery(Buffer.alloc(0))],
    ['Parse with a type count beyond the payload', () => parseParse(Buffer.concat([cstr(''), cstr('x'), i16(1000), i32(23)]))],
    ['Parse truncated in an OID', () => parseParse(Buffer.concat([cstr(''), cstr('x'), i16(1), Buffer.alloc(3)]))],
    ['Bind with a negative length other than -1', () => parseBind(Buffer.concat([cstr(''), cstr(''), i16(0), i16(1), i32(-2), i16(0)]))],
    ['Bind with a value running past the end', () => parseBind(Buffer.concat([cstr(''), cstr(''), i16(0), i16(1), i32(10), Buffer.from('abc'), i16(0)]))],
    ['Bind with a param count beyond the payload', () => parseBind(Buffer.concat([cstr(''), cstr(''), i16(0), i16(0xffff), i16(0)]))],
    ['Bind with a format count beyond the payload', () => parseBind(Buffer.concat([cstr(''), cstr(''), i16(50), i16(0), i16(0)]))],
    ['Bind missing result formats', () => parseBind(Buffer.concat([cstr(''), cstr(''), i16(0), i16(0)]))],
    ['Bind with trailing bytes', () => parseBind(Buffer.concat([cstr(''), cstr(''), i16(0), i16(0), i16(0), Buffer.from([0])]))],
    ['Bind with a portal name without NUL', () => parseBind(Buffer.from('portal'))],
    ['Describe with an invalid target', () => parseDescribe(Buffer.concat([Buffer.from('X'), cstr('s')]))],
    ['Describe without a name', () => parseDescribe(Buffer.from('S'))],
    ['Close with an invalid target', () => parseClose(Buffer.concat([Buffer.from([0]), cstr('s')]))],
    ['Execute truncated', () => parseExecute(Buffer.concat([cstr('p'), i16(0)]))],
    ['Execute with trailing bytes', () => parseExecute(Buffer.concat([cstr('p'), i32(0), i8(1)]))],
    ['Sync with a body', () => parseSync(Buffer.from([0]))],
    ['Flush with a body', () => parseFlush(Buffer.from([0]))],
    ['Terminate with a body', () => parseTerminate(Buffer.from([0]))],
    ['CopyDone with a body', () => parseCopyDone(Buffer.from([0]))],
    ['CopyFail without NUL', () => parseCopyFail(Buffer.from('x'))],
    ['FunctionCall missing the result format', () => parseFunctionCall(Buffer.concat([i32(1), i16(0), i16(0)]))],
    ['FunctionCall with a bad arg length', () => parseFunctionCall(Buffer.concat([i32(1), i16(0), i16(1), i32(-5), i16(0)]))],
    ['PasswordMessage without NUL', () => parsePasswordMessage(Buffer.from('pw'))],
    ['PasswordMessage with trailing bytes', () => parsePasswordMessage(Buffer.concat([cstr('pw'), Buffer.from('x')]))],
    ['SASLInitialResponse with a bad length', () => parseSASLInitialResponse(Buffer.concat([cstr('M'), i32(-3)]))],
    ['SASLInitialResponse with data shorter than announced', () => parseSASLInitialResponse(Buffer.concat([cstr('M'), i32(9), Buffer.from('ab')]))],
    ['SASLInitialResponse with trailing bytes', () => parseSASLInitialResponse(Buffer.concat([cstr('M'), i32(1), Buffer.from('ab')]))],
    ['an unknown message type', () => parseFrontendMessage(ch('Z'), Buffer.alloc(0))],
  ];
  it.each(cases)('%s', (_, fn) => {
    expect(fn).toThrow(ProtocolError);
  });

  it('CopyData takes any bytes', () => {
    expect(parseCopyData(Buffer.from([0, 1, 2])).data).toEqual(Buffer.from([0, 1, 2]));
  });
});
