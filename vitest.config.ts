import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@sluice\/core\/testing$/, replacement: src('./packages/core/src/testing/index.ts') },
      { find: /^@sluice\/core$/, replacement: src('./packages/core/src/index.ts') },
      { find: /^@sluice\/sql$/, replacement: src('./packages/sql/src/index.ts') },
      { find: /^@sluice\/store-sqlite$/, replacement: src('./packages/store-sqlite/src/index.ts') },
      { find: /^@sluice\/postgres$/, replacement: src('./packages/postgres/src/index.ts') },
      { find: /^@sluice\/identity-oidc$/, replacement: src('./packages/identity-oidc/src/index.ts') },
      { find: /^@sluice\/mysql$/, replacement: src('./packages/mysql/src/index.ts') },
      { find: /^@sluice\/ssh$/, replacement: src('./packages/ssh/src/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'tests/**/*.test.ts', 'tools/*/src/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', '**/*.tmp.test.ts'],
    testTimeout: 30000,
    hookTimeout: 60000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-report.json' },
  },
});
