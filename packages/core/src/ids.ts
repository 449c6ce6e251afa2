import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

/**
 * A short, time-sortable, unguessable id: `prefix` + 10 chars of milliseconds
 * + 10 random chars (50 bits).
 */
export function newId(prefix: string): string {
  let t = Date.now();
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const r = randomBytes(10);
  let rand = '';
  for (let i = 0; i < 10; i++) rand += ALPHABET[r[i]! & 31];
  return `${prefix}${time}${rand}`;
}
