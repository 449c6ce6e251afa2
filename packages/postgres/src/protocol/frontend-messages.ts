import { FrontendCode } from './codes.js';
import { ProtocolError } from './errors.js';
import { BufferReader } from './reader.js';

/*
 * Parsers for client → server messages. Each takes a payload (the bytes after
 * the length word) and throws ProtocolError when it is malformed: truncated,
 * a string without its NUL, a count larger than what follows, a negative
 * length other than -1 (NULL), or trailing bytes. Byte fields are views.
 * Those the relay calls per message also take `[start, end)` of a larger
 * buffer (a framed message's payload in the chunk it arrived in), so no
 * view of the payload has to be made first.
 */

export interface QueryMessage {
  kind: 'query';
  sql: string;
}
export interface ParseMessage {
  kind: 'parse';
  /** Prepared statement name ('' = unnamed). */
  name: string;
  sql: string;
  /** Parameter type OIDs (0 = unspecified). */
  paramTypes: number[];
}
export interface BindMessage {
  kind: 'bind';
  portal: string;
  statement: string;
  /** 0 entries: all text; 1: applies to all; else one per parameter. */
  paramFormats: number[];
  params: Array<Buffer | null>;
  resultFormats: number[];
}
export interface DescribeMessage {
  kind: 'describe';
  /** 'S' = prepared statement, 'P' = portal. */
  target: 'S' | 'P';
  name: string;
}
export interface ExecuteMessage {
  kind: 'execute';
  portal: string;
  /** 0 (or negative) = no limit. */
  maxRows: number;
}
export interface CloseMessage {
  kind: 'close';
  target: 'S' | 'P';
  name: string;
}
export interface SyncMessage {
  kind: 'sync';
}
export interface FlushMessage {
  kind: 'flush';
}
export interface TerminateMessage {
  kind: 'terminate';
}
export interface CopyDataMessage {
  kind: 'copyData';
  data: Buffer;
}
export interface CopyDoneMessage {
  kind: 'copyDone';
}
export interface CopyFailMessage {
  kind: 'copyFail';
  message: string;
}
/** 'p': its meaning depends on the authentication exchange; see parsePasswordMessage & co. */
export interface PasswordMessage {
  kind: 'password';
  data: Buffer;
}
export interface FunctionCallMessage {
  kind: 'functionCall';
  functionOid: number;
  argFormats: number[];
  args: Array<Buffer | null>;
  resultFormat: number;
}

export type FrontendMessage =
  | QueryMessage
  | ParseMessage
  | BindMessage
  | DescribeMessage
  | ExecuteMessage
  | CloseMessage
  | SyncMessage
  | FlushMessage
  | TerminateMessage
  | CopyDataMessage
  | CopyDoneMessage
  | CopyFailMessage
  | PasswordMessage
  | FunctionCallMessage;

const SYNC: SyncMessage = Object.freeze({ kind: 'sync' });
const FLUSH: FlushMessage = Object.freeze({ kind: 'flush' });
const TERMINATE: TerminateMessage = Object.freeze({ kind: 'terminate' });
const COPY_DONE: CopyDoneMessage = Object.freeze({ kind: 'copyDone' });

function empty(payload: Buffer, name: string): void {
  if (payload.length !== 0) throw new ProtocolError(`${name}: ${payload.length} unexpected trailing byte(s)`);
}

function formatCodes(r: BufferReader): number[] {
  const n = r.uint16();
  if (n * 2 > r.remaining) throw new ProtocolError(`format code count ${n} exceeds the message`);
  const codes = new Array<number>(n);
  for (let i = 0; i < n; i++) codes[i] = r.int16();
  return codes;
}

/** A counted list of (int32 length, bytes) values; -1 is NULL. */
function values(r: BufferReader, what: string): Array<Buffer | null> {
  const n = r.uint16();
  if (n * 4 > r.remaining) throw new ProtocolError(`${what} count ${n} exceeds the message`);
  const out = new Array<Buffer | null>(n);
  for (let i = 0; i < n; i++) {
    const len = r.int32();
    if (len === -1) out[i] = null;
    else if (len < 0) throw new ProtocolError(`${what} ${i}: invalid length ${len}`);
    else out[i] = r.bytes(len);
  }
  return out;
}

function target(r: BufferReader, name: string): 'S' | 'P' {
  const t = r.uint8();
  if (t === 0x53) return 'S';
  if (t === 0x50) return 'P';
  throw new ProtocolError(`${name}: invalid target type 0x${t.toString(16)}`);
}

/** Query ('Q'). */
export function parseQuery(payload: Buffer): QueryMessage {
  const r = new BufferReader(payload, 'Query');
  const sql = r.cstring();
  r.done();
  return { kind: 'query', sql };
}

/** Parse ('P'). */
export function parseParse(payload: Buffer): ParseMessage {
  const r = new BufferReader(payload, 'Parse');
  const name = r.cstring();
  const sql = r.cstring();
  const n = r.uint16();
  if (n * 4 > r.remaining) throw new ProtocolError(`Parse: parameter type count ${n} exceeds the message`);
  const paramTypes = new Array<number>(n);
  for (let i = 0; i < n; i++) paramTypes[i] = r.uint32();
  r.done();
  return { kind: 'parse', name, sql, paramTypes };
}

/** Bind ('B'). */
export function parseBind(payload: Buffer, start = 0, end = payload.length): BindMessage {
  const r = new BufferReader(payload, 'Bind', start, end);
  const portal = r.cstring();
  const statement = r.cstring();
  const paramFormats = formatCodes(r);
  const params = values(r, 'parameter');
  const resultFormats = formatCodes(r);
  r.done();
  return { kind: 'bind', portal, statement, paramFormats, params, resultFormats };
}

