import type { ErrorCode } from '@sluice/core';
import { BufferWriter, writeErr } from './protocol/index.js';

/** Core error codes in MySQL's own language: error number and SQLSTATE. */
const CODES: Record<ErrorCode, [number, string]> = {
  SLUICE_POLICY_DENIED: [1142, '42000'], // ER_TABLEACCESS_DENIED_ERROR
  SLUICE_APPROVAL_DENIED: [1142, '42000'],
  SLUICE_APPROVAL_TIMEOUT: [1142, '42000'],
  SLUICE_APPROVAL_CANCELLED: [1142, '42000'],
  SLUICE_AUTH_FAILED: [1045, '28000'], // ER_ACCESS_DENIED_ERROR
  SLUICE_CONNECTION_REFUSED: [1044, '42000'], // ER_DBACCESS_DENIED_ERROR
  SLUICE_PARSE_ERROR: [1064, '42000'], // ER_PARSE_ERROR
  SLUICE_RECORDING_FAILED: [1105, 'HY000'], // ER_UNKNOWN_ERROR
  SLUICE_INTERNAL: [1105, 'HY000'],
  SLUICE_UPSTREAM_UNAVAILABLE: [2013, 'HY000'], // CR_SERVER_LOST
  SLUICE_PROTOCOL_VIOLATION: [1835, '08S01'], // ER_MALFORMED_PACKET
  SLUICE_SESSION_KILLED: [1927, '70100'], // ER_CONNECTION_KILLED
};

export function mysqlErrorCode(code: ErrorCode): [number, string] {
  return CODES[code] ?? [1105, 'HY000'];
}

/** An ERR packet for a core error (or an explicit MySQL error number). */
export function errPacket(code: ErrorCode | number, message: string, seq = 1, sqlState?: string): Buffer {
  const [n, state] = typeof code === 'number' ? [code, sqlState ?? 'HY000'] : mysqlErrorCode(code);
  const w = new BufferWriter(64 + message.length * 2);
  writeErr(w, seq, { code: n, sqlState: sqlState ?? state, message });
  return w.take();
}

/** MySQL errors the plugin raises itself. */
export const MyErr = {
  /** ER_NO_DB_ERROR */
  noDatabase: [1046, '3D000'],
  /** ER_NOT_SUPPORTED_YET */
  notSupported: [1235, '42000'],
  /** ER_SPECIFIC_ACCESS_DENIED_ERROR */
  accessDenied: [1227, '42000'],
  /** ER_DBACCESS_DENIED_ERROR */
  dbAccessDenied: [1044, '42000'],
  /** ER_UNKNOWN_COM_ERROR */
  unknownCommand: [1047, '08S01'],
  /** ER_ACCESS_DENIED_ERROR */
  authFailed: [1045, '28000'],
  /** ER_UNKNOWN_STMT_HANDLER */
  unknownStatement: [1243, 'HY000'],
} as const;
