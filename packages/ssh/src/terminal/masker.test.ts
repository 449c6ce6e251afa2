import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMasker, DETECTOR_NAMES, type Masker, type MaskStrategy } from '@sluice/core';
import { ESC_CAP, KEY_CAP, TerminalMasker, TEXT_TAIL_CAP } from './masker.js';

const key = Buffer.from('terminal-masker-test-key');
function core(strategy: MaskStrategy = 'redact'): Masker {
  const m = createMasker([{ detectors: [...DETECTOR_NAMES], strategy }], { hashKey: key });
  if (!m) throw new Error('masker expected');
  return m;
}
const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const dec = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** Feeds chunks one by one, then end(); returns the concatenated output. */
function run(tm: TerminalMasker, chunks: Uint8Array[]): Buffer {
  const out: Uint8Array[] = chunks.map((c) => tm.push(c));
  out.push(tm.end());
  return Buffer.concat(out);
}

/** Cuts b at the given positions (sorted, deduplicated, inside b). */
function split(b: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const c of at) {
    parts.push(b.subarray(prev, c));
    prev = c;
  }
  parts.push(b.subarray(prev));
  return parts;
}

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const PEM = '-----BEGIN RSA PRIVATE KEY-----\r\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\r\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\r\n-----END RSA PRIVATE KEY-----';
const SECRETS = [
  '4111 1111 1111 1111',
  '4111111111111111',
  '5500-0000-0000-0004',
  'alice@example.com',
  '123-45-6789',
  'SSN: 123456789',
  'GB82 WEST 1234 5698 7654 32',
  'AKIAIOSFODNN7EXAMPLE',
  'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  '+44 20 7946 0958',
  '(415) 555-0132',
  JWT,
  PEM,
];
/** Escape sequences that end a text run (they move the cursor or are strings). */
const OPAQUE = [
  '\x1b[2J',
  '\x1b[H',
  '\x1b[?2004h',
  '\x1b[3A',
  '\x1b]0;user@host: ~ ü 4111111111111111\x07',
  '\x1b]0;title\x1b\\',
  '\x1b]8;;https://example.com/a@b.com\x1b\\',
  '\x1bP1$r0m\x1b\\',
  '\x1b7',
  '\x1b8',
  '\x1b(B',
  '\x1b=',
];
/** SGR and erase-in-line: the text goes on through them. */
const TRANSPARENT = ['\x1b[31m', '\x1b[0m', '\x1b[m', '\x1b[1;32m', '\x1b[01;31m', '\x1b[K', '\x1b[38:5:196m'];
const ESCAPES = [...OPAQUE, ...TRANSPARENT];
const FILLER = ['ls -la', ' ', '  ', '\r\n', '\n', '\r', 'total 12', '$ ', 'héllo ✓ 日本 🎉', '42', '1234', 'card:', '\t', 'user@host:~$ ', 'a.b-c'];

type Tok = { esc: boolean; s: string };
const tokenOf = (escapes: string[]): fc.Arbitrary<Tok> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...SECRETS).map((s) => ({ esc: false, s })) },
    { weight: 2, arbitrary: fc.constantFrom(...escapes).map((s) => ({ esc: true, s })) },
    { weight: 4, arbitrary: fc.constantFrom(...FILLER).map((s) => ({ esc: false, s })) },
    {
      weight: 2,
      arbitrary: fc
        .string({ unit: fc.constantFrom(...'abcXYZ0123456789 @.-+:/=\r\n\té✓'.split('')), maxLength: 12 })
        .map((s) => ({ esc: false, s })),
    },
  );
const token = tokenOf(OPAQUE);
const anyToken = tokenOf(ESCAPES);

/** The reference without transparent escapes: every text run between escape sequences masked at once. */
function reference(masker: Masker, toks: Tok[]): string {
  let out = '';
  let run = '';
  for (const t of toks) {
    if (t.esc) {
      out += masker.text(run).text + t.s;
      run = '';
    } else {
      run += t.s;
    }
  }
  return out + masker.text(run).text;
}

/** What a terminal shows as text: runs split by opaque escapes, each masked without its transparent escapes. */
function visibleReference(masker: Masker, toks: Tok[]): string {
  let out = '';
  let run = '';
  for (const t of toks) {
    if (t.esc && OPAQUE.includes(t.s)) {
      out += masker.text(run).text;
      run = '';
    } else if (!t.esc) {
      run += t.s;
    }
  }
  return out + masker.text(run).text;
}

// eslint-disable-next-line no-control-regex
const ESCAPE_RE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1bP[^\x1b]*\x1b\\|\x1b[ -/]*[0-~]/g;

