/**
 * Shell command lines → policy Commands.
 *
 * An SSH exec request (`ssh web-1@gw 'cmd'`) and each line typed at an
 * interactive shell are parsed as bash would parse them, and every simple
 * command the line would run becomes a part of the Command that policy judges,
 * so a `commands:` glob such as `rm -rf *` sees each one, however it is
 * written. What is judged:
 *
 * - every simple command, whatever joins it to the others: `;` `&&` `||` `|`
 *   `&` newlines, `( … )`, `{ …; }`, `if`/`for`/`while`/`until`/`case`/
 *   `select`, `[[ … ]]`, `(( … ))`, function bodies (judged when defined),
 *   `$( … )`, backquotes, `<( … )`/`>( … )`, and substitutions in
 *   redirections, `${ … }`, arithmetic and unquoted here-documents; comments
 *   are ignored; `(( … ))` is read both as bash's arithmetic and as dash's two
 *   nested subshells (when it parses as commands), since the login shell may
 *   be either;
 * - in a normalized form: words after quote removal (`'…'`, `"…"`, `$'…'`
 *   with its escapes decoded, backslashes, line continuations) and brace
 *   expansion (`{rm,-rf,/}` → `rm -rf /`), leading assignments dropped, the
 *   command name reduced to its basename (`/bin/rm`, `\rm`, `r''m`, `"rm"` →
 *   `rm`, zsh's `=rm` too), one space between words; redirections are not
 *   part of the text;
 * - short flags also in combined forms: separate or clustered plain-letter
 *   flags are merged into one cluster, in the order written, sorted and
 *   reverse-sorted (`rm -r -f /` also reads `rm -rf /` and `rm -fr /`); so any
 *   spelling of two flags matches a glob written with either order;
 * - what wrappers run, as a part of its own beside the wrapper: `sudo`,
 *   `doas`, `env` (also `-S`), `command`, `builtin`, `exec`, `nice`, `nohup`,
 *   `time`, `timeout`, `xargs` (its input shown as `{}`), `find -exec/-execdir/
 *   -ok/-okdir`, `stdbuf`, `ionice`, `chroot`, `watch -x`, `setsid`,
 *   `busybox`, `pkexec`, `runuser -u`, `flock`;
 * - code strings, parsed and judged in turn: `sh/bash/dash/zsh/ksh/… -c`,
 *   `eval`, `su -c`, `runuser -c`, `sg`, `flock -c`, `script -c`, `watch`,
 *   `ssh host 'cmd'` (and `-o ProxyCommand/LocalCommand/RemoteCommand`),
 *   `alias name='…'`, `trap '…'`; up to 8 levels deep.
 *
 * `dynamic` (matched by every block and approve rule unless a policy trusts
 * dynamic commands) marks what cannot be known from the line: a command name
 * that is an expansion (`$CMD`, `$(echo rm)`, `` `…` ``), a pathname pattern
 * (`/bin/r?`) or a `/proc/…` path (`/proc/self/exe`); a code string that is
 * not a constant (`bash -c "$X"`, `eval "$(…)"`); a shell or `ssh`/`su`/`at`
 * reading commands from a pipe, file or here-document (`… | sh`,
 * `bash <<EOF`, `bash < x`), or in exec mode from the SSH channel; a script
 * read from `/dev/…`, `/proc/…` or an expansion (`bash <(curl …)`,
 * `source /dev/stdin`); `fc`; an option of a wrapper that Sluice does not
 * know or that comes from an expansion; history expansion in an interactive
 * line; `${x@P}`; brace expansion beyond 4096 words.
 *
 * Options: `mode: 'exec'` (default) for an exec request, whose standard
 * input Sluice does not judge; `mode: 'shell'` for lines typed at a shell whose
 * later lines are judged too; `history` for bash's interactive history
 * expansion (default on in shell mode).
 *
 * Known limits (the parts show what was understood):
 * - earlier lines of an interactive shell can change what a name means, and
 *   that is not tracked: aliases, functions, `hash -p`, `PATH`, `enable -f`
 *   (an `alias` or function definition itself is judged when made);
 * - a program is judged by its name: a copy or link of `rm` under another
 *   name is not `rm`;
 * - scripts on disk (`bash deploy.sh`, `./x`, `source ~/.bashrc`, `at -f`,
 *   login files, `BASH_ENV`, `crontab`, `ssh -F config`) are judged by
 *   their name, not their content;
 * - other interpreters (`python -c`, `perl -e`, `awk 'BEGIN{system(…)}'`,
 *   `vim -c '!…'`, `git -c core.pager=…`, `tar --checkpoint-action`,
 *   `rsync -e`, `nsenter`, `unshare`, `systemd-run`, `tmux`, `screen`,
 *   `parallel`, `strace` …) are judged by their own command line; write globs
 *   for them (`python* -c *`);
 * - long options are not normalized (`rm --recursive --force` is not
 *   `rm -rf`), nor are clusters of three or more letters in every order;
 * - variables are not tracked (`x=rm; $x -rf /` is dynamic, not `rm`), nor is
 *   the arithmetic evaluation of variables holding `a[$(…)]`;
 * - the line is read as bash reads it; zsh, fish or csh as login shell may
 *   differ in corners (zsh glob qualifiers such as `*(e:…:)` run code);
 * - a line bash would partly run despite a syntax error later in it (a
 *   here-document body, a line after a bad one) is refused whole.
 *
 * Tests: parse.test.ts (constructs), command.test.ts (through the core policy
 * engine), property.test.ts (fast-check: never throws, round trip) and
 * bash.test.ts (differential against the real bash: same argv, and every
 * command bash runs is found; `SLUICE_SHELL_FUZZ_RUNS=2000` for a longer run).
 */
export { parseShellLine, MAX_SHELL_LINE, MAX_CODE_DEPTH, type ShellParse, type SimpleCommand, type ShellOptions } from './analyze.js';
export { shellCommand } from './command.js';
export { RUNNER_NAMES } from './runners.js';
