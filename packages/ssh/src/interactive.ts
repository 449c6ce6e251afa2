import type ssh2 from 'ssh2';
import type { Command } from '@sluice/core';
import { shellCommand } from './shell/index.js';
import { LineTracker } from './terminal/line-tracker.js';
import type { ConnContext, PtyState, RunningChannel } from './connection.js';
import { ptyOptions } from './exec.js';
import { ChannelRelay, approvalLine, denyLine, type GateSink, type InputGate } from './relay.js';

/**
 * The Command for one command line; a parser failure becomes a 'parse-error'
 * command (refused). `mode` 'shell' when the lines that follow are judged
 * too (typed lines, a gated shell's input), 'exec' otherwise (a shell
 * started without a command string then runs unseen code: dynamic).
 */
export function commandOf(line: string, mode: 'exec' | 'shell'): Command {
  try {
    return shellCommand(line, { mode });
  } catch (e) {
    return { protocol: 'ssh', kind: 'exec', text: line, objects: [], flags: ['parse-error'], error: (e as Error).message };
  }
}

/** Client input held while a line is being judged; above this the client is paused (SSH window). */
export const INPUT_QUEUE_LIMIT = 256 * 1024;
/** Longest input line of a no-pty shell; a longer one is refused whole (the parser takes 64 KiB). */
export const MAX_LINE = 256 * 1024;

/**
 * Runs the gate's handler over client input strictly in order, one chunk at
 * a time, pausing the client while too much waits. A handler failure stops
 * all forwarding (fail closed) and says so.
 */
class SerialInput {
  private readonly q: Buffer[] = [];
  private size = 0;
  private busy = false;
  private paused = false;
  private ended = false;
  private endDone = false;
  private dead = false;

  constructor(
    private readonly sink: GateSink,
    private readonly handle: (b: Buffer) => Promise<void>,
    private readonly atEnd: () => Promise<void>,
  ) {}

  push(b: Buffer): void {
    if (this.dead || this.ended) return;
    this.q.push(b);
    this.size += b.length;
    if (this.size > INPUT_QUEUE_LIMIT && !this.paused) {
      this.paused = true;
      this.sink.pauseClient();
    }
    void this.run();
  }

  end(): void {
    this.ended = true;
    void this.run();
  }

  dispose(): void {
    this.dead = true;
    this.q.length = 0;
  }

  /** Drops the input waiting to be handled (after a refused line). */
  discardQueued(): void {
    this.q.length = 0;
    this.size = 0;
  }

  private async run(): Promise<void> {
    if (this.busy || this.dead) return;
    this.busy = true;
    try {
      while (this.q.length && !this.dead) {
        const b = this.q.shift()!;
        this.size -= b.length;
        await this.handle(b);
        if (this.paused && this.size < INPUT_QUEUE_LIMIT / 2) {
          this.paused = false;
          this.sink.resumeClient();
        }
      }
      if (this.ended && !this.endDone && !this.dead) {
        this.endDone = true;
        await this.atEnd();
      }
    } catch {
      this.dead = true;
      this.sink.tell('sluice: the gateway failed to judge your input; nothing more is forwarded');
    } finally {
      this.busy = false;
    }
  }
}

/**
 * Judging for input without a terminal (a shell fed by a pipe, `ssh host
 * bash < script`): each line (up to '\n') is judged as a command line
 * before it is forwarded; a refused line is not forwarded and a stderr line
 * says why; an approval-gated line waits. A final line without '\n' is
 * judged at EOF. Multi-line constructs are judged line by line, so a line
 * that does not parse on its own is refused (fail closed).
 */
export function lineGate(ctx: ConnContext, relay: ChannelRelay): InputGate {
  const sink = relay.sink();
  let partial: Buffer = Buffer.alloc(0);
  const judge = async (line: Buffer): Promise<void> => {
    const text = line.toString('utf8').replace(/\r?\n$/, '');
    if (text.trim() === '') return sink.send(line);
    const v = await ctx.session.authorize(commandOf(text, 'shell'), (n) => sink.tell(approvalLine(n)), relay.aborted);
    if (v.effect === 'allow') return sink.send(line);
    sink.tell(denyLine(v));
  };
  // Inside an over-long line: its bytes are dropped up to its newline (never forwarded in pieces).
  let skipping = false;
  const input = new SerialInput(
    sink,
    async (chunk) => {
      let buf = partial.length ? Buffer.concat([partial, chunk]) : chunk;
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) >= 0) {
        if (skipping) skipping = false;
        else await judge(buf.subarray(0, nl + 1));
        buf = buf.subarray(nl + 1);
      }
      if (skipping) buf = Buffer.alloc(0);
      else if (buf.length > MAX_LINE) {
        const cmd = commandOf(buf.subarray(0, 200).toString('utf8'), 'shell');
        ctx.session.refuse(cmd, `input line longer than ${MAX_LINE} bytes`);
        sink.tell(`sluice: an input line longer than ${MAX_LINE} bytes was refused`);
        skipping = true;
        buf = Buffer.alloc(0);
      }
      partial = Buffer.from(buf);
    },
    async () => {
      if (partial.length && !skipping) await judge(partial);
      partial = Buffer.alloc(0);
      sink.endInput();
    },
  );
  return {
    input: (b) => input.push(b),
    output: () => undefined,
    resize: () => undefined,
    end: () => input.end(),
    dispose: () => input.dispose(),
  };
}

