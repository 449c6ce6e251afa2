import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import {
  AuthPlugin,
  BufferWriter,
  Capability,
  CachingSha2,
  Packet,
  PacketFramer,
  cachingSha2Scramble,
  nativePasswordScramble,
  parseAuthMoreData,
  parseAuthSwitchRequest,
  parseErr,
  parseInitialHandshake,
  parseOk,
  sha2RsaEncryptedPassword,
  writeHandshakeResponse,
  writeSslRequest,
  type InitialHandshake,
} from './protocol/index.js';

export type MysqlSslMode = 'disabled' | 'preferred' | 'required' | 'verify_ca' | 'verify_identity';

export interface MysqlTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  ssl: MysqlSslMode;
  ca?: string;
}

const SSL_ALIASES: Record<string, MysqlSslMode> = {
  disabled: 'disabled',
  disable: 'disabled',
  false: 'disabled',
  preferred: 'preferred',
  prefer: 'preferred',
  required: 'required',
  require: 'required',
  true: 'required',
  verify_ca: 'verify_ca',
  'verify-ca': 'verify_ca',
  verify_identity: 'verify_identity',
  'verify-full': 'verify_identity',
  verify_full: 'verify_identity',
};

/** Reads a mysql:// target URL (`mysql://user@host:port/db?ssl=required`). Throws with a message safe to log. */
export function parseMysqlTarget(url: string, caFile?: string): MysqlTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error('target is not a valid mysql:// URL');
  }
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') throw new Error('target must be a mysql:// URL');
  const raw = (u.searchParams.get('ssl') ?? u.searchParams.get('ssl-mode') ?? u.searchParams.get('sslmode') ?? 'preferred').toLowerCase();
  const ssl = SSL_ALIASES[raw];
  if (!ssl) throw new Error(`unknown ssl mode "${raw}"`);
  const ca = u.searchParams.get('ssl-ca') ?? caFile;
  return {
    host: decodeURIComponent(u.hostname.replace(/^\[|\]$/g, '')) || '127.0.0.1',
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username) || 'root',
    database: decodeURIComponent(u.pathname.replace(/^\//, '')),
    ssl,
    ca: ca ? readFileSync(ca, 'utf8') : undefined,
  };
}

export interface MysqlUpstream {
  socket: Socket | TLSSocket;
  framer: PacketFramer;
  handshake: InitialHandshake;
  /** Capabilities in force between the gateway and the target. */
  capabilities: number;
  /** Status flags from the final OK. */
  status: number;
  leftover: Packet[];
}

/** Capabilities the gateway never asks the target for. */
const NEVER = (Capability.Compress | Capability.Ssl | Capability.LocalFiles | Capability.QueryAttributes | Capability.OptionalResultsetMetadata | Capability.ZstdCompression | Capability.MultiFactorAuth | Capability.SessionTrack | Capability.SslVerifyServerCert | Capability.RememberOptions | Capability.CapabilityExtension) >>> 0;
/** Capabilities the gateway always needs. */
const ALWAYS = (Capability.LongPassword | Capability.Protocol41 | Capability.SecureConnection | Capability.PluginAuth | Capability.PluginAuthLenencClientData | Capability.Transactions) >>> 0;

function socketReason(e: Error): string {
  const code = (e as { code?: string }).code;
  if (code && /^E[A-Z]+$/.test(code)) return code === 'ECONNREFUSED' ? 'connection refused (ECONNREFUSED)' : code;
  return e.message;
}

function authResponse(plugin: string, password: string, scramble: Buffer, tls: boolean): Buffer {
  switch (plugin) {
    case AuthPlugin.NativePassword:
    case '':
      return nativePasswordScramble(password, scramble);
    case AuthPlugin.CachingSha2Password:
      return cachingSha2Scramble(password, scramble);
    case AuthPlugin.ClearPassword:
      if (!tls) throw new Error('the target asks for the cleartext password without TLS; refusing');
      return Buffer.concat([Buffer.from(password, 'utf8'), Buffer.from([0])]);
    default:
      throw new Error(`the target's authentication plugin ${plugin} is not supported`);
  }
}

/**
 * Connects and authenticates to the target as the connection's account
 * (mysql_native_password or caching_sha2_password, fast or full
 * authentication; auth switches followed). `clientCapabilities` are what the
 * client negotiated with the gateway; the target gets those it shares.
 */
