import type ssh2 from 'ssh2';
import type { ApprovalNotice, Verdict } from '@sluice/core';
import type { ConnContext, PtyState, RunningChannel } from './connection.js';
import { TerminalOutput, drained, pipeOutput } from './output.js';

/** How long a duration reads for a human ('10m', '90s'). */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${Math.round(ms / 100) / 10}s`;
  return `${ms}ms`;
}

/** The line told to the client at once when a command waits for approval. */
export function approvalLine(n: ApprovalNotice): string {
  return `sluice: approval required by policy "${n.policy}": request ${n.requestId} is waiting up to ${formatDuration(n.timeoutMs)} for ${n.approvers.join(', ')} (until ${n.expiresAt.toISOString()})`;
}

/** The line told to the client when a command is refused. */
export function denyLine(v: Extract<Verdict, { effect: 'deny' }>): string {
  return `sluice: ${v.reason}`;
}

/** What may stand between the client's input and the target (judging typed lines). */
export interface InputGate {
  /** Client input, in order; the gate forwards what may reach the target through its sink. */
  input(chunk: Buffer): void;
  /** Target output in the clear (for rebuilding the screen); never sent anywhere. */
  output(chunk: Uint8Array): void;
  resize(cols: number, rows: number): void;
  /** The client sent EOF: forward what is pending (if allowed), then end the target's input. */
  end(): void;
  dispose(): void;
}

/** Where a gate sends what it let through, and how it talks to the client. */
export interface GateSink {
  /** Writes to the target's stdin; resolves when it may write more (backpressure). */
  send(data: Buffer): Promise<void>;
  /** Ends the target's stdin. */
  endInput(): void;
  /** A line to the client's terminal (or stderr without a pty). */
  tell(line: string): void;
  /** Stop / resume reading the client's input (the gate's queue is full / drained). */
  pauseClient(): void;
  resumeClient(): void;
}

/**
 * One client session channel relayed to one upstream channel: output masked
 * and recorded, input through an optional gate, backpressure both ways,
 * window changes and signals forwarded, exit status (or signal) passed back
 * after all output, and the outcome recorded with `session.result`.
 */
export class ChannelRelay implements RunningChannel {
  private up: ssh2.ClientChannel | null = null;
  private gate: InputGate | null = null;
  private finished = false;
  private readonly untrack: () => void;
  private readonly abort = new AbortController();
  private readonly outs: TerminalOutput[] = [];
  private readonly t0 = Date.now();
  /** The latest window size when it changed before the upstream channel was open. */
  private size: PtyState | null = null;
  readonly eol: string;
  /** Aborted when the client connection or this channel ends. */
  readonly aborted: AbortSignal;

  constructor(
    private readonly ctx: ConnContext,
    readonly ch: ssh2.ServerChannel,
    readonly pty: PtyState | null,
  ) {
    this.eol = pty ? '\r\n' : '\n';
    this.aborted = AbortSignal.any([ctx.signal, this.abort.signal]);
    this.untrack = ctx.track(this);
    ch.on('error', () => undefined);
    ch.stderr.on('error', () => undefined);
    ch.once('close', () => {
      // The client closed its channel (or the connection went): stop everything for it.
      this.abort.abort();
      this.gate?.dispose();
      for (const o of this.outs) o.dispose();
      if (this.up) this.up.close();
      this.finished = true;
      this.untrack();
    });
  }

  /** Writes a line to the client's stderr (a pty shows it on the terminal). */
  tell(line: string): void {
    if (this.finished) return;
    const text = Buffer.from(`${line.replace(/\r?\n/g, this.eol)}${this.eol}`);
    this.ctx.session.output(text, 'stderr');
    // The terminal model must see what the client's screen shows.
    if (this.pty) this.gate?.output(text);
    this.ch.stderr.write(text);
  }

  /** Ends the client's channel without running anything upstream (refused, failed to open). */
  async refuse(line: string, status: number): Promise<void> {
    this.tell(line);
    await this.finish({ code: status });
  }

  /** Wires an opened upstream channel; resolves when it has closed and the client's channel is finished. */
  async attach(up: ssh2.ClientChannel, gate: InputGate | null): Promise<void> {
    if (this.finished) {
      gate?.dispose();
      up.close();
      return;
    }
    this.up = up;
    this.gate = gate;
    if (this.size) {
      // The window changed while the command was judged or the channel opened.
      gate?.resize(this.size.cols, this.size.rows);
      up.setWindow(this.size.rows, this.size.cols, this.size.height, this.size.width);
    }
    let exit: { code?: number; signal?: string; dump?: boolean; desc?: string } = {};
    up.on('exit', (code: number | null, signal?: string, dump?: boolean, desc?: string) => {
      exit = code !== null && code !== undefined ? { code } : { signal: signal ?? 'KILL', dump, desc };
    });
    up.on('error', () => undefined);
    up.stderr.on('error', () => undefined);

    // Client → target.
    if (gate) {
      this.ch.on('data', (d: Buffer) => gate.input(d));
      this.ch.once('end', () => gate.end());
    } else {
      this.ch.on('data', (d: Buffer) => {
        if (!up.write(d)) {
          this.ch.pause();
          up.once('drain', () => this.ch.resume());
        }
      });
      this.ch.once('end', () => up.end());
    }

    // Target → client, masked and recorded.
    const out = new TerminalOutput(this.ctx.session, 'stdout', this.ch, this.ctx.newMasker(), this.ctx.maskIdleMs);
    const err = new TerminalOutput(this.ctx.session, 'stderr', this.ch.stderr, this.ctx.newMasker(), this.ctx.maskIdleMs);
    this.outs.push(out, err);
    if (gate) up.on('data', (d: Buffer) => gate.output(d));
    const done = Promise.all([pipeOutput(up, out, this.ch), pipeOutput(up.stderr, err, this.ch.stderr)]);
    await new Promise<void>((resolve) => up.once('close', resolve));
    await done;
    gate?.dispose();
    if (this.finished) return;
    this.ctx.session.result({
      ms: Date.now() - this.t0,
      masked: out.masked + err.masked,
      ...(exit.code !== undefined && exit.code !== 0 ? { error: `exit status ${exit.code}` } : {}),
      ...(exit.signal ? { error: `killed by signal ${exit.signal}` } : {}),
    });
    await this.finish(exit);
  }

  /** Gate sink over the attached upstream channel. */
  sink(): GateSink {
    return {
      send: async (data) => {
        const up = this.up;
        if (!up || this.finished) return;
        if (!up.write(data)) await new Promise<void>((r) => {
          up.once('drain', r);
          up.once('close', r);
        });
      },
      endInput: () => this.up?.end(),
      tell: (line) => this.tell(line),
      pauseClient: () => this.ch.pause(),
      resumeClient: () => this.ch.resume(),
    };
  }

  resize(p: PtyState): void {
    this.size = p;
    this.gate?.resize(p.cols, p.rows);
    this.up?.setWindow(p.rows, p.cols, p.height, p.width);
  }

  signal(name: string): void {
    this.up?.signal(name);
  }

  terminate(message: string, status: number): void {
    if (this.finished) return;
    this.tell(`sluice: ${message}`);
    for (const o of this.outs) o.end();
    this.abort.abort();
    this.finished = true;
    this.untrack();
    try {
      this.ch.exit(status);
      this.ch.end();
    } catch {
      /* channel already gone */
    }
    this.up?.close();
  }

  /** After every byte is out: exit status (or signal), EOF, close. */
  private async finish(exit: { code?: number; signal?: string; dump?: boolean; desc?: string }): Promise<void> {
    if (this.finished) return;
    await Promise.all([drained(this.ch), drained(this.ch.stderr)]);
    if (this.finished) return;
    this.finished = true;
    this.untrack();
    try {
      if (exit.signal) this.ch.exit(exit.signal.replace(/^SIG/, ''), exit.dump ?? false, exit.desc ?? '');
      else if (exit.code !== undefined) this.ch.exit(exit.code);
      this.ch.end();
    } catch {
      /* channel already gone */
    }
  }
}
