import { AuthCode, BackendCode } from './codes.js';
import { ProtocolError } from './errors.js';
import { BufferReader } from './reader.js';
import { parseDataRow } from './data-row.js';

/*
 * Parsers for server → client messages. Each takes a payload (after the
 * length word) and throws ProtocolError when it is malformed.
 */

export type AuthenticationMessage =
  | { kind: 'ok' }
  | { kind: 'kerberosV5' }
  | { kind: 'cleartextPassword' }
  | { kind: 'md5Password'; salt: Buffer }
  | { kind: 'gss' }
  | { kind: 'gssContinue'; data: Buffer }
  | { kind: 'sspi' }
  | { kind: 'sasl'; mechanisms: string[] }
  | { kind: 'saslContinue'; data: Buffer }
  | { kind: 'saslFinal'; data: Buffer };

/** Authentication ('R'). */
export function parseAuthentication(payload: Buffer): AuthenticationMessage {
  const r = new BufferReader(payload, 'Authentication');
  const code = r.int32();
  let m: AuthenticationMessage;
  switch (code) {
    case AuthCode.Ok:
      m = { kind: 'ok' };
      break;
    case AuthCode.KerberosV5:
      m = { kind: 'kerberosV5' };
      break;
    case AuthCode.CleartextPassword:
      m = { kind: 'cleartextPassword' };
      break;
    case AuthCode.MD5Password:
      m = { kind: 'md5Password', salt: r.bytes(4) };
      break;
    case AuthCode.GSS:
      m = { kind: 'gss' };
      break;
    case AuthCode.GSSContinue:
      m = { kind: 'gssContinue', data: r.rest() };
      break;
    case AuthCode.SSPI:
      m = { kind: 'sspi' };
      break;
    case AuthCode.SASL: {
      const mechanisms: string[] = [];
      for (;;) {
        const name = r.cstring();
        if (name === '') break;
        mechanisms.push(name);
      }
      m = { kind: 'sasl', mechanisms };
      break;
    }
    case AuthCode.SASLContinue:
      m = { kind: 'saslContinue', data: r.rest() };
      break;
    case AuthCode.SASLFinal:
      m = { kind: 'saslFinal', data: r.rest() };
      break;
    default:
      throw new ProtocolError(`Authentication: unknown request code ${code}`);
  }
  r.done();
  return m;
}

export interface ParameterStatus {
  name: string;
  value: string;
}

/** ParameterStatus ('S'). */
export function parseParameterStatus(payload: Buffer): ParameterStatus {
  const r = new BufferReader(payload, 'ParameterStatus');
  const name = r.cstring();
  const value = r.cstring();
  r.done();
  return { name, value };
}

export interface BackendKeyData {
  processId: number;
  /** 4 bytes in protocol 3.0, up to 256 in 3.2. A view. */
  secretKey: Buffer;
}

/** BackendKeyData ('K'). */
export function parseBackendKeyData(payload: Buffer): BackendKeyData {
  const r = new BufferReader(payload, 'BackendKeyData');
  const processId = r.int32();
  const secretKey = r.rest();
  if (secretKey.length < 4 || secretKey.length > 256) {
    throw new ProtocolError(`BackendKeyData: secret key of ${secretKey.length} bytes (expected 4 to 256)`);
  }
  return { processId, secretKey };
}

export type TransactionState = 'I' | 'T' | 'E';

/** ReadyForQuery ('Z'): 'I' idle, 'T' in a transaction, 'E' in a failed transaction. */
export function parseReadyForQuery(payload: Buffer, start = 0, end = payload.length): TransactionState {
  if (end - start !== 1) throw new ProtocolError(`ReadyForQuery: payload of ${end - start} bytes`);
  const s = payload[start]!;
  if (s === 0x49) return 'I';
  if (s === 0x54) return 'T';
  if (s === 0x45) return 'E';
  throw new ProtocolError(`ReadyForQuery: invalid status 0x${s.toString(16)}`);
}

/** ErrorResponse / NoticeResponse fields keyed by their one-letter code ('S', 'C', 'M' …). */
export type NoticeFields = Record<string, string>;

/** ErrorResponse ('E') or NoticeResponse ('N'). */
export function parseNoticeFields(payload: Buffer): NoticeFields {
  const r = new BufferReader(payload, 'ErrorResponse/NoticeResponse');
  const fields: NoticeFields = {};
  for (;;) {
    const code = r.uint8();
    if (code === 0) break;
    fields[String.fromCharCode(code)] = r.cstring();
  }
  r.done();
  return fields;
}

