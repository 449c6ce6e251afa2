import type { ClientChannel, ServerChannel } from 'ssh2';
import type { ApprovalNotice, Command, ResultSummary } from '@sluice/core';
import { tryAccept, type ChannelDeps } from './channel-deps.js';
import {
  CLIENT_TYPES,
  FX,
  FXP,
  PFLAG,
  SERVER_TYPES,
  SftpFramer,
  isFrameError,
  parseReply,
  parseRequest,
  realpathPacket,
  resolvePath,
  statusPacket,
  type SftpPacket,
  type SftpReply,
  type SftpRequest,
} from './sftp/codec.js';

export type { ChannelDeps } from './channel-deps.js';

/**
 * Client bytes held (unparsed) while a request waits for its verdict; above
 * this the client channel is paused, so the SSH window stops the client.
 */
export const SFTP_QUEUE_LIMIT = 1024 * 1024;

/** Id of the REALPATH "." request Sluice sends itself after INIT to learn the home directory. */
const HOME_ID = 0xfffffff0;

/** What a file handle is for, and what has gone through it. */
interface OpenFile {
  path: string;
  mode: 'read' | 'write' | 'list';
  bytes: number;
  entries: number;
  t0: number;
  error?: string;
}

/** A request forwarded to the target whose reply Sluice reads. */
interface Pending {
  type: number;
  file?: OpenFile;
  handle?: string;
  /** Judged path operation (remove, rename …): its outcome is recorded. */
  t0?: number;
}

/** Extensions passed through unjudged: they read metadata, or work on handles already judged at OPEN. */
const SAFE_EXTENSIONS = new Set([
  'statvfs@openssh.com',
  'fstatvfs@openssh.com',
  'fsync@openssh.com',
  'limits@openssh.com',
  'expand-path@openssh.com',
  'home-directory',
  'users-groups-by-id@openssh.com',
  'copy-data',
]);

/**
 * Serves the client's `sftp` subsystem by proxying it, as bytes, to the
 * target's own `sftp` subsystem (opened on `deps.upstream`).
 *
 * Contract:
 * - Client packets are framed (sftp/codec.ts) and forwarded as the very bytes
 *   that arrived, in order. These are judged first through
 *   `session.authorize` (policy `commands:` globs see `text`, `objects:`
 *   globs see the paths):
 *   OPEN → `sftp read PATH` or `sftp write PATH` (write when any of WRITE,
 *   CREAT, TRUNC, APPEND, EXCL is set), OPENDIR → `sftp list PATH`, REMOVE →
 *   `sftp remove PATH`, RENAME and posix-rename → `sftp rename FROM TO`,
 *   MKDIR / RMDIR → `sftp mkdir|rmdir PATH`, SETSTAT / lsetstat / FSETSTAT →
 *   `sftp setstat PATH`, SYMLINK → `sftp symlink LINK TARGET` (OpenSSH's
 *   argument order: target first on the wire), hardlink → `sftp link FROM TO`.
 *   Command shape: `{protocol: 'ssh', kind: 'sftp', text, objects: paths, flags: []}`.
 *   Paths are made absolute against the session's sftp home directory (Sluice
 *   asks the target `REALPATH "."` right after INIT) and normalised lexically
 *   (`.`, `..`, `//`); symbolic links on the target are not resolved, so a
 *   policy that confines paths should also block `sftp symlink *`.
 *   Reads, writes, stat, readdir, readlink, realpath and metadata extensions
 *   pass unjudged (their handle or path was judged, or they only read metadata).
 * - A refused request is answered with SSH_FXP_STATUS PERMISSION_DENIED
 *   carrying the refusal (naming the policy) and the same request id; a line
 *   also goes to the channel's stderr (OpenSSH's sftp prints it). It never
 *   reaches the target. An approval wait is announced on stderr.
 * - While a request waits for its verdict, later client bytes wait too (order
 *   is kept); past SFTP_QUEUE_LIMIT bytes the client channel is paused.
 * - Unknown extensions and paths with a NUL byte are refused
 *   (OP_UNSUPPORTED / FAILURE) and recorded with `session.refuse`.
 * - Results: each file handle records `session.result` when it is closed
 *   (or the channel ends): `affected` = bytes read or written through it,
 *   `rows` = entries listed for a directory handle, `ms` = open to close,
 *   `error` = the first failure status the target sent for it. A judged
 *   path operation records `affected` 1 (done) or 0 with `error`.
 * - Server bytes pass through untouched (framed only to follow handles and
 *   count bytes).
 * - A malformed packet from either side (bad length, unknown type, fields
 *   past the end, a request before INIT) closes the channel (fail closed) and
 *   is recorded with `session.refuse`. A target that cannot start sftp or
 *   answer REALPATH "." gets the subsystem request rejected / the channel closed.
 *
 * The plugin must route ssh2's `subsystem` event here (not `sftp`, which
 * makes ssh2 build its own SFTP server object). The channel is accepted at
 * once; if the target then refuses its sftp subsystem, the channel is closed
 * with a stderr line. Never throws.
 */
