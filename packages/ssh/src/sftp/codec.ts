/**
 * A small SFTP (version 3, draft-ietf-secsh-filexfer-02, as OpenSSH speaks it)
 * framer and request/reply reader, hand-written for Sluice: the proxy keeps
 * every packet's original bytes and only reads the few fields it judges or
 * counts (paths, open flags, handles, data lengths, status codes).
 *
 * Wire shape of every packet: `uint32 length` (of what follows), `byte type`,
 * then — for every type but INIT and VERSION — `uint32 request-id`, then the
 * type's payload. Strings are `uint32 length` + bytes.
 */

export const FXP = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/** SSH_FXP_OPEN pflags. */
export const PFLAG = { READ: 0x01, WRITE: 0x02, APPEND: 0x04, CREAT: 0x08, TRUNC: 0x10, EXCL: 0x20 } as const;

/** SSH_FX_* status codes. */
export const FX = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  OP_UNSUPPORTED: 8,
} as const;

/** Packet types a client may send (version 3 plus EXTENDED). */
export const CLIENT_TYPES: ReadonlySet<number> = new Set([1, ...Array.from({ length: 18 }, (_, i) => i + 3), 200]);
/** Packet types a server may send. */
export const SERVER_TYPES: ReadonlySet<number> = new Set([2, 101, 102, 103, 104, 105, 201]);

/**
 * Largest accepted `length` field: OpenSSH caps a whole SFTP message at
 * 256 KiB; on top of that we allow 1 KiB for headers (type, id, handle,
 * offset, data length) so a client that sends 256 KiB of data per WRITE
 * still passes.
 */
export const MAX_PACKET_LENGTH = 256 * 1024 + 1024;

export interface SftpPacket {
  /** The whole packet as it arrived, length prefix included (a view into the input when it lay in one chunk). */
  bytes: Buffer;
  type: number;
  /** Request id; -1 for INIT and VERSION, which have none. */
  id: number;
}

export interface FrameError {
  error: string;
}

export function isFrameError<T extends object>(f: T | FrameError | null): f is FrameError {
  return f !== null && 'error' in f;
}

/**
 * Incremental framer: `push` chunks as they arrive, then call `next` until it
 * returns null (needs more bytes). It never throws on input: a length that is
 * zero, too short for the type's header or over `maxLength`, or a type not in
 * `types`, yields a FrameError — as soon as the header shows it, without
 * waiting for the body — and every later call yields the same error (the
 * stream cannot be resynchronised).
 */
export class SftpFramer {
  private readonly chunks: Buffer[] = [];
  /** Read offset into chunks[0]. */
  private off = 0;
  private avail = 0;
  private failed: FrameError | null = null;

  constructor(
    private readonly types: ReadonlySet<number>,
    private readonly maxLength = MAX_PACKET_LENGTH,
  ) {}

  /** Bytes pushed but not yet returned as packets. */
  get buffered(): number {
    return this.avail;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.avail += chunk.length;
  }

  private peek(i: number): number {
    let k = 0;
    let at = this.off + i;
    while (at >= this.chunks[k]!.length) {
      at -= this.chunks[k]!.length;
      k++;
    }
    return this.chunks[k]![at]!;
  }

  private peekU32(i: number): number {
    return ((this.peek(i) << 24) | (this.peek(i + 1) << 16) | (this.peek(i + 2) << 8) | this.peek(i + 3)) >>> 0;
  }

  next(): SftpPacket | FrameError | null {
    if (this.failed) return this.failed;
    if (this.avail < 4) return null;
    const length = this.peekU32(0);
    if (length > this.maxLength) return this.fail(`packet length ${length} exceeds the limit of ${this.maxLength}`);
    if (length < 1) return this.fail('empty packet');
    if (this.avail < 5) return null;
    const type = this.peek(4);
    if (!this.types.has(type)) return this.fail(`unexpected packet type ${type}`);
    // INIT/VERSION carry a uint32 version; the others a uint32 request id.
    if (length < 5) return this.fail(`packet of type ${type} too short (${length} bytes)`);
    const total = 4 + length;
    if (this.avail < total) return null;
    const bytes = this.take(total);
    const id = type === FXP.INIT || type === FXP.VERSION ? -1 : bytes.readUInt32BE(5);
    return { bytes, type, id };
  }

