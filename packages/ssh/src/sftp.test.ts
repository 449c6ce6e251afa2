/**
 * The sftp proxy between OpenSSH's real `sftp` client (`sftp -D`, talking
 * SFTP over a pipe) or a raw packet client, and OpenSSH's real `sftp-server`
 * as the target, with a real core session (policies, approvals, recording).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import type { ServerChannel } from 'ssh2';
import type { Policy, Session } from '@sluice/core';
import { handleSftp } from './sftp.js';
import type { ChannelDeps } from './channel-deps.js';
import { FX, FXP, PFLAG, SERVER_TYPES, SftpFramer, isFrameError, parseReply, type SftpReply } from './sftp/codec.js';
import { SFTP_SERVER, localSftpServer, startHarness, type Harness } from './sftp/harness.js';

const haveTools = existsSync(SFTP_SERVER) && existsSync('/usr/bin/sftp');

const policies: Policy[] = [
  { name: 'no-secrets', block: { commands: ['sftp * */secret/*'], message: 'secrets stay on the server' } },
  { name: 'removals-need-approval', approve: { commands: ['sftp remove *'], approvers: ['ops'], timeoutMs: 5000 } },
];

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A UNIX socket standing in for the client's SSH channel; each connection becomes one sftp channel through handleSftp. */
async function proxyEndpoint(h: Harness, home: string): Promise<{ path: string; sessions: Session[]; sockets: net.Socket[]; stderr: string[]; close(): Promise<void> }> {
  const path = join(h.dir, `sock-${randomBytes(4).toString('hex')}`);
  const sessions: Session[] = [];
  const stderr: string[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((sock) => {
    sockets.push(sock);
    void (async () => {
      const session = await h.open();
      sessions.push(session);
      const err = new PassThrough();
      err.on('data', (d: Buffer) => stderr.push(d.toString()));
      const ch = Object.assign(sock, { stderr: err, close: () => sock.destroy(), exit: () => undefined }) as unknown as ServerChannel;
      const upstream = { subsys: (_name: string, cb: (err: Error | undefined, ch: unknown) => void) => cb(undefined, localSftpServer(home)) };
      const deps = { session, upstream, logger: { debug() {}, info() {}, warn() {}, error() {} }, connection: session.connection } as unknown as ChannelDeps;
      handleSftp(deps, () => ch, () => sock.destroy());
    })();
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, sessions, sockets, stderr, close: () => new Promise((r) => server.close(() => r())) };
}

/** Runs OpenSSH's sftp in batch mode against the endpoint. */
function sftpBatch(h: Harness, sock: string, batch: string, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const bridge = join(h.dir, 'bridge.mjs');
  writeFileSync(bridge, `import net from 'node:net'; const s = net.connect(process.argv[2]); process.stdin.pipe(s); s.pipe(process.stdout); s.on('close', () => process.exit(0)); s.on('error', () => process.exit(1));\n`);
  const bf = join(h.dir, `batch-${randomBytes(4).toString('hex')}`);
  writeFileSync(bf, batch);
  return new Promise((resolve) => {
    const c = spawn('sftp', ['-b', bf, '-D', `${process.execPath} ${bridge} ${sock}`], { cwd });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

// ------------------------------------------------------------ raw packets

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const str = (s: string) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
function pkt(type: number, id: number | null, ...fields: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from([type]), ...(id === null ? [] : [u32(id)]), ...fields]);
  return Buffer.concat([u32(body.length), body]);
}

class RawClient {
  private readonly framer = new SftpFramer(SERVER_TYPES);
  private readonly replies: SftpReply[] = [];
  private waiter: (() => void) | null = null;
  closed = false;
  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.framer.push(d);
      for (let f = this.framer.next(); f && !isFrameError(f); f = this.framer.next()) {
        const r = parseReply(f);
        if (!isFrameError(r)) this.replies.push(r);
      }
      this.waiter?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }
  static async connect(path: string): Promise<RawClient> {
    const s = net.connect(path);
    await new Promise((r) => s.once('connect', r));
    const c = new RawClient(s);
    s.write(pkt(FXP.INIT, null, u32(3)));
    const v = await c.next();
    expect(v.type).toBe(FXP.VERSION);
    return c;
  }
  async next(timeoutMs = 5000): Promise<SftpReply> {
    const end = Date.now() + timeoutMs;
    while (!this.replies.length) {
      if (this.closed) throw new Error('channel closed');
      if (Date.now() > end) throw new Error('no reply');
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 50);
      });
    }
    return this.replies.shift()!;
  }
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }
}

