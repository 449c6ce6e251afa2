import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseShellLine, shellCommand, RUNNER_NAMES, type ShellParse } from './index.js';

/** Fragments that drive the parser into its corners. */
const SHELLISH = [
  "'", '"', '\\', '$', '$(', '$((', '${', '`', '(', ')', '((', '))', '{', '}', '[[', ']]', ';', ';;', '&', '&&', '|', '||', '|&',
  '<', '>', '<<', '<<-', '<<<', '<(', '>(', '2>&1', '\n', ' ', '\t', '#', '!', '=', '*', '?', '[', ']', ',', '..', '~', "$'", '$"',
  'EOF', 'if', 'then', 'elif', 'else', 'fi', 'for', 'in', 'do', 'done', 'while', 'case', 'esac', 'function', 'time', 'coproc',
  'bash -c ', 'sh', 'eval ', 'sudo ', 'env ', 'xargs ', 'find -exec ', 'ssh h ', 'su -c ', 'x=', 'rm -rf /', 'a', 'b', '1', '\\x41', '\\n',
];
const shellish = fc.array(fc.constantFrom(...SHELLISH), { maxLength: 60 }).map((xs) => xs.join(''));
const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 100 }), shellish);

function wellFormed(p: ShellParse): void {
  if (p.error !== undefined) {
    expect(typeof p.error).toBe('string');
    // A caught exception of the parser itself would be a bug, even though the line is refused.
    expect(p.error).not.toMatch(/^internal error/);
    expect(p.commands).toEqual([]);
    return;
  }
  expect(p.incomplete).toBeUndefined();
  for (const c of p.commands) {
    expect(c.argv.length).toBeGreaterThan(0);
    expect(typeof c.text).toBe('string');
    if (c.dynamic) expect(c.reason).toBeTruthy();
  }
  expect(p.dynamic).toBe(p.reasons.length > 0);
}

describe('parseShellLine never throws', () => {
  it('on arbitrary text, unicode, control characters and shell fragments', () => {
    fc.assert(
      fc.property(anyText, fc.constantFrom<'exec' | 'shell'>('exec', 'shell'), (line, mode) => {
        const p = parseShellLine(line, { mode });
        wellFormed(p);
        const c = shellCommand(line, { mode });
        expect(c.protocol).toBe('ssh');
        if (p.error) expect(c.flags).toContain('parse-error');
      }),
      { numRuns: Number(process.env.SLUICE_SHELL_FUZZ_RUNS ?? 30) * 100 },
    );
  }, 600_000);

  it('on huge and deeply nested input (refused, not parsed)', () => {
    const cases = [
      'a'.repeat(10_000_000),
      '$('.repeat(30_000),
      '('.repeat(30_000),
      '{ '.repeat(20_000),
      '"$('.repeat(15_000),
      '`'.repeat(50_000),
      'a | '.repeat(15_000) + 'b',
      'echo ' + '{a,b}'.repeat(5000),
      'echo {1..9999999999}',
      '${'.repeat(20_000),
      'cat <<EOF\n'.repeat(5000),
      "eval '".repeat(5000),
    ];
    for (const line of cases) wellFormed(parseShellLine(line));
  });
});

/** Single-quote a word for the shell. */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const isRunner = (w: string) => RUNNER_NAMES.includes(w.slice(w.lastIndexOf('/') + 1) || w);
const word = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !s.includes('\0'));

describe('round trip', () => {
  it('single-quoted argv joined by "; " parse back to exactly those argv', () => {
    fc.assert(
      fc.property(fc.array(fc.array(word, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }), (cmds) => {
        fc.pre(cmds.every((argv) => !isRunner(argv[0]!)));
        const line = cmds.map((argv) => argv.map(sq).join(' ')).join('; ');
        const p = parseShellLine(line);
        expect(p.error).toBeUndefined();
        expect(p.commands.map((c) => c.argv)).toEqual(cmds);
        expect(p.multi).toBe(cmds.length > 1);
        expect(p.dynamic).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('the normalized text of a quoted command is its words joined by spaces', () => {
    fc.assert(
      fc.property(fc.array(word.filter((w) => !w.includes('/')), { minLength: 1, maxLength: 6 }), (argv) => {
        fc.pre(!isRunner(argv[0]!));
        const p = parseShellLine(argv.map(sq).join(' \t '));
        expect(p.commands[0]!.text).toBe(argv.join(' '));
      }),
    );
  });
});
