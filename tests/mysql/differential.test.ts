/**
 * The same command scripts, sent byte for byte to MariaDB directly and
 * through Sluice, must get the same answers: the same packets in the same
 * order, the same OK/EOF status flags, column definitions, rows and error
 * codes. The only differences allowed are the ones the policy makes: cells
 * masked, rule-masked columns retyped as text, and a blocked statement
 * refused (1142) where the direct run met an error at the same place.
 *
 * Scripts are random (fast-check): text queries (single and multi-statement,
 * failing part-way, transactions, user variables, temporary tables),
 * COM_STMT_PREPARE / EXECUTE (text and int parameters, "the statement just
 * prepared") / CLOSE / RESET, COM_PING and COM_INIT_DB, pipelined and cut
 * into random chunks. A prepare ends a segment: the target assigns its
 * statement id, which later executes in the script name, so the client waits
 * for that answer (as every MySQL client does) before sending on; executes
 * of id 0xffffffff go before it, pipelined. A desynchronised gateway (a
 * response matched to the wrong command) shows up here as a different packet
 * sequence or an unmasked cell.
 *
 * The clients are written by hand on raw sockets (handshake, native password,
 * packets, rows), so the test shares no code with the gateway it judges.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { MY, mySkip, policies, setupMy, type MyEnv } from './fixture.js';
import { Waiter, writeInCuts } from '../support/waiter.js';

const skip = await mySkip();

// ------------------------------------------------------------------ what the scripts say

/** The direct run's stand-in for a statement Sluice blocks: a syntax error, which fails where Sluice refuses. */
const BLOCKED = 'SLUICE_DIFF_BLOCKED';

interface Sql {
  text: string;
  /** Refused by the policies; 'untrusted': unless they trust dynamic SQL (SQL PREPARE and EXECUTE). */
  blocked?: boolean | 'untrusted';
}

function blocked(s: Sql, trust: boolean): boolean {
  return s.blocked === true || (s.blocked === 'untrusted' && !trust);
}

const QUERIES: Sql[] = [
  { text: 'SELECT id, name, email, card FROM customers ORDER BY id' },
  { text: 'SELECT ssn, password_hash, balance FROM customers ORDER BY id' },
  { text: "SELECT CONCAT(ssn, '-x') AS cs, note FROM customers ORDER BY id" },
  { text: 'SELECT * FROM nosuch' },
  { text: 'SELEC 1' },
  { text: 'SELECT 1 AS a; SELECT email FROM customers WHERE id = 1' },
  { text: 'SELECT 1 AS a; SELECT * FROM nosuch; SELECT 2 AS b' },
  { text: 'DROP TABLE customers', blocked: true },
  { text: 'SELECT 1 AS a; DROP TABLE orders', blocked: true },
  { text: 'BEGIN' },
  { text: 'ROLLBACK' },
  { text: 'SET @x = 5' },
  { text: 'SELECT @x AS x, @@autocommit AS ac' },
  { text: 'CREATE TEMPORARY TABLE IF NOT EXISTS tmp (id int, v text)' },
  { text: "INSERT INTO tmp VALUES (1, 'a'), (2, 'bo@example.org')" },
  { text: 'SELECT * FROM tmp ORDER BY id' },
  { text: "UPDATE tmp SET v = 'z' WHERE id = 1" },
  { text: 'DO 1' },
  { text: 'SELECT COUNT(*) AS n FROM customers' },
  { text: 'SELECT id, total FROM orders WHERE id < 4 ORDER BY id' },
  { text: "PREPARE s FROM 'SELECT email FROM customers'", blocked: 'untrusted' },
  { text: 'SELECT 1 AS a; SELECT 2 AS b; SELECT 3 AS c' },
  { text: "PREPARE s FROM 'SELECT id, email, CONCAT(ssn, ''-x'') AS cs FROM customers ORDER BY id'", blocked: 'untrusted' },
  { text: "PREPARE s FROM 'SELECT id, total FROM orders WHERE id < 3 ORDER BY id'", blocked: 'untrusted' },
  { text: 'EXECUTE s', blocked: 'untrusted' },
  { text: 'EXECUTE s', blocked: 'untrusted' },
  { text: 'DEALLOCATE PREPARE s' },
  { text: "SELECT * FROM nosuch; PREPARE s FROM 'SELECT 1 AS one'", blocked: 'untrusted' },
  { text: "PREPARE s FROM 'DROP TABLE orders'", blocked: true },
  { text: "PREPARE s FROM 'SELECT 1 AS one'; EXECUTE s", blocked: 'untrusted' },
];

