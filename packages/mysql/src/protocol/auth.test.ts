import { createHash, generateKeyPairSync, privateDecrypt, constants } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cachingSha2Scramble,
  cleartextPassword,
  generateScramble,
  nativePasswordScramble,
  sha2RsaEncryptedPassword,
  verifyNativePassword,
} from './auth.js';

const h = (alg: string, ...parts: Buffer[]) => {
  const x = createHash(alg);
  parts.forEach((p) => x.update(p));
  return x.digest();
};
const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((v, i) => v ^ b[i]));

describe('auth scrambles', () => {
  it('generateScramble gives 20 non-NUL bytes', () => {
    const s = generateScramble();
    expect(s.length).toBe(20);
    expect(s.includes(0)).toBe(false);
  });

  it('mysql_native_password passes the server-side check', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.uint8Array({ minLength: 20, maxLength: 21 }), (pw, scr) => {
        const scramble = Buffer.from(scr);
        const stored = h('sha1', h('sha1', Buffer.from(pw)));
        const resp = nativePasswordScramble(pw, scramble);
        // server: SHA1(resp XOR SHA1(scramble || stored)) == stored
        const stage1 = xor(resp, h('sha1', scramble.subarray(0, 20), stored));
        expect(h('sha1', stage1).equals(stored)).toBe(true);
        expect(verifyNativePassword(resp, pw, scramble)).toBe(true);
      }),
      { numRuns: 100 },
    );
    expect(nativePasswordScramble('', generateScramble()).length).toBe(0);
  });

  it('caching_sha2_password fast auth passes the server-side check', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.uint8Array({ minLength: 20, maxLength: 20 }), (pw, scr) => {
        const scramble = Buffer.from(scr);
        const stored = h('sha256', h('sha256', Buffer.from(pw)));
        const resp = cachingSha2Scramble(pw, scramble);
        expect(resp.length).toBe(32);
        const stage1 = xor(resp, h('sha256', stored, scramble));
        expect(h('sha256', stage1).equals(stored)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('RSA full authentication decrypts to the XORed password', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const scramble = generateScramble();
    const enc = sha2RsaEncryptedPassword('s3cret', scramble, publicKey.export({ type: 'spki', format: 'pem' }));
    const plain = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, enc);
    const pw = Buffer.from(plain.map((v, i) => v ^ scramble[i % 20]));
    expect(cleartextPassword(pw)).toBe('s3cret');
    expect(cleartextPassword(Buffer.from('abc'))).toBe('abc');
  });
});
