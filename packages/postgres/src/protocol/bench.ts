/*
 * Micro-benchmark of the codec's hot path (not a test): framing a stream of
 * small DataRows as a socket would deliver it. Run from the repo root:
 *
 *   npx esbuild packages/postgres/src/protocol/bench.ts --bundle --platform=node \
 *     --format=esm --outfile=/tmp/pg-protocol-bench.mjs && node /tmp/pg-protocol-bench.mjs
 */
import { BackendWriter } from './backend-writer.js';
import { DataRowCursor } from './data-row.js';
import { BackendFramer, type FramedMessage } from './framer.js';
import { FrontendFramer } from './frontend-framer.js';
import { FrontendWriter } from './frontend-writer.js';

const ROWS = 200_000;

function chunked(stream: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += size) out.push(Buffer.from(stream.subarray(i, i + size)));
  return out;
}

function measure(name: string, messages: number, run: () => number): void {
  for (let i = 0; i < 5; i++) run(); // warm up
  const samples: number[] = [];
  let check = 0;
  for (let i = 0; i < 15; i++) {
    const t0 = process.hrtime.bigint();
    check += run();
    samples.push(Number(process.hrtime.bigint() - t0) / messages);
  }
  samples.sort((a, b) => a - b);
  const median = samples[samples.length >> 1];
  console.log(`${name.padEnd(58)} ${median.toFixed(1).padStart(7)} ns/msg   (best ${samples[0].toFixed(1)}, check ${check})`);
}

// A pgbench-like row: int4 id, a short text, a NULL, a numeric.
const w = new BackendWriter(1 << 20);
for (let i = 0; i < ROWS; i++) w.dataRow([String(i), 'alice@example.com', null, '1234.50']);
const rows = w.take();
console.log(`${ROWS} DataRows, ${(rows.length / ROWS).toFixed(1)} bytes each, node ${process.version}`);

for (const size of [65536, 16384, 1460]) {
  const chunks = chunked(rows, size);
  const out: FramedMessage[] = [];
  measure(`BackendFramer.push, ${size}-byte chunks`, ROWS, () => {
    const f = new BackendFramer();
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
  const out: FramedMessage[] = [];
  const cursor = new DataRowCursor();
  measure('BackendFramer.push + DataRowCursor walk, 64 KiB chunks', ROWS, () => {
    const f = new BackendFramer();
    let cells = 0;
    for (const c of chunks) {
      out.length = 0;
      f.push(c, out);
      for (const m of out) {
        cursor.resetMessage(m);
        while (cursor.next()) cells++;
      }
    }
    return cells;
  });
}

{
  // A client's extended-protocol round: Bind / Execute / Sync.
  const fw = new FrontendWriter(1 << 20);
  const N = 100_000;
  for (let i = 0; i < N; i++) fw.bind('', 'S_1', [String(i)]).execute('', 0).sync();
  const chunks = chunked(fw.take(), 65536);
  const out: ReturnType<FrontendFramer['push']> = [];
  measure('FrontendFramer.push (Bind/Execute/Sync), 64 KiB chunks', 3 * N, () => {
    const f = new FrontendFramer({ startup: false });
    let n = 0;
    for (const c of chunks) {
      out.length = 0;
      f.push(c, out);
      n += out.length;
    }
    return n;
  });
}
