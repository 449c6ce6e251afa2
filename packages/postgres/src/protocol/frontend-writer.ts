import { FrontendCode, Limits, ProtocolVersion, StartupCode } from './codes.js';
import { ProtocolError } from './errors.js';
import { BufferWriter } from './writer.js';

function count(n: number, what: string): number {
  if (n > 0xffff) throw new ProtocolError(`too many ${what}: ${n} (max 65535)`);
  return n;
}

/**
 * Writes client → server messages (what the gateway says to the upstream
 * PostgreSQL, and what tests say to the gateway). Methods append and chain;
 * `take()` returns the bytes:
 *
 *   upstream.write(new FrontendWriter().startupMessage({ user, database }).take());
 */
export class FrontendWriter extends BufferWriter {
  /** StartupMessage: protocol version (default 3.0) and parameters (user is required by servers). */
  startupMessage(
    params: Readonly<Record<string, string>> | ReadonlyMap<string, string>,
    version: number = ProtocolVersion.V3_0,
  ): this {
    this.beginUntyped().int32(version);
    const entries = params instanceof Map ? params.entries() : Object.entries(params);
    for (const [k, v] of entries) {
      if (k === '') throw new ProtocolError('empty startup parameter name');
      this.cstring(k).cstring(v);
    }
    return this.byte(0).end();
  }

  sslRequest(): this {
    return this.beginUntyped().int32(StartupCode.SSLRequest).end();
  }

  gssencRequest(): this {
    return this.beginUntyped().int32(StartupCode.GSSENCRequest).end();
  }

  /** CancelRequest: a number is a 3.0 key (4 bytes); bytes are a 3.2 key (4 to 256 bytes). */
  cancelRequest(processId: number, secretKey: number | Uint8Array): this {
    if (typeof secretKey === 'number') {
      return this.beginUntyped().int32(StartupCode.CancelRequest).int32(processId).int32(secretKey).end();
    }
    if (secretKey.length < Limits.MinCancelKey || secretKey.length > Limits.MaxCancelKey) {
      throw new ProtocolError(`secret key must be 4 to 256 bytes, got ${secretKey.length}`);
    }
    return this.beginUntyped().int32(StartupCode.CancelRequest).int32(processId).bytes(secretKey).end();
  }

  /** PasswordMessage: a cleartext password, or the result of md5Password(). */
  passwordMessage(password: string): this {
    return this.begin(FrontendCode.Password).cstring(password).end();
  }

  /** SASLInitialResponse: mechanism and client-first-message (null: none). */
  saslInitialResponse(mechanism: string, data: Uint8Array | string | null): this {
    this.begin(FrontendCode.Password).cstring(mechanism);
    if (data === null) return this.int32(-1).end();
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return this.int32(bytes.length).bytes(bytes).end();
  }

  /** SASLResponse: client-final-message (also GSSResponse). */
  saslResponse(data: Uint8Array | string): this {
    this.begin(FrontendCode.Password);
    return (typeof data === 'string' ? this.string(data) : this.bytes(data)).end();
  }

  query(sql: string): this {
    return this.begin(FrontendCode.Query).cstring(sql).end();
  }

  parse(name: string, sql: string, paramTypes: readonly number[] = []): this {
    this.begin(FrontendCode.Parse).cstring(name).cstring(sql).uint16(count(paramTypes.length, 'parameter types'));
    for (const oid of paramTypes) this.uint32(oid);
    return this.end();
  }

  private formats(codes: readonly number[]): this {
    this.uint16(count(codes.length, 'format codes'));
    for (const c of codes) this.int16(c);
    return this;
  }

  private values(values: ReadonlyArray<Uint8Array | string | null>): this {
    this.uint16(count(values.length, 'values'));
    for (const v of values) {
      if (v === null) this.int32(-1);
      else if (typeof v === 'string') this.int32(Buffer.byteLength(v, 'utf8')).string(v);
      else this.int32(v.length).bytes(v);
    }
    return this;
  }

  bind(
    portal: string,
    statement: string,
    params: ReadonlyArray<Uint8Array | string | null> = [],
    paramFormats: readonly number[] = [],
    resultFormats: readonly number[] = [],
  ): this {
    this.begin(FrontendCode.Bind).cstring(portal).cstring(statement);
    return this.formats(paramFormats).values(params).formats(resultFormats).end();
  }

  describe(target: 'S' | 'P', name: string): this {
    return this.begin(FrontendCode.Describe).byte(target.charCodeAt(0)).cstring(name).end();
  }

  execute(portal = '', maxRows = 0): this {
    return this.begin(FrontendCode.Execute).cstring(portal).int32(maxRows).end();
  }

  close(target: 'S' | 'P', name: string): this {
    return this.begin(FrontendCode.Close).byte(target.charCodeAt(0)).cstring(name).end();
  }

  sync(): this {
    return this.begin(FrontendCode.Sync).end();
  }

  /** The Flush message ('H'); not to be confused with sending: see take(). */
  flush(): this {
    return this.begin(FrontendCode.Flush).end();
  }

  terminate(): this {
    return this.begin(FrontendCode.Terminate).end();
  }

  copyData(data: Uint8Array): this {
    return this.begin(FrontendCode.CopyData).bytes(data).end();
  }

  copyDone(): this {
    return this.begin(FrontendCode.CopyDone).end();
  }

  copyFail(message: string): this {
    return this.begin(FrontendCode.CopyFail).cstring(message).end();
  }

  functionCall(
    functionOid: number,
    args: ReadonlyArray<Uint8Array | string | null>,
    argFormats: readonly number[] = [],
    resultFormat = 0,
  ): this {
    this.begin(FrontendCode.FunctionCall).uint32(functionOid);
    return this.formats(argFormats).values(args).int16(resultFormat).end();
  }
}
