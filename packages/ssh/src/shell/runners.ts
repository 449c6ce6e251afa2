import type { Analyzer, Arg, Ctx, SimpleCommand } from './analyze.js';

/**
 * Commands that run other commands, and how to find what they run. Each
 * runner reads the options of its command (from the tools' manuals), then
 * records the command it runs (`an.run`), parses a string it runs as shell
 * code (`an.code`), or marks it dynamic (`an.dyn`, `an.stdinCode`).
 *
 * Options are read strictly: an option Sluice does not know, or one that
 * comes from an expansion, makes the command dynamic, because a misread option
 * that takes an argument would hide the real command behind it.
 */
export type Runner = (an: Analyzer, args: Arg[], rec: SimpleCommand, ctx: Ctx) => void;

interface Spec {
  /** Short options without an argument. */
  flags?: string;
  /** Short options with an argument (attached or the next word). */
  args?: string;
  /** Short options with an optional attached argument. */
  optional?: string;
  longFlags?: string[];
  longArgs?: string[];
  /** `-NUM` is an option (nice). */
  numeric?: boolean;
  /** GNU argument permutation: options may follow operands, until `--`. */
  permute?: boolean;
}

interface Opts {
  /** Option values by short letter or full long name; `true` for a flag. */
  opts: Map<string, Arg | true>;
  operands: Arg[];
  error?: string;
}

const lit = (value: string): Arg => ({ value, expands: false, glob: false });

/** getopt_long as the tools use it, with unknown options reported instead of guessed. */
function getopt(args: Arg[], spec: Spec, start = 1): Opts {
  const opts = new Map<string, Arg | true>();
  const operands: Arg[] = [];
  let i = start;
  for (; i < args.length; i++) {
    const a = args[i]!;
    const v = a.value;
    if (v === '--' && !a.expands) {
      i++;
      break;
    }
    if (!v.startsWith('-') || v === '-') {
      if (spec.permute) {
        operands.push(a);
        continue;
      }
      break;
    }
    if (a.expands && !expansionInArgument(v, spec)) return { opts, operands, error: `an option comes from an expansion (${v})` };
    if (v.startsWith('--')) {
      const eq = v.indexOf('=');
      const name = v.slice(2, eq < 0 ? undefined : eq);
      const all = [...(spec.longFlags ?? []), ...(spec.longArgs ?? [])];
      let full = all.find((o) => o === name);
      if (!full) {
        const cands = all.filter((o) => o.startsWith(name));
        if (cands.length !== 1 || name === '') return { opts, operands, error: `unknown option ${v}` };
        full = cands[0]!;
      }
      if (eq >= 0) opts.set(full, { ...a, value: v.slice(eq + 1) });
      else if (spec.longArgs?.includes(full)) {
        const next = args[++i];
        if (!next) return { opts, operands, error: `option ${v} needs an argument` };
        opts.set(full, next);
      } else opts.set(full, true);
      continue;
    }
    if (spec.numeric && /^-\d+$/.test(v)) {
      opts.set('NUM', { ...a, value: v.slice(1) });
      continue;
    }
    for (let k = 1; k < v.length; k++) {
      const c = v[k]!;
      if (spec.args?.includes(c)) {
        const rest = v.slice(k + 1);
        if (rest) opts.set(c, { ...a, value: rest });
        else {
          const next = args[++i];
          if (!next) return { opts, operands, error: `option -${c} needs an argument` };
          opts.set(c, next);
        }
        break;
      }
      if (spec.optional?.includes(c)) {
        opts.set(c, v.slice(k + 1) ? { ...a, value: v.slice(k + 1) } : true);
        break;
      }
      if (spec.flags?.includes(c)) opts.set(c, true);
      else return { opts, operands, error: `unknown option -${c}` };
    }
  }
  operands.push(...args.slice(i));
  return { opts, operands };
}

/**
 * Whether the expansion in an option word can only be the option's argument
 * (`-u$USER`, `-Eu$U`, `--user=$U`), not more option letters (`-$X`, `-E$X`).
 */
