import { run } from './pg-hotpath.js';

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 200000);
  const rounds = Number(process.argv[3] ?? 3);
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
void main();
