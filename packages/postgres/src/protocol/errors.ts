/**
 * Raised for anything on the wire that breaks the PostgreSQL protocol: a bad
 * length word, a truncated or over-long message, an unknown message type, a
 * missing NUL. The server answers it with SQLSTATE 08P01 and closes.
 */
export class ProtocolError extends Error {
  readonly code = 'SLUICE_PROTOCOL_VIOLATION' as const;

  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

