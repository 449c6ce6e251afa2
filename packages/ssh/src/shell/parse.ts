/**
 * A bash command-line parser that builds a small syntax tree: enough to know
 * every simple command a line runs, never enough to run it. It follows bash's
 * own grammar (lists, pipelines, compound commands, function definitions,
 * redirections, here-documents) and its quoting and expansion syntax, so that
 * it agrees with bash about where a word, a quote, a substitution or a
 * here-document ends. Whatever it cannot follow it reports as a syntax error,
 * which the caller turns into a refusal.
 *
 * Internal to the shell module; the public entry points are in analyze.ts and
 * command.ts.
 */

/** A piece of a word: `bare` text came unquoted from the line (brace expansion, globbing and keywords apply). */
export interface Seg {
  text: string;
  bare: boolean;
}

/** One shell word before expansion. */
export interface Word {
  segs: Seg[];
  /** The word after quote removal; expansions stay as written (`$HOME`, `$(…)`). */
  value: string;
  /** Contains a parameter, command, arithmetic or process substitution: its value is only known when it runs. */
  expands: boolean;
  /** Any quoting or escaping was used. */
  quoted: boolean;
  /** Contains an unquoted pathname pattern (`*`, `?`, `[…]`, extglob). */
  glob: boolean;
  /** Command and process substitutions inside the word, parsed. */
  subs: Node[];
}

export interface Redir {
  op: string;
  /** File descriptor written before the operator ('2' in `2>&1`), if any. */
  fd?: string;
  /** The target word; for a here-document, its delimiter. */
  target: Word;
  /** Here-document body (expansions in it parsed when the delimiter was unquoted). */
  body?: Word;
  /** Here-document details, used while reading the body. */
  heredoc?: { delim: string; strip: boolean; quoted: boolean };
}

export type Node =
  | { t: 'simple'; words: Word[]; redirs: Redir[] }
  | { t: 'pipeline'; cmds: Node[] }
  | { t: 'list'; items: Node[] }
  | { t: 'compound'; kind: string; words: Word[]; body: Node[]; redirs: Redir[] };

export class ShellSyntaxError extends Error {
  constructor(
    message: string,
    /** The input ended inside an open construct: more lines could complete it. */
    readonly incomplete: boolean,
  ) {
    super(message);
  }
}

export interface ParseOptions {
  /** Interactive line: bash would apply history expansion (`!!`, `!rm`, `^a^b`). */
  interactive: boolean;
  /** The code runs in a POSIX shell without the `(( … ))` command (dash, ash): `((` opens two subshells. */
  posix?: boolean;
}

/** Deepest nesting of commands, substitutions and quotes the parser follows. */
const MAX_NEST = 200;

