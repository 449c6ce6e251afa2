/**
 * A replay of the readline (emacs mode) editing keys that change a line in a
 * predictable way, used for keys the shell has not echoed yet. Any other key
 * (Tab completion, history, search, yank, transpose, Alt-word keys …) makes
 * the result inexact: the caller must not trust it blindly.
 */
import type { Key } from './keys.js';

const isSpace = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\n';

export class LineEditor {
  private chars: string[];
  private pos: number;
  exact = true;

  constructor(text: string, cursor: number) {
    this.chars = Array.from(text);
    // cursor counts UTF-16 units of text; convert to a character index
    this.pos = Array.from(text.slice(0, Math.max(0, cursor))).length;
    if (this.pos > this.chars.length) this.pos = this.chars.length;
  }

  get text(): string {
    return this.chars.join('');
  }

  apply(k: Key, pasting: boolean): void {
    if (k.kind === 'char') return this.insert(k.ch);
    if (k.kind === 'ctrl') {
      if (pasting) {
        // bracketed paste inserts everything literally
        if (k.code === 0x09) return this.insert('\t');
        this.exact = false;
        return;
      }
      return this.control(k.code);
    }
    if (k.kind === 'esc') return this.escape(k.seq);
  }

  private insert(ch: string): void {
    this.chars.splice(this.pos, 0, ch);
    this.pos++;
  }

  private control(code: number): void {
    const len = this.chars.length;
    switch (code) {
      case 0x7f: // DEL (backspace key)
      case 0x08: // Ctrl-H
        if (this.pos > 0) this.chars.splice(--this.pos, 1);
        return;
      case 0x15: // Ctrl-U: kill to the start
        this.chars.splice(0, this.pos);
        this.pos = 0;
        return;
      case 0x0b: // Ctrl-K: kill to the end
        this.chars.length = this.pos;
        return;
      case 0x17: {
        // Ctrl-W: unix-word-rubout (whitespace-delimited word before the cursor)
        let p = this.pos;
        while (p > 0 && isSpace(this.chars[p - 1])) p--;
        while (p > 0 && !isSpace(this.chars[p - 1])) p--;
        this.chars.splice(p, this.pos - p);
        this.pos = p;
        return;
      }
      case 0x01: // Ctrl-A
        this.pos = 0;
        return;
      case 0x05: // Ctrl-E
        this.pos = len;
        return;
      case 0x02: // Ctrl-B
        if (this.pos > 0) this.pos--;
        return;
      case 0x06: // Ctrl-F
        if (this.pos < len) this.pos++;
        return;
      case 0x04: // Ctrl-D on a non-empty line: delete the character under the cursor
        if (this.pos < len) this.chars.splice(this.pos, 1);
        return;
      case 0x0c: // Ctrl-L: redraws, the line is unchanged
        return;
      default:
        this.exact = false;
    }
  }

  private escape(seq: string): void {
    const len = this.chars.length;
    switch (seq) {
      case '\x1b[D':
      case '\x1bOD':
        if (this.pos > 0) this.pos--;
        return;
      case '\x1b[C':
      case '\x1bOC':
        if (this.pos < len) this.pos++;
        return;
      case '\x1b[H':
      case '\x1bOH':
      case '\x1b[1~':
      case '\x1b[7~':
        this.pos = 0;
        return;
      case '\x1b[F':
      case '\x1bOF':
      case '\x1b[4~':
      case '\x1b[8~':
        this.pos = len;
        return;
      case '\x1b[3~': // Delete
        if (this.pos < len) this.chars.splice(this.pos, 1);
        return;
      default:
        this.exact = false;
    }
  }
}
