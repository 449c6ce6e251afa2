/**
 * Terminal support for interactive SSH shells: judging typed lines, masking
 * output, recording for replay. Independent of ssh2.
 *
 * ## How the plugin wires it (one pty shell channel)
 *
 * ```
 *  host output ──┬──► LineTracker.output(raw bytes)          (the shell's real screen; never sent anywhere)
 *                └──► TerminalMasker.push(bytes) ──► client   (and session.output / the recording)
 *                     + TerminalMasker.flush() after ~20 ms without output, end() when the stream ends
 *
 *  client input ──► await LineTracker.input(bytes) ──► segments, in order:
 *                     pass   → forward to the host at once
 *                     submit → authorize(line); hold `enter` and everything after it
 *                              allow → forward `enter`, then what was held
 *                              deny  → drop what was held, send LineTracker.cancelLine() to the host
 * ```
 *
 * - Feed the tracker the output BEFORE masking: the line it reports must be
 *   what the shell will run (a card number typed in a command is judged as
 *   typed), and the masker holds back the tail of a line (the prompt and the
 *   echo of the keys being typed) until it is flushed, which would otherwise
 *   leave the tracker's screen behind.
 * - `input()` resolves only after all output given to `output()` before the
 *   call has been parsed (xterm parses asynchronously), and calls resolve in
 *   order; handle one call's segments completely (including the decision on a
 *   submit) before the next call's — e.g. a serial queue of input chunks.
 * - A submit with `exact: false` is a guess (keys the tracker cannot replay
 *   were typed before the shell echoed them, or a shell decoration disagreed
 *   with the replayed keys): fail closed, refuse it and ask the user to retype.
 *   An empty exact line may be forwarded without asking policy.
 * - While `fullScreen` (vim, less, top on the alternate screen) input() returns
 *   one pass segment per call: nothing is judged. Programs that run commands
 *   from there (tmux, screen, vim's `:!`, less's `!`) are therefore outside
 *   line judging: a policy that must hold denies them as commands.
 * - A line the shell continues (PS2: an open quote, a trailing backslash, an
 *   unfinished `if`/`for`, a here-document) arrives as one submit per row;
 *   judging the rows one by one would miss `r\` + `m -rf /`. The plugin must
 *   judge the accumulated text (or refuse an incomplete line).
 * - Known limits of the screen reading: decorations printed after the typed
 *   text on the same line (zsh's RPROMPT, autosuggestions) disagree with the
 *   replayed keys, so such lines come out inexact.
 * - Ctrl-O (operate-and-get-next) and Ctrl-X Ctrl-E (edit-and-execute, always
 *   inexact) also run a line in bash, so they are submits too. The line bash
 *   pre-fills after Ctrl-O sits before the cursor, where the screen cannot
 *   tell it from the prompt: that next line is inexact.
 *
 * ## Cancelling a refused line at the host
 *
 * The keys before Enter already reached the shell, so its line buffer holds
 * the refused line. `cancelLine()` returns the bytes to send instead of the
 * Enter: `ESC [ 2 0 1 ~` if a bracketed paste is open, then Ctrl-E Ctrl-U
 * Ctrl-C. Tried against a real bash 5.2 (line-tracker.test.ts and by hand):
 * - Ctrl-C alone discards the line and prints `^C` and a fresh prompt on a
 *   new row, in emacs and vi mode (insert or command) — but only while the
 *   tty's interrupt character is Ctrl-C. After `stty intr undef` readline
 *   ignores it, the refused text stays in the buffer and the next Enter ran
 *   it (tested): Ctrl-C alone is not enough.
 * - Ctrl-E Ctrl-U alone empties the line in emacs mode whatever the tty
 *   settings, but prints no fresh prompt, and in vi command mode readline
 *   stays in command mode, where the user's next keys are vi commands (the
 *   refused line came back and ran in a test).
 * - Ctrl-E Ctrl-U Ctrl-C (what cancelLine() sends): the refused line never
 *   ran in any of emacs / vi insert / vi command mode, with and without
 *   `stty intr undef`; with a working interrupt bash prints a fresh prompt.
 * After a cancel the tracker trusts a new line only once a fresh prompt shows
 * (`atPrompt`), or when the screen proves the shell holds exactly the keys
 * typed since; otherwise the next submit is inexact. A plugin may also wait
 * for `atPrompt` after cancelling and close the channel if it never comes.
 *
 * ## Recording
 *
 * The gateway records output as `output` events ({stream, data}) and size
 * changes as `resize` events ({cols, rows}); `toAsciicast` turns them into an
 * asciicast v2 file and `playEvents` replays them in real time.
 */
export { LineTracker, type InputSegment, type LineTrackerOptions } from './line-tracker.js';
export { TerminalMasker, type TextMasker, TEXT_TAIL_CAP, KEY_CAP, ESC_CAP } from './masker.js';
export { toAsciicast, playEvents, type TerminalEvent, type AsciicastOptions, type PlayOptions } from './cast.js';