export interface FieldDescription {
  name: string;
  /** OID of the table, 0 if the column is not a table column. */
  tableOID: number;
  /** Attribute number of the column in its table, 0 if none. */
  columnAttr: number;
  typeOID: number;
  /** pg_type.typlen: -1 variable, -2 C string. */
  typeLen: number;
  /** pg_attribute.atttypmod, -1 if none. */
  typeMod: number;
  /** 0 text, 1 binary. */
  format: number;
}

/** RowDescription ('T'). */
export function parseRowDescription(payload: Buffer): FieldDescription[] {
  const r = new BufferReader(payload, 'RowDescription');
  const n = r.uint16();
  // Each field takes at least 19 bytes (an empty name and 18 bytes of numbers).
  if (n * 19 > r.remaining) throw new ProtocolError(`RowDescription: field count ${n} exceeds the message`);
  const fields = new Array<FieldDescription>(n);
  for (let i = 0; i < n; i++) {
    fields[i] = {
      name: r.cstring(),
      tableOID: r.uint32(),
      columnAttr: r.int16(),
      typeOID: r.uint32(),
      typeLen: r.int16(),
      typeMod: r.int32(),
      format: r.int16(),
    };
  }
  r.done();
  return fields;
}

/** ParameterDescription ('t'): parameter type OIDs. */
export function parseParameterDescription(payload: Buffer): number[] {
  const r = new BufferReader(payload, 'ParameterDescription');
  const n = r.uint16();
  if (n * 4 > r.remaining) throw new ProtocolError(`ParameterDescription: count ${n} exceeds the message`);
  const oids = new Array<number>(n);
  for (let i = 0; i < n; i++) oids[i] = r.uint32();
  r.done();
  return oids;
}

/** CommandComplete ('C'): the command tag ('SELECT 3', 'INSERT 0 1' …). */
export function parseCommandComplete(payload: Buffer, start = 0, end = payload.length): string {
  const r = new BufferReader(payload, 'CommandComplete', start, end);
  const tag = r.cstring();
  r.done();
  return tag;
}

/** Rows a command tag reports (its last number: 'INSERT 0 5' → 5), or null if it reports none. */
export function commandTagRows(tag: string): number | null {
  const sp = tag.lastIndexOf(' ');
  if (sp < 0 || sp === tag.length - 1) return null;
  let n = 0;
  for (let i = sp + 1; i < tag.length; i++) {
    const c = tag.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return null;
    n = n * 10 + c;
  }
  return n;
}

export interface CopyResponse {
  /** 0 textual, 1 binary. */
  format: number;
  /** Per column: 0 text, 1 binary. */
  columnFormats: number[];
}

/** CopyInResponse ('G'), CopyOutResponse ('H'), CopyBothResponse ('W'). */
export function parseCopyResponse(payload: Buffer): CopyResponse {
  const r = new BufferReader(payload, 'CopyResponse');
  const format = r.int8();
  const n = r.uint16();
  if (n * 2 > r.remaining) throw new ProtocolError(`CopyResponse: column count ${n} exceeds the message`);
  const columnFormats = new Array<number>(n);
  for (let i = 0; i < n; i++) columnFormats[i] = r.int16();
  r.done();
  return { format, columnFormats };
}

export interface NegotiateProtocolVersion {
  /** The version the server will speak: major << 16 | minor. */
  version: number;
  /** Protocol options (`_pq_.…`) the server did not recognise. */
  unrecognizedOptions: string[];
}

/** NegotiateProtocolVersion ('v'). */
export function parseNegotiateProtocolVersion(payload: Buffer): NegotiateProtocolVersion {
  const r = new BufferReader(payload, 'NegotiateProtocolVersion');
  const version = r.int32();
  const n = r.uint32();
  if (n > r.remaining) throw new ProtocolError(`NegotiateProtocolVersion: option count ${n} exceeds the message`);
  const unrecognizedOptions = new Array<string>(n);
  for (let i = 0; i < n; i++) unrecognizedOptions[i] = r.cstring();
  r.done();
  return { version, unrecognizedOptions };
}

export interface NotificationResponse {
  processId: number;
  channel: string;
  payload: string;
}

/** NotificationResponse ('A'). */
export function parseNotificationResponse(payload: Buffer): NotificationResponse {
  const r = new BufferReader(payload, 'NotificationResponse');
  const processId = r.int32();
  const channel = r.cstring();
  const text = r.cstring();
  r.done();
  return { processId, channel, payload: text };
}

/** ParseComplete, BindComplete, CloseComplete, NoData, PortalSuspended, EmptyQueryResponse, CopyDone: no body. */
export function parseEmpty(payload: Buffer, name = 'message'): void {
  if (payload.length !== 0) throw new ProtocolError(`${name}: ${payload.length} unexpected trailing byte(s)`);
}

