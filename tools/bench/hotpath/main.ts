import { run, runRows, type Mode } from './pg-hotpath.js';
import { runMysql, type MyMode } from './my-hotpath.js';

/** Runs `once` `rounds` times, printing each round; returns the medians of the event-loop time and the CPU. */
async function rounds<T extends { wall: number; cpu: number }>(n: number, once: () => Promise<T>, line: (x: T) => string): Promise<{ wall: number; cpu: number }> {
  const all: T[] = [];
  for (let r = 0; r < n; r++) {
    const x = await once();
    all.push(x);
    console.log(`round ${r + 1}: ${line(x)}`);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  return { wall: med(all.map((x) => x.wall)), cpu: med(all.map((x) => x.cpu)) };
}

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 200000);
  const n = Number(process.argv[3] ?? 3);
  const rows = Number(process.argv[4] || 0);
  const mode = process.argv[5] || 'prepared';
  const mysql = mode === 'query' || mode === 'execute';
  if (rows > 0) {
    const m = await rounds(
      n,
      async () => {
        const x = await runRows(rows);
        return { wall: x.nsPerRow, cpu: x.cpuNsPerRow, outBytes: x.outBytes };
      },
      (x) => `${x.wall.toFixed(0)} ns on the event loop, ${x.cpu.toFixed(0)} ns CPU (all threads) per row; ${x.outBytes} bytes out per 10,000 rows`,
    );
    console.log(`median per row of a large masked result: ${m.wall.toFixed(0)} ns on the event loop, ${m.cpu.toFixed(0)} ns CPU in all threads (no sockets)`);
    return;
  }
  const what = mysql ? `MySQL ${mode}() query` : `pgbench -S -M ${mode} transaction`;
  const m = await rounds(
    n,
    async () => {
      const x = mysql ? await runMysql(iterations, mode as MyMode) : await run(iterations, mode as Mode);
      return { wall: x.usPerTxn, cpu: x.cpuUsPerTxn, writes: x.writes };
    },
    (x) => `${x.wall.toFixed(2)} µs on the event loop, ${x.cpu.toFixed(2)} µs CPU (all threads) per ${mysql ? 'query' : 'transaction'}; ${x.writes.toFixed(2)} socket writes`,
  );
  console.log(`median per ${what}: ${m.wall.toFixed(2)} µs on the event loop, ${m.cpu.toFixed(2)} µs CPU in all threads (JavaScript and the journal write; no sockets)`);
}

void main();