export function handleSftp(deps: ChannelDeps, accept: () => ServerChannel, reject: () => void): void {
  if (deps.session.closed) {
    reject();
    return;
  }
  // Accept at once: OpenSSH's sftp sends INIT right behind the subsystem
  // request, and ssh2 drops data that arrives before the channel exists. The
  // client's bytes wait in the proxy until the target's subsystem is open.
  const ch = tryAccept(accept);
  if (!ch) return;
  const proxy = new SftpProxy(deps, ch);
  proxy.start();
  try {
    deps.upstream.subsys('sftp', (err, up) => {
      if (err) {
        deps.logger.warn({ err: err.message, session: deps.session.id }, 'the target refused the sftp subsystem');
        proxy.fail('the target refused the sftp subsystem');
        return;
      }
      proxy.attach(up);
    });
  } catch (e) {
    deps.logger.warn({ err: (e as Error).message, session: deps.session.id }, 'cannot open the sftp subsystem on the target');
    proxy.fail('cannot open the sftp subsystem on the target');
  }
}

/** Accumulates packets to write; adjacent views of one ArrayBuffer are merged into one write. */
class WriteBatch {
  private parts: Buffer[] = [];
  add(b: Buffer): void {
    const last = this.parts[this.parts.length - 1];
    if (last && last.buffer === b.buffer && last.byteOffset + last.length === b.byteOffset) {
      this.parts[this.parts.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + b.length);
    } else this.parts.push(b);
  }
  /** Writes everything; false when the stream asked to wait for 'drain'. */
  flush(to: { write(b: Buffer): boolean }): boolean {
    let ok = true;
    for (const p of this.parts) ok = to.write(p) && ok;
    this.parts = [];
    return ok;
  }
  get empty(): boolean {
    return this.parts.length === 0;
  }
}

function sftpCommand(text: string, objects: string[]): Command {
  return { protocol: 'ssh', kind: 'sftp', text, objects, flags: [] };
}

function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

class SftpProxy {
  private readonly session;
  private readonly cFramer = new SftpFramer(CLIENT_TYPES);
  private readonly sFramer = new SftpFramer(SERVER_TYPES);
  private readonly toUp = new WriteBatch();
  private readonly toClient = new WriteBatch();
  private readonly pending = new Map<number, Pending>();
  private readonly handles = new Map<string, OpenFile>();
  private readonly abort = new AbortController();
  private state: 'init' | 'version' | 'home' | 'ready' = 'init';
  private home = '/';
  /** A request is being judged (or the home directory asked): client packets wait in the framer. */
  private busy = true; // until the target's subsystem is attached
  private clientEnded = false;
  private upEnded = false;
  private done = false;
  private upBlocked = false;
  private clientBlocked = false;

  private up!: ClientChannel;
  private exit: { code: number } | { signal: string; dump: boolean; desc: string } | null = null;

