import pino from 'pino';
import type { Logger } from '@sluice/core';

/**
 * JSON logs to stderr. Fields that could carry a credential are redacted by
 * path; callers never log passwords or secrets in the first place.
 */
export function createLogger(level = process.env.SLUICE_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: ['password', 'secret', 'token', 'credential', '*.password', '*.secret', '*.token', '*.credential'], censor: '[redacted]' },
    },
    pino.destination(2),
  );
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
