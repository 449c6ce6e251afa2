import { AuthCode, BackendCode, ErrorFieldCode, Limits } from './codes.js';
import { ProtocolError } from './errors.js';
import { ERROR_FIELD_CODES, type ErrorFields } from './error-fields.js';
import type { FieldDescription, TransactionState } from './backend-messages.js';
import { BufferWriter } from './writer.js';

/** A RowDescription field to write: name and type are required, the rest default. */
export type FieldDescriptionInput = Pick<FieldDescription, 'name' | 'typeOID'> & Partial<FieldDescription>;

/** A DataRow cell: bytes, text (written as UTF-8) or NULL. */
export type Cell = Uint8Array | string | null;

function count(n: number, what: string): number {
  if (n > 0xffff) throw new ProtocolError(`too many ${what}: ${n} (max 65535)`);
  return n;
}

/**
 * Writes server → client messages (what the gateway says to its clients).
 * Methods append and chain; `take()` returns the bytes:
 *
 *   socket.write(new BackendWriter().authenticationOk().readyForQuery('I').take());
 *
 * Keep one per connection to reuse its buffer.
 */
export class BackendWriter extends BufferWriter {
  private auth(code: AuthCode): this {
    return this.begin(BackendCode.Authentication).int32(code);
  }

  authenticationOk(): this {
    return this.auth(AuthCode.Ok).end();
  }

  authenticationCleartextPassword(): this {
    return this.auth(AuthCode.CleartextPassword).end();
  }

  authenticationMD5Password(salt: Uint8Array): this {
    if (salt.length !== 4) throw new ProtocolError(`MD5 salt must be 4 bytes, got ${salt.length}`);
    return this.auth(AuthCode.MD5Password).bytes(salt).end();
  }

  /** AuthenticationSASL: the mechanisms offered, e.g. ['SCRAM-SHA-256']. */
  authenticationSASL(mechanisms: readonly string[]): this {
    this.auth(AuthCode.SASL);
    for (const m of mechanisms) {
      if (m === '') throw new ProtocolError('empty SASL mechanism name');
      this.cstring(m);
    }
    return this.byte(0).end();
  }

  authenticationSASLContinue(data: Uint8Array): this {
    return this.auth(AuthCode.SASLContinue).bytes(data).end();
  }

  authenticationSASLFinal(data: Uint8Array): this {
    return this.auth(AuthCode.SASLFinal).bytes(data).end();
  }

  parameterStatus(name: string, value: string): this {
    return this.begin(BackendCode.ParameterStatus).cstring(name).cstring(value).end();
  }

  /**
   * BackendKeyData. A number is a protocol 3.0 key (4 bytes); bytes are a 3.2
   * key (4 to 256 bytes; send more than 4 only to a 3.2 client).
   */
  backendKeyData(processId: number, secretKey: number | Uint8Array): this {
    if (typeof secretKey === 'number') {
      return this.begin(BackendCode.BackendKeyData).int32(processId).int32(secretKey).end();
    }
    if (secretKey.length < Limits.MinCancelKey || secretKey.length > Limits.MaxCancelKey) {
      throw new ProtocolError(`secret key must be 4 to 256 bytes, got ${secretKey.length}`);
    }
    return this.begin(BackendCode.BackendKeyData).int32(processId).bytes(secretKey).end();
  }

  readyForQuery(status: TransactionState): this {
    return this.begin(BackendCode.ReadyForQuery).byte(status.charCodeAt(0)).end();
  }

  private notice(type: number, e: ErrorFields): this {
    this.begin(type);
    this.byte(ErrorFieldCode.Severity).cstring(e.severity);
    this.byte(ErrorFieldCode.SeverityV).cstring(e.severity);
    for (const [name, letter] of ERROR_FIELD_CODES) {
      const v = e[name];
      if (v !== undefined) this.byte(letter.charCodeAt(0)).cstring(v);
    }
    return this.byte(0).end();
  }

  /** An ErrorResponse or NoticeResponse with exactly these fields, in their order (a target's message, rewritten). */
  noticeFields(type: BackendCode.ErrorResponse | BackendCode.NoticeResponse, fields: Readonly<Record<string, string>>): this {
    this.begin(type);
    for (const k in fields) if (k.length === 1 && k !== '\0') this.byte(k.charCodeAt(0)).cstring(fields[k]!);
    return this.byte(0).end();
  }

  /** ErrorResponse: severity (S and V), SQLSTATE (C), message (M), detail (D), hint (H) and the rest. */
  errorResponse(e: ErrorFields): this {
    return this.notice(BackendCode.ErrorResponse, e);
  }