  constructor(
    private readonly deps: ChannelDeps,
    private readonly ch: ServerChannel,
  ) {
    this.session = deps.session;
  }

  /** Listens to the client channel; its bytes queue until `attach`. */
  start(): void {
    const { ch } = this;
    ch.on('data', (d: Buffer) => this.onClientData(d));
    ch.on('end', () => {
      this.clientEnded = true;
      this.maybeEndUp();
    });
    ch.on('close', () => this.finish('the client closed the sftp channel'));
    ch.on('error', () => this.finish('client channel error'));
    ch.on('drain', () => {
      this.clientBlocked = false;
      this.updateFlow();
    });
    this.session.onKill(() => this.fail('session killed'));
  }

  /** The target's sftp subsystem is open: start relaying. */
  attach(up: ClientChannel): void {
    if (this.done) {
      up.close();
      return;
    }
    this.up = up;
    up.on('data', (d: Buffer) => this.onServerData(d));
    // The target's exit status goes to the client before the channel ends
    // (scp checks ssh's exit code). OpenSSH sends EOF, then exit-status, then
    // close: so the client's channel is ended on close, not on EOF.
    up.on('exit', (code: number | null, signal?: string, dump?: boolean, desc?: string) => {
      this.exit = typeof code === 'number' ? { code } : signal ? { signal, dump: !!dump, desc: desc ?? '' } : null;
    });
    up.on('end', () => {
      this.upEnded = true;
    });
    up.on('close', () => {
      if (!this.done) {
        try {
          if (this.exit && 'code' in this.exit) this.ch.exit(this.exit.code);
          else if (this.exit) this.ch.exit(this.exit.signal, this.exit.dump, this.exit.desc);
        } catch {
          /* the client channel is gone */
        }
        this.ch.end();
      }
      this.finish('the target closed the sftp subsystem');
    });
    up.on('error', () => this.fail('the sftp channel to the target failed'));
    up.stderr.on('data', (d: Buffer) => {
      if (!this.done) this.ch.stderr.write(d);
    });
    up.on('drain', () => {
      this.upBlocked = false;
      this.updateFlow();
    });
    this.busy = false;
    this.pumpClient();
  }

  // ------------------------------------------------------------ client → target

  private onClientData(d: Buffer): void {
    if (this.done) return;
    this.cFramer.push(d);
    this.pumpClient();
  }

  /** Handles queued client packets until one must wait for a verdict, then flushes. */
  private pumpClient(): void {
    while (!this.busy && !this.done) {
      const f = this.cFramer.next();
      if (f === null) break;
      if (isFrameError(f)) {
        this.malformed('client', f.error);
        return;
      }
      this.onRequest(f);
    }
    if (this.done) return;
    if (!this.toUp.empty && !this.toUp.flush(this.up)) this.upBlocked = true;
    this.updateFlow();
    this.maybeEndUp();
  }

  private maybeEndUp(): void {
    if (this.up && this.clientEnded && !this.busy && this.cFramer.buffered === 0 && !this.done) this.up.end();
  }

  /** Pauses the side that is too far ahead: the client when the target is slow or a verdict is awaited with a full queue; the target when the client is slow. */
  private updateFlow(): void {
    if (this.done) return;
    if (this.upBlocked || (this.busy && this.cFramer.buffered > SFTP_QUEUE_LIMIT)) this.ch.pause();
    else this.ch.resume();
    if (!this.up) return;
    if (this.clientBlocked) this.up.pause();
    else this.up.resume();
  }

