/**
 * The same extended-protocol scripts, sent byte for byte to PostgreSQL
 * directly and through Sluice, must get the same answers: the same messages
 * in the same order, the same command tags, transaction states and error
 * codes. The only differences allowed are the ones the policy makes: cells
 * masked, rule-masked columns described as text, and a blocked statement
 * refused (42501) where the direct run met an error at the same place.
 *
 * Scripts are random (fast-check): Parse / Bind / Describe / Execute (with
 * row limits) / Close / Flush / Sync and simple Queries, named and unnamed
 * statements and portals, text and binary formats, wrong parameter counts,
 * runtime and syntax errors, transactions, pipelined and cut into random
 * chunks. A desynchronised gateway (a response matched to the wrong command)
 * shows up here as a different message sequence or an unmasked cell.
 *
 * The clients are written by hand on raw sockets, so the test shares no code
 * with the gateway it judges.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PG } from '../support/services.js';
import { pendingApproval, pgSkip, setupPg, type PgEnv } from './fixture.js';
import { cstr, errorFields, int16, int32, message, PgRaw, type Msg } from '../support/pg-wire.js';
import { writeInCuts } from '../support/waiter.js';

const skip = await pgSkip();

// ------------------------------------------------------------------ frontend bytes, by hand

// ------------------------------------------------------------------ the script model

/** A parameter value: text, SQL NULL, or an int4 in binary. */
type Param = { t: 'text'; v: string } | { t: 'null' } | { t: 'int4'; v: number };

type Op =
  | { op: 'parse'; name: string; sql: number }
  | { op: 'bind'; portal: string; stmt: string; params: Param[]; resultFormat: readonly number[] }
  | { op: 'describe'; target: 'S' | 'P'; name: string }
  | { op: 'execute'; portal: string; maxRows: number }
  | { op: 'close'; target: 'S' | 'P'; name: string }
  | { op: 'flush' }
  | { op: 'sync' }
  | { op: 'query'; sql: number };

/**
 * What the direct run sends for a statement Sluice blocks, which must not run
 * on the database: a syntax error, which fails at the same point (at Parse,
 * or a whole simple-protocol string before any of it runs) and names this
 * word, where Sluice answers 42501.
 */
const BLOCKED = 'SLUICE_DIFF_BLOCKED';

/** Statements of the scripts; `direct`: what the direct run sends instead. */
const SQL: { text: string; direct?: string }[] = [
  { text: 'SELECT id, email, code FROM diff_t WHERE id = $1' },
  { text: 'SELECT id, pin, note FROM diff_t ORDER BY id' },
  { text: "SELECT code || '-x' AS c2, upper(email) AS e2 FROM diff_t ORDER BY id" },
  { text: 'SELECT count(*) FROM diff_t WHERE id > $1' },
  { text: 'SELECT 1/0' },
  { text: 'SELEC 1' },
  { text: 'DROP TABLE diff_t', direct: BLOCKED },
  { text: 'UPDATE diff_t SET note = note WHERE id = $1' },
  { text: 'BEGIN' },
  { text: 'COMMIT' },
  { text: 'ROLLBACK' },
  { text: 'SELECT card, pin FROM diff_t WHERE id = $1' },
  { text: 'SELECT g, g * 2 AS h FROM generate_series(1, 3) g' },
  { text: 'SELECT id, code FROM diff_t WHERE id = $1 FOR UPDATE' },
  { text: 'UPDATE diff_t SET note = note WHERE id = $1 RETURNING id, code, email' },
  { text: 'WITH x AS (SELECT id, code, email FROM diff_t) SELECT * FROM x ORDER BY id' },
  { text: 'SELECT * FROM diff_t WHERE id = $1' },
  { text: 'SHOW search_path' },
  { text: "SET application_name = 'sluice-diff'" },
  { text: 'SELECT $1::text AS echo' },
  { text: 'DECLARE c CURSOR WITH HOLD FOR SELECT id, email FROM diff_t ORDER BY id' },
  { text: 'FETCH ALL FROM c' },
];
/**
 * Simple-protocol strings: several statements each, one of them perhaps
 * blocked. (A string that reads a rule-covered column masks the computed
 * columns of all its results, as the gateway does not tie results to the
 * statements of a string; these strings do not mix the two.)
 */
