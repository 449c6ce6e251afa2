/**
 * Streaming masker for terminal output (an SSH shell's stdout/stderr bytes).
 *
 * The stream is split into escape sequences (CSI, OSC, DCS/SOS/PM/APC strings,
 * ESC + intermediates + final) and *text runs*. A run is the text between two
 * opaque escape sequences; the transparent ones — SGR colours/attributes
 * (`CSI … m`) and erase-in-line (`CSI … K`), which neither move the cursor nor
 * break what the reader sees as one piece of text — stay inside the run. Each
 * run is masked with the core masker's `text()` on its visible text (the run
 * without its transparent sequences), line by line (the lines of a
 * private-key block together), so a card number that `grep --color`
 * highlighted is still found. All escape sequences pass through byte for
 * byte and in order: a transparent one keeps its place, except one inside a
 * changed stretch of its line, which moves right after that stretch (so the
 * colour state after it is unchanged).
 *
 * The output of `push(c1) + push(c2) + … + end()` does not depend on how the
 * input is cut into chunks, and what it shows equals masking every run of the
 * whole input at once (fast-check properties in masker.test.ts), with these
 * bounded exceptions:
 *  - a text line (no '\n' or '\r') longer than {@link TEXT_TAIL_CAP} bytes is cut
 *    at a blank (or, failing that, on a character boundary outside escape
 *    sequences) so that at most 4 KiB of text are held (plus an unfinished
 *    escape sequence of at most {@link ESC_CAP}); a value straddling such a
 *    cut can escape;
 *  - an unfinished private-key block is held up to {@link KEY_CAP} bytes; past
 *    that its text is redacted and everything up to its END line is dropped
 *    (until the END line or the next escape sequence).
 *
 * What is held back and why: the current line of the current run (a value
 * may still grow: '4111 1111 ' + '1111 1111'), an unfinished escape sequence
 * (up to {@link ESC_CAP} bytes; longer ones, such as a big OSC 52, stream
 * through verbatim) and never more than a partial UTF-8 character of either.
 * Cutting a run after '\n' or '\r' is safe because no core detector matches
 * across a line break except private-key blocks, which are tracked. The plugin
 * calls `flush()` when output pauses (so the prompt and echo are not held)
 * and `end()` at the end of the stream.
 *
 * Limits (documented, not bugs): a value split by an opaque sequence (cursor
 * movement) is two runs and is not masked; text inside OSC/DCS strings
 * (window titles, hyperlinks) is not masked; C1 controls sent as UTF-8
 * (U+009B) count as text; what a run shows after idle flushes is masked piece
 * by piece. Output is valid UTF-8 whenever the input is; an invalid run is
 * masked as Latin-1, so unmasked bytes are never altered.
 *
 * Failure behaviour: if the masker throws, the text it was given is replaced
 * by '[REDACTED]' (counted as one masked value): text that could not be
 * inspected is never passed through.
 */
import { isAscii } from 'node:buffer';

/** Most bytes of one text line held back while it could still grow into a match. */
export const TEXT_TAIL_CAP = 4096;
/** Bytes kept held after a forced cut of an over-long line (context for the next chunk). */
const TEXT_KEEP = 512;
/** Most bytes of an unfinished private-key block held back. */
export const KEY_CAP = 64 * 1024;
/** Most bytes of one unfinished escape sequence held back (longer ones stream through). */
export const ESC_CAP = 4096;

const ESC = 0x1b;
const BEL = 0x07;
const CAN = 0x18;
const SUB = 0x1a;

const enum S {
  Ground,
  Esc,
  EscInt,
  Csi,
  Osc,
  Str,
  OscEsc,
  StrEsc,
}

const EMPTY = new Uint8Array(0);
const EMPTY_BUF = Buffer.alloc(0);
const FAILED = Buffer.from('[REDACTED]');
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const PEM_BEGIN = /-----BEGIN ([A-Z0-9 ]{0,40}?)PRIVATE KEY( BLOCK)?-----/g;
const KEY_PROBE = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';

