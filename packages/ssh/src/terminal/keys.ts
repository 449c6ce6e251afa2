/**
 * Splits the bytes a user's terminal sends into keys: characters, control
 * keys, Enter, escape sequences (arrows, Home/End, Alt+key …) and the
 * bracketed-paste markers.
 */

export type Key = { start: number; end: number } & (
  | { kind: 'char'; ch: string }
  | { kind: 'ctrl'; code: number }
  /**
   * A key that makes readline run the line: Enter ('\r', '\n', '\r\n'),
   * Ctrl-O (operate-and-get-next, via 'operate') or Ctrl-X Ctrl-E
   * (edit-and-execute-command, via 'edit': what finally runs is edited first).
   */
  | { kind: 'enter'; via?: 'operate' | 'edit' }
  | { kind: 'esc'; seq: string }
  | { kind: 'paste-start' }
  | { kind: 'paste-end' }
);

const ESC = 0x1b;

/** Length of a UTF-8 sequence from its lead byte (1 for anything invalid, so it is taken as one unit). */
function utf8Len(c: number): number {
  if (c >= 0xf0 && c <= 0xf7) return 4;
  if (c >= 0xe0 && c <= 0xef) return 3;
  if (c >= 0xc2 && c <= 0xdf) return 2;
  return 1;
}

/**
 * Bytes of the character starting at b[i]: its full length when the
 * continuation bytes are there, 1 for a lead byte followed by a
 * non-continuation byte (an invalid byte is a key of its own, so it can never
 * swallow an Enter), or -1 when the chunk ends inside the character.
 */
function charLen(b: Uint8Array, i: number): number {
  const len = utf8Len(b[i]);
  for (let k = 1; k < len; k++) {
    if (i + k >= b.length) return -1;
    if ((b[i + k] & 0xc0) !== 0x80) return 1;
  }
  return len;
}

/**
 * Keys in b, and how many bytes at its end form an unfinished key (an escape
 * sequence or UTF-8 character cut by the chunk boundary) to be parsed again
 * with the next chunk.
 */
export function parseKeys(b: Uint8Array): { keys: Key[]; rest: number } {
  const keys: Key[] = [];
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i];
    const start = i;
    if (c === 0x0d) {
      i += b[i + 1] === 0x0a ? 2 : 1;
      if (i > n) i = n;
      keys.push({ kind: 'enter', start, end: i });
      continue;
    }
    if (c === 0x0a) {
      keys.push({ kind: 'enter', start, end: ++i });
      continue;
    }
    if (c === ESC) {
      // A lone ESC at the end of a chunk is the Escape key (Alt+key and
      // terminal sequences arrive in one write); ESC before a control byte
      // too: the control (an Enter!) is a key of its own.
      const d = i + 1 < n ? b[i + 1] : -1;
      if (d === -1 || d < 0x20 || d === 0x7f) {
        keys.push({ kind: 'esc', seq: '\x1b', start, end: ++i });
        continue;
      }
      if (d === 0x5b /* [ */) {
        let j = i + 2;
        while (j < n && b[j] >= 0x20 && b[j] <= 0x3f) j++;
        if (j >= n) return { keys, rest: n - start };
        const f = b[j];
        if (f < 0x40 || f > 0x7e) {
          // not a CSI after all: ESC alone, then the rest as ordinary bytes
          keys.push({ kind: 'esc', seq: '\x1b', start, end: ++i });
          continue;
        }
        i = j + 1;
        const seq = Buffer.from(b.subarray(start, i)).toString('latin1');
        if (seq === '\x1b[200~') keys.push({ kind: 'paste-start', start, end: i });
        else if (seq === '\x1b[201~') keys.push({ kind: 'paste-end', start, end: i });
        else keys.push({ kind: 'esc', seq, start, end: i });
        continue;
      }
      if (d === 0x4f /* O */) {
        if (i + 2 >= n) return { keys, rest: n - start };
        const f = b[i + 2];
        if (f < 0x40 || f > 0x7e) {
          // Alt-O, then the next byte as a key of its own
          i += 2;
          keys.push({ kind: 'esc', seq: '\x1bO', start, end: i });
          continue;
        }
        i += 3;
        keys.push({ kind: 'esc', seq: Buffer.from(b.subarray(start, i)).toString('latin1'), start, end: i });
        continue;
      }
      // Alt + key
      const len = charLen(b, i + 1);
      if (len < 0) return { keys, rest: n - start };
      i += 1 + len;
      keys.push({ kind: 'esc', seq: Buffer.from(b.subarray(start, i)).toString('utf8'), start, end: i });
      continue;
    }
    if (c === 0x0f) {
      keys.push({ kind: 'enter', via: 'operate', start, end: ++i });
      continue;
    }
    if (c === 0x18) {
      if (i + 1 >= n) return { keys, rest: n - start };
      if (b[i + 1] === 0x05) {
        i += 2;
        keys.push({ kind: 'enter', via: 'edit', start, end: i });
        continue;
      }
    }
    if (c < 0x20 || c === 0x7f) {
      keys.push({ kind: 'ctrl', code: c, start, end: ++i });
      continue;
    }
    const len = charLen(b, i);
    if (len < 0) return { keys, rest: n - start };
    i += len;
    keys.push({ kind: 'char', ch: Buffer.from(b.subarray(start, i)).toString('utf8'), start, end: i });
  }
  return { keys, rest: 0 };
}
