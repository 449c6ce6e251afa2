/**
 * Bad clients against the running gateway (real PostgreSQL behind it): each
 * is refused cleanly — a FATAL/ERROR it can read where the protocol allows,
 * then a closed socket — while a well-behaved node-postgres client keeps
 * running queries, and no session or target connection is left behind.
 *
 * Bad clients are written by hand on raw sockets (not with the gateway's own
 * codec), so the test does not share the code it judges.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import pg from 'pg';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { PostgresPluginOptions } from '@sluice/postgres';
import type { TestGateway } from '../support/gateway.js';
import { pgSkip, setupPg } from './fixture.js';
import { cstr, errorFields, int32, message } from '../support/pg-wire.js';

const skip = await pgSkip();

const STARTUP_TIMEOUT_MS = 500;

// ------------------------------------------------------------------ environment

interface RobustEnv {
  gw: TestGateway;
  db: string;
  admin: pg.Client;
  secret: string;
  connect(): Promise<pg.Client>;
  /** Connections the gateway holds open to the target database. */
  upstreamCount(): Promise<number>;
  close(): Promise<void>;
}

/** fixture.ts's setupPg with plugin options, plus a count of the gateway's target connections. */
async function setupRobustPg(pluginOpts: PostgresPluginOptions): Promise<RobustEnv> {
  const env = await setupPg([], pluginOpts);
  return {
    gw: env.gw,
    db: env.db,
    admin: env.admin,
    secret: env.agent.secret,
    connect: () => env.connect(env.agent.secret),
    async upstreamCount() {
      const r = await env.admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [env.db]);
      return r.rows[0].n as number;
    },
    close: () => env.close(),
  };
}

// ------------------------------------------------------------------ hand-made frontend bytes

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

function startupPacket(params: Record<string, string> = { user: 'alice', database: 'orders' }, version = 196608): Buffer {
  const body = Buffer.concat([int32(version), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])]);
  return Buffer.concat([int32(body.length + 4), body]);
}
function requestPacket(code: number): Buffer {
  return Buffer.concat([int32(8), int32(code)]);
}
/** A message header with an arbitrary (possibly absurd) length word. */
function header(type: string, length: number): Buffer {
  return Buffer.concat([Buffer.from(type, 'latin1'), int32(length)]);
}
const passwordMessage = (s: string) => message('p', cstr(s));
const queryMessage = (sql: string) => message('Q', cstr(sql));
const terminateMessage = () => message('X');
/** FunctionCall: OID, no argument formats, no arguments, text result. */
function functionCallMessage(oid: number): Buffer {
  const b = Buffer.alloc(10);
  b.writeUInt32BE(oid, 0);
  b.writeInt16BE(0, 4);
  b.writeInt16BE(0, 6);
  b.writeInt16BE(0, 8);
  return message('F', b);
}

// ------------------------------------------------------------------ a raw client

interface BackendMsg {
  type: string;
  body: Buffer;
}


/**
 * Parses backend messages from `buf` (from `from`). Throws if the stream is
 * not well framed; an incomplete trailing message is left out.
 */
function parseBackend(buf: Buffer, from = 0): BackendMsg[] {
  const out: BackendMsg[] = [];
  let off = from;
  while (buf.length - off >= 5) {
    const len = buf.readInt32BE(off + 1);
    if (len < 4) throw new Error(`backend message with length ${len} at ${off}`);
    if (off + 1 + len > buf.length) break;
    out.push({ type: String.fromCharCode(buf[off]!), body: buf.subarray(off + 5, off + 1 + len) });
    off += 1 + len;
  }
  return out;
}

/** Every raw client of the current test (afterEach ends what a failed test left open). */
const wires = new Set<Wire>();

/** A hand-driven client connection that records everything the gateway sends. */
class Wire {
  buf = Buffer.alloc(0);
  /** The gateway ended its side (FIN, or TLS close). */
  ended = false;
  closed = false;
  error: Error | null = null;
  /** Bytes before the backend message stream (the answer to an SSLRequest/GSSENCRequest). */
  skip = 0;
  private waiters = new Set<() => void>();

