import { Capability, ServerStatus } from './codes.js';
import { BufferReader } from './reader.js';
import type { BufferWriter } from './writer.js';

/*
 * Generic server responses: OK, ERR and EOF packets.
 */

export interface OkPacket {
  /** Header byte: 0x00, or 0xFE when it ends a result set under CLIENT_DEPRECATE_EOF. */
  header?: number;
  affectedRows: number | bigint;
  lastInsertId: number | bigint;
  /** ServerStatus flags. */
  status: number;
  warnings: number;
  /** Human-readable info ("Rows matched: 1  Changed: 1 …"). */
  info: string;
  /** Session state change data (CLIENT_SESSION_TRACK with SERVER_SESSION_STATE_CHANGED), a view; else null. */
  sessionState: Buffer | null;
}

export function writeOk(w: BufferWriter, seq: number, ok: Partial<OkPacket>, capabilities: number): void {
  const status = ok.status ?? ServerStatus.Autocommit;
  w.begin(seq)
    .uint8(ok.header ?? 0x00)
    .lenencInt(ok.affectedRows ?? 0)
    .lenencInt(ok.lastInsertId ?? 0);
  if (capabilities & Capability.Protocol41) w.uint16(status).uint16(ok.warnings ?? 0);
  else if (capabilities & Capability.Transactions) w.uint16(status);
  const info = ok.info ?? '';
  if (capabilities & Capability.SessionTrack) {
    const state = ok.sessionState ?? null;
    if (info !== '' || (state && status & ServerStatus.SessionStateChanged)) w.lenencString(info);
    if (state && status & ServerStatus.SessionStateChanged) w.lenencString(state);
  } else {
    w.string(info);
  }
  w.end();
}

/** Parses an OK packet (header 0x00, or 0xFE under CLIENT_DEPRECATE_EOF). */
export function parseOk(payload: Buffer, capabilities: number): OkPacket {
  const r = new BufferReader(payload, 'OK packet');
  const header = r.uint8();
  if (header !== 0x00 && header !== 0xfe) r.fail(`unexpected header 0x${header.toString(16)}`);
  const affectedRows = r.lenencBig();
  const lastInsertId = r.lenencBig();
  let status = 0;
  let warnings = 0;
  if (capabilities & Capability.Protocol41) {
    status = r.uint16();
    warnings = r.uint16();
  } else if (capabilities & Capability.Transactions) {
    status = r.uint16();
  }
  let info = '';
  let sessionState: Buffer | null = null;
  if (capabilities & Capability.SessionTrack) {
    if (r.remaining > 0) info = r.lenencString();
    if (status & ServerStatus.SessionStateChanged && r.remaining > 0) sessionState = r.lenencBytes();
  } else {
    info = r.restString();
  }
  return { header, affectedRows, lastInsertId, status, warnings, info, sessionState };
}

export interface ErrPacket {
  /** Error number (1045, 1142 …). */
  code: number;
  /** Five-character SQLSTATE ('28000', '42000' …); '' if the server sent none. */
  sqlState: string;
  message: string;
}

/** Writes ERR: 0xFF, code, '#' + SQLSTATE (protocol 41), message. */
export function writeErr(w: BufferWriter, seq: number, err: ErrPacket, capabilities = Capability.Protocol41 as number): void {
  w.begin(seq).uint8(0xff).uint16(err.code);
  if (capabilities & Capability.Protocol41) {
    const state = (err.sqlState || 'HY000').padEnd(5, '0').slice(0, 5);
    w.uint8(0x23).string(state);
  }
  w.string(err.message).end();
}

/** Parses an ERR packet. The SQLSTATE marker '#' is optional (pre-4.1 servers, early handshake errors). */
export function parseErr(payload: Buffer): ErrPacket {
  const r = new BufferReader(payload, 'ERR packet');
  if (r.uint8() !== 0xff) r.fail('missing 0xFF header');
  const code = r.uint16();
  let sqlState = '';
  if (r.peek() === 0x23 && r.remaining >= 6) {
    r.skip(1);
    sqlState = r.string(5);
  }
  return { code, sqlState, message: r.restString() };
}

export interface EofPacket {
  warnings: number;
  status: number;
}

/** Writes an EOF packet (protocol 41: 0xFE, warnings, status). */
export function writeEof(w: BufferWriter, seq: number, eof: Partial<EofPacket> = {}): void {
  w.begin(seq).uint8(0xfe).uint16(eof.warnings ?? 0).uint16(eof.status ?? ServerStatus.Autocommit).end();
}

/** Parses an EOF packet (0xFE and less than 9 bytes). */
export function parseEof(payload: Buffer): EofPacket {
  const r = new BufferReader(payload, 'EOF packet');
  if (r.uint8() !== 0xfe || payload.length >= 9) r.fail('not an EOF packet');
  if (r.remaining === 0) return { warnings: 0, status: 0 };
  const warnings = r.uint16();
  const status = r.uint16();
  r.done();
  return { warnings, status };
}

/** True for an EOF packet: header 0xFE and under 9 bytes (a row could start with 0xFE only if ≥ 9 bytes). */
export function isEofPacket(payload: Buffer): boolean {
  return payload.length > 0 && payload.length < 9 && payload[0] === 0xfe;
}

/**
 * True for the packet ending a result set's rows: an EOF packet, or under
 * CLIENT_DEPRECATE_EOF an OK packet with header 0xFE (a text row starting
 * with 0xFE announces a cell of 2^24 bytes or more, so its payload is at least
 * 0xFFFFFF bytes). ERR (0xFF) also ends a result set; check it separately.
 */
export function isResultSetEnd(payload: Buffer, capabilities: number): boolean {
  if (payload.length === 0 || payload[0] !== 0xfe) return false;
  return capabilities & Capability.DeprecateEof ? payload.length < 0xffffff : payload.length < 9;
}