export interface TextMasker {
  text(value: string): { text: string; masked: number };
}

/** Length of an incomplete UTF-8 sequence at the end of b (0 when b ends on a character boundary). */
export function utf8TailLength(b: Uint8Array, end = b.length): number {
  for (let k = 1; k <= 3 && end - k >= 0; k++) {
    const c = b[end - k];
    if (c < 0x80) return 0;
    if (c >= 0xc0) {
      const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      return need > k ? k : 0;
    }
  }
  return 0;
}

function isDigitByte(c: number): boolean {
  return c >= 48 && c <= 57;
}

export class TerminalMasker {
  private state: S = S.Ground;
  /** Pending bytes: text of the current run (Ground) or of an unfinished escape sequence (other states). */
  private parts: Buffer[] = [];
  private partsLen = 0;
  /**
   * Outside Ground: how many bytes at the start of `parts` are the pending
   * text run (text and transparent escapes) before the unfinished sequence.
   */
  private runLen = 0;
  /** Outside Ground: how many of `parts` hold that run (the sequence starts on a part boundary). */
  private runParts = 0;
  /** Inside an over-long private-key block: dropping text until this END line. */
  private swallow: { end: Buffer; tail: Buffer } | null = null;
  private count = 0;
  /** Whether the masker masks private keys (probed once); if not, key blocks are not held. */
  private readonly keys: boolean;

  constructor(private readonly masker: TextMasker) {
    let keys = true;
    try {
      keys = masker.text(KEY_PROBE).masked > 0;
    } catch {
      keys = true;
    }
    this.keys = keys;
  }

  /** Values masked so far. */
  get masked(): number {
    return this.count;
  }

  /** Returns the bytes safe to emit now; holds back what could still change (see the module doc). */
  push(chunk: Uint8Array): Uint8Array {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: Buffer[] = [];
    const n = buf.length;
    let i = 0;
    while (i < n) {
      if (this.state === S.Ground) {
        let j = buf.indexOf(ESC, i);
        if (j === -1) j = n;
        if (this.swallow) {
          const resume = this.swallowText(buf.subarray(i, j), i);
          if (this.swallow) {
            // Still inside the dropped block: an escape sequence ends the run, and the block with it.
            if (j < n) this.swallow = null;
            i = j;
            if (i >= n) break;
          } else {
            i = resume;
          }
        }
        if (j > i) this.add(buf.subarray(i, j));
        if (j === n) {
          i = n;
          break;
        }
        // An escape sequence starts: the run goes on through it if it turns
        // out transparent (SGR, erase-in-line), else it ends there.
        this.runLen = this.partsLen;
        this.runParts = this.parts.length;
        this.state = S.Esc;
        this.add(buf.subarray(j, j + 1));
        i = j + 1;
        continue;
      }
      // Inside an escape sequence: scan until it ends.
      const start = i;
      let ground = false;
      for (; i < n; i++) {
        const r = this.step(buf[i]);
        if (r === 1) {
          ground = true;
          i++;
          break;
        }
        if (r === 2) {
          ground = true;
          break;
        }
      }
      if (i > start) this.add(buf.subarray(start, i));
      if (ground) {
        // If the sequence ended before buf[i] (a byte that cannot continue it), the Ground branch takes that byte as text.
        const seqParts = this.parts.slice(this.runParts);
        const seq = seqParts.length === 1 ? seqParts[0] : Buffer.concat(seqParts);
        if (!isTransparent(seq)) {
          const runBuf = Buffer.concat(this.parts.slice(0, this.runParts), this.runLen);
          this.parts = [];
          this.partsLen = 0;
          out.push(this.maskRun(runBuf));
          out.push(seq);
        }
        // else: the sequence stays in the pending run, where it is
        this.runLen = 0;
        this.runParts = 0;
        this.state = S.Ground;
      }
    }
    this.emitSafe(out);
    // What stays held is copied: the caller may reuse its chunk.
    if (this.partsLen > 0) this.parts = this.parts.map((x) => Buffer.from(x));
    return Buffer.concat(out);
  }

