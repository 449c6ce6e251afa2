import { describe, expect, it } from 'vitest';
import { parseShellLine, type ShellOptions } from './index.js';

const texts = (line: string, opts?: ShellOptions) => {
  const p = parseShellLine(line, opts);
  expect(p.error, `unexpected parse error for ${JSON.stringify(line)}`).toBeUndefined();
  return p.commands.map((c) => c.text);
};
const argvOf = (line: string) => parseShellLine(line).commands.map((c) => c.argv);

describe('operators and compound commands: every simple command is found', () => {
  it.each<[string, string[]]>([
    ['ls; rm -rf /', ['ls', 'rm -rf /']],
    ['a && b || c', ['a', 'b', 'c']],
    ['a | b |& c', ['a', 'b', 'c']],
    ['a & b &', ['a', 'b']],
    ['a\nb\n\nc', ['a', 'b', 'c']],
    ['a &&\n  b', ['a', 'b']],
    ['(a; b) | c', ['a', 'b', 'c']],
    ['( (a) )', ['a']],
    ['{ a; b; } > out', ['a', 'b']],
    ['! a', ['a']],
    ['! ! a', ['a']],
    ['time ! time -p a', ['a']],
    ['echo $(a x) `b y`', ['a x', 'b y', 'echo $(a x) `b y`']],
    ['echo "$(a "q")"', ['a q', 'echo $(a "q")']],
    ['echo $(echo $(rm -rf /))', ['rm -rf /', 'echo $(rm -rf /)', 'echo $(echo $(rm -rf /))']],
    ['diff <(a) >(b)', ['a', 'b', 'diff <(a) >(b)']],
    ['cat < <(a)', ['a', 'cat']],
    ['a >f 2>&1 <g >>h &>i &>>j 3<>k 4>&- >|l {fd}>m', ['a']],
    ['> $(rm x) ls', ['rm x', 'ls']],
    ['cat <<< "$(rm x)"', ['rm x', 'cat']],
    ['if a; then b; elif c; then d; else e; fi', ['a', 'b', 'c', 'd', 'e']],
    ['if a\nthen b\nfi', ['a', 'b']],
    ['for i in 1 $(seq 3); do rm -rf /$i; done', ['seq 3', 'rm -rf /$i']],
    ['for i; do a; done', ['a']],
    ['for ((i=0; i<$(n); i++)); do a; done', ['n', 'a']],
    ['for i in a b; { c; }', ['c']],
    ['select x in a b; do c; done', ['c']],
    ['while a; do b; done < file', ['a', 'b']],
    ['until a; do b; done', ['a', 'b']],
    ['case $x in a|b) c;; (d) e;& *) f;;& esac', ['c', 'e', 'f']],
    ['case x in\n  a)\n    b\n    ;;\n  *) c\nesac', ['b', 'c']],
    ['case x in a) echo ")";; esac', ['echo )']],
    ['echo $(case x in a) b;; esac)', ['b', 'echo $(case x in a) b;; esac)']],
    ['f() { rm -rf /; }', ['rm -rf /']],
    ['function g { a; }; g', ['a', 'g']],
    ['function h() ( b )', ['b']],
    ['[[ -f $(a) && $x =~ ^(b|c)$ ]] && d', ['a', 'd']],
    ['(( $(a) + 1 ))', ['a']],
    // dash, as a login shell, runs `((p 1))` as two subshells; bash evaluates arithmetic: both readings count.
    ['((p 1))', ['p 1']],
    ['(( x < 5 ))', ['x']],
    ['(( $x > 1 ))', []],
    ["sh -c '((p 1))'", ['sh -c ((p 1))', 'p 1']],
    ['echo $(( 1 + $(a) ))', ['a', 'echo $(( 1 + $(a) ))']],
    ['echo $[ 1 + $(a) ]', ['a', 'echo $[ 1 + $(a) ]']],
    ['echo ${x:-$(a)} ${y:=`b`}', ['a', 'b', 'echo ${x:-$(a)} ${y:=`b`}']],
    ['x=$(a) y=`b`', ['a', 'b']],
    ['arr=(1 $(a) "$(b)")', ['a', 'b']],
    ['time { a; }', ['a']],
    ['time -p a', ['a']],
    ['coproc a', ['a']],
    ['coproc worker { a; }', ['a']],
    ['coproc b c', ['b c']],
    ['ls # ; rm -rf /', ['ls']],
    ['# only a comment', []],
    ['ls #c\nrm x', ['ls', 'rm x']],
    ['echo a#b', ['echo a#b']],
    ['', []],
    ['   \n\t ', []],
  ])('%j', (line, expected) => {
    expect(texts(line)).toEqual(expected);
  });

  it('reads here-documents as data, but parses substitutions in an unquoted one', () => {
    // The body is expanded before the command runs.
    expect(texts('cat <<EOF\nrm -rf /\n$(a)\nEOF\nb')).toEqual(['a', 'cat', 'b']);
    expect(texts("cat <<'EOF'\n$(a)\nEOF")).toEqual(['cat']);
    expect(texts('cat <<"EOF"\n`a`\nEOF')).toEqual(['cat']);
    expect(texts('cat <<-EOF; rm x\n\tbody\n\tEOF\nls')).toEqual(['cat', 'rm x', 'ls']);
    expect(texts('cat <<A <<B\na\nA\nb\nB\nc')).toEqual(['cat', 'c']);
    expect(texts('x=$(cat <<EOF\nhi\nEOF\n)')).toEqual(['cat']);
  });
});

