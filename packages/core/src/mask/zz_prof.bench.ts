import { bench, describe } from 'vitest';
import { DETECTOR_NAMES } from '../types.js';
import { detectors, countDigits } from './detectors.js';
const vals = { ts: '2024-01-05 12:34:56.789+00', uuid: '3f2b8c1e-9a4d-4e6b-8f0a-1c2d3e4f5a6b', big: '1700000000000123' };
for (const [k, v] of Object.entries(vals)) describe(k, () => {
  for (const n of DETECTOR_NAMES) bench(n, () => { for (let i = 0; i < 1000; i++) detectors[n].find(v); });
  bench('countDigits', () => { for (let i = 0; i < 1000; i++) countDigits(v, 13); });
});
