export * from './protocol/index.js';
export { mysqlPlugin, type MysqlPluginOptions } from './plugin.js';
export { parseMysqlTarget, connectUpstream, type MysqlTarget, type MysqlUpstream } from './upstream.js';