const META = new Set([' ', '\t', '\n', '|', '&', ';', '(', ')', '<', '>']);
const OPERATORS = [';;&', '<<<', '<<-', '&>>', '&&', '||', ';;', ';&', '|&', '<<', '>>', '<&', '>&', '<>', '>|', '&>', ';', '&', '|', '(', ')', '<', '>', '\n'];
const REDIR_OPS = new Set(['<<<', '<<-', '&>>', '<<', '>>', '<&', '>&', '<>', '>|', '&>', '<', '>']);
/** Reserved words that end a compound list. */
const CLOSERS = new Set(['then', 'elif', 'else', 'fi', 'do', 'done', 'esac', '}']);
const PLAIN_WORD = /[^\s|&;()<>'"\\$`]+(?=[\s|&;()<>]|$)/y;

class WordBuilder {
  segs: Seg[] = [];
  expands = false;
  quoted = false;
  glob = false;
  subs: Node[] = [];
  bare(s: string): void {
    const last = this.segs[this.segs.length - 1];
    if (last && last.bare) last.text += s;
    else this.segs.push({ text: s, bare: true });
  }
  lit(s: string): void {
    this.quoted = true;
    const last = this.segs[this.segs.length - 1];
    if (last && !last.bare) last.text += s;
    else this.segs.push({ text: s, bare: false });
  }
  exp(s: string): void {
    this.expands = true;
    const last = this.segs[this.segs.length - 1];
    if (last && !last.bare) last.text += s;
    else this.segs.push({ text: s, bare: false });
  }
  get empty(): boolean {
    return this.segs.length === 0 && !this.quoted;
  }
  build(): Word {
    const value = this.segs.map((s) => s.text).join('');
    return { segs: this.segs, value, expands: this.expands, quoted: this.quoted, glob: this.glob || hasGlob(this.segs), subs: this.subs };
  }
}

/** Unquoted `*`, `?`, or `[` with a later unquoted `]`. */
export function hasGlob(segs: Seg[]): boolean {
  let open = false;
  for (const s of segs) {
    if (!s.bare) continue;
    for (const c of s.text) {
      if (c === '*' || c === '?') return true;
      if (c === '[') open = true;
      else if (c === ']' && open) return true;
    }
  }
  return false;
}

export class Parser {
  pos = 0;
  private nest = 0;
  private pending: Redir[] = [];
  /** Reasons the line's effect cannot be read from it, found while reading (history expansion …). */
  readonly reasons: string[];

  constructor(
    private readonly src: string,
    private readonly opts: ParseOptions,
    reasons?: string[],
  ) {
    this.reasons = reasons ?? [];
  }

  /** Parse the whole input as a script. */
  parseProgram(): Node {
    if (this.opts.interactive && this.nest === 0 && /^[ \t]*\^/.test(this.src)) this.reasons.push('history substitution (^old^new)');
    const list = this.compoundList();
    this.skipBlanks();
    if (this.pos < this.src.length) this.fail(`syntax error near unexpected token \`${this.tokenAt()}'`);
    if (this.pending.length) this.fail('here-document not terminated', true);
    return list;
  }

  // ------------------------------------------------------------ lexing

  private fail(msg: string, incomplete = this.pos >= this.src.length): never {
    throw new ShellSyntaxError(msg, incomplete);
  }

  private enter(): void {
    if (++this.nest > MAX_NEST) this.fail('nested too deeply', false);
  }
  private leave(): void {
    this.nest--;
  }

  private tokenAt(): string {
    const op = this.op();
    if (op) return op === '\n' ? 'newline' : op;
    PLAIN_WORD.lastIndex = this.pos;
    const m = PLAIN_WORD.exec(this.src);
    return m ? m[0] : this.src.slice(this.pos, this.pos + 10);
  }

  /** Skip blanks, line continuations and a comment (up to, not including, the newline). */
  private skipBlanks(): void {
    const s = this.src;
    for (;;) {
      const c = s[this.pos];
      if (c === ' ' || c === '\t') this.pos++;
      else if (c === '\\' && s[this.pos + 1] === '\n') this.pos += 2;
      else if (c === '#') {
        const nl = s.indexOf('\n', this.pos);
        this.pos = nl < 0 ? s.length : nl;
      } else return;
    }
  }

  /** The operator at the current position, if any (no blanks skipped). */
  private op(): string | null {
    const s = this.src;
    const c = s[this.pos];
    if (c === undefined || !META.has(c) || c === ' ' || c === '\t') return null;
    for (const o of OPERATORS) if (s.startsWith(o, this.pos)) return o;
    return null;
  }

  /** Consume a newline token, then read any here-documents it completes. */
  private newline(): void {
    this.pos++;
    if (this.pending.length) {
      const docs = this.pending;
      this.pending = [];
      for (const r of docs) this.readHeredoc(r);
    }
  }

  /** Skip blanks, comments and newlines. */
  private linebreak(): void {
    for (;;) {
      this.skipBlanks();
      if (this.src[this.pos] === '\n') this.newline();
      else return;
    }
  }

  /** An unquoted plain word at the current position, without consuming it. */
  private peekWord(): string | null {
    PLAIN_WORD.lastIndex = this.pos;
    const m = PLAIN_WORD.exec(this.src);
    return m ? m[0] : null;
  }

  private takeWord(w: string): void {
    this.pos += w.length;
  }

  private expectWord(w: string): void {
    this.skipBlanks();
    if (this.peekWord() !== w) {
      if (this.pos >= this.src.length) this.fail(`expected \`${w}' before the end of the line`, true);
      this.fail(`syntax error near unexpected token \`${this.tokenAt()}' (expected \`${w}')`);
    }
    this.takeWord(w);
  }

  private expectOp(o: string): void {
    this.skipBlanks();
    if (this.op() !== o) {
      if (this.pos >= this.src.length) this.fail(`expected \`${o}' before the end of the line`, true);
      this.fail(`syntax error near unexpected token \`${this.tokenAt()}' (expected \`${o}')`);
    }
    this.pos += o.length;
  }

  // ------------------------------------------------------------ grammar

  /** A sequence of and-or lists, up to a closing keyword, `)`, a case terminator or the end. */
  private compoundList(): Node {
    const items: Node[] = [];
    for (;;) {
      this.linebreak();
      if (this.pos >= this.src.length) break;
      const o = this.op();
      if (o === ')' || o === ';;' || o === ';&' || o === ';;&') break;
      const w = this.peekWord();
      if (w !== null && CLOSERS.has(w)) break;
      items.push(this.andOr());
      this.skipBlanks();
      const sep = this.op();
      if (sep === ';' || sep === '&') this.pos++;
      else if (sep === '\n') this.newline();
      else break;
    }
    return { t: 'list', items };
  }

  private andOr(): Node {
    const items = [this.pipeline()];
    for (;;) {
      this.skipBlanks();
      const o = this.op();
      if (o !== '&&' && o !== '||') break;
      this.pos += 2;
      this.linebreak();
      items.push(this.pipeline());
    }
    return items.length === 1 ? items[0]! : { t: 'list', items };
  }

  private pipeline(): Node {
    // Any run of `!` and `time [-p]` prefixes (bash accepts `! ! cmd`, `time ! cmd`, `! time cmd`).
    for (;;) {
      this.skipBlanks();
      const w = this.peekWord();
      if (w === '!') {
        if (this.src[this.pos + 1] === '(' && this.opts.interactive) this.reasons.push('!( … ) may be an extglob pattern used as a command name');
        this.takeWord(w);
      } else if (w === 'time' && this.timeIsKeyword()) {
        this.takeWord(w);
        this.skipBlanks();
        if (this.peekWord() === '-p') this.takeWord('-p');
      } else break;
    }
    const cmds = [this.command()];
    for (;;) {
      this.skipBlanks();
      const o = this.op();
      if (o !== '|' && o !== '|&') break;
      this.pos += o.length;
      this.linebreak();
      cmds.push(this.command());
    }
    return cmds.length === 1 ? cmds[0]! : { t: 'pipeline', cmds };
  }

  /** `time` is bash's keyword when a compound command, `!` or `-p` follows; else it is the time(1) wrapper. */
  private timeIsKeyword(): boolean {
    const save = this.pos;
    this.pos += 4;
    this.skipBlanks();
    const next = this.peekWord();
    const o = this.op();
    this.pos = save;
    return o === '(' || next === '-p' || next === '!' || next === '{' || next === 'if' || next === 'while' || next === 'until' || next === 'for' || next === 'case' || next === 'select' || next === '[[';
  }

  private command(): Node {
    this.enter();
    try {
      return this.commandInner();
    } finally {
      this.leave();
    }
  }

  private commandInner(): Node {
    this.skipBlanks();
    const o = this.op();
    if (o === '(') {
      if (this.src[this.pos + 1] === '(' && !this.opts.posix) {
        const end = this.arithEnd(this.pos + 2);
        if (end !== null) {
          const content = this.src.slice(this.pos + 2, end - 2);
          this.pos = end;
          // Bash evaluates it as arithmetic; a POSIX shell such as dash, when it is the
          // login shell, runs it as nested subshells. Keep both readings.
          return this.withRedirs({ t: 'compound', kind: 'arith', words: [this.scanExpansions(content)], body: this.asCommands(content), redirs: [] });
        }
      }
      this.pos++;
      const body = this.compoundList();
      this.expectOp(')');
      return this.withRedirs({ t: 'compound', kind: 'subshell', words: [], body: [body], redirs: [] });
    }
    if (o !== null && !REDIR_OPS.has(o)) {
      if (o === '\n' || this.pos >= this.src.length) this.fail('a command is missing', true);
      this.fail(`syntax error near unexpected token \`${o}'`);
    }
    if (this.pos >= this.src.length) this.fail('a command is missing', true);
    const w = this.peekWord();
    switch (w) {
      case '{': {
        this.takeWord(w);
        const body = this.compoundList();
        this.expectWord('}');
        return this.withRedirs({ t: 'compound', kind: 'group', words: [], body: [body], redirs: [] });
      }
      case 'if':
        return this.ifCommand();
      case 'while':
      case 'until': {
        this.takeWord(w);
        const cond = this.compoundList();
        this.expectWord('do');
        const body = this.compoundList();
        this.expectWord('done');
        return this.withRedirs({ t: 'compound', kind: w, words: [], body: [cond, body], redirs: [] });
      }
      case 'for':
      case 'select':
        return this.forCommand(w);
      case 'case':
        return this.caseCommand();
      case 'function':
        return this.functionKeyword();
      case '[[':
        return this.condCommand();
      case 'coproc': {
        this.takeWord(w);
        this.skipBlanks();
        // `coproc NAME { …; }` / `coproc NAME ( … )`: a name before a compound command.
        const name = this.peekWord();
        if (name !== null && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
          const save = this.pos;
          this.takeWord(name);
          this.skipBlanks();
          if (!(this.peekWord() === '{' || this.op() === '(')) this.pos = save;
        }
        return this.command();
      }
      default:
        if (w !== null && (CLOSERS.has(w) || w === ']]' || w === 'in')) {
          if (w !== 'in') this.fail(`syntax error near unexpected token \`${w}'`);
        }
        return this.simpleCommand();
    }
  }

  private withRedirs(node: Node & { t: 'compound' }): Node {
    for (;;) {
      this.skipBlanks();
      if (!this.atRedirect()) return node;
      node.redirs.push(this.redirect());
    }
  }

  private ifCommand(): Node {
    this.takeWord('if');
    const body: Node[] = [this.compoundList()];
    this.expectWord('then');
    body.push(this.compoundList());
    for (;;) {
      this.skipBlanks();
      const w = this.peekWord();
      if (w === 'elif') {
        this.takeWord(w);
        body.push(this.compoundList());
        this.expectWord('then');
        body.push(this.compoundList());
      } else if (w === 'else') {
        this.takeWord(w);
        body.push(this.compoundList());
        this.expectWord('fi');
        break;
      } else {
        this.expectWord('fi');
        break;
      }
    }
    return this.withRedirs({ t: 'compound', kind: 'if', words: [], body, redirs: [] });
  }

  private forCommand(kw: string): Node {
    this.takeWord(kw);
    this.skipBlanks();
    const words: Word[] = [];
    if (kw === 'for' && this.src.startsWith('((', this.pos)) {
      const end = this.arithEnd(this.pos + 2);
      if (end === null) this.fail('unterminated for (( … ))');
      words.push(this.scanExpansions(this.src.slice(this.pos + 2, end - 2)));
      this.pos = end;
      this.skipBlanks();
      if (this.op() === ';') this.pos++;
    } else {
      if (this.pos >= this.src.length) this.fail(`\`${kw}' without a variable name`, true);
      if (this.op() !== null) this.fail(`syntax error near unexpected token \`${this.tokenAt()}'`);
      this.word(); // the loop variable
      this.linebreak();
      if (this.peekWord() === 'in') {
        this.takeWord('in');
        for (;;) {
          this.skipBlanks();
          const o = this.op();
          if (o === ';') {
            this.pos++;
            break;
          }
          if (o === '\n') {
            this.newline();
            break;
          }
          if (o !== null) this.fail(`syntax error near unexpected token \`${o}'`);
          if (this.pos >= this.src.length) this.fail(`\`${kw}' without \`do'`, true);
          words.push(this.word());
        }
      } else {
        this.skipBlanks();
        if (this.op() === ';') this.pos++;
      }
    }
    this.linebreak();
    let body: Node;
    if (this.peekWord() === '{') {
      this.takeWord('{');
      body = this.compoundList();
      this.expectWord('}');
    } else {
      this.expectWord('do');
      body = this.compoundList();
      this.expectWord('done');
    }
    return this.withRedirs({ t: 'compound', kind: kw, words, body: [body], redirs: [] });
  }

  private caseCommand(): Node {
    this.takeWord('case');
    this.skipBlanks();
    if (this.pos >= this.src.length) this.fail('`case\' without a word', true);
    if (this.op() !== null) this.fail(`syntax error near unexpected token \`${this.tokenAt()}'`);
    const words: Word[] = [this.word()];
    this.linebreak();
    this.expectWord('in');
    const body: Node[] = [];
    for (;;) {
      this.linebreak();
      if (this.peekWord() === 'esac') {
        this.takeWord('esac');
        break;
      }
      if (this.pos >= this.src.length) this.fail('`case\' without `esac\'', true);
      if (this.op() === '(') this.pos++;
      for (;;) {
        this.skipBlanks();
        if (this.pos >= this.src.length) this.fail('unterminated case pattern', true);
        if (this.op() !== null) this.fail(`syntax error near unexpected token \`${this.tokenAt()}'`);
        words.push(this.word());
        this.skipBlanks();
        if (this.op() === '|') {
          this.pos++;
          continue;
        }
        break;
      }
      this.expectOp(')');
      body.push(this.compoundList());
      this.skipBlanks();
      const o = this.op();
      if (o === ';;' || o === ';&' || o === ';;&') {
        this.pos += o.length;
        continue;
      }
      this.linebreak();
      if (this.peekWord() === 'esac') continue;
      if (this.pos >= this.src.length) this.fail('`case\' without `esac\'', true);
      this.fail(`syntax error near unexpected token \`${this.tokenAt()}' in case`);
    }
    return this.withRedirs({ t: 'compound', kind: 'case', words, body, redirs: [] });
  }

  private functionKeyword(): Node {
    this.takeWord('function');
    this.skipBlanks();
    if (this.pos >= this.src.length) this.fail('`function\' without a name', true);
    if (this.op() !== null) this.fail(`syntax error near unexpected token \`${this.tokenAt()}'`);
    this.word();
    this.skipBlanks();
    if (this.op() === '(') {
      this.pos++;
      this.expectOp(')');
    }
    return this.functionBody();
  }

  private functionBody(): Node {
    this.linebreak();
    const body = this.command();
    if (body.t !== 'compound') this.fail('a function body must be a compound command', false);
    return { t: 'compound', kind: 'function', words: [], body: [body], redirs: [] };
  }

  /** `[[ … ]]`: words and operators up to `]]`; only the substitutions inside matter. */
  private condCommand(): Node {
    this.takeWord('[[');
    const words: Word[] = [];
    for (;;) {
      this.linebreak();
      if (this.pos >= this.src.length) this.fail('`[[\' without `]]\'', true);
      if (this.peekWord() === ']]') {
        this.takeWord(']]');
        break;
      }
      const o = this.op();
      if (o === '&&' || o === '||' || o === '(' || o === ')' || o === '<' || o === '>' || o === '|') {
        this.pos += o.length;
        continue;
      }
      if (o !== null) this.fail(`syntax error in conditional expression near \`${o}'`);
      words.push(this.word());
    }
    return this.withRedirs({ t: 'compound', kind: '[[', words, body: [], redirs: [] });
  }

  private atRedirect(): boolean {
    const s = this.src;
    const c = s[this.pos];
    if (c === '<' || c === '>') return s[this.pos + 1] !== '(';
    if (c === '&') return s[this.pos + 1] === '>';
    if (c !== undefined && c >= '0' && c <= '9') return this.stickyFrom(/\d+[<>]/y) !== '';
    if (c === '{') return this.stickyFrom(/\{[A-Za-z_][A-Za-z0-9_]*\}[<>]/y) !== '';
    return false;
  }

  private stickyFrom(re: RegExp): string {
    re.lastIndex = this.pos;
    const m = re.exec(this.src);
    return m ? m[0] : '';
  }

  private redirect(): Redir {
    let fd: string | undefined;
    const m = this.stickyFrom(/(\d+|\{[A-Za-z_][A-Za-z0-9_]*\})(?=[<>])/y);
    if (m) {
      fd = m;
      this.pos += m.length;
    }
    const op = this.op();
    if (op === null || !REDIR_OPS.has(op)) this.fail('bad redirection');
    this.pos += op.length;
    this.skipBlanks();
    if (this.pos >= this.src.length) this.fail(`\`${op}' without a target`, true);
    const procSubst = (this.src[this.pos] === '<' || this.src[this.pos] === '>') && this.src[this.pos + 1] === '(';
    if (this.op() !== null && !procSubst) this.fail(`syntax error near unexpected token \`${this.tokenAt()}'`);
    const target = this.word();
    const r: Redir = { op, target };
    if (fd !== undefined) r.fd = fd;
    if (op === '<<' || op === '<<-') {
      r.heredoc = { delim: target.value, strip: op === '<<-', quoted: target.quoted };
      this.pending.push(r);
    }
    return r;
  }

  private readHeredoc(r: Redir): void {
    const s = this.src;
    const h = r.heredoc!;
    const lines: string[] = [];
    for (;;) {
      if (this.pos >= s.length) this.fail(`here-document delimited by end of input (wanted \`${h.delim}')`, true);
      const nl = s.indexOf('\n', this.pos);
      const end = nl < 0 ? s.length : nl;
      let line = s.slice(this.pos, end);
      this.pos = nl < 0 ? s.length : nl + 1;
      if (h.strip) line = line.replace(/^\t+/, '');
      if (line === h.delim) break;
      lines.push(line);
    }
    const text = lines.length ? lines.join('\n') + '\n' : '';
    if (h.quoted) r.body = { segs: [{ text, bare: false }], value: text, expands: false, quoted: true, glob: false, subs: [] };
    else r.body = this.scanExpansions(text);
  }

  private simpleCommand(): Node {
    const words: Word[] = [];
    const redirs: Redir[] = [];
    for (;;) {
      this.skipBlanks();
      if (this.pos >= this.src.length) break;
      if (this.atRedirect()) {
        redirs.push(this.redirect());
        continue;
      }
      const c = this.src[this.pos]!;
      if (META.has(c) && !((c === '<' || c === '>') && this.src[this.pos + 1] === '(')) {
        if (c === '(' && words.length === 1 && redirs.length === 0 && isName(words[0]!)) {
          this.pos++;
          this.expectOp(')');
          return this.functionBody();
        }
        break;
      }
      words.push(this.word());
    }
    if (words.length === 0 && redirs.length === 0) {
      if (this.pos >= this.src.length) this.fail('a command is missing', true);
      this.fail(`syntax error near unexpected token \`${this.tokenAt()}'`);
    }
    return { t: 'simple', words, redirs };
  }

  // ------------------------------------------------------------ words

  /** Read one word at the current position (which is not blank and not an operator, or is `<(`/`>(`). */
  word(): Word {
    this.enter();
    try {
      const wb = new WordBuilder();
      this.wordInto(wb);
      return wb.build();
    } finally {
      this.leave();
    }
  }

  private wordInto(wb: WordBuilder): void {
    const s = this.src;
    const start = this.pos;
    for (;;) {
      const c = s[this.pos];
      if (c === undefined) return;
      if (META.has(c)) {
        if ((c === '<' || c === '>') && s[this.pos + 1] === '(' && this.pos === start) {
          this.procSubst(wb);
          continue;
        }
        if (c === '(' && this.pos > start) {
          const prev = s[this.pos - 1]!;
          const lastSeg = wb.segs[wb.segs.length - 1];
          if ('?*+@!'.includes(prev) && lastSeg?.bare && lastSeg.text.endsWith(prev)) {
            // extglob pattern: ?(…) *(…) +(…) @(…) !(…)
            wb.glob = true;
            this.balanced(wb, true);
            continue;
          }
          if (wb.segs.length === 1 && lastSeg?.bare && /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=$/.test(lastSeg.text)) {
            // compound array assignment: name=( … )
            this.balanced(wb, false);
            continue;
          }
        }
        return;
      }
      switch (c) {
        case '\\':
          if (s[this.pos + 1] === '\n') this.pos += 2;
          else if (this.pos + 1 >= s.length) this.fail('the line ends with a backslash (line continuation)', true);
          else {
            wb.lit(s[this.pos + 1]!);
            this.pos += 2;
          }
          break;
        case "'": {
          const end = s.indexOf("'", this.pos + 1);
          if (end < 0) this.fail('unterminated single quote', true);
          wb.lit(s.slice(this.pos + 1, end));
          this.pos = end + 1;
          break;
        }
        case '"':
          this.pos++;
          this.doubleQuoted(wb, '"');
          break;
        case '$':
          this.dollar(wb, false);
          break;
        case '`':
          this.backtick(wb);
          break;
        case '!':
          this.historyCheck(false);
          wb.bare(c);
          this.pos++;
          break;
        default: {
          // Fast path: a run of ordinary characters.
          let e = this.pos + 1;
          while (e < s.length && !META.has(s[e]!) && !'\\\'"$`!('.includes(s[e]!)) e++;
          wb.bare(s.slice(this.pos, e));
          this.pos = e;
        }
      }
    }
  }

  /** In an interactive shell, `!` starts a history expansion unless followed by a blank, `=`, `(` or the end. */
  private historyCheck(inDouble: boolean): void {
    if (!this.opts.interactive) return;
    const s = this.src;
    const next = s[this.pos + 1];
    const prev = this.pos > 0 ? s[this.pos - 1] : undefined;
    if (next === undefined || next === ' ' || next === '\t' || next === '\n' || next === '\r' || next === '=' || next === '(') return;
    if (inDouble && next === '"') return;
    if (prev === '$' || prev === '[' || (prev === '{' && s[this.pos - 2] === '$')) return;
    if (!this.reasons.includes('history expansion (!)')) this.reasons.push('history expansion (!)');
  }

  /** Body of a double-quoted string (after the opening quote), up to `close` (or the end when close is ''). */
  private doubleQuoted(wb: WordBuilder, close: string): void {
    const s = this.src;
    wb.quoted = true;
    wb.lit('');
    for (;;) {
      const c = s[this.pos];
      if (c === undefined) {
        if (close === '') return;
        this.fail('unterminated double quote', true);
      }
      if (c === close) {
        this.pos++;
        return;
      }
      switch (c) {
        case '\\': {
          const n = s[this.pos + 1];
          if (n === '\n') this.pos += 2;
          else if (n === '$' || n === '`' || n === '"' || n === '\\') {
            wb.lit(n);
            this.pos += 2;
          } else {
            wb.lit('\\');
            this.pos++;
          }
          break;
        }
        case '$':
          this.dollar(wb, true);
          break;
        case '`':
          this.backtick(wb);
          break;
        case '!':
          if (close === '"') this.historyCheck(true);
          wb.lit(c);
          this.pos++;
          break;
        default: {
          let e = this.pos + 1;
          while (e < s.length && !'\\$`!"'.includes(s[e]!)) e++;
          wb.lit(s.slice(this.pos, e));
          this.pos = e;
        }
      }
    }
  }

  /** `$…` at the current position. */
  private dollar(wb: WordBuilder, inDouble: boolean): void {
    const s = this.src;
    const start = this.pos;
    const n = s[this.pos + 1];
    if (n === '(') {
      if (s[this.pos + 2] === '(') {
        const end = this.arithEnd(this.pos + 3);
        if (end !== null) {
          const inner = this.scanExpansions(s.slice(this.pos + 3, end - 2));
          wb.subs.push(...inner.subs);
          this.pos = end;
          wb.exp(s.slice(start, end));
          return;
        }
      }
      this.pos += 2;
      this.enter();
      const body = this.compoundList();
      this.leave();
      this.skipBlanks();
      if (s[this.pos] !== ')') {
        if (this.pos >= s.length) this.fail('unterminated $( … )', true);
        this.fail(`syntax error near unexpected token \`${this.tokenAt()}' in $( … )`);
      }
      this.pos++;
      wb.subs.push(body);
      wb.exp(s.slice(start, this.pos));
      return;
    }
    if (n === '{') {
      this.pos += 2;
      const inner = new WordBuilder();
      inner.subs = wb.subs;
      this.enter();
      this.braceParam(inner);
      this.leave();
      const raw = s.slice(start, this.pos);
      if (/@P\}$/.test(raw)) this.reasons.push(`${raw} expands a prompt string, which can run commands`);
      wb.exp(raw);
      return;
    }
    if (n === '[') {
      // $[ … ]: obsolete arithmetic
      let depth = 0;
      let i = this.pos + 2;
      for (; i < s.length; i++) {
        if (s[i] === '[') depth++;
        else if (s[i] === ']') {
          if (depth === 0) break;
          depth--;
        }
      }
      if (i >= s.length) this.fail('unterminated $[ … ]', true);
      const inner = this.scanExpansions(s.slice(this.pos + 2, i));
      wb.subs.push(...inner.subs);
      this.pos = i + 1;
      wb.exp(s.slice(start, this.pos));
      return;
    }
    if (n === "'" && !inDouble) {
      this.pos += 2;
      wb.lit(this.ansiC());
      return;
    }
    if (n === '"' && !inDouble) {
      this.pos += 2;
      this.doubleQuoted(wb, '"');
      return;
    }
    if (n !== undefined && /[A-Za-z_]/.test(n)) {
      let e = this.pos + 2;
      while (e < s.length && /[A-Za-z0-9_]/.test(s[e]!)) e++;
      wb.exp(s.slice(start, e));
      this.pos = e;
      return;
    }
    if (n !== undefined && /[0-9@*#?$!\-]/.test(n)) {
      wb.exp(s.slice(start, start + 2));
      this.pos += 2;
      return;
    }
    // A lone `$` is literal.
    if (inDouble) wb.lit('$');
    else wb.bare('$');
    this.pos++;
  }

  /** Inside `${ … }` (after the opening brace), up to the matching `}`. */
  private braceParam(wb: WordBuilder): void {
    const s = this.src;
    for (;;) {
      const c = s[this.pos];
      if (c === undefined) this.fail('unterminated ${ … }', true);
      switch (c) {
        case '}':
          this.pos++;
          return;
        case '\\':
          if (this.pos + 1 >= s.length) this.fail('unterminated ${ … }', true);
          this.pos += 2;
          break;
        case "'": {
          const end = s.indexOf("'", this.pos + 1);
          if (end < 0) this.fail('unterminated single quote', true);
          this.pos = end + 1;
          break;
        }
        case '"':
          this.pos++;
          this.doubleQuoted(wb, '"');
          break;
        case '$':
          this.dollar(wb, false);
          break;
        case '`':
          this.backtick(wb);
          break;
        default:
          this.pos++;
      }
    }
  }

  /**
   * Where `((` arithmetic starting at `from` (just after the two parentheses)
   * ends: the index after the closing `))`, or null when the parentheses do not
   * close as arithmetic (then it is a nested subshell / command substitution).
   */
  private arithEnd(from: number): number | null {
    const s = this.src;
    let depth = 0;
    for (let i = from; i < s.length; i++) {
      const c = s[i];
      if (c === '\\') i++;
      else if (c === "'") {
        const e = s.indexOf("'", i + 1);
        if (e < 0) return null;
        i = e;
      } else if (c === '(') depth++;
      else if (c === ')') {
        if (depth === 0) return s[i + 1] === ')' ? i + 2 : null;
        depth--;
      }
    }
    return null;
  }

  /** `(( … ))` content read as a command list, when it parses as one (else nothing). */
  private asCommands(content: string): Node[] {
    const sub = new Parser(content, { interactive: false, posix: true }, []);
    sub.nest = this.nest + 1;
    try {
      return [{ t: 'compound', kind: 'arith-as-commands', words: [], body: [sub.parseProgram()], redirs: [] }];
    } catch {
      return [];
    }
  }

  /** Parse the command and process substitutions inside text that is not split into words (here-document, arithmetic). */
  private scanExpansions(text: string): Word {
    const sub = new Parser(text, { interactive: false, posix: this.opts.posix }, this.reasons);
    sub.nest = this.nest;
    const wb = new WordBuilder();
    sub.doubleQuoted(wb, '');
    const w = wb.build();
    return { ...w, value: text, segs: [{ text, bare: false }] };
  }

  /** Backquoted command substitution at the current position. */
  private backtick(wb: WordBuilder): void {
    const s = this.src;
    const start = this.pos;
    let inner = '';
    let i = this.pos + 1;
    for (;;) {
      const c = s[i];
      if (c === undefined) this.fail('unterminated backquote (`)', true);
      if (c === '`') break;
      if (c === '\\' && i + 1 < s.length) {
        const n = s[i + 1]!;
        if (n === '$' || n === '`' || n === '\\') inner += n;
        else inner += c + n;
        i += 2;
        continue;
      }
      inner += c;
      i++;
    }
    this.pos = i + 1;
    const sub = new Parser(inner, { interactive: this.opts.interactive, posix: this.opts.posix }, this.reasons);
    sub.nest = this.nest + 1;
    if (sub.nest > MAX_NEST) this.fail('nested too deeply', false);
    let node: Node;
    try {
      node = sub.parseProgram();
    } catch (e) {
      if (e instanceof ShellSyntaxError) this.fail(`in \`…\`: ${e.message}`, false);
      throw e;
    }
    wb.subs.push(node);
    wb.exp(s.slice(start, this.pos));
  }

  /** `<( … )` or `>( … )` at the current position. */
  private procSubst(wb: WordBuilder): void {
    const s = this.src;
    const start = this.pos;
    this.pos += 2;
    this.enter();
    const body = this.compoundList();
    this.leave();
    this.skipBlanks();
    if (s[this.pos] !== ')') {
      if (this.pos >= s.length) this.fail('unterminated process substitution', true);
      this.fail(`syntax error near unexpected token \`${this.tokenAt()}' in process substitution`);
    }
    this.pos++;
    wb.subs.push(body);
    wb.exp(s.slice(start, this.pos));
  }

  /** A parenthesised run inside a word (extglob pattern, array assignment), kept as written. */
  private balanced(wb: WordBuilder, bare: boolean): void {
    const s = this.src;
    const start = this.pos;
    const inner = new WordBuilder();
    inner.subs = wb.subs;
    let depth = 0;
    for (;;) {
      const c = s[this.pos];
      if (c === undefined) this.fail('unterminated ( … )', true);
      if (c === '(') {
        depth++;
        this.pos++;
      } else if (c === ')') {
        depth--;
        this.pos++;
        if (depth === 0) break;
      } else if (c === '\\') {
        this.pos += s[this.pos + 1] === undefined ? 1 : 2;
      } else if (c === "'") {
        const end = s.indexOf("'", this.pos + 1);
        if (end < 0) this.fail('unterminated single quote', true);
        this.pos = end + 1;
      } else if (c === '"') {
        this.pos++;
        this.doubleQuoted(inner, '"');
      } else if (c === '$') this.dollar(inner, false);
      else if (c === '`') this.backtick(inner);
      else if (c === '\n') this.newline();
      else this.pos++;
    }
    const raw = s.slice(start, this.pos);
    if (inner.expands) wb.expands = true;
    if (bare && !inner.expands) wb.bare(raw);
    else wb.exp(raw);
  }

  /** `$'…'` (after the opening quote): ANSI-C escapes decoded. A NUL ends the string, as in bash. */
  private ansiC(): string {
    const s = this.src;
    let out = '';
    let cut = false;
    const add = (ch: string) => {
      if (ch === '\0') cut = true;
      if (!cut) out += ch;
    };
    for (;;) {
      const c = s[this.pos];
      if (c === undefined) this.fail("unterminated $'…' string", true);
      if (c === "'") {
        this.pos++;
        return out;
      }
      if (c !== '\\') {
        add(c);
        this.pos++;
        continue;
      }
      const n = s[this.pos + 1];
      if (n === undefined) this.fail("unterminated $'…' string", true);
      this.pos += 2;
      const simple: Record<string, string> = { a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };
      if (n in simple) add(simple[n]!);
      else if (n >= '0' && n <= '7') {
        let digits = n;
        while (digits.length < 3 && /[0-7]/.test(s[this.pos] ?? '')) digits += s[this.pos++];
        add(String.fromCharCode(parseInt(digits, 8) & 0xff));
      } else if (n === 'x' || n === 'u' || n === 'U') {
        const max = n === 'x' ? 2 : n === 'u' ? 4 : 8;
        let digits = '';
        while (digits.length < max && /[0-9A-Fa-f]/.test(s[this.pos] ?? '')) digits += s[this.pos++];
        if (!digits) add('\\' + n);
        else {
          const cp = parseInt(digits, 16);
          add(cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd');
        }
      } else if (n === 'c') {
        const ch = s[this.pos];
        if (ch === undefined) this.fail("unterminated $'…' string", true);
        this.pos++;
        add(ch === '?' ? '\x7f' : String.fromCharCode(ch.toUpperCase().charCodeAt(0) & 0x1f));
      } else add('\\' + n);
    }
  }
}

function isName(w: Word): boolean {
  return !w.quoted && !w.expands && /^[^\s|&;()<>'"\\$`=]+$/.test(w.value);
}
