import { Capability, Limits } from './codes.js';
import { ProtocolError } from './errors.js';
import { BufferReader } from './reader.js';
import type { BufferWriter } from './writer.js';

/*
 * The connection phase: Initial Handshake v10 (server → client), the
 * client's SSLRequest and HandshakeResponse41, and the authentication
 * exchange packets (AuthSwitchRequest, AuthMoreData).
 */

/** Initial Handshake v10, the server's first packet (sequence id 0). */
export interface InitialHandshake {
  /** Always 10. */
  protocolVersion: number;
  serverVersion: string;
  connectionId: number;
  /** The auth plugin data (normally 20 bytes, without the trailing NUL); sent split 8 + rest. */
  scramble: Buffer;
  /** Capability flags (unsigned 32-bit). */
  capabilities: number;
  /** MariaDB extended capabilities (only when Capability.LongPassword, i.e. CLIENT_MYSQL, is clear), else 0. */
  mariadbCapabilities: number;
  /** Default collation id. */
  charset: number;
  /** ServerStatus flags. */
  status: number;
  /** Default auth plugin (when Capability.PluginAuth), else ''. */
  authPluginName: string;
}

/** Writes Initial Handshake v10 as one packet. */
export function writeInitialHandshake(w: BufferWriter, h: Omit<InitialHandshake, 'protocolVersion'>, seq = 0): void {
  if (h.scramble.length < 8) throw new RangeError('scramble must be at least 8 bytes');
  const caps = h.capabilities >>> 0;
  w.begin(seq)
    .uint8(10)
    .cstring(h.serverVersion)
    .uint32(h.connectionId)
    .bytes(h.scramble.subarray(0, 8))
    .uint8(0)
    .uint16(caps & 0xffff)
    .uint8(h.charset)
    .uint16(h.status)
    .uint16(caps >>> 16)
    .uint8(caps & Capability.PluginAuth ? h.scramble.length + 1 : 0)
    .zeros(6);
  // MariaDB: the last 4 reserved bytes carry the extended capabilities when CLIENT_MYSQL is clear.
  if (caps & Capability.LongPassword) w.zeros(4);
  else w.uint32(h.mariadbCapabilities);
  if (caps & Capability.SecureConnection) {
    const part2 = h.scramble.subarray(8);
    w.bytes(part2).uint8(0);
    // auth-plugin-data-part-2 is at least 13 bytes long.
    if (part2.length + 1 < 13) w.zeros(13 - part2.length - 1);
  }
  if (caps & Capability.PluginAuth) w.cstring(h.authPluginName);
  w.end();
}

/** Parses Initial Handshake v10 (the upstream server's greeting). Check for an ERR packet (0xFF) first. */
export function parseInitialHandshake(payload: Buffer): InitialHandshake {
  const r = new BufferReader(payload, 'Initial Handshake');
  const protocolVersion = r.uint8();
  if (protocolVersion !== 10) r.fail(`unsupported protocol version ${protocolVersion}`);
  const serverVersion = r.cstring();
  const connectionId = r.uint32();
  const part1 = r.bytes(8);
  r.skip(1);
  let capabilities = r.uint16();
  let charset = 0;
  let status = 0;
  let authDataLength = 0;
  let mariadbCapabilities = 0;
  if (r.remaining > 0) {
    charset = r.uint8();
    status = r.uint16();
    capabilities = (capabilities | (r.uint16() << 16)) >>> 0;
    authDataLength = r.uint8();
    r.skip(6);
    const ext = r.uint32();
    if (!(capabilities & Capability.LongPassword)) mariadbCapabilities = ext;
  }
  let scramble: Buffer = Buffer.from(part1);
  if (capabilities & Capability.SecureConnection) {
    const n = Math.min(r.remaining, Math.max(13, authDataLength - 8));
    let part2 = r.bytes(n);
    if (part2.length > 0 && part2[part2.length - 1] === 0) part2 = part2.subarray(0, part2.length - 1);
    scramble = Buffer.concat([part1, part2]);
  }
  let authPluginName = '';
  if (capabilities & Capability.PluginAuth && r.remaining > 0) {
    // Some servers omit the final NUL.
    const rest = r.rest();
    const nul = rest.indexOf(0);
    authPluginName = rest.toString('utf8', 0, nul < 0 ? rest.length : nul);
  }
  return {
    protocolVersion,
    serverVersion,
    connectionId,
    scramble,
    capabilities,
    mariadbCapabilities,
    charset,
    status,
    authPluginName,
  };
}

