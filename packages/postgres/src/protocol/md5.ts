import { createHash } from 'node:crypto';

function md5hex(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/**
 * The PasswordMessage for AuthenticationMD5Password:
 * 'md5' + md5hex(md5hex(password + user) + salt).
 */
export function md5Password(user: string, password: string, salt: Uint8Array): string {
  if (salt.length !== 4) throw new RangeError(`md5 salt must be 4 bytes, got ${salt.length}`);
  const inner = md5hex(password + user);
  return 'md5' + md5hex(Buffer.concat([Buffer.from(inner, 'latin1'), salt]));
}