  private onRequest(p: SftpPacket): void {
    if (this.state === 'init') {
      if (p.type !== FXP.INIT) return this.malformed('client', `expected SSH_FXP_INIT first, got packet type ${p.type}`);
      this.toUp.add(p.bytes);
      this.state = 'version';
      this.busy = true; // until the home directory is known
      return;
    }
    if (p.type === FXP.INIT) return this.malformed('client', 'a second SSH_FXP_INIT');
    const req = parseRequest(p);
    if (isFrameError(req)) return this.malformed('client', req.error);
    if (req.nul) {
      this.refuseHere(p, sftpCommand(`sftp ${opName(p.type, req.extension)} ${req.paths.join(' ')}`.replace(/\0/g, '\\0'), []), FX.FAILURE, 'path contains a NUL byte');
      return;
    }
    switch (p.type) {
      case FXP.OPEN: {
        const path = this.abs(req.paths[0]!);
        const write = (req.pflags! & (PFLAG.WRITE | PFLAG.CREAT | PFLAG.TRUNC | PFLAG.APPEND | PFLAG.EXCL)) !== 0;
        const file: OpenFile = { path, mode: write ? 'write' : 'read', bytes: 0, entries: 0, t0: 0 };
        return this.judge(p, sftpCommand(`sftp ${file.mode} ${path}`, [path]), { type: p.type, file });
      }
      case FXP.OPENDIR: {
        const path = this.abs(req.paths[0]!);
        const file: OpenFile = { path, mode: 'list', bytes: 0, entries: 0, t0: 0 };
        return this.judge(p, sftpCommand(`sftp list ${path}`, [path]), { type: p.type, file });
      }
      case FXP.REMOVE:
      case FXP.MKDIR:
      case FXP.RMDIR:
      case FXP.SETSTAT: {
        const path = this.abs(req.paths[0]!);
        return this.judge(p, sftpCommand(`sftp ${opName(p.type)} ${path}`, [path]), { type: p.type });
      }
      case FXP.RENAME: {
        const [from, to] = [this.abs(req.paths[0]!), this.abs(req.paths[1]!)];
        return this.judge(p, sftpCommand(`sftp rename ${from} ${to}`, [from, to]), { type: p.type });
      }
      case FXP.SYMLINK: {
        // OpenSSH's order: target path first, then the link path.
        const link = this.abs(req.paths[1]!);
        const target = resolvePath(dirname(link), req.paths[0]!);
        return this.judge(p, sftpCommand(`sftp symlink ${link} ${target}`, [link, target]), { type: p.type });
      }
      case FXP.FSETSTAT: {
        const file = this.handles.get(req.handle!);
        if (!file) return this.refuseHere(p, sftpCommand('sftp setstat (unknown handle)', []), FX.FAILURE, 'invalid handle');
        return this.judge(p, sftpCommand(`sftp setstat ${file.path}`, [file.path]), { type: p.type });
      }
      case FXP.EXTENDED:
        return this.onExtended(p, req);
      case FXP.CLOSE:
      case FXP.READ:
      case FXP.READDIR: {
        const file = this.handles.get(req.handle!);
        if (file) this.pending.set(p.id, { type: p.type, file, handle: req.handle });
        this.toUp.add(p.bytes);
        return;
      }
      case FXP.WRITE: {
        const file = this.handles.get(req.handle!);
        if (file) {
          file.bytes += req.dataLength!;
          this.pending.set(p.id, { type: p.type, file });
        }
        this.toUp.add(p.bytes);
        return;
      }
      default:
        // LSTAT, FSTAT, STAT, REALPATH, READLINK: metadata only.
        this.toUp.add(p.bytes);
    }
  }

  private onExtended(p: SftpPacket, req: SftpRequest): void {
    const name = req.extension!;
    switch (name) {
      case 'posix-rename@openssh.com': {
        const [from, to] = [this.abs(req.paths[0]!), this.abs(req.paths[1]!)];
        return this.judge(p, sftpCommand(`sftp rename ${from} ${to}`, [from, to]), { type: p.type });
      }
      case 'hardlink@openssh.com': {
        const [from, to] = [this.abs(req.paths[0]!), this.abs(req.paths[1]!)];
        return this.judge(p, sftpCommand(`sftp link ${from} ${to}`, [from, to]), { type: p.type });
      }
      case 'lsetstat@openssh.com': {
        const path = this.abs(req.paths[0]!);
        return this.judge(p, sftpCommand(`sftp setstat ${path}`, [path]), { type: p.type });
      }
      default:
        if (SAFE_EXTENSIONS.has(name)) {
          this.toUp.add(p.bytes);
          return;
        }
        this.refuseHere(p, sftpCommand(`sftp extension ${name}`, []), FX.OP_UNSUPPORTED, `the sftp extension ${name} is not supported through Sluice`);
    }
  }

