import { Parser, ShellSyntaxError, type Node, type Redir, type Word } from './parse.js';
import { RUNNERS } from './runners.js';

/** One command the line would run. */
export interface SimpleCommand {
  /** The command's words (leading assignments excluded) after quote removal and brace expansion; parameter and command substitutions stay as written (`$HOME`, `$(…)`). */
  argv: string[];
  /** Normalized form matched by `commands:` globs: leading assignments dropped, the command name reduced to its basename, words joined by one space. */
  text: string;
  /**
   * Where it was found: `line` written in the line itself (also inside substitutions,
   * subshells, loops, function bodies); `wrapped` the command a wrapper runs
   * (`sudo X`, `xargs X`, `find -exec X`); `code` parsed from a string handed to a
   * shell (`bash -c`, `eval`, `ssh host '…'`, `su -c`, `watch`, `alias`, `trap`).
   */
  via: 'line' | 'wrapped' | 'code';
  /** What this command runs cannot be read from the line (its name is an expansion, it runs code read from a pipe …). */
  dynamic: boolean;
  /** Why it is dynamic. */
  reason?: string;
  /** Further normalized forms, also matched: the short flags combined into one cluster (`rm -r -f /` → `rm -rf /`, `rm -fr /`). */
  alt?: string[];
}

export interface ShellParse {
  /** Every simple command the line runs, in source order (substitutions before the command that uses them). */
  commands: SimpleCommand[];
  /** Something in the line runs commands Sluice cannot see. */
  dynamic: boolean;
  /** Why it is dynamic, one entry per cause. */
  reasons: string[];
  /** More than one simple command at one level (the line itself, or one string run as code). */
  multi: boolean;
  /** Why the line could not be parsed; when set, `commands` is empty and the line must be refused. */
  error?: string;
  /** With `error`: the line ended inside an open construct (quote, `if` without `fi`, here-document …) that more lines could complete. */
  incomplete?: boolean;
}

export interface ShellOptions {
  /**
   * How the line reaches the shell.
   * - `exec` (default): an SSH exec request. Its standard input is the SSH
   *   channel, which Sluice does not read as commands, so a shell (or `ssh`,
   *   `su`, `at` …) started without a command string would run unseen code:
   *   such a command is dynamic.
   * - `shell`: a line typed at an interactive shell whose later lines are judged
   *   too (typed lines, or the input of a gated shell). An interactive
   *   sub-shell is then not dynamic unless its input is a pipe, a file or a
   *   here-document.
   */
  mode?: 'exec' | 'shell';
  /**
   * Apply bash's interactive history expansion: a line using it (`!!`, `!rm`,
   * `^a^b`) is dynamic, since it runs an earlier line Sluice cannot see here.
   * Default: on in `shell` mode, off in `exec` mode (`bash -c` does not expand).
   */
  history?: boolean;
}

/** Longest line parsed; longer lines are refused. */
export const MAX_SHELL_LINE = 64 * 1024;
/** Deepest nesting of strings run as code (`bash -c "bash -c '…'"`). */
export const MAX_CODE_DEPTH = 8;
/** Most simple commands in one line (all levels together). */
const MAX_COMMANDS = 10_000;
/** Most words brace expansion may produce in one line. */
const MAX_EXPANDED_WORDS = 4096;

/** A word as a command sees it. */
export interface Arg {
  value: string;
  expands: boolean;
  glob: boolean;
}

export interface Ctx {
  /** Standard input carries a pipe, file or here-document rather than the user's own input. */
  stdin: boolean;
}

/** Parse a POSIX-shell (bash) command line. Never throws: a failure is reported in `error`. */
export function parseShellLine(line: string, opts: ShellOptions = {}): ShellParse {
  const mode = opts.mode === 'shell' ? 'shell' : 'exec';
  if (line.length > MAX_SHELL_LINE) return failed(`command line longer than ${MAX_SHELL_LINE} characters`, false);
  if (line.includes('\0')) return failed('command line contains a NUL character', false);
  try {
    const shared = { count: 0, expanded: 0 };
    const a = new Analyzer(mode, 0, shared);
    a.parse(line, opts.history ?? mode === 'shell', false);
    const reasons = [...new Set([...a.reasons, ...a.commands.filter((c) => c.dynamic).map((c) => c.reason!)])];
    return { commands: a.commands, dynamic: reasons.length > 0, reasons, multi: a.multi };
  } catch (e) {
    if (e instanceof ShellSyntaxError) return failed(e.message, e.incomplete);
    if (e instanceof RangeError) return failed('command line nested too deeply', false);
    return failed(`internal error while parsing: ${e instanceof Error ? e.message : String(e)}`, false);
  }
}