describe('words: quoting, escapes, expansions', () => {
  it.each<[string, string[]]>([
    [`echo 'a b' "c \\" d" e\\ f`, ['echo', 'a b', 'c " d', 'e f']],
    [`echo "\\$x \\\\ \\a \\\`"`, ['echo', '$x \\ \\a `']],
    [`echo "$x" '$x' $x`, ['echo', '$x', '$x', '$x']],
    ["echo $'a\\nb' $'\\x41\\101\\u00e9\\t' $'it\\'s' $'\\\\' $'\\cA'", ['echo', 'a\nb', 'AA\u00e9\t', "it's", '\\', '\x01']],
    ["echo $'rm\\0tail'", ['echo', 'rm']],
    ['echo $"loc $x"', ['echo', 'loc $x']],
    ['echo "" \'\' x', ['echo', '', '', 'x']],
    ['r\\\nm -rf /', ['rm', '-rf', '/']],
    ['echo a\\\nb', ['echo', 'ab']],
    ['echo {a,b}{1..2}', ['echo', 'a1', 'a2', 'b1', 'b2']],
    ['echo {01..03} {c..a} {1..7..3}', ['echo', '01', '02', '03', 'c', 'b', 'a', '1', '4', '7']],
    ['echo {a,{b,c}}d', ['echo', 'ad', 'bd', 'cd']],
    ['echo {x} {} {a..} "{a,b}" \\{a,b}', ['echo', '{x}', '{}', '{a..}', '{a,b}', '{a,b}']],
    ['echo ~/x *.log [ab] a=b', ['echo', '~/x', '*.log', '[ab]', 'a=b']],
    ['echo @(a|b) !(c)', ['echo', '@(a|b)', '!(c)']],
    ['echo $1 $@ $# $? $$ $! $- $0 ${#x} ${x[0]} $ x$', ['echo', '$1', '$@', '$#', '$?', '$$', '$!', '$-', '$0', '${#x}', '${x[0]}', '$', 'x$']],
  ])('%j', (line, expected) => {
    expect(argvOf(line)[0]).toEqual(expected);
  });

  it('normalizes the command name and drops leading assignments from the text', () => {
    expect(texts('/bin/rm -rf /')).toEqual(['rm -rf /']);
    expect(texts('./rm x')).toEqual(['rm x']);
    expect(texts('\\rm -rf /')).toEqual(['rm -rf /']);
    expect(texts("r''m -rf /")).toEqual(['rm -rf /']);
    expect(texts('"rm" -rf /')).toEqual(['rm -rf /']);
    expect(texts("'/usr/bin/rm' -rf /")).toEqual(['rm -rf /']);
    expect(texts('{rm,-rf,/}')).toEqual(['rm -rf /']);
    expect(texts("$'\\x72\\x6d' -rf /")).toEqual(['rm -rf /']);
    expect(texts('FOO=1 BAR="a b" rm   -rf    /')).toEqual(['rm -rf /']);
    expect(texts('A=1')).toEqual([]);
    expect(texts('A=$(rm x)')).toEqual(['rm x']);
    expect(argvOf('FOO=1 rm x')[0]).toEqual(['rm', 'x']);
  });

  it('keeps reserved words literal outside command position or when quoted', () => {
    expect(texts('echo if then fi done }')).toEqual(['echo if then fi done }']);
    expect(texts("'if' x")).toEqual(['if x']);
    expect(texts('{rm,x}')).toEqual(['rm x']);
  });
});

