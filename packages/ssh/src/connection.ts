import type { Socket } from 'node:net';
import type ssh2 from 'ssh2';
import type { Logger, Session } from '@sluice/core';
import { TerminalMasker } from './terminal/masker.js';
import type { ChunkMasker } from './output.js';
import { runExec } from './exec.js';
import { runShell } from './interactive.js';
import { handleSftp } from './sftp.js';
import { handleDirectTcpip } from './forward.js';
import type { ChannelDeps } from './channel-deps.js';

/** Environment variables passed from the client to the target; others are refused (they could subvert the shell: BASH_ENV, LD_PRELOAD …). */
export function envAllowed(name: string): boolean {
  return /^(LANG|LANGUAGE|LC_[A-Z_]+|TZ|COLORTERM)$/.test(name);
}

/** A client's pty request, kept for the upstream channel and updated by window changes. */
export interface PtyState {
  term: string;
  cols: number;
  rows: number;
  width: number;
  height: number;
  modes: ssh2.TerminalModes;
}

/** A running exec or shell, as the connection sees it. */
export interface RunningChannel {
  resize(pty: PtyState): void;
  signal(name: string): void;
  /** Ends the client's channel now with a message on its stderr (kill, lost target). */
  terminate(message: string, status: number): void;
}

/** What exec and shell handlers share. */
export interface ConnContext {
  session: Session;
  upstream: ssh2.Client;
  logger: Logger;
  maskIdleMs: number;
  /** Aborted when the client connection ends (cancels pending approvals). */
  signal: AbortSignal;
  /** A fresh output masker for one stream, or null when the session masks nothing. */
  newMasker(): ChunkMasker | null;
  /** Registers a running channel for kill / upstream loss; returns the unregister function. */
  track(r: RunningChannel): () => void;
}

export interface ServeDeps {
  session: Session;
  upstream: ssh2.Client;
  logger: Logger;
  maskIdleMs: number;
}

function eolFor(pty: boolean): string {
  return pty ? '\r\n' : '\n';
}

/**
 * Serves an authenticated client whose connection was refused (unknown,
 * forbidden, target unavailable): every session request gets the same
 * message on stderr and `status`; forwards are rejected; the client is
 * disconnected after the first refused request or 10 s.
 */
export function serveRefused(client: ssh2.Connection, message: string, status: number): void {
  const end = () => client.end();
  const timer = setTimeout(end, 10_000);
  timer.unref?.();
  client.once('close', () => clearTimeout(timer));
  client.on('tcpip', (_accept, reject) => reject?.());
  client.on('session', (accept) => {
    const s = accept();
    let pty = false;
    s.on('pty', (ok) => {
      pty = true;
      ok?.();
    });
    s.on('env', (ok) => ok?.());
    s.on('window-change', (ok) => ok?.());
    const refuse = (accept: () => ssh2.ServerChannel | undefined) => {
      const ch = accept();
      if (!ch) return;
      ch.stderr.write(`sluice: ${message}${eolFor(pty)}`);
      ch.exit(status);
      ch.once('close', end);
      ch.end();
    };
    s.on('shell', (accept) => refuse(accept));
    s.on('exec', (accept) => refuse(accept));
    s.on('subsystem', (accept) => refuse(accept));
  });
}

/**
 * Serves an authenticated client with its session and upstream connection.
 *
 * Channels map 1:1: each client session channel gets its own upstream
 * session channel when it asks for exec, shell or a subsystem (with its pty
 * and allowed environment); `direct-tcpip` channels go to forward.ts, the
 * `sftp` subsystem to sftp.ts; other subsystems, X11, agent forwarding and
 * remote forwarding (`tcpip-forward`) are refused.
 *
 * Teardown: the client disconnecting closes the session (cancelling pending
 * approvals) and the upstream; `session.onKill` tells every running channel
 * why on stderr and disconnects the client; losing the upstream ends the
 * client's channels with a message naming the connection, then the client.
 */
