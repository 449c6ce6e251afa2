import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BackendWriter } from './backend-writer.js';
import { BackendFramer, type FramedMessage } from './framer.js';
import { FrontendFramer, isStartupPacket, type FrontendItem } from './frontend-framer.js';
import { FrontendWriter } from './frontend-writer.js';
import { backendCase, frontendCase, text } from './test-arbitraries.js';
import { fresh, splitAt } from './test-fixtures.js';

/** Comparable form of a framed item: kind/type and its raw bytes. */
function view(item: FrontendItem | FramedMessage): string {
  if (isStartupPacket(item as FrontendItem)) return `${(item as { kind: string }).kind}:${item.raw.toString('hex')}`;
  return `${(item as FramedMessage).type}:${item.raw.toString('hex')}:${(item as FramedMessage).payload.length}`;
}

const cuts = (max: number) => fc.array(fc.nat({ max }), { maxLength: 40 });

describe('any chunking of a valid stream yields the same messages', () => {
  it('frontend: StartupMessage then regular messages', () => {
    fc.assert(
      fc.property(
        fc.dictionary(text(12).filter((k) => k !== '' && !k.startsWith('_pq_.')), text(12), { maxKeys: 4 }),
        fc.array(frontendCase, { maxLength: 25 }),
        fc.infiniteStream(fc.nat()),
        (params, cases, seeds) => {
          const w = new FrontendWriter().startupMessage({ user: 'u', ...params });
          cases.forEach((c) => c.write(w));
          const stream = w.take();
          const whole = new FrontendFramer().push(stream).map(view);
          const points = seeds.take(1 + (stream.length % 41)).map((n) => n % (stream.length + 1));
          const f = new FrontendFramer();
          const out: FrontendItem[] = [];
          for (const chunk of fresh(splitAt(stream, [...points]))) f.push(chunk, out);
          expect(out.map(view)).toEqual(whole);
          expect(whole.length).toBe(1 + cases.length);
          expect(f.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('frontend: SSLRequest answered, then StartupMessage and messages', () => {
    fc.assert(
      fc.property(fc.array(frontendCase, { maxLength: 10 }), cuts(2000), (cases, points) => {
        const ssl = new FrontendWriter().sslRequest().take();
        const w = new FrontendWriter().startupMessage({ user: 'u', database: 'd' });
        cases.forEach((c) => c.write(w));
        const rest = w.take();
        const f = new FrontendFramer();
        const out: FrontendItem[] = [];
        // The SSLRequest may itself arrive in pieces; the rest only after the answer.
        for (const c of splitAt(ssl, points.map((p) => p % 9))) f.push(c, out);
        for (const c of splitAt(rest, points)) f.push(c, out);
        expect(out.map(view)).toEqual([...new FrontendFramer().push(ssl), ...new FrontendFramer({ startup: true }).push(rest)].map(view));
      }),
      { numRuns: 200 },
    );
  });

  it('backend: any messages', () => {
    fc.assert(
      fc.property(fc.array(backendCase, { maxLength: 30 }), cuts(5000), (cases, points) => {
        const w = new BackendWriter();
        cases.forEach((c) => c.write(w));
        const stream = w.take();
        const whole = new BackendFramer().push(stream).map(view);
        const f = new BackendFramer();
        const out: FramedMessage[] = [];
        for (const chunk of fresh(splitAt(stream, points))) f.push(chunk, out);
        expect(out.map(view)).toEqual(whole);
        expect(whole.length).toBe(cases.length);
      }),
      { numRuns: 400 },
    );
  });

  it('backend: byte-by-byte delivery of a large mixed stream', () => {
    const w = new BackendWriter();
    for (let i = 0; i < 200; i++) w.dataRow([String(i), null, 'x'.repeat(i)]);
    const stream = w.take();
    const f = new BackendFramer();
    const out: FramedMessage[] = [];
    for (let i = 0; i < stream.length; i++) f.push(stream.subarray(i, i + 1), out);
    expect(out.map(view)).toEqual(new BackendFramer().push(stream).map(view));
  });
});