describe('combined short flags', () => {
  const alt = (line: string) => parseShellLine(line).commands[0]!.alt ?? [];
  it('reads separate or reordered flags also in combined orders', () => {
    expect(alt('rm -r -f /')).toEqual(['rm -rf /', 'rm -fr /']);
    expect(alt('rm -fr /')).toEqual(['rm -rf /']);
    expect(alt('rm -rf /')).toEqual(['rm -fr /']);
    expect(alt('rm -R -f -v /')).toEqual(['rm -Rfv /', 'rm -vfR /']);
  });
  it('leaves single flags, long options and wrappers alone', () => {
    expect(alt('ls -l')).toEqual([]);
    expect(alt('rm --recursive --force /')).toEqual([]);
    expect(alt('java -version')).toEqual([]);
    expect(alt('sudo -E -H ls')).toEqual([]);
  });
});

describe('wrappers: both the wrapper and what it runs are judged', () => {
  it.each<[string, string[]]>([
    ['sudo rm -rf /', ['sudo rm -rf /', 'rm -rf /']],
    ['sudo -u root -E -- rm -rf /', ['sudo -u root -E -- rm -rf /', 'rm -rf /']],
    ['sudo --user=root HOME=/ rm x', ['sudo --user=root HOME=/ rm x', 'rm x']],
    ['sudo -l rm', ['sudo -l rm']],
    ['sudo -u$U -E rm x', ['sudo -u$U -E rm x', 'rm x']],
    ['sudo --user=$U rm x', ['sudo --user=$U rm x', 'rm x']],
    ['env -i A=1 B=2 rm x', ['env -i A=1 B=2 rm x', 'rm x']],
    ['env -u HOME -C /tmp rm x', ['env -u HOME -C /tmp rm x', 'rm x']],
    ['/usr/bin/env -S "rm -rf" /', ['env -S rm -rf /', 'rm -rf /']],
    ['env', ['env']],
    ['command rm x', ['command rm x', 'rm x']],
    ['command -v rm', ['command -v rm']],
    ['builtin eval "rm x"', ['builtin eval rm x', 'eval rm x', 'rm x']],
    ['exec -a name rm x', ['exec -a name rm x', 'rm x']],
    ['exec 3>file', ['exec']],
    ['nice -n 5 rm x', ['nice -n 5 rm x', 'rm x']],
    ['nice -5 rm x', ['nice -5 rm x', 'rm x']],
    ['nohup rm x &', ['nohup rm x', 'rm x']],
    ['time rm x', ['time rm x', 'rm x']],
    ['time A=1 rm x', ['time A=1 rm x', 'rm x']],
    ['sudo A=$(id) rm x', ['id', 'sudo A=$(id) rm x', 'rm x']],
    ['timeout -s KILL -k 5 10s rm x', ['timeout -s KILL -k 5 10s rm x', 'rm x']],
    ['doas -u root rm x', ['doas -u root rm x', 'rm x']],
    ['stdbuf -oL -e 0 rm x', ['stdbuf -oL -e 0 rm x', 'rm x']],
    ['ionice -c 3 -n7 rm x', ['ionice -c 3 -n7 rm x', 'rm x']],
    ['chroot --userspec=a:b /srv rm x', ['chroot --userspec=a:b /srv rm x', 'rm x']],
    ['setsid -f rm x', ['setsid -f rm x', 'rm x']],
    ['busybox rm x', ['busybox rm x', 'rm x']],
    ['watch -x rm x', ['watch -x rm x', 'rm x']],
    ['runuser -u bob -- rm x', ['runuser -u bob -- rm x', 'rm x']],
    ['flock /tmp/l rm x', ['flock /tmp/l rm x', 'rm x']],
    ['sudo nice sudo -u a rm x', ['sudo nice sudo -u a rm x', 'nice sudo -u a rm x', 'sudo -u a rm x', 'rm x']],
    ['ls | xargs rm -rf', ['ls', 'xargs rm -rf', 'rm -rf {}']],
    ['xargs -0 -n 1 -P4 rm', ['xargs -0 -n 1 -P4 rm', 'rm {}']],
    ['xargs -I % mv % /tmp', ['xargs -I % mv % /tmp', 'mv % /tmp']],
    ['xargs', ['xargs', 'echo {}']],
    ['find . -name x -exec rm {} + -execdir rm -r {} \\; -ok sh -c \'rm "$1"\' _ {} \\;', ['find . -name x -exec rm {} + -execdir rm -r {} ; -ok sh -c rm "$1" _ {} ;', 'rm {}', 'rm -r {}', 'sh -c rm "$1" _ {}', 'rm $1']],
  ])('%j', (line, expected) => {
    expect(texts(line)).toEqual(expected);
  });
});

