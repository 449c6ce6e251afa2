/**
 * PostgreSQL frontend bytes and backend fields, written by hand for tests
 * that drive the gateway on raw sockets: they must not share the gateway's
 * own codec, which is what they judge.
 */

/** A 32-bit big-endian word; negative values (a NULL's length, -1) and absurd ones are written as their bits. */
export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

/** A typed frontend message: type byte, length word, body. */
export function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from(type, 'latin1'), int32(body.length + 4), body]);
}

/** The fields of an ErrorResponse or NoticeResponse body, by their one-letter codes. */
export function errorFields(body: Buffer): Record<string, string> {
  const f: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const end = body.indexOf(0, i + 1);
    if (end < 0) break;
    f[String.fromCharCode(body[i]!)] = body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return f;
}
