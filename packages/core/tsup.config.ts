import { defineConfig } from 'tsup';
export default defineConfig({ entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' }, format: ['esm'], target: 'node20', sourcemap: true, clean: true, dts: false, external: [/^@sluice\//] });
