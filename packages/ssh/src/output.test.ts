import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Session } from '@sluice/core';
import { TerminalOutput, utf8Complete } from './output.js';
import { TerminalMasker } from './terminal/masker.js';

/** A Session that only records output. */
function recorder() {
  const out: { stream: string; text: string; bytes: Buffer }[] = [];
  const s = { output: (data: Uint8Array, stream: string) => out.push({ stream, text: Buffer.from(data).toString('utf8'), bytes: Buffer.from(data) }) } as unknown as Session;
  return { s, out };
}

/** Cuts `b` at the given (sorted, deduplicated) offsets. */
function cut(b: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((x) => x % (b.length + 1)))].sort((x, y) => x - y);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    parts.push(b.subarray(prev, p));
    prev = p;
  }
  parts.push(b.subarray(prev));
  return parts;
}

describe('utf8Complete', () => {
  it('never splits a character and holds back at most an incomplete one', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.nat(), (s, k) => {
        const b = Buffer.from(s, 'utf8');
        const end = k % (b.length + 1);
        const head = b.subarray(0, end);
        const n = utf8Complete(head);
        expect(end - n).toBeLessThanOrEqual(3);
        // The complete prefix decodes without replacement characters when the input had none.
        expect(head.subarray(0, n).toString('utf8')).not.toContain('\ufffd');
        // Holding back only happens for a real partial character: the full text starts with the prefix.
        expect(s.startsWith(head.subarray(0, n).toString('utf8'))).toBe(true);
      }),
    );
  });
});

describe('TerminalOutput', () => {
  const masker = { text: (v: string) => ({ text: v.replace(/4242424242424242/g, '[CARD]'), masked: (v.match(/4242424242424242/g) ?? []).length }) };

  it('records exactly the masked bytes sent to the client, in whole characters, however the stream is cut', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'é', '€', '😀', ' ', '\n', '4242424242424242', '\x1b[31m', '\r'), { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 8 }), (pieces, at) => {
        const input = Buffer.from(pieces.join(''), 'utf8');
        const { s, out } = recorder();
        const dest = new PassThrough();
        const sent: Buffer[] = [];
        dest.on('data', (d: Buffer) => sent.push(d));
        const o = new TerminalOutput(s, 'stdout', dest, new TerminalMasker(masker), 1_000_000);
        for (const part of cut(input, at)) o.write(part);
        o.end();
        const client = Buffer.concat(sent.length ? sent : [dest.read() ?? Buffer.alloc(0)]);
        const recorded = Buffer.concat(out.map((x) => x.bytes));
        expect(recorded.equals(client)).toBe(true);
        for (const r of out) expect(r.text).not.toContain('\ufffd');
        expect(client.toString('utf8')).not.toContain('4242424242424242');
      }),
      { numRuns: 300 },
    );
  });

  it('passes bytes through untouched when the session masks nothing', () => {
    const { s, out } = recorder();
    const dest = new PassThrough();
    const o = new TerminalOutput(s, 'stderr', dest, null);
    const bytes = Buffer.from('card 4242424242424242 €', 'utf8');
    o.write(bytes.subarray(0, bytes.length - 1));
    o.write(bytes.subarray(bytes.length - 1));
    o.end();
    expect(dest.read()).toEqual(bytes);
    expect(out.map((x) => x.text)).toEqual(['card 4242424242424242 ', '€']);
    expect(out.every((x) => x.stream === 'stderr')).toBe(true);
  });
});