  /**
   * Emits what is held back, for an idle stream: the text line (masked as a
   * complete run piece) and an unfinished escape sequence — but never a partial
   * UTF-8 character, and not an unfinished private-key block (it stays held
   * until its END line, the end of its run, {@link KEY_CAP} or {@link end}).
   */
  flush(): Uint8Array {
    if (this.partsLen === 0) return EMPTY;
    const all = this.take();
    if (this.state !== S.Ground) {
      const run = this.maskRun(all.subarray(0, this.runLen));
      const seq = all.subarray(this.runLen);
      this.runLen = 0;
      this.runParts = 0;
      const keep = utf8TailLength(seq);
      if (keep > 0) this.add(Buffer.from(seq.subarray(seq.length - keep)));
      return Buffer.concat([run, seq.subarray(0, seq.length - keep)]);
    }
    let cut = safeCut(all, all.length - utf8TailLength(all));
    if (this.keys) for (let o = openKeyLine(all.subarray(0, cut)); o >= 0; o = openKeyLine(all.subarray(0, cut))) cut = o;
    if (cut < all.length) this.add(Buffer.from(all.subarray(cut)));
    return cut > 0 ? this.maskRun(all.subarray(0, cut)) : EMPTY;
  }

  /** End of stream: emits everything held (the text run masked whole, partial characters as they are). */
  end(): Uint8Array {
    this.swallow = null;
    if (this.partsLen === 0) return EMPTY;
    const all = this.take();
    if (this.state === S.Ground) return this.maskRun(all);
    const out = Buffer.concat([this.maskRun(all.subarray(0, this.runLen)), all.subarray(this.runLen)]);
    this.runLen = 0;
    this.runParts = 0;
    return out;
  }

  // ------------------------------------------------------------ internals

  private add(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.partsLen += b.length;
  }

