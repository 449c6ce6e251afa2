import type { Client, Connection, ServerChannel } from 'ssh2';
import type { ConnectionConfig, Logger, Session } from '@sluice/core';

/**
 * What a channel handler (sftp subsystem, direct-tcpip forwarding) needs from
 * the SSH plugin: the client's session (policy, recording), the ssh2 client
 * already connected and authenticated to the target, a logger and the
 * connection's configuration (`options.forward` for forwarding).
 */
export interface ChannelDeps {
  session: Session;
  upstream: Client;
  logger: Logger;
  connection: ConnectionConfig;
  /**
   * The client's ssh2 server-side connection. Optional: when given, refused
   * forwarding channels are answered "administratively prohibited" with a
   * reason (ssh2's own `reject()` can only say "connect failed").
   */
  client?: Connection;
}

/** ssh2's accept(), or undefined when the client went away meanwhile (accept throws or returns nothing then). */
export function tryAccept(accept: () => ServerChannel | undefined): ServerChannel | undefined {
  try {
    return accept();
  } catch {
    return undefined;
  }
}
