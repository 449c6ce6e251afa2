import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrontendCode } from './codes.js';
import { ProtocolError } from './errors.js';
import { FrontendFramer, isStartupPacket, type FrontendItem } from './frontend-framer.js';
import {
  parseFrontendMessage,
  parsePasswordMessage,
  parseSASLInitialResponse,
} from './frontend-messages.js';
import { parseBackendMessage } from './backend-messages.js';
import { BackendFramer } from './framer.js';
import { FrontendWriter } from './frontend-writer.js';
import { parseStartupPacket } from './startup.js';
import { frontendCase } from './test-arbitraries.js';
import { header, i32, onlyProtocolErrors, splitAt } from './test-fixtures.js';

/*
 * Fuzz properties over the frontend codec (what untrusted clients send):
 * whatever the bytes, framing + parsing returns messages or throws
 * ProtocolError — never another exception, never a hang — and memory held by
 * the framer never exceeds the bytes actually received.
 */

const FRONTEND_TYPES = ['Q', 'P', 'B', 'D', 'E', 'S', 'C', 'H', 'X', 'd', 'c', 'f', 'p', 'F'];

/** Frames `chunks` and parses everything framed, as the gateway would. */
function consume(chunks: Buffer[], startup: boolean): void {
  const f = new FrontendFramer({ startup });
  let received = 0;
  const out: FrontendItem[] = [];
  try {
    for (const chunk of chunks) {
      received += chunk.length;
      out.length = 0;
      f.push(chunk, out);
      expect(f.bufferedBytes).toBeLessThanOrEqual(received);
      for (const item of out) {
        if (isStartupPacket(item)) continue;
        parseFrontendMessage(item.type, item.payload);
        if (item.type === FrontendCode.Password) {
          onlyProtocolErrors(() => parsePasswordMessage(item.payload));
          onlyProtocolErrors(() => parseSASLInitialResponse(item.payload));
        }
      }
    }
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    expect(err.code).toBe('SLUICE_PROTOCOL_VIOLATION');
  }
}

const validStream = fc
  .tuple(fc.boolean(), fc.array(frontendCase, { maxLength: 12 }))
  .map(([withStartup, cases]) => {
    const w = new FrontendWriter();
    if (withStartup) w.startupMessage({ user: 'u', database: 'd' });
    cases.forEach((c) => c.write(w));
    return { startup: withStartup, bytes: w.take() };
  });

const chunkCuts = fc.array(fc.nat({ max: 4096 }), { maxLength: 12 });

type Mutation = { at: number; op: 'flip' | 'set' | 'insert' | 'delete'; value: number };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('flip', 'set', 'insert', 'delete') as fc.Arbitrary<Mutation['op']>,
  value: fc.integer({ min: 0, max: 255 }),
});

function mutate(buf: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(buf);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.op === 'flip') b[at] ^= 1 << (m.value % 8);
    else if (m.op === 'set') b[at] = m.value;
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.value]), b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
  }
  return b;
}

