/**
 * Rebuilds the command line a user submits in an interactive shell on a pty,
 * from the host's output (a terminal model: @xterm/headless) and the user's
 * keystrokes. See index.ts for how the SSH plugin wires it.
 */
import xterm from '@xterm/headless';
import type { IMarker, Terminal as XTerminal } from '@xterm/headless';
import { LineEditor } from './line-editor.js';
import { parseKeys, type Key } from './keys.js';

const { Terminal } = xterm;

/**
 * What cancelLine() sends: Ctrl-E Ctrl-U empties readline's line in emacs mode
 * even when the tty's interrupt character is not Ctrl-C; Ctrl-C then
 * interrupts (discarding the line in any mode) and makes bash print a fresh
 * prompt.
 */
const CANCEL = '\x05\x15\x03';

export type InputSegment =
  | { type: 'pass'; data: Uint8Array }
  | {
      type: 'submit';
      /** The command line the shell is about to run (prompt removed, wrapped rows joined, trailing blanks trimmed). */
      line: string;
      /**
       * The bytes that run the line ('\r', '\n', '\r\n', Ctrl-O, or the
       * Ctrl-E of Ctrl-X Ctrl-E): forward them only once policy allows it.
       */
      enter: Uint8Array;
      /**
       * false when the line is a guess: keys the tracker cannot replay (Tab,
       * Up/Down, Ctrl-R …) typed before the shell echoed them; a screen on
       * which the line's start was lost while such keys were used; a screen
       * that disagrees with the replayed keys (a pre-filled line, a right-side
       * prompt, a key binding); a line typed after a cancel the shell did not
       * confirm; Ctrl-X Ctrl-E. A caller that fails closed refuses it.
       */
      exact: boolean;
    };

export interface LineTrackerOptions {
  cols: number;
  rows: number;
  /** Rows of scrollback the model keeps (default 1000). A line longer than this is not tracked exactly. */
  scrollback?: number;
  /**
   * Before reading a submitted line, wait until the host has sent nothing for
   * this long (ms; default 15, 0 = do not wait), so that an echo still
   * arriving in pieces (a completion, a redraw) is complete. Bounded by
   * `echoWaitMaxMs` (default 250) when output never pauses.
   */
  echoWaitMs?: number;
  echoWaitMaxMs?: number;
}

interface LineState {
  /** 'screen': read from the screen at Enter; 'input': typed before the shell could echo (replayed from keys). */
  mode: 'screen' | 'input';
  /** Screen mode: the logical line's first row, and the cell offset of the line's start (after the prompt). */
  marker?: IMarker;
  offset?: number;
  /**
   * Every key of the line replayed from an empty line: the line itself in
   * input mode; in screen mode a cross-check (and the answer when the screen
   * lost the line, e.g. when background output scrolled it).
   */
  editor: LineEditor;
  /** Started after a cancel that no fresh prompt has confirmed (see `cancelled`). */
  afterCancel?: boolean;
  /** Started after Ctrl-O: the shell pre-filled it (see `prefilled`); always inexact. */
  prefilled?: boolean;
}

/**
 * Tracks what the user types at a shell prompt.
 *
 * Usage contract (the plugin must follow it, or it may read a stale screen):
 *  - `output(bytes)` with EVERY byte the host sends to the client, in order,
 *    BEFORE masking (the tracker must see what the shell really shows; its
 *    screen is never sent anywhere). Call it as soon as the bytes arrive.
 *  - `await input(bytes)` with every byte the client sends, in order. Calls
 *    are queued: each resolves after all output given so far has been parsed,
 *    in call order. Handle the segments of one call before those of the next.
 *  - Forward each 'pass' segment at once. For a 'submit', hold its `enter`
 *    and every later byte (later segments and later calls) until policy
 *    decides; then forward `enter` and what was held, or discard the held
 *    bytes and send {@link cancelLine}'s bytes to the host.
 *  - While {@link fullScreen} (vim, less, top) every byte is one 'pass'
 *    segment: lines are not judged then.
 */