const QUERIES: { text: string; direct?: string }[] = [
  { text: 'SELECT id, code, pin FROM diff_t ORDER BY id; SELECT id FROM diff_t WHERE id = 2' },
  { text: 'SELECT note FROM diff_t ORDER BY id' },
  { text: 'SELECT 1; DROP TABLE diff_t', direct: `SELECT 1; ${BLOCKED}` },
  { text: 'BEGIN; SELECT email FROM diff_t WHERE id = 1; COMMIT' },
  { text: 'SELECT 1/0; SELECT 2' },
  { text: "BEGIN; DECLARE c CURSOR FOR SELECT id, code, code || '-x' AS c2, pin, email FROM diff_t ORDER BY id" },
  { text: "DEALLOCATE ALL; PREPARE s1 AS SELECT code || '-x' AS c2, email FROM diff_t ORDER BY id" },
  { text: 'DISCARD ALL' },
  { text: 'COPY (SELECT id, email FROM diff_t ORDER BY id) TO STDOUT' },
  { text: 'SELECT id, email FROM diff_t WHERE id = 1; SELECT 1/0; SELECT 3' },
  { text: '' },
  { text: ';' },
  // Cursors (their computed columns all come from rule-covered ones: FETCH from a cursor the
  // gateway does not know masks every computed column, which must not show here as a difference).
  { text: 'FETCH ALL FROM c' },
  { text: 'FETCH 1 FROM c' },
  { text: 'CLOSE c' },
  { text: 'DECLARE c CURSOR WITH HOLD FOR SELECT id, email FROM diff_t ORDER BY id' },
  { text: "DECLARE c CURSOR WITH HOLD FOR SELECT id, code || '-x' AS c2 FROM diff_t ORDER BY id" },
  { text: "SELECT 1/0; DECLARE c CURSOR WITH HOLD FOR SELECT id, code || '-x' AS c2 FROM diff_t" },
  { text: "BEGIN; DECLARE c CURSOR FOR SELECT id, pin FROM diff_t ORDER BY id; FETCH 1 FROM c" },
  { text: 'DECLARE c CURSOR WITH HOLD FOR SELECT id, email FROM diff_t; DROP TABLE diff_t', direct: BLOCKED },
];

const names = fc.constantFrom('', 's1', 's2');
const portals = fc.constantFrom('', 'p1', 'c');
const param: fc.Arbitrary<Param> = fc.oneof(
  fc.constantFrom('1', '2', '3', '999').map((v) => ({ t: 'text' as const, v })),
  fc.constant({ t: 'null' as const }),
  fc.constantFrom(1, 2).map((v) => ({ t: 'int4' as const, v })),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('parse' as const), name: names, sql: fc.nat(SQL.length - 1) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('bind' as const),
      portal: portals,
      stmt: names,
      params: fc.array(param, { maxLength: 2 }),
      resultFormat: fc.constantFrom([], [0], [1], [0, 1], [1, 0, 1]),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('describe' as const), target: fc.constantFrom('S' as const, 'P' as const), name: fc.oneof(names, portals) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('execute' as const), portal: portals, maxRows: fc.constantFrom(0, 0, 1, 2) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('close' as const), target: fc.constantFrom('S' as const, 'P' as const), name: fc.oneof(names, portals) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'flush' as const }) },
  { weight: 3, arbitrary: fc.constant({ op: 'sync' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('query' as const), sql: fc.nat(QUERIES.length - 1) }) },
);
/** A script always ends with a Sync, so every run ends in ReadyForQuery. */
const script = fc.array(op, { minLength: 1, maxLength: 14 }).map((ops) => [...ops, { op: 'sync' as const }]);