describe('frontend codec fuzz', () => {
  it('arbitrary bytes, any chunking, either mode', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), chunkCuts, fc.boolean(), (bytes, cuts, startup) => {
        consume(splitAt(Buffer.from(bytes), cuts), startup);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary bytes behind a valid type byte and plausible length', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...FRONTEND_TYPES),
        fc.uint8Array({ maxLength: 300 }),
        chunkCuts,
        (type, body, cuts) => {
          const raw = Buffer.concat([header(type, body.length + 4), body]);
          consume(splitAt(raw, cuts), false);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('random mutations of valid streams', () => {
    fc.assert(
      fc.property(validStream, fc.array(mutation, { minLength: 1, maxLength: 8 }), chunkCuts, (s, ms, cuts) => {
        consume(splitAt(mutate(s.bytes, ms), cuts), s.startup);
      }),
      { numRuns: 2000 },
    );
  });

  it('truncated valid streams frame a prefix and hold the rest', () => {
    fc.assert(
      fc.property(validStream, fc.nat(), (s, n) => {
        const cut = n % (s.bytes.length + 1);
        const f = new FrontendFramer({ startup: s.startup });
        const all = new FrontendFramer({ startup: s.startup }).push(s.bytes);
        const got = f.push(s.bytes.subarray(0, cut));
        const framed = got.reduce((sum, m) => sum + m.raw.length, 0);
        expect(framed + f.bufferedBytes).toBe(cut);
        expect(got.map((m) => m.raw.toString('hex'))).toEqual(all.slice(0, got.length).map((m) => m.raw.toString('hex')));
      }),
      { numRuns: 1000 },
    );
  });

  it('absurd length prefixes are refused at the header, before any body', () => {
    const absurd = fc.oneof(
      fc.constantFrom(0x7fffffff, -1, -0x80000000, 0, 1, 3, 0x40000000, 0x3fffffff + 1),
      fc.integer({ min: -0x80000000, max: 3 }),
      fc.integer({ min: 0x40000000, max: 0x7fffffff }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...FRONTEND_TYPES), absurd, fc.nat({ max: 4 }), (type, len, split) => {
        const f = new FrontendFramer({ startup: false });
        const h = header(type, len);
        const before = process.memoryUsage().arrayBuffers;
        expect(() => {
          f.push(h.subarray(0, split));
          f.push(h.subarray(split));
        }).toThrow(ProtocolError);
        expect(f.bufferedBytes).toBeLessThanOrEqual(5);
        expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
      }),
      { numRuns: 500 },
    );
  });

  it('absurd startup lengths are refused after 4 bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -0x80000000, max: 7 }), fc.integer({ min: 10005, max: 0x7fffffff })),
        (len) => {
          expect(() => new FrontendFramer().push(i32(len))).toThrow(ProtocolError);
        },
      ),
    );
  });

  it('unknown type bytes are refused at the header', () => {
    const known = new Set(FRONTEND_TYPES.map((t) => t.charCodeAt(0)));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }).filter((t) => !known.has(t)), (t) => {
        expect(() => new FrontendFramer({ startup: false }).push(Buffer.concat([Buffer.from([t]), i32(4)]))).toThrow(ProtocolError);
      }),
    );
  });

  it('a huge but allowed announced length holds only the bytes received', () => {
    const f = new FrontendFramer({ startup: false });
    const before = process.memoryUsage().arrayBuffers;
    f.push(header('d', 0x3fffffff));
    const chunk = Buffer.alloc(16 * 1024, 1);
    for (let i = 0; i < 64; i++) f.push(chunk);
    expect(f.bufferedBytes).toBe(5 + 64 * 16 * 1024);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });

  it('startup packets: arbitrary bodies parse or throw ProtocolError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constantFrom(80877102, 80877103, 80877104, 196608, 196610, 196611, 131072),
          fc.integer({ min: 0, max: 0xffffffff }),
        ),
        fc.uint8Array({ maxLength: 300 }),
        (code, body) => {
          const raw = Buffer.concat([i32(body.length + 8), i32(code), body]);
          onlyProtocolErrors(() => parseStartupPacket(raw));
          consume([raw], true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('parsers alone: any payload for any type', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 200 }), (type, payload) => {
        const p = Buffer.from(payload);
        onlyProtocolErrors(() => parseFrontendMessage(type, p));
        onlyProtocolErrors(() => parseBackendMessage(type, p));
      }),
      { numRuns: 5000 },
    );
  });

  it('backend framer on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), chunkCuts, (bytes, cuts) => {
        const f = new BackendFramer();
        onlyProtocolErrors(() => {
          for (const c of splitAt(Buffer.from(bytes), cuts)) {
            for (const m of f.push(c)) onlyProtocolErrors(() => parseBackendMessage(m.type, m.payload));
          }
        });
      }),
      { numRuns: 1000 },
    );
  });
});