export class LineTracker {
  private readonly term: XTerminal;
  private pendingWrites = 0;
  private waiters: (() => void)[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private line: LineState | null = null;
  /** Keys applied to a screen-mode line since the last host output (not echoed yet). */
  private unechoed: Key[] = [];
  /** After a submit or cancel: no fresh prompt seen yet, so new keys are typed ahead. */
  private awaitPrompt = true;
  /** The logical line of the last submit or cancel (a fresh prompt is on another one). */
  private submitMarker: IMarker | undefined;
  /**
   * A line was cancelled (Ctrl-C, cancelLine()) and no fresh prompt has shown
   * since: the shell may have ignored the cancel (e.g. `stty intr undef`), so
   * its buffer may still hold the cancelled text.
   */
  private cancelled = false;
  /**
   * The last line was run with Ctrl-O (operate-and-get-next): bash fills the
   * next line with the following history entry, which the screen shows
   * before the cursor, where the tracker cannot tell it from the prompt. The
   * next line is therefore inexact.
   */
  private prefilled = false;
  private pasting = false;
  private carry: Buffer = Buffer.alloc(0);
  private lastPrompt = '';
  private disposed = false;
  private lastOutputAt = 0;
  private readonly echoWaitMs: number;
  private readonly echoWaitMaxMs: number;

  constructor(opts: LineTrackerOptions) {
    this.echoWaitMs = Math.max(0, opts.echoWaitMs ?? 15);
    this.echoWaitMaxMs = Math.max(0, opts.echoWaitMaxMs ?? 250);
    this.term = new Terminal({
      cols: opts.cols,
      rows: opts.rows,
      scrollback: opts.scrollback ?? 1000,
      allowProposedApi: true,
    });
  }

  /**
   * True while a full-screen program runs (the alternate screen buffer is
   * active), as of the output parsed so far; `input()` reads it after parsing.
   */
  get fullScreen(): boolean {
    return this.term.buffer.active.type === 'alternate';
  }

  /** Whether the user is inside a bracketed paste (the host expects `ESC [ 2 0 1 ~` before anything else). */
  get inPaste(): boolean {
    return this.pasting;
  }

  /** Bytes the host sent to the client (before masking). Never throws. */
  output(data: Uint8Array): void {
    if (this.disposed || data.length === 0) return;
    // Whatever the keys typed so far did, the screen shows it once this is parsed.
    this.unechoed = [];
    this.lastOutputAt = Date.now();
    this.pendingWrites++;
    this.term.write(data, () => {
      this.pendingWrites--;
      this.afterParse();
      if (this.pendingWrites === 0) {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      }
    });
  }

  resize(cols: number, rows: number): void {
    if (this.disposed) return;
    if (!(cols > 0 && rows > 0)) return;
    this.term.resize(Math.floor(cols), Math.floor(rows));
  }

  /** Resolves once every byte given to `output()` so far has been parsed into the screen. */
  settled(): Promise<void> {
    if (this.pendingWrites === 0 || this.disposed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Splits the user's bytes at Enter (see {@link InputSegment}). Resolves after
   * all output written before the call is parsed, and after earlier calls.
   * The pass and Enter bytes of all calls, concatenated, are exactly the bytes
   * given (an escape sequence cut by a chunk boundary is forwarded as it
   * comes, and recognised with the next chunk). Rejects after dispose().
   */
  input(data: Uint8Array): Promise<InputSegment[]> {
    const buf = Buffer.from(data); // a copy: segments may be held while the caller reuses its buffer
    const run = this.queue.then(async () => {
      if (this.echoWaitMs > 0 && mayEnter(buf)) await this.outputPause();
      await this.settled();
      return this.process(buf);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Bytes to send to the host instead of the Enter of a refused line (the
   * plugin also drops everything held after it): `ESC [ 2 0 1 ~` if a
   * bracketed paste is open, then Ctrl-E Ctrl-U Ctrl-C, which empties bash's
   * line in emacs and vi mode even when the tty's interrupt character is not
   * Ctrl-C, and with a working interrupt prints a fresh prompt (see index.ts).
   * Resets the tracker's line state; until a fresh prompt shows (`atPrompt`)
   * a new line is exact only if the screen proves the shell holds just it.
   */
  cancelLine(): Uint8Array {
    const bytes = (this.pasting ? '\x1b[201~' : '') + CANCEL;
    this.pasting = false;
    this.endLine(true);
    return Buffer.from(bytes, 'latin1');
  }

  /**
   * Whether the shell has shown a fresh prompt since the last submit or
   * cancel. After sending cancelLine()'s bytes, a plugin that must be sure
   * the refused line is gone waits for this (a second or so) and closes the
   * channel if it never comes.
   */
  get atPrompt(): boolean {
    return !this.awaitPrompt;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.submitMarker?.dispose();
    this.line?.marker?.dispose();
    this.term.dispose();
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  // ------------------------------------------------------------ internals

  /** Waits until no output came for echoWaitMs (at most echoWaitMaxMs). */
  private async outputPause(): Promise<void> {
    const start = Date.now();
    for (;;) {
      const now = Date.now();
      const idle = now - this.lastOutputAt;
      if (idle >= this.echoWaitMs || now - start >= this.echoWaitMaxMs || this.disposed) return;
      await new Promise((r) => setTimeout(r, Math.min(this.echoWaitMs - idle, this.echoWaitMaxMs - (now - start)) + 1));
    }
  }

  private process(buf: Buffer): InputSegment[] {
    if (this.disposed) throw new Error('LineTracker disposed');
    if (buf.length === 0) return [];
    if (this.fullScreen) {
      // Keys go to vim/less/top: nothing is a shell line. Forget a half-typed one.
      this.carry = Buffer.alloc(0);
      this.pasting = false;
      if (this.line) this.endLine();
      return [{ type: 'pass', data: buf }];
    }
    const carried = this.carry.length;
    const all = carried ? Buffer.concat([this.carry, buf]) : buf;
    const { keys, rest } = parseKeys(all);
    this.carry = Buffer.from(all.subarray(all.length - rest));
    const out: InputSegment[] = [];
    let passStart = 0; // index into buf
    let typedAhead = false; // a submit happened in this call: the shell has not seen what follows
    for (const k of keys) {
      if (k.kind === 'paste-start') {
        this.pasting = true;
        continue;
      }
      if (k.kind === 'paste-end') {
        this.pasting = false;
        continue;
      }
      if (k.kind === 'enter' && k.via && this.pasting) {
        // pasted control bytes are inserted, not run; the replay cannot follow them
        this.startLine(typedAhead);
        this.line!.editor.exact = false;
        continue;
      }
      if (k.kind === 'enter') {
        const fin = this.finishLine();
        const line = fin.line;
        // After Ctrl-X Ctrl-E the shell runs what the user edits next, not this line.
        const exact = fin.exact && k.via !== 'edit';
        const start = Math.max(0, k.start - carried);
        const end = Math.max(0, k.end - carried);
        if (start > passStart) out.push({ type: 'pass', data: buf.subarray(passStart, start) });
        out.push({ type: 'submit', line, exact, enter: buf.subarray(start, end) });
        passStart = end;
        this.endLine();
        this.prefilled = k.via === 'operate';
        typedAhead = true;
        continue;
      }
      if (!this.pasting && k.kind === 'ctrl' && k.code === 0x03) {
        // Ctrl-C: the shell drops the line and prints a new prompt (if it does not, see `cancelled`).
        this.endLine(true);
        continue;
      }
      if (!this.pasting && k.kind === 'ctrl' && k.code === 0x04 && this.lineEmpty()) {
        // Ctrl-D on an empty line: end of input (logout), no line.
        this.endLine();
        continue;
      }
      this.startLine(typedAhead);
      const st = this.line!;
      st.editor.apply(k, this.pasting);
      if (st.mode === 'screen') this.unechoed.push(k);
    }
    if (passStart < buf.length) out.push({ type: 'pass', data: buf.subarray(passStart) });
    return out;
  }

  private startLine(typedAhead: boolean): void {
    if (this.line) return;
    this.unechoed = [];
    const editor = new LineEditor('', 0);
    const prefilled = this.prefilled;
    this.prefilled = false;
    if (typedAhead || this.awaitPrompt || this.pasting) {
      this.line = { mode: 'input', editor, afterCancel: this.cancelled, prefilled };
      return;
    }
    const b = this.term.buffer.active;
    const row = b.baseY + b.cursorY;
    const first = this.logicalStart(row);
    const marker = this.term.registerMarker(first - row);
    if (!marker) {
      this.line = { mode: 'input', editor, prefilled };
      return;
    }
    this.line = { mode: 'screen', editor, prefilled, marker, offset: (row - first) * this.term.cols + Math.min(b.cursorX, this.term.cols) };
  }

  private lineEmpty(): boolean {
    if (!this.line) return true;
    if (this.line.mode === 'input') return this.line.editor.text.length === 0;
    const r = this.readScreen();
    return r !== null && r.text.trim().length === 0 && this.unechoed.length === 0;
  }

  /** After a submit or cancel: the next keys belong to a new line, typed ahead until a fresh prompt shows. */
  private endLine(cancel = false): void {
    this.line?.marker?.dispose();
    this.line = null;
    this.unechoed = [];
    this.awaitPrompt = true;
    if (cancel) this.cancelled = true;
    this.submitMarker?.dispose();
    const b = this.term.buffer.active;
    const row = b.baseY + b.cursorY;
    this.submitMarker = this.term.registerMarker(this.logicalStart(row) - row);
  }

  /** The line as it stands now, and whether it is certain. */
  private finishLine(): { line: string; exact: boolean } {
    const st = this.line;
    if (!st) return { line: '', exact: !this.prefilled };
    const r = this.readLine(st);
    return st.prefilled ? { line: r.line, exact: false } : r;
  }

  private readLine(st: LineState): { line: string; exact: boolean } {
    const shadow = st.editor;
    if (st.mode === 'input') {
      const line = shadow.text.trimEnd();
      if (!st.afterCancel) return { line, exact: shadow.exact };
      // Typed after a cancel the shell did not (yet) answer with a fresh
      // prompt: exact only if the screen proves the shell holds just these keys.
      const shown = this.cursorLogicalLine().text;
      return { line, exact: shadow.exact && this.lastPrompt !== '' && shown === (this.lastPrompt + line).trimEnd() };
    }
    const screen = this.readScreen();
    let editor: LineEditor;
    let exact = true;
    if (screen) {
      editor = new LineEditor(screen.text, screen.cursor);
      this.lastPrompt = screen.prompt;
    } else if (shadow.exact) {
      // The screen lost the line (output scrolled or broke it) but every key was replayable.
      return { line: shadow.text.trimEnd(), exact: true };
    } else {
      // The line's start scrolled away or the cursor left its line: take the
      // cursor's whole logical line, without the last prompt if it starts so.
      exact = false;
      const whole = this.cursorLogicalLine();
      let text = whole.text;
      let cursor = whole.cursor;
      if (this.lastPrompt && text.startsWith(this.lastPrompt)) {
        text = text.slice(this.lastPrompt.length);
        cursor = Math.max(0, cursor - this.lastPrompt.length);
      }
      editor = new LineEditor(text, cursor);
    }
    for (const k of this.unechoed) editor.apply(k, false);
    const line = editor.text.trimEnd();
    // When the replay is reliable, the screen must agree with it; if not
    // (a right-side prompt, an autosuggestion, a custom key binding …), say so.
    if (shadow.exact && shadow.text.trimEnd() !== line) exact = false;
    return { line, exact: exact && editor.exact };
  }

  private afterParse(): void {
    if (!this.awaitPrompt || this.disposed) return;
    const b = this.term.buffer.active;
    if (b.type === 'alternate') return;
    const row = b.baseY + b.cursorY;
    const m = this.submitMarker;
    // A fresh prompt: output left the cursor after some text on another
    // logical line than the one the last line was submitted (or cancelled) on
    // (the echo of a long line wrapping to the next row is not one).
    if (b.cursorX > 0 && (!m || m.isDisposed || m.line !== this.logicalStart(row))) {
      this.awaitPrompt = false;
      this.cancelled = false;
      m?.dispose();
      this.submitMarker = undefined;
    }
  }

  private logicalStart(row: number): number {
    const b = this.term.buffer.active;
    let r = row;
    while (r > 0 && b.getLine(r)?.isWrapped) r--;
    return r;
  }

  private logicalEnd(row: number): number {
    const b = this.term.buffer.active;
    let r = row;
    while (r + 1 < b.length && b.getLine(r + 1)?.isWrapped) r++;
    return r;
  }

  /**
   * Text from the line's start to the end of its logical line, with the
   * cursor's index in it and the prompt before it; null when the start is
   * lost or the cursor is not on that logical line after the start.
   */
  private readScreen(): { text: string; cursor: number; prompt: string } | null {
    const st = this.line;
    if (!st || st.mode !== 'screen' || !st.marker || st.marker.isDisposed || st.marker.line < 0) return null;
    const b = this.term.buffer.active;
    const cols = this.term.cols;
    const first = st.marker.line;
    const aRow = first + Math.floor(st.offset! / cols);
    const aCol = st.offset! % cols;
    const cRow = b.baseY + b.cursorY;
    const cCol = b.cursorX;
    if (this.logicalStart(cRow) !== first) return null;
    if (cRow < aRow || (cRow === aRow && cCol < aCol)) return null;
    const last = this.logicalEnd(cRow);
    let text = '';
    let cursor = 0;
    for (let r = aRow; r <= last; r++) {
      const l = b.getLine(r);
      if (!l) break;
      const from = r === aRow ? aCol : 0;
      if (r === cRow) cursor = text.length + l.translateToString(false, from, Math.max(from, cCol)).length;
      text += l.translateToString(false, from);
    }
    let prompt = '';
    for (let r = first; r <= aRow; r++) {
      const l = b.getLine(r);
      if (l) prompt += r === aRow ? l.translateToString(false, 0, aCol) : l.translateToString(false);
    }
    return { text, cursor, prompt };
  }

  private cursorLogicalLine(): { text: string; cursor: number } {
    const b = this.term.buffer.active;
    const cRow = b.baseY + b.cursorY;
    const first = this.logicalStart(cRow);
    const last = this.logicalEnd(cRow);
    let text = '';
    let cursor = 0;
    for (let r = first; r <= last; r++) {
      const l = b.getLine(r);
      if (!l) break;
      if (r === cRow) cursor = text.length + l.translateToString(false, 0, b.cursorX).length;
      text += l.translateToString(false);
    }
    return { text: text.trimEnd(), cursor };
  }
}

/** Whether b may hold a key that makes the shell run its line (Enter, Ctrl-O, the Ctrl-E of Ctrl-X Ctrl-E). */
function mayEnter(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 0x0d || c === 0x0a || c === 0x0f || c === 0x05) return true;
  }
  return false;
}
