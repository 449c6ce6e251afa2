import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors.js';
import { Packet, PacketFramer, SequenceChecker } from './framer.js';
import { BufferWriter } from './writer.js';
import { header, pkt, splitAt } from './test-fixtures.js';

const MAX = 0xffffff;

function frameAll(chunks: Buffer[], framer = new PacketFramer()): Packet[] {
  const out: Packet[] = [];
  for (const c of chunks) framer.push(c, out);
  return out;
}

const summary = (ps: Packet[]) => ps.map((p) => ({ seq: p.seq, last: p.lastSeq, payload: p.payload.toString('hex'), raw: p.raw.toString('hex') }));

describe('PacketFramer', () => {
  it('frames packets in one chunk as views of it', () => {
    const stream = Buffer.concat([pkt(0, Buffer.from([3]), Buffer.from('SELECT 1')), pkt(1, Buffer.alloc(0)), pkt(7, Buffer.from('xy'))]);
    const ps = new PacketFramer().push(stream);
    expect(ps.map((p) => [p.seq, p.payload.toString('latin1')])).toEqual([
      [0, '\x03SELECT 1'],
      [1, ''],
      [7, 'xy'],
    ]);
    expect(ps[0].source).toBe(stream);
    expect(ps[0].first).toBe(3);
    expect(ps[1].first).toBe(-1);
    expect(ps[0].end).toBe(ps[1].rawStart);
    expect(Buffer.concat(ps.map((p) => p.raw)).equals(stream)).toBe(true);
    expect(ps[2].rawLength).toBe(6);
  });

  it('holds a partial packet and only the bytes received', () => {
    const f = new PacketFramer();
    expect(f.push(Buffer.from([5, 0]))).toEqual([]);
    expect(f.bufferedBytes).toBe(2);
    expect(f.push(Buffer.from([0, 3, 1, 2]))).toEqual([]);
    const [p] = f.push(Buffer.from([3, 4, 5]));
    expect(p.seq).toBe(3);
    expect([...p.payload]).toEqual([1, 2, 3, 4, 5]);
    expect(f.bufferedBytes).toBe(0);
  });

  it('any chunking of a valid stream yields the same packets', () => {
    const payloads = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 });
    fc.assert(
      fc.property(payloads, fc.array(fc.nat({ max: 7000 }), { maxLength: 30 }), (ps, cuts) => {
        const w = new BufferWriter();
        ps.forEach((p, i) => w.packet(i, p));
        const stream = w.take();
        const whole = summary(frameAll([stream]));
        expect(whole.map((p) => p.payload)).toEqual(ps.map((p) => Buffer.from(p).toString('hex')));
        expect(summary(frameAll(splitAt(stream, cuts).map((c) => Buffer.from(c))))).toEqual(whole);
      }),
      { numRuns: 500 },
    );
  });

  it('reassembles a payload of exactly 0xFFFFFF bytes with its empty trailing packet', () => {
    const payload = Buffer.alloc(MAX, 0x61);
    const w = new BufferWriter(MAX + 64);
    w.packet(5, payload);
    expect(w.nextSeq).toBe(7);
    const stream = w.take();
    expect(stream.length).toBe(MAX + 8);
    expect(stream.subarray(MAX + 4).equals(header(0, 6))).toBe(true);
    for (const chunks of [[stream], splitAt(stream, [3, 100, MAX + 2, MAX + 5, MAX + 7])]) {
      const ps = frameAll(chunks);
      expect(ps.length).toBe(1);
      expect(ps[0].seq).toBe(5);
      expect(ps[0].lastSeq).toBe(6);
      expect(ps[0].length).toBe(MAX);
      expect(ps[0].rawParts!.length).toBe(2);
      expect(ps[0].raw.equals(stream)).toBe(true);
      expect(ps[0].payload.equals(payload)).toBe(true);
    }
  });

  it('0xFFFFFE fits one packet; 0xFFFFFF + 1 takes two; sequence ids wrap', () => {
    for (const [n, parts] of [
      [MAX - 1, 1],
      [MAX + 1, 2],
      [2 * MAX, 3],
    ] as const) {
      const payload = Buffer.alloc(n, 7);
      payload[n - 1] = 9;
      const w = new BufferWriter(n + 64);
      w.packet(255, payload);
      const stream = w.take();
      const ps = frameAll(splitAt(stream, [1, 70000, MAX, MAX + 4, MAX + 5]));
      expect(ps.length).toBe(1);
      expect(ps[0].seq).toBe(255);
      expect(ps[0].lastSeq).toBe((255 + parts - 1) & 0xff);
      expect(ps[0].length).toBe(n);
      expect(ps[0].payload[n - 1]).toBe(9);
      expect(ps[0].rawParts?.length ?? 1).toBe(parts);
    }
  });

  it('refuses a continuation packet with the wrong sequence id', () => {
    const f = new PacketFramer();
    f.push(header(MAX, 0));
    f.push(Buffer.alloc(MAX));
    expect(() => f.push(header(0, 2))).toThrow(/out of order/);
    expect(() => f.push(Buffer.alloc(1))).toThrow(ProtocolError); // stays failed
  });

  it('refuses a payload over the limit at the header, before its body', () => {
    const f = new PacketFramer({ maxPayload: 1000 });
    expect(() => f.push(Buffer.concat([pkt(0, Buffer.alloc(1000)), header(1001, 1)]))).toThrow(/exceeds the limit/);
    const g = new PacketFramer({ maxPayload: MAX + 10 });
    g.push(header(MAX, 0));
    g.push(Buffer.alloc(MAX));
    expect(() => g.push(header(11, 1))).toThrow(/at least 16777226/);
    const h = new PacketFramer({ maxPayload: 100 });
    expect(() => h.push(header(MAX, 0).subarray(0, 2))).not.toThrow();
    expect(() => h.push(header(MAX, 0).subarray(2))).toThrow(ProtocolError);
  });

  it('the default limit is 64 MiB', () => {
    expect(new PacketFramer().maxPayload).toBe(64 * 1024 * 1024);
    expect(() => new PacketFramer({ maxPayload: -1 })).toThrow(RangeError);
  });
});

describe('SequenceChecker', () => {
  it('expects consecutive ids, wraps at 256, reports out-of-order packets', () => {
    const s = new SequenceChecker('client');
    expect(s.accept({ seq: 0, lastSeq: 0 })).toBe(true);
    expect(s.take()).toBe(1);
    s.check({ seq: 2, lastSeq: 2 });
    expect(() => s.check({ seq: 5, lastSeq: 5 })).toThrow(/client sent packets out of order: sequence id 5, expected 3/);
    s.reset(255);
    s.check({ seq: 255, lastSeq: 1 });
    expect(s.expected).toBe(2);
    s.reset();
    expect(s.accept({ seq: 1, lastSeq: 1 })).toBe(false);
  });
});
