import type { Command } from '@sluice/core';
import { MAX_SHELL_LINE, parseShellLine, type ShellOptions } from './analyze.js';

/**
 * The Command policy sees for an SSH exec request or a line submitted at an
 * interactive shell: protocol `ssh`, kind `exec`, `text` the line as sent
 * (trimmed), and one part per command the line runs (see the module comment
 * in index.ts), each with its normalized text. Flags:
 *
 * - `multi-statement`: more than one simple command at one level;
 * - `dynamic`: the line runs something that cannot be read from it; the unit
 *   that does carries the flag too;
 * - `parse-error` with `error`: the line could not be parsed (unbalanced
 *   quotes, an unterminated construct, a syntax error, a NUL, longer than
 *   64 KiB). Core refuses such a command whatever the policies say.
 *
 * `parts` is omitted only when the line is exactly one simple command whose
 * normalized text is the line itself. Never throws.
 */
export function shellCommand(line: string, opts: ShellOptions = {}): Command {
  let text = line.trim();
  const p = parseShellLine(line, opts);
  if (p.error !== undefined) {
    if (text.length > MAX_SHELL_LINE) text = text.slice(0, 200) + '…';
    return { protocol: 'ssh', kind: 'exec', text, objects: [], flags: ['parse-error'], error: p.error };
  }
  const flags: string[] = [];
  if (p.multi) flags.push('multi-statement');
  if (p.dynamic) flags.push('dynamic');
  const parts: Command[] = [];
  const seen = new Set<string>();
  const add = (t: string, dynamic: boolean) => {
    const key = `${dynamic ? 1 : 0}${t}`;
    if (seen.has(key)) return;
    seen.add(key);
    parts.push({ protocol: 'ssh', kind: 'exec', text: t, objects: [], flags: dynamic ? ['dynamic'] : [] });
  };
  for (const c of p.commands) {
    add(c.text, c.dynamic);
    for (const a of c.alt ?? []) add(a, c.dynamic);
  }
  const cmd: Command = { protocol: 'ssh', kind: 'exec', text, objects: [], flags };
  if (!(parts.length === 1 && parts[0]!.text === text)) cmd.parts = parts;
  return cmd;
}