  private fail(error: string): FrameError {
    this.failed = { error };
    this.chunks.length = 0;
    this.avail = 0;
    return this.failed;
  }

  /** Removes and returns the next n bytes (a view when they lie in one chunk, else a copy). */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    this.avail -= n;
    if (first.length - this.off >= n) {
      const out = first.subarray(this.off, this.off + n);
      this.off += n;
      if (this.off === first.length) {
        this.chunks.shift();
        this.off = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const m = Math.min(n - filled, c.length - this.off);
      c.copy(out, filled, this.off, this.off + m);
      filled += m;
      this.off += m;
      if (this.off === c.length) {
        this.chunks.shift();
        this.off = 0;
      }
    }
    return out;
  }
}

// ------------------------------------------------------------------ fields

class Truncated extends Error {}

/** Reads fields from one packet's payload; throws Truncated past the end (caught by the parse functions). */
class Reader {
  constructor(
    private readonly b: Buffer,
    private o: number,
  ) {}
  u32(): number {
    if (this.o + 4 > this.b.length) throw new Truncated();
    const v = this.b.readUInt32BE(this.o);
    this.o += 4;
    return v;
  }
  skip(n: number): void {
    if (this.o + n > this.b.length) throw new Truncated();
    this.o += n;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (this.o + n > this.b.length) throw new Truncated();
    const v = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }
}

/** A request as Sluice reads it; the bytes are forwarded as they came. */
export interface SftpRequest {
  type: number;
  /** -1 for INIT. */
  id: number;
  /**
   * Paths the request names, in wire order, decoded as UTF-8 (invalid bytes
   * become U+FFFD), as sent (not yet resolved against the home directory).
   */
  paths: string[];
  /** Whether a path contains a NUL byte (the server would cut it there). */
  nul?: boolean;
  /** Handle of a handle request (CLOSE, READ, WRITE, FSTAT, FSETSTAT, READDIR, handle extensions), as a latin1 key. */
  handle?: string;
  /** OPEN flags. */
  pflags?: number;
  /** WRITE: bytes of data carried. */
  dataLength?: number;
  /** EXTENDED: the extension name. */
  extension?: string;
}

/** Extensions whose payload starts with paths: how many. */
const PATH_EXTENSIONS: Record<string, number> = {
  'posix-rename@openssh.com': 2,
  'hardlink@openssh.com': 2,
  'statvfs@openssh.com': 1,
  'lsetstat@openssh.com': 1,
  'expand-path@openssh.com': 1,
};
/** Extensions whose payload starts with a handle. */
const HANDLE_EXTENSIONS = new Set(['fstatvfs@openssh.com', 'fsync@openssh.com', 'copy-data']);

function pathOf(b: Buffer, req: SftpRequest): string {
  if (b.includes(0)) req.nul = true;
  return b.toString('utf8');
}

/**
 * Reads the fields Sluice needs from a client packet. Returns a FrameError for
 * a packet whose fields run past its end. Unknown extensions parse (name only).
 */
