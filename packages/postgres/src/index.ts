export { postgresPlugin, type PostgresPluginOptions } from './plugin.js';
export { parseTarget, connectUpstream, type TargetSettings } from './upstream.js';