describe.skipIf(!haveTools)('sftp proxy (OpenSSH sftp client and sftp-server)', () => {
  let h: Harness;
  let home: string;
  let ep: Awaited<ReturnType<typeof proxyEndpoint>>;
  let local: string;

  beforeAll(async () => {
    h = await startHarness(policies, [{ name: 'files', type: 'ssh', target: 'ssh://x@127.0.0.1:22', access: ['agents'], secrets: {}, options: {} }]);
    home = join(h.dir, 'home');
    local = join(h.dir, 'local');
    mkdirSync(join(home, 'secret'), { recursive: true });
    mkdirSync(join(home, 'pub'), { recursive: true });
    mkdirSync(local, { recursive: true });
    writeFileSync(join(home, 'secret', 'key.txt'), 'top secret');
    ep = await proxyEndpoint(h, home);
  });
  afterAll(async () => {
    await ep?.close();
    await h?.close();
  });

  it('put and get of an 8 MB file: same bytes both ways, each recorded with its byte count', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    writeFileSync(join(local, 'up.bin'), data);
    const r = await sftpBatch(h, ep.path, 'put up.bin pub/up.bin\nget pub/up.bin down.bin\nls pub\n', local);
    expect(r.stderr).not.toMatch(/denied|error/i);
    expect(r.code).toBe(0);
    expect(sha(readFileSync(join(home, 'pub', 'up.bin')))).toBe(sha(data));
    expect(sha(readFileSync(join(local, 'down.bin')))).toBe(sha(data));
    const ev = await h.events(ep.sessions.at(-1)!.id);
    const cmds = ev.filter((e) => e.type === 'command').map((e) => `${e.data.text} ${e.data.decision}`);
    expect(cmds).toContain(`sftp write ${home}/pub/up.bin allow`);
    expect(cmds).toContain(`sftp read ${home}/pub/up.bin allow`);
    expect(cmds).toContain(`sftp list ${home}/pub allow`);
    const results = ev.filter((e) => e.type === 'result').map((e) => e.data);
    expect(results.filter((x) => x.affected === data.length).length).toBe(2);
    expect(results.some((x) => typeof x.rows === 'number' && (x.rows as number) >= 1)).toBe(true);
  });

  it('a forbidden path is refused, also when reached through ".."; the refusal names the policy and is recorded', async () => {
    const r = await sftpBatch(h, ep.path, 'get secret/key.txt k1.txt\n', local);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    expect(existsSync(join(local, 'k1.txt'))).toBe(false);
    const r2 = await sftpBatch(h, ep.path, 'get pub/../secret/key.txt k2.txt\n', local);
    expect(r2.code).not.toBe(0);
    expect(existsSync(join(local, 'k2.txt'))).toBe(false);
    expect(ep.stderr.join('')).toMatch(/sluice: sftp read .*\/secret\/key\.txt: secrets stay on the server \(policy "no-secrets"\)/);
    const ev = await h.events(ep.sessions.at(-1)!.id);
    const cmd = ev.find((e) => e.type === 'command' && e.data.decision === 'block')!;
    expect(cmd.data).toMatchObject({ kind: 'sftp', text: `sftp read ${home}/secret/key.txt`, objects: [`${home}/secret/key.txt`], policy: 'no-secrets' });
  });

  it('rename, mkdir and rmdir are judged and recorded with their outcome; a blocked rename leaves the file alone', async () => {
    writeFileSync(join(home, 'pub', 'a.txt'), 'a');
    const r = await sftpBatch(h, ep.path, 'rename pub/a.txt pub/b.txt\nmkdir pub/d\nrmdir pub/d\n-rename pub/b.txt secret/b.txt\n', local);
    expect(r.code).toBe(0);
    expect(existsSync(join(home, 'pub', 'b.txt'))).toBe(true);
    expect(existsSync(join(home, 'secret', 'b.txt'))).toBe(false);
    const ev = await h.events(ep.sessions.at(-1)!.id);
    const cmds = ev.filter((e) => e.type === 'command').map((e) => `${e.data.text} ${e.data.decision}`);
    expect(cmds).toEqual(
      expect.arrayContaining([
        `sftp rename ${home}/pub/a.txt ${home}/pub/b.txt allow`,
        `sftp mkdir ${home}/pub/d allow`,
        `sftp rmdir ${home}/pub/d allow`,
        `sftp rename ${home}/pub/b.txt ${home}/secret/b.txt block`,
      ]),
    );
    expect(ev.filter((e) => e.type === 'result' && e.data.affected === 1).length).toBeGreaterThanOrEqual(3);
  });

  it('a request held for approval keeps the order of the requests behind it; approved it runs, denied it gets PERMISSION_DENIED', async () => {
    writeFileSync(join(home, 'pub', 'gone.txt'), 'x');
    writeFileSync(join(home, 'pub', 'kept.txt'), 'x');
    const c = await RawClient.connect(ep.path);
    // REMOVE (needs approval) and a STAT pipelined behind it in one write.
    c.sock.write(Buffer.concat([pkt(FXP.REMOVE, 1, str('pub/gone.txt')), pkt(FXP.STAT, 2, str('pub'))]));
    const id = await h.pendingApproval();
    expect(ep.stderr.join('')).toMatch(/sftp remove .*gone\.txt needs approval \(request /);
    await h.gateway.broker.decide(id, h.approver, true, 'fine');
    const first = await c.next();
    const second = await c.next();
    expect([first.id, first.type, first.code]).toEqual([1, FXP.STATUS, FX.OK]);
    expect([second.id, second.type]).toEqual([2, FXP.ATTRS]);
    expect(existsSync(join(home, 'pub', 'gone.txt'))).toBe(false);

    c.sock.write(Buffer.concat([pkt(FXP.REMOVE, 3, str('pub/kept.txt')), pkt(FXP.STAT, 4, str('pub'))]));
    const id2 = await h.pendingApproval();
    await h.gateway.broker.decide(id2, h.approver, false, 'not today');
    const denied = await c.next();
    expect(denied).toMatchObject({ id: 3, type: FXP.STATUS, code: FX.PERMISSION_DENIED });
    expect(denied.message).toMatch(/denied by bob@example.com: not today \(policy "removals-need-approval"\)/);
    expect((await c.next()).id).toBe(4);
    expect(existsSync(join(home, 'pub', 'kept.txt'))).toBe(true);
    c.sock.destroy();
  });

  it('while a request waits for approval, the client channel is paused once over 1 MiB is queued; all requests are then answered in order', async () => {
    writeFileSync(join(home, 'pub', 'slow.txt'), 'x');
    const c = await RawClient.connect(ep.path);
    const long = 'pub/' + 'n'.repeat(4000);
    const stats = Array.from({ length: 600 }, (_, i) => pkt(FXP.STAT, 100 + i, str(long)));
    c.sock.write(Buffer.concat([pkt(FXP.REMOVE, 1, str('pub/slow.txt')), ...stats]));
    const id = await h.pendingApproval();
    const server = ep.sockets.at(-1)!;
    for (let i = 0; i < 100 && !server.isPaused(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.isPaused()).toBe(true);
    await h.gateway.broker.decide(id, h.approver, true, 'ok');
    expect(await c.next()).toMatchObject({ id: 1, code: FX.OK });
    for (let i = 0; i < 600; i++) expect((await c.next()).id).toBe(100 + i);
    expect(server.isPaused()).toBe(false);
    c.sock.destroy();
  });

  it('opening for write is judged as write (CREAT/TRUNC/APPEND), for read as read; an unknown extension is refused and the channel goes on', async () => {
    const c = await RawClient.connect(ep.path);
    c.sock.write(pkt(FXP.OPEN, 1, str('secret/new.txt'), u32(PFLAG.CREAT | PFLAG.TRUNC), u32(0)));
    expect(await c.next()).toMatchObject({ id: 1, code: FX.PERMISSION_DENIED, message: expect.stringContaining('no-secrets') });
    expect(existsSync(join(home, 'secret', 'new.txt'))).toBe(false);
    c.sock.write(pkt(FXP.EXTENDED, 2, str('evil@example.com'), str('x')));
    expect(await c.next()).toMatchObject({ id: 2, code: FX.OP_UNSUPPORTED });
    c.sock.write(pkt(FXP.REMOVE, 3, str('/etc/x\0/tmp/y')));
    expect(await c.next()).toMatchObject({ id: 3, code: FX.FAILURE, message: expect.stringContaining('NUL') });
    c.sock.write(pkt(FXP.STAT, 4, str('pub')));
    expect(await c.next()).toMatchObject({ id: 4, type: FXP.ATTRS });
    c.sock.destroy();
    const ev = await h.events(ep.sessions.at(-1)!.id);
    const texts = ev.filter((e) => e.type === 'command').map((e) => e.data.text);
    expect(texts).toEqual(expect.arrayContaining([`sftp write ${home}/secret/new.txt`, 'sftp extension evil@example.com']));
  });

  it('a malformed packet closes the channel and is recorded', async () => {
    const c = await RawClient.connect(ep.path);
    c.sock.write(Buffer.concat([u32(10), Buffer.from([77]), Buffer.alloc(9)]));
    expect(await c.waitClosed()).toBe(true);
    const ev = await h.events(ep.sessions.at(-1)!.id);
    const bad = ev.find((e) => e.type === 'command' && String(e.data.text).includes('malformed'));
    expect(bad?.data).toMatchObject({ decision: 'block', reason: expect.stringMatching(/unexpected packet type 77; channel closed/) });
  });

  it('a request before INIT closes the channel', async () => {
    const s = net.connect(ep.path);
    await new Promise((r) => s.once('connect', r));
    const c = new RawClient(s);
    s.write(pkt(FXP.STAT, 1, str('/')));
    expect(await c.waitClosed()).toBe(true);
  });
});
