/**
 * The ssh2 library for tests at the repository root, loaded from the ssh
 * package's own dependencies (the root has no ssh2 dependency).
 */
import { createRequire } from 'node:module';
import type * as Ssh2 from '../../packages/ssh/node_modules/@types/ssh2/index.js';

const require = createRequire(new URL('../../packages/ssh/package.json', import.meta.url));
export const ssh2 = require('ssh2') as typeof Ssh2;
export type { Ssh2 };