describe('code strings are parsed and judged in turn', () => {
  it.each<[string, string[]]>([
    ["bash -c 'rm -rf /'", ['bash -c rm -rf /', 'rm -rf /']],
    ['sh -c "rm x; ls"', ['sh -c rm x; ls', 'rm x', 'ls']],
    ["zsh -c 'rm x'", ['zsh -c rm x', 'rm x']],
    ["dash -c 'rm x'", ['dash -c rm x', 'rm x']],
    ["ksh -c 'rm x'", ['ksh -c rm x', 'rm x']],
    ["/bin/bash -lc 'rm x'", ['bash -lc rm x', 'rm x']],
    ["bash -o pipefail --norc -e -c 'rm x' name arg", ['bash -o pipefail --norc -e -c rm x name arg', 'rm x']],
    ["bash -c 'bash -c \"rm x\"'", ['bash -c bash -c "rm x"', 'bash -c rm x', 'rm x']],
    ['eval "rm -rf /"', ['eval rm -rf /', 'rm -rf /']],
    ["eval 'a;' b", ['eval a; b', 'a', 'b']],
    ["su -c 'rm -rf /' root", ['su -c rm -rf / root', 'rm -rf /']],
    ["su - root -c 'rm x'", ['su - root -c rm x', 'rm x']],
    ["su --command='rm x'", ['su --command=rm x', 'rm x']],
    ["ssh host 'rm -rf /'", ['ssh host rm -rf /', 'rm -rf /']],
    ['ssh -p 22 -t user@host sudo rm x', ['ssh -p 22 -t user@host sudo rm x', 'sudo rm x', 'rm x']],
    ["ssh -o ProxyCommand='rm x' host true", ['ssh -o ProxyCommand=rm x host true', 'rm x', 'true']],
    ["ssh -vo 'LocalCommand rm x' -p 2 host", ['ssh -vo LocalCommand rm x -p 2 host', 'rm x']],
    ['ssh -o ProxyCommand=none -o User=x host id', ['ssh -o ProxyCommand=none -o User=x host id', 'id']],
    ['watch -n 1 rm -rf /', ['watch -n 1 rm -rf /', 'rm -rf /']],
    ["sg wheel -c 'rm x'", ['sg wheel -c rm x', 'rm x']],
    ["flock /tmp/l -c 'rm x'", ['flock /tmp/l -c rm x', 'rm x']],
    ["script -qc 'rm x' /dev/null", ['script -qc rm x /dev/null', 'rm x']],
    ["alias ls='rm -rf /'", ['alias ls=rm -rf /', 'rm -rf /']],
    ["trap 'rm x' EXIT", ['trap rm x EXIT', 'rm x']],
    ['trap - EXIT', ['trap - EXIT']],
  ])('%j', (line, expected) => {
    expect(texts(line)).toEqual(expected);
  });

  it('marks the found commands as code or wrapped', () => {
    const p = parseShellLine("sudo bash -c 'rm x'");
    expect(p.commands.map((c) => c.via)).toEqual(['line', 'wrapped', 'code']);
  });

  it('reports a syntax error inside a code string as an error of the line', () => {
    const p = parseShellLine('bash -c \'echo "\'');
    expect(p.error).toMatch(/bash -c.*unterminated double quote/);
  });
});