describe('TerminalMasker', () => {
  it('masks a card number split over two chunks', () => {
    const tm = new TerminalMasker(core());
    const a = tm.push(enc('$ cat cards\r\nvisa 4111 1111 '));
    const b = tm.push(enc('1111 1111 ok\r\n$ '));
    const out = dec(Buffer.concat([a, b, tm.end()]));
    expect(out).toBe('$ cat cards\r\nvisa [REDACTED:credit_card] ok\r\n$ ');
    expect(out).not.toContain('1111');
    expect(tm.masked).toBe(1);
  });

  it('emits finished lines at once and holds only the unfinished one', () => {
    const tm = new TerminalMasker(core());
    expect(dec(tm.push(enc('line one\r\nline two\r\npartial')))).toBe('line one\r\nline two\r\n');
    expect(dec(tm.flush())).toBe('partial');
    expect(tm.flush().length).toBe(0);
  });

  it('passes escape sequences through untouched and masks the text around them', () => {
    const tm = new TerminalMasker(core());
    const input = '\x1b]0;4111111111111111\x07\x1b[1;31malice@example.com\x1b[0m\r\n';
    const out = dec(run(tm, [enc(input)]));
    expect(out).toBe('\x1b]0;4111111111111111\x07\x1b[1;31m[REDACTED:email]\x1b[0m\r\n');
  });

  it('holds an unfinished escape sequence and never splits it', () => {
    const tm = new TerminalMasker(core());
    expect(dec(tm.push(enc('ok\r\n\x1b[?20')))).toBe('ok\r\n');
    expect(dec(tm.push(enc('04hred')))).toBe('\x1b[?2004h');
    expect(dec(tm.end())).toBe('red');
    // a colour (SGR) sequence stays with the text of its line
    const tc = new TerminalMasker(core());
    expect(dec(tc.push(enc('ok\r\n\x1b[38;5')))).toBe('ok\r\n');
    expect(dec(tc.push(enc(';196mred')))).toBe('');
    expect(dec(tc.end())).toBe('\x1b[38;5;196mred');
  });

  it('never emits half a UTF-8 character on flush', () => {
    const tm = new TerminalMasker(core());
    const e = enc('€'); // 3 bytes
    const first = tm.push(e.subarray(0, 1));
    expect(first.length).toBe(0);
    expect(tm.flush().length).toBe(0);
    const rest = Buffer.concat([tm.push(e.subarray(1)), tm.flush()]);
    expect(dec(rest)).toBe('€');
  });

  it('bounds what a long line without line breaks holds', () => {
    const tm = new TerminalMasker(core());
    const word = 'lorem ipsum dolor sit amet ';
    let emitted = 0;
    let fed = 0;
    for (let i = 0; i < 1000; i++) {
      const c = enc(word);
      fed += c.length;
      emitted += tm.push(c).length;
      expect(fed - emitted).toBeLessThanOrEqual(TEXT_TAIL_CAP);
    }
    emitted += tm.end().length;
    expect(emitted).toBe(fed);
  });

  it('masks a private key block whose lines arrive in separate chunks', () => {
    const tm = new TerminalMasker(core());
    const lines = ('$ cat id_rsa\r\n' + PEM + '\r\n$ ').split(/(?<=\n)/);
    const out = dec(run(tm, lines.map(enc)));
    expect(out).toBe('$ cat id_rsa\r\n[REDACTED:private_key]\r\n$ ');
  });

  it('keeps an unfinished key block held on idle flush', () => {
    const tm = new TerminalMasker(core());
    let out = dec(tm.push(enc('x\r\n-----BEGIN PRIVATE KEY-----\r\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\r\n')));
    out += dec(tm.flush());
    expect(out).toBe('x\r\n');
    out += dec(tm.push(enc('BKcwggSjAgEAAoIBAQC7\r\n-----END PRIVATE KEY-----\r\n$ ')));
    out += dec(tm.end());
    expect(out).toBe('x\r\n[REDACTED:private_key]\r\n$ ');
  });

  it('redacts and drops an over-long key block up to its END line', () => {
    const tm = new TerminalMasker(core());
    const body = 'QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n';
    const chunks = [enc('-----BEGIN OPENSSH PRIVATE KEY-----\r\n')];
    for (let n = 0; n * body.length < KEY_CAP * 2; n++) chunks.push(enc(body));
    chunks.push(enc('-----END OPENSSH PRIVATE KEY-----\r\nafter\r\n'));
    const out = dec(run(tm, chunks));
    expect(out).toBe('[REDACTED:private_key]\r\nafter\r\n');
  });

  it('a throwing masker redacts instead of passing text through', () => {
    const tm = new TerminalMasker({
      text() {
        throw new Error('boom');
      },
    });
    const out = dec(run(tm, [enc('secret\r\n')]));
    expect(out).not.toContain('secret');
    expect(tm.masked).toBeGreaterThan(0);
  });

  it('leaves invalid UTF-8 bytes alone and still masks around them', () => {
    const tm = new TerminalMasker(core());
    const input = Buffer.concat([enc('a '), Buffer.from([0xff, 0xfe]), enc(' alice@example.com\r\n')]);
    const out = run(tm, [input]);
    expect(out).toEqual(Buffer.concat([enc('a '), Buffer.from([0xff, 0xfe]), enc(' [REDACTED:email]\r\n')]));
  });

  for (const strategy of ['redact', 'partial', 'hash'] as const) {
    it(`property (${strategy}): any chunking gives the same output as masking each text run at once`, () => {
      const masker = core(strategy);
      fc.assert(
        fc.property(fc.array(token, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 12 }), (toks, cuts) => {
          const whole = enc(toks.map((t) => t.s).join(''));
          const expected = reference(masker, toks);
          const tm = new TerminalMasker(masker);
          const out = run(tm, split(whole, cuts));
          // valid UTF-8 in, valid UTF-8 out
          const text = new TextDecoder('utf-8', { fatal: true }).decode(out);
          expect(text).toBe(expected);
          // escape sequences survive byte for byte, in order
          let from = 0;
          for (const t of toks) {
            if (!t.esc) continue;
            const at = text.indexOf(t.s, from);
            expect(at).toBeGreaterThanOrEqual(0);
            from = at + t.s.length;
          }
        }),
        { numRuns: 400 },
      );
    });
  }

  it('masks a value that grep --color split with highlight escapes, keeping the escapes', () => {
    const tm = new TerminalMasker(core());
    const input = 'cards.txt:\x1b[01;31m\x1b[K4111\x1b[m\x1b[K 1111 1111 1111 visa\r\n$ ';
    const out = dec(run(tm, input.split(/(?<=1111)/).map(enc)));
    expect(out.replace(ESCAPE_RE, '')).toBe('cards.txt:[REDACTED:credit_card] visa\r\n$ ');
    expect(out.match(ESCAPE_RE)).toEqual(['\x1b[01;31m', '\x1b[K', '\x1b[m', '\x1b[K']);
    expect(out.startsWith('cards.txt:\x1b[01;31m\x1b[K[REDACTED:credit_card]\x1b[m\x1b[K visa')).toBe(true);
  });

  for (const strategy of ['redact', 'partial', 'hash'] as const) {
    it(`property (${strategy}): with colour escapes, what shows is masked, escapes survive in order, chunking does not matter`, () => {
      const masker = core(strategy);
      fc.assert(
        fc.property(fc.array(anyToken, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 12 }), (toks, cuts) => {
          const whole = enc(toks.map((t) => t.s).join(''));
          const once = run(new TerminalMasker(masker), [whole]);
          const out = run(new TerminalMasker(masker), split(whole, cuts));
          const text = new TextDecoder('utf-8', { fatal: true }).decode(out);
          expect(text.replace(ESCAPE_RE, '')).toBe(visibleReference(masker, toks));
          expect(text.match(ESCAPE_RE) ?? []).toEqual(toks.filter((t) => t.esc).map((t) => t.s));
          expect(out).toEqual(once);
        }),
        { numRuns: 400 },
      );
    });
  }

  it('property: what is held back stays bounded, whatever the bytes', () => {
    const identity = { text: (v: string) => ({ text: v, masked: 0 }) };
    const chunk = fc.oneof(
      fc.uint8Array({ maxLength: 9000 }),
      fc.string({ unit: fc.constantFrom('a', ' ', '1', '\x1b', '[', ']', 'P', '\x07', '\\', 'm', '\n', 'é'), maxLength: 6000 }).map(enc),
    );
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 8 }), (chunks) => {
        const tm = new TerminalMasker(identity);
        let fed = 0;
        let emitted = 0;
        const out: Uint8Array[] = [];
        for (const c of chunks) {
          fed += c.length;
          out.push(tm.push(c));
          emitted += out[out.length - 1].length;
          expect(fed - emitted).toBeLessThanOrEqual(TEXT_TAIL_CAP + ESC_CAP);
        }
        out.push(tm.end());
        // nothing to mask: every byte comes out unchanged, in order
        expect(Buffer.concat(out)).toEqual(Buffer.concat(chunks));
      }),
      { numRuns: 200 },
    );
  });

  it('property: idle flushes never leak a partial UTF-8 character or alter escapes', () => {
    const masker = core();
    fc.assert(
      fc.property(fc.array(token, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), (toks, cuts) => {
        const whole = enc(toks.map((t) => t.s).join(''));
        const tm = new TerminalMasker(masker);
        for (const c of split(whole, cuts)) {
          const a = tm.push(c);
          const b = tm.flush();
          // each emitted piece decodes on its own
          new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat([a, b]));
        }
        const out = Buffer.concat([tm.end()]);
        new TextDecoder('utf-8', { fatal: true }).decode(out);
      }),
      { numRuns: 300 },
    );
  });
});
