import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors.js';
import { BackendFramer, type FramedMessage } from './framer.js';
import { FrontendFramer, isStartupPacket, type FrontendItem } from './frontend-framer.js';
import { ch, cstr, header, i16, i32, msg, packet, splitAt } from './test-fixtures.js';

const simple = (m: FramedMessage) => ({ type: String.fromCharCode(m.type), payload: m.payload.toString('latin1') });

describe('BackendFramer', () => {
  const stream = Buffer.concat([
    msg('T', i16(0)),
    msg('D', i16(1), i32(2), Buffer.from('hi')),
    msg('C', cstr('SELECT 1')),
    msg('Z', Buffer.from('I')),
  ]);

  it('frames whole messages as zero-copy views of the chunk', () => {
    const out = new BackendFramer().push(stream);
    expect(out.map(simple)).toEqual([
      { type: 'T', payload: '\0\0' },
      { type: 'D', payload: '\0\x01\0\0\0\x02hi' },
      { type: 'C', payload: 'SELECT 1\0' },
      { type: 'Z', payload: 'I' },
    ]);
    for (const m of out) {
      expect(m.raw.buffer).toBe(stream.buffer);
      expect(m.payload.buffer).toBe(stream.buffer);
      expect(m.raw.length).toBe(m.payload.length + 5);
      expect(m.raw[0]).toBe(m.type);
    }
    expect(Buffer.concat(out.map((m) => m.raw))).toEqual(stream);
  });

  it('reassembles messages split anywhere, even byte by byte', () => {
    const f = new BackendFramer();
    const out: FramedMessage[] = [];
    for (let i = 0; i < stream.length; i++) f.push(stream.subarray(i, i + 1), out);
    expect(out.map(simple)).toEqual(new BackendFramer().push(stream).map(simple));
    expect(f.bufferedBytes).toBe(0);
  });

  it('holds an incomplete tail until the rest arrives', () => {
    const f = new BackendFramer();
    const [a, b] = splitAt(stream, [12]);
    expect(f.push(a).length).toBe(1);
    expect(f.bufferedBytes).toBe(12 - 7);
    expect(f.push(b).length).toBe(3);
    expect(f.bufferedBytes).toBe(0);
  });

  it('exposes spans of a shared source so runs can be forwarded as one view', () => {
    const out = new BackendFramer().push(stream);
    for (let i = 1; i < out.length; i++) {
      expect(out[i].source).toBe(out[0].source);
      expect(out[i].start).toBe(out[i - 1].end);
    }
    expect(out[0].source.subarray(out[0].start, out[out.length - 1].end)).toEqual(stream);
    expect(out[1].length).toBe(out[1].raw.length);
    expect(out[1].payloadStart).toBe(out[1].start + 5);
    expect(out[1].raw).toBe(out[1].raw); // made once, then cached
    expect(out[1].payload).toBe(out[1].payload);
  });

  it('appends to a caller-supplied array', () => {
    const out: FramedMessage[] = [];
    const f = new BackendFramer();
    expect(f.push(stream, out)).toBe(out);
    expect(out.length).toBe(4);
  });

  it('accepts an empty chunk', () => {
    expect(new BackendFramer().push(Buffer.alloc(0))).toEqual([]);
  });

  it.each([
    ['0x7fffffff', 0x7fffffff],
    ['negative', -1],
    ['int32 min', -0x80000000],
    ['below 4', 3],
    ['zero', 0],
  ])('refuses an absurd length (%s) as soon as the header arrives', (_, len) => {
    const f = new BackendFramer();
    expect(() => f.push(header('D', len))).toThrow(ProtocolError);
  });

  it('refuses a length split across chunks once the header completes', () => {
    const f = new BackendFramer();
    const h = header('D', 0x7fffffff);
    f.push(h.subarray(0, 2));
    expect(() => f.push(h.subarray(2))).toThrow(ProtocolError);
  });

  it('honours a configured maximum', () => {
    const f = new BackendFramer({ maxMessageLength: 100 });
    expect(f.push(msg('d', Buffer.alloc(96))).length).toBe(1);
    expect(() => f.push(header('d', 101))).toThrow(/invalid message length 101/);
    expect(() => new BackendFramer({ maxMessageLength: 3 })).toThrow(RangeError);
  });

  it('stays failed after a violation', () => {
    const f = new BackendFramer();
    expect(() => f.push(header('D', 2))).toThrow(ProtocolError);
    expect(() => f.push(msg('Z', Buffer.from('I')))).toThrow(ProtocolError);
  });

  it('buffers only the bytes received for a huge announced message', () => {
    const f = new BackendFramer();
    f.push(header('d', 0x3fffffff));
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < 16; i++) expect(f.push(chunk)).toEqual([]);
    expect(f.bufferedBytes).toBe(5 + 16 * 64 * 1024);
  });

  it('copies a straddling message once, into a whole message', () => {
    const m = msg('d', Buffer.from('0123456789'));
    const f = new BackendFramer();
    f.push(m.subarray(0, 3));
    f.push(m.subarray(3, 9));
    const [out] = f.push(m.subarray(9));
    expect(out.raw).toEqual(m);
    expect(out.payload.toString()).toBe('0123456789');
    expect(out.payload.buffer).toBe(out.raw.buffer);
  });
});