function expansionInArgument(v: string, spec: Spec): boolean {
  const cut = v.search(/[$`]|<\(/);
  const prefix = cut < 0 ? v : v.slice(0, cut);
  if (prefix.startsWith('--')) {
    const eq = prefix.indexOf('=');
    return eq > 2 && (spec.longArgs ?? []).includes(prefix.slice(2, eq));
  }
  for (let k = 1; k < prefix.length; k++) {
    const c = prefix[k]!;
    if (spec.args?.includes(c)) return true;
    if (!spec.flags?.includes(c)) return false;
  }
  return false;
}

function has(o: Opts, ...keys: string[]): boolean {
  return keys.some((k) => o.opts.has(k));
}
function str(o: Opts, ...keys: string[]): Arg | undefined {
  for (const k of keys) {
    const v = o.opts.get(k);
    if (v !== undefined && v !== true) return v;
  }
  return undefined;
}

/** The command's name as matched (basename of argv[0]). */
function nameOf(rec: SimpleCommand): string {
  return rec.text.split(' ', 1)[0]!;
}

/** Parse options; on a bad option mark the command dynamic and return null. */
function options(an: Analyzer, rec: SimpleCommand, args: Arg[], spec: Spec, start = 1): Opts | null {
  const o = getopt(args, spec, start);
  if (o.error) {
    an.dyn(rec, `${rec.argv[0]}: ${o.error}`);
    return null;
  }
  return o;
}

/** Leading `NAME=value` words (sudo's environment, the assignments after bash's `time` keyword). */
function skipAssignments(operands: Arg[]): Arg[] {
  let k = 0;
  while (k < operands.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(operands[k]!.value)) k++;
  return operands.slice(k);
}

/** A simple wrapper: options, then the command it runs. */
function wrapper(spec: Spec, after?: (an: Analyzer, o: Opts, rec: SimpleCommand, ctx: Ctx) => boolean): Runner {
  return (an, args, rec, ctx) => {
    const o = options(an, rec, args, spec);
    if (!o) return;
    if (after && !after(an, o, rec, ctx)) return;
    if (o.operands.length) an.run(o.operands, ctx);
  };
}

/** A path a shell would read code from: unknowable when it is an expansion or a special file. */
function opaqueScript(a: Arg): boolean {
  return a.expands || a.value === '-' || /^\/(dev|proc)\//.test(a.value);
}

// ------------------------------------------------------------------ shells

/** Shells without bash's `(( … ))` command: there `((` opens two subshells. */
const POSIX_SHELLS = new Set(['sh', 'dash', 'ash', 'posh']);

const SHELLS = ['sh', 'bash', 'dash', 'ksh', 'ksh93', 'mksh', 'lksh', 'pdksh', 'oksh', 'zsh', 'ash', 'yash', 'posh', 'rbash', 'fish', 'csh', 'tcsh'];

/** `bash [options] [-c string | script | -s] [args]`. */
const shell: Runner = (an, args, rec, ctx) => {
  const name = nameOf(rec);
  let c = false;
  let s = false;
  let i = 1;
  for (; i < args.length; i++) {
    const a = args[i]!;
    const v = a.value;
    if ((v === '--' || v === '-') && !a.expands) {
      i++;
      break;
    }
    if (!/^[-+]/.test(v) || v.length < 2) break;
    if (a.expands) return void an.dyn(rec, `${name}: an option comes from an expansion (${v})`);
    if (v.startsWith('--')) {
      if (v === '--rcfile' || v === '--init-file') i++;
      continue;
    }
    let takesArg = false;
    for (const ch of v.slice(1)) {
      if (ch === 'c' && v[0] === '-') c = true;
      else if (ch === 's' && v[0] === '-') s = true;
      else if (ch === 'o' || ch === 'O') takesArg = true;
    }
    if (takesArg) i++;
  }
  const operands = args.slice(i);
  if (c) {
    if (!operands.length) an.dyn(rec, `${name} -c without a command string`);
    else an.code([operands[0]!], rec, `${name} -c`, ctx, POSIX_SHELLS.has(name));
  } else if (s || operands.length === 0) an.stdinCode(rec, ctx, name);
  else if (opaqueScript(operands[0]!)) an.dyn(rec, `${name} runs a script from ${operands[0]!.value}`);
};

// ------------------------------------------------------------------ the table

const sudo: Runner = (an, args, rec, ctx) => {
  const o = options(an, rec, args, {
    flags: 'AbEeHiKklnPSsVvh',
    args: 'CDgpRrTtUu',
    longFlags: ['askpass', 'background', 'preserve-env', 'edit', 'help', 'set-home', 'login', 'remove-timestamp', 'reset-timestamp', 'list', 'non-interactive', 'preserve-groups', 'stdin', 'shell', 'version', 'validate', 'bell'],
    longArgs: ['close-from', 'chdir', 'group', 'host', 'prompt', 'chroot', 'role', 'type', 'command-timeout', 'other-user', 'user'],
  });
  if (!o) return;
  // `-h` is help alone but `-h host` before a command: do not guess which.
  if (has(o, 'h') && o.operands.length) return void an.dyn(rec, 'sudo -h: a host or help, ambiguous');
  if (has(o, 'e', 'edit', 'l', 'list', 'v', 'validate', 'V', 'version', 'K', 'remove-timestamp', 'h', 'help')) return;
  const cmd = skipAssignments(o.operands);
  if (cmd.length) an.run(cmd, ctx);
  else if (has(o, 'i', 'login', 's', 'shell')) an.stdinCode(rec, ctx, 'sudo (interactive shell)');
};

const doas: Runner = (an, args, rec, ctx) => {
  const o = options(an, rec, args, { flags: 'nsL', args: 'uCa' });
  if (!o || has(o, 'C', 'L')) return;
  if (o.operands.length) an.run(o.operands, ctx);
  else if (has(o, 's')) an.stdinCode(rec, ctx, 'doas -s');
};

const ENV_SPEC: Spec = {
  flags: 'iv0',
  args: 'uCSa',
  longFlags: ['ignore-environment', 'null', 'debug', 'help', 'version', 'list-signal-handling', 'block-signal', 'default-signal', 'ignore-signal'],
  longArgs: ['unset', 'chdir', 'split-string', 'argv0'],
};

const env: Runner = (an, args, rec, ctx) => {
  const o = options(an, rec, args, ENV_SPEC);
  if (!o || has(o, 'help', 'version')) return;
  let operands = o.operands;
  const split = str(o, 'S', 'split-string');
  if (split !== undefined) {
    if (split.expands) return void an.dyn(rec, `env -S string is not a constant (${split.value})`);
    const words = an.splitWords(split.value);
    if (!words) return void an.dyn(rec, 'env -S string is not plain words');
    const again = getopt([lit('env'), ...words, ...operands], ENV_SPEC);
    if (again.error || has(again, 'S', 'split-string')) return void an.dyn(rec, `env -S: ${again.error ?? 'nested -S'}`);
    operands = again.operands;
  }
  let k = 0;
  while (k < operands.length) {
    const v = operands[k]!;
    if (v.value === '-' && !v.expands) k++;
    else if (/^[^=$`]+=/.test(v.value) || (!v.expands && v.value.includes('='))) k++;
    else break;
  }
  if (k < operands.length) an.run(operands.slice(k), ctx);
};

const xargs: Runner = (an, args, rec, ctx) => {
  const o = options(an, rec, args, {
    flags: '0oprtx',
    args: 'adEILnPs',
    optional: 'eil',
    longFlags: ['null', 'open-tty', 'interactive', 'no-run-if-empty', 'verbose', 'exit', 'show-limits', 'help', 'version', 'replace', 'eof', 'max-lines'],
    longArgs: ['arg-file', 'delimiter', 'max-args', 'max-procs', 'max-chars', 'process-slot-var'],
  });
  if (!o || has(o, 'help', 'version', 'show-limits')) return;
  let replace: string | undefined;
  for (const k of ['I', 'i', 'replace']) {
    const v = o.opts.get(k);
    if (v !== undefined) replace = v === true ? '{}' : v.value;
  }
  let cmd = o.operands.length ? o.operands : [lit('echo')];
  // What xargs reads from its input becomes arguments: unknowable values, shown as {}.
  if (replace !== undefined && replace !== '') {
    cmd = cmd.map((a) => (a.value.includes(replace!) ? { ...a, expands: true } : a));
  } else cmd = [...cmd, { value: '{}', expands: true, glob: false }];
  an.run(cmd, { stdin: false });
};

const find: Runner = (an, args, _rec, ctx) => {
  for (let i = 1; i < args.length; i++) {
    const v = args[i]!.value;
    if (v !== '-exec' && v !== '-execdir' && v !== '-ok' && v !== '-okdir') continue;
    const cmd: Arg[] = [];
    let j = i + 1;
    for (; j < args.length; j++) {
      const w = args[j]!;
      if (w.value === ';' || (w.value === '+' && cmd.length && cmd[cmd.length - 1]!.value === '{}')) break;
      cmd.push(w.value.includes('{}') ? { ...w, expands: true } : w);
    }
    if (cmd.length) an.run(cmd, ctx);
    i = j;
  }
};

const timeout = wrapper({ flags: 'v', args: 'ks', longFlags: ['foreground', 'preserve-status', 'verbose', 'help', 'version'], longArgs: ['kill-after', 'signal'] }, (an, o, _rec, ctx) => {
  if (o.operands.length > 1) an.run(o.operands.slice(1), ctx);
  return false;
});

const chroot: Runner = (an, args, rec, ctx) => {
  const o = options(an, rec, args, { longArgs: ['userspec', 'groups'], longFlags: ['skip-chdir', 'help', 'version'] });
  if (!o || has(o, 'help', 'version')) return;
  if (o.operands.length > 1) an.run(o.operands.slice(1), ctx);
  else if (o.operands.length === 1) an.stdinCode(rec, ctx, 'chroot (interactive shell)');
};

const watch: Runner = (an, args, rec, ctx) => {
  const o = options(an, rec, args, {
    flags: 'bcCdegptrwxhv',
    args: 'nq',
    longFlags: ['beep', 'color', 'no-color', 'differences', 'errexit', 'chgexit', 'precise', 'no-rerun', 'no-title', 'no-wrap', 'exec', 'help', 'version'],
    longArgs: ['interval', 'equexit'],
  });
  if (!o || !o.operands.length) return;
  if (has(o, 'x', 'exec')) an.run(o.operands, ctx);
  else an.code(o.operands, rec, 'watch', ctx);
};

const command: Runner = (an, args, rec, ctx) => {
  const o = options(an, rec, args, { flags: 'pvV' });
  if (!o || has(o, 'v', 'V')) return;
  if (o.operands.length) an.run(o.operands, ctx);
};

const ionice: Runner = (an, args, rec, ctx) => {
  const o = options(an, rec, args, { flags: 'tpPuh', args: 'cn', longArgs: ['class', 'classdata'], longFlags: ['ignore', 'pid', 'pgid', 'uid', 'help', 'version'] });
  if (!o || has(o, 'p', 'P', 'u', 'pid', 'pgid', 'uid', 'h', 'help', 'version')) return;
  if (o.operands.length) an.run(o.operands, ctx);
};

const su: Runner = (an, args, rec, ctx) => {
  const runuser = nameOf(rec) === 'runuser';
  const o = options(an, rec, args, {
    flags: 'lmpfPh',
    args: runuser ? 'csgGwu' : 'csgGw',
    longFlags: ['login', 'preserve-environment', 'pty', 'fast', 'help', 'version'],
    longArgs: ['command', 'session-command', 'shell', 'group', 'supp-group', 'whitelist-environment', 'user'],
    permute: true,
  });
  if (!o || has(o, 'h', 'help', 'version')) return;
  let operands = o.operands;
  if (runuser && has(o, 'u', 'user')) {
    if (operands.length) an.run(operands, ctx);
    else an.stdinCode(rec, ctx, 'runuser');
    return;
  }
  const code = str(o, 'c', 'command', 'session-command');
  if (code !== undefined) return void an.code([code], rec, `${nameOf(rec)} -c`, ctx);
  if (operands[0]?.value === '-') operands = operands.slice(1);
  const shellArgs = operands.slice(1);
  if (shellArgs.length) an.run([lit('sh'), ...shellArgs], ctx);
  else an.stdinCode(rec, ctx, `${nameOf(rec)} (interactive shell)`);
};

const sg: Runner = (an, args, rec, ctx) => {
  let rest = args.slice(1);
  if (rest[0]?.value === '-') rest = rest.slice(1);
  rest = rest.slice(1); // the group
  if (rest[0]?.value === '-c') rest = rest.slice(1);
  if (rest.length) an.code(rest, rec, 'sg', ctx);
  else an.stdinCode(rec, ctx, 'sg (interactive shell)');
};

const flock: Runner = (an, args, rec, ctx) => {
  const spec: Spec = {
    flags: 'sxeunoFhV',
    args: 'wEc',
    longFlags: ['shared', 'exclusive', 'unlock', 'nonblock', 'nb', 'close', 'no-fork', 'verbose', 'help', 'version'],
    longArgs: ['timeout', 'wait', 'conflict-exit-code', 'command'],
  };
  const o = options(an, rec, args, spec);
  if (!o) return;
  let code = str(o, 'c', 'command');
  const rest = o.operands.slice(1);
  if (code === undefined && rest.length && rest[0]!.value.startsWith('-') && !rest[0]!.expands) {
    const again = getopt([lit('flock'), ...rest], spec);
    if (again.error) return void an.dyn(rec, `flock: ${again.error}`);
    code = str(again, 'c', 'command');
  }
  if (code !== undefined) an.code([code], rec, 'flock -c', ctx);
  else if (rest.length) an.run(rest, ctx);
};

const script: Runner = (an, args, rec, ctx) => {
  for (let i = 1; i < args.length; i++) {
    const v = args[i]!.value;
    if (v === '-c' || v === '--command') {
      const next = args[i + 1];
      if (next) an.code([next], rec, 'script -c', ctx);
      return;
    }
    if (v.startsWith('--command=')) return void an.code([{ ...args[i]!, value: v.slice(10) }], rec, 'script -c', ctx);
    if (/^-[a-zA-Z]*c/.test(v) && !v.startsWith('--')) {
      const rest = v.slice(v.indexOf('c') + 1);
      const arg = rest ? { ...args[i]!, value: rest } : args[i + 1];
      if (arg) an.code([arg], rec, 'script -c', ctx);
      return;
    }
  }
  an.stdinCode(rec, ctx, 'script (interactive shell)');
};

const SSH_CODE_OPTIONS = /^\s*(ProxyCommand|LocalCommand|RemoteCommand|KnownHostsCommand)\s*(?:=\s*|\s+)([\s\S]*)$/i;

const ssh: Runner = (an, args, rec, ctx) => {
  const spec: Spec = { flags: '46AaCfGgKkMNnqsTtVvXxYy', args: 'BbcDEeFIiJLlmOoPpQRSWw' };
  const o = options(an, rec, args, spec);
  if (!o) return;
  let operands = o.operands;
  const seen = new Map(o.opts);
  const dest = operands[0];
  operands = operands.slice(1);
  // OpenSSH reads options after the destination too, until the command starts.
  if (operands.length && operands[0]!.value.startsWith('-') && operands[0]!.value !== '--') {
    const again = options(an, rec, [lit('ssh'), ...operands], spec);
    if (!again) return;
    for (const [k, v] of again.opts) seen.set(k, v);
    operands = again.operands;
  } else if (operands[0]?.value === '--') operands = operands.slice(1);
  // -o options that run commands (ProxyCommand …), wherever they stand before the command.
  for (let i = 1; i < args.length; i++) {
    const v = args[i]!.value;
    if (v === '--' || !v.startsWith('-') || v.startsWith('--')) continue;
    for (let k = 1; k < v.length; k++) {
      const c = v[k]!;
      if (!spec.args!.includes(c)) continue;
      const attached = v.slice(k + 1);
      const word = attached ? { ...args[i]!, value: attached } : args[i + 1];
      if (!attached) i++;
      const m = c === 'o' && word ? SSH_CODE_OPTIONS.exec(word.value) : null;
      if (m && m[2]!.trim().toLowerCase() !== 'none') an.code([{ ...word!, value: m[2]! }], rec, `ssh -o ${m[1]}`, ctx);
      break;
    }
  }
  if (!dest) return;
  if (operands.length) an.code(operands, rec, 'ssh (remote command)', ctx);
  else if (!['N', 'W', 'O', 's', 'G', 'Q', 'V'].some((k) => seen.has(k))) an.stdinCode(rec, ctx, 'ssh (interactive remote shell)');
};

const evalRunner: Runner = (an, args, rec, ctx) => {
  const words = args[1]?.value === '--' ? args.slice(2) : args.slice(1);
  an.code(words, rec, 'eval', ctx);
};

const trap: Runner = (an, args, rec, ctx) => {
  let i = 1;
  if (args[i]?.value === '--') i++;
  const action = args[i];
  if (!action || (/^-[lp]+$/.test(action.value) && !action.expands) || action.value === '-') return;
  if (i === args.length - 1 && /^\d+$/.test(action.value)) return; // `trap 2`: reset
  an.code([action], rec, 'trap', ctx);
};

const alias: Runner = (an, args, rec, ctx) => {
  for (const a of args.slice(1)) {
    const eq = a.value.indexOf('=');
    if (eq <= 0) continue;
    an.code([{ ...a, value: a.value.slice(eq + 1) }], rec, `alias ${a.value.slice(0, eq)}`, ctx);
  }
};

const source: Runner = (an, args, rec) => {
  const file = args[1]?.value === '--' ? args[2] : args[1];
  if (file && opaqueScript(file)) an.dyn(rec, `${nameOf(rec)} reads code from ${file.value}`);
};

const fc: Runner = (an, args, rec) => {
  if (!args.some((a) => /^-[a-zA-Z]*l/.test(a.value))) an.dyn(rec, 'fc runs commands from the history');
};

const at: Runner = (an, args, rec, ctx) => {
  const o = options(an, rec, args, { flags: 'mMlrdbcVv', args: 'qft', permute: true });
  if (!o) return;
  if (has(o, 'l', 'r', 'd', 'c', 'V')) return;
  const f = str(o, 'f');
  if (f !== undefined) {
    if (opaqueScript(f)) an.dyn(rec, `${nameOf(rec)} reads commands from ${f.value}`);
    return;
  }
  an.stdinCode(rec, ctx, nameOf(rec));
};

export const RUNNERS = new Map<string, Runner>([
  ...SHELLS.map((s) => [s, shell] as [string, Runner]),
  ['sudo', sudo],
  ['doas', doas],
  ['env', env],
  ['command', command],
  ['builtin', (an, args, _rec, ctx) => void (args.length > 1 && an.run(args.slice(1), ctx))],
  ['exec', wrapper({ flags: 'cl', args: 'a' })],
  ['nice', wrapper({ args: 'n', numeric: true, longArgs: ['adjustment'], longFlags: ['help', 'version'] })],
  ['nohup', wrapper({ longFlags: ['help', 'version'] })],
  // bash's `time` keyword before a simple command, or time(1) (dash, /usr/bin/time): read both ways.
  ['time', (an, args, rec, ctx) => {
    const o = options(an, rec, args, { flags: 'pavq', args: 'fo', longFlags: ['portability', 'append', 'verbose', 'quiet', 'help', 'version'], longArgs: ['format', 'output'] });
    const cmd = o ? skipAssignments(o.operands) : [];
    if (cmd.length) an.run(cmd, ctx);
  }],
  ['timeout', timeout],
  ['xargs', xargs],
  ['find', find],
  ['stdbuf', wrapper({ args: 'ioe', longArgs: ['input', 'output', 'error'], longFlags: ['help', 'version'] })],
  ['ionice', ionice],
  ['chroot', chroot],
  ['watch', watch],
  ['setsid', wrapper({ flags: 'cfw', longFlags: ['ctty', 'fork', 'wait', 'help', 'version'] })],
  ['busybox', (an, args, _rec, ctx) => void (args.length > 1 && !args[1]!.value.startsWith('-') && an.run(args.slice(1), ctx))],
  ['pkexec', (an, args, rec, ctx) => {
    const o = options(an, rec, args, { longArgs: ['user'], longFlags: ['disable-internal-agent', 'keep-cwd', 'help', 'version'] });
    if (!o || has(o, 'help', 'version')) return;
    if (o.operands.length) an.run(o.operands, ctx);
    else an.stdinCode(rec, ctx, 'pkexec (interactive shell)');
  }],
  ['su', su],
  ['runuser', su],
  ['sg', sg],
  ['flock', flock],
  ['script', script],
  ['ssh', ssh],
  ['eval', evalRunner],
  ['trap', trap],
  ['alias', alias],
  ['source', source],
  ['.', source],
  ['fc', fc],
  ['at', at],
  ['batch', at],
]);

/** Names of the commands whose arguments are followed to other commands or code. */
export const RUNNER_NAMES: readonly string[] = [...RUNNERS.keys()];
