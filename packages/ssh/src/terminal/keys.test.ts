import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineEditor } from './line-editor.js';
import { LineTracker } from './line-tracker.js';
import { parseKeys } from './keys.js';

/** Byte soup biased towards what terminals send: text, controls, CSI/SS3 keys, paste markers, UTF-8. */
const piece = fc.oneof(
  fc.string({ maxLength: 8 }).map((s) => Buffer.from(s, 'utf8')),
  fc.constantFrom('\r', '\n', '\r\n', '\x7f', '\x08', '\x03', '\x04', '\x0f', '\x15', '\x17', '\x18', '\x18\x05', '\t', '\x1b')
    .map((s) => Buffer.from(s, 'latin1')),
  fc.constantFrom('\x1b[A', '\x1b[D', '\x1b[3~', '\x1bOH', '\x1b[200~', '\x1b[201~', '\x1bb', '\x1b[1;5C', 'é', '日本', '🎉')
    .map((s) => Buffer.from(s, 'utf8')),
  fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a)),
);
const bytes = fc.array(piece, { maxLength: 20 }).map((a) => Buffer.concat(a));

describe('parseKeys', () => {
  it('property: keys tile the input exactly, the unfinished rest at the end', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        const { keys, rest } = parseKeys(b);
        let at = 0;
        for (const k of keys) {
          expect(k.start).toBe(at);
          expect(k.end).toBeGreaterThan(k.start);
          at = k.end;
        }
        expect(at + rest).toBe(b.length);
        expect(rest).toBeLessThan(64);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: every CR, LF and Ctrl-O byte is an Enter key of its own', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        const { keys } = parseKeys(b);
        for (const k of keys) {
          const span = b.subarray(k.start, k.end);
          const runs = span.some((x) => x === 0x0d || x === 0x0a || x === 0x0f);
          if (runs) expect(k.kind).toBe('enter');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never glues an Enter to a lone ESC, a cut sequence or a broken character', () => {
    for (const s of ['\x1b\r', '\x1bO\r', '\x1b[1;\r', '\xc3\r', '\xe2\x82\r', '\x1b\xc3\r']) {
      const { keys } = parseKeys(Buffer.from(s, 'latin1'));
      expect(keys.at(-1)).toMatchObject({ kind: 'enter' });
    }
  });

  it('names the keys a shell cares about', () => {
    const { keys } = parseKeys(Buffer.from('a\x1b[200~b\r\n\x1b[201~\x0f\x18\x05\x1b[D\x7f', 'latin1'));
    expect(keys.map((k) => k.kind)).toEqual(['char', 'paste-start', 'char', 'enter', 'paste-end', 'enter', 'enter', 'esc', 'ctrl']);
  });
});

describe('LineEditor', () => {
  it('replays readline editing keys', () => {
    const e = new LineEditor('', 0);
    for (const k of parseKeys(Buffer.from('echo foo bar\x17baz\x01\x1b[3~E\x05 \x1b[D\x1b[D\x08', 'latin1')).keys) e.apply(k, false);
    expect(e.text).toBe('Echo foo bz ');
    expect(e.exact).toBe(true);
  });

  it('is inexact after keys it cannot replay', () => {
    for (const k of ['\t', '\x1b[A', '\x12', '\x19', '\x1bb']) {
      const e = new LineEditor('ls', 2);
      for (const key of parseKeys(Buffer.from(k, 'latin1')).keys) e.apply(key, false);
      expect(e.exact).toBe(false);
    }
  });
});

describe('LineTracker.input', () => {
  it('property: pass data and Enter bytes reproduce the input exactly, across any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(bytes, { maxLength: 6 }), async (chunks) => {
        const t = new LineTracker({ cols: 40, rows: 10 });
        t.output(Buffer.from('$ '));
        const out: Buffer[] = [];
        let enters = 0;
        const enterBytes: Buffer[] = [];
        for (const c of chunks) {
          for (const s of await t.input(c)) {
            if (s.type === 'pass') out.push(Buffer.from(s.data));
            else {
              enters++;
              enterBytes.push(Buffer.from(s.enter));
              out.push(Buffer.from(s.enter));
              expect(typeof s.line).toBe('string');
            }
          }
        }
        t.dispose();
        expect(Buffer.concat(out)).toEqual(Buffer.concat(chunks));
        // every CR and LF (which run a line, or end a pasted one) is held in a submit's Enter
        // (Ctrl-O also submits, except inside a bracketed paste, where bash inserts it)
        const runners = (x: Buffer) => x.filter((c) => c === 0x0d || c === 0x0a).length;
        expect(enterBytes.reduce((n, e) => n + runners(e), 0)).toBe(runners(Buffer.concat(chunks)));
        // every Enter outside a paste gives a submit (paste newlines too)
        const all = Buffer.concat(chunks);
        if (!all.includes(0x0d) && !all.includes(0x0a) && !all.includes(0x0f) && !all.includes(Buffer.from('\x18\x05', 'latin1'))) {
          expect(enters).toBe(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('replays a line typed in one chunk with the Enter (not echoed yet)', async () => {
    const t = new LineTracker({ cols: 40, rows: 10 });
    t.output(Buffer.from('prompt> '));
    const segs = await t.input(Buffer.from('rm -rf /tmp/x\x15echo ok\r'));
    expect(segs).toEqual([
      { type: 'pass', data: Buffer.from('rm -rf /tmp/x\x15echo ok') },
      { type: 'submit', line: 'echo ok', exact: true, enter: Buffer.from('\r') },
    ]);
    t.dispose();
  });

  it('reads the screen after output that arrived just before the Enter', async () => {
    const t = new LineTracker({ cols: 20, rows: 5 });
    t.output(Buffer.from('$ '));
    await t.input(Buffer.from('l'));
    t.output(Buffer.from('l'));
    await t.input(Buffer.from('\t'));
    // completion echo arrives, then Enter in the same tick: input() must wait for the parse
    t.output(Buffer.from('s -la /some/long/path/name'));
    const segs = await t.input(Buffer.from('\r'));
    expect(segs).toEqual([{ type: 'submit', line: 'ls -la /some/long/path/name', exact: true, enter: Buffer.from('\r') }]);
    t.dispose();
  });
});