function failed(error: string, incomplete: boolean): ShellParse {
  const p: ShellParse = { commands: [], dynamic: false, reasons: [], multi: false, error };
  if (incomplete) p.incomplete = true;
  return p;
}

class TooManyWords extends Error {}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;
const STDIN_OPS = new Set(['<', '<<', '<<-', '<<<', '<>', '<&']);

export class Analyzer {
  readonly commands: SimpleCommand[] = [];
  readonly reasons: string[] = [];
  multi = false;
  /**
   * Inside `(( … ))` read as dash would read it (nested subshells). Bash reads
   * the same text as arithmetic, so commands whose names cannot be read are
   * left out there rather than making `(( $n > 1 ))` dynamic.
   */
  private speculative = 0;

  constructor(
    readonly mode: 'exec' | 'shell',
    readonly depth: number,
    private readonly shared: { count: number; expanded: number },
  ) {}

  /** Parse `src` and record its commands. */
  parse(src: string, interactive: boolean, stdin: boolean, posix = false): void {
    const parser = new Parser(src, { interactive, posix }, this.reasons);
    const tree = parser.parseProgram();
    const level = { count: 0 };
    this.walk(tree, stdin, level);
    if (level.count > 1) this.multi = true;
  }

  private walk(node: Node, stdin: boolean, level: { count: number }): void {
    switch (node.t) {
      case 'list':
        for (const n of node.items) this.walk(n, stdin, level);
        return;
      case 'pipeline':
        node.cmds.forEach((n, i) => this.walk(n, stdin || i > 0, level));
        return;
      case 'compound': {
        if (node.kind === 'arith-as-commands') {
          this.speculative++;
          try {
            for (const n of node.body) this.walk(n, stdin, { count: 0 });
          } finally {
            this.speculative--;
          }
          return;
        }
        const s = stdin || node.redirs.some(isStdinRedir);
        for (const w of node.words) this.subs(w, s, level);
        this.redirSubs(node.redirs, s, level);
        for (const n of node.body) this.walk(n, s, level);
        return;
      }
      case 'simple': {
        const s = stdin || node.redirs.some(isStdinRedir);
        for (const w of node.words) this.subs(w, s, level);
        this.redirSubs(node.redirs, s, level);
        let i = 0;
        while (i < node.words.length && isAssignment(node.words[i]!)) i++;
        if (i === node.words.length) return;
        if (this.speculative && (node.words[i]!.expands || node.words[i]!.glob)) return;
        level.count++;
        let args: Arg[];
        let tooMany = false;
        try {
          args = node.words.slice(i).flatMap((w) => this.expand(w));
        } catch (e) {
          if (!(e instanceof TooManyWords)) throw e;
          tooMany = true;
          args = node.words.slice(i).map((w) => ({ value: w.value, expands: w.expands, glob: w.glob }));
        }
        if (args.length === 0) return;
        const rec = this.run(args, { stdin: s }, 'line');
        if (tooMany) this.dyn(rec, 'brace expansion produces too many words');
        return;
      }
    }
  }

  private subs(w: Word, stdin: boolean, level: { count: number }): void {
    // Inside `(( … ))` read as commands, the substitutions were already found by the arithmetic reading.
    if (this.speculative) return;
    for (const n of w.subs) this.walk(n, stdin, level);
  }

  private redirSubs(redirs: Redir[], stdin: boolean, level: { count: number }): void {
    for (const r of redirs) {
      this.subs(r.target, stdin, level);
      if (r.body) this.subs(r.body, stdin, level);
    }
  }

