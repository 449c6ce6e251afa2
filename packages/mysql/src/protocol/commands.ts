import { Capability, Command, CursorFlag, PARAM_UNSIGNED } from './codes.js';
import { readBinaryValue, writeBinaryValue, type BinaryInput } from './binary.js';
import { readConnectAttributes } from './handshake.js';
import { BufferReader } from './reader.js';
import type { BufferWriter } from './writer.js';

/*
 * Client → server commands (the command phase). Every command is one logical
 * packet with sequence id 0 whose first byte is the Command code. Parsers
 * take the whole payload (command byte included), check the byte, and return
 * views or decoded text. Trailing bytes after a complete command are ignored,
 * as the server ignores them.
 */

/** A parameter type as bound in COM_STMT_EXECUTE (type byte + unsigned flag). */
export interface ParamType {
  /** ColumnType. */
  type: number;
  unsigned: boolean;
}

/** A decoded binary parameter (statement parameter or query attribute). */
export interface BinaryParam extends ParamType {
  /** Attribute / parameter name (sent only under CLIENT_QUERY_ATTRIBUTES), else null. */
  name: string | null;
  /** The value as text (see readBinaryValue); null for NULL or long data. */
  value: string | null;
  /** The value was sent earlier with COM_STMT_SEND_LONG_DATA, not in this packet. */
  longData: boolean;
}

function open(payload: Buffer, command: number, context: string): BufferReader {
  const r = new BufferReader(payload, context);
  const got = r.uint8();
  if (got !== command) r.fail(`command byte 0x${got.toString(16)} where 0x${command.toString(16)} was expected`);
  return r;
}

/**
 * Reads null bitmap, new-params-bound flag, types (and names) and values of
 * `count` binary parameters.
 */
function readParams(
  r: BufferReader,
  count: number,
  withNames: boolean,
  previous: ReadonlyArray<ParamType> | undefined,
  isLongData: ((index: number) => boolean) | undefined,
): { newParamsBound: boolean; params: BinaryParam[] } {
  const bitmap = r.bytes((count + 7) >> 3);
  const bound = r.uint8();
  if (bound > 1) r.fail(`invalid new-params-bound flag ${bound}`);
  const params: BinaryParam[] = new Array(count);
  if (bound) {
    for (let i = 0; i < count; i++) {
      const type = r.uint8();
      const flags = r.uint8();
      const name = withNames ? r.lenencString() : null;
      params[i] = { type, unsigned: (flags & PARAM_UNSIGNED) !== 0, name, value: null, longData: false };
    }
  } else {
    if (!previous || previous.length < count) r.fail('parameters not bound: no types from a previous execution');
    for (let i = 0; i < count; i++) {
      params[i] = { type: previous[i].type, unsigned: previous[i].unsigned, name: null, value: null, longData: false };
    }
  }
  for (let i = 0; i < count; i++) {
    const p = params[i];
    if (bitmap[i >> 3] & (1 << (i & 7))) continue;
    if (isLongData?.(i)) {
      p.longData = true;
      continue;
    }
    p.value = readBinaryValue(r, p.type, p.unsigned);
  }
  return { newParamsBound: bound === 1, params };
}

function writeParams(w: BufferWriter, params: ReadonlyArray<BinaryParamInput>, withNames: boolean, bind = true): void {
  const bitmap = Buffer.alloc((params.length + 7) >> 3);
  params.forEach((p, i) => {
    if (p.value === null) bitmap[i >> 3] |= 1 << (i & 7);
  });
  w.bytes(bitmap).uint8(bind ? 1 : 0);
  if (bind) {
    for (const p of params) {
      w.uint8(p.type).uint8(p.unsigned ? PARAM_UNSIGNED : 0);
      if (withNames) w.lenencString(p.name ?? '');
    }
  }
  for (const p of params) if (p.value !== null) writeBinaryValue(w, p.type, !!p.unsigned, p.value);
}