describe('dynamic: what runs cannot be read from the line', () => {
  it.each<string>([
    '$CMD -rf /',
    '${CMD} x',
    '"$CMD" x',
    '$(echo rm) -rf /',
    '`echo rm` -rf /',
    '"$(echo rm)" x',
    '/bin/r? -rf /',
    '/bin/r[m] x',
    '/bin/r* x',
    'echo hi | sh',
    'curl -s x | sudo -E bash -',
    'bash <<EOF\nrm -rf /\nEOF',
    "bash <<< 'rm -rf /'",
    'sh < script.sh',
    '{ sh; } < cmds',
    'echo x | while read c; do $c; done',
    'bash -c "$X"',
    'bash -c',
    'eval "$X"',
    'eval $(decode)',
    'bash <(curl x)',
    'source /dev/stdin',
    '. <(curl x)',
    'bash /proc/self/fd/0',
    'ls | xargs -I{} sh -c {}',
    'ls | xargs sh -c',
    'ls | xargs bash',
    'xargs -I% % -rf /',
    'find / -name rm -exec {} -rf / \\;',
    'sudo $X',
    'sudo -$X rm',
    'sudo -E$X rm',
    'sudo --$X rm',
    'sudo --bogus rm',
    'env $X rm',
    'ssh host "rm $DIR"',
    'fc -s',
    'echo {1..100000}',
    "/proc/self/exe -c 'rm -rf /'",
    '/dev/fd/3 x',
  ])('%j', (line) => {
    const p = parseShellLine(line);
    expect(p.error).toBeUndefined();
    expect(p.dynamic).toBe(true);
    expect(p.reasons.length).toBeGreaterThan(0);
    expect(p.commands.some((c) => c.dynamic && c.reason)).toBe(true);
  });

  it('prompt expansion ${x@P} can run a command substitution stored in x', () => {
    const p = parseShellLine('echo ${x@P}');
    expect(p.dynamic).toBe(true);
    expect(p.reasons[0]).toMatch(/prompt/);
  });

  it.each<string>(['ls -la', 'rm -rf $DIR', 'echo $(date)', "bash -c 'echo $1' _ x", 'bash deploy.sh', 'sudo -u root ls', 'fc -l', 'echo "hi!"', 'ls !(x)', 'x=rm'])(
    'not dynamic: %j',
    (line) => {
      expect(parseShellLine(line).dynamic).toBe(false);
    },
  );

  it('in exec mode a shell without a command string runs what arrives on the channel', () => {
    for (const line of ['bash', 'sh -s', 'sudo -i', 'sudo su', 'su -', 'ssh host', 'chroot /srv', 'at now', 'script']) {
      expect(parseShellLine(line, { mode: 'exec' }).dynamic, line).toBe(true);
      expect(parseShellLine(line, { mode: 'shell' }).dynamic, line).toBe(false);
    }
    expect(parseShellLine('ssh -N -L 8080:x:80 host').dynamic).toBe(false);
    expect(parseShellLine('echo x | bash', { mode: 'shell' }).dynamic).toBe(true);
  });

  it('history expansion makes an interactive line dynamic', () => {
    for (const line of ['!!', 'echo !$', 'sudo !!', '!rm', '^a^b', 'echo "x!y"']) {
      expect(parseShellLine(line, { mode: 'shell' }).dynamic, line).toBe(true);
      expect(parseShellLine(line, { mode: 'exec' }).dynamic, line).toBe(false);
      expect(parseShellLine(line, { mode: 'shell', history: false }).dynamic, line).toBe(false);
    }
    for (const line of ['echo hi!', 'echo "hi!"', '[[ a != b ]]', 'echo $!', 'echo ${!x}', "echo '!x'", 'echo \\!x', 'ls [!a]*']) {
      expect(parseShellLine(line, { mode: 'shell' }).dynamic, line).toBe(false);
    }
  });
});

