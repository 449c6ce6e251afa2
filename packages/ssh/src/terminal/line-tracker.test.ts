/**
 * LineTracker against a real interactive bash on a pty: keys go through the
 * tracker to bash the way the SSH plugin forwards them, bash's output feeds
 * the tracker, and each test checks the line the tracker reports at Enter.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BashPty, printedLines, PROMPT } from './bash-pty.testutil.js';
import { LineTracker, type InputSegment } from './line-tracker.js';

type Submit = Extract<InputSegment, { type: 'submit' }>;

class Harness {
  readonly tracker: LineTracker;
  readonly bash: BashPty;
  /** Submits seen, in order. */
  readonly submits: Submit[] = [];

  constructor(cols = 80, rows = 24) {
    this.tracker = new LineTracker({ cols, rows });
    this.bash = new BashPty(cols, rows, (b) => this.tracker.output(b));
  }

  async start(): Promise<this> {
    await this.bash.waitFor((l) => l.endsWith(PROMPT), 'the first prompt');
    // HOME is a fresh temporary directory: work there
    await this.enter('cd');
    return this;
  }

  /**
   * The user's terminal sends `data`: through the tracker, then to bash as the
   * plugin would (pass at once; a submit's Enter forwarded when `allow`).
   * Returns the submits of this call.
   */
  async send(data: string, allow = true): Promise<Submit[]> {
    const segs = await this.tracker.input(Buffer.from(data, 'utf8'));
    const subs: Submit[] = [];
    for (const s of segs) {
      if (s.type === 'pass') this.bash.send(s.data);
      else {
        subs.push(s);
        this.submits.push(s);
        if (!allow) break; // hold the Enter and everything after it
        this.bash.send(s.enter);
      }
    }
    return subs;
  }

  /** Types keys one call each, letting bash echo each one. */
  async keys(...keys: string[]): Promise<void> {
    for (const k of keys) {
      const subs = await this.send(k);
      expect(subs).toEqual([]);
      await this.bash.quiet();
    }
  }

  /** Types text a few characters at a time (as a fast typist's terminal sends it), letting bash echo each piece. */
  async type(text: string): Promise<void> {
    const chars = Array.from(text);
    const pieces: string[] = [];
    for (let i = 0; i < chars.length; i += 4) pieces.push(chars.slice(i, i + 4).join(''));
    await this.keys(...pieces);
  }

  /** Waits until bash shows a prompt again after what it has printed so far. */
  async prompt(after: number): Promise<void> {
    await this.bash.waitFor((l) => l.length > after && l.endsWith(PROMPT), 'a new prompt');
  }

  /** Optionally types `text`, presses Enter and waits for the next prompt; returns the one submit. */
  async enter(text?: string, enter = '\r'): Promise<Submit> {
    if (text !== undefined) await this.type(text);
    const mark = this.bash.log.length;
    const subs = await this.send(enter);
    expect(subs).toHaveLength(1);
    await this.prompt(mark);
    return subs[0];
  }

  /** Whether bash printed `line` as a whole line of output. */
  printed(line: string): boolean {
    return printedLines(this.bash.log).includes(line);
  }

  close(): void {
    this.bash.close();
    this.tracker.dispose();
  }
}

let h: Harness | undefined;
afterEach(() => {
  h?.close();
  h = undefined;
});

async function harness(cols?: number, rows?: number): Promise<Harness> {
  h = new Harness(cols, rows);
  return h.start();
}

