import type { ClientChannel, Connection, ServerChannel } from 'ssh2';
import { globToRegExp, type ApprovalNotice, type Command, type ResultSummary } from '@sluice/core';
import { tryAccept, type ChannelDeps } from './channel-deps.js';

export type { ChannelDeps } from './channel-deps.js';

/**
 * The result of one forwarded connection. `bytesIn` / `bytesOut` are not
 * (yet) fields of core's ResultSummary; the recorder keeps them as given.
 */
export type ForwardResult = ResultSummary & {
  /** Bytes from the client to the destination. */
  bytesIn: number;
  /** Bytes from the destination to the client. */
  bytesOut: number;
};

/** `host:port` as policies and the allow-list see it (IPv6 literals in brackets, host in lower case). */
export function forwardDestination(host: string, port: number): string {
  const h = host.toLowerCase();
  return h.includes(':') && !h.startsWith('[') ? `[${h}]:${port}` : `${h}:${port}`;
}

/**
 * Whether a connection's `options.forward` allow-list (shell-style globs on
 * `host:port`, e.g. `127.0.0.1:5432`, `db-*.internal:*`) admits `dest`.
 * Absent, empty or not a list of strings: nothing is allowed.
 */
export function forwardAllowed(allow: unknown, dest: string): boolean {
  if (!Array.isArray(allow)) return false;
  for (const g of allow) {
    if (typeof g === 'string' && globToRegExp(g.toLowerCase()).test(dest)) return true;
  }
  return false;
}

/**
 * Answers a channel open with "administratively prohibited: <why>" when the
 * ssh2 server connection is at hand (by wrapping, for the duration of the
 * synchronous `reject()` call, ssh2's internal `channelOpenFail`); otherwise
 * plain `reject()` (ssh2 then says "connect failed").
 */
function rejectProhibited(client: Connection | undefined, reject: () => void, why: string): void {
  const proto = (client as unknown as { _protocol?: Record<string, unknown> } | undefined)?._protocol;
  const orig = proto?.channelOpenFail;
  if (!proto || typeof orig !== 'function') {
    reject();
    return;
  }
  const own = Object.prototype.hasOwnProperty.call(proto, 'channelOpenFail');
  proto.channelOpenFail = function (this: unknown, remote: number) {
    return (orig as (...a: unknown[]) => unknown).call(this, remote, 1 /* ADMINISTRATIVELY_PROHIBITED */, why);
  };
  try {
    reject();
  } finally {
    if (own) proto.channelOpenFail = orig;
    else delete proto.channelOpenFail;
  }
}

/**
 * A client's `direct-tcpip` channel (`ssh -L`, ssh2 `forwardOut`).
 *
 * Contract:
 * - The destination `host:port` (as the client names it: host names are not
 *   resolved, so list `localhost:5432` and `127.0.0.1:5432` separately if
 *   both are to work) must match a glob of the connection's `forward` list;
 *   absent = no forwarding. Otherwise the channel is refused and the attempt
 *   recorded with `session.refuse(cmd, 'forwarding to … is not allowed on
 *   this connection')`.
 * - Then `session.authorize({protocol: 'ssh', kind: 'forward', text:
 *   'forward host:port', objects: ['host:port'], flags: []})` judges it
 *   (policies can block or require approval; the channel open waits for the
 *   approval). Refused → the channel open fails "administratively
 *   prohibited" (when `deps.client` is given).
 * - Allowed → the target opens the same forward (`upstream.forwardOut`);
 *   if it cannot ("connect failed"), the result records the error. Bytes are
 *   piped both ways with backpressure; when either side closes, both close
 *   and `session.result({ms, bytesIn, bytesOut})` is recorded.
 * Never throws.
 */
export function handleDirectTcpip(
  deps: ChannelDeps,
  info: { destIP: string; destPort: number; srcIP: string; srcPort: number },
  accept: () => ServerChannel,
  reject: () => void,
): void {
  const { session, logger } = deps;
  const dest = forwardDestination(info.destIP, info.destPort);
  const cmd: Command = { protocol: 'ssh', kind: 'forward', text: `forward ${dest}`, objects: [dest], flags: [] };
  if (session.closed) {
    reject();
    return;
  }
  if (!forwardAllowed(deps.connection.options.forward, dest)) {
    const why = `forwarding to ${dest} is not allowed on this connection`;
    session.refuse(cmd, why);
    rejectProhibited(deps.client, reject, why);
    return;
  }
  const abort = new AbortController();
  const notice = (n: ApprovalNotice) =>
    logger.info({ session: session.id, request: n.requestId, dest }, 'forwarding held for approval');
  const killed = () => abort.abort();
  session.onKill(killed);
  session.authorize(cmd, notice, abort.signal).then(
    (v) => {
      if (v.effect !== 'allow') {
        rejectProhibited(deps.client, reject, v.reason);
        return;
      }
      const t0 = Date.now();
      try {
        deps.upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, up) => {
          if (err) {
            session.result({ error: `the target could not open ${dest}: ${err.message}`, ms: Date.now() - t0 });
            reject();
            return;
          }
          const ch = tryAccept(accept);
          if (!ch) {
            up.close();
            return;
          }
          pipeForward(deps, ch, up, t0);
        });
      } catch (e) {
        session.result({ error: `cannot forward to ${dest}: ${(e as Error).message}`, ms: Date.now() - t0 });
        reject();
      }
    },
    () => rejectProhibited(deps.client, reject, 'forwarding could not be judged, so it was refused'),
  );
}

/** Pipes a forwarded connection both ways, counting bytes; records once when it ends. */
function pipeForward(deps: ChannelDeps, ch: ServerChannel, up: ClientChannel, t0: number): void {
  let bytesIn = 0;
  let bytesOut = 0;
  let done = false;
  let error: string | undefined;
  ch.on('data', (d: Buffer) => (bytesIn += d.length));
  up.on('data', (d: Buffer) => (bytesOut += d.length));
  ch.pipe(up);
  up.pipe(ch);
  const finish = () => {
    if (done) return;
    done = true;
    const r: ForwardResult = { ms: Date.now() - t0, bytesIn, bytesOut };
    if (error) r.error = error;
    deps.session.result(r);
    try {
      ch.close();
    } catch {
      /* gone */
    }
    try {
      up.close();
    } catch {
      /* gone */
    }
  };
  ch.on('close', finish);
  up.on('close', finish);
  ch.on('error', (e: Error) => {
    error ??= `client side: ${e.message}`;
    finish();
  });
  up.on('error', (e: Error) => {
    error ??= `target side: ${e.message}`;
    finish();
  });
  deps.session.onKill(() => finish());
}