/** The fields shared by SSLRequest and HandshakeResponse41. */
export interface SslRequest {
  /** Capability flags (unsigned 32-bit). */
  capabilities: number;
  maxPacketSize: number;
  charset: number;
  /** MariaDB extended capabilities (when CLIENT_MYSQL is clear), else 0. */
  mariadbCapabilities: number;
}

/** The client's HandshakeResponse41. */
export interface HandshakeResponse extends SslRequest {
  username: string;
  /** The auth response (scramble, token or cleartext), a view of the payload. */
  authResponse: Buffer;
  /** Initial schema (when Capability.ConnectWithDb), else null. */
  database: string | null;
  /** The client's auth plugin (when Capability.PluginAuth), else null. */
  authPluginName: string | null;
  /** Connection attributes in order (when Capability.ConnectAttrs), else null. */
  attributes: Array<[string, string]> | null;
  /** zstd compression level (MySQL 8, when Capability.ZstdCompression), else null. */
  zstdLevel: number | null;
}

/** True if a connection-phase client payload is an SSLRequest (32 bytes, CLIENT_SSL set). */
export function isSslRequest(payload: Buffer): boolean {
  return payload.length === Limits.SslRequestSize && (payload[1] & (Capability.Ssl >>> 8)) !== 0;
}

function readFixedPart(r: BufferReader): SslRequest {
  const capabilities = r.uint32();
  if (!(capabilities & Capability.Protocol41)) r.fail('client does not support protocol 41');
  const maxPacketSize = r.uint32();
  const charset = r.uint8();
  r.skip(19);
  const ext = r.uint32();
  const mariadbCapabilities = capabilities & Capability.LongPassword ? 0 : ext;
  return { capabilities, maxPacketSize, charset, mariadbCapabilities };
}

/** Parses an SSLRequest (the 32-byte truncated HandshakeResponse41 with CLIENT_SSL). */
export function parseSslRequest(payload: Buffer): SslRequest {
  const r = new BufferReader(payload, 'SSLRequest');
  const req = readFixedPart(r);
  r.done();
  if (!(req.capabilities & Capability.Ssl)) r.fail('CLIENT_SSL is not set');
  return req;
}

/** Writes an SSLRequest. */
export function writeSslRequest(w: BufferWriter, req: SslRequest, seq = 1): void {
  w.begin(seq);
  writeFixedPart(w, { ...req, capabilities: (req.capabilities | Capability.Ssl) >>> 0 });
  w.end();
}

function writeFixedPart(w: BufferWriter, req: SslRequest): void {
  w.uint32(req.capabilities).uint32(req.maxPacketSize).uint8(req.charset).zeros(19);
  if (req.capabilities & Capability.LongPassword) w.zeros(4);
  else w.uint32(req.mariadbCapabilities);
}

/** Reads connection attributes: a length-encoded total, then key/value pairs of length-encoded strings. */
export function readConnectAttributes(r: BufferReader): Array<[string, string]> {
  const total = r.lenencInt();
  const span = r.bytes(total);
  const a = new BufferReader(span, 'connection attributes');
  const attrs: Array<[string, string]> = [];
  while (a.remaining > 0) attrs.push([a.lenencString(), a.lenencString()]);
  return attrs;
}

function writeConnectAttributes(w: BufferWriter, attrs: ReadonlyArray<readonly [string, string]>): void {
  let total = 0;
  const encoded = attrs.map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
  for (const [k, v] of encoded) total += lenencSizeOf(k.length) + k.length + lenencSizeOf(v.length) + v.length;
  w.lenencInt(total);
  for (const [k, v] of encoded) w.lenencString(k).lenencString(v);
}

function lenencSizeOf(n: number): number {
  return n < 0xfb ? 1 : n <= 0xffff ? 3 : n <= 0xffffff ? 4 : 9;
}

/** Reads an auth response in the encoding the capabilities select. */
function readAuthResponse(r: BufferReader, caps: number): Buffer {
  if (caps & Capability.PluginAuthLenencClientData) return r.lenencBytes();
  if (caps & Capability.SecureConnection) return r.bytes(r.uint8());
  return r.cstringBytes();
}

