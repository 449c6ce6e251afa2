/**
 * Raised for anything on the wire that breaks the MySQL client/server
 * protocol: a truncated packet, a bad length-encoded integer, a packet out of
 * sequence, a logical packet over the size limit. The gateway answers it with
 * ERR 1835 / 08S01 (malformed packet) and closes the connection.
 */
export class ProtocolError extends Error {
  readonly code = 'SLUICE_PROTOCOL_VIOLATION' as const;

  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}