describe('errors: what cannot be parsed is refused', () => {
  it.each<[string, boolean]>([
    ["echo 'a", true],
    ['echo "a', true],
    ['echo $(a', true],
    ['echo `a', true],
    ['echo ${a', true],
    ["echo $'abc", true],
    ['if true; then a', true],
    ['for x in a; do b', true],
    ['while a; do', true],
    ['case x in', true],
    ['{ a', true],
    ['(a', true],
    ['a &&', true],
    ['a |', true],
    ['cat <<EOF\nbody', true],
    ['cat <<EOF', true],
    ['echo \\', true],
    [')', false],
    ['fi', false],
    ['a ;; b', false],
    ['; ls', false],
    ['a | | b', false],
    ['a && && b', false],
    ['echo > ', true],
    ['f() ls', false],
    ['case x in a) b ) c;; esac', false],
    ['[[ a ; rm -rf / ]]', false],
    ['done', false],
  ])('%j', (line, incomplete) => {
    const p = parseShellLine(line);
    expect(p.error).toBeTruthy();
    expect(p.commands).toEqual([]);
    expect(!!p.incomplete).toBe(incomplete);
  });

  it('refuses absurd input instead of parsing it', () => {
    expect(parseShellLine('x'.repeat(64 * 1024 + 1)).error).toMatch(/longer than/);
    expect(parseShellLine('rm -rf /\0; ls').error).toMatch(/NUL/);
    expect(parseShellLine('( '.repeat(5000) + 'a' + ' )'.repeat(5000)).error).toMatch(/nested too deeply/);
    expect(parseShellLine('{ '.repeat(5000) + 'a' + '; }'.repeat(5000)).error).toMatch(/nested too deeply/);
    expect(parseShellLine('echo ' + '$('.repeat(5000) + ')'.repeat(5000)).error).toMatch(/nested too deeply/);
    expect(parseShellLine('eval '.repeat(8) + 'rm x').error).toBeUndefined();
    expect(parseShellLine('eval '.repeat(9) + 'rm x').error).toMatch(/nested more than 8/);
    expect(parseShellLine('a;'.repeat(20_000)).error).toMatch(/more than 10000 commands/);
  });
});

describe('multi-statement', () => {
  it.each<[string, boolean]>([
    ['ls', false],
    ['ls; pwd', true],
    ['ls | wc', true],
    ['echo $(date)', true],
    ['sudo rm x', false],
    ["bash -c 'rm x'", false],
    ["bash -c 'a; b'", true],
  ])('%j', (line, multi) => {
    expect(parseShellLine(line).multi).toBe(multi);
  });
});