export function connectUpstream(t: MysqlTarget, password: string | undefined, clientCapabilities: number, charset: number, timeoutMs: number): Promise<MysqlUpstream> {
  const pw = password ?? '';
  return new Promise((resolve, reject) => {
    let sock: Socket | TLSSocket = netConnect({ host: t.host, port: t.port });
    sock.setNoDelay(true);
    let framer = new PacketFramer();
    let settled = false;
    let handshake: InitialHandshake | null = null;
    let caps = 0;
    let tls = false;
    let plugin = '';
    let scramble: Buffer = Buffer.alloc(0);
    let awaitingKey = false;
    const timer = setTimeout(() => fail(new Error('timed out connecting')), timeoutMs);
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    };
    const send = (build: (w: BufferWriter) => void) => {
      const w = new BufferWriter(256);
      build(w);
      sock.write(w.take());
    };
    const sendResponse = (seq: number) => {
      const hs = handshake!;
      plugin = hs.authPluginName || AuthPlugin.NativePassword;
      scramble = hs.scramble;
      send((w) =>
        writeHandshakeResponse(
          w,
          {
            capabilities: caps,
            maxPacketSize: 0x1000000,
            charset,
            mariadbCapabilities: 0,
            username: t.user,
            authResponse: authResponse(plugin, pw, scramble, tls),
            database: t.database,
            authPluginName: plugin,
            attributes: [['_client_name', 'sluice']],
          },
          seq,
        ),
      );
    };

    const onPacket = (p: Packet, rest: Packet[]): boolean => {
      const first = p.first;
      if (!handshake) {
        if (first === 0xff) throw new Error(parseErr(p.payload).message);
        handshake = parseInitialHandshake(p.payload);
        const sc = handshake.capabilities;
        if (!(sc & Capability.Protocol41)) throw new Error('the target does not speak protocol 41');
        caps = ((clientCapabilities & sc & ~NEVER) | (ALWAYS & sc) | (t.database ? Capability.ConnectWithDb : 0) | (sc & Capability.ConnectAttrs)) >>> 0;
        const wantTls = t.ssl !== 'disabled';
        if (wantTls && sc & Capability.Ssl) {
          caps = (caps | Capability.Ssl) >>> 0;
          send((w) => writeSslRequest(w, { capabilities: caps, maxPacketSize: 0x1000000, charset, mariadbCapabilities: 0 }, 1));
          sock.removeAllListeners('data');
          // A CA given with `required` means its chain is checked (as MySQL's client and
          // PostgreSQL's sslmode=require do); the name only with verify_identity.
          const verify = t.ssl === 'verify_ca' || t.ssl === 'verify_identity' || (t.ssl === 'required' && !!t.ca);
          const s = tlsConnect({
            socket: sock as Socket,
            // The name the identity check uses. Without it an IP target (no
            // servername) was checked as "localhost": any certificate for
            // localhost passed verify_identity to any address.
            host: t.host,
            rejectUnauthorized: verify,
            ca: t.ca,
            servername: /^[\d.:]+$/.test(t.host) ? undefined : t.host,
            // Only override the check when it is to be skipped: an explicit
            // `checkServerIdentity: undefined` replaces Node's default with
            // undefined, and every verify_identity handshake then failed.
            ...(t.ssl === 'verify_identity' ? {} : { checkServerIdentity: () => undefined }),
          });
          s.on('error', (e) => fail(new Error(`TLS to the target failed: ${socketReason(e)}`)));
          s.once('secureConnect', () => {
            tls = true;
            sendResponse(2);
          });
          sock = s;
          framer = new PacketFramer();
          s.on('data', onData);
          return false;
        }
        if (t.ssl === 'required' || t.ssl === 'verify_ca' || t.ssl === 'verify_identity') throw new Error('the target does not offer TLS, which the connection requires');
        sendResponse(1);
        return false;
      }
      const next = (p.seq + 1) & 0xff;
      if (first === 0x00) {
        const ok = parseOk(p.payload, caps);
        settled = true;
        clearTimeout(timer);
        sock.removeAllListeners('data');
        sock.pause();
        resolve({ socket: sock, framer, handshake, capabilities: caps, status: ok.status, leftover: rest });
        return true;
      }
      if (first === 0xff) {
        // An account with REQUIRE SSL/X509 is refused with a bare "Access denied": say that TLS was not used.
        const why = tls ? '' : ` (the gateway's connection to the target does not use TLS: ${t.ssl === 'disabled' ? 'ssl=disabled' : 'the target does not offer it'})`;
        throw new Error(`the target refused the gateway's login: ${parseErr(p.payload).message}${why}`);
      }
      if (first === 0xfe) {
        const sw = parseAuthSwitchRequest(p.payload);
        plugin = sw.pluginName;
        scramble = sw.data.length > 0 && sw.data[sw.data.length - 1] === 0 ? sw.data.subarray(0, sw.data.length - 1) : sw.data;
        const resp = authResponse(plugin, pw, scramble, tls);
        send((w) => w.packet(next, resp));
        return false;
      }
      if (first === 0x01) {
        const data = parseAuthMoreData(p.payload);
        if (awaitingKey) {
          awaitingKey = false;
          const enc = sha2RsaEncryptedPassword(pw, scramble, data);
          send((w) => w.packet(next, enc));
          return false;
        }
        if (data.length === 1 && data[0] === CachingSha2.FastAuthSuccess) return false;
        if (data.length === 1 && data[0] === CachingSha2.PerformFullAuthentication) {
          if (tls) send((w) => w.packet(next, Buffer.concat([Buffer.from(pw, 'utf8'), Buffer.from([0])])));
          else {
            awaitingKey = true;
            send((w) => w.packet(next, Buffer.from([CachingSha2.RequestPublicKey])));
          }
          return false;
        }
        throw new Error('unexpected authentication data from the target');
      }
      throw new Error(`unexpected packet 0x${first.toString(16)} from the target during login`);
    };

    const onData = (chunk: Buffer) => {
      if (settled) return;
      try {
        const ps = framer.push(chunk);
        for (let i = 0; i < ps.length; i++) if (onPacket(ps[i]!, ps.slice(i + 1))) return;
      } catch (e) {
        fail(e as Error);
      }
    };
    sock.on('data', onData);
    sock.on('error', (e) => fail(new Error(socketReason(e))));
    sock.on('close', () => fail(new Error('the target closed the connection during login')));
  });
}