describe('LineTracker with a real bash', () => {
  it('reports a plainly typed line without the prompt', async () => {
    const t = await harness();
    const s = await t.enter('echo hello world');
    expect(s.line).toBe('echo hello world');
    expect(s.exact).toBe(true);
    expect(Buffer.from(s.enter).toString()).toBe('\r');
    expect(t.printed('hello world')).toBe(true);
  });

  it('follows backspace and Ctrl-H', async () => {
    const t = await harness();
    await t.type('echo hello');
    await t.keys('\x7f', '\x7f');
    await t.type('lo');
    expect((await t.enter()).line).toBe('echo hello');
    await t.type('echo abcx');
    await t.keys('\x08');
    expect((await t.enter('d')).line).toBe('echo abcd');
  });

  it('follows Ctrl-U and Ctrl-W', async () => {
    const t = await harness();
    await t.type('rm -rf /tmp/nothing-here');
    await t.keys('\x15');
    expect((await t.enter('whoami')).line).toBe('whoami');
    await t.type('echo foo bar');
    await t.keys('\x17');
    expect((await t.enter('baz')).line).toBe('echo foo baz');
  });

  it('follows arrow keys and editing in the middle of the line', async () => {
    const t = await harness();
    await t.type('echo wrld');
    await t.keys('\x1b[D', '\x1b[D', '\x1b[D');
    await t.type('o');
    await t.keys('\x01'); // Ctrl-A
    await t.keys('\x1b[3~'); // Delete
    await t.type('E');
    await t.keys('\x05'); // Ctrl-E
    const s = await t.enter('!');
    expect(s.line).toBe('Echo world!');
    expect(s.exact).toBe(true);
  });

  it('reads a line recalled from history with the up arrow', async () => {
    const t = await harness();
    expect((await t.enter('echo first-command')).line).toBe('echo first-command');
    await t.keys('\x1b[A');
    const s = await t.enter();
    expect(s.line).toBe('echo first-command');
    expect(s.exact).toBe(true);
    // and an edited recall
    await t.keys('\x1b[A', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f');
    expect((await t.enter('second')).line).toBe('echo first-second');
  });

  it('reads what tab completion wrote', async () => {
    const t = await harness();
    writeFileSync(join(t.bash.home, 'sluice-unique-file.txt'), 'content\n');
    await t.type('cat sluice-uni');
    await t.keys('\t');
    const s = await t.enter();
    expect(s.line).toBe('cat sluice-unique-file.txt');
    expect(s.exact).toBe(true);
    expect(t.printed('content')).toBe(true);
  });

  it('makes each line of a bracketed paste a submit', async () => {
    const t = await harness();
    await t.type('echo pre ');
    const subs = await t.send('\x1b[200~echo one\necho two\x1b[201~');
    expect(subs.map((s) => s.line)).toEqual(['echo pre echo one']);
    await t.bash.quiet();
    const last = await t.enter();
    expect(last.line).toBe('echo two');
    expect(t.printed('pre echo one')).toBe(true);
    expect(t.printed('two')).toBe(true);
  });

  it('makes each line of a paste without bracketed mode a submit', async () => {
    const t = await harness();
    const mark = t.bash.log.length;
    // The words are quoted apart so that their output, not the echo of the typed line, is what is found:
    // under load the terminal echoes lines typed ahead in between bash's output, so output is looked for
    // anywhere in the text rather than as whole lines.
    const subs = await t.send("echo al''pha\necho be''ta\r\necho ga''mma\r");
    expect(subs.map((s) => [s.line, Buffer.from(s.enter).toString()])).toEqual([
      ["echo al''pha", '\n'],
      ["echo be''ta", '\r\n'],
      ["echo ga''mma", '\r'],
    ]);
    const output = (l: string) => printedLines(l.slice(mark)).join('\n');
    await t.bash.waitFor((l) => output(l).includes('gamma'), 'gamma');
    expect(output(t.bash.log)).toContain('alpha');
    expect(output(t.bash.log)).toContain('beta');
    await t.prompt(t.bash.log.lastIndexOf('gamma'));
  });

  it('accepts \\n and \\r\\n as Enter', async () => {
    const t = await harness();
    expect((await t.enter('echo nl', '\n')).line).toBe('echo nl');
    expect((await t.enter('echo crlf', '\r\n')).line).toBe('echo crlf');
  });

  it('does not submit on Ctrl-C', async () => {
    const t = await harness();
    await t.type('echo never');
    const mark = t.bash.log.length;
    expect(await t.send('\x03')).toEqual([]);
    await t.prompt(mark);
    const s = await t.enter('echo after');
    expect(s.line).toBe('echo after');
    expect(t.submits.map((x) => x.line)).toEqual(['cd', 'echo after']);
  });

  it('joins a long line that wraps over several rows', async () => {
    const t = await harness(30, 10);
    const long = 'echo ' + 'abcdefghij'.repeat(7);
    for (let i = 0; i < long.length; i += 7) await t.keys(long.slice(i, i + 7));
    await t.keys('\x7f', '\x7f');
    const s = await t.enter('XY');
    expect(s.line).toBe(long.slice(0, -2) + 'XY');
    expect(s.exact).toBe(true);
  });

  it('reads a line that ends exactly at the right margin, and one row more', async () => {
    const t = await harness(20, 10);
    // the prompt takes 8 columns: 12 characters fill the row
    expect((await t.enter('echo 1234567')).line).toBe('echo 1234567');
    expect((await t.enter('echo 12345678')).line).toBe('echo 12345678');
    const full = 'echo ' + 'x'.repeat(27); // 8 + 32 = two full rows
    expect((await t.enter(full)).line).toBe(full);
  });

  it('handles output that arrives right before Enter (typed ahead of the prompt)', async () => {
    const t = await harness();
    // the whole line and Enter in one chunk: nothing was echoed yet
    const mark = t.bash.log.length;
    const subs = await t.send('echo one-chunk\r');
    expect(subs.map((s) => s.line)).toEqual(['echo one-chunk']);
    await t.prompt(mark);
    // type the next line while the previous command still prints
    const mark2 = t.bash.log.length;
    const first = await t.send('sleep 0.3; echo slept\r');
    expect(first.map((s) => s.line)).toEqual(['sleep 0.3; echo slept']);
    await t.keys('echo ahead');
    await t.bash.waitFor((l) => l.slice(mark2).includes('slept\r\n'), 'the sleep to end');
    await t.bash.quiet();
    const s = await t.enter();
    expect(s.line).toBe('echo ahead');
  });

  it('follows a resize', async () => {
    const t = await harness(40, 10);
    await t.type('echo resize');
    t.tracker.resize(20, 10);
    t.bash.resize(20, 10);
    await t.bash.quiet();
    const s = await t.enter(' works-after-resize');
    expect(s.line).toBe('echo resize works-after-resize');
  });

  it('judges nothing while a full-screen program runs', async () => {
    const t = await harness();
    const mark = t.bash.log.length;
    await t.send("printf '\\033[?1049h'; read -r v; printf '\\033[?1049l'; echo got=$v\r");
    await t.bash.waitFor((l) => l.slice(mark).includes('\x1b[?1049h'), 'the alternate screen');
    await t.tracker.settled();
    expect(t.tracker.fullScreen).toBe(true);
    const segs = await t.tracker.input(Buffer.from('inside\r'));
    expect(segs).toEqual([{ type: 'pass', data: Buffer.from('inside\r') }]);
    t.bash.send(Buffer.from('inside\r'));
    await t.bash.waitFor((l) => l.includes('got=inside\r\n'), 'the program to end');
    await t.prompt(t.bash.log.lastIndexOf('got=inside'));
    await t.tracker.settled();
    expect(t.tracker.fullScreen).toBe(false);
    expect((await t.enter('echo back')).line).toBe('echo back');
  });

  it('cancelLine() discards a held line and leaves bash at a fresh, empty prompt', async () => {
    const t = await harness();
    await t.type('echo CANCEL$((6*7))');
    const held = await t.send('\r', false);
    expect(held.map((s) => s.line)).toEqual(['echo CANCEL$((6*7))']);
    const mark = t.bash.log.length;
    t.bash.send(t.tracker.cancelLine());
    await t.prompt(mark);
    const s = await t.enter('echo after-cancel');
    expect(s.line).toBe('echo after-cancel');
    expect(t.printed('after-cancel')).toBe(true);
    expect(t.bash.log).not.toContain('CANCEL42');
  });

  it('Ctrl-E Ctrl-U also empties a held line, but without a fresh prompt', async () => {
    const t = await harness();
    await t.type('echo KILL$((6*7))');
    await t.send('\r', false);
    const mark = t.bash.log.length;
    t.bash.send('\x05\x15');
    await t.bash.quiet();
    expect(t.bash.log.slice(mark)).not.toContain(PROMPT); // the same prompt, not a new one
    const s = await t.enter('echo after-kill');
    expect(s.line).toBe('echo after-kill');
    expect(t.printed('after-kill')).toBe(true);
    expect(t.bash.log).not.toContain('KILL42');
  });

  it('keeps the line when background output breaks it on screen', async () => {
    const t = await harness();
    const job = '(until [ -e "$HOME/go" ]; do sleep 0.05; done; echo BG-OUTPUT) &';
    expect((await t.enter(job)).line).toBe(job);
    await t.type('echo par');
    writeFileSync(join(t.bash.home, 'go'), 'x\n'); // the background job prints now
    await t.bash.waitFor((l) => printedLines(l).some((x) => x.endsWith('BG-OUTPUT')), 'background output');
    await t.bash.quiet();
    const s = await t.enter('tial');
    expect(s.line).toBe('echo partial');
    expect(s.exact).toBe(true);
    expect(t.printed('partial')).toBe(true);
  });

  it('treats Ctrl-O (operate-and-get-next) as a submit', async () => {
    const t = await harness();
    await t.type('echo via-ctrl-o');
    const mark = t.bash.log.length;
    const subs = await t.send('\x0f');
    expect(subs.map((s) => [s.line, Buffer.from(s.enter).toString('latin1')])).toEqual([['echo via-ctrl-o', '\x0f']]);
    await t.prompt(mark);
    expect(t.printed('via-ctrl-o')).toBe(true);
  });

  // (Ctrl-E Ctrl-U was tried here too: it empties the line but leaves readline
  // in vi command mode, so the next keys typed are vi commands.)
  for (const [name, cancel] of [['Ctrl-C', '\x03']] as const) {
    it(`${name} also discards a held line in vi command mode and returns to insert mode`, async () => {
      const t = await harness();
      await t.enter('set -o vi');
      await t.type('echo VI$((6*7))');
      await t.keys('\x1b'); // to command mode
      expect((await t.send('\r', false)).map((x) => x.line)).toEqual(['echo VI$((6*7))']);
      t.bash.send(cancel);
      await t.bash.quiet();
      t.tracker.cancelLine();
      const s = await t.enter('echo after-vi');
      expect(s.line).toBe('echo after-vi');
      expect(t.printed('after-vi')).toBe(true);
      expect(t.printed('VI42')).toBe(false);
    });
  }

  it('a refused line cannot come back when the shell ignores Ctrl-C (stty intr undef)', async () => {
    const t = await harness();
    await t.enter('stty intr undef');
    await t.type('echo X$((6*7))');
    await t.send('\r', false); // refused: the Enter is dropped
    t.bash.send(t.tracker.cancelLine());
    await t.bash.quiet();
    expect(t.tracker.atPrompt).toBe(false); // no fresh prompt: the shell ignored the Ctrl-C
    await t.type('echo Y');
    const subs = await t.send('\r');
    expect(subs.map((x) => [x.line, x.exact])).toEqual([['echo Y', true]]);
    await t.prompt(t.bash.log.length - 1);
    expect(t.printed('Y')).toBe(true);
    expect(t.bash.log).not.toContain('X42');
  });

  it('a line typed after a Ctrl-C the shell ignored is inexact', async () => {
    const t = await harness();
    await t.enter('stty intr undef');
    await t.type('echo X$((6*7))');
    await t.keys('\x03');
    await t.type('; echo Z');
    const subs = await t.send('\r', false);
    expect(subs).toHaveLength(1);
    expect(subs[0].exact).toBe(false);
  });

  it('the line bash pre-fills after Ctrl-O is inexact (the screen cannot tell it from the prompt)', async () => {
    const t = await harness();
    await t.enter('echo first');
    await t.enter('echo second');
    await t.keys('\x1b[A', '\x1b[A');
    const mark = t.bash.log.length;
    const subs = await t.send('\x0f');
    expect(subs.map((x) => [x.line, x.exact])).toEqual([['echo first', true]]);
    await t.bash.waitFor((l) => l.slice(mark).endsWith('echo second'), 'the pre-filled next line');
    await t.type(' extra');
    const s = await t.send('\r', false);
    expect(s.map((x) => x.exact)).toEqual([false]);
  });
});
