/**
 * PostgreSQL frontend bytes and backend fields, written by hand for tests
 * that drive the gateway on raw sockets: they must not share the gateway's
 * own codec, which is what they judge.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { Waiter } from './waiter.js';

/** A 32-bit big-endian word; negative values (a NULL's length, -1) and absurd ones are written as their bits. */
export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

export function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

/** A typed frontend message: type byte, length word, body. */
export function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from(type, 'latin1'), int32(body.length + 4), body]);
}

/** The fields of an ErrorResponse or NoticeResponse body, by their one-letter codes. */
export function errorFields(body: Buffer): Record<string, string> {
  const f: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const end = body.indexOf(0, i + 1);
    if (end < 0) break;
    f[String.fromCharCode(body[i]!)] = body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return f;
}

/** A StartupMessage for protocol 3.0. */
export function startupPacket(params: Record<string, string>): Buffer {
  const body = Buffer.concat([int32(196608), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])]);
  return Buffer.concat([int32(body.length + 4), body]);
}

/** A backend message: type character and body. */
export interface Msg {
  type: string;
  body: Buffer;
}

/** A raw client: writes bytes, gathers every backend message in `msgs`. */
export class PgRaw {
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  readonly msgs: Msg[] = [];
  private readonly waiter = new Waiter();

  private constructor(readonly sock: Socket) {
    sock.on('data', (c: Buffer) => {
      this.buf = this.off < this.buf.length ? Buffer.concat([this.buf.subarray(this.off), c]) : c;
      this.off = 0;
      while (this.buf.length - this.off >= 5) {
        const len = this.buf.readInt32BE(this.off + 1);
        if (this.off + 1 + len > this.buf.length) break;
        this.msgs.push({ type: String.fromCharCode(this.buf[this.off]!), body: Buffer.from(this.buf.subarray(this.off + 5, this.off + 1 + len)) });
        this.off += 1 + len;
      }
      this.waiter.poke();
    });
    sock.on('close', () => {
      this.waiter.closed = true;
      this.waiter.poke();
    });
    sock.on('error', () => undefined);
  }

  /** Connected and authenticated (cleartext password if asked), up to the first ReadyForQuery; `msgs` then starts empty. */
  static async open(port: number, params: Record<string, string>, password?: string): Promise<PgRaw> {
    const sock = netConnect({ host: '127.0.0.1', port });
    sock.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const r = new PgRaw(sock);
    sock.write(startupPacket(params));
    await r.until((m) => m.some((x) => x.type === 'R'), 'an authentication request');
    if (r.msgs.find((x) => x.type === 'R')!.body.readInt32BE(0) === 3) sock.write(message('p', cstr(password ?? '')));
    await r.until((m) => m.some((x) => x.type === 'Z' || x.type === 'E'), 'ReadyForQuery');
    const err = r.msgs.find((x) => x.type === 'E');
    if (err) throw new Error(`could not connect: ${JSON.stringify(errorFields(err.body))}`);
    r.msgs.length = 0;
    return r;
  }

  until(pred: (msgs: Msg[]) => boolean, what: string, ms = 5000): Promise<void> {
    return this.waiter.until(() => pred(this.msgs), what, () => this.msgs.map((m) => m.type).join(' '), ms);
  }

  /** Sends `bytes`, waits for the `n`th ReadyForQuery from now, and returns (and clears) what came. */
  async exchange(bytes: Buffer, n = 1): Promise<Msg[]> {
    this.msgs.length = 0;
    this.sock.write(bytes);
    await this.until((m) => m.filter((x) => x.type === 'Z').length >= n, `${n} ReadyForQuery`);
    return this.msgs.splice(0);
  }

  close(): void {
    this.sock.end(message('X'));
    this.sock.destroy();
  }
}