export type BackendMessage =
  | { kind: 'authentication'; auth: AuthenticationMessage }
  | ({ kind: 'parameterStatus' } & ParameterStatus)
  | ({ kind: 'backendKeyData' } & BackendKeyData)
  | { kind: 'readyForQuery'; status: TransactionState }
  | { kind: 'error'; fields: NoticeFields }
  | { kind: 'notice'; fields: NoticeFields }
  | { kind: 'rowDescription'; fields: FieldDescription[] }
  | { kind: 'parameterDescription'; types: number[] }
  | { kind: 'dataRow'; cells: Array<Buffer | null> }
  | { kind: 'commandComplete'; tag: string }
  | ({ kind: 'copyInResponse' | 'copyOutResponse' | 'copyBothResponse' } & CopyResponse)
  | { kind: 'copyData'; data: Buffer }
  | { kind: 'copyDone' }
  | { kind: 'parseComplete' | 'bindComplete' | 'closeComplete' | 'noData' | 'portalSuspended' | 'emptyQueryResponse' }
  | ({ kind: 'negotiateProtocolVersion' } & NegotiateProtocolVersion)
  | ({ kind: 'notification' } & NotificationResponse)
  | { kind: 'functionCallResponse'; result: Buffer | null };

const EMPTY_KINDS: Record<number, string> = {
  [BackendCode.ParseComplete]: 'parseComplete',
  [BackendCode.BindComplete]: 'bindComplete',
  [BackendCode.CloseComplete]: 'closeComplete',
  [BackendCode.NoData]: 'noData',
  [BackendCode.PortalSuspended]: 'portalSuspended',
  [BackendCode.EmptyQueryResponse]: 'emptyQueryResponse',
  [BackendCode.CopyDone]: 'copyDone',
};

/** FunctionCallResponse ('V'): the result value, null for NULL. */
export function parseFunctionCallResponse(payload: Buffer): Buffer | null {
  const r = new BufferReader(payload, 'FunctionCallResponse');
  const len = r.int32();
  let result: Buffer | null = null;
  if (len !== -1) {
    if (len < 0) throw new ProtocolError(`FunctionCallResponse: invalid length ${len}`);
    result = r.bytes(len);
  }
  r.done();
  return result;
}

/**
 * Parses any server message by type (a convenience for tests, logs and the
 * slow path; the relay parses only what it needs). Unknown types throw.
 */
export function parseBackendMessage(type: number, payload: Buffer): BackendMessage {
  switch (type) {
    case BackendCode.Authentication:
      return { kind: 'authentication', auth: parseAuthentication(payload) };
    case BackendCode.ParameterStatus:
      return { kind: 'parameterStatus', ...parseParameterStatus(payload) };
    case BackendCode.BackendKeyData:
      return { kind: 'backendKeyData', ...parseBackendKeyData(payload) };
    case BackendCode.ReadyForQuery:
      return { kind: 'readyForQuery', status: parseReadyForQuery(payload) };
    case BackendCode.ErrorResponse:
      return { kind: 'error', fields: parseNoticeFields(payload) };
    case BackendCode.NoticeResponse:
      return { kind: 'notice', fields: parseNoticeFields(payload) };
    case BackendCode.RowDescription:
      return { kind: 'rowDescription', fields: parseRowDescription(payload) };
    case BackendCode.ParameterDescription:
      return { kind: 'parameterDescription', types: parseParameterDescription(payload) };
    case BackendCode.DataRow:
      return { kind: 'dataRow', cells: parseDataRow(payload) };
    case BackendCode.CommandComplete:
      return { kind: 'commandComplete', tag: parseCommandComplete(payload) };
    case BackendCode.CopyInResponse:
      return { kind: 'copyInResponse', ...parseCopyResponse(payload) };
    case BackendCode.CopyOutResponse:
      return { kind: 'copyOutResponse', ...parseCopyResponse(payload) };
    case BackendCode.CopyBothResponse:
      return { kind: 'copyBothResponse', ...parseCopyResponse(payload) };
    case BackendCode.CopyData:
      return { kind: 'copyData', data: payload };
    case BackendCode.NegotiateProtocolVersion:
      return { kind: 'negotiateProtocolVersion', ...parseNegotiateProtocolVersion(payload) };
    case BackendCode.NotificationResponse:
      return { kind: 'notification', ...parseNotificationResponse(payload) };
    case BackendCode.FunctionCallResponse:
      return { kind: 'functionCallResponse', result: parseFunctionCallResponse(payload) };
  }
  const kind = EMPTY_KINDS[type];
  if (kind === undefined) {
    throw new ProtocolError(`unknown backend message type 0x${type.toString(16).padStart(2, '0')}`);
  }
  parseEmpty(payload, kind);
  return { kind } as BackendMessage;
}