  constructor(readonly sock: Socket | TLSSocket) {
    wires.add(this);
    sock.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.poke();
    });
    sock.on('end', () => {
      this.ended = true;
      this.poke();
    });
    sock.on('close', () => {
      this.closed = true;
      this.poke();
    });
    sock.on('error', (e) => {
      this.error = e;
      this.poke();
    });
  }

  static async open(port: number): Promise<Wire> {
    const s = netConnect({ host: '127.0.0.1', port });
    s.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return new Wire(s);
  }

  /** SSLRequest, the 'S' answer, then a TLS handshake; the Wire speaks through TLS. */
  static async openTls(port: number): Promise<Wire> {
    const s = netConnect({ host: '127.0.0.1', port });
    s.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    const answer = await new Promise<Buffer>((resolve, reject) => {
      s.once('data', resolve);
      s.once('error', reject);
      s.write(requestPacket(SSL_REQUEST));
    });
    expect(answer.toString('latin1')).toBe('S');
    const t = tlsConnect({ socket: s, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      t.once('secureConnect', resolve);
      t.once('error', reject);
    });
    return new Wire(t);
  }

  private poke(): void {
    for (const w of [...this.waiters]) w();
  }

  write(b: Buffer): void {
    if (!this.sock.destroyed && this.sock.writable) this.sock.write(b);
  }

  messages(): BackendMsg[] {
    return parseBackend(this.buf, this.skip);
  }

  has(type: string): boolean {
    return this.messages().some((m) => m.type === type);
  }

  count(type: string): number {
    return this.messages().filter((m) => m.type === type).length;
  }

  errors(): Record<string, string>[] {
    return this.messages()
      .filter((m) => m.type === 'E')
      .map((m) => errorFields(m.body));
  }

  /** Resolves when `pred` holds; rejects after `ms` with what was seen so far. */
  until(pred: () => boolean, ms: number, what: string): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        let ok = false;
        try {
          ok = pred();
        } catch (e) {
          done();
          reject(e as Error);
          return;
        }
        if (ok) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; got ${this.describe()}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  closedWithin(ms: number): Promise<void> {
    return this.until(() => this.closed, ms, 'the gateway to close the socket');
  }

  describe(): string {
    let types = '';
    try {
      types = this.messages()
        .map((m) => (m.type === 'E' ? `E${JSON.stringify(errorFields(m.body))}` : m.type))
        .join(' ');
    } catch (e) {
      types = `unframed (${(e as Error).message})`;
    }
    return `[${types}] ${this.buf.length} bytes, ended=${this.ended}, closed=${this.closed}`;
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** A raw client through start-up and password, by hand, up to its first ReadyForQuery. */
async function authenticated(port: number, secret: string, tls = false): Promise<Wire> {
  const w = tls ? await Wire.openTls(port) : await Wire.open(port);
  w.write(startupPacket());
  await w.until(() => w.has('R'), 3000, 'AuthenticationCleartextPassword');
  expect(w.messages()[0]!.body.readInt32BE(0)).toBe(3);
  w.write(passwordMessage(secret));
  await w.until(() => w.has('Z'), 5000, 'ReadyForQuery');
  expect(w.errors()).toEqual([]);
  return w;
}

/** The socket was refused: a readable FATAL with `sqlstate`, then the gateway closed it. */
async function expectRefused(w: Wire, sqlstate = '08P01', ms = 3000): Promise<Record<string, string>> {
  await w.closedWithin(ms);
  expect(w.ended, `the gateway should close its side: ${w.describe()}`).toBe(true);
  const errs = w.errors();
  expect(errs.length, w.describe()).toBe(1);
  expect(errs[0]!.S).toBe('FATAL');
  expect(errs[0]!.C).toBe(sqlstate);
  expect(errs[0]!.M).toBeTruthy();
  return errs[0]!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(pred: () => boolean | Promise<boolean>, ms: number, what: string | (() => string)): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(20);
  }
}

// ------------------------------------------------------------------ the well-behaved client

interface GoodLoop {
  client: pg.Client;
  ok: number;
  failures: string[];
  stop(): Promise<void>;
}

/** A node-postgres client running queries back to back (simple and extended) until stopped. */
async function startGoodLoop(env: RobustEnv): Promise<GoodLoop> {
  const client = await env.connect();
  let stopped = false;
  const loop: GoodLoop = { client, ok: 0, failures: [], stop: async () => undefined };
  const run = (async () => {
    for (let i = 0; !stopped; i++) {
      try {
        const r =
          i % 2 === 0
            ? await client.query('SELECT count(*)::int AS n FROM orders')
            : await client.query('SELECT count(*)::int AS n FROM orders WHERE id > $1', [0]);
        if (r.rows[0].n !== 20) loop.failures.push(`query ${i}: got ${JSON.stringify(r.rows)}`);
        else loop.ok++;
      } catch (e) {
        loop.failures.push(`query ${i}: ${(e as Error).message}`);
        await sleep(10);
      }
    }
  })();
  loop.stop = async () => {
    stopped = true;
    await run;
    await client.end();
  };
  return loop;
}