export function serveConnection(client: ssh2.Connection, raw: Socket, deps: ServeDeps): void {
  const { session, upstream, logger } = deps;
  const abort = new AbortController();
  const running = new Set<RunningChannel>();
  let closing = false;

  const teardown = (reason: string, message: string | null, status: number) => {
    if (closing) return;
    closing = true;
    abort.abort();
    if (message) for (const r of [...running]) r.terminate(message, status);
    if (message) {
      upstream.end();
      void session.close(reason);
    } else {
      // The client left: let channel handlers record their outcome as their upstream channels
      // close (ssh2 closes the client's channels after its 'close' event), then end the session.
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        void session.close(reason);
      };
      upstream.once('close', () => setImmediate(end));
      setTimeout(end, 1500).unref?.();
      upstream.end();
    }
    // Give the final channel messages a moment to leave before the disconnect.
    setTimeout(() => {
      client.end();
      setTimeout(() => raw.destroy(), 2000).unref?.();
    }, message ? 50 : 0).unref?.();
  };

  client.once('close', () => {
    if (!closing) teardown('client disconnected', null, 0);
  });
  client.on('end', () => undefined);
  upstream.on('error', (e: Error) => logger.warn({ connection: session.connection.name, err: e.message }, 'ssh: target connection error'));
  upstream.once('close', () => {
    if (closing) return;
    logger.warn({ connection: session.connection.name }, 'ssh: lost the connection to the target');
    teardown('target connection lost', `lost the connection to the target of "${session.connection.name}"`, 255);
  });
  session.onKill((reason) => teardown(reason, `session killed: ${reason}`, 255));

  const ctx: ConnContext = {
    session,
    upstream,
    logger,
    maskIdleMs: deps.maskIdleMs,
    signal: abort.signal,
    newMasker: () => (session.masker ? new TerminalMasker(session.masker) : null),
    track(r) {
      running.add(r);
      return () => running.delete(r);
    },
  };
  const channelDeps: ChannelDeps = { session, upstream, logger, connection: session.connection, client };

  client.on('session', (accept, reject) => {
    if (closing) return reject?.();
    const s = accept();
    let pty: PtyState | null = null;
    const env: Record<string, string> = {};
    let current: RunningChannel | null = null;
    let started = false;

    s.on('pty', (ok, no, info) => {
      if (started) return no?.();
      const i = info as ssh2.PseudoTtyInfo;
      pty = { term: i.term || 'xterm', cols: i.cols || 80, rows: i.rows || 24, width: i.width || 0, height: i.height || 0, modes: i.modes ?? {} };
      session.resize(pty.cols, pty.rows);
      ok?.();
    });
    s.on('window-change', (ok, _no, info) => {
      if (pty) {
        pty = { ...pty, cols: info.cols || pty.cols, rows: info.rows || pty.rows, width: info.width || 0, height: info.height || 0 };
        session.resize(pty.cols, pty.rows);
        current?.resize(pty);
      }
      ok?.();
    });
    s.on('env', (ok, no, info) => {
      if (started || !envAllowed(info.key)) return no?.();
      env[info.key] = info.val;
      ok?.();
    });
    s.on('signal', (ok, _no, info) => {
      current?.signal(info.name);
      ok?.();
    });
    s.on('exec', (ok, no, info) => {
      if (started || closing) return no?.();
      started = true;
      current = runExec(ctx, ok, info.command, pty, env);
    });
    s.on('shell', (ok, no) => {
      if (started || closing) return no?.();
      started = true;
      current = runShell(ctx, ok, pty, env);
    });
    s.on('subsystem', (ok, no, info) => {
      if (started || closing) return no?.();
      if (info.name !== 'sftp') {
        logger.info({ subsystem: info.name }, 'ssh: subsystem refused');
        return no?.();
      }
      started = true;
      try {
        handleSftp(channelDeps, ok, () => no?.());
      } catch (e) {
        logger.error({ err: (e as Error).message }, 'ssh: sftp failed inside the gateway');
        no?.();
      }
    });
  });

  client.on('tcpip', (accept, reject, info) => {
    if (closing) return reject?.();
    try {
      handleDirectTcpip(channelDeps, info, accept, () => reject?.());
    } catch (e) {
      logger.error({ err: (e as Error).message }, 'ssh: forwarding failed inside the gateway');
      reject?.();
    }
  });
}