interface Prep extends Sql {
  /** `?` parameters. */
  params: number;
}

const PREPARED: Prep[] = [
  { text: 'SELECT id, email FROM customers WHERE id = ?', params: 1 },
  { text: 'SELECT ssn, balance, note FROM customers ORDER BY id', params: 0 },
  { text: 'SELECT ? AS echo', params: 1 },
  { text: 'SELECT * FROM nosuch', params: 0 },
  { text: 'DROP TABLE customers', params: 0, blocked: true },
  { text: "SELECT CONCAT(card, '') AS cc, CONCAT(ssn, '') AS cs FROM customers WHERE id = ?", params: 1 },
  { text: 'SELECT id, total FROM orders WHERE id BETWEEN ? AND ? ORDER BY id', params: 2 },
];

/** A parameter value: an int (sent as LONGLONG) or a string (VAR_STRING). */
type Arg = { t: 'int'; v: number } | { t: 'str'; v: string };

type Op =
  | { op: 'query'; sql: number }
  | { op: 'prepare'; sql: number }
  /** `stmt`: the n-th prepare of the script (its id as the target answered it; a failed one: an id nothing holds), or -1: "the statement just prepared". */
  | { op: 'execute'; stmt: number; args: Arg[] }
  | { op: 'close'; stmt: number }
  | { op: 'reset'; stmt: number }
  | { op: 'ping' }
  | { op: 'initdb' };

const COM = { initDb: 0x02, query: 0x03, ping: 0x0e, prepare: 0x16, execute: 0x17, close: 0x19, reset: 0x1a } as const;

// ------------------------------------------------------------------ bytes, by hand

function lenenc(n: number): Buffer {
  if (n < 251) return Buffer.from([n]);
  if (n < 0x10000) return Buffer.from([0xfc, n & 0xff, n >> 8]);
  const b = Buffer.alloc(4);
  b[0] = 0xfd;
  b.writeUIntLE(n, 1, 3);
  return b;
}

function packet(seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, payload]);
}