function startupPacket(params: Record<string, string>, version = 196608): Buffer {
  return packet(i32(version), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0]));
}

const kinds = (items: FrontendItem[]) => items.map((i) => (isStartupPacket(i) ? i.kind : String.fromCharCode(i.type)));

describe('FrontendFramer', () => {
  it('parses a StartupMessage, then frames regular messages in the same chunk', () => {
    const f = new FrontendFramer();
    expect(f.phase).toBe('startup');
    const out = f.push(Buffer.concat([startupPacket({ user: 'alice', database: 'orders' }), msg('p', cstr('secret'))]));
    expect(kinds(out)).toEqual(['startup', 'p']);
    expect(f.phase).toBe('regular');
    const s = out[0];
    if (!isStartupPacket(s) || s.kind !== 'startup') throw new Error('expected startup');
    expect(s.params).toEqual(new Map([['user', 'alice'], ['database', 'orders']]));
    expect(s.version).toBe(196608);
  });

  it('answers SSLRequest, then takes the next startup packet in startup mode', () => {
    const f = new FrontendFramer();
    expect(kinds(f.push(packet(i32(80877103))))).toEqual(['ssl']);
    expect(f.phase).toBe('startup');
    expect(kinds(f.push(startupPacket({ user: 'u' })))).toEqual(['startup']);
  });

  it('takes GSSENCRequest then SSLRequest (gssencmode=prefer falling back)', () => {
    const f = new FrontendFramer();
    expect(kinds(f.push(packet(i32(80877104))))).toEqual(['gssenc']);
    expect(kinds(f.push(packet(i32(80877103))))).toEqual(['ssl']);
  });

  it('refuses bytes behind an SSLRequest in the same chunk (no plaintext smuggling)', () => {
    const f = new FrontendFramer();
    expect(() => f.push(Buffer.concat([packet(i32(80877103)), startupPacket({ user: 'u' })]))).toThrow(/after an SSL/);
    const g = new FrontendFramer();
    expect(() => g.push(Buffer.concat([packet(i32(80877103)), Buffer.from([0])]))).toThrow(ProtocolError);
  });

  it('refuses a second SSLRequest', () => {
    const f = new FrontendFramer();
    f.push(packet(i32(80877103)));
    expect(() => f.push(packet(i32(80877103)))).toThrow(/duplicate SSLRequest/);
  });

  it('parses a 3.0 CancelRequest and closes', () => {
    const f = new FrontendFramer();
    const [c] = f.push(packet(i32(80877102), i32(4242), i32(0xdeadbeef)));
    expect(c).toMatchObject({ kind: 'cancel', processId: 4242 });
    if (!isStartupPacket(c) || c.kind !== 'cancel') throw new Error('expected cancel');
    expect(c.secretKey.readUInt32BE(0)).toBe(0xdeadbeef);
    expect(f.phase).toBe('closed');
    expect(() => f.push(msg('Q', cstr('x')))).toThrow(/after CancelRequest/);
  });

  it('parses a 3.2 CancelRequest with a 32-byte key', () => {
    const key = Buffer.alloc(32, 0xab);
    const [c] = new FrontendFramer().push(packet(i32(80877102), i32(7), key));
    expect(c).toMatchObject({ kind: 'cancel', processId: 7, secretKey: key });
  });

  it('switches to regular framing when told', () => {
    const f = new FrontendFramer();
    f.startupDone();
    expect(kinds(f.push(msg('Q', cstr('select 1'))))).toEqual(['Q']);
    expect(kinds(new FrontendFramer({ startup: false }).push(msg('S')))).toEqual(['S']);
  });

  it('refuses startupDone() with half a startup packet held', () => {
    const f = new FrontendFramer();
    f.push(startupPacket({ user: 'u' }).subarray(0, 6));
    expect(() => f.startupDone()).toThrow(ProtocolError);
  });

  it.each([
    ['shorter than 8', 7],
    ['negative', -8],
    ['longer than 10000 after the length word', 10005],
    ['0x7fffffff', 0x7fffffff],
  ])('refuses a startup length %s as soon as 4 bytes arrive', (_, len) => {
    expect(() => new FrontendFramer().push(i32(len))).toThrow(/invalid length of startup packet/);
  });

  it('accepts the largest startup packet PostgreSQL accepts (10000 bytes after the length word)', () => {
    const largest = startupPacket({ u: 'x'.repeat(9992) });
    expect(largest.length).toBe(10004);
    expect(kinds(new FrontendFramer().push(largest))).toEqual(['startup']);
    expect(() => new FrontendFramer().push(startupPacket({ u: 'x'.repeat(9993) }))).toThrow(ProtocolError);
  });

  it('frames a startup packet split byte by byte', () => {
    const f = new FrontendFramer();
    const p = Buffer.concat([startupPacket({ user: 'bob', application_name: 'psql' }), msg('Q', cstr('select 1'))]);
    const out: FrontendItem[] = [];
    for (let i = 0; i < p.length; i++) f.push(p.subarray(i, i + 1), out);
    expect(kinds(out)).toEqual(['startup', 'Q']);
  });

  it('refuses an unknown message type at its header', () => {
    const f = new FrontendFramer({ startup: false });
    expect(() => f.push(Buffer.from([ch('Z')]))).not.toThrow();
    expect(() => f.push(i32(4))).toThrow(/invalid message type 0x5a/);
    expect(() => new FrontendFramer({ startup: false }).push(header('R', 8))).toThrow(ProtocolError);
  });

  it('applies PostgreSQL per-type limits: small messages 10000, auth 65535, large 1 GiB', () => {
    const small = () => new FrontendFramer({ startup: false });
    expect(() => small().push(header('S', 10000))).not.toThrow();
    expect(() => small().push(header('S', 10001))).toThrow(ProtocolError);
    expect(() => small().push(header('E', 10001))).toThrow(ProtocolError);
    expect(() => small().push(header('p', 65535))).not.toThrow();
    expect(() => small().push(header('p', 65536))).toThrow(ProtocolError);
    expect(() => small().push(header('Q', 0x3fffffff))).not.toThrow();
    expect(() => small().push(header('Q', 0x40000000))).toThrow(ProtocolError);
    const lowered = new FrontendFramer({ startup: false, maxMessageLength: 1 << 20 });
    expect(() => lowered.push(header('d', (1 << 20) + 1))).toThrow(ProtocolError);
  });
});