  private take(): Buffer {
    const b = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.partsLen);
    this.parts = [];
    this.partsLen = 0;
    return b;
  }

  /** One byte of an escape sequence: 0 = continues, 1 = ended with this byte, 2 = ended before it (byte is text). */
  private step(b: number): 0 | 1 | 2 {
    switch (this.state) {
      case S.Esc:
        if (b === ESC) return 0;
        if (b === CAN || b === SUB) return 1;
        if (b === 0x5b) this.state = S.Csi; // [
        else if (b === 0x5d) this.state = S.Osc; // ]
        else if (b === 0x50 || b === 0x58 || b === 0x5e || b === 0x5f) this.state = S.Str; // P X ^ _
        else if (b >= 0x20 && b <= 0x2f) this.state = S.EscInt;
        else if (b >= 0x30 && b <= 0x7e) return 1;
        else if (b >= 0x80) return 2;
        return 0; // C0 controls and DEL are executed inside the sequence
      case S.EscInt:
        if (b === ESC) this.state = S.Esc;
        else if (b === CAN || b === SUB) return 1;
        else if (b >= 0x30 && b <= 0x7e) return 1;
        else if (b >= 0x80) return 2;
        return 0;
      case S.Csi:
        if (b === ESC) this.state = S.Esc;
        else if (b === CAN || b === SUB) return 1;
        else if (b >= 0x40 && b <= 0x7e) return 1;
        else if (b >= 0x80) return 2;
        return 0;
      case S.Osc:
        if (b === BEL || b === CAN || b === SUB) return 1;
        if (b === ESC) this.state = S.OscEsc;
        return 0;
      case S.Str:
        if (b === CAN || b === SUB) return 1;
        if (b === ESC) this.state = S.StrEsc;
        return 0;
      case S.OscEsc:
      case S.StrEsc:
        if (b === 0x5c) return 1; // ESC \ = ST
        // The ESC aborted the string and starts a new sequence.
        this.state = S.Esc;
        return this.step(b);
      default:
        return 2;
    }
  }

  /** At the end of push: emits the safe part of what is pending. */
  private emitSafe(out: Buffer[]): void {
    if (this.partsLen === 0) return;
    const all = this.take();
    const ground = this.state === S.Ground;
    const runEnd = ground ? all.length : this.runLen;
    const seq = all.subarray(runEnd);
    let rest = this.emitRun(all.subarray(0, runEnd), out);
    if (!ground && seq.length > ESC_CAP) {
      // An over-long sequence (a big OSC 52 …) streams through: the run before it is complete.
      if (rest.length) out.push(this.maskRun(rest));
      rest = EMPTY_BUF;
      const keep = utf8TailLength(seq);
      out.push(seq.subarray(0, seq.length - keep));
      this.runLen = 0;
      this.runParts = 0;
      if (keep > 0) this.add(seq.subarray(seq.length - keep));
      return;
    }
    this.add(rest);
    if (!ground) {
      this.runLen = rest.length;
      this.runParts = this.parts.length;
      this.add(seq);
    }
  }

  /** Emits the safe part of a pending run (text and transparent escapes); returns what stays held. */
  private emitRun(all: Buffer, out: Buffer[]): Buffer {
    if (all.length === 0) return all;
    let cut = lastLineBreak(all) + 1;
    let open = -1;
    if (this.keys && cut > 0) {
      // A block the piece would cut open is held from its line on (and that
      // line may hold the END of an earlier block: check again).
      for (let o = openKeyLine(all.subarray(0, cut)); o >= 0; o = openKeyLine(all.subarray(0, cut))) {
        open = o;
        cut = o;
      }
    }
    if (cut > 0) out.push(this.maskRun(all.subarray(0, cut)));
    let rest = all.subarray(cut);
    if (open >= 0 || (this.keys && rest.length > TEXT_TAIL_CAP && openKeyLine(rest) >= 0)) {
      if (rest.length > KEY_CAP) {
        // Too long to hold: redact what we have and drop the block up to its END line.
        const begin = openKeyBegin(rest);
        out.push(this.maskRun(rest));
        if (begin) this.swallow = { end: Buffer.from(`-----END ${begin}-----`, 'latin1'), tail: Buffer.alloc(0) };
        return EMPTY_BUF;
      }
      return rest;
    }
    if (rest.length > TEXT_TAIL_CAP) {
      const c = weakCut(rest);
      out.push(this.maskRun(rest.subarray(0, c)));
      rest = rest.subarray(c);
    }
    return rest;
  }

  /**
   * Drops text of an over-long key block until its END line. Returns the index
   * in the chunk where normal text resumes (or the segment end while dropping).
   */
  private swallowText(seg: Buffer, base: number): number {
    const sw = this.swallow!;
    const hay = sw.tail.length ? Buffer.concat([sw.tail, seg]) : seg;
    const e = hay.indexOf(sw.end);
    if (e === -1) {
      const keep = Math.min(hay.length, sw.end.length - 1);
      sw.tail = Buffer.from(hay.subarray(hay.length - keep));
      return base + seg.length;
    }
    this.swallow = null;
    return base + (e + sw.end.length - sw.tail.length);
  }

  /**
   * Masks a run piece: text with transparent escape sequences (SGR, EL) in
   * it. Detection sees the text without them (so `grep --color`'s highlight
   * inside a card number does not hide it); each escape goes back where it
   * was, except one that fell inside a changed stretch of its line, which
   * goes right after that stretch (its effect on what follows is kept).
   */
  private maskRun(b: Buffer): Buffer {
    if (b.indexOf(ESC) === -1) return this.maskBytes(b);
    const texts: Buffer[] = [];
    const escs: { at: number; seq: Buffer }[] = [];
    let textLen = 0;
    let i = 0;
    while (i < b.length) {
      const e = b.indexOf(ESC, i);
      if (e === -1) {
        texts.push(b.subarray(i));
        textLen += b.length - i;
        break;
      }
      if (e > i) texts.push(b.subarray(i, e));
      let f = e + 2;
      while (f < b.length && !(b[f] >= 0x40 && b[f] <= 0x7e)) f++;
      escs.push({ at: -1, seq: b.subarray(e, f + 1) });
      // position in bytes for now; converted below
      escs[escs.length - 1].at = textLen + (e > i ? e - i : 0);
      textLen += e > i ? e - i : 0;
      i = f + 1;
    }
    const visible = Buffer.concat(texts, textLen);
    let latin = !isAscii(visible);
    let t: string;
    if (!latin) {
      t = visible.toString('latin1');
    } else {
      try {
        t = utf8.decode(visible);
        latin = false;
        // byte offsets → UTF-16 offsets (escapes sit between whole characters)
        for (const x of escs) {
          if (utf8TailLength(visible, x.at) > 0) {
            latin = true;
            break;
          }
        }
        if (latin) t = visible.toString('latin1');
        else for (const x of escs) x.at = utf8.decode(visible.subarray(0, x.at)).length;
      } catch {
        t = visible.toString('latin1');
        latin = true;
      }
    }
    // Masked group by group (a line, or the lines of one private-key block):
    // the same values as masking the whole text, and each escape placed by
    // its own group only, so the result does not depend on chunking.
    const groups = groupLines(t);
    let m = '';
    let masked = 0;
    const placed: number[] = [];
    let next = 0;
    let tOff = 0;
    for (let g = 0; g < groups.length; g++) {
      const gt = groups[g];
      let gm: string;
      try {
        const r = this.masker.text(gt);
        gm = r.text;
        if (gm !== gt) masked += Math.max(1, r.masked);
      } catch {
        gm = FAILED.toString('latin1');
        masked++;
      }
      const last = g === groups.length - 1;
      while (next < escs.length && (escs[next].at < tOff + gt.length || (last && escs[next].at <= tOff + gt.length))) {
        placed.push(m.length + mapInLine(gt, gm, escs[next].at - tOff));
        next++;
      }
      m += gm;
      tOff += gt.length;
    }
    if (masked === 0) return b;
    this.count += masked;
    let outStr = '';
    let last = 0;
    for (let k = 0; k < escs.length; k++) {
      outStr += m.slice(last, placed[k]);
      last = placed[k];
      outStr += escs[k].seq.toString('latin1');
    }
    outStr += m.slice(last);
    // escapes are ASCII: latin1 and utf8 encode them alike, but the text must keep its own encoding
    if (latin) return Buffer.from(outStr, 'latin1');
    return Buffer.from(outStr, 'utf8');
  }

  private maskBytes(b: Buffer): Buffer {
    if (b.length === 0) return b;
    let s: string;
    let latin = false;
    if (isAscii(b)) {
      s = b.toString('latin1'); // the same string, decoded faster
    } else {
      try {
        s = utf8.decode(b);
      } catch {
        s = b.toString('latin1');
        latin = true;
      }
    }
    let r: { text: string; masked: number };
    try {
      r = this.masker.text(s);
    } catch {
      this.count++;
      return FAILED;
    }
    if (r.text === s) return b;
    this.count += Math.max(1, r.masked);
    return Buffer.from(r.text, latin ? 'latin1' : 'utf8');
  }
}

