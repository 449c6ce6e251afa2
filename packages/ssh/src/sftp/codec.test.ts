import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CLIENT_TYPES,
  FX,
  FXP,
  MAX_PACKET_LENGTH,
  SERVER_TYPES,
  SftpFramer,
  isFrameError,
  parseReply,
  parseRequest,
  realpathPacket,
  resolvePath,
  statusPacket,
  type SftpPacket,
} from './codec.js';

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const str = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([u32(b.length), b]);
};
function pkt(type: number, id: number | null, ...fields: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from([type]), ...(id === null ? [] : [u32(id)]), ...fields]);
  return Buffer.concat([u32(body.length), body]);
}

/** All packets the framer yields for these chunks, pushed one by one; the error if one ends the stream. */
function frameAll(chunks: Buffer[], types = CLIENT_TYPES): { packets: SftpPacket[]; error?: string } {
  const f = new SftpFramer(types);
  const packets: SftpPacket[] = [];
  for (const c of chunks) {
    f.push(c);
    for (;;) {
      const r = f.next();
      if (r === null) break;
      if (isFrameError(r)) return { packets, error: r.error };
      packets.push(r);
    }
  }
  return { packets };
}

const CLIENT = [...CLIENT_TYPES];
const validPacket = fc
  .record({
    type: fc.constantFrom(...CLIENT),
    id: fc.integer({ min: 0, max: 0xffffffff }),
    payload: fc.uint8Array({ maxLength: 300 }),
  })
  .map(({ type, id, payload }) => pkt(type, type === FXP.INIT ? null : id, type === FXP.INIT ? u32(3) : Buffer.alloc(0), Buffer.from(payload)));

/** Cut a buffer at these (sorted, deduplicated) positions. */
function split(b: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, b.length]) {
    out.push(b.subarray(prev, c));
    prev = c;
  }
  return out;
}

