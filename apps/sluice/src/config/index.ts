export {
  analyzeConfigText,
  checkConfig,
  loadConfig,
  parseConfigText,
  DEFAULT_ADMIN_LISTEN,
  DEFAULT_APPROVAL_TIMEOUT_MS,
  DEFAULT_DATA_DIR,
  MAX_TIMEOUT_MS,
  PROTOCOLS,
} from './load.js';
export type { CheckResult, GatewayConfig, Protocol } from './load.js';
export { ConfigError, formatDiagnostic } from './errors.js';
export { parseDuration, formatDuration, DURATION_HINT } from './duration.js';
export { resolveRefs } from './secrets.js';