function encodeParam(p: Param): { format: number; value: Buffer | null } {
  if (p.t === 'null') return { format: 0, value: null };
  if (p.t === 'text') return { format: 0, value: Buffer.from(p.v) };
  return { format: 1, value: int32(p.v) };
}

/** The script's bytes, for the direct run or for Sluice. */
function encode(ops: Op[], direct: boolean): Buffer {
  const out: Buffer[] = [];
  for (const o of ops) {
    switch (o.op) {
      case 'parse': {
        const s = SQL[o.sql]!;
        out.push(message('P', Buffer.concat([cstr(o.name), cstr(direct ? (s.direct ?? s.text) : s.text), int16(0)])));
        break;
      }
      case 'bind': {
        const ps = o.params.map(encodeParam);
        const body = [cstr(o.portal), cstr(o.stmt), int16(ps.length), ...ps.map((p) => int16(p.format)), int16(ps.length)];
        for (const p of ps) body.push(p.value === null ? int32(-1) : Buffer.concat([int32(p.value.length), p.value]));
        body.push(int16(o.resultFormat.length), ...o.resultFormat.map(int16));
        out.push(message('B', Buffer.concat(body)));
        break;
      }
      case 'describe':
        out.push(message('D', Buffer.concat([Buffer.from(o.target), cstr(o.name)])));
        break;
      case 'execute':
        out.push(message('E', Buffer.concat([cstr(o.portal), int32(o.maxRows)])));
        break;
      case 'close':
        out.push(message('C', Buffer.concat([Buffer.from(o.target), cstr(o.name)])));
        break;
      case 'flush':
        out.push(message('H'));
        break;
      case 'sync':
        out.push(message('S'));
        break;
      case 'query': {
        const q = QUERIES[o.sql]!;
        out.push(message('Q', cstr(direct ? (q.direct ?? q.text) : q.text)));
        break;
      }
    }
  }
  return Buffer.concat(out);
}

/**
 * Sent after every script: a Sync ends any batch (and any error state), the
 * ROLLBACK any transaction block a script left open (aborted or not), so the
 * SELECT always runs, and its row tells the reader the script is over. (A
 * count of ReadyForQuery cannot: in an error state PostgreSQL discards even
 * a Query until the Sync.)
 */
const END = Buffer.concat([message('S'), message('Q', cstr("ROLLBACK; SELECT 'sluice-diff-end' AS end_marker"))]);
const END_ROW = `D${JSON.stringify(['sluice-diff-end'])}`;

// ------------------------------------------------------------------ a raw client

/** Sends `script` and END on `raw`, cut at `cuts` (fractions of the length), then reads up to END's ReadyForQuery. */
async function run(raw: PgRaw, script: Buffer, cuts: number[]): Promise<Msg[]> {
  await writeInCuts(raw.sock, Buffer.concat([script, END]), cuts);
  await raw.until((m) => m.length >= 2 && m[m.length - 1]!.type === 'Z' && m.some((x) => x.type === 'D' && `D${JSON.stringify(cells(x.body))}` === END_ROW), 'the end marker');
  return raw.msgs.slice();
}

// ------------------------------------------------------------------ what may differ

/** Cells the policy masks, as the direct run sees them (text or binary) → what Sluice must send instead. */
const MASKED = new Map<string, string>([
  // column rules (diff_t.code, diff_t.pin): the whole value, whatever the expression
  ['CODE-AAA', '[REDACTED]'],
  ['CODE-BBB', '[REDACTED]'],
  ['CODE-AAA-x', '[REDACTED]'],
  ['CODE-BBB-x', '[REDACTED]'],
  ['424201', '[REDACTED]'],
  ['424202', '[REDACTED]'],
  [int32(424201).toString('latin1'), '[REDACTED]'],
  [int32(424202).toString('latin1'), '[REDACTED]'],
  // detectors (credit_card, email), inside text too
  ['ann@example.com', '[REDACTED:email]'],
  ['ANN@EXAMPLE.COM', '[REDACTED:email]'],
  ['bo@example.org', '[REDACTED:email]'],
  ['BO@EXAMPLE.ORG', '[REDACTED:email]'],
  ['4242424242424242', '[REDACTED:credit_card]'],
  ['write to ann@example.com', 'write to [REDACTED:email]'],
]);
/** Values the detectors find inside any text. */
const DETECTED: [string, string][] = [
  ['ann@example.com', '[REDACTED:email]'],
  ['bo@example.org', '[REDACTED:email]'],
  ['4242424242424242', '[REDACTED:credit_card]'],
];
/** Column names whose RowDescription Sluice must retype to text. */
const RULE_COLUMNS = new Set(['code', 'pin', 'c2']);
const TEXT_OID = 25;