export function parseRequest(p: SftpPacket): SftpRequest | FrameError {
  const req: SftpRequest = { type: p.type, id: p.id, paths: [] };
  if (p.type === FXP.INIT) return req;
  const r = new Reader(p.bytes, 9);
  try {
    switch (p.type) {
      case FXP.OPEN:
        req.paths.push(pathOf(r.bytes(), req));
        req.pflags = r.u32();
        break;
      case FXP.CLOSE:
      case FXP.READ:
      case FXP.FSTAT:
      case FXP.FSETSTAT:
      case FXP.READDIR:
        req.handle = r.bytes().toString('latin1');
        break;
      case FXP.WRITE:
        req.handle = r.bytes().toString('latin1');
        r.skip(8);
        req.dataLength = r.u32();
        r.skip(req.dataLength);
        break;
      case FXP.RENAME:
      case FXP.SYMLINK:
        req.paths.push(pathOf(r.bytes(), req), pathOf(r.bytes(), req));
        break;
      case FXP.EXTENDED: {
        const name = r.bytes().toString('latin1');
        req.extension = name;
        const n = PATH_EXTENSIONS[name];
        if (n) for (let i = 0; i < n; i++) req.paths.push(pathOf(r.bytes(), req));
        else if (HANDLE_EXTENSIONS.has(name)) req.handle = r.bytes().toString('latin1');
        break;
      }
      default:
        // LSTAT, SETSTAT, OPENDIR, REMOVE, MKDIR, RMDIR, REALPATH, STAT, READLINK: a path first.
        req.paths.push(pathOf(r.bytes(), req));
    }
  } catch (e) {
    if (e instanceof Truncated) return { error: `truncated packet of type ${p.type}` };
    throw e;
  }
  return req;
}

/** A server reply as Sluice reads it. */
export interface SftpReply {
  type: number;
  id: number;
  /** STATUS: code and message. */
  code?: number;
  message?: string;
  /** HANDLE: the handle as a latin1 key. */
  handle?: string;
  /** DATA: bytes of data. */
  dataLength?: number;
  /** NAME: number of entries and the first entry's filename. */
  count?: number;
  firstName?: string;
}

/** Reads the fields Sluice needs from a server packet; FrameError for a truncated one. */
export function parseReply(p: SftpPacket): SftpReply | FrameError {
  const rep: SftpReply = { type: p.type, id: p.id };
  if (p.type === FXP.VERSION) return rep;
  const r = new Reader(p.bytes, 9);
  try {
    switch (p.type) {
      case FXP.STATUS:
        rep.code = r.u32();
        // Version 3 servers may omit the message; OpenSSH always sends it.
        try {
          rep.message = r.bytes().toString('utf8');
        } catch {
          rep.message = '';
        }
        break;
      case FXP.HANDLE:
        rep.handle = r.bytes().toString('latin1');
        break;
      case FXP.DATA:
        rep.dataLength = r.u32();
        break;
      case FXP.NAME:
        rep.count = r.u32();
        if (rep.count > 0) rep.firstName = r.bytes().toString('utf8');
        break;
      default:
        break;
    }
  } catch (e) {
    if (e instanceof Truncated) return { error: `truncated reply of type ${p.type}` };
    throw e;
  }
  return rep;
}

// ------------------------------------------------------------------ writers

function stringField(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(4 + b.length);
  out.writeUInt32BE(b.length, 0);
  b.copy(out, 4);
  return out;
}

function packet(type: number, id: number, ...fields: Buffer[]): Buffer {
  const body = Buffer.concat(fields);
  const out = Buffer.allocUnsafe(9 + body.length);
  out.writeUInt32BE(5 + body.length, 0);
  out[4] = type;
  out.writeUInt32BE(id >>> 0, 5);
  body.copy(out, 9);
  return out;
}

/** SSH_FXP_STATUS reply (message and an empty language tag). */
export function statusPacket(id: number, code: number, message: string): Buffer {
  const c = Buffer.allocUnsafe(4);
  c.writeUInt32BE(code, 0);
  return packet(FXP.STATUS, id, c, stringField(message), stringField(''));
}

/** SSH_FXP_REALPATH request. */
export function realpathPacket(id: number, path: string): Buffer {
  return packet(FXP.REALPATH, id, stringField(path));
}

/**
 * `p` made absolute against `home` and normalised lexically: empty and `.`
 * segments dropped, `..` removes the previous segment (never above `/`).
 * Symbolic links on the target are not resolved (the gateway cannot see them).
 */
export function resolvePath(home: string, p: string): string {
  const abs = p.startsWith('/') ? p : `${home}/${p}`;
  const out: string[] = [];
  for (const seg of abs.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/');
}
