import type { ErrorCode } from '@sluice/core';
import { BackendWriter, type ErrorFields } from './protocol/index.js';

/** Core error codes in PostgreSQL's own language (SQLSTATE). */
const SQLSTATE: Record<ErrorCode, string> = {
  SLUICE_POLICY_DENIED: '42501', // insufficient_privilege
  SLUICE_APPROVAL_DENIED: '42501',
  SLUICE_APPROVAL_TIMEOUT: '42501',
  SLUICE_APPROVAL_CANCELLED: '42501',
  SLUICE_AUTH_FAILED: '28P01', // invalid_password
  SLUICE_CONNECTION_REFUSED: '28000', // invalid_authorization_specification
  SLUICE_PARSE_ERROR: '42601', // syntax_error
  SLUICE_RECORDING_FAILED: '58000', // system_error
  SLUICE_INTERNAL: 'XX000',
  SLUICE_UPSTREAM_UNAVAILABLE: '08006', // connection_failure
  SLUICE_PROTOCOL_VIOLATION: '08P01',
  SLUICE_SESSION_KILLED: '57P01', // admin_shutdown
};

export function sqlstate(code: ErrorCode): string {
  return SQLSTATE[code] ?? 'XX000';
}

/** An ErrorResponse (severity ERROR or FATAL) for a core error. */
export function errorMessage(code: ErrorCode, message: string, severity: 'ERROR' | 'FATAL' = 'ERROR', extra: Partial<ErrorFields> = {}): Buffer {
  return new BackendWriter().errorResponse({ severity, code: sqlstate(code), message, ...extra }).take();
}

export function noticeMessage(message: string, detail?: string): Buffer {
  return new BackendWriter().noticeResponse({ severity: 'NOTICE', code: '01000', message, detail }).take();
}