function command(code: number, body: Buffer = Buffer.alloc(0)): Buffer {
  return packet(0, Buffer.concat([Buffer.from([code]), body]));
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function executePayload(id: number, args: Arg[]): Buffer {
  const parts = [Buffer.from([COM.execute]), u32(id), Buffer.from([0]), u32(1)];
  if (args.length > 0) {
    parts.push(Buffer.alloc((args.length + 7) >> 3), Buffer.from([1]));
    for (const a of args) parts.push(Buffer.from(a.t === 'int' ? [8, 0] : [253, 0]));
    for (const a of args) {
      if (a.t === 'int') {
        const b = Buffer.alloc(8);
        b.writeBigInt64LE(BigInt(a.v));
        parts.push(b);
      } else {
        const s = Buffer.from(a.v, 'utf8');
        parts.push(lenenc(s.length), s);
      }
    }
  }
  return packet(0, Buffer.concat(parts));
}

/** A reader over one packet's payload. */
class Reader {
  constructor(
    readonly b: Buffer,
    public off = 0,
  ) {}
  u8(): number {
    return this.b[this.off++]!;
  }
  u16(): number {
    const v = this.b.readUInt16LE(this.off);
    this.off += 2;
    return v;
  }
  u32(): number {
    const v = this.b.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }
  int(): number | null {
    const f = this.u8();
    if (f < 0xfb) return f;
    if (f === 0xfb) return null;
    const n = f === 0xfc ? 2 : f === 0xfd ? 3 : 8;
    const v = Number(this.b.readUIntLE(this.off, Math.min(n, 6)));
    this.off += n;
    return v;
  }
  str(): string | null {
    const n = this.int();
    if (n === null) return null;
    const s = this.b.toString('utf8', this.off, this.off + n);
    this.off += n;
    return s;
  }
  cstr(): string {
    const end = this.b.indexOf(0, this.off);
    const s = this.b.toString('latin1', this.off, end);
    this.off = end + 1;
    return s;
  }
}

// ------------------------------------------------------------------ a raw client

const CAPS = {
  longFlag: 0x4,
  connectWithDb: 0x8,
  protocol41: 0x200,
  transactions: 0x2000,
  secureConnection: 0x8000,
  multiStatements: 0x10000,
  multiResults: 0x20000,
  psMultiResults: 0x40000,
  pluginAuth: 0x80000,
  pluginAuthLenenc: 0x200000,
  deprecateEof: 0x1000000,
};
const WANTED = Object.values(CAPS).reduce((a, b) => a | b, 0);

interface Pkt {
  seq: number;
  payload: Buffer;
}

class Raw {
  private buf: Buffer = Buffer.alloc(0);
  readonly pkts: Pkt[] = [];
  private readonly waiter = new Waiter();
  caps = 0;

  private constructor(readonly sock: Socket) {
    sock.on('data', (c: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
      while (this.buf.length >= 4) {
        const len = this.buf.readUIntLE(0, 3);
        if (this.buf.length < 4 + len) break;
        this.pkts.push({ seq: this.buf[3]!, payload: Buffer.from(this.buf.subarray(4, 4 + len)) });
        this.buf = this.buf.subarray(4 + len);
      }
      this.waiter.poke();
    });
    sock.on('close', () => {
      this.waiter.closed = true;
      this.waiter.poke();
    });
    sock.on('error', () => undefined);
  }

  /** Logged in: native password (direct) or whatever the server switches to (Sluice: clear text). */
  static async open(port: number, user: string, password: string, database: string, deprecateEof: boolean): Promise<Raw> {
    const sock = netConnect({ host: '127.0.0.1', port });
    sock.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const r = new Raw(sock);
    const hs = new Reader((await r.next()).payload);
    if (hs.u8() !== 10) throw new Error('not a v10 handshake');
    hs.cstr();
    hs.u32();
    const scramble1 = hs.b.subarray(hs.off, hs.off + 8);
    hs.off += 9;
    let serverCaps = hs.u16();
    hs.off += 3;
    serverCaps |= hs.u16() << 16;
    const authLen = hs.u8();
    hs.off += 10;
    const scramble2 = hs.b.subarray(hs.off, hs.off + Math.max(13, authLen - 8) - 1);
    const scramble = Buffer.concat([scramble1, scramble2]);
    r.caps = (WANTED & ~(deprecateEof ? 0 : CAPS.deprecateEof)) & serverCaps;
    const auth = native(password, scramble);
    const resp = Buffer.concat([u32(r.caps), u32(1 << 24), Buffer.from([45]), Buffer.alloc(23), Buffer.from(user + '\0'), lenenc(auth.length), auth, Buffer.from(database + '\0'), Buffer.from('mysql_native_password\0')]);
    sock.write(packet(1, resp));
    for (;;) {
      const p = await r.next();
      if (p.payload[0] === 0x00) break;
      if (p.payload[0] === 0xff) throw new Error(`login refused: ${p.payload.toString('utf8', 9)}`);
      if (p.payload[0] !== 0xfe) throw new Error(`unexpected packet 0x${p.payload[0]!.toString(16)} at login`);
      const sw = new Reader(p.payload, 1);
      const plugin = sw.cstr();
      const data = p.payload.subarray(sw.off, p.payload.length - 1);
      sock.write(packet(p.seq + 1, plugin === 'mysql_clear_password' ? Buffer.from(password + '\0') : native(password, data)));
    }
    r.pkts.length = 0;
    return r;
  }

  next(ms = 5000): Promise<Pkt> {
    return this.until((p) => p.length > 0, 'a packet', ms).then(() => this.pkts.shift()!);
  }

  until(pred: (pkts: Pkt[]) => boolean, what: string, ms = 5000): Promise<void> {
    return this.waiter.until(() => pred(this.pkts), what, () => `${this.pkts.length} packets`, ms);
  }

  close(): void {
    this.sock.end(command(0x01));
    this.sock.destroy();
  }
}

function native(password: string, scramble: Buffer): Buffer {
  if (!password) return Buffer.alloc(0);
  const sha1 = (b: Buffer) => createHash('sha1').update(b).digest();
  const p1 = sha1(Buffer.from(password));
  const p2 = sha1(Buffer.concat([scramble.subarray(0, 20), sha1(p1)]));
  return Buffer.from(p1.map((x, i) => x ^ p2[i]!));
}

// ------------------------------------------------------------------ reading answers

/** What a command's answer looks like, packet by packet, in a comparable form. */
interface Col {
  name: string;
  type: number;
}

const MORE_RESULTS = 0x08;

function okLine(r: Reader, kind: string): { line: string; status: number } {
  const affected = r.int();
  const insertId = r.int();
  const status = r.u16();
  const warnings = r.u16();
  return { line: `${kind} affected=${affected} id=${insertId} status=${status} warnings=${warnings}`, status };
}

function errLine(p: Buffer): string {
  const r = new Reader(p, 1);
  const code = r.u16();
  const state = p[3] === 0x23 ? p.toString('latin1', 4, 9) : '';
  const message = p.toString('utf8', state ? 9 : 3);
  return `ERR ${message.includes(BLOCKED) ? 'blocked' : code === 1142 ? 'blocked' : code} ${state}`;
}

function colDef(p: Buffer): Col {
  const r = new Reader(p);
  for (let i = 0; i < 4; i++) r.str(); // catalog, schema, table, org_table
  const name = r.str() ?? '';
  r.str(); // org_name
  r.int(); // length of the fixed fields
  r.u16(); // charset
  r.u32(); // length
  return { name, type: r.u8() };
}

function textRow(p: Buffer, n: number): (string | null)[] {
  const r = new Reader(p);
  return Array.from({ length: n }, () => r.str());
}

function binaryRow(p: Buffer, cols: Col[]): (string | null)[] {
  const r = new Reader(p, 1);
  const bitmap = p.subarray(1, 1 + ((cols.length + 9) >> 3));
  r.off += bitmap.length;
  return cols.map((c, i) => {
    if (bitmap[(i + 2) >> 3]! & (1 << ((i + 2) & 7))) return null;
    switch (c.type) {
      case 1:
        return String(p.readInt8(r.off++));
      case 2:
      case 13: {
        const v = p.readInt16LE(r.off);
        r.off += 2;
        return String(v);
      }
      case 3:
      case 9: {
        const v = p.readInt32LE(r.off);
        r.off += 4;
        return String(v);
      }
      case 8: {
        const v = p.readBigInt64LE(r.off);
        r.off += 8;
        return String(v);
      }
      case 5: {
        const v = p.readDoubleLE(r.off);
        r.off += 8;
        return String(v);
      }
      default:
        return r.str();
    }
  });
}

/**
 * The lines of one command's answer from `pkts` at `at`, and where the next
 * answer starts; null while it is incomplete.
 */
function answer(op: Op['op'] | 'end', pkts: Pkt[], at: number, deprecateEof: boolean): { lines: string[]; next: number } | null {
  const lines: string[] = [];
  let i = at;
  const take = (): Buffer | null => (i < pkts.length ? pkts[i++]!.payload : null);
  if (op === 'close') return { lines, next: i };
  const first = take();
  if (!first) return null;
  if (first[0] === 0xff) return { lines: [errLine(first)], next: i };
  if (op === 'ping' || op === 'initdb' || op === 'reset') {
    return { lines: [first[0] === 0x00 ? okLine(new Reader(first, 1), 'OK').line : `? ${first.toString('hex')}`], next: i };
  }
  if (op === 'prepare') {
    const r = new Reader(first, 5);
    const cols = r.u16();
    const params = r.u16();
    lines.push(`PREPARED cols=${cols} params=${params}`);
    for (const n of [params, cols]) {
      if (n === 0) continue;
      for (let k = 0; k < n; k++) {
        const p = take();
        if (!p) return null;
        const c = colDef(p);
        lines.push(`COL ${c.name} ${RULE_COLUMNS.has(c.name) ? 'rule' : c.type}`);
      }
      if (!deprecateEof) {
        const p = take();
        if (!p) return null;
        lines.push(`EOF ${new Reader(p, 3).u16()}`);
      }
    }
    return { lines, next: i };
  }
  // query, execute, end: results until one without MORE_RESULTS.
  let p: Buffer | null = first;
  for (;;) {
    if (!p) return null;
    if (p[0] === 0xff) {
      lines.push(errLine(p));
      return { lines, next: i };
    }
    let status: number;
    if (p[0] === 0x00) {
      const ok = okLine(new Reader(p, 1), 'OK');
      lines.push(ok.line);
      status = ok.status;
    } else {
      const n = new Reader(p).int()!;
      const cols: Col[] = [];
      for (let k = 0; k < n; k++) {
        const c = take();
        if (!c) return null;
        cols.push(colDef(c));
      }
      lines.push(`COLS ${JSON.stringify(cols.map((c) => (RULE_COLUMNS.has(c.name) ? `${c.name}:rule` : `${c.name}:${c.type}`)))}`);
      if (!deprecateEof && !take()) return null;
      for (;;) {
        const row = take();
        if (!row) return null;
        if (row[0] === 0xff) {
          lines.push(errLine(row));
          return { lines, next: i };
        }
        if (row[0] === 0xfe && row.length < 0xffffff) {
          const end = deprecateEof ? okLine(new Reader(row, 1), 'END') : { line: `END status=${new Reader(row, 3).u16()}`, status: new Reader(row, 3).u16() };
          lines.push(end.line);
          status = end.status;
          break;
        }
        const cells = op === 'execute' ? binaryRow(row, cols) : textRow(row, cols.length);
        lines.push(`ROW ${JSON.stringify(cells)}`);
      }
    }
    if (!(status & MORE_RESULTS)) return { lines, next: i };
    p = take();
  }
}

// ------------------------------------------------------------------ what may differ

/** Result columns a column rule covers (retyped as text through Sluice). */
const RULE_COLUMNS = new Set(['ssn', 'password_hash', 'balance', 'cs']);

/** Cells the policy masks, as the direct run sees them → what Sluice must send instead. */
const MASKED = new Map<string, string>([
  ['123-45-6789', '[REDACTED]'],
  ['234-56-7890', '[REDACTED]'],
  ['123-45-6789-x', '[REDACTED]'],
  ['234-56-7890-x', '[REDACTED]'],
  ['x$argon$abc', '[REDACTED]'],
  ['x$argon$def', '[REDACTED]'],
  ['100', '[REDACTED]'],
  ['200', '[REDACTED]'],
  ['jane.doe@example.com', '[REDACTED:email]'],
  ['john@example.org', '[REDACTED:email]'],
  ['bo@example.org', '[REDACTED:email]'],
  ['4242424242424242', '[REDACTED:credit_card]'],
  ['4111 1111 1111 1111', '[REDACTED:credit_card]'],
  ['call me at jane.doe@example.com', 'call me at [REDACTED:email]'],
]);

function expected(line: string): string {
  const at = line.indexOf(': ROW ');
  if (at < 0) return line;
  const cells = JSON.parse(line.slice(at + 6)) as (string | null)[];
  return `${line.slice(0, at)}: ROW ${JSON.stringify(cells.map((c) => (c === null ? null : (MASKED.get(c) ?? c))))}`;
}

// ------------------------------------------------------------------ running a script

/** The script as sent: segments, each ending with a prepare (whose id later segments use) or the end marker. */
function segments(ops: Op[]): Op[][] {
  const out: Op[][] = [[]];
  for (const o of ops) {
    out[out.length - 1]!.push(o);
    if (o.op === 'prepare') out.push([]);
  }
  return out;
}

const END: Op[] = [
  { op: 'query', sql: -1 },
  { op: 'query', sql: -2 },
];
const END_SQL = new Map([
  [-1, 'ROLLBACK'],
  [-2, "SELECT 'sluice-diff-end' AS end_marker"],
]);

/** Runs `ops` (then END) on `raw`: every answer's lines, in order. */
async function runScript(raw: Raw, ops: Op[], direct: boolean, cuts: number[], deprecateEof: boolean, trust: boolean): Promise<string[]> {
  const ids: number[] = [];
  const lines: string[] = [];
  let read = 0;
  const segs = segments(ops);
  segs[segs.length - 1]!.push(...END);
  for (const seg of segs) {
    const bytes = Buffer.concat(
      seg.map((o) => {
        switch (o.op) {
          case 'query': {
            const s = END_SQL.get(o.sql) ?? (direct && blocked(QUERIES[o.sql]!, trust) ? BLOCKED : QUERIES[o.sql]!.text);
            return command(COM.query, Buffer.from(s, 'utf8'));
          }
          case 'prepare':
            return command(COM.prepare, Buffer.from(direct && blocked(PREPARED[o.sql]!, trust) ? BLOCKED : PREPARED[o.sql]!.text, 'utf8'));
          case 'execute':
            return executePayload(o.stmt < 0 ? 0xffffffff : (ids[o.stmt] ?? 0x7fff0000), o.args);
          case 'close':
            return command(COM.close, u32(ids[o.stmt] ?? 0x7fff0000));
          case 'reset':
            return command(COM.reset, u32(ids[o.stmt] ?? 0x7fff0000));
          case 'ping':
            return command(COM.ping);
          case 'initdb':
            return command(COM.initDb, Buffer.from(direct ? envDb : 'orders'));
        }
      }),
    );
    await writeInCuts(raw.sock, bytes, cuts);
    for (const o of seg) {
      let got: { lines: string[]; next: number } | null = null;
      await raw.until((p) => (got = answer(o.op, p, read, deprecateEof)) !== null, `the answer to ${show([o])}`);
      const a = got!;
      if (o.op === 'prepare') {
        const first = raw.pkts[read]!.payload;
        ids.push(first[0] === 0x00 ? first.readUInt32LE(1) : 0x7fff0000 + ids.length);
      }
      lines.push(...a.lines.map((l) => `${o.op}: ${l}`));
      read = a.next;
    }
  }
  // What came after the end marker's answer would be a stray packet.
  await new Promise((r) => setTimeout(r, 20));
  if (raw.pkts.length > read) lines.push(`STRAY ${raw.pkts.length - read} packets`);
  return lines.slice(0, -4); // END's own answer: ROLLBACK's OK, the marker's columns, row and end
}

let envDb = '';

function show(ops: Op[]): string {
  return ops
    .map((o) => {
      switch (o.op) {
        case 'query':
          return `Query(${JSON.stringify(END_SQL.get(o.sql) ?? QUERIES[o.sql]!.text)})`;
        case 'prepare':
          return `Prepare(${JSON.stringify(PREPARED[o.sql]!.text)})`;
        case 'execute':
          return `Execute(${o.stmt < 0 ? 'last' : `#${o.stmt}`}, ${JSON.stringify(o.args.map((a) => a.v))})`;
        case 'close':
          return `Close(#${o.stmt})`;
        case 'reset':
          return `Reset(#${o.stmt})`;
        default:
          return o.op[0]!.toUpperCase() + o.op.slice(1);
      }
    })
    .join('\n  ');
}

// ------------------------------------------------------------------ scripts

const argArb: fc.Arbitrary<Arg> = fc.oneof(
  fc.constantFrom(1, 2, 3, 0).map((v): Arg => ({ t: 'int', v })),
  fc.constantFrom('1', 'hello', 'bo@example.org', '4242424242424242').map((v): Arg => ({ t: 'str', v })),
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.nat(QUERIES.length - 1).map((sql): Op => ({ op: 'query', sql })) },
  { weight: 3, arbitrary: fc.nat(PREPARED.length - 1).map((sql): Op => ({ op: 'prepare', sql })) },
  { weight: 4, arbitrary: fc.record({ stmt: fc.integer({ min: -1, max: 3 }), args: fc.array(argArb, { maxLength: 2 }) }).map((r): Op => ({ op: 'execute', ...r })) },
  { weight: 1, arbitrary: fc.nat(3).map((stmt): Op => ({ op: 'close', stmt })) },
  { weight: 1, arbitrary: fc.nat(3).map((stmt): Op => ({ op: 'reset', stmt })) },
  { weight: 1, arbitrary: fc.constant<Op>({ op: 'ping' }) },
  { weight: 1, arbitrary: fc.constant<Op>({ op: 'initdb' }) },
);

