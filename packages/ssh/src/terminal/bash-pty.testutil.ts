/**
 * Test support: a real interactive bash in a pseudo-terminal (python3's pty
 * module; no node-pty here). Used by the LineTracker tests only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';

/** Forks bash on a pty of the given size; relays stdin → pty, pty → stdout; fd 3 takes 'COLS ROWS\n' resizes. */
const RELAY = String.raw`
import os, sys, pty, select, struct, fcntl, termios
cols, rows = int(sys.argv[1]), int(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execvp('bash', ['bash', '--noprofile', '--rcfile', os.environ['SLUICE_RC'], '-i'])
ctl = 3
inputs = [fd, 0, ctl]
buf = b''
while True:
    try:
        r, _, _ = select.select(inputs, [], [])
    except InterruptedError:
        continue
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        os.write(1, data)
    if 0 in r:
        data = os.read(0, 65536)
        if not data:
            inputs.remove(0)
        else:
            os.write(fd, data)
    if ctl in r:
        data = os.read(ctl, 4096)
        if not data:
            inputs.remove(ctl)
        else:
            buf += data
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                c, rw = map(int, line.split())
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rw, c, 0, 0))
os.waitpid(pid, 0)
`;

export const PROMPT = 'SLUICE$ ';

export class BashPty {
  private readonly child: ChildProcess;
  readonly home: string;
  /** Everything bash wrote, as text. */
  log = '';
  private listeners: (() => void)[] = [];
  private lastData = 0;
  private sentAt = 0;
  private chunks = 0;
  private chunksAtSend = 0;
  exited = false;

  constructor(cols: number, rows: number, onData: (b: Buffer) => void) {
    this.home = mkdtempSync(join(tmpdir(), 'sluice-bash-'));
    const rc = join(this.home, 'bashrc');
    writeFileSync(rc, `PS1='${PROMPT}'\nPS2='> '\nunset PROMPT_COMMAND\n`);
    this.child = spawn('python3', ['-c', RELAY, String(cols), String(rows)], {
      stdio: ['pipe', 'pipe', 'inherit', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: this.home,
        TERM: 'xterm-256color',
        SLUICE_RC: rc,
        HISTFILE: '/dev/null',
        INPUTRC: '/dev/null',
        LANG: 'C.UTF-8',
      },
    });
    this.child.stdout!.on('data', (b: Buffer) => {
      this.lastData = Date.now();
      this.chunks++;
      this.log += b.toString('utf8');
      onData(b);
      for (const l of this.listeners.slice()) l();
    });
    this.child.on('exit', () => {
      this.exited = true;
      for (const l of this.listeners.slice()) l();
    });
  }

  send(data: string | Uint8Array): void {
    this.sentAt = Date.now();
    this.chunksAtSend = this.chunks;
    this.child.stdin!.write(data);
  }

  resize(cols: number, rows: number): void {
    (this.child.stdio[3] as Writable).write(`${cols} ${rows}\n`);
  }

  /** Resolves when pred(log) holds; rejects after timeoutMs (a hang, not a timing assertion). */
  waitFor(pred: (log: string) => boolean, what: string, timeoutMs = 10000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (pred(this.log)) {
          done();
          resolve();
        } else if (this.exited) {
          done();
          reject(new Error(`bash exited while waiting for ${what}; output: ${JSON.stringify(this.log.slice(-400))}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; output: ${JSON.stringify(this.log.slice(-400))}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
      };
      this.listeners.push(check);
      check();
    });
  }

  /**
   * Waits for the reaction to the last send: until some output has arrived
   * after it and bash has then been silent for quietMs, or until noEchoMs
   * passed without any output (a key that echoes nothing). A wait, not an
   * assertion: tests then check what the screen shows.
   */
  async quiet(quietMs = 30, noEchoMs = 5000): Promise<void> {
    for (;;) {
      const now = Date.now();
      if (this.chunks > this.chunksAtSend) {
        if (now - this.lastData >= quietMs) return;
      } else if (now - this.sentAt >= noEchoMs) {
        return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): void {
    try {
      this.child.stdin!.end();
      this.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    rmSync(this.home, { recursive: true, force: true });
  }
}

/** What bash printed, as lines of plain text (escape sequences and carriage returns removed). */
export function printedLines(log: string): string[] {
  // eslint-disable-next-line no-control-regex
  const plain = log.replace(/\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g, '');
  return plain.split('\n').map((l) => l.replace(/\r/g, ''));
}
