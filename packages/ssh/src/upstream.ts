import ssh2 from 'ssh2';
import type { ConnectionConfig, Logger } from '@sluice/core';
import { fingerprint } from './host-key.js';

export interface SshTarget {
  host: string;
  port: number;
  username: string;
}

/** `ssh://user@host:22` → parts (port 22 by default). Throws a one-line message for anything else. */
export function parseSshTarget(target: string): SshTarget {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new Error(`invalid SSH target "${target}" (expected ssh://user@host:22)`);
  }
  if (url.protocol !== 'ssh:') throw new Error(`invalid SSH target "${target}" (expected ssh://user@host:22)`);
  if (!url.username) throw new Error(`the SSH target "${target}" names no user (expected ssh://user@host:22)`);
  const port = url.port ? Number(url.port) : 22;
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port, username: decodeURIComponent(url.username) };
}

/** Why the upstream connection failed, in words fit for the user's terminal (no secrets). */
export class UpstreamError extends Error {
  constructor(
    message: string,
    /** 'host-key' for a pinned host key mismatch (a possible man-in-the-middle). */
    readonly kind: 'host-key' | 'auth' | 'network' | 'config',
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface UpstreamOptions {
  /** Connect + key exchange + authentication must finish within this (ms). */
  timeoutMs: number;
  logger: Logger;
}

function normalizeFingerprint(fp: string): string {
  return fp.trim().replace(/=+$/, '');
}

/**
 * Opens the upstream SSH connection of one client connection with the
 * gateway-held credential (`secrets.privateKey`, else or also
 * `secrets.password`; `secrets.passphrase` for an encrypted key).
 *
 * The target's host key must match `options.hostKey` ('SHA256:…') when it is
 * set; a mismatch is refused, logged at error level with both fingerprints,
 * and rejected with an UpstreamError of kind 'host-key' whose message the
 * plugin shows the user. Without a pinned key the connection proceeds and
 * the seen fingerprint is logged as a warning (the config loader warns too).
 *
 * Resolves with the ready ssh2 client; rejects with an UpstreamError.
 */
export function connectUpstream(conn: ConnectionConfig, opts: UpstreamOptions): Promise<ssh2.Client> {
  let target: SshTarget;
  try {
    target = parseSshTarget(conn.target);
  } catch (e) {
    return Promise.reject(new UpstreamError((e as Error).message, 'config'));
  }
  const pinned = typeof conn.options.hostKey === 'string' ? normalizeFingerprint(conn.options.hostKey) : null;
  const privateKey = conn.secrets.privateKey;
  const password = conn.secrets.password;
  if (!privateKey && !password) {
    return Promise.reject(new UpstreamError(`the connection "${conn.name}" has no privateKey or password for the target`, 'config'));
  }
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let seen: string | null = null;
    let mismatch = false;
    let settled = false;
    const fail = (err: UpstreamError) => {
      if (settled) return;
      settled = true;
      client.removeAllListeners('ready');
      client.on('error', () => undefined);
      client.end();
      reject(err);
    };
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      if (!pinned) opts.logger.warn({ connection: conn.name, hostKey: seen }, 'ssh: the target host key is not pinned (set hostKey)');
      resolve(client);
    });
    client.on('error', (e: Error & { level?: string }) => {
      if (mismatch) {
        fail(
          new UpstreamError(
            `the host key of "${conn.name}" (${target.host}:${target.port}) is ${seen}, not the pinned ${pinned}; refusing to connect (the host was re-keyed or someone is intercepting the connection)`,
            'host-key',
          ),
        );
      } else if (e.level === 'client-authentication') {
        fail(new UpstreamError(`the target of "${conn.name}" refused the gateway's credential`, 'auth'));
      } else if (e.level === 'client-timeout') {
        fail(new UpstreamError(`timed out connecting to the target of "${conn.name}"`, 'network'));
      } else {
        fail(new UpstreamError(`cannot reach the target of "${conn.name}": ${e.message}`, 'network'));
      }
    });
    client.on('close', () => fail(new UpstreamError(`the target of "${conn.name}" closed the connection`, 'network')));
    try {
      client.connect({
        host: target.host,
        port: target.port,
        username: target.username,
        privateKey,
        passphrase: conn.secrets.passphrase,
        password,
        readyTimeout: opts.timeoutMs,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          seen = fingerprint(key);
          if (pinned && seen !== pinned) {
            mismatch = true;
            opts.logger.error(
              { connection: conn.name, target: `${target.host}:${target.port}`, expected: pinned, got: seen },
              'ssh: target host key mismatch; refusing to connect',
            );
            return false;
          }
          return true;
        },
      });
    } catch (e) {
      fail(new UpstreamError(`cannot connect to the target of "${conn.name}": ${(e as Error).message}`, 'config'));
    }
  });
}
