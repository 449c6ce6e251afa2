export * from './types.js';
export * from './store.js';