function cells(body: Buffer): (string | null)[] {
  const n = body.readInt16BE(0);
  const out: (string | null)[] = [];
  let o = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(o);
    o += 4;
    out.push(len < 0 ? null : body.toString('latin1', o, o + len));
    if (len > 0) o += len;
  }
  return out;
}

function fields(body: Buffer): { name: string; type: number }[] {
  const n = body.readInt16BE(0);
  const out: { name: string; type: number }[] = [];
  let o = 2;
  for (let i = 0; i < n; i++) {
    const end = body.indexOf(0, o);
    const name = body.toString('utf8', o, end);
    o = end + 1;
    out.push({ name, type: body.readInt32BE(o + 6) });
    o += 18;
  }
  return out;
}

/** Messages left out of the comparison: notices, parameter status. */
const IGNORED = new Set(['N', 'S']);

/** What the direct run's message should look like through Sluice, in a comparable form. */
function expected(m: Msg): string {
  switch (m.type) {
    case 'D':
      return `D${JSON.stringify(cells(m.body).map((c) => (c === null ? null : (MASKED.get(c) ?? c))))}`;
    case 'd': {
      // COPY output: the detectors apply inside each line.
      let line = m.body.toString('latin1');
      for (const [value, masked] of DETECTED) line = line.split(value).join(masked);
      return `d${line}`;
    }
    case 'T':
      return `T${JSON.stringify(fields(m.body).map((f) => (RULE_COLUMNS.has(f.name) ? { name: f.name, type: TEXT_OID } : f)))}`;
    case 'E': {
      const f = errorFields(m.body);
      // The direct run's stand-in for a blocked statement: Sluice refuses it there.
      return `E${f.C === '42601' && f.M?.includes(BLOCKED) ? '42501' : f.C}`;
    }
    default:
      return `${m.type}${m.body.toString('latin1')}`;
  }
}

function observed(m: Msg): string {
  switch (m.type) {
    case 'D':
      return `D${JSON.stringify(cells(m.body))}`;
    case 'T':
      return `T${JSON.stringify(fields(m.body))}`;
    case 'E':
      return `E${errorFields(m.body).C}`;
    default:
      return `${m.type}${m.body.toString('latin1')}`;
  }
}

function show(ops: Op[]): string {
  return ops
    .map((o) => {
      switch (o.op) {
        case 'parse':
          return `Parse(${JSON.stringify(o.name)}, ${JSON.stringify(SQL[o.sql]!.text)})`;
        case 'bind':
          return `Bind(${JSON.stringify(o.portal)}, ${JSON.stringify(o.stmt)}, ${JSON.stringify(o.params)}, results ${JSON.stringify(o.resultFormat)})`;
        case 'describe':
          return `Describe(${o.target} ${JSON.stringify(o.name)})`;
        case 'execute':
          return `Execute(${JSON.stringify(o.portal)}, ${o.maxRows})`;
        case 'close':
          return `Close(${o.target} ${JSON.stringify(o.name)})`;
        case 'query':
          return `Query(${JSON.stringify(QUERIES[o.sql]!.text)})`;
        default:
          return o.op[0]!.toUpperCase() + o.op.slice(1);
      }
    })
    .join('\n  ');
}

// ------------------------------------------------------------------ the tests

