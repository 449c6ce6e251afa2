// Process helpers: spawning, waiting, /proc sampling (CPU time, RSS).
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  /* default */
}

/**
 * CPU seconds the whole machine spent busy (user, nice, system, irq,
 * softirq: every process and the kernel's network work; not idle, iowait or
 * steal), summed over all cores, from /proc/stat. NaN when unreadable.
 */
export function machineBusySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2] + f[5] + f[6]) / clkTck;
  } catch {
    return NaN;
  }
}

/** User + system CPU seconds of a process (all its threads), or NaN. */
export function cpuSeconds(pid) {
  const t = cpuTimes(pid);
  return t.user + t.sys;
}

/** {user, sys} CPU seconds from a /proc stat file (a process's or one thread's); NaN when gone. */
function statTimes(path) {
  try {
    const s = readFileSync(path, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / clkTck, sys: Number(f[12]) / clkTck };
  } catch {
    return { user: NaN, sys: NaN };
  }
}

/** {user, sys} CPU seconds of a process (all its threads); NaN when gone. */
export function cpuTimes(pid) {
  return statTimes(`/proc/${pid}/stat`);
}

/**
 * I/O counters of a process (all threads): syscr / syscw count read- and
 * write-family system calls (sockets and files alike), rchar / wchar bytes.
 */
export function ioCounters(pid) {
  const o = { syscr: NaN, syscw: NaN, rchar: NaN, wchar: NaN, write_bytes: NaN };
  try {
    for (const line of readFileSync(`/proc/${pid}/io`, 'utf8').split('\n')) {
      const [k, v] = line.split(':');
      if (k in o) o[k] = Number(v);
    }
  } catch {
    /* not permitted or gone */
  }
  return o;
}

/**
 * User + system CPU seconds of a process's main thread alone (the thread
 * whose id is the pid: a Node process's event loop), or NaN.
 */
export function mainThreadSeconds(pid) {
  const t = statTimes(`/proc/${pid}/task/${pid}/stat`);
  return t.user + t.sys;
}

/** Counters worth diffing around a run: CPU split (all threads, and the main thread as `main`) and syscalls. */
export function snapshot(pid) {
  return { ...cpuTimes(pid), main: mainThreadSeconds(pid), ...ioCounters(pid) };
}

/** b − a for every numeric field. */
export function diff(a, b) {
  const d = {};
  for (const k of Object.keys(b)) d[k] = b[k] - a[k];
  return d;
}

/** {rssKb, hwmKb} from /proc/<pid>/status, or null when the process is gone. */
export function memory(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+)/.exec(s);
    const hwm = /VmHWM:\s+(\d+)/.exec(s);
    return { rssKb: rss ? Number(rss[1]) : NaN, hwmKb: hwm ? Number(hwm[1]) : NaN };
  } catch {
    return null;
  }
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0); false if not permitted. */
export function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Samples VmRSS every `everyMs`; stop() returns the maximum seen (kB). */
export function sampleRss(pid, everyMs = 50) {
  let max = memory(pid)?.rssKb ?? NaN;
  const t = setInterval(() => {
    const m = memory(pid);
    if (m && !(m.rssKb <= max)) max = m.rssKb;
  }, everyMs);
  return {
    stop() {
      clearInterval(t);
      const m = memory(pid);
      if (m && !(m.rssKb <= max)) max = m.rssKb;
      return max;
    },
  };
}

/** A free TCP port on 127.0.0.1 (closed again before returning). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves once something accepts TCP connections on host:port. */
export async function waitForPort(host, port, timeoutMs, isDead = () => null) {
  const until = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < until) {
    const dead = isDead();
    if (dead) throw dead;
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', (e) => {
        last = e;
        resolve(false);
      });
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms${last ? ` (last error: ${last.message})` : ''}`);
}

/**
 * Runs a command to completion, collecting its output.
 * @returns {Promise<{code: number|null, signal: string|null, stdout: string, stderr: string, ms: number}>}
 */
export function run(cmd, args, opts = {}) {
  const { timeoutMs, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { ...spawnOpts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, timeoutMs)
      : null;
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) stderr += `\n[bench] killed: did not finish within ${timeoutMs / 1000} s\n`;
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0, timedOut });
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export function stopChild(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    try {
      child.kill('SIGTERM');
    } catch {
      clearTimeout(t);
      resolve();
    }
  });
}

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/**
 * CPU seconds of every process that is *not* part of the benchmark: not a
 * kernel thread, not a database server or load generator of the bench
 * (postgres, pgbench, mariadbd / mysqld, mysqlslap; sshd, sftp-server, ssh and
 * scp for the SSH part), not one of `excludePids`. Diff two
 * of these around a run to see how much the rest of the machine competed
 * (processes that both start and exit within the run are missed).
 * @returns {Map<number, {start: string, cpu: number}>}
 */
const BENCH_COMMS = new Set(['postgres', 'pgbench', 'mariadbd', 'mysqld', 'mysqlslap', 'mariadb-slap', 'sshd', 'sftp-server', 'ssh', 'scp']);
export function foreignCpu(excludePids) {
  const m = new Map();
  let names;
  try {
    names = readdirSync('/proc');
  } catch {
    return m;
  }
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(name);
    if (excludePids.has(pid)) continue;
    let s;
    try {
      s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    if (BENCH_COMMS.has(comm)) continue;
    const f = s.slice(close + 2).split(' ');
    const ppid = Number(f[1]);
    if (pid === 2 || ppid === 2) continue; // kernel threads
    m.set(pid, { start: f[19], cpu: (Number(f[11]) + Number(f[12])) / clkTck });
  }
  return m;
}

/** CPU seconds the foreign processes used between two foreignCpu() maps. */
export function foreignDelta(before, after) {
  let sum = 0;
  for (const [pid, a] of after) {
    const b = before.get(pid);
    sum += b && b.start === a.start ? a.cpu - b.cpu : a.cpu;
  }
  return sum;
}