/** A parameter to encode. */
export interface BinaryParamInput {
  type: number;
  unsigned?: boolean;
  name?: string | null;
  value: BinaryInput;
}

export interface ComQuery {
  /** The SQL text, decoded as UTF-8. */
  sql: string;
  /** Offset of the SQL text in the payload (for forwarding or re-decoding its bytes). */
  sqlOffset: number;
  /** Query attributes (CLIENT_QUERY_ATTRIBUTES; MySQL 8 only), else empty. */
  attributes: BinaryParam[];
}

/**
 * COM_QUERY. Under CLIENT_QUERY_ATTRIBUTES (MySQL 8.0.23+) the SQL is
 * preceded by a parameter count, a parameter-set count (1), and when there
 * are attributes their null bitmap, bound flag, typed names and values.
 * MariaDB never negotiates that capability; the plain form is the command
 * byte followed by the SQL text.
 */
export function parseComQuery(payload: Buffer, capabilities = 0): ComQuery {
  const r = open(payload, Command.Query, 'COM_QUERY');
  let attributes: BinaryParam[] = [];
  if (capabilities & Capability.QueryAttributes) {
    const count = r.lenencInt();
    const sets = r.lenencInt();
    if (sets !== 1) r.fail(`parameter set count ${sets}, expected 1`);
    if (count > r.remaining) r.fail(`attribute count ${count} exceeds the packet`);
    if (count > 0) attributes = readParams(r, count, true, undefined, undefined).params;
  }
  const sqlOffset = r.offset;
  return { sql: r.restString(), sqlOffset, attributes };
}

export function writeComQuery(w: BufferWriter, sql: string, capabilities = 0, attributes: ReadonlyArray<BinaryParamInput> = []): void {
  w.begin(0).uint8(Command.Query);
  if (capabilities & Capability.QueryAttributes) {
    w.lenencInt(attributes.length).lenencInt(1);
    if (attributes.length > 0) writeParams(w, attributes, true);
  } else if (attributes.length > 0) {
    throw new RangeError('query attributes need CLIENT_QUERY_ATTRIBUTES');
  }
  w.string(sql).end();
}

/** COM_INIT_DB: the schema name. */
export function parseComInitDb(payload: Buffer): { schema: string } {
  return { schema: open(payload, Command.InitDb, 'COM_INIT_DB').restString() };
}

/** COM_STMT_PREPARE: the SQL text. */
export function parseComStmtPrepare(payload: Buffer): { sql: string } {
  return { sql: open(payload, Command.StmtPrepare, 'COM_STMT_PREPARE').restString() };
}

/** Writes a command whose body is text or bytes (COM_INIT_DB, COM_STMT_PREPARE …) or nothing. */
export function writeCommand(w: BufferWriter, command: number, body: string | Uint8Array = ''): void {
  w.begin(0).uint8(command);
  if (typeof body === 'string') w.string(body);
  else w.bytes(body);
  w.end();
}

export interface StmtExecute {
  /** 0xFFFFFFFF means "the statement prepared last" (MariaDB pipelining). */
  statementId: number;
  /** CursorFlag bits. */
  flags: number;
  /** Always 1. */
  iterationCount: number;
  /** Whether this packet carries the parameter types (else the previous execution's apply). */
  newParamsBound: boolean;
  /** The statement's parameters, in order. */
  params: BinaryParam[];
  /** Query attributes beyond the statement's parameters (CLIENT_QUERY_ATTRIBUTES), else empty. */
  attributes: BinaryParam[];
}

export interface StmtExecuteOptions {
  /** The statement's parameter count, from its COM_STMT_PREPARE_OK. */
  paramCount: number;
  /** Negotiated capabilities (only QueryAttributes matters). */
  capabilities?: number;
  /** Types bound by the previous execution, needed when the new-params-bound flag is 0. */
  previousTypes?: ReadonlyArray<ParamType>;
  /** Parameters sent with COM_STMT_SEND_LONG_DATA since the last execute/reset (their values are absent here). */
  longData?: ReadonlySet<number>;
}

