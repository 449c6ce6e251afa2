import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipOrFail } from '../../../../tests/support/services.js';
import { parseShellLine } from './index.js';

/**
 * Differential tests against the real bash: the parser must agree with bash
 * about what the words of a command are, and must find every command bash
 * actually runs.
 */
const BASH = process.env.SLUICE_TEST_BASH ?? '/bin/bash';
const skip = skipOrFail(existsSync(BASH) ? undefined : `no bash at ${BASH}`);

/** More runs for a longer local fuzzing session. */
const RUNS = Number(process.env.SLUICE_SHELL_FUZZ_RUNS ?? 60);

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

// ------------------------------------------------------------------ words

const plain = fc.string({ unit: fc.constantFrom(...'abcxyz019_-.,/:@%+=^'.split('')), minLength: 1, maxLength: 5 });
const singleQuoted = fc.string({ unit: fc.constantFrom(...' abc"\\$`!{},*?#~;|&()<>\n\t'.split('')), maxLength: 6 }).map((t) => `'${t}'`);
const doubleQuoted = fc
  .array(fc.oneof(plain, fc.constantFrom('\\"', '\\\\', '\\$', '\\`', '\\a', '\\n', ' ', "'", '{a,b}', '*', '#', ';', '!x', '\\\n', '$ ', '~')), { maxLength: 5 })
  .map((xs) => `"${xs.join('')}"`);
const escaped = fc.constantFrom(...' abc"\'$`{},*?#;|&()<>!\\~'.split('')).map((c) => '\\' + c);
const ansiC = fc
  .array(fc.oneof(plain, fc.constantFrom('\\n', '\\t', '\\x41', '\\x7e', '\\101', '\\7', '\\\\', "\\'", '\\"', '\\e', '\\cA', '\\x2', '\\0x', '"', ' ', '\\q', '\\?', '\\a', '\\x')), { maxLength: 5 })
  .map((xs) => `$'${xs.join('')}'`);
const brace = fc.oneof(
  fc.array(plain, { minLength: 2, maxLength: 3 }).map((xs) => `{${xs.join(',')}}`),
  fc.constantFrom('{1..3}', '{a..c}', '{3..1}', '{01..3}', '{1..7..3}', '{x}', '{}', '{a..}', '{,a}', '{a,{b,c}}', '{{a,b}', '{a,b}}', "{'a,b'}", '{"x",y}'),
);
const piece = fc.oneof({ weight: 3, arbitrary: plain }, singleQuoted, doubleQuoted, escaped, ansiC, brace, fc.constant('\\\n'));
const wordArb = fc.array(piece, { minLength: 1, maxLength: 4 }).map((xs) => xs.join(''));
const lineArb = fc.array(wordArb, { minLength: 1, maxLength: 5 }).map((ws) => 'p ' + ws.join(' '));