// ------------------------------------------------------------------ the tests

describe.skipIf(!!skip)(`postgres gateway against bad clients${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: RobustEnv;
  let good: GoodLoop;
  const crashes: unknown[] = [];
  const onCrash = (e: unknown) => crashes.push(e);

  /** Good clients hold this many sessions (and target connections). */
  const GOOD = 1;

  const sessionCount = () => env.gw.gateway.liveSessions.length;

  async function expectNoLeaks(): Promise<void> {
    await eventually(() => sessionCount() === GOOD, 5000, () => `live sessions to return to ${GOOD} (now ${sessionCount()})`);
    let n = -1;
    await eventually(
      async () => (n = await env.upstreamCount()) === GOOD,
      5000,
      () => `target connections to return to ${GOOD} (now ${n})`,
    );
  }

  beforeAll(async () => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    env = await setupRobustPg({ startupTimeoutMs: STARTUP_TIMEOUT_MS });
    good = await startGoodLoop(env);
    await expectNoLeaks();
  });

  afterEach(async () => {
    const leftOpen = [...wires].filter((w) => !w.closed);
    for (const w of wires) w.destroy();
    wires.clear();
    expect(good.failures).toEqual([]);
    expect(crashes).toEqual([]);
    await expectNoLeaks();
    expect(leftOpen.map((w) => w.describe())).toEqual([]);
  });

  afterAll(async () => {
    await good?.stop();
    await env?.close();
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  });

  describe('start-up phase', () => {
    const garbage: [string, Buffer][] = [
      ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: db\r\n\r\n')],
      ['a TLS ClientHello without SSLRequest', Buffer.from('16030100a5010000a10303', 'hex')],
      ['a small length and an unknown protocol code', Buffer.concat([int32(16), int32(0x01020304), Buffer.alloc(8, 0x41)])],
      ['protocol 2.0', startupPacket({ user: 'alice', database: 'orders' }, 0x00020000)],
      ['a startup packet without its terminator', Buffer.concat([int32(17), int32(196608), Buffer.from('user\0alice')])],
      ['a CancelRequest with a 1-byte key', Buffer.concat([int32(13), int32(80877102), int32(42), Buffer.from([1])])],
    ];
    for (const [name, bytes] of garbage) {
      it(`refuses garbage instead of a startup packet: ${name}`, async () => {
        const w = await Wire.open(env.gw.port);
        w.write(bytes);
        await expectRefused(w);
      });
    }

    it('a CancelRequest for an unknown key, with bytes behind it: closed quietly', async () => {
      const w = await Wire.open(env.gw.port);
      w.write(Buffer.concat([int32(16), int32(80877102), int32(12345), int32(678)]));
      await w.closedWithin(2000);
      expect(w.ended).toBe(true);
      expect(w.buf.length).toBe(0); // PostgreSQL answers a CancelRequest with nothing
      const w2 = await Wire.open(env.gw.port);
      w2.write(Buffer.concat([int32(16), int32(80877102), int32(12345), int32(678), startupPacket()]));
      await expectRefused(w2);
    });

    it('a truncated startup packet, then close: the socket is closed, nothing is opened', async () => {
      const before = sessionCount();
      const w = await Wire.open(env.gw.port);
      w.write(startupPacket().subarray(0, 11));
      await sleep(20);
      (w.sock as Socket).end();
      await w.closedWithin(2000);
      expect(w.ended).toBe(true);
      expect(w.errors()).toEqual([]);
      expect(sessionCount()).toBe(before);
    });

    it('a truncated startup packet, then silence: dropped with 08P01 at the start-up deadline', async () => {
      const w = await Wire.open(env.gw.port);
      const t0 = Date.now();
      w.write(startupPacket().subarray(0, 11));
      const e = await expectRefused(w, '08P01', STARTUP_TIMEOUT_MS + 3000);
      expect(e.M).toMatch(/too long/);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(STARTUP_TIMEOUT_MS - 50);
    });

    const lengths: [string, number][] = [
      ['0x7fffffff', 0x7fffffff],
      ['-1', -1],
      ['-2^31', -0x80000000],
      ['3', 3],
      ['0', 0],
      ['7', 7],
      ['10009 (one past the limit)', 10009],
    ];
    for (const [name, len] of lengths) {
      it(`refuses a startup length prefix of ${name} at once`, async () => {
        const w = await Wire.open(env.gw.port);
        const t0 = Date.now();
        w.write(Buffer.concat([int32(len), int32(196608), Buffer.from('user\0alice\0\0')]));
        await expectRefused(w);
        expect(Date.now() - t0).toBeLessThan(STARTUP_TIMEOUT_MS);
      });
    }

    it('a client that connects and sends nothing is dropped with 08P01 after the start-up deadline', async () => {
      const t0 = Date.now();
      const w = await Wire.open(env.gw.port);
      const e = await expectRefused(w, '08P01', STARTUP_TIMEOUT_MS + 3000);
      expect(e.M).toMatch(/too long/);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(STARTUP_TIMEOUT_MS - 50);
    });

    it('a client that sends a startup packet but no password is dropped at the deadline', async () => {
      const w = await Wire.open(env.gw.port);
      w.write(startupPacket());
      const e = await expectRefused(w, '08P01', STARTUP_TIMEOUT_MS + 3000);
      expect(e.M).toMatch(/too long/);
      expect(w.messages()[0]!.type).toBe('R');
    });

    it('a Query instead of the password is refused with 08P01', async () => {
      const w = await Wire.open(env.gw.port);
      w.write(startupPacket());
      await w.until(() => w.has('R'), 2000, 'the password request');
      w.write(queryMessage('SELECT 1'));
      await expectRefused(w);
    });

    it('a password message with an absurd length is refused with 08P01', async () => {
      const w = await Wire.open(env.gw.port);
      w.write(startupPacket());
      await w.until(() => w.has('R'), 2000, 'the password request');
      w.write(Buffer.concat([header('p', 0x7fffffff), Buffer.from('secret')]));
      await expectRefused(w);
    });

    it('a message of an unknown type instead of the password is refused with 08P01', async () => {
      const w = await Wire.open(env.gw.port);
      w.write(startupPacket());
      await w.until(() => w.has('R'), 2000, 'the password request');
      w.write(message('!', Buffer.from('hello')));
      await expectRefused(w);
    });

    it('a second GSSENCRequest is refused with 08P01 after the first is declined', async () => {
      const w = await Wire.open(env.gw.port);
      w.write(requestPacket(GSSENC_REQUEST));
      await w.until(() => w.buf.length >= 1, 2000, "the 'N' answer");
      expect(w.buf.toString('latin1', 0, 1)).toBe('N');
      w.skip = 1;
      w.write(requestPacket(GSSENC_REQUEST));
      await expectRefused(w);
    });

    it('a client that disconnects while being authenticated leaves no session behind', async () => {
      // Several at once, each gone right after its password: the gateway is
      // then authenticating, opening the session or dialling the target.
      const ws = await Promise.all(Array.from({ length: 8 }, () => Wire.open(env.gw.port)));
      await Promise.all(
        ws.map(async (w, i) => {
          w.write(startupPacket());
          await w.until(() => w.has('R'), 2000, 'the password request');
          w.write(passwordMessage(env.secret));
          await sleep(i * 3);
          w.destroy();
          await w.closedWithin(1000);
        }),
      );
    });
  });

  describe('TLS', () => {
    it('a full session over TLS works (the raw client is sound)', async () => {
      const w = await authenticated(env.gw.port, env.secret, true);
      w.write(queryMessage('SELECT 41 + 1 AS n'));
      await w.until(() => w.count('Z') === 2, 3000, 'the answer');
      const row = w.messages().find((m) => m.type === 'D')!;
      expect(row.body.toString('utf8', 6)).toBe('42');
      w.write(terminateMessage());
      await w.closedWithin(2000);
    });

    it('plaintext smuggled right behind an SSLRequest is refused in plaintext with 08P01, never answered with S', async () => {
      const w = await Wire.open(env.gw.port);
      w.write(Buffer.concat([requestPacket(SSL_REQUEST), startupPacket(), passwordMessage(env.secret), queryMessage('SELECT 1')]));
      const e = await expectRefused(w);
      expect(w.buf[0]).toBe('E'.charCodeAt(0));
      expect(e.M).toMatch(/unencrypted/);
    });

    it('plaintext sent after the S answer (no TLS handshake) is dropped', async () => {
      const w = await Wire.open(env.gw.port);
      w.write(requestPacket(SSL_REQUEST));
      await w.until(() => w.buf.length >= 1, 2000, "the 'S' answer");
      expect(w.buf.toString('latin1')).toBe('S');
      w.write(Buffer.concat([startupPacket(), passwordMessage(env.secret)]));
      await w.closedWithin(STARTUP_TIMEOUT_MS + 2000);
      expect(w.buf.length).toBeLessThan(16); // nothing of a session came back
    });

    it('an SSLRequest answered, then silence: dropped at the start-up deadline', async () => {
      const w = await Wire.open(env.gw.port);
      w.write(requestPacket(SSL_REQUEST));
      await w.closedWithin(STARTUP_TIMEOUT_MS + 2500);
      expect(w.buf.toString('latin1', 0, 1)).toBe('S');
    });

    it('a second SSLRequest inside TLS is refused with 08P01, readable through TLS', async () => {
      const w = await Wire.openTls(env.gw.port);
      w.write(requestPacket(SSL_REQUEST));
      const e = await expectRefused(w);
      expect(e.M).toMatch(/SSLRequest/);
    });

    it('TLS established, then silence: dropped with 08P01 at the deadline, readable through TLS', async () => {
      const w = await Wire.openTls(env.gw.port);
      const e = await expectRefused(w, '08P01', STARTUP_TIMEOUT_MS + 3000);
      expect(e.M).toMatch(/too long/);
    });

    it('an absurd startup length inside TLS is refused with 08P01', async () => {
      const w = await Wire.openTls(env.gw.port);
      w.write(Buffer.concat([int32(0x7fffffff), int32(196608)]));
      await expectRefused(w);
    });
  });

  describe('after authentication', () => {
    const lengths: [string, number][] = [
      ['0x7fffffff', 0x7fffffff],
      ['-1', -1],
      ['-2^31', -0x80000000],
      ['3', 3],
      ['0', 0],
    ];
    for (const [name, len] of lengths) {
      it(`a Query with length ${name} is refused with 08P01; its session and target connection end`, async () => {
        const w = await authenticated(env.gw.port, env.secret);
        await eventually(() => sessionCount() === GOOD + 1, 2000, 'the session to be live');
        w.write(Buffer.concat([header('Q', len), Buffer.from('SELECT 1\0')]));
        await expectRefused(w);
        // afterEach checks that the session and its target connection are gone
      });
    }

    it('a message of an unknown type is refused with 08P01', async () => {
      const w = await authenticated(env.gw.port, env.secret);
      w.write(message('z', Buffer.from('what is this')));
      await expectRefused(w);
    });

    it('a startup packet after authentication is refused with 08P01', async () => {
      const w = await authenticated(env.gw.port, env.secret);
      w.write(startupPacket());
      await expectRefused(w);
    });

    it('a FunctionCall is refused with an error; the session stays usable and in order', async () => {
      const w = await authenticated(env.gw.port, env.secret);
      const z0 = w.count('Z');
      // pipelined: a query, the function call (lo_unlink), another query
      w.write(Buffer.concat([queryMessage('SELECT 1 AS a'), functionCallMessage(964), queryMessage('SELECT 2 AS b')]));
      await w.until(() => w.count('Z') === z0 + 3, 5000, 'three ReadyForQuery');
      const after = w.messages().slice(w.messages().findIndex((m) => m.type === 'Z') + 1);
      expect(after.map((m) => m.type).join('')).toBe('TDCZEZTDCZ');
      const err = errorFields(after[4]!.body);
      expect(err.S).toBe('ERROR');
      expect(err.C).toBe('42501');
      expect(err.M).toMatch(/function-call/);
      expect(after[2]!.body.toString('latin1')).toBe('SELECT 1\0');
      expect(after[7]!.body.toString('utf8', 6)).toBe('2');
      expect(w.closed).toBe(false);
      // and on its own, not pipelined
      w.write(functionCallMessage(964));
      await w.until(() => w.count('Z') === z0 + 4, 3000, 'the refusal');
      w.write(queryMessage('SELECT 3'));
      await w.until(() => w.count('Z') === z0 + 5, 3000, 'the next answer');
      expect(w.errors().length).toBe(2);
      w.write(terminateMessage());
      await w.closedWithin(2000);
    });

    it('a client that stalls in the middle of a message blocks nobody', async () => {
      const stalled = await authenticated(env.gw.port, env.secret);
      const q = queryMessage('SELECT 7 AS stalled');
      stalled.write(q.subarray(0, 9)); // the header and a few bytes of the body
      const ok0 = good.ok;
      await sleep(300);
      // the looping client carried on, a new client connects and queries, a raw one too
      expect(good.ok).toBeGreaterThan(ok0);
      const fresh = await env.connect();
      expect((await fresh.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(20);
      const other = await authenticated(env.gw.port, env.secret);
      other.write(queryMessage('SELECT 1'));
      await other.until(() => other.count('Z') === 2, 3000, 'an answer');
      expect(sessionCount()).toBe(GOOD + 3);
      // the stalled client finishes its message: it is answered
      stalled.write(q.subarray(9));
      await stalled.until(() => stalled.count('Z') === 2, 3000, 'the stalled answer');
      expect(stalled.messages().find((m) => m.type === 'D')!.body.toString('utf8', 6)).toBe('7');
      // a second stall, then a disconnect mid-message
      stalled.write(q.subarray(0, 3));
      await sleep(50);
      stalled.destroy();
      await stalled.closedWithin(1000);
      other.write(terminateMessage());
      await fresh.end();
      await other.closedWithin(2000);
    });

    it('a stalled start-up does not delay anybody else’s start-up', async () => {
      const silent = await Promise.all(Array.from({ length: 5 }, () => Wire.open(env.gw.port)));
      const t0 = Date.now();
      const c = await env.connect();
      await c.query('SELECT 1');
      await c.end();
      expect(Date.now() - t0).toBeLessThan(STARTUP_TIMEOUT_MS);
      await Promise.all(silent.map((w) => expectRefused(w, '08P01', STARTUP_TIMEOUT_MS + 3000)));
    });
  });

  describe('clients that do not read', () => {
    const MiB = 1024 * 1024;
    const arrayBuffers = () => process.memoryUsage().arrayBuffers;
    async function backendOf(app: string): Promise<{ state: string; wait_event: string | null } | undefined> {
      const r = await env.admin.query('SELECT state, wait_event FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [env.db, app]);
      return r.rows[0];
    }
    /** A raw session whose received bytes are only counted (the last few kept). */
    async function countingSession(app: string): Promise<{ w: Wire; received: () => number; tail: () => Buffer }> {
      const w = await Wire.open(env.gw.port);
      w.write(startupPacket({ user: 'alice', database: 'orders', application_name: app }));
      await w.until(() => w.has('R'), 3000, 'the password request');
      w.write(passwordMessage(env.secret));
      await w.until(() => w.has('Z'), 5000, 'ReadyForQuery');
      let n = 0;
      let tail = Buffer.alloc(0);
      w.sock.removeAllListeners('data');
      w.sock.on('data', (c: Buffer) => {
        n += c.length;
        tail = Buffer.concat([tail, c.subarray(Math.max(0, c.length - 6))]).subarray(-6);
      });
      return { w, received: () => n, tail: () => tail };
    }
    const readyForQuery = Buffer.from('5a0000000549', 'hex');

    it('a client that never reads a large result: the gateway holds the target back instead of buffering it', async () => {
      const { w, received, tail } = await countingSession('not-reading');
      w.sock.pause();
      const ab0 = arrayBuffers();
      w.write(queryMessage("SELECT repeat('x', 1024 * 1024) FROM generate_series(1, 96)"));
      await sleep(1500);
      const grown = arrayBuffers() - ab0;
      if (process.env.SLUICE_FUZZ_STATS) console.log('not reading', { grownMiB: grown / MiB, backend: await backendOf('not-reading') });
      // the target is still sending (blocked), the gateway has not taken it all in
      expect((await backendOf('not-reading'))?.state).toBe('active');
      expect(grown).toBeLessThan(16 * MiB);
      // others are unaffected meanwhile
      const c = await env.connect();
      expect((await c.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(20);
      await c.end();
      // once the client reads, the whole result arrives
      w.sock.resume();
      await eventually(() => tail().equals(readyForQuery), 10_000, () => `the result (got ${received()} bytes)`);
      expect(received()).toBeGreaterThan(96 * MiB);
      w.write(terminateMessage());
      await w.closedWithin(2000);
    }, 20_000);

    it('a client that floods requests without reading is slowed down, not buffered', async () => {
      const { w, received, tail } = await countingSession('flooding');
      // A statement whose description is large: each 9-byte Describe brings ~24 KiB back.
      const cols = Array.from({ length: 1000 }, (_, i) => `1 AS c${i}`).join(', ');
      w.write(Buffer.concat([message('P', Buffer.concat([cstr('s1'), cstr(`SELECT ${cols}`), Buffer.from([0, 0])])), message('S')]));
      await eventually(() => tail().equals(readyForQuery), 3000, 'the statement to be prepared');
      expect(received()).toBeLessThan(64); // ParseComplete, ReadyForQuery: no error
      w.sock.pause();
      const describe = message('D', Buffer.concat([Buffer.from('S'), cstr('s1')]));
      // 32 MiB of Describes, in 64 KiB writes; count what the kernel took from us
      const piece = Buffer.concat(Array.from({ length: Math.floor((64 * 1024) / describe.length) }, () => describe));
      let accepted = 0;
      const ab0 = arrayBuffers();
      for (let i = 0; i < (32 * MiB) / piece.length; i++) w.sock.write(piece, () => (accepted += piece.length));
      await sleep(1500);
      const grown = arrayBuffers() - ab0;
      const backend = await backendOf('flooding');
      if (process.env.SLUICE_FUZZ_STATS) console.log('flood', { grownMiB: grown / MiB, acceptedMiB: accepted / MiB, received: received(), backend });
      // the gateway stopped taking the client's requests: most still wait on the client's side
      expect(accepted).toBeLessThan(16 * MiB);
      expect(grown).toBeLessThan(16 * MiB);
      const c = await env.connect();
      expect((await c.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(20);
      await c.end();
      // gone while the target is blocked writing to it: the session and the target connection end
      w.destroy();
      await w.closedWithin(2000);
    }, 20_000);
  });

  describe('random input over real sockets (fast-check)', () => {
    interface Mutation {
      kind: 'set' | 'int32' | 'cut' | 'insert' | 'delete';
      at: number;
      value: number;
      bytes: Uint8Array;
    }
    const mutation: fc.Arbitrary<Mutation> = fc.record({
      kind: fc.constantFrom('set', 'int32', 'cut', 'insert', 'delete'),
      at: fc.nat(),
      value: fc.oneof(fc.integer(), fc.constantFrom(0, 3, 4, 5, 0x7fffffff, -1, 10000, 65536)),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    });

    function mutate(base: Buffer, ms: Mutation[]): Buffer {
      let b = Buffer.from(base);
      for (const m of ms) {
        if (b.length === 0) break;
        const at = m.at % b.length;
        switch (m.kind) {
          case 'set':
            b[at] = m.value & 0xff;
            break;
          case 'int32':
            if (at + 4 <= b.length) b.writeInt32BE(m.value | 0, at);
            break;
          case 'cut':
            b = b.subarray(0, at);
            break;
          case 'insert':
            b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
            break;
          case 'delete':
            b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + (m.value & 7))]);
            break;
        }
      }
      return b;
    }

    interface Input {
      /** Sent first, alone; the bytes follow once it was answered (a session) or refused. */
      prefix: Buffer;
      bytes: Buffer;
      /** Sizes of the first chunks of `bytes` (the rest goes in one). */
      chunks: number[];
      /** Half-close after writing; otherwise stay connected. */
      halfClose: boolean;
    }

    const validStream = () =>
      Buffer.concat([
        startupPacket({ user: 'alice', database: 'orders', application_name: 'fuzz' }),
        passwordMessage(env.secret),
        queryMessage('SELECT count(*) FROM orders'),
        queryMessage('SELECT 1; SELECT 2'),
      ]);
    const validStartup = () => Buffer.concat([startupPacket(), passwordMessage(env.secret)]);
    const validQueries = () => Buffer.concat([queryMessage('SELECT count(*) FROM orders'), message('P', Buffer.from('\0SELECT $1::int\0\0\0')), message('S')]);

    const randomBytes_ = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a));
    const typedMessages = fc
      .array(fc.tuple(fc.constantFrom(...'BCDEFHPQSXcdfp!z\0'.split('')), fc.uint8Array({ maxLength: 24 })), { minLength: 1, maxLength: 4 })
      .map((ms) => Buffer.concat(ms.map(([t, body]) => message(t, Buffer.from(body)))));
    const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });

    const streamArb: fc.Arbitrary<{ prefix: Buffer; bytes: Buffer }> = fc.oneof(
      // start-up phase: random bytes, or a mutated valid start-up + queries
      randomBytes_.map((bytes) => ({ prefix: Buffer.alloc(0), bytes })),
      mutations.map((ms) => ({ prefix: Buffer.alloc(0), bytes: mutate(validStream(), ms) })),
      // after a valid start-up: random bytes, random typed messages, mutated queries
      randomBytes_.map((bytes) => ({ prefix: validStartup(), bytes })),
      typedMessages.map((bytes) => ({ prefix: validStartup(), bytes })),
      mutations.map((ms) => ({ prefix: validStartup(), bytes: mutate(validQueries(), ms) })),
    );
    const inputArb: fc.Arbitrary<Input> = fc
      .record({
        stream: streamArb,
        chunks: fc.array(fc.integer({ min: 1, max: 48 }), { maxLength: 4 }),
        halfClose: fc.boolean(),
      })
      .map(({ stream, chunks, halfClose }) => ({ ...stream, chunks, halfClose }));

    const stats = { refused: 0, sessions: 0, sessionsRefused: 0, halfClosed: 0 };

    /** One bad client: write, then the socket must end (closed by the gateway) or be answered. */
    async function throwAt(input: Input): Promise<void> {
      const w = await Wire.open(env.gw.port);
      try {
        let z0 = 0;
        if (input.prefix.length) {
          w.write(input.prefix);
          await w.until(() => w.closed || w.has('Z'), 3000, 'the start-up to be answered');
          z0 = w.count('Z');
          if (z0 > 0) stats.sessions++;
        }
        let off = 0;
        for (const n of input.chunks) {
          if (off >= input.bytes.length) break;
          w.write(input.bytes.subarray(off, off + n));
          off += n;
          await sleep(1);
        }
        if (off < input.bytes.length) w.write(input.bytes.subarray(off));
        if (input.halfClose) {
          // The client is done: whatever state the gateway is in, it must close the socket.
          stats.halfClosed++;
          (w.sock as Socket).end();
          await w.closedWithin(3000);
        } else if (z0 === 0) {
          // Start-up phase: the gateway closes it (refused, or the start-up
          // deadline), or the client got a session (ReadyForQuery).
          await w.until(() => w.closed || w.has('Z'), STARTUP_TIMEOUT_MS + 2500, 'the socket to be closed or answered');
          if (!w.has('Z')) stats.refused++;
        } else {
          // In a session: answered, refused, or (a partial message) waiting for more.
          await w.until(() => w.closed || w.count('Z') > z0, 150, 'an answer').catch(() => undefined);
        }
        if (z0 > 0 && w.closed) stats.sessionsRefused++;
        // Whatever came back is a well-framed backend stream (after a one-byte encryption answer).
        if (w.buf[0] === 0x4e /* N */) w.skip = 1;
        if (w.buf[0] !== 0x53 /* S */) {
          for (const e of w.errors()) {
            expect(e.S).toMatch(/^(ERROR|FATAL)$/);
            expect(e.C).toMatch(/^[0-9A-Z]{5}$/);
          }
        }
      } finally {
        w.destroy();
        await w.closedWithin(1000);
      }
    }

    it('never crashes, every socket ends, and a good client works after each batch', async () => {
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(inputArb, { minLength: 1, maxLength: 3 }), async (batch) => {
          runs++;
          await Promise.all(batch.map(throwAt));
          const c = await env.connect();
          try {
            expect((await c.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(20);
          } finally {
            await c.end();
          }
          expect(good.failures).toEqual([]);
          expect(crashes).toEqual([]);
        }),
        { numRuns: 50, endOnFailure: true },
      );
      expect(runs).toBe(50);
      // the generators reached both the start-up phase and the relay
      if (process.env.SLUICE_FUZZ_STATS) console.log('fuzz outcomes', stats);
      expect(stats.refused).toBeGreaterThan(0);
      expect(stats.sessions).toBeGreaterThan(0);
      expect(stats.sessionsRefused).toBeGreaterThan(0);
    }, 60_000);
  });

  it('the well-behaved client ran queries the whole time, all successful', async () => {
    expect(good.failures).toEqual([]);
    expect(good.ok).toBeGreaterThan(100);
    const r = await good.client.query('SELECT count(*)::int AS n FROM orders');
    expect(r.rows[0].n).toBe(20);
    expect(sessionCount()).toBe(GOOD);
  });
});