function lastLineBreak(b: Buffer): number {
  return Math.max(b.lastIndexOf(0x0a), b.lastIndexOf(0x0d));
}

/**
 * Start of the line holding the first private-key BEGIN that has no matching
 * END line after it in b, or -1.
 */
function openKeyLine(b: Buffer): number {
  if (b.indexOf('-----BEGIN ') === -1) return -1;
  const s = b.toString('latin1');
  const at = openKeyIndex(s);
  if (at < 0) return -1;
  return Math.max(s.lastIndexOf('\n', at), s.lastIndexOf('\r', at)) + 1;
}

/** Label ('RSA PRIVATE KEY') of the first open key block in b, or null. */
function openKeyBegin(b: Buffer): string | null {
  const s = b.toString('latin1');
  const at = openKeyIndex(s);
  if (at < 0) return null;
  PEM_BEGIN.lastIndex = at;
  const m = PEM_BEGIN.exec(s);
  return m ? m[0].slice(11, -5) : null;
}

function openKeyIndex(s: string): number {
  PEM_BEGIN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = PEM_BEGIN.exec(s)) !== null) {
    const end = s.indexOf(`-----END ${m[0].slice(11, -5)}-----`, m.index + m[0].length);
    if (end === -1) return m.index;
    PEM_BEGIN.lastIndex = end;
  }
  return -1;
}