function writeAuthResponse(w: BufferWriter, caps: number, data: Uint8Array): void {
  if (caps & Capability.PluginAuthLenencClientData) w.lenencString(data);
  else if (caps & Capability.SecureConnection) {
    if (data.length > 255) throw new ProtocolError('auth response longer than 255 bytes needs CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA');
    w.uint8(data.length).bytes(data);
  } else w.cstring(data);
}

/** Parses the client's HandshakeResponse41 (protocol 41 only; HandshakeResponse320 is refused). */
export function parseHandshakeResponse(payload: Buffer): HandshakeResponse {
  const r = new BufferReader(payload, 'HandshakeResponse41');
  const fixed = readFixedPart(r);
  const caps = fixed.capabilities;
  const username = r.cstring();
  const authResponse = readAuthResponse(r, caps);
  let database: string | null = null;
  let authPluginName: string | null = null;
  let attributes: Array<[string, string]> | null = null;
  let zstdLevel: number | null = null;
  if (caps & Capability.ConnectWithDb) database = r.remaining > 0 ? r.cstring() : '';
  if (caps & Capability.PluginAuth) authPluginName = r.remaining > 0 ? r.cstring() : '';
  if (caps & Capability.ConnectAttrs && r.remaining > 0) attributes = readConnectAttributes(r);
  if (caps & Capability.ZstdCompression && r.remaining > 0) zstdLevel = r.uint8();
  return { ...fixed, username, authResponse, database, authPluginName, attributes, zstdLevel };
}

/** Writes a HandshakeResponse41 (the gateway as a client of the upstream). */
export function writeHandshakeResponse(
  w: BufferWriter,
  h: Omit<HandshakeResponse, 'authResponse' | 'zstdLevel'> & { authResponse: Uint8Array; zstdLevel?: number | null },
  seq = 1,
): void {
  const caps = h.capabilities >>> 0;
  w.begin(seq);
  writeFixedPart(w, h);
  w.cstring(h.username);
  writeAuthResponse(w, caps, h.authResponse);
  if (caps & Capability.ConnectWithDb) w.cstring(h.database ?? '');
  if (caps & Capability.PluginAuth) w.cstring(h.authPluginName ?? '');
  if (caps & Capability.ConnectAttrs) writeConnectAttributes(w, h.attributes ?? []);
  if (caps & Capability.ZstdCompression) w.uint8(h.zstdLevel ?? 3);
  w.end();
}

/** AuthSwitchRequest: 0xFE, plugin name, plugin data (the new scramble). */
export interface AuthSwitchRequest {
  pluginName: string;
  /** The plugin's data (a view); for the native and caching_sha2 plugins, the 20-byte scramble plus a NUL. */
  data: Buffer;
}

/**
 * Writes AuthSwitchRequest. For mysql_native_password / caching_sha2_password
 * pass the 20-byte scramble: the trailing NUL servers send is added here
 * (`nulTerminate`). For mysql_clear_password the data is empty.
 */
export function writeAuthSwitchRequest(w: BufferWriter, seq: number, pluginName: string, data: Uint8Array, nulTerminate = data.length > 0): void {
  w.begin(seq).uint8(0xfe).cstring(pluginName).bytes(data);
  if (nulTerminate) w.uint8(0);
  w.end();
}

/** Parses AuthSwitchRequest (header 0xFE). A lone 0xFE (old AuthSwitch) yields mysql_old_password. */
export function parseAuthSwitchRequest(payload: Buffer): AuthSwitchRequest {
  const r = new BufferReader(payload, 'AuthSwitchRequest');
  if (r.uint8() !== 0xfe) r.fail('missing 0xFE header');
  if (r.remaining === 0) return { pluginName: 'mysql_old_password', data: r.rest() };
  const pluginName = r.cstring();
  return { pluginName, data: r.rest() };
}

/** Writes AuthMoreData: 0x01 and the plugin's data (e.g. CachingSha2.FastAuthSuccess, a PEM key). */
export function writeAuthMoreData(w: BufferWriter, seq: number, data: Uint8Array | number): void {
  w.begin(seq).uint8(0x01);
  if (typeof data === 'number') w.uint8(data);
  else w.bytes(data);
  w.end();
}

/** Parses AuthMoreData (header 0x01); returns the data (a view). */
export function parseAuthMoreData(payload: Buffer): Buffer {
  const r = new BufferReader(payload, 'AuthMoreData');
  if (r.uint8() !== 0x01) r.fail('missing 0x01 header');
  return r.rest();
}
