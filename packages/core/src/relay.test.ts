import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { AnswerGate, MessageRelay, type Framer, type RelayOut } from './relay.js';

/** A message of the test protocol: one length byte, then that many bytes; a span of the chunk it came in. */
interface Msg {
  source: Buffer;
  start: number;
  end: number;
}

/** Frames whole messages of one chunk (the test writes whole messages per chunk). */
const framer: Framer<Msg> = {
  push(chunk) {
    const out: Msg[] = [];
    for (let off = 0; off < chunk.length; ) {
      const end = off + 1 + chunk[off]!;
      if (end > chunk.length) throw new Error('message split across chunks');
      out.push({ source: chunk, start: off, end });
      off = end;
    }
    return out;
  },
};

function msg(text: string): Buffer {
  return Buffer.concat([Buffer.from([text.length]), Buffer.from(text)]);
}

/** A connected pair of TCP sockets on loopback. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const accepted = once(server, 'connection');
  const a = net.connect(port, '127.0.0.1');
  const [b] = (await accepted) as [net.Socket];
  await once(a, 'connect').catch(() => undefined);
  server.close();
  return [a, b];
}

/** Everything `sock` receives until `n` bytes arrived (the socket stays open). */
function receive(sock: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (c: Buffer) => {
      parts.push(c);
      got += c.length;
      if (got < n) return;
      sock.off('data', onData);
      resolve(Buffer.concat(parts));
    };
    sock.on('data', onData);
  });
}

const open: net.Socket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
});

describe('MessageRelay output', () => {
  it('forwards spans, replaced and dropped messages and slab views in order, one chunk in one write', async () => {
    const [app, relayClient] = await socketPair();
    const [relayServer, target] = await socketPair();
    open.push(app, relayClient, relayServer, target);
    const writes: number[] = [];
    const write = relayServer.write.bind(relayServer);
    relayServer.write = ((b: Buffer, ...rest: never[]) => {
      writes.push(b.length);
      return write(b, ...rest);
    }) as typeof relayServer.write;
    // Rows of one slab: consecutive views of one buffer.
    const slab = Buffer.concat([msg('s1'), msg('s2')]);
    const relay = new MessageRelay<Msg, Msg>(relayClient, relayServer, framer, framer, {
      client(m, out) {
        const body = m.source.toString('latin1', m.start + 1, m.end);
        if (body === 'drop') return;
        if (body === 'X') out.toServer(msg('Y'));
        else if (body === 'slab') {
          out.toServer(slab.subarray(0, 3));
          out.toServer(slab.subarray(3, 6));
        } else out.spanToServer(m.source, m.start, m.end);
      },
      server(m, out) {
        out.spanToClient(m.source, m.start, m.end);
      },
      closed() {},
    });
    relay.start();
    const sent = Buffer.concat([msg('a'), msg('bb'), msg('X'), msg('ccc'), msg('slab'), msg('dd'), msg('drop'), msg('e')]);
    const expected = Buffer.concat([msg('a'), msg('bb'), msg('Y'), msg('ccc'), msg('s1'), msg('s2'), msg('dd'), msg('e')]);
    const got = receive(target, expected.length);
    app.write(sent);
    expect((await got).toString('latin1')).toBe(expected.toString('latin1'));
    expect(writes).toEqual([expected.length]);

    // And back: the target's chunk reaches the client unchanged.
    const back = Buffer.concat([msg('r1'), msg('r22')]);
    const gotBack = receive(app, back.length);
    target.write(back);
    expect((await gotBack).equals(back)).toBe(true);
    relay.close('test over');
  });
});

describe('MessageRelay end reason', () => {
  /** The client sends `body`; the target closes as soon as it has it, before the client does anything more. */
  async function targetClosesAfter(body: string): Promise<string> {
    const [app, relayClient] = await socketPair();
    const [relayServer, target] = await socketPair();
    open.push(app, relayClient, relayServer, target);
    let reason = '';
    const closed = new Promise<void>((resolve) => {
      const relay = new MessageRelay<Msg, Msg>(relayClient, relayServer, framer, framer, {
        client(m, out) {
          if (m.source.toString('latin1', m.start + 1, m.end) === 'bye') out.clientQuit();
          out.spanToServer(m.source, m.start, m.end);
        },
        server(m, out) {
          out.spanToClient(m.source, m.start, m.end);
        },
        closed(why) {
          reason = why;
          resolve();
        },
      });
      relay.start();
    });
    const got = receive(target, body.length + 1);
    app.write(msg(body));
    await got;
    target.end();
    await closed;
    return reason;
  }

  it("is the client's when the target closes in answer to the client's goodbye", async () => {
    expect(await targetClosesAfter('bye')).toBe('client disconnected');
  });

  it("is the target's when it closes after anything else", async () => {
    expect(await targetClosesAfter('hello')).toBe('target closed the connection');
  });
});

describe('AnswerGate', () => {
  /** A RelayOut that only counts flushToServer calls (the gate uses nothing else). */
  function fakeOut(): RelayOut & { flushes: number } {
    const o = { flushes: 0 } as RelayOut & { flushes: number };
    o.flushToServer = () => void o.flushes++;
    return o;
  }

  it('runs the handler at once when ready, without flushing', () => {
    const gate = new AnswerGate(new AbortController().signal);
    const out = fakeOut();
    let ran = 0;
    expect(gate.when(() => true, out, () => void ran++)).toBeUndefined();
    expect(ran).toBe(1);
    expect(out.flushes).toBe(0);
  });

  it('waits until a recheck finds it ready, flushing first, and settles with the handler', async () => {
    const gate = new AnswerGate(new AbortController().signal);
    const out = fakeOut();
    let ready = false;
    const order: string[] = [];
    const p = gate.when(() => ready, out, () => new Promise<void>((r) => setTimeout(() => (order.push('handler'), r()), 10)));
    expect(p).toBeInstanceOf(Promise);
    expect(out.flushes).toBe(1);
    gate.recheck();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    ready = true;
    gate.recheck();
    await p;
    order.push('settled');
    expect(order).toEqual(['handler', 'settled']);
  });

  it('rejects its waiters when the session closes', async () => {
    const ac = new AbortController();
    const gate = new AnswerGate(ac.signal);
    const p = gate.when(() => false, fakeOut(), () => undefined);
    ac.abort();
    await expect(p).rejects.toThrow('session closed');
  });
});