  /**
   * Record a command about to run and follow what it runs in turn.
   * Returns the record so that a caller can mark it dynamic.
   */
  run(args: Arg[], ctx: Ctx, via: SimpleCommand['via'] = 'wrapped'): SimpleCommand {
    if (++this.shared.count > MAX_COMMANDS) throw new ShellSyntaxError(`more than ${MAX_COMMANDS} commands in one line`, false);
    const rec: SimpleCommand = { argv: args.map((a) => a.value), text: normalize(args), via, dynamic: false };
    const name = args[0]!;
    const runner = name.expands || name.glob ? undefined : RUNNERS.get(commandName(name.value));
    const alt = runner ? [] : flagForms(args, rec.text);
    if (alt.length) rec.alt = alt;
    this.commands.push(rec);
    if (name.expands) return this.dyn(rec, `the command name ${JSON.stringify(name.value)} comes from an expansion`);
    if (name.glob) return this.dyn(rec, `the command name ${JSON.stringify(name.value)} is a pathname pattern`);
    if (/^\/(proc|dev\/fd)\//.test(name.value)) return this.dyn(rec, `the program behind ${name.value} cannot be known from its name`);
    if (runner) runner(this, args, rec, ctx);
    return rec;
  }

  /** Mark a command as running something unknowable. */
  dyn(rec: SimpleCommand, reason: string): SimpleCommand {
    if (!rec.dynamic) {
      rec.dynamic = true;
      rec.reason = reason;
    }
    return rec;
  }

  /** A command that would read commands from its standard input. */
  stdinCode(rec: SimpleCommand, ctx: Ctx, what: string): void {
    if (ctx.stdin) this.dyn(rec, `${what} reads commands from a pipe, file or here-document`);
    else if (this.mode === 'exec') this.dyn(rec, `${what} reads commands from the SSH channel`);
  }

  /** Words that another shell will parse as code (joined by spaces, as `eval` and `ssh` do). */
  code(words: Arg[], rec: SimpleCommand, what: string, ctx: Ctx, posix = false): void {
    if (words.length === 0) return;
    const bad = words.find((w) => w.expands);
    if (bad) {
      this.dyn(rec, `the code given to ${what} is not a constant (${bad.value})`);
      return;
    }
    const text = words.map((w) => w.value).join(' ');
    if (this.depth + 1 > MAX_CODE_DEPTH) throw new ShellSyntaxError(`code strings nested more than ${MAX_CODE_DEPTH} deep`, false);
    const inner = new Analyzer(this.mode, this.depth + 1, this.shared);
    try {
      inner.parse(text, false, ctx.stdin, posix);
    } catch (e) {
      if (e instanceof ShellSyntaxError) throw new ShellSyntaxError(e.message.startsWith('in the code given to') ? e.message : `in the code given to ${what}: ${e.message}`, false);
      throw e;
    }
    for (const c of inner.commands) {
      if (c.via === 'line') c.via = 'code';
      this.commands.push(c);
    }
    this.reasons.push(...inner.reasons);
    if (inner.multi) this.multi = true;
  }

  /** Split a string into words the way the shell would (for `env -S`); null when it is more than plain words. */
  splitWords(text: string): Arg[] | null {
    try {
      const tree = new Parser(text, { interactive: false }).parseProgram();
      const n = tree.t === 'list' && tree.items.length === 1 ? tree.items[0]! : tree;
      if (n.t !== 'simple' || n.redirs.length || n.words.some((w) => w.subs.length)) return null;
      return n.words.flatMap((w) => this.expand(w));
    } catch {
      return null;
    }
  }

  /** Brace expansion of one word (`{a,b}`, `{1..3}`); other expansions are left as written. */
  private expand(w: Word): Arg[] {
    if (!w.segs.some((s) => s.bare && s.text.includes('{'))) return [{ value: w.value, expands: w.expands, glob: w.glob }];
    const chars: Ch[] = [];
    for (const s of w.segs) for (const c of s.text) chars.push({ c, bare: s.bare });
    const args = braces(chars, this.shared).map((value) => ({ value, expands: w.expands, glob: w.glob }));
    return w.quoted ? args : args.filter((a) => a.value !== '');
  }
}

interface Ch {
  c: string;
  bare: boolean;
}

/**
 * Bash brace expansion over a word's characters (only unquoted braces and
 * commas count). Braces are paired once with a stack, then the word is read
 * left to right, multiplying out each valid group (`{a,b}` or a sequence);
 * an invalid group is literal and the braces inside it are tried in turn.
 * Linear in the word plus the output; throws TooManyWords past the budget.
 */
function braces(chars: Ch[], budget: { expanded: number }): string[] {
  const partner = new Int32Array(chars.length).fill(-1);
  const stack: number[] = [];
  chars.forEach((ch, i) => {
    if (!ch.bare) return;
    if (ch.c === '{') stack.push(i);
    else if (ch.c === '}' && stack.length) partner[stack.pop()!] = i;
  });
  const range = (from: number, to: number, depth: number): string[] => {
    if (depth > 64) throw new TooManyWords();
    let results = [''];
    let lit = '';
    for (let i = from; i < to; i++) {
      const ch = chars[i]!;
      const j = ch.bare && ch.c === '{' ? partner[i]! : -1;
      if (j > i && j < to) {
        let alts: string[] | null = null;
        const commas: number[] = [];
        for (let k = i + 1; k < j; k++) {
          const c = chars[k]!;
          if (!c.bare) continue;
          if (c.c === '{' && partner[k]! > k) k = partner[k]!;
          else if (c.c === ',') commas.push(k);
        }
        if (commas.length) {
          alts = [];
          let s = i + 1;
          for (const k of [...commas, j]) {
            alts.push(...range(s, k, depth + 1));
            if (alts.length > MAX_EXPANDED_WORDS) throw new TooManyWords();
            s = k + 1;
          }
        } else if (j - i <= 64) {
          const inner = chars.slice(i + 1, j);
          if (inner.every((x) => x.bare)) alts = sequence(inner.map((x) => x.c).join(''), budget);
        }
        if (alts) {
          if (results.length * alts.length > MAX_EXPANDED_WORDS) throw new TooManyWords();
          const next: string[] = [];
          for (const r of results) for (const a of alts) next.push(r + lit + a);
          results = next;
          lit = '';
          i = j;
          continue;
        }
      }
      lit += ch.c;
    }
    return lit ? results.map((r) => r + lit) : results;
  };
  const out = range(0, chars.length, 0);
  budget.expanded += out.length;
  if (budget.expanded > MAX_EXPANDED_WORDS) throw new TooManyWords();
  return out;
}

/** `{1..10}`, `{01..10..2}`, `{a..e}`; null when not a sequence expression. */
function sequence(text: string, budget: { expanded: number }): string[] | null {
  const num = /^([-+]?\d+)\.\.([-+]?\d+)(?:\.\.([-+]?\d+))?$/.exec(text);
  const chr = /^([A-Za-z])\.\.([A-Za-z])(?:\.\.([-+]?\d+))?$/.exec(text);
  const m = num ?? chr;
  if (!m) return null;
  const a = num ? parseInt(m[1]!, 10) : m[1]!.charCodeAt(0);
  const b = num ? parseInt(m[2]!, 10) : m[2]!.charCodeAt(0);
  let step = Math.abs(m[3] ? parseInt(m[3], 10) : 1) || 1;
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || !Number.isSafeInteger(step)) return null;
  const count = Math.floor(Math.abs(b - a) / step) + 1;
  if (count + budget.expanded > MAX_EXPANDED_WORDS) throw new TooManyWords();
  if (b < a) step = -step;
  const width = num && (/^[-+]?0\d/.test(m[1]!) || /^[-+]?0\d/.test(m[2]!)) ? Math.max(m[1]!.replace(/^[-+]/, '').length, m[2]!.replace(/^[-+]/, '').length) : 0;
  const out: string[] = [];
  for (let k = 0, v = a; k < count; k++, v += step) {
    if (!num) out.push(String.fromCharCode(v));
    else {
      const abs = String(Math.abs(v)).padStart(width, '0');
      out.push(v < 0 ? '-' + abs : abs);
    }
  }
  return out;
}