/** What bash passes to a command for each line (one bash process for the whole batch). */
function bashArgv(lines: string[]): (string[] | null)[] {
  const END_ARGS = '\x01<end of args>\x01';
  const END_LINE = '\x02<end of line>\x02';
  const script = [`p() { printf "%s\\0" "$#" "$@"; printf '${END_ARGS}'; }`, ...lines.map((l) => `${l}\nprintf '${END_LINE}'`)].join('\n');
  const out = execFileSync(BASH, ['--norc', '--noprofile', '-s'], { input: script, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' }, maxBuffer: 64 << 20 }).toString('latin1');
  const chunks = out.split(END_LINE);
  return lines.map((_, i) => {
    const c = chunks[i] ?? '';
    if (!c.endsWith(END_ARGS)) return null;
    const [count, ...args] = c.slice(0, -END_ARGS.length).split('\0');
    args.pop(); // after the last NUL
    expect(args.length).toBe(Number(count));
    return args;
  });
}

describe.skipIf(!!skip)('words agree with bash', () => {
  it('quote removal, escapes, $\'…\', continuations and brace expansion give the same argv', () => {
    const lines = fc.sample(lineArb, 6 * RUNS);
    const expected = bashArgv(lines);
    lines.forEach((line, i) => {
      const p = parseShellLine(line);
      expect(p.error, line).toBeUndefined();
      expect(expected[i], `bash did not run ${JSON.stringify(line)}`).not.toBeNull();
      expect(p.commands[0]!.argv.slice(1), JSON.stringify(line)).toEqual(expected[i]);
    });
  });
});

// ------------------------------------------------------------------ commands run

/** A script shape: `@` marks a command that records that it ran. */
const script: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant('@'),
    fc.constantFrom('env @', 'nice -n 1 @', 'command @', 'nohup @ 2>/dev/null', 'timeout 5 @', 'echo | xargs @', 'find /dev/null -exec @ {} \\;', ': `@`', 'exec 3>/dev/null; @', 'A=1 @', '\\@', "'@'"),
    fc.tuple(tie('node'), tie('node'), fc.constantFrom('; ', '\n', ' && ', ' || ', ' | ', ' & ')).map(([a, b, op]) => `${a}${op}${b}`),
    tie('node').map((a) => `(${a})`),
    tie('node').map((a) => `{ ${a}; }`),
    fc.tuple(tie('node'), tie('node'), tie('node')).map(([a, b, c]) => `if ${a}; then ${b}; else ${c}; fi`),
    tie('node').map((a) => `for i in 1; do ${a}; done`),
    fc.tuple(tie('node'), tie('node')).map(([a, b]) => `while ${a}; do ${b}; break; done`),
    fc.tuple(tie('node'), tie('node')).map(([a, b]) => `case x in x) ${a};; y) ${b};; esac`),
    tie('node').map((a) => `: "$(${a})"`),
    tie('node').map((a) => `x=$(${a})`),
    tie('node').map((a) => `cat <(${a}) >/dev/null`),
    tie('node').map((a) => `[[ -n "$(${a})" || 1 ]]`),
    tie('node').map((a) => `fn() { ${a}; }; fn`),
    tie('node').map((a) => `{ cat >/dev/null <<EOF\n$(${a})\nEOF\n}`),
    tie('node').map((a) => `{ ${a} # @ not run\n}`),
    tie('node').map((a) => `bash -c ${sq(a)}`),
    tie('node').map((a) => `eval ${sq(a)}`),
    tie('node').map((a) => `sh -c "${a.replace(/[\\"$`]/g, '\\$&')}"`),
    tie('node').map((a) => `dash -c ${sq(a)}`),
    tie('node').map((a) => `for i in $(${a}); do :; done`),
    tie('node').map((a) => `case "$(${a})" in *) :;; esac`),
    tie('node').map((a) => `: >(${a})`),
    tie('node').map((a) => `: ${'${'}x:-$(${a})}`),
    tie('node').map((a) => `arr=(1 "$(${a})")`),
    tie('node').map((a) => `cat <<< "$(${a})" >/dev/null`),
    tie('node').map((a) => `: >/dev/null$(${a})`),
    tie('node').map((a) => `(( $(${a}) 1 ))`),
    tie('node').map((a) => `! ${a}`),
    tie('node').map((a) => `time ${a} 2>/dev/null`),
    tie('node').map((a) => `function fm { ${a}; }; fm`),
    tie('node').map((a) => `until ${a}; do break; done`),
    tie('node').map((a) => `{ ${a}; } 2>/dev/null`),
    tie('node').map((a) => `( exec ${a} )`),
    tie('node').map((a) => `if true\nthen\n  ${a}\nfi`),
    tie('node').map((a) => `${a} \\\n  && :`),
  ),
})).node;

/**
 * coreutils `timeout`, which kills the script's whole process group when it
 * runs too long: some generated scripts never end (bash 5.2 loops forever on
 * `arr=(1 "$(while { cat <<EOF … EOF }; do dash -c 'p 2'; break; done)")`),
 * and killing only bash would leave the looping subshell behind, burning a
 * core after the test. Without it, spawnSync's own timeout still ends bash.
 */
const KILL_GROUP = ['/usr/bin/timeout', '/bin/timeout'].find((t) => existsSync(t));

describe.skipIf(!!skip)('every command bash runs is found', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-shell-'));
    writeFileSync(join(dir, 'p'), '#!/bin/sh\necho "$1" >> "$OUT"\n');
    chmodSync(join(dir, 'p'), 0o755);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('for random scripts of lists, pipelines, compounds, substitutions, functions and code strings', () => {
    let runs = 0;
    let refused = 0;
    fc.assert(
      fc.property(script, (shape) => {
        let n = 0;
        const src = shape.replace(/@/g, () => `p ${++n}`);
        const syntax = spawnSync(BASH, ['--norc', '--noprofile', '-n', '-c', src]);
        fc.pre(syntax.status === 0);
        runs++;
        const p = parseShellLine(src);
        // Refusing is safe (bash runs here-document substitutions that parse, even after a later error;
        // Sluice refuses the whole line instead).
        if (p.error !== undefined) {
          refused++;
          return;
        }
        const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
        writeFileSync(out, '');
        const run = [BASH, '--norc', '--noprofile', '-c', `${src}\nwait`];
        spawnSync(KILL_GROUP ?? BASH, KILL_GROUP ? ['-s', 'KILL', '5', ...run] : run.slice(1), { cwd: dir, env: { PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`, OUT: out }, timeout: 20_000 });
        const ran = new Set(readFileSync(out, 'utf8').split('\n').filter(Boolean));
        rmSync(out);
        const found = new Set(p.commands.filter((c) => c.argv[0] === 'p').map((c) => c.argv[1]));
        for (const id of ran) expect(found.has(id), `bash ran p ${id}, not found in:\n${src}`).toBe(true);
        // and nothing is invented: every p found is one the script contains
        for (const id of found) expect(Number(id)).toBeLessThanOrEqual(n);
      }),
      { numRuns: RUNS },
    );
    expect(refused).toBeLessThan(Math.max(3, runs / 10));
  }, 120_000 + RUNS * 500);
});