describe.skipIf(!!skip)(`postgres: scripts give the same answers direct and through Sluice${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: PgEnv;

  beforeAll(async () => {
    env = await setupPg([{ name: 'diff-rules', mask: { columns: ['diff_t.code', 'diff_t.pin'], strategy: 'redact' } }]);
    await env.admin.query(`
      CREATE TABLE diff_t (id int PRIMARY KEY, email text, code text, pin int, card text, note text);
      INSERT INTO diff_t VALUES
        (1, 'ann@example.com', 'CODE-AAA', 424201, '4242424242424242', 'write to ann@example.com'),
        (2, 'bo@example.org', 'CODE-BBB', 424202, 'none', NULL);
    `);
  });
  afterAll(async () => {
    await env?.close();
  });

  async function both(ops: Op[], cuts: number[]): Promise<{ direct: string[]; sluice: string[] }> {
    const d = await PgRaw.open(PG.port, { user: PG.user, database: env.db });
    let direct: Msg[];
    try {
      direct = await run(d, encode(ops, true), cuts);
    } finally {
      d.close();
    }
    const s = await PgRaw.open(env.gw.port, { user: 'alice', database: 'orders' }, env.agent.secret);
    let sluice: Msg[];
    try {
      sluice = await run(s, encode(ops, false), cuts);
    } finally {
      s.close();
    }
    // The end marker's own answer (ROLLBACK's CommandComplete, RowDescription, row, CommandComplete, ReadyForQuery) is not the script's.
    return {
      direct: direct.filter((m) => !IGNORED.has(m.type)).slice(0, -5).map(expected),
      sluice: sluice.filter((m) => !IGNORED.has(m.type)).slice(0, -5).map(observed),
    };
  }

  it('a pipelined batch with a blocked statement in the middle: refused in its place, the rest discarded up to Sync', async () => {
    const ops: Op[] = [
      { op: 'parse', name: 's1', sql: 0 },
      { op: 'bind', portal: '', stmt: 's1', params: [{ t: 'text', v: '1' }], resultFormat: [] },
      { op: 'describe', target: 'P', name: '' },
      { op: 'execute', portal: '', maxRows: 0 },
      { op: 'parse', name: '', sql: 6 },
      { op: 'bind', portal: '', stmt: '', params: [], resultFormat: [] },
      { op: 'execute', portal: '', maxRows: 0 },
      { op: 'sync' },
      { op: 'bind', portal: 'p1', stmt: 's1', params: [{ t: 'int4', v: 2 }], resultFormat: [1] },
      { op: 'execute', portal: 'p1', maxRows: 0 },
      { op: 'sync' },
    ];
    const r = await both(ops, []);
    expect(r.sluice).toEqual(r.direct);
    expect(r.sluice).toContain('E42501');
    const rows = [['1', '[REDACTED:email]', '[REDACTED]'], [int32(2).toString('latin1'), '[REDACTED:email]', '[REDACTED]']];
    expect(r.sluice.filter((m) => m.startsWith('D'))).toEqual(rows.map((c) => `D${JSON.stringify(c)}`));
  });

  it('a portal read two rows at a time: every part masked, PortalSuspended in place', async () => {
    const ops: Op[] = [
      { op: 'parse', name: '', sql: 1 },
      { op: 'bind', portal: 'p1', stmt: '', params: [], resultFormat: [1, 1, 0] },
      { op: 'execute', portal: 'p1', maxRows: 1 },
      { op: 'flush' },
      { op: 'execute', portal: 'p1', maxRows: 1 },
      { op: 'execute', portal: 'p1', maxRows: 1 },
      { op: 'sync' },
    ];
    const r = await both(ops, [0.3, 0.61]);
    expect(r.sluice).toEqual(r.direct);
    expect(r.sluice.filter((m) => m[0] === 's')).toHaveLength(2);
  });

  it('a Query the target discards after an extended-protocol error does not put the gateway out of step (rows after it stay masked)', async () => {
    const ops: Op[] = [
      { op: 'describe', target: 'S', name: '' },
      { op: 'query', sql: 1 },
      { op: 'sync' },
      { op: 'parse', name: '', sql: 0 },
      { op: 'bind', portal: '', stmt: '', params: [{ t: 'text', v: '1' }], resultFormat: [] },
      { op: 'execute', portal: '', maxRows: 0 },
      { op: 'sync' },
    ];
    const r = await both(ops, []);
    expect(r.sluice).toEqual(r.direct);
    expect(r.sluice).toContain(`D${JSON.stringify(['1', '[REDACTED:email]', '[REDACTED]'])}`);
  });

  it('a refused Query the target would discard is not answered either', async () => {
    const ops: Op[] = [{ op: 'describe', target: 'S', name: '' }, { op: 'query', sql: 2 }, { op: 'sync' }];
    const r = await both(ops, []);
    expect(r.sluice).toEqual(r.direct);
    expect(r.sluice).toEqual(['E26000', 'ZI', 'ZI']); // the last: the end marker's Sync
  });

  it('a refused Query inside a transaction block aborts it, as an error from PostgreSQL would', async () => {
    const ops: Op[] = [
      { op: 'parse', name: '', sql: 8 },
      { op: 'bind', portal: '', stmt: '', params: [], resultFormat: [] },
      { op: 'execute', portal: '', maxRows: 0 },
      { op: 'sync' },
      { op: 'query', sql: 2 },
      { op: 'query', sql: 1 },
      { op: 'query', sql: 1 },
    ];
    ops.push({ op: 'parse', name: '', sql: 10 }, { op: 'bind', portal: '', stmt: '', params: [], resultFormat: [] }, { op: 'execute', portal: '', maxRows: 0 }, { op: 'sync' });
    const r = await both(ops, []);
    expect(r.sluice).toEqual(r.direct);
    expect(r.sluice).toEqual(['1', '2', 'CBEGIN\u0000', 'ZT', 'E42501', 'ZE', 'E25P02', 'ZE', 'E25P02', 'ZE', '1', '2', 'CROLLBACK\u0000', 'ZI', 'ZI']);
  });

  it('a Parse that redefines a named statement and is refused by the target (42P05) leaves the old one in force', async () => {
    const ops: Op[] = [
      { op: 'parse', name: 's1', sql: 2 },
      { op: 'sync' },
      { op: 'parse', name: 's1', sql: 12 },
      { op: 'sync' },
      { op: 'bind', portal: '', stmt: 's1', params: [], resultFormat: [] },
      { op: 'execute', portal: '', maxRows: 0 },
      { op: 'sync' },
    ];
    const r = await both(ops, [0.5]);
    expect(r.sluice).toEqual(r.direct);
    expect(r.sluice).toContain('E42P05');
    expect(r.sluice).toContain(`D${JSON.stringify(['[REDACTED]', '[REDACTED:email]'])}`);
  });

  it('a Close and a Parse the target discards after an error leave the old statement in force', async () => {
    const ops: Op[] = [
      { op: 'parse', name: 's1', sql: 2 },
      { op: 'sync' },
      { op: 'execute', portal: 'nope', maxRows: 0 },
      { op: 'close', target: 'S', name: 's1' },
      { op: 'parse', name: 's1', sql: 12 },
      { op: 'sync' },
      { op: 'bind', portal: '', stmt: 's1', params: [], resultFormat: [] },
      { op: 'execute', portal: '', maxRows: 0 },
      { op: 'sync' },
    ];
    const r = await both(ops, []);
    expect(r.sluice).toEqual(r.direct);
    expect(r.sluice).toContain(`D${JSON.stringify(['[REDACTED]', '[REDACTED:email]'])}`);
  });

  it('a statement needing approval cannot be run under the name of one redefined in vain', async () => {
    const s = await PgRaw.open(env.gw.port, { user: 'alice', database: 'orders' }, env.agent.secret);
    try {
      const parse = (name: string, sql: string) => message('P', Buffer.concat([cstr(name), cstr(sql), int16(0)]));
      s.sock.write(
        Buffer.concat([
          parse('s9', 'DELETE FROM diff_t'),
          message('S'),
          parse('s9', 'SELECT 1'),
          message('S'),
          message('B', Buffer.concat([cstr(''), cstr('s9'), int16(0), int16(0), int16(0)])),
          message('E', Buffer.concat([cstr(''), int32(0)])),
          message('S'),
        ]),
      );
      const id = await pendingApproval(env);
      const req = await env.gw.store.getApproval(id);
      expect(req?.command.text).toBe('DELETE FROM diff_t');
      await env.gw.gateway.broker.decide(id, env.approver.identity, false, null);
      await s.until((m) => m.filter((x) => x.type === 'Z').length === 3, 'three ReadyForQuery');
      expect(s.msgs.filter((x) => x.type === 'E').map((x) => errorFields(x.body).C)).toEqual(['42P05', '42501']);
    } finally {
      s.close();
    }
    expect((await env.admin.query('SELECT count(*)::int AS n FROM diff_t')).rows[0].n).toBe(2);
  });

  it('a cursor DECLAREd in SQL and read by a protocol Execute: rule-covered columns masked, computed ones too', async () => {
    const ops: Op[] = [{ op: 'query', sql: 5 }, { op: 'execute', portal: 'c', maxRows: 1 }, { op: 'execute', portal: 'c', maxRows: 0 }, { op: 'sync' }];
    const r = await both(ops, [0.7]);
    expect(r.sluice).toEqual(r.direct);
    expect(r.sluice).toContain(`D${JSON.stringify(['1', '[REDACTED]', '[REDACTED]', '[REDACTED]', '[REDACTED:email]'])}`);
  });

  it('a statement PREPAREd in SQL over a protocol one of the same name: bound by the protocol, judged and masked as what the target holds', async () => {
    const ops: Op[] = [
      { op: 'parse', name: 's1', sql: 12 },
      { op: 'sync' },
      { op: 'query', sql: 6 },
      { op: 'bind', portal: '', stmt: 's1', params: [], resultFormat: [] },
      { op: 'execute', portal: '', maxRows: 0 },
      { op: 'sync' },
    ];
    const r = await both(ops, [0.4]);
    expect(r.sluice).toEqual(r.direct);
    expect(r.sluice).toContain(`D${JSON.stringify(['[REDACTED]', '[REDACTED:email]'])}`);
  });

  it('messages sent after the target reported an extended-protocol error, before the Sync, get no answer and do not put the gateway out of step', async () => {
    const s = await PgRaw.open(env.gw.port, { user: 'alice', database: 'orders' }, env.agent.secret);
    try {
      s.sock.write(encode([{ op: 'execute', portal: 'nope', maxRows: 0 }], false));
      await s.until((m) => m.some((x) => x.type === 'E'), 'the error');
      const msgs = await run(s, encode([{ op: 'query', sql: 1 }, { op: 'sync' }], false), []);
      expect(msgs.filter((m) => !IGNORED.has(m.type)).slice(0, -5).map(observed)).toEqual(['E34000', 'ZI', 'ZI']);
    } finally {
      s.close();
    }
  });

  it('a refused Parse of the unnamed statement drops the one before it, as a failed Parse does in PostgreSQL', async () => {
    const ops: Op[] = [{ op: 'parse', name: '', sql: 0 }, { op: 'parse', name: '', sql: 6 }, { op: 'sync' }, { op: 'describe', target: 'S', name: '' }, { op: 'sync' }];
    const r = await both(ops, []);
    expect(r.sluice).toEqual(r.direct);
    expect(r.sluice).toEqual(['1', 'E42501', 'ZI', 'E26000', 'ZI', 'ZI']);
  });

  it('random scripts, pipelined and cut at random points', async () => {
    await fc.assert(
      fc.asyncProperty(script, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }), async (ops, cuts) => {
        const r = await both(ops, cuts);
        expect(r.sluice, `script:\n  ${show(ops)}`).toEqual(r.direct);
      }),
      { numRuns: Number(process.env.SLUICE_DIFF_RUNS ?? 150) },
    );
  }, 120_000);
});
