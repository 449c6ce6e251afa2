export { sshPlugin, type SshPluginOptions } from './plugin.js';
export * from './shell/index.js';
export * from './terminal/index.js';