/**
 * Makes a script well-formed the way a client is: an execute sends as many
 * parameters as its statement has (the gateway, like the server, cannot read
 * one that does not), and "the statement just prepared" follows a prepare
 * that succeeded on both runs (after a blocked one the direct run's target
 * has seen a failed prepare, Sluice's none).
 */
function wellFormed(ops: Op[]): Op[] {
  const prepared: (Prep | null)[] = [];
  let last: Prep | null = null;
  const out: Op[] = [];
  for (const o of ops) {
    if (o.op === 'prepare') {
      const p = PREPARED[o.sql]!;
      const ok = !p.blocked && !p.text.includes('nosuch');
      prepared.push(ok ? p : null);
      last = ok ? p : null;
      out.push(o);
    } else if (o.op === 'execute') {
      const p = o.stmt < 0 ? last : (prepared[o.stmt] ?? null);
      if (o.stmt < 0 && !p) continue;
      const n = p?.params ?? 0;
      const args = Array.from({ length: n }, (_, i) => o.args[i] ?? { t: 'int' as const, v: i + 1 });
      out.push({ ...o, args });
    } else {
      if (o.op === 'close' && prepared[o.stmt]) {
        if (last === prepared[o.stmt]) last = null;
        prepared[o.stmt] = null;
      }
      out.push(o);
    }
  }
  return out;
}

