/**
 * Micro-benchmark of ResultMasker.cell. Run:
 *   cd /work/main && npx vitest bench packages/core/src/mask --run
 * Each benchmark iteration masks BATCH cells, so ns/cell = (1e9 / hz) / BATCH.
 */
import { bench, describe } from 'vitest';
import { DETECTOR_NAMES } from '../types.js';
import { createMasker } from './index.js';

const BATCH = 1000;
const key = Buffer.from('bench-key-0123456789abcdef');
const all = createMasker([{ detectors: [...DETECTOR_NAMES] }], { hashKey: key })!;
const hashed = createMasker([{ detectors: [...DETECTOR_NAMES], strategy: 'hash' }], { hashKey: key })!;
const cols = createMasker([{ columns: ['*.ssn'], detectors: [...DETECTOR_NAMES] }], { hashKey: key })!;

const r = all.forResult([{ name: 'v' }]);
const rh = hashed.forResult([{ name: 'v' }]);
const rc = cols.forResult([{ name: 'ssn' }, { name: 'v' }]);

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const PROSE =
  'Customer called on 2024-01-05 about order 88231 (3 items, total 149.95 EUR); shipped via DHL, tracking 1Z999AA10123456784, ETA 2 days.';

const cases: Record<string, string> = {
  'short name (no match)': 'Alice Johnson',
  'small integer (no match)': '42',
  'bigint id (no match)': '1700000000000123',
  'timestamp (no match)': '2024-01-05 12:34:56.789+00',
  'uuid (no match)': '3f2b8c1e-9a4d-4e6b-8f0a-1c2d3e4f5a6b',
  '130-char prose (no match)': PROSE,
  'card in text': 'card 4111 1111 1111 1111 ok',
  'email': 'bob.smith@example.com',
  'ssn': '123-45-6789',
  'phone': '(415) 555-0132',
  'iban': 'DE89 3704 0044 0532 0130 00',
  'jwt': JWT,
};

for (const [label, value] of Object.entries(cases)) {
  describe(label, () => {
    bench(`redact x${BATCH}`, () => {
      for (let i = 0; i < BATCH; i++) r.cell(0, value);
    });
  });
}
describe('hash strategy', () => {
  bench(`email hash x${BATCH}`, () => {
    for (let i = 0; i < BATCH; i++) rh.cell(0, 'bob.smith@example.com');
  });
});
describe('column rule', () => {
  bench(`whole-column redact x${BATCH}`, () => {
    for (let i = 0; i < BATCH; i++) rc.cell(0, '123456789');
  });
});