/**
 * Where to cut an over-long line (> TEXT_TAIL_CAP): after the last blank
 * (space, tab or control) not next to a digit within the allowed window,
 * else after any blank, else on a character boundary; leaves TEXT_KEEP to
 * TEXT_TAIL_CAP bytes held.
 */
function weakCut(b: Buffer): number {
  const hi = b.length - TEXT_KEEP;
  const lo = b.length - TEXT_TAIL_CAP;
  let any = -1;
  for (let p = hi - 1; p >= lo && p > 0; p--) {
    const c = b[p];
    if (c > 0x20 || c === ESC) continue;
    if (!isDigitByte(b[p - 1]) && !isDigitByte(b[p + 1])) return p + 1;
    if (any < 0) any = p + 1;
  }
  if (any > 0) return any;
  let c = hi;
  while (c > lo && (b[c] & 0xc0) === 0x80) c--;
  return safeCut(b, c);
}

/** c, or the start of a (transparent) escape sequence that c would cut in two. */
function safeCut(b: Buffer, c: number): number {
  const e = b.lastIndexOf(ESC, c - 1);
  if (e === -1 || c - e > 64) return c;
  let f = e + 2;
  while (f < b.length && !(b[f] >= 0x40 && b[f] <= 0x7e)) f++;
  return f >= c ? e : c;
}

/** SGR (`CSI … m`) and erase-in-line (`CSI … K`): they neither move the cursor nor break the visible text. */
function isTransparent(seq: Buffer): boolean {
  const n = seq.length;
  if (n < 3 || seq[0] !== ESC || seq[1] !== 0x5b) return false;
  const f = seq[n - 1];
  if (f !== 0x6d && f !== 0x4b) return false;
  for (let k = 2; k < n - 1; k++) {
    const c = seq[k];
    if (!((c >= 0x30 && c <= 0x39) || c === 0x3b || c === 0x3a)) return false;
  }
  return true;
}

/**
 * Where an escape at offset p of the unmasked text t goes in its masked form
 * m: before the first change it keeps its offset, after the last change its
 * offset from the end, in between right after the changed stretch.
 */
function mapInLine(t: string, m: string, p: number): number {
  if (t === m) return p;
  const max = Math.min(t.length, m.length);
  let a = 0;
  while (a < max && t.charCodeAt(a) === m.charCodeAt(a)) a++;
  let b = 0;
  while (b < max - a && t.charCodeAt(t.length - 1 - b) === m.charCodeAt(m.length - 1 - b)) b++;
  if (p <= a) return p;
  if (p >= t.length - b) return p - t.length + m.length;
  return m.length - b;
}

/** Lines with their terminators ('\n' or '\r' ends a line); always at least one (possibly empty). */
function splitLines(s: string): string[] {
  const out: string[] = [];
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10 || c === 13) {
      out.push(s.slice(from, i + 1));
      from = i + 1;
    }
  }
  out.push(s.slice(from));
  return out;
}

/**
 * Splits text into lines (each with its terminator), except that the lines
 * from a private-key BEGIN line through its END line (or to the end, if it
 * has none) stay one group. Masking group by group finds what masking the
 * whole text finds: no detector matches across a line break but key blocks.
 */
function groupLines(t: string): string[] {
  const lines = splitLines(t);
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let g = lines[i];
    if (g.includes('-----BEGIN ') && openKeyIndex(g) >= 0) {
      while (i + 1 < lines.length && openKeyIndex(g) >= 0) g += lines[++i];
    }
    out.push(g);
  }
  return out;
}