  private abs(p: string): string {
    return resolvePath(this.home, p);
  }

  /** Answers a request Sluice refuses on protocol grounds, and records it. */
  private refuseHere(p: SftpPacket, cmd: Command, code: number, reason: string): void {
    this.session.refuse(cmd, reason);
    this.toClient.add(statusPacket(p.id, code, `sluice: ${reason}`));
    this.flushClient();
  }

  /** Authorizes one request; later client packets wait until the verdict is in. */
  private judge(p: SftpPacket, cmd: Command, pending: Pending): void {
    this.busy = true;
    const notice = (n: ApprovalNotice) => this.stderr(`sluice: ${cmd.text} needs approval (request ${n.requestId}, policy "${n.policy}", approvers: ${n.approvers.join(', ')}); waiting up to ${Math.round(n.timeoutMs / 1000)} s`);
    this.session
      .authorize(cmd, notice, this.abort.signal)
      .then(
        (v) => {
          if (this.done) return;
          if (v.effect === 'allow') {
            const t0 = Date.now();
            if (pending.file) pending.file.t0 = t0;
            else pending.t0 = t0;
            this.pending.set(p.id, pending);
            this.toUp.add(p.bytes);
          } else {
            this.stderr(`sluice: ${cmd.text}: ${v.reason}`);
            this.toClient.add(statusPacket(p.id, FX.PERMISSION_DENIED, v.reason));
            this.flushClient();
          }
        },
        () => {
          // authorize never rejects; if it does, refuse (fail closed).
          if (this.done) return;
          this.toClient.add(statusPacket(p.id, FX.PERMISSION_DENIED, 'sluice: the request could not be judged, so it was refused'));
          this.flushClient();
        },
      )
      .finally(() => {
        this.busy = false;
        if (!this.done) this.pumpClient();
      });
  }

  private stderr(line: string): void {
    if (this.done) return;
    try {
      this.ch.stderr.write(line + '\r\n');
    } catch {
      /* the channel is going away */
    }
  }

  // ------------------------------------------------------------ target → client

  private onServerData(d: Buffer): void {
    if (this.done) return;
    this.sFramer.push(d);
    for (;;) {
      const f = this.sFramer.next();
      if (f === null) break;
      if (isFrameError(f)) return this.malformed('target', f.error);
      if (f.type === FXP.VERSION) {
        if (this.state !== 'version') return this.malformed('target', 'unexpected SSH_FXP_VERSION');
        this.toClient.add(f.bytes);
        this.state = 'home';
        this.toUp.add(realpathPacket(HOME_ID, '.'));
        if (!this.toUp.flush(this.up)) this.upBlocked = true;
        continue;
      }
      if (this.state === 'home' && f.id === HOME_ID) {
        const rep = parseReply(f);
        if (isFrameError(rep)) return this.malformed('target', rep.error);
        if (rep.type !== FXP.NAME || !rep.firstName || !rep.firstName.startsWith('/')) {
          return this.fail(`the target did not tell its sftp home directory (${rep.message ?? `reply type ${rep.type}`})`);
        }
        this.home = rep.firstName;
        this.state = 'ready';
        this.busy = false;
        queueMicrotask(() => this.pumpClient());
        continue; // Sluice's own request: not for the client
      }
      if (this.state !== 'ready') return this.malformed('target', `reply type ${f.type} before the session was set up`);
      const pend = this.pending.get(f.id);
      if (pend) {
        this.pending.delete(f.id);
        const rep = parseReply(f);
        if (isFrameError(rep)) return this.malformed('target', rep.error);
        this.onReply(pend, rep);
      }
      this.toClient.add(f.bytes);
    }
    this.flushClient();
  }

