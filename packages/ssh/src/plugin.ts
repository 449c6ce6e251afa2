import type { Socket } from 'node:net';
import ssh2 from 'ssh2';
import {
  PUBLIC_MESSAGES,
  isSluiceError,
  listenTcp,
  type GatewayContext,
  type Identity,
  type Listener,
  type ProtocolPlugin,
  type Session,
} from '@sluice/core';
import { loadOrCreateHostKey } from './host-key.js';
import { connectUpstream, UpstreamError } from './upstream.js';
import { serveConnection, serveRefused } from './connection.js';

export interface SshPluginOptions {
  /** Key exchange and authentication must finish within this (default 60 s; sshd's LoginGraceTime is 120 s). */
  startupTimeoutMs?: number;
  /** Connect + authenticate to the target within this (default 10 s). */
  upstreamTimeoutMs?: number;
  /** Failed authentication attempts before the client is disconnected (default 6, like sshd's MaxAuthTries). */
  maxAuthTries?: number;
  /** Idle time after which a masker's held-back output is flushed (default 20 ms). */
  maskIdleMs?: number;
}

const METHODS: ssh2.AuthenticationType[] = ['publickey', 'password', 'keyboard-interactive'];
const KBD_PROMPT = 'Sluice credential (API key or token): ';
/** Public keys a client may offer (without a signature) before it is disconnected. */
const MAX_KEY_PROBES = 20;

/**
 * The SSH protocol plugin: an SSH server (ssh2) in front of SSH targets.
 *
 *   ssh -p 12222 web-1@gateway             the SSH user name selects the connection
 *
 * Client authentication, tried in the order the client offers:
 * - `publickey`: a key registered to an identity (`sluice keys add-ssh`); the
 *   signature is verified before the key counts (a signature-less probe only
 *   learns whether the key would be accepted);
 * - `password`: the password is the Sluice credential (API key `sk_…` or JWT);
 * - `keyboard-interactive`: one hidden prompt for the same credential.
 *
 * Refusals. A bad credential is an ordinary SSH authentication failure
 * ("Permission denied"), whatever the user name; after `maxAuthTries`
 * failures the client is disconnected. A good credential for a connection
 * that does not exist, is not SSH, or is not granted to the identity is let
 * through authentication and then refused identically for all three: every
 * session request (shell, exec, subsystem) prints
 * `sluice: no such connection, or you are not allowed to use it` on stderr
 * and exits with status 1, port forwards are rejected, and the client is
 * disconnected. This is what an ssh user can read (an authentication
 * failure would say nothing about why), and it reveals nothing to anyone
 * without a valid credential, nor which of the three cases applies.
 * A target that cannot be reached, refuses the gateway's credential, or
 * presents a host key other than the pinned `hostKey` is reported the same
 * way with the reason (exit status 255); a host key mismatch is also logged
 * at error level.
 *
 * Key exchange and authentication must finish within `startupTimeoutMs`;
 * a client that stalls or sends garbage instead of an SSH banner is dropped
 * without affecting others. The host key is an ed25519 key generated once
 * into `<dataDir>/ssh_host_ed25519_key`.
 *
 * After authentication: one upstream SSH connection per client connection
 * (see connection.ts for channels, exec, shells, sftp and forwarding).
 */
export function sshPlugin(opts: SshPluginOptions = {}): ProtocolPlugin {
  const startupTimeoutMs = opts.startupTimeoutMs ?? 60_000;
  return {
    name: 'ssh',
    async listen(ctx: GatewayContext, address: string): Promise<Listener> {
      const hostKey = loadOrCreateHostKey(ctx.dataDir);
      ctx.logger.info({ fingerprint: hostKey.fingerprint }, 'ssh: host key');
      return listenTcp(address, ctx.logger, 'ssh', (raw, started) => serveClient(ctx, raw, started, hostKey.pem, opts, startupTimeoutMs));
    },
  };
}

/** What authentication settled on, decided once per client connection. */
type Established =
  | { kind: 'session'; session: Session; upstream: ssh2.Client }
  | { kind: 'refused'; message: string; status: number };

function serveClient(
  ctx: GatewayContext,
  raw: Socket,
  started: () => void,
  hostKey: string,
  opts: SshPluginOptions,
  startupTimeoutMs: number,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    const finishStartup = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      started();
      resolve();
    };
    // A client that stalls before authentication completes (key exchange, auth prompts) is dropped.
    const timer = setTimeout(() => {
      ctx.logger.info({ client: `${raw.remoteAddress}:${raw.remotePort}` }, 'ssh: client did not authenticate in time; dropped');
      raw.destroy();
      finishStartup();
    }, startupTimeoutMs);
    raw.once('close', finishStartup);

    const server = new ssh2.Server(
      { hostKeys: [hostKey], ident: 'Sluice', keepaliveInterval: 15_000, keepaliveCountMax: 4 } as ssh2.ServerConfig,
      (client, info) => {
        client.on('error', (e: Error) => ctx.logger.debug({ err: e.message }, 'ssh: client connection error'));
        handleClient(ctx, raw, client, info, opts, finishStartup);
      },
    );
    server.on('error', () => undefined);
    server.injectSocket(raw);
  });
}

