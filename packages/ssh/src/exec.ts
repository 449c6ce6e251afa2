import type ssh2 from 'ssh2';
import type { ConnContext, PtyState, RunningChannel } from './connection.js';
import { commandOf, lineGate, terminalGate } from './interactive.js';
import { ChannelRelay, approvalLine, denyLine } from './relay.js';

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'busybox', 'fish', 'csh', 'tcsh', 'rbash']);

/**
 * Whether an exec command line starts a shell that reads its commands from
 * stdin (`bash`, `sh -s`, `/bin/bash -l`): no `-c` and no script operand.
 * Its input is then judged line by line, as a typed shell's is.
 */
export function readsCommandsFromStdin(command: string): boolean {
  const words = command.trim().split(/\s+/);
  const first = words[0] ?? '';
  const base = first.slice(first.lastIndexOf('/') + 1);
  if (!SHELLS.has(base)) return false;
  for (const w of words.slice(1)) {
    if (!w.startsWith('-') || w === '-') return false; // a script operand
    if (w === '--') continue;
    if (!w.startsWith('--') && w.slice(1).includes('c')) return false; // -c / -ec …
    if (w === '--command') return false;
  }
  return true;
}

export function ptyOptions(pty: PtyState): ssh2.PseudoTtyOptions {
  return { term: pty.term, cols: pty.cols, rows: pty.rows, width: pty.width, height: pty.height, modes: pty.modes };
}

/**
 * An `exec` request. The command line is judged as a Command (shellCommand:
 * protocol 'ssh', kind 'exec', one part per sub-command) through
 * `session.authorize`, before anything reaches the target:
 * - blocked: one stderr line naming the policy, exit status 126;
 * - held for approval: a stderr line at once (request id, approvers,
 *   timeout); then it runs on approval, or is refused (126) on denial,
 *   timeout or cancellation; the wait is cancelled when the client leaves;
 * - allowed: run on its own upstream session channel (with the client's
 *   pty and allowed environment); output masked and recorded; the exit
 *   status or signal comes back.
 * Input to an allowed command passes through unjudged, except when the
 * command is a shell reading commands from stdin or has a pty: then each
 * line is judged as a typed line (see interactive.ts).
 */
export function runExec(ctx: ConnContext, accept: () => ssh2.ServerChannel | undefined, command: string, pty: PtyState | null, env: Record<string, string>): RunningChannel | null {
  const ch = accept();
  if (!ch) return null;
  const relay = new ChannelRelay(ctx, ch, pty);
  const name = ctx.session.connection.name;
  void (async () => {
    // With a pty or a shell reading stdin, what is typed later is judged line by line too.
    const gated = pty !== null || readsCommandsFromStdin(command);
    const cmd = commandOf(command, gated ? 'shell' : 'exec');
    const verdict = await ctx.session.authorize(cmd, (n) => relay.tell(approvalLine(n)), relay.aborted);
    if (verdict.effect === 'deny') return relay.refuse(denyLine(verdict), 126);
    if (relay.aborted.aborted) return;
    const opts: ssh2.ExecOptions = { env };
    if (pty) opts.pty = ptyOptions(pty);
    ctx.upstream.exec(command, opts, (err, up) => {
      if (err) {
        void relay.refuse(`sluice: the target of "${name}" did not run the command: ${err.message}`, 255);
        return;
      }
      const gate = pty ? terminalGate(ctx, relay, pty) : gated ? lineGate(ctx, relay) : null;
      void relay.attach(up, gate);
    });
  })().catch((e: unknown) => {
    ctx.logger.error({ err: (e as Error).message }, 'ssh: exec failed inside the gateway');
    void relay.refuse('sluice: the gateway failed to handle this command; it was not run', 255);
  });
  return relay;
}