  noticeResponse(e: ErrorFields): this {
    return this.notice(BackendCode.NoticeResponse, e);
  }

  /** RowDescription; defaults: tableOID 0, columnAttr 0, typeLen -1, typeMod -1, format 0 (text). */
  rowDescription(fields: readonly FieldDescriptionInput[]): this {
    this.begin(BackendCode.RowDescription).uint16(count(fields.length, 'fields'));
    for (const f of fields) {
      this.cstring(f.name)
        .uint32(f.tableOID ?? 0)
        .int16(f.columnAttr ?? 0)
        .uint32(f.typeOID)
        .int16(f.typeLen ?? -1)
        .int32(f.typeMod ?? -1)
        .int16(f.format ?? 0);
    }
    return this.end();
  }

  parameterDescription(typeOIDs: readonly number[]): this {
    this.begin(BackendCode.ParameterDescription).uint16(count(typeOIDs.length, 'parameters'));
    for (const oid of typeOIDs) this.uint32(oid);
    return this.end();
  }

  /** DataRow: bytes as they are, strings as UTF-8, null as NULL. */
  dataRow(cells: readonly Cell[]): this {
    this.begin(BackendCode.DataRow).uint16(count(cells.length, 'cells'));
    for (const c of cells) {
      if (c === null) {
        this.int32(-1);
      } else if (typeof c === 'string') {
        this.int32(Buffer.byteLength(c, 'utf8')).string(c);
      } else {
        this.int32(c.length).bytes(c);
      }
    }
    return this.end();
  }

  commandComplete(tag: string): this {
    return this.begin(BackendCode.CommandComplete).cstring(tag).end();
  }

  emptyQueryResponse(): this {
    return this.begin(BackendCode.EmptyQueryResponse).end();
  }

  parseComplete(): this {
    return this.begin(BackendCode.ParseComplete).end();
  }

  bindComplete(): this {
    return this.begin(BackendCode.BindComplete).end();
  }

  closeComplete(): this {
    return this.begin(BackendCode.CloseComplete).end();
  }

  noData(): this {
    return this.begin(BackendCode.NoData).end();
  }

  portalSuspended(): this {
    return this.begin(BackendCode.PortalSuspended).end();
  }

  /** NegotiateProtocolVersion: the version the server will speak (e.g. 196610) and the `_pq_.` options it ignores. */
  negotiateProtocolVersion(version: number, unrecognizedOptions: readonly string[] = []): this {
    this.begin(BackendCode.NegotiateProtocolVersion).int32(version).int32(unrecognizedOptions.length);
    for (const o of unrecognizedOptions) this.cstring(o);
    return this.end();
  }

  private copyResponse(type: number, format: number, columnFormats: readonly number[]): this {
    this.begin(type).int8(format).uint16(count(columnFormats.length, 'columns'));
    for (const f of columnFormats) this.int16(f);
    return this.end();
  }

  copyInResponse(format: number, columnFormats: readonly number[]): this {
    return this.copyResponse(BackendCode.CopyInResponse, format, columnFormats);
  }

  copyOutResponse(format: number, columnFormats: readonly number[]): this {
    return this.copyResponse(BackendCode.CopyOutResponse, format, columnFormats);
  }

  copyBothResponse(format: number, columnFormats: readonly number[]): this {
    return this.copyResponse(BackendCode.CopyBothResponse, format, columnFormats);
  }

  copyData(data: Uint8Array): this {
    return this.begin(BackendCode.CopyData).bytes(data).end();
  }

  copyDone(): this {
    return this.begin(BackendCode.CopyDone).end();
  }

  notificationResponse(processId: number, channel: string, payload: string): this {
    return this.begin(BackendCode.NotificationResponse).int32(processId).cstring(channel).cstring(payload).end();
  }

  functionCallResponse(result: Uint8Array | null): this {
    this.begin(BackendCode.FunctionCallResponse);
    if (result === null) return this.int32(-1).end();
    return this.int32(result.length).bytes(result).end();
  }

  /** The one-byte answer to SSLRequest: 'S' (TLS follows) or 'N'. Not a framed message. */
  sslResponse(accept: boolean): this {
    return this.byte(accept ? 0x53 : 0x4e);
  }

  /** The one-byte answer to GSSENCRequest: 'G' (GSSAPI follows) or 'N'. Not a framed message. */
  gssencResponse(accept: boolean): this {
    return this.byte(accept ? 0x47 : 0x4e);
  }
}