/** The statement id of a COM_STMT_EXECUTE (to look up its parameter count before parsing). */
export function stmtExecuteStatementId(payload: Buffer): number {
  const r = open(payload, Command.StmtExecute, 'COM_STMT_EXECUTE');
  return r.uint32();
}

/**
 * COM_STMT_EXECUTE: statement id, flags, iteration count, then (when there
 * are parameters) null bitmap, new-params-bound flag, types and values in
 * the binary protocol. Values are decoded to text for recording.
 */
export function parseComStmtExecute(payload: Buffer, options: StmtExecuteOptions): StmtExecute {
  const r = open(payload, Command.StmtExecute, 'COM_STMT_EXECUTE');
  const statementId = r.uint32();
  const flags = r.uint8();
  const iterationCount = r.uint32();
  const paramCount = options.paramCount;
  if (!Number.isInteger(paramCount) || paramCount < 0 || paramCount > 0xffff) {
    throw new RangeError(`paramCount must be 0..65535, got ${paramCount}`);
  }
  const withAttrs = ((options.capabilities ?? 0) & Capability.QueryAttributes) !== 0;
  let count = paramCount;
  if (withAttrs && (paramCount > 0 || flags & CursorFlag.ParameterCountAvailable)) {
    count = r.lenencInt();
    if (count < paramCount) r.fail(`parameter count ${count} below the statement's ${paramCount}`);
    if (count > r.remaining * 8) r.fail(`parameter count ${count} exceeds the packet`);
  }
  let newParamsBound = false;
  let all: BinaryParam[] = [];
  if (count > 0) {
    const longData = options.longData;
    const res = readParams(
      r,
      count,
      withAttrs,
      options.previousTypes,
      longData && longData.size > 0 ? (i) => i < paramCount && longData.has(i) : undefined,
    );
    newParamsBound = res.newParamsBound;
    all = res.params;
  }
  return {
    statementId,
    flags,
    iterationCount,
    newParamsBound,
    params: all.slice(0, paramCount),
    attributes: all.slice(paramCount),
  };
}

export function writeComStmtExecute(
  w: BufferWriter,
  e: { statementId: number; flags?: number; iterationCount?: number; params: ReadonlyArray<BinaryParamInput>; newParamsBound?: boolean },
  capabilities = 0,
): void {
  const withAttrs = (capabilities & Capability.QueryAttributes) !== 0;
  const flags = e.flags ?? 0;
  w.begin(0).uint8(Command.StmtExecute).uint32(e.statementId).uint8(flags).uint32(e.iterationCount ?? 1);
  if (withAttrs && (e.params.length > 0 || flags & CursorFlag.ParameterCountAvailable)) w.lenencInt(e.params.length);
  if (e.params.length > 0) writeParams(w, e.params, withAttrs, e.newParamsBound ?? true);
  w.end();
}

function statementOnly(payload: Buffer, command: number, context: string): { statementId: number } {
  const r = open(payload, command, context);
  return { statementId: r.uint32() };
}

/** COM_STMT_CLOSE: statement id (the server sends no response). */
export function parseComStmtClose(payload: Buffer): { statementId: number } {
  return statementOnly(payload, Command.StmtClose, 'COM_STMT_CLOSE');
}

/** COM_STMT_RESET: statement id (clears long data; answered with OK). */
export function parseComStmtReset(payload: Buffer): { statementId: number } {
  return statementOnly(payload, Command.StmtReset, 'COM_STMT_RESET');
}

/** COM_STMT_FETCH: statement id and row count (cursor reads). */
export function parseComStmtFetch(payload: Buffer): { statementId: number; rows: number } {
  const r = open(payload, Command.StmtFetch, 'COM_STMT_FETCH');
  return { statementId: r.uint32(), rows: r.uint32() };
}