  private onReply(p: Pending, rep: SftpReply): void {
    const file = p.file;
    const failed = rep.type === FXP.STATUS && rep.code !== FX.OK && rep.code !== FX.EOF;
    switch (p.type) {
      case FXP.OPEN:
      case FXP.OPENDIR:
        if (rep.type === FXP.HANDLE && file) this.handles.set(rep.handle!, file);
        else if (file) this.recordFile({ ...file, error: rep.message ?? 'open failed' });
        return;
      case FXP.READ:
        if (rep.type === FXP.DATA) file!.bytes += rep.dataLength!;
        else if (failed) file!.error ??= rep.message;
        return;
      case FXP.READDIR:
        if (rep.type === FXP.NAME) file!.entries += rep.count!;
        else if (failed) file!.error ??= rep.message;
        return;
      case FXP.WRITE:
        if (failed) file!.error ??= rep.message;
        return;
      case FXP.CLOSE:
        if (failed) file!.error ??= rep.message;
        this.handles.delete(p.handle!);
        this.recordFile(file!);
        return;
      default: {
        // A judged path operation.
        const r: ResultSummary = { affected: failed || rep.type !== FXP.STATUS ? 0 : 1, ms: Date.now() - (p.t0 ?? Date.now()) };
        if (failed) r.error = rep.message || `sftp status ${rep.code}`;
        this.session.result(r);
      }
    }
  }

  private recordFile(f: OpenFile): void {
    const r: ResultSummary = { ms: Date.now() - f.t0 };
    if (f.mode === 'list') r.rows = f.entries;
    else r.affected = f.bytes;
    if (f.error) r.error = f.error;
    this.session.result(r);
  }

  private flushClient(): void {
    if (this.done || this.toClient.empty) return;
    if (!this.toClient.flush(this.ch)) this.clientBlocked = true;
    this.updateFlow();
  }

  // ------------------------------------------------------------ ending

  private malformed(side: 'client' | 'target', error: string): void {
    if (this.done) return;
    this.session.refuse(sftpCommand(`sftp (malformed ${side === 'client' ? 'request' : 'reply'})`, []), `malformed sftp packet from the ${side}: ${error}; channel closed`);
    this.deps.logger.warn({ session: this.session.id, side, error }, 'malformed sftp packet; closing the channel');
    this.fail(`malformed sftp packet from the ${side}`);
  }

  /** Closes both channels at once (fail closed). */
  fail(reason: string): void {
    if (this.done) return;
    this.stderr(`sluice: ${reason}; sftp closed`);
    this.finish(reason);
    try {
      this.ch.close();
    } catch {
      /* gone */
    }
    try {
      this.up?.close();
    } catch {
      /* gone */
    }
  }

  private finish(reason: string): void {
    if (this.done) return;
    this.done = true;
    this.abort.abort();
    for (const f of this.handles.values()) this.recordFile({ ...f, error: f.error ?? `${reason} with the file still open` });
    this.handles.clear();
    this.pending.clear();
    if (this.up && !this.upEnded) {
      try {
        this.up.end();
        this.up.close();
      } catch {
        /* gone */
      }
    }
  }
}

function opName(type: number, extension?: string): string {
  switch (type) {
    case FXP.OPEN:
      return 'open';
    case FXP.OPENDIR:
      return 'list';
    case FXP.REMOVE:
      return 'remove';
    case FXP.MKDIR:
      return 'mkdir';
    case FXP.RMDIR:
      return 'rmdir';
    case FXP.SETSTAT:
    case FXP.FSETSTAT:
      return 'setstat';
    case FXP.RENAME:
      return 'rename';
    case FXP.SYMLINK:
      return 'symlink';
    case FXP.EXTENDED:
      return `extension ${extension ?? '?'}`;
    default:
      return `request ${type}`;
  }
}
