import type { ErrorCode } from './types.js';

/**
 * The one error type core raises. `code` is stable; plugins translate it at
 * their edge into the client's own error format (SQLSTATE, MySQL errno, SSH
 * exit status …). `message` is safe to show to the client: it never carries
 * secrets or says which part of a credential was wrong.
 */
export class SluiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly policy?: string,
  ) {
    super(message);
    this.name = 'SluiceError';
  }
}

/** Messages shown to clients for refusals that must not reveal detail. */
export const PUBLIC_MESSAGES = {
  authFailed: 'authentication failed',
  connectionRefused: 'no such connection, or you are not allowed to use it',
} as const;

export function isSluiceError(e: unknown): e is SluiceError {
  return e instanceof SluiceError;
}