// ------------------------------------------------------------------ the tests

describe.skipIf(!!skip).each([false, true])(`mysql: scripts give the same answers direct and through Sluice (trustDynamicSql %s)${skip ? ` (skipped: ${skip})` : ''}`, (trust) => {
  let env: MyEnv;

  beforeAll(async () => {
    env = await setupMy([], {}, trust ? policies.map((p) => ({ ...p, trustDynamicSql: true })) : policies);
    envDb = env.db;
  });
  afterAll(async () => {
    await env?.close();
  });

  async function both(ops: Op[], cuts: number[], deprecateEof: boolean): Promise<{ direct: string[]; sluice: string[] }> {
    const d = await Raw.open(MY.port, env.targetUser, env.targetPassword, env.db, deprecateEof);
    let direct: string[];
    try {
      direct = await runScript(d, ops, true, cuts, deprecateEof, trust);
    } finally {
      d.close();
    }
    const s = await Raw.open(env.gw.port, 'alice', env.agent.secret, 'orders', deprecateEof);
    expect(s.caps).toBe(d.caps);
    let sluice: string[];
    try {
      sluice = await runScript(s, ops, false, cuts, deprecateEof, trust);
    } finally {
      s.close();
    }
    return { direct: direct.map(expected), sluice };
  }

  it('a prepared statement executed pipelined behind its prepare and behind a refused query', async () => {
    const ops: Op[] = [
      { op: 'query', sql: 7 },
      { op: 'execute', stmt: -1, args: [] },
      { op: 'prepare', sql: 1 },
      { op: 'execute', stmt: 0, args: [] },
      { op: 'query', sql: 6 },
      { op: 'execute', stmt: 0, args: [] },
    ];
    for (const eof of [false, true]) {
      const r = await both(wellFormed(ops), [0.5], eof);
      expect(r.sluice).toEqual(r.direct);
      expect(r.sluice).toContain('execute: ROW ["[REDACTED]","[REDACTED]","call me at [REDACTED:email]"]');
    }
  });

  it('random scripts', async () => {
    const runs = Math.ceil(Number(process.env.SLUICE_DIFF_RUNS ?? 100) / 2);
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }), fc.boolean(), async (raw, cuts, eof) => {
        const ops = wellFormed(raw);
        const r = await both(ops, cuts, eof);
        if (JSON.stringify(r.sluice) !== JSON.stringify(r.direct)) {
          throw new Error(`answers differ (DEPRECATE_EOF ${eof}, trustDynamicSql ${trust}) for\n  ${show(ops)}\ndirect (as Sluice should answer):\n  ${r.direct.join('\n  ')}\nsluice:\n  ${r.sluice.join('\n  ')}`);
        }
      }),
      { numRuns: runs, endOnFailure: true },
    );
  }, 600_000);
});