/**
 * Judging typed lines on a terminal: keystrokes pass to the target as they
 * are typed (so echo, editing and completion work), the line is rebuilt
 * from the screen (LineTracker), and the Enter that submits it — with
 * everything typed after it — is held until the line is judged, except
 * while a full-screen program (vim, less, top) runs, whose keys are not
 * command lines.
 * - allowed: the Enter and what was held are forwarded;
 * - held for approval: a notice on the terminal at once; typing waits
 *   (Ctrl-C cancels the request); then as allowed or refused;
 * - refused: a line naming the policy on the terminal, the held keys are
 *   dropped, and the line is cancelled on the target (LineTracker.cancelLine:
 *   Ctrl-C, so the shell discards its line buffer and prints a fresh
 *   prompt); the Enter never reaches the target;
 * - a line the tracker could only guess (keys such as Tab or Up typed before
 *   the shell echoed them) is refused the same way (fail closed), recorded
 *   with `session.refuse`, and the user is asked to retype it.
 */
export function terminalGate(ctx: ConnContext, relay: ChannelRelay, pty: PtyState): InputGate {
  const sink = relay.sink();
  const tracker = new LineTracker({ cols: pty.cols, rows: pty.rows });
  const vintr = pty.modes.VINTR !== undefined && pty.modes.VINTR !== 255 && pty.modes.VINTR !== 0 ? pty.modes.VINTR : 3;
  let pending: AbortController | null = null;
  const tell = (line: string) => sink.tell(`\n${line}`);

  const input: SerialInput = new SerialInput(
    sink,
    async (chunk) => {
      const segs = await tracker.input(chunk);
      for (const seg of segs) {
        if (seg.type === 'pass') {
          await sink.send(Buffer.from(seg.data));
          continue;
        }
        const enter = Buffer.from(seg.enter);
        if (seg.exact && seg.line.trim() === '') {
          await sink.send(enter);
          continue;
        }
        const cmd = commandOf(seg.line, 'shell');
        let allowed = false;
        if (!seg.exact) {
          ctx.session.refuse(cmd, 'the line could not be read exactly from the terminal');
          tell('sluice: the gateway could not read this line exactly (keys were typed before the shell echoed them); it was not run, please type it again');
        } else {
          const ac = new AbortController();
          pending = ac;
          const v = await ctx.session.authorize(cmd, (n) => tell(approvalLine(n)), AbortSignal.any([relay.aborted, ac.signal]));
          pending = null;
          if (v.effect === 'allow') allowed = true;
          else tell(denyLine(v));
        }
        if (allowed) {
          await sink.send(enter);
          continue;
        }
        // Refused: what was typed after the Enter is dropped, and the line is cancelled on the host.
        input.discardQueued();
        await sink.send(Buffer.from(tracker.cancelLine()));
        return;
      }
    },
    async () => sink.endInput(),
  );
  return {
    input: (b) => {
      // Ctrl-C while a line waits for approval cancels the request.
      if (pending && b.includes(vintr)) pending.abort();
      input.push(b);
    },
    output: (b) => tracker.output(b),
    resize: (cols, rows) => tracker.resize(cols, rows),
    end: () => input.end(),
    dispose: () => {
      input.dispose();
      tracker.dispose();
    },
  };
}

/**
 * A `shell` request: an interactive shell on its own upstream channel, with
 * the client's pty (typed lines judged by terminalGate) or without one
 * (input lines judged by lineGate). Output is masked and recorded, resizes
 * recorded and forwarded.
 */
export function runShell(ctx: ConnContext, accept: () => ssh2.ServerChannel | undefined, pty: PtyState | null, env: Record<string, string>): RunningChannel | null {
  const ch = accept();
  if (!ch) return null;
  const relay = new ChannelRelay(ctx, ch, pty);
  const failed = (err: Error) => void relay.refuse(`sluice: the target of "${ctx.session.connection.name}" did not start a shell: ${err.message}`, 255);
  try {
    ctx.upstream.shell(pty ? ptyOptions(pty) : false, { env }, (err, up) => {
      if (err) return failed(err);
      const gate = pty ? terminalGate(ctx, relay, pty) : lineGate(ctx, relay);
      void relay.attach(up, gate);
    });
  } catch (e) {
    // ssh2 throws when the target connection is already gone.
    failed(e as Error);
  }
  return relay;
}
