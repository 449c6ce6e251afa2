/**
 * Tests across real OS processes, against the module as built by tsup (the
 * child processes run plain Node 20, which cannot load TypeScript):
 *  - durability: an append whose promise resolved survives SIGKILL;
 *  - compare-and-set: several processes racing to decide one approval.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openSqliteStore } from './index.js';
import { approval, session, tempDirs } from './test-fixtures.js';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const tsupBin = join(pkgDir, '..', '..', 'node_modules', '.bin', 'tsup');
const tmp = tempDirs();
let buildDir = '';
let childScript = '';

beforeAll(() => {
  // Build into a private directory (not dist/, which other packages' tests may be
  // running from) inside the package, so 'better-sqlite3' resolves from it.
  const cache = join(pkgDir, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  buildDir = mkdtempSync(join(cache, 'store-sqlite-test-build-'));
  execFileSync(tsupBin, ['src/index.ts', '--format', 'esm', '--target', 'node20', '--out-dir', buildDir, '--no-config', '--silent'], {
    cwd: pkgDir,
    stdio: 'pipe',
  });
  const built = pathToFileURL(join(buildDir, 'index.js')).href;
  childScript = join(tmp.make(), 'child.mjs');
  writeFileSync(
    childScript,
    `
import { openSqliteStore } from ${JSON.stringify(built)};
const [mode, path, arg] = process.argv.slice(2);
const ev = (seq, prev) => ({ session: 's', seq, at: new Date().toISOString(), type: 'command',
  data: { kind: 'INSERT', text: 'insert into t values (' + seq + ')', objects: ['t'], flags: [] }, prev, hash: 'h' + seq });

if (mode === 'append' || mode === 'append-self-kill') {
  const [sync, journal] = arg.split('+');
  const store = openSqliteStore({ path, synchronous: sync, journal: journal === 'journal' });
  let seq = 0;
  for (let i = 0; ; i++) {
    const batch = [];
    for (let j = 0; j < (i % 2 === 0 ? 1 : 3); j++) { seq++; batch.push(ev(seq, seq === 1 ? '0'.repeat(64) : 'h' + (seq - 1))); }
    await store.appendEvents(batch);
    if (mode === 'append-self-kill') process.kill(process.pid, 'SIGKILL');
    process.stdout.write(seq + '\\n'); // acknowledged: committed before this line is written
  }
} else if (mode === 'decide') {
  const store = openSqliteStore({ path });
  process.stdout.write('ready\\n');
  process.stdin.once('data', async () => {
    try {
      const won = await store.decideApproval('a1', 'approved', arg, 'race', new Date().toISOString());
      process.stdout.write(JSON.stringify({ who: arg, won }) + '\\n');
    } catch (e) {
      process.stdout.write(JSON.stringify({ who: arg, error: String(e) }) + '\\n');
    }
    await store.close();
    process.exit(0);
  });
}
`,
  );
}, 60_000);

afterAll(() => {
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  tmp.cleanup();
});

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function run(args: string[]): ChildProcess {
  const c = spawn(process.execPath, [childScript, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(c);
  return c;
}
function lines(c: ChildProcess, on: (line: string) => void): void {
  let buf = '';
  c.stdout!.setEncoding('utf8');
  c.stdout!.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      on(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}
function exited(c: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  c.stderr!.setEncoding('utf8');
  c.stderr!.on('data', (d: string) => (stderr += d));
  return new Promise((res) => c.on('exit', (code, signal) => res({ code, signal, stderr })));
}

async function prepareDb(): Promise<string> {
  const path = join(tmp.make(), 'data', 'sluice.db');
  const store = openSqliteStore({ path });
  await store.createSession(session('s'));
  await store.close();
  return path;
}

async function storedSeqs(path: string, journal = false): Promise<number[]> {
  // with a journal, reopening replays it (what the gateway does at start)
  const store = openSqliteStore({ path, journal });
  try {
    const events = await store.getEvents('s');
    // the chain is whole: no torn batch
    events.forEach((e, i) => expect(e.prev).toBe(i === 0 ? '0'.repeat(64) : events[i - 1]!.hash));
    return events.map((e) => e.seq);
  } finally {
    await store.close();
  }
}

describe('durability across SIGKILL (built module in a child process)', () => {
  for (const sync of ['normal', 'full', 'normal+journal', 'full+journal'] as const) {
    it(`${sync}: every append acknowledged before kill -9 is there after reopening`, async () => {
      const journal = sync.endsWith('+journal');
      const path = await prepareDb();
      const child = run(['append', path, sync]);
      const done = exited(child);
      let acked = 0;
      lines(child, (l) => {
        acked = Number(l);
        if (acked >= 300 && child.signalCode === null) child.kill('SIGKILL');
      });
      const { signal, stderr } = await done;
      expect(stderr).toBe('');
      expect(signal).toBe('SIGKILL');
      expect(acked).toBeGreaterThanOrEqual(300);
      if (journal) expect(statSync(`${path}.journal`).size).toBeGreaterThan(0);
      else expect(statSync(`${path}-wal`).size).toBeGreaterThan(0); // the process died without closing (no final checkpoint)
      const seqs = await storedSeqs(path, journal);
      expect(seqs.length).toBeGreaterThanOrEqual(acked);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    });
  }

  it('an append killed -9 immediately after its promise resolved is there after reopening', async () => {
    const path = await prepareDb();
    const child = run(['append-self-kill', path, 'normal']);
    const { signal, stderr } = await exited(child);
    expect(stderr).toBe('');
    expect(signal).toBe('SIGKILL');
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
    expect(await storedSeqs(path)).toEqual([1]);
  });

  it('journal mode: an append killed -9 right after its promise resolved is replayed at reopen', async () => {
    const path = await prepareDb();
    const child = run(['append-self-kill', path, 'normal+journal']);
    const { signal, stderr } = await exited(child);
    expect(stderr).toBe('');
    expect(signal).toBe('SIGKILL');
    // not in SQLite yet: only the journal has it
    expect(await storedSeqs(path, false)).toEqual([]);
    expect(await storedSeqs(path, true)).toEqual([1]);
    expect(statSync(`${path}.journal`).size).toBe(0);
  });
});

describe('compare-and-set across processes', () => {
  it('six processes decide the same approval at once: exactly one wins', async () => {
    const path = await prepareDb();
    const store = openSqliteStore({ path });
    await store.createApproval(approval('a1', 's'));
    const n = 6;
    const results: Array<{ who: string; won?: boolean; error?: string }> = [];
    let ready = 0;
    const procs = Array.from({ length: n }, (_, i) => run(['decide', path, `approver-${i}`]));
    const exits = procs.map(exited);
    await new Promise<void>((res) => {
      for (const p of procs) {
        lines(p, (l) => {
          if (l === 'ready') {
            if (++ready === n) res();
          } else results.push(JSON.parse(l) as { who: string; won?: boolean; error?: string });
        });
      }
    });
    for (const p of procs) p.stdin!.write('go\n');
    for (const e of await Promise.all(exits)) expect(e.code).toBe(0);
    expect(results.filter((r) => r.error)).toEqual([]);
    const winners = results.filter((r) => r.won);
    expect(results).toHaveLength(n);
    expect(winners).toHaveLength(1);
    expect(await store.getApproval('a1')).toMatchObject({ status: 'approved', decidedBy: winners[0]!.who });
    await store.close();
  });
});