function handleClient(
  ctx: GatewayContext,
  raw: Socket,
  client: ssh2.Connection,
  info: ssh2.ClientInfo,
  opts: SshPluginOptions,
  finishStartup: () => void,
): void {
  const address = `${info.ip}:${info.port}`;
  const application = info.header?.versions?.software;
  const maxAuthTries = opts.maxAuthTries ?? 6;
  let failures = 0;
  let probes = 0;
  let gone = false;
  let established: Established | null = null;
  let establishing = false;
  let readySeen = false;

  client.once('close', () => {
    gone = true;
    finishStartup();
    if (established?.kind === 'session' && !readySeen) {
      // Disconnected between authentication and 'ready': nothing will serve the session.
      established.upstream.end();
      void established.session.close('client disconnected');
    }
  });

  const fail = (ctxAuth: ssh2.AuthContext) => {
    failures++;
    ctx.logger.info({ client: address, user: ctxAuth.username, method: ctxAuth.method }, 'ssh: authentication failed');
    ctxAuth.reject(METHODS);
    if (failures >= maxAuthTries) {
      ctx.logger.info({ client: address }, 'ssh: too many authentication failures; disconnecting');
      client.end();
    }
  };

  /** Opens the session and the upstream for an authenticated identity; never throws. */
  const establish = async (identity: Identity, connectionName: string): Promise<Established> => {
    let session: Session;
    try {
      session = await ctx.openSession(identity, connectionName, { address, application }, 'ssh');
    } catch (e) {
      const message = isSluiceError(e) && e.code !== 'SLUICE_CONNECTION_REFUSED' ? e.message : PUBLIC_MESSAGES.connectionRefused;
      return { kind: 'refused', message, status: 1 };
    }
    try {
      const upstream = await connectUpstream(session.connection, { timeoutMs: opts.upstreamTimeoutMs ?? 10_000, logger: ctx.logger });
      if (gone) {
        upstream.end();
        await session.close('client disconnected');
        return { kind: 'refused', message: 'client disconnected', status: 255 };
      }
      return { kind: 'session', session, upstream };
    } catch (e) {
      const message = e instanceof UpstreamError ? e.message : `cannot connect to the target of "${connectionName}"`;
      ctx.logger.warn({ connection: connectionName, err: message }, 'ssh: target unavailable');
      await session.close(`target unavailable: ${message}`);
      return { kind: 'refused', message, status: 255 };
    }
  };

  const succeed = async (authCtx: ssh2.AuthContext, identity: Identity) => {
    if (established || establishing) return authCtx.reject(METHODS);
    establishing = true;
    const result = await establish(identity, authCtx.username);
    establishing = false;
    if (gone) {
      if (result.kind === 'session') {
        result.upstream.end();
        await result.session.close('client disconnected');
      }
      return;
    }
    established = result;
    authCtx.accept();
  };

  client.on('authentication', (authCtx) => {
    void (async () => {
      try {
        switch (authCtx.method) {
          case 'password': {
            const credential = authCtx.password;
            const identity = credential ? await ctx.authenticate(credential) : null;
            if (!identity) return fail(authCtx);
            return await succeed(authCtx, identity);
          }
          case 'keyboard-interactive': {
            const answers = await new Promise<string[]>((r) =>
              authCtx.prompt([{ prompt: KBD_PROMPT, echo: false }], 'Sluice', 'Enter your Sluice API key (sk_…) or token.', r),
            );
            const credential = answers?.[0];
            const identity = credential ? await ctx.authenticate(credential) : null;
            if (!identity) return fail(authCtx);
            return await succeed(authCtx, identity);
          }
          case 'publickey': {
            const key = { algo: authCtx.key.algo, data: authCtx.key.data };
            if (!authCtx.signature || !authCtx.blob) {
              // A probe: say whether this key would do, without counting it as a failure.
              const identity = await ctx.authenticatePublicKey(key);
              if (identity) return authCtx.accept();
              // Unknown keys are not failures (clients offer every key they hold), but they are bounded.
              authCtx.reject(METHODS);
              if (++probes >= MAX_KEY_PROBES) client.end();
              return;
            }
            const parsed = ssh2.utils.parseKey(authCtx.key.data);
            const ok =
              !(parsed instanceof Error) &&
              !Array.isArray(parsed) &&
              parsed.type === authCtx.key.algo &&
              parsed.verify(authCtx.blob, authCtx.signature, authCtx.hashAlgo) === true;
            const identity = ok ? await ctx.authenticatePublicKey(key) : null;
            if (!identity) return fail(authCtx);
            return await succeed(authCtx, identity);
          }
          default:
            // 'none' (the client asking which methods exist) and 'hostbased' (not supported).
            return authCtx.reject(METHODS);
        }
      } catch (e) {
        ctx.logger.error({ err: (e as Error).message }, 'ssh: authentication failed inside the gateway; refusing');
        try {
          fail(authCtx);
        } catch {
          client.end();
        }
      }
    })();
  });

  client.on('ready', () => {
    readySeen = true;
    finishStartup();
    const est = established;
    if (!est) return client.end();
    // Channel handlers must be registered synchronously here (ssh2 drops sessions otherwise).
    try {
      if (est.kind === 'refused') return serveRefused(client, est.message, est.status);
      serveConnection(client, raw, { session: est.session, upstream: est.upstream, logger: ctx.logger, maskIdleMs: opts.maskIdleMs ?? 20 });
    } catch (e) {
      ctx.logger.error({ err: (e as Error).message }, 'ssh: failed to serve an authenticated client; disconnecting');
      if (est.kind === 'session') {
        est.upstream.end();
        void est.session.close('gateway error');
      }
      client.end();
    }
  });
}
