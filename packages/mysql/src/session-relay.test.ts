import { describe, expect, it } from 'vitest';
import type { Session, Verdict } from '@sluice/core';
import { BufferWriter, Capability, PacketFramer, writeErr, type Packet } from './protocol/index.js';
import { MySessionRelay } from './session-relay.js';

function packet(seq: number, payload: Buffer): Packet {
  return new PacketFramer().push(new BufferWriter().packet(seq, payload).take())[0]!;
}

function stubSession(verdict: Verdict = { effect: 'allow', mask: null }): Session {
  return {
    id: 's',
    identity: { subject: 'a', actors: [], groups: [], via: 'api-key' },
    connection: { name: 'orders', type: 'mysql', target: '', access: [], secrets: {}, options: {} },
    masker: null,
    authorize: async () => verdict,
    authorizeNow: () => undefined,
    preview: () => 'allow',
    refuse: () => undefined,
    result: () => undefined,
    output: () => undefined,
    resize: () => undefined,
    close: async () => undefined,
    onKill: () => undefined,
    closed: false,
  };
}

function harness(session = stubSession()) {
  const toClient: Buffer[] = [];
  const toServer: Buffer[] = [];
  const out = {
    toClient: (b: Buffer | Uint8Array) => void toClient.push(Buffer.from(b)),
    toServer: (b: Buffer | Uint8Array) => void toServer.push(Buffer.from(b)),
    spanToClient: (b: Buffer, start: number, end: number) => void toClient.push(Buffer.from(b.subarray(start, end))),
    spanToServer: (b: Buffer, start: number, end: number) => void toServer.push(Buffer.from(b.subarray(start, end))),
    clientQuit: () => undefined,
    flushToServer: () => undefined,
  };
  const relay = new MySessionRelay(session, Capability.Protocol41 | Capability.DeprecateEof, 'db1', '10.11.6-MariaDB', 2, new AbortController().signal, () => undefined);
  return { relay, out, toClient, toServer };
}

describe('MySessionRelay', () => {
  it('never hands a LOCAL INFILE request to the client: the server gets an empty packet, the client only the result (renumbered)', async () => {
    const h = harness();
    await h.relay.client(packet(0, Buffer.from('\x03SELECT 1', 'latin1')), h.out);
    expect(h.toServer).toHaveLength(1);
    h.relay.server(packet(1, Buffer.from('\xfb/etc/passwd', 'latin1')), h.out);
    expect(h.toClient).toHaveLength(0);
    expect(h.toServer[1]).toEqual(Buffer.from([0, 0, 0, 2]));
    const w = new BufferWriter();
    writeErr(w, 3, { code: 1148, sqlState: '42000', message: 'not allowed' });
    h.relay.server(new PacketFramer().push(w.take())[0]!, h.out);
    expect(h.toClient).toHaveLength(1);
    expect(h.toClient[0]![3]).toBe(1);
    expect(h.toClient[0]![4]).toBe(0xff);
  });

  it('refuses a command that does not start a new exchange (sequence id ≠ 0)', () => {
    const h = harness();
    expect(() => h.relay.client(packet(3, Buffer.from('\x0e', 'latin1')), h.out)).toThrow(/sequence id 3/);
  });

  it('answers a refusal with ERR 1142 at sequence id 1, in place', async () => {
    const h = harness(stubSession({ effect: 'deny', code: 'SLUICE_POLICY_DENIED', reason: 'blocked by policy "no-ddl"', policy: 'no-ddl' }));
    await h.relay.client(packet(0, Buffer.from('\x03DROP TABLE t', 'latin1')), h.out);
    expect(h.toServer).toHaveLength(0);
    const e = h.toClient[0]!;
    expect(e[3]).toBe(1);
    expect(e.readUInt16LE(5)).toBe(1142);
    expect(e.toString('latin1')).toContain('no-ddl');
  });
});