export function writeStatementCommand(w: BufferWriter, command: number, statementId: number): void {
  w.begin(0).uint8(command).uint32(statementId).end();
}

/** COM_STMT_SEND_LONG_DATA: statement id, parameter index, a chunk of data (a view). No response. */
export function parseComStmtSendLongData(payload: Buffer): { statementId: number; paramId: number; data: Buffer } {
  const r = open(payload, Command.StmtSendLongData, 'COM_STMT_SEND_LONG_DATA');
  return { statementId: r.uint32(), paramId: r.uint16(), data: r.rest() };
}

export function writeComStmtSendLongData(w: BufferWriter, statementId: number, paramId: number, data: Uint8Array): void {
  w.begin(0).uint8(Command.StmtSendLongData).uint32(statementId).uint16(paramId).bytes(data).end();
}

/** COM_FIELD_LIST (deprecated): table name and column wildcard. */
export function parseComFieldList(payload: Buffer): { table: string; wildcard: string } {
  const r = open(payload, Command.FieldList, 'COM_FIELD_LIST');
  const table = r.cstring();
  return { table, wildcard: r.restString() };
}

export function writeComFieldList(w: BufferWriter, table: string, wildcard = ''): void {
  w.begin(0).uint8(Command.FieldList).cstring(table).string(wildcard).end();
}

/** COM_SET_OPTION: a SetOption value. */
export function parseComSetOption(payload: Buffer): { option: number } {
  return { option: open(payload, Command.SetOption, 'COM_SET_OPTION').uint16() };
}

export interface ChangeUser {
  username: string;
  /** A view of the payload. */
  authResponse: Buffer;
  database: string;
  /** Collation id, or null if the client sent none. */
  charset: number | null;
  authPluginName: string | null;
  attributes: Array<[string, string]> | null;
}

/** COM_CHANGE_USER: enough to log who was asked for and to refuse (or re-authenticate). */
export function parseComChangeUser(payload: Buffer, capabilities: number): ChangeUser {
  const r = open(payload, Command.ChangeUser, 'COM_CHANGE_USER');
  const username = r.cstring();
  const authResponse = capabilities & Capability.SecureConnection ? r.bytes(r.uint8()) : r.cstringBytes();
  const database = r.remaining > 0 ? r.cstring() : '';
  let charset: number | null = null;
  let authPluginName: string | null = null;
  let attributes: Array<[string, string]> | null = null;
  if (r.remaining > 0) {
    charset = r.uint16();
    if (capabilities & Capability.PluginAuth && r.remaining > 0) authPluginName = r.cstring();
    if (capabilities & Capability.ConnectAttrs && r.remaining > 0) attributes = readConnectAttributes(r);
  }
  return { username, authResponse, database, charset, authPluginName, attributes };
}

export function writeComChangeUser(w: BufferWriter, c: Omit<ChangeUser, 'authResponse' | 'attributes'> & { authResponse: Uint8Array }, capabilities: number): void {
  w.begin(0).uint8(Command.ChangeUser).cstring(c.username);
  if (capabilities & Capability.SecureConnection) w.uint8(c.authResponse.length).bytes(c.authResponse);
  else w.cstring(c.authResponse);
  w.cstring(c.database);
  if (c.charset !== null) {
    w.uint16(c.charset);
    if (capabilities & Capability.PluginAuth) w.cstring(c.authPluginName ?? '');
  }
  w.end();
}

/**
 * Commands without arguments: COM_QUIT, COM_PING, COM_STATISTICS,
 * COM_RESET_CONNECTION, COM_DEBUG. Checks the command byte; returns it.
 */
export function parseSimpleCommand(payload: Buffer, command: number): number {
  open(payload, command, `command 0x${command.toString(16)}`);
  return command;
}

/** The command byte of a command packet's payload; ProtocolError if it is empty. */
export function commandOf(payload: Buffer): number {
  return new BufferReader(payload, 'command').uint8();
}

