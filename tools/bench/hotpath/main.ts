import { run, runRows } from './pg-hotpath.js';

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 200000);
  const rounds = Number(process.argv[3] ?? 3);
  const rows = Number(process.argv[4] || 0);
  if (rows > 0) return mainRows(rows, rounds);
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const x = await run(iterations);
    cpu.push(x.cpuUsPerTxn);
    wall.push(x.usPerTxn);
    console.log(`round ${r + 1}: ${x.usPerTxn.toFixed(2)} µs on the event loop, ${x.cpuUsPerTxn.toFixed(2)} µs CPU (all threads) per transaction; ${x.writes.toFixed(2)} socket writes`);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!.toFixed(2);
  console.log(`median per pgbench -S -M prepared transaction: ${med(wall)} µs on the event loop, ${med(cpu)} µs CPU in all threads (JavaScript and the journal write; no sockets)`);
}
async function mainRows(rows: number, rounds: number): Promise<void> {
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const x = await runRows(rows);
    cpu.push(x.cpuNsPerRow);
    wall.push(x.nsPerRow);
    console.log(`round ${r + 1}: ${x.nsPerRow.toFixed(0)} ns on the event loop, ${x.cpuNsPerRow.toFixed(0)} ns CPU (all threads) per row; ${x.outBytes} bytes out per 10,000 rows`);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!.toFixed(0);
  console.log(`median per row of a large masked result: ${med(wall)} ns on the event loop, ${med(cpu)} ns CPU in all threads (no sockets)`);
}

void main();