function isAssignment(w: Word): boolean {
  const first = w.segs[0];
  return first !== undefined && first.bare && ASSIGNMENT.test(first.text);
}

function isStdinRedir(r: Redir): boolean {
  return STDIN_OPS.has(r.op) && (r.fd === undefined || r.fd === '0');
}

export function basename(v: string): string {
  if (!v.includes('/')) return v;
  const b = v.slice(v.lastIndexOf('/') + 1);
  return b || v;
}

/** The command name as matched: the basename of a path; zsh's `=rm` (the path of rm) read as `rm`. */
function commandName(v: string): string {
  const b = basename(v);
  return b.length > 1 && b.startsWith('=') ? b.slice(1) : b;
}

function normalize(args: Arg[]): string {
  return [commandName(args[0]!.value), ...args.slice(1).map((a) => a.value)].join(' ');
}

/**
 * Other spellings of the same short flags: every flag word of one to four
 * plain letters (before `--`) merged into one cluster at the first flag's
 * place, in the order written, sorted and reverse-sorted. So `rm -r -f x`,
 * `rm -fr x` and `rm -rf x` each also read as the other two, and a glob
 * written for one spelling of two flags matches them all. Longer clusters get
 * those three orders only, not every permutation. Not done for commands that
 * run other commands (their flags belong to several programs).
 */
function flagForms(args: Arg[], text: string): string[] {
  const idx: number[] = [];
  const letters: string[] = [];
  for (let k = 1; k < args.length; k++) {
    const a = args[k]!;
    if (a.value === '--') break;
    if (!a.expands && /^-[A-Za-z]{1,4}$/.test(a.value)) {
      idx.push(k);
      for (const c of a.value.slice(1)) if (!letters.includes(c)) letters.push(c);
    }
  }
  if (letters.length < 2 || letters.length > 8) return [];
  const sorted = [...letters].sort();
  const clusters = new Set([letters.join(''), sorted.join(''), [...sorted].reverse().join('')]);
  const out: string[] = [];
  for (const cl of clusters) {
    const words: string[] = [];
    args.forEach((a, k) => {
      if (k === idx[0]) words.push('-' + cl);
      else if (!idx.includes(k)) words.push(k === 0 ? commandName(a.value) : a.value);
    });
    const t = words.join(' ');
    if (t !== text && !out.includes(t)) out.push(t);
  }
  return out;
}
