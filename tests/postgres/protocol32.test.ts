import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { BackendCode, BackendFramer, FrontendWriter, parseBackendKeyData, parseNoticeFields, type FramedMessage } from '../../packages/postgres/src/protocol/index.js';
import { pgSkip, setupPg, type PgEnv } from './fixture.js';

const skip = await pgSkip();

/** A minimal protocol 3.2 client over a raw socket: what libpq 18 sends with max_protocol_version=3.2. */
class RawClient {
  private framer = new BackendFramer();
  private queue: FramedMessage[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly sock: Socket) {
    sock.on('data', (c: Buffer) => {
      this.queue.push(...this.framer.push(c));
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async next(type?: number): Promise<FramedMessage> {
    for (;;) {
      const i = type === undefined ? (this.queue.length ? 0 : -1) : this.queue.findIndex((m) => m.type === type);
      if (i >= 0) return this.queue.splice(i, 1)[0]!;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}

describe.skipIf(!!skip)('protocol 3.2 clients', () => {
  let env: PgEnv;
  beforeAll(async () => {
    env = await setupPg();
  });
  afterAll(async () => {
    await env?.close();
  });

  it('get a 32-byte cancel key that cancels their query', async () => {
    const sock = connect({ host: '127.0.0.1', port: env.gw.port });
    await new Promise((r) => sock.once('connect', r));
    const c = new RawClient(sock);
    sock.write(new FrontendWriter().startupMessage({ user: 'alice', database: 'orders' }, 196610).take());
    expect((await c.next(BackendCode.Authentication)).payload.readInt32BE(0)).toBe(3); // cleartext password
    sock.write(new FrontendWriter().passwordMessage(env.agent.secret).take());
    const key = parseBackendKeyData((await c.next(BackendCode.BackendKeyData)).payload);
    expect(key.secretKey.length).toBe(32);
    await c.next(BackendCode.ReadyForQuery);
    sock.write(new FrontendWriter().query('SELECT pg_sleep(10)').take());
    await new Promise((r) => setTimeout(r, 300));
    const answer = c.next(BackendCode.ErrorResponse);
    // A cancel that arrives before the query starts cancels nothing (as in PostgreSQL): repeat until it lands.
    let settled = false;
    answer.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let i = 0; i < 20 && !settled; i++) {
      const cancel = connect({ host: '127.0.0.1', port: env.gw.port }, () => cancel.end(new FrontendWriter().cancelRequest(key.processId, key.secretKey).take()));
      cancel.on('error', () => undefined);
      await Promise.race([answer, new Promise((r) => setTimeout(r, 400))]);
    }
    const err = parseNoticeFields((await answer).payload);
    expect(err.C).toBe('57014'); // query_canceled
    await c.next(BackendCode.ReadyForQuery);
    sock.end(new FrontendWriter().terminate().take());
  });

  it('a wrong cancel key cancels nothing', async () => {
    const c = await env.connect(env.agent.secret);
    try {
      const run = c.query('SELECT pg_sleep(0.5) AS slept');
      const { processID } = c as unknown as { processID: number };
      const cancel = connect({ host: '127.0.0.1', port: env.gw.port }, () => cancel.end(new FrontendWriter().cancelRequest(processID, 12345).take()));
      cancel.on('error', () => undefined);
      expect((await run).rows.length).toBe(1);
    } finally {
      await c.end();
    }
  });
});