describe('SftpFramer', () => {
  it('any split of a valid packet stream yields the same packets (bytes, type, id)', () => {
    fc.assert(
      fc.property(fc.array(validPacket, { minLength: 1, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (packets, cuts) => {
        const stream = Buffer.concat(packets);
        const got = frameAll(split(stream, cuts));
        expect(got.error).toBeUndefined();
        expect(got.packets.map((p) => Buffer.from(p.bytes).toString('hex'))).toEqual(packets.map((p) => p.toString('hex')));
        got.packets.forEach((p, i) => {
          expect(p.type).toBe(packets[i]![4]);
          expect(p.id).toBe(p.type === FXP.INIT ? -1 : packets[i]!.readUInt32BE(5));
        });
      }),
      { numRuns: 300 },
    );
  });

  it('garbage never throws: it yields packets of known types within the limit, or an error that then sticks', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
        const f = new SftpFramer(CLIENT_TYPES);
        let err: string | undefined;
        for (const c of split(Buffer.from(bytes), cuts)) {
          f.push(c);
          for (;;) {
            const r = f.next();
            if (r === null) break;
            if (isFrameError(r)) {
              err = r.error;
              break;
            }
            expect(CLIENT_TYPES.has(r.type)).toBe(true);
            expect(r.bytes.length).toBeLessThanOrEqual(4 + MAX_PACKET_LENGTH);
            expect(r.bytes.readUInt32BE(0)).toBe(r.bytes.length - 4);
            // Field parsing of whatever framed never throws either.
            parseRequest(r);
          }
          if (err) break;
        }
        if (err) {
          expect(typeof err).toBe('string');
          f.push(Buffer.from(pkt(FXP.STAT, 1, str('/x'))));
          expect(isFrameError(f.next())).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('rejects an oversized length, an empty packet and an unknown type from the header alone', () => {
    expect(frameAll([u32(MAX_PACKET_LENGTH + 1)]).error).toMatch(/exceeds the limit/);
    expect(frameAll([u32(0)]).error).toMatch(/empty packet/);
    expect(frameAll([Buffer.concat([u32(100), Buffer.from([99])])]).error).toMatch(/unexpected packet type 99/);
    expect(frameAll([Buffer.concat([u32(3), Buffer.from([FXP.STAT, 0, 0])])]).error).toMatch(/too short/);
    // A server reply type from a client is unknown too.
    expect(frameAll([pkt(FXP.STATUS, 1, u32(0))]).error).toMatch(/unexpected packet type 101/);
  });

  it('waits for a partial packet, and a packet wholly inside one chunk is a view, not a copy', () => {
    const p = pkt(FXP.STAT, 7, str('/etc/passwd'));
    const f = new SftpFramer(CLIENT_TYPES);
    f.push(p.subarray(0, 10));
    expect(f.next()).toBeNull();
    f.push(p.subarray(10));
    const got = f.next() as SftpPacket;
    expect(got.id).toBe(7);
    expect(Buffer.compare(got.bytes, p)).toBe(0);
    const whole = Buffer.concat([p, p]);
    const g = new SftpFramer(CLIENT_TYPES);
    g.push(whole);
    const a = g.next() as SftpPacket;
    expect(a.bytes.buffer).toBe(whole.buffer);
    expect(f.buffered).toBe(0);
  });
});

describe('parseRequest / parseReply', () => {
  it('reads OPEN path and flags, WRITE handle and length, RENAME paths, extensions', () => {
    const framed = (b: Buffer) => frameAll([b]).packets[0]!;
    const open = parseRequest(framed(pkt(FXP.OPEN, 5, str('/home/x/f'), u32(0x1a), u32(0))));
    expect(open).toMatchObject({ type: FXP.OPEN, id: 5, paths: ['/home/x/f'], pflags: 0x1a });
    const w = parseRequest(framed(pkt(FXP.WRITE, 6, str(Buffer.from([0, 0, 0, 1])), Buffer.alloc(8), str(Buffer.alloc(1000)))));
    expect(w).toMatchObject({ handle: '\0\0\0\x01', dataLength: 1000 });
    expect(parseRequest(framed(pkt(FXP.RENAME, 7, str('a'), str('b'))))).toMatchObject({ paths: ['a', 'b'] });
    expect(parseRequest(framed(pkt(FXP.EXTENDED, 8, str('posix-rename@openssh.com'), str('/a'), str('/b'))))).toMatchObject({ extension: 'posix-rename@openssh.com', paths: ['/a', '/b'] });
    expect(parseRequest(framed(pkt(FXP.EXTENDED, 9, str('fsync@openssh.com'), str('h'))))).toMatchObject({ handle: 'h' });
    expect(parseRequest(framed(pkt(FXP.REMOVE, 10, str('/etc/x\0/home/y'))))).toMatchObject({ nul: true });
  });

  it('a field running past the packet end is an error, not a throw', () => {
    const f = frameAll([pkt(FXP.OPEN, 5, u32(50), Buffer.from('/short'))]).packets[0]!;
    expect(parseRequest(f)).toEqual({ error: expect.stringMatching(/truncated/) });
    const w = frameAll([pkt(FXP.WRITE, 6, str('h'), Buffer.alloc(8), u32(10), Buffer.alloc(3))]).packets[0]!;
    expect(isFrameError(parseRequest(w))).toBe(true);
  });

  it('statusPacket and realpathPacket are well-formed', () => {
    const s = frameAll([statusPacket(42, FX.PERMISSION_DENIED, 'blocked by policy "x"')], SERVER_TYPES).packets[0]!;
    expect(parseReply(s)).toMatchObject({ type: FXP.STATUS, id: 42, code: FX.PERMISSION_DENIED, message: 'blocked by policy "x"' });
    const r = frameAll([realpathPacket(0xfffffff0, '.')]).packets[0]!;
    expect(parseRequest(r)).toMatchObject({ type: FXP.REALPATH, id: 0xfffffff0, paths: ['.'] });
  });
});

describe('resolvePath', () => {
  it('makes paths absolute against home and removes . and .. lexically', () => {
    expect(resolvePath('/home/x', 'f.txt')).toBe('/home/x/f.txt');
    expect(resolvePath('/home/x', '../../etc/shadow')).toBe('/etc/shadow');
    expect(resolvePath('/home/x', '/tmp/../etc//passwd')).toBe('/etc/passwd');
    expect(resolvePath('/home/x', '.')).toBe('/home/x');
    expect(resolvePath('/home/x', '')).toBe('/home/x');
    expect(resolvePath('/', '../../..')).toBe('/');
  });

  it('never yields a path with . or .. segments or doubled slashes', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', '..', '.', '', 'etc', 'b c'), { maxLength: 12 }), fc.boolean(), (segs, absolute) => {
        const out = resolvePath('/home/x', (absolute ? '/' : '') + segs.join('/'));
        expect(out.startsWith('/')).toBe(true);
        expect(out.split('/').slice(1).some((s) => s === '.' || s === '..' || (s === '' && out !== '/'))).toBe(false);
      }),
    );
  });
});
