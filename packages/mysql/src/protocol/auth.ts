import { constants, createHash, publicEncrypt, randomBytes } from 'node:crypto';

/*
 * Password scrambles of the authentication plugins.
 *
 * mysql_native_password
 *   client sends SHA1(password) XOR SHA1(scramble || SHA1(SHA1(password)))
 *   (20 bytes; empty for an empty password). The server stores
 *   SHA1(SHA1(password)) and checks the XOR.
 *
 * caching_sha2_password, fast authentication
 *   client sends SHA256(password) XOR SHA256(SHA256(SHA256(password)) || scramble)
 *   (32 bytes). If the server's in-memory cache holds the account's
 *   SHA256(SHA256(password)), it answers AuthMoreData 0x03 (fast auth
 *   success) then OK.
 *
 * caching_sha2_password, full authentication
 *   On a cache miss the server answers AuthMoreData 0x04 (perform full
 *   authentication) and needs the password itself:
 *   - over TLS (or a Unix socket) the client sends the cleartext password
 *     followed by a NUL;
 *   - otherwise the client either has the server's RSA public key or asks
 *     for it (sends 0x02; the server answers AuthMoreData with the PEM), then
 *     sends RSA-OAEP(publicKey, (password || NUL) XOR scramble), the scramble
 *     repeated cyclically (see `sha2RsaEncryptedPassword`).
 *   Sluice as a server uses this to receive the client's credential: it
 *   offers caching_sha2_password over TLS, always answers 0x04, and reads the
 *   cleartext. The alternative is an AuthSwitchRequest to
 *   mysql_clear_password (empty data), after which the client sends the
 *   cleartext password + NUL; clients only do it when allowed
 *   (MariaDB CLI: --enable-cleartext-plugin or default over TLS;
 *   mysql2: authPlugins / TLS).
 */

/** 20 random scramble bytes, none of them NUL (the handshake NUL-terminates part 2). */
export function generateScramble(length = 20): Buffer {
  const b = randomBytes(length);
  for (let i = 0; i < length; i++) {
    // Printable-ish, as servers do: 1..127, never 0.
    b[i] = (b[i] & 0x7f) || 1;
  }
  return b;
}

function sha1(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

function toBytes(password: string | Uint8Array): Buffer {
  return typeof password === 'string' ? Buffer.from(password, 'utf8') : Buffer.from(password);
}

/** Only the first 20 bytes of a scramble count (servers send 20 + NUL). */
function scramble20(scramble: Uint8Array): Buffer {
  return Buffer.from(scramble.subarray(0, 20));
}

/** mysql_native_password auth response for `password` and the server's 20-byte scramble. */
export function nativePasswordScramble(password: string | Uint8Array, scramble: Uint8Array): Buffer {
  const pw = toBytes(password);
  if (pw.length === 0) return Buffer.alloc(0);
  const stage1 = sha1(pw);
  const stage2 = sha1(stage1);
  return xor(stage1, sha1(scramble20(scramble), stage2));
}

/** Checks a mysql_native_password response against a known password (tests, a local account). */
export function verifyNativePassword(response: Uint8Array, password: string | Uint8Array, scramble: Uint8Array): boolean {
  return Buffer.from(response).equals(nativePasswordScramble(password, scramble));
}

/** caching_sha2_password fast-auth response for `password` and the server's 20-byte scramble. */
export function cachingSha2Scramble(password: string | Uint8Array, scramble: Uint8Array): Buffer {
  const pw = toBytes(password);
  if (pw.length === 0) return Buffer.alloc(0);
  const stage1 = sha256(pw);
  const stage2 = sha256(stage1);
  return xor(stage1, sha256(stage2, scramble20(scramble)));
}

/**
 * Full authentication without TLS: (password || NUL) XOR scramble (cycled),
 * encrypted with the server's RSA public key (PEM) using OAEP padding.
 */
export function sha2RsaEncryptedPassword(password: string | Uint8Array, scramble: Uint8Array, publicKeyPem: string | Buffer): Buffer {
  const pw = Buffer.concat([toBytes(password), Buffer.from([0])]);
  const s = scramble20(scramble);
  for (let i = 0; i < pw.length; i++) pw[i] ^= s[i % s.length];
  return publicEncrypt({ key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING }, pw);
}

/**
 * Reads a cleartext password as sent by mysql_clear_password or by
 * caching_sha2_password full authentication over TLS: the bytes up to a
 * trailing NUL (the NUL is optional, some clients omit it).
 */
export function cleartextPassword(response: Uint8Array): string {
  const b = Buffer.from(response.buffer, response.byteOffset, response.byteLength);
  const end = b.length > 0 && b[b.length - 1] === 0 ? b.length - 1 : b.length;
  return b.toString('utf8', 0, end);
}
