/*
 * Micro-benchmark of the codec's hot path (not a test): framing a stream of
 * small text-protocol rows as a socket would deliver it. Run from the repo root:
 *
 *   npx esbuild packages/mysql/src/protocol/bench.ts --bundle --platform=node \
 *     --format=esm --outfile=/tmp/mysql-protocol-bench.mjs && node /tmp/mysql-protocol-bench.mjs
 */
import { PacketFramer, type Packet } from './framer.js';
import { TextRowCursor, writeTextRow } from './resultset.js';
import { BufferWriter } from './writer.js';

const ROWS = 200_000;

function chunked(stream: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += size) out.push(Buffer.from(stream.subarray(i, i + size)));
  return out;
}

function measure(name: string, packets: number, run: () => number): void {
  for (let i = 0; i < 5; i++) run(); // warm up
  const samples: number[] = [];
  let check = 0;
  for (let i = 0; i < 15; i++) {
    const t0 = process.hrtime.bigint();
    check += run();
    samples.push(Number(process.hrtime.bigint() - t0) / packets);
  }
  samples.sort((a, b) => a - b);
  const median = samples[samples.length >> 1];
  console.log(`${name.padEnd(58)} ${median.toFixed(1).padStart(7)} ns/pkt   (best ${samples[0].toFixed(1)}, check ${check})`);
}

// A sysbench-like row: int id, a short text, a NULL, a decimal.
const w = new BufferWriter(1 << 20);
for (let i = 0; i < ROWS; i++) writeTextRow(w, (i + 3) & 0xff, [String(i), 'alice@example.com', null, '1234.50']);
const rows = w.take();
console.log(`${ROWS} text rows, ${(rows.length / ROWS).toFixed(1)} bytes each, node ${process.version}`);

for (const size of [65536, 16384, 1460]) {
  const chunks = chunked(rows, size);
  const out: Packet[] = [];
  measure(`PacketFramer.push, ${size}-byte chunks`, ROWS, () => {
    const f = new PacketFramer();
    let n = 0;
    for (const c of chunks) {
      out.length = 0;
      f.push(c, out);
      n += out.length;
    }
    return n;
  });
}

{
  const chunks = chunked(rows, 65536);
  const out: Packet[] = [];
  const cursor = new TextRowCursor();
  measure('PacketFramer.push + TextRowCursor walk, 64 KiB chunks', ROWS, () => {
    const f = new PacketFramer();
    let cells = 0;
    for (const c of chunks) {
      out.length = 0;
      f.push(c, out);
      for (const p of out) {
        cursor.resetPacket(p, 4);
        while (cursor.next()) cells++;
      }
    }
    return cells;
  });
}
