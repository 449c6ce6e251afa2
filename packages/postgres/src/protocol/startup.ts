import { Limits, ProtocolVersion, StartupCode } from './codes.js';
import { ProtocolError } from './errors.js';
import { BufferReader } from './reader.js';

/** SSLRequest: the server answers one byte, 'S' (then TLS) or 'N'. */
export interface SSLRequestPacket {
  kind: 'ssl';
  raw: Buffer;
}

/** GSSENCRequest: the server answers one byte, 'G' (then GSSAPI) or 'N'. */
export interface GSSENCRequestPacket {
  kind: 'gssenc';
  raw: Buffer;
}

/** CancelRequest, sent on a fresh connection. */
export interface CancelRequestPacket {
  kind: 'cancel';
  processId: number;
  /** 4 bytes in protocol 3.0; 4 to 256 bytes in 3.2. A view. */
  secretKey: Buffer;
  raw: Buffer;
}

/** StartupMessage: protocol version and the connection parameters. */
export interface StartupMessagePacket {
  kind: 'startup';
  /** As sent: major << 16 | minor (196608 = 3.0, 196610 = 3.2). */
  version: number;
  major: number;
  minor: number;
  /**
   * The client asked for a newer 3.x minor than this codec knows (> 2): the
   * server should answer NegotiateProtocolVersion with the version it will
   * speak (3.2 or 3.0) and carry on. It should also do so when it does not
   * recognise one of `protocolOptions`.
   */
  negotiate: boolean;
  /** user, database, application_name, options, replication, GUCs … in order. */
  params: Map<string, string>;
  /** Parameters whose name starts with `_pq_.` (protocol extensions). */
  protocolOptions: Map<string, string>;
  raw: Buffer;
}

export type StartupPacket = SSLRequestPacket | GSSENCRequestPacket | CancelRequestPacket | StartupMessagePacket;

/** Smallest startup packet: the length word and the code. */
export const MIN_STARTUP_PACKET = 8;
/** Largest startup packet, length word included (PostgreSQL allows 10000 bytes after it). */
export const MAX_STARTUP_PACKET = 4 + Limits.StartupBody;

/** Validates a startup-phase length word (which counts itself). */
export function checkStartupLength(len: number): void {
  if (len < MIN_STARTUP_PACKET || len > MAX_STARTUP_PACKET) {
    throw new ProtocolError(`invalid length of startup packet: ${len}`);
  }
}

/**
 * Parses one whole startup-phase packet (length word included), as framed by
 * FrontendFramer. Throws ProtocolError on anything malformed or unsupported
 * (protocol major other than 3, unknown request code).
 */
export function parseStartupPacket(raw: Buffer): StartupPacket {
  const r = new BufferReader(raw, 'startup packet');
  const len = r.int32();
  if (len !== raw.length) throw new ProtocolError(`startup packet length ${len} does not match ${raw.length} bytes`);
  checkStartupLength(len);
  const code = r.uint32();
  switch (code) {
    case StartupCode.SSLRequest:
      if (len !== 8) throw new ProtocolError('SSLRequest must be 8 bytes');
      return { kind: 'ssl', raw };
    case StartupCode.GSSENCRequest:
      if (len !== 8) throw new ProtocolError('GSSENCRequest must be 8 bytes');
      return { kind: 'gssenc', raw };
    case StartupCode.CancelRequest: {
      const processId = r.int32();
      const secretKey = r.rest();
      if (secretKey.length < Limits.MinCancelKey || secretKey.length > Limits.MaxCancelKey) {
        throw new ProtocolError(`CancelRequest: secret key of ${secretKey.length} bytes (expected 4 to 256)`);
      }
      return { kind: 'cancel', processId, secretKey, raw };
    }
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) throw new ProtocolError(`unsupported frontend protocol ${major}.${minor}`);
  const params = new Map<string, string>();
  const protocolOptions = new Map<string, string>();
  for (;;) {
    const name = r.cstring();
    if (name === '') break;
    const value = r.cstring();
    (name.startsWith('_pq_.') ? protocolOptions : params).set(name, value);
  }
  r.done();
  return {
    kind: 'startup',
    version: code,
    major,
    minor,
    negotiate: minor > ProtocolVersion.LatestMinor,
    params,
    protocolOptions,
    raw,
  };
}

/**
 * Reads the server's one-byte answer to our SSLRequest ('S' or 'N') or
 * GSSENCRequest ('G' or 'N'), which is not a framed message: read it before
 * any BackendFramer. The chunk must hold exactly that byte: anything behind
 * it arrived before the handshake and could be injected by a man in the
 * middle, so it is refused.
 */
export function parseEncryptionResponse(chunk: Buffer): 'S' | 'G' | 'N' {
  if (chunk.length !== 1) {
    throw new ProtocolError(`expected a single-byte answer to the encryption request, got ${chunk.length} bytes`);
  }
  const b = chunk[0];
  if (b === 0x53) return 'S';
  if (b === 0x47) return 'G';
  if (b === 0x4e) return 'N';
  throw new ProtocolError(`invalid answer 0x${b.toString(16)} to the encryption request`);
}