/** The format code (0 text, 1 binary) that applies to parameter `i` of a Bind. */
export function bindParamFormat(bind: BindMessage, i: number): number {
  const f = bind.paramFormats;
  return f.length === 0 ? 0 : f.length === 1 ? f[0] : (f[i] ?? 0);
}

/** Describe ('D'). */
export function parseDescribe(payload: Buffer, start = 0, end = payload.length): DescribeMessage {
  const r = new BufferReader(payload, 'Describe', start, end);
  const t = target(r, 'Describe');
  const name = r.cstring();
  r.done();
  return { kind: 'describe', target: t, name };
}

/** Execute ('E'). */
export function parseExecute(payload: Buffer, start = 0, end = payload.length): ExecuteMessage {
  const r = new BufferReader(payload, 'Execute', start, end);
  const portal = r.cstring();
  const maxRows = r.int32();
  r.done();
  return { kind: 'execute', portal, maxRows };
}

/** Close ('C'). */
export function parseClose(payload: Buffer, start = 0, end = payload.length): CloseMessage {
  const r = new BufferReader(payload, 'Close', start, end);
  const t = target(r, 'Close');
  const name = r.cstring();
  r.done();
  return { kind: 'close', target: t, name };
}

/** Sync ('S'). */
export function parseSync(payload: Buffer): SyncMessage {
  empty(payload, 'Sync');
  return SYNC;
}

/** Flush ('H'). */
export function parseFlush(payload: Buffer): FlushMessage {
  empty(payload, 'Flush');
  return FLUSH;
}

/** Terminate ('X'). */
export function parseTerminate(payload: Buffer): TerminateMessage {
  empty(payload, 'Terminate');
  return TERMINATE;
}

/** CopyData ('d'): the payload is the data. */
export function parseCopyData(payload: Buffer): CopyDataMessage {
  return { kind: 'copyData', data: payload };
}

/** CopyDone ('c'). */
export function parseCopyDone(payload: Buffer): CopyDoneMessage {
  empty(payload, 'CopyDone');
  return COPY_DONE;
}

/** CopyFail ('f'). */
export function parseCopyFail(payload: Buffer): CopyFailMessage {
  const r = new BufferReader(payload, 'CopyFail');
  const message = r.cstring();
  r.done();
  return { kind: 'copyFail', message };
}

/** FunctionCall ('F'). */
export function parseFunctionCall(payload: Buffer): FunctionCallMessage {
  const r = new BufferReader(payload, 'FunctionCall');
  const functionOid = r.uint32();
  const argFormats = formatCodes(r);
  const args = values(r, 'argument');
  const resultFormat = r.int16();
  r.done();
  return { kind: 'functionCall', functionOid, argFormats, args, resultFormat };
}

/** PasswordMessage / SASL / GSS response ('p'): the raw payload. */
export function parsePasswordData(payload: Buffer): PasswordMessage {
  return { kind: 'password', data: payload };
}

/** A 'p' payload read as a PasswordMessage: the cleartext (or "md5…") password. */
export function parsePasswordMessage(payload: Buffer): string {
  const r = new BufferReader(payload, 'PasswordMessage');
  const password = r.cstring();
  r.done();
  return password;
}

export interface SASLInitialResponse {
  mechanism: string;
  /** The client-first-message, or null if the client sent none (length -1). */
  data: Buffer | null;
}

/** A 'p' payload read as a SASLInitialResponse. */
export function parseSASLInitialResponse(payload: Buffer): SASLInitialResponse {
  const r = new BufferReader(payload, 'SASLInitialResponse');
  const mechanism = r.cstring();
  const len = r.int32();
  let data: Buffer | null = null;
  if (len !== -1) {
    if (len < 0) throw new ProtocolError(`SASLInitialResponse: invalid length ${len}`);
    data = r.bytes(len);
  }
  r.done();
  return { mechanism, data };
}

/** A 'p' payload read as a SASLResponse (or GSSResponse): the data, a view. */
export function parseSASLResponse(payload: Buffer): Buffer {
  return payload;
}

/**
 * Parses any regular client message by type. Throws ProtocolError for an
 * unknown type. 'p' comes back raw: its meaning depends on the auth exchange.
 */
export function parseFrontendMessage(type: number, payload: Buffer): FrontendMessage {
  switch (type) {
    case FrontendCode.Query:
      return parseQuery(payload);
    case FrontendCode.Parse:
      return parseParse(payload);
    case FrontendCode.Bind:
      return parseBind(payload);
    case FrontendCode.Describe:
      return parseDescribe(payload);
    case FrontendCode.Execute:
      return parseExecute(payload);
    case FrontendCode.Close:
      return parseClose(payload);
    case FrontendCode.Sync:
      return parseSync(payload);
    case FrontendCode.Flush:
      return parseFlush(payload);
    case FrontendCode.Terminate:
      return parseTerminate(payload);
    case FrontendCode.CopyData:
      return parseCopyData(payload);
    case FrontendCode.CopyDone:
      return parseCopyDone(payload);
    case FrontendCode.CopyFail:
      return parseCopyFail(payload);
    case FrontendCode.Password:
      return parsePasswordData(payload);
    case FrontendCode.FunctionCall:
      return parseFunctionCall(payload);
    default:
      throw new ProtocolError(`invalid frontend message type 0x${type.toString(16).padStart(2, '0')}`);
  }
}
