import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors.js';
import { FrontendWriter } from './frontend-writer.js';
import { parseEncryptionResponse, parseStartupPacket } from './startup.js';
import { BackendWriter } from './backend-writer.js';
import { cstr, i32, packet } from './test-fixtures.js';

const pairs = (...kv: string[]) => kv.map(cstr);
const END = Buffer.from([0]);

describe('parseStartupPacket', () => {
  it('parses a 3.0 StartupMessage and its parameters in order', () => {
    const p = parseStartupPacket(
      packet(i32(196608), ...pairs('user', 'alice', 'database', 'prod', 'application_name', 'psql', 'options', '-c x=1', 'replication', 'database'), END),
    );
    expect(p).toMatchObject({ kind: 'startup', version: 196608, major: 3, minor: 0, negotiate: false });
    if (p.kind !== 'startup') throw new Error();
    expect([...p.params]).toEqual([
      ['user', 'alice'],
      ['database', 'prod'],
      ['application_name', 'psql'],
      ['options', '-c x=1'],
      ['replication', 'database'],
    ]);
  });

  it('parses 3.2, separating _pq_. protocol options', () => {
    const p = parseStartupPacket(packet(i32(196610), ...pairs('user', 'u', '_pq_.test', 'on'), END));
    if (p.kind !== 'startup') throw new Error();
    expect(p.minor).toBe(2);
    expect(p.negotiate).toBe(false);
    expect(p.params).toEqual(new Map([['user', 'u']]));
    expect(p.protocolOptions).toEqual(new Map([['_pq_.test', 'on']]));
  });

  it('flags a newer 3.x minor for NegotiateProtocolVersion', () => {
    const p = parseStartupPacket(packet(i32((3 << 16) | 9), ...pairs('user', 'u'), END));
    expect(p).toMatchObject({ kind: 'startup', major: 3, minor: 9, negotiate: true });
  });

  it('accepts an empty parameter list (the server then asks for a user)', () => {
    const p = parseStartupPacket(packet(i32(196608), END));
    expect(p).toMatchObject({ kind: 'startup', params: new Map() });
  });

  it('round-trips FrontendWriter.startupMessage', () => {
    const raw = new FrontendWriter().startupMessage({ user: 'ü', database: 'd' }, 196610).take();
    const p = parseStartupPacket(raw);
    expect(p).toMatchObject({ kind: 'startup', version: 196610, params: new Map([['user', 'ü'], ['database', 'd']]) });
    expect(p.raw).toBe(raw);
  });

  it('round-trips SSLRequest, GSSENCRequest and CancelRequest (3.0 and 3.2)', () => {
    const w = new FrontendWriter();
    expect(parseStartupPacket(w.sslRequest().take()).kind).toBe('ssl');
    expect(parseStartupPacket(w.gssencRequest().take()).kind).toBe('gssenc');
    const c30 = parseStartupPacket(w.cancelRequest(12, 0x01020304).take());
    expect(c30).toMatchObject({ kind: 'cancel', processId: 12, secretKey: Buffer.from([1, 2, 3, 4]) });
    const key = Buffer.alloc(256, 5);
    expect(parseStartupPacket(w.cancelRequest(-1, key).take())).toMatchObject({ kind: 'cancel', processId: -1, secretKey: key });
    expect(() => w.cancelRequest(1, Buffer.alloc(3))).toThrow(ProtocolError);
    expect(() => w.cancelRequest(1, Buffer.alloc(257))).toThrow(ProtocolError);
  });

  it.each([
    ['protocol 2.0', packet(i32(2 << 16), ...pairs('user', 'u'), END)],
    ['protocol 4.0', packet(i32(4 << 16), ...pairs('user', 'u'), END)],
    ['an unknown 1234.x request code', packet(i32(80877199))],
    ['SSLRequest with a body', packet(i32(80877103), i32(0))],
    ['GSSENCRequest with a body', packet(i32(80877104), Buffer.from([0]))],
    ['CancelRequest without a key', packet(i32(80877102), i32(1))],
    ['CancelRequest with a 3-byte key', packet(i32(80877102), i32(1), Buffer.alloc(3))],
    ['CancelRequest with a 257-byte key', packet(i32(80877102), i32(1), Buffer.alloc(257))],
    ['a missing terminator', packet(i32(196608), ...pairs('user', 'u'))],
    ['a name without a value', packet(i32(196608), cstr('user'))],
    ['a value without its NUL', packet(i32(196608), cstr('user'), Buffer.from('u'))],
    ['bytes after the terminator', packet(i32(196608), ...pairs('user', 'u'), END, Buffer.from('x'))],
    ['a length word that lies', Buffer.concat([i32(99), i32(196608), END])],
    ['a packet shorter than 8', Buffer.concat([i32(4), i32(0)]).subarray(0, 4)],
  ])('refuses %s', (_, raw) => {
    expect(() => parseStartupPacket(raw)).toThrow(ProtocolError);
  });
});

describe('parseEncryptionResponse', () => {
  it('reads the single-byte answers the BackendWriter writes', () => {
    const w = new BackendWriter();
    expect(parseEncryptionResponse(w.sslResponse(true).take())).toBe('S');
    expect(parseEncryptionResponse(w.sslResponse(false).take())).toBe('N');
    expect(parseEncryptionResponse(w.gssencResponse(true).take())).toBe('G');
  });

  it('refuses bytes behind the answer, an empty chunk and other bytes', () => {
    expect(() => parseEncryptionResponse(Buffer.from('SE'))).toThrow(ProtocolError);
    expect(() => parseEncryptionResponse(Buffer.alloc(0))).toThrow(ProtocolError);
    expect(() => parseEncryptionResponse(Buffer.from('E'))).toThrow(ProtocolError);
  });
});
