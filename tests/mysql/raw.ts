import { connect, type Socket } from 'node:net';
import { BufferWriter, Capability, PacketFramer, parseInitialHandshake, writeHandshakeResponse, type Packet } from '@sluice/mysql';

/** A hand-driven MySQL client socket: reads packets in order, writes raw bytes. */
export class RawClient {
  readonly sock: Socket;
  private framer = new PacketFramer();
  private queue: Packet[] = [];
  private waiters: ((p: Packet | null) => void)[] = [];
  closed = false;

  private constructor(port: number) {
    this.sock = connect({ host: '127.0.0.1', port });
    this.sock.on('data', (c) => {
      for (const p of this.framer.push(c)) {
        const w = this.waiters.shift();
        if (w) w(p);
        else this.queue.push(p);
      }
    });
    this.sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w(null);
    });
    this.sock.on('error', () => undefined);
  }

  static async open(port: number): Promise<RawClient> {
    const c = new RawClient(port);
    await new Promise<void>((r, j) => {
      c.sock.once('connect', () => r());
      c.sock.once('error', j);
    });
    return c;
  }

  /** The next packet, or null once the socket closed. */
  next(timeoutMs = 3000): Promise<Packet | null> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no packet')), timeoutMs);
      this.waiters.push((p) => {
        clearTimeout(t);
        resolve(p);
      });
    });
  }

  write(b: Buffer): void {
    this.sock.write(b);
  }

  packet(seq: number, payload: Buffer): void {
    this.write(new BufferWriter().packet(seq, payload).take());
  }

  /** Full login (handshake → response → clear-password switch → OK); resolves the final packet. */
  static async login(port: number, credential: string, database = 'orders', extraCaps = 0): Promise<{ c: RawClient; last: Packet }> {
    const c = await RawClient.open(port);
    const hs = parseInitialHandshake((await c.next())!.payload);
    const caps = ((Capability.Protocol41 | Capability.SecureConnection | Capability.PluginAuth | Capability.PluginAuthLenencClientData | Capability.ConnectWithDb | Capability.LongPassword | Capability.Transactions) & hs.capabilities) | extraCaps;
    const w = new BufferWriter();
    writeHandshakeResponse(w, { capabilities: caps, maxPacketSize: 1 << 24, charset: 45, mariadbCapabilities: 0, username: 'raw', authResponse: Buffer.alloc(0), database, authPluginName: 'mysql_native_password', attributes: null }, 1);
    c.write(w.take());
    const sw = (await c.next())!;
    if (sw.first !== 0xfe) return { c, last: sw };
    c.packet(sw.seq + 1, Buffer.from(credential + '\0'));
    return { c, last: (await c.next())! };
  }
}
