import { randomBytes } from 'node:crypto';
import { AnswerGate, maskMessage, oversizedStatement, withParams, type ColumnRef, type Command, type Derived, type Masker, type RelayHandlers, type RelayOut, type Session, type Verdict } from '@sluice/core';
import { oneOf, PostgresClassifier, type SqlEffect } from '@sluice/sql';
import {
  BackendCode,
  BackendWriter,
  FrontendCode,
  FrontendWriter,
  commandTagRows,
  parseBind,
  parseClose,
  parseCommandComplete,
  parseCopyResponse,
  parseDescribe,
  parseExecute,
  parseNoticeFields,
  parseNotificationResponse,
  parseParameterStatus,
  parseParse,
  parseQuery,
  parseReadyForQuery,
  parseRowDescription,
  type FieldDescription,
  type FramedMessage,
  type TransactionState,
} from './protocol/index.js';
import { columnRefs, type ColumnOrigins } from './catalog.js';
import { errorMessage, noticeMessage } from './errors.js';
import { RowMasker, RowSlab, resultFormats, retypeRuleColumns } from './mask-rows.js';
import { maskNotice } from './mask-notices.js';

interface Stmt {
  cmd: Command;
  /** What its computed result columns may carry (resultSources), worked out once at Parse. */
  from: Derived | null;
  /** RowDescription of the statement (from a Describe 'S'), as the target sent it. */
  fields?: FieldDescription[];
  /** What running it changes (SQL PREPARE, DEALLOCATE, DECLARE): settled as each Execute of it is answered. */
  effects?: SqlEffect[];
  /** Its text, when it may EXECUTE a prepared statement: judged again at every Execute, as what the name holds then. */
  sql?: string;
}
/** A RowDescription as it came (`payload`, copied) and what was made of it, valid for these origins and this lineage. */
interface Described {
  payload: Buffer;
  from: Derived | null;
  version: number;
  fields: FieldDescription[];
  /** The bytes sent for a Describe, with rule-masked columns retyped to text (null: unchanged; undefined: not yet planned). */
  retyped?: Buffer | null;
  refs: ColumnRef[] | null;
  /** The fields' own formats (a simple query's rows are in these). */
  formats?: number[];
}
interface Portal {
  cmd: Command | null;
  /** Not from a statement the gateway parsed (a SQL cursor, a statement of SQL PREPARE): its columns are learnt from the target before it runs. */
  foreign?: boolean;
  /** The statement it was bound from, as the gateway knew it then. */
  stmt: Stmt | undefined;
  params: (string | null)[];
  resultFormats: number[];
  fields?: FieldDescription[];
  from: Derived | null;
  /** Texts that may EXECUTE a statement prepared in SQL: judged (as all of them) at every Execute, as the names hold then. */
  sql?: string[];
}

/**
 * What the next upstream responses belong to: one entry per forwarded
 * message that produces a response, in order. Entries are consumed as the
 * target answers, so masking and result summaries stay matched to their
 * command under pipelining, and a refusal is answered in its place.
 */
type Expect =
  /** A Parse: on ParseComplete the target holds `stmt` under `name`. */
  | { t: 'parse'; name: string; stmt: Stmt }
  /** A Bind: on BindComplete the target holds `portal` under `name` (until the transaction ends). */
  | { t: 'bind'; name: string; portal: Portal }
  /** A Close; `stmt`: the statement name, for a Close of a statement. */
  /** `hidden`: the gateway's own Close (its CloseComplete is not the client's). */
  | { t: 'close'; stmt?: string; portal?: string; hidden?: boolean }
  /** A Sync; `stmts`, `portals`: names its batch parsed, bound or closed (unsettled until its ReadyForQuery). */
  | { t: 'sync'; stmts?: string[]; portals?: string[] }
  | { t: 'describeS'; stmt: Stmt | undefined }
  /** Portals as bound when the message was sent (a later Bind may reuse the name before the answer comes). */
  /** `hidden`: the gateway's own Describe (its answer is not the client's). */
  | { t: 'describeP'; portal: Portal | undefined; hidden?: boolean }
  /** `stmts`, here and for 'query': [ANY_NAME] when the statement may prepare or deallocate statements in SQL. */
  /** `effects`, here and for 'query': what the SQL changes once answered; `failed`: it did not run to the end. */
  | { t: 'execute'; portal: Portal | undefined; mask: Masker | null; from: Derived | null; start: number; started?: boolean; stmts?: string[]; effects?: SqlEffect[]; failed?: boolean }
  | { t: 'query'; mask: Masker | null; from: Derived | null; start: number; stmts?: string[]; effects?: SqlEffect[]; failed?: boolean }
  /**
   * A refused message: the target answers our probe with an error we
   * replace. `simple`: a refused Query (its probe is a Query, followed by
   * its own 'query' entry for the ReadyForQuery that ends it).
   */
  | { t: 'refused'; error: Buffer; simple: boolean };

/** One of `cmds`, not knowing which: judged as all of them. */
function anyOf(cmds: Command[]): Command {
  return cmds.length === 1 ? cmds[0]! : oneOf('postgres', cmds[0]!.text, cmds);
}

/** Stands for every statement name (a real one cannot hold a NUL). */
const ANY_NAME = '\u0000*';

/** Counts `names` in (+1) or out (-1) of `unsettled`. */
function unsettle(unsettled: Map<string, number>, names: readonly string[] | undefined, by: 1 | -1): void {
  if (names === undefined) return;
  for (const n of names) {
    const left = (unsettled.get(n) ?? 0) + by;
    if (left > 0) unsettled.set(n, left);
    else unsettled.delete(n);
  }
}
/** SQL that may run a statement prepared in SQL (judged as what the name holds when it runs). */
const EXECUTE_SQL = /\bEXECUTE\b/i;
/** SQL that may create or drop prepared statements behind the protocol's back (PREPARE, DEALLOCATE, DISCARD ALL). */
const NAMESPACE_SQL = /\b(?:PREPARE|DEALLOCATE|DISCARD)\b/i;

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Client encodings in which a multibyte character can hide a quote or backslash byte. */
const UNSAFE_ENCODINGS = new Set(['SJIS', 'SHIFT_JIS_2004', 'BIG5', 'GBK', 'GB18030', 'UHC', 'JOHAB']);
export function unsafeEncoding(name: string | undefined): boolean {
  return !!name && UNSAFE_ENCODINGS.has(name.toUpperCase().replace(/[^A-Z0-9_]/g, ''));
}

function paramText(b: Buffer | null, format: number): string | null {
  if (b === null) return null;
  if (format === 0) return b.length > 4096 ? b.toString('utf8', 0, 4096) + '…' : b.toString('utf8');
  return '\\x' + b.subarray(0, 2048).toString('hex');
}

function humanDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

/**
 * The PostgreSQL side of one session: turns client messages into Commands
 * for core, enforces verdicts in the protocol's own terms, and masks and
 * summarises what comes back.
 *
 * Refusals in the extended protocol: the refused Execute (or Parse) is
 * replaced by an Execute of a portal that cannot exist, so the target itself
 * raises an error at that point, aborts the implicit transaction and
 * discards up to Sync exactly as PostgreSQL does; its error is then replaced
 * by ours. Nothing of the refused statement reaches the target.
 */
export class PgSessionRelay implements RelayHandlers<FramedMessage, FramedMessage> {
  private readonly classifier: PostgresClassifier;
  /**
   * Prepared statements as the target holds them: set on its ParseComplete,
   * removed on its CloseComplete, so a Parse or Close the target refused or
   * discarded (after an error, up to Sync) never counts. A Bind is judged as
   * the statement the target will run: one of its own batch (`batchStmts`:
   * if that Parse fails, the target discards the Bind too), else this one,
   * once no earlier batch that (re)defines the name is still unanswered
   * (`unsettledStmts`; the Bind waits for it).
   */
  private readonly stmts = new Map<string, Stmt>();
  /**
   * The texts of statements the target holds that may EXECUTE one prepared
   * in SQL, by name: kept when `stmts` forgets a name after SQL that may
   * (de)allocate statements, so a Bind of it still judges what it runs.
   */
  private readonly execSql = new Map<string, string>();
  /** Parse (a statement) and Close (null) of the client's current batch, by name, until its Sync. */
  private readonly batchStmts = new Map<string, Stmt | null>();
  /** Statement names that batches sent and not yet answered parse or close, with how many such batches. */
  private readonly unsettledStmts = new Map<string, number>();
  /** The same for portal names (bound or closed). */
  private readonly unsettledPortals = new Map<string, number>();
  /**
   * Queries and Executes sent with SQL effects (PREPARE, DEALLOCATE,
   * DECLARE) and not yet answered: SQL is judged only once they are, as
   * what EXECUTE or FETCH then finds.
   */
  private sqlUnsettled = 0;
  /** Client messages waiting for a name to settle. */
  private readonly gate: AnswerGate;
  /** Portals as the target holds them (BindComplete sets, CloseComplete and the end of a transaction remove); as `stmts`. */
  private readonly portals = new Map<string, Portal>();
  /** Bind (a portal) and Close (null) of the client's current batch, by name, until its Sync. */
  private readonly batchPortals = new Map<string, Portal | null>();
  private expect: Expect[] = [];
  private head = 0;
  private txStatus: TransactionState;
  /** After an extended-protocol error with no Sync sent behind it: the target discards what is sent until the next Sync. */
  private targetDiscarding = false;
  /** After a refusal in an extended batch: skip judging until Sync (the target discards it all). */
  private failedUntilSync = false;
  /** An Execute of a portal that cannot exist: the stand-in for a refused Parse or Execute. */
  private readonly probe: Buffer;
  /** A Query that cannot parse: the stand-in for a refused Query or FunctionCall. */
  private readonly queryProbe: Buffer;
  // current result
  private rows = 0;
  private rowMasker: RowMasker | null = null;
  /** Where this connection's rewritten rows are written. */
  private readonly rowSlab = new RowSlab();
  /** COPY output we cannot mask: its rows are dropped and this error replaces its completion. */
  private copyOutRefused: string | null = null;
  private copyMask: Masker | null = null;
  private copyMasked = 0;
  /** The last RowDescription seen and what was made of it (a prepared statement's comes back the same on every execution). */
  private desc: Described | null = null;
  private readonly w = new BackendWriter(256);
  private readonly w2 = new FrontendWriter();
  private scs: boolean;

  constructor(
    private readonly session: Session,
    private readonly origins: ColumnOrigins,
    initialTx: TransactionState,
    standardConformingStrings: boolean,
    private readonly abortSignal: AbortSignal,
    private readonly onClosed: (reason: string) => void,
    /** The PID a client knows a target backend by (Sluice gives each client its own, as in BackendKeyData). */
    private readonly clientPid: (upstreamPid: number) => number = (pid) => pid,
  ) {
    this.txStatus = initialTx;
    this.scs = standardConformingStrings;
    this.classifier = new PostgresClassifier({ standardConformingStrings });
    this.gate = new AnswerGate(abortSignal);
    const tag = `sluice/refused/${randomBytes(12).toString('hex')}`;
    this.probe = new FrontendWriter().execute(tag, 0).take();
    this.queryProbe = new FrontendWriter().query(tag).take();
  }

  // ------------------------------------------------------------ client → target

  client(m: FramedMessage, out: RelayOut): void | Promise<void> {
    switch (m.type) {
      case FrontendCode.Query:
        return this.onQuery(m, out);
      case FrontendCode.Parse:
        return this.onParse(m, out);
      case FrontendCode.Bind: {
        const b = parseBind(m.source, m.payloadStart, m.end);
        const bind = (st: Stmt | undefined): void => {
          const fmt = (i: number) => (b.paramFormats.length === 0 ? 0 : b.paramFormats.length === 1 ? b.paramFormats[0]! : (b.paramFormats[i] ?? 0));
          // A name the gateway did not parse may be a statement of SQL PREPARE: judged as `EXECUTE name` is.
          const foreignSql = st === undefined && b.statement !== '' ? [`EXECUTE ${quoteIdent(b.statement)}`, ...(this.execSql.has(b.statement) ? [this.execSql.get(b.statement)!] : [])] : undefined;
          const foreign = foreignSql ? anyOf(foreignSql.map((t) => this.classify(t))) : undefined;
          const portal: Portal = {
            cmd: st?.cmd ?? foreign ?? null,
            foreign: foreign !== undefined,
            stmt: st,
            params: b.params.map((p, i) => paramText(p, fmt(i))),
            resultFormats: b.resultFormats,
            fields: st?.fields,
            from: st?.from ?? (foreign ? this.derived(foreign) : null),
          };
          const sql = st?.sql !== undefined ? [st.sql] : foreignSql && foreignSql.length > 1 ? foreignSql : undefined;
          if (sql) portal.sql = sql;
          this.batchPortals.set(b.portal, portal);
          // FETCH by this name now reads the protocol's portal, not a cursor DECLAREd before.
          if (b.portal !== '') this.classifier.forgetCursor(b.portal);
          this.forward(m, out, { t: 'bind', name: b.portal, portal });
        };
        return this.withStatement(b.statement, out, bind);
      }
      case FrontendCode.Describe: {
        const d = parseDescribe(m.source, m.payloadStart, m.end);
        if (d.target === 'S') return this.withStatement(d.name, out, (st) => this.forward(m, out, { t: 'describeS', stmt: st }));
        return this.withPortal(d.name, out, (p) => this.forward(m, out, { t: 'describeP', portal: p }));
      }
      case FrontendCode.Execute:
        return this.onExecute(m, out);
      case FrontendCode.Sync: {
        this.failedUntilSync = false;
        const stmts = this.batchStmts.size > 0 ? [...this.batchStmts.keys()] : undefined;
        const portals = this.batchPortals.size > 0 ? [...this.batchPortals.keys()] : undefined;
        unsettle(this.unsettledStmts, stmts, 1);
        unsettle(this.unsettledPortals, portals, 1);
        this.batchStmts.clear();
        this.batchPortals.clear();
        return this.forward(m, out, { t: 'sync', stmts, portals });
      }
      case FrontendCode.Close: {
        const c = parseClose(m.source, m.payloadStart, m.end);
        if (c.target === 'S') {
          this.batchStmts.set(c.name, null);
          return this.forward(m, out, { t: 'close', stmt: c.name });
        }
        this.batchPortals.set(c.name, null);
        return this.forward(m, out, { t: 'close', portal: c.name });
      }
      case FrontendCode.Flush:
      case FrontendCode.CopyData:
      case FrontendCode.CopyDone:
      case FrontendCode.CopyFail:
        out.spanToServer(m.source, m.start, m.end);
        return;
      case FrontendCode.Terminate:
        out.clientQuit();
        out.spanToServer(m.source, m.start, m.end);
        return;
      case FrontendCode.FunctionCall:
        // The fast-path function call runs a function by OID, around the SQL
        // parser (lo_import …): never forwarded.
        this.session.refuse({ protocol: 'postgres', kind: 'FUNCTION CALL', text: `fast-path function call (oid ${m.payload.length >= 4 ? m.payload.readUInt32BE(0) : '?'})`, objects: [], flags: [] }, 'the function-call protocol is not allowed through Sluice');
        this.refuseQuery(errorMessage('SLUICE_POLICY_DENIED', 'the function-call protocol is not allowed through Sluice'), out);
        return;
      default:
        throw new Error(`unexpected message type 0x${m.type.toString(16)} from the client`);
    }
  }

  private forward(m: FramedMessage, out: RelayOut, e: Expect): void {
    this.push(e);
    out.spanToServer(m.source, m.start, m.end);
  }

  /**
   * Refuses a simple Query (or a FunctionCall, which the target treats
   * alike): a Query that cannot parse goes in its place, so the target
   * answers exactly where and as it would have answered the refused one —
   * an error (replaced by ours) and ReadyForQuery with its real transaction
   * state, or nothing at all when an earlier error of an extended batch has
   * it discarding messages until Sync. Nothing of the refused message
   * reaches the target.
   */
  private refuseQuery(error: Buffer, out: RelayOut): void {
    this.push({ t: 'refused', error, simple: true });
    this.push({ t: 'query', mask: null, from: null, start: performance.now() });
    out.toServer(this.queryProbe);
  }

  private waitNotice(out: RelayOut) {
    return (n: { requestId: string; policy: string; approvers: string[]; expiresAt: Date; timeoutMs: number }) => {
      out.toClient(
        noticeMessage(
          `Sluice: this statement needs approval (policy "${n.policy}"); request ${n.requestId} sent to ${n.approvers.join(', ')}; waiting up to ${humanDuration(n.timeoutMs)}`,
          `An approver runs: sluice approvals approve ${n.requestId}   (expires ${n.expiresAt.toISOString()})`,
        ),
      );
    };
  }

  private refusal(v: Extract<Verdict, { effect: 'deny' }>): Buffer {
    return errorMessage(v.code, v.reason, 'ERROR', v.policy ? { hint: `Refused by the Sluice gateway (policy "${v.policy}").` } : {});
  }

  /**
   * SQL text → Command, and what running it would change (applied once the
   * target has answered it); an oversized statement becomes a parse error
   * (refused).
   */
  private judge(sql: string): { cmd: Command; effects: SqlEffect[] | null } {
    const over = oversizedStatement('postgres', sql, '; use COPY for bulk data');
    return over ? { cmd: over, effects: null } : this.classifier.judge(sql);
  }

  private classify(sql: string): Command {
    return this.judge(sql).cmd;
  }

  /** Runs `judge` once no SQL sent earlier can still change what it finds (PREPARE, DEALLOCATE, DECLARE unanswered). */
  private whenSqlSettled(out: RelayOut, judge: () => void | Promise<void>): void | Promise<void> {
    return this.gate.when(() => this.sqlUnsettled === 0, out, judge);
  }

  private onQuery(m: FramedMessage, out: RelayOut): void | Promise<void> {
    if (this.sqlUnsettled === 0) return this.judgeQuery(m, out);
    return this.whenSqlSettled(out, () => this.judgeQuery(m, out));
  }

  private judgeQuery(m: FramedMessage, out: RelayOut): void | Promise<void> {
    const q = parseQuery(m.payload);
    const { cmd, effects } = this.judge(q.sql);
    const now = this.session.authorizeNow(cmd);
    if (now) return this.enforceQuery(now, cmd, effects, m, out);
    return this.session.authorize(cmd, this.waitNotice(out), this.abortSignal).then((v) => this.enforceQuery(v, cmd, effects, m, out));
  }

  /** A refused Query never reaches the target: its effects are dropped. */
  private enforceQuery(v: Verdict, cmd: Command, effects: SqlEffect[] | null, m: FramedMessage, out: RelayOut): void {
    if (v.effect === 'deny') {
      this.refuseQuery(this.refusal(v), out);
      return;
    }
    const e: Expect = { t: 'query', mask: v.mask, from: v.mask ? this.derived(cmd) : null, start: performance.now(), stmts: this.namespaceNames(cmd.text) };
    this.withEffects(e, effects);
    this.forward(m, out, e);
  }

  /** `e` carries `effects` (settled when it is answered or discarded). */
  private withEffects(e: Extract<Expect, { t: 'query' | 'execute' }>, effects: SqlEffect[] | null | undefined): void {
    if (!effects) return;
    e.effects = effects;
    this.sqlUnsettled++;
  }

  /**
   * [ANY_NAME] for SQL that may prepare or drop statements by name: every
   * name is unsettled until the target has run it, and the gateway then
   * forgets the named statements it knew (a later Bind of one is judged as
   * `EXECUTE name`, which the classifier still resolves, and its columns are
   * asked of the target).
   */
  private namespaceNames(text: string): string[] | undefined {
    if (!NAMESPACE_SQL.test(text)) return undefined;
    const all = [ANY_NAME];
    unsettle(this.unsettledStmts, all, 1);
    return all;
  }

  /** The columns the command's computed result columns may carry (null: none a rule covers). */
  private derived(cmd: Command): Derived | null {
    const names = this.session.masker?.columnNames;
    return names ? this.origins.lineage.derived(cmd) : null;
  }

  /** Decide at Parse: a statement policy blocks is refused here (and recorded); the rest waits for Execute. */
  private onParse(m: FramedMessage, out: RelayOut): void | Promise<void> {
    if (this.sqlUnsettled === 0) return this.judgeParse(m, out);
    return this.whenSqlSettled(out, () => this.judgeParse(m, out));
  }

  private judgeParse(m: FramedMessage, out: RelayOut): void | Promise<void> {
    const p = parseParse(m.payload);
    const { cmd, effects } = this.judge(p.sql);
    if (!this.failedUntilSync && this.session.preview(cmd) === 'block') {
      return this.session.authorize(cmd, undefined, this.abortSignal).then((v) => {
        if (v.effect === 'deny') return this.refuse(v, out, p.name === '');
        this.acceptParse(m, p.name, cmd, effects, p.sql, out);
      });
    }
    this.acceptParse(m, p.name, cmd, effects, p.sql, out);
  }

  private acceptParse(m: FramedMessage, name: string, cmd: Command, effects: SqlEffect[] | null, sql: string, out: RelayOut): void {
    const stmt: Stmt = { cmd, from: this.derived(cmd) };
    if (effects) stmt.effects = effects;
    if (EXECUTE_SQL.test(sql)) stmt.sql = sql;
    this.batchStmts.set(name, stmt);
    // SQL EXECUTE can run a protocol-level named statement: judge it as what it was parsed from.
    if (name) this.classifier.remember(name, cmd);
    this.forward(m, out, { t: 'parse', name, stmt });
  }

  /**
   * Runs `use` with the statement the target will hold under `name` when it
   * reaches this message; while an earlier, unanswered batch (re)defines the
   * name, waits for its answer (reading from the client pauses meanwhile).
   */
  private withStatement(name: string, out: RelayOut, use: (st: Stmt | undefined) => void): void | Promise<void> {
    if (this.batchStmts.has(name)) return use(this.batchStmts.get(name) ?? undefined);
    if (this.unsettledStmts.size === 0) return use(this.stmts.get(name));
    return this.gate.when(() => !this.unsettledStmts.has(name) && !this.unsettledStmts.has(ANY_NAME), out, () => use(this.stmts.get(name)));
  }

  /** As withStatement, for a portal. */
  private withPortal(name: string, out: RelayOut, use: (p: Portal | undefined) => void | Promise<void>): void | Promise<void> {
    if (this.batchPortals.has(name)) return use(this.batchPortals.get(name) ?? undefined);
    if (this.unsettledPortals.size === 0) return use(this.portals.get(name));
    return this.gate.when(() => !this.unsettledPortals.has(name), out, () => use(this.portals.get(name)));
  }

  /** Enforce at Execute: every execution is authorized (and recorded with its parameters). */
  private onExecute(m: FramedMessage, out: RelayOut): void | Promise<void> {
    const e = parseExecute(m.source, m.payloadStart, m.end);
    return this.withPortal(e.portal, out, (p) => (p?.sql !== undefined && this.sqlUnsettled > 0 ? this.whenSqlSettled(out, () => this.executePortal(e.portal, p, m, out)) : this.executePortal(e.portal, p, m, out)));
  }

  private executePortal(name: string, bound: Portal | undefined, m: FramedMessage, out: RelayOut): void | Promise<void> {
    let portal = bound;
    if (!portal && !this.failedUntilSync && name !== '') {
      // Not bound through the gateway: perhaps a cursor DECLAREd in SQL (the protocol can
      // Execute one by name), judged as fetching from it; else the target refuses it.
      const cmd = this.classify(`FETCH ALL FROM ${quoteIdent(name)}`);
      portal = { cmd, foreign: true, stmt: undefined, params: [], resultFormats: [], from: this.derived(cmd) };
    }
    if (this.failedUntilSync || !portal || !portal.cmd) {
      // The target discards it (error state) or refuses it (the unnamed statement does not exist).
      return this.forward(m, out, { t: 'execute', portal, mask: this.session.masker, from: portal?.from ?? null, start: performance.now() });
    }
    if (portal.sql !== undefined) {
      // EXECUTE name runs what the name holds now, not what it held at Parse or Bind.
      const now = anyOf(portal.sql.map((t) => this.classify(t)));
      portal = { ...portal, cmd: now, from: this.derived(now) };
    }
    const cmd = withParams(portal.cmd!, portal.params);
    const now = this.session.authorizeNow(cmd);
    if (now) return this.enforceExecute(now, name, portal, m, out);
    return this.session.authorize(cmd, this.waitNotice(out), this.abortSignal).then((v) => this.enforceExecute(v, name, portal, m, out));
  }

  private enforceExecute(v: Verdict, name: string, portal: Portal, m: FramedMessage, out: RelayOut): void {
    if (v.effect === 'deny') return this.refuse(v, out);
    if (portal.foreign && !portal.fields && v.mask) {
      // Its columns are not known: ask the target first (the answer is not passed on; an
      // error is, in the Execute's place, and the target then discards the Execute).
      this.push({ t: 'describeP', portal, hidden: true });
      out.toServer(this.w2.describe('P', name).take());
    }
    const e: Expect = { t: 'execute', portal, mask: v.mask, from: portal.from, start: performance.now(), stmts: portal.cmd ? this.namespaceNames(portal.cmd.text) : undefined };
    this.withEffects(e, portal.stmt?.effects);
    this.forward(m, out, e);
  }

  /**
   * Refuses a Parse or Execute of an extended batch. `unnamedParse`: a Parse
   * of the unnamed statement, which PostgreSQL drops before it parses the new
   * one (even one that then fails): the gateway drops it too, with its own
   * Close, unless the target is discarding (then the Parse would have been
   * discarded as well).
   */
  private refuse(v: Extract<Verdict, { effect: 'deny' }>, out: RelayOut, unnamedParse = false): void {
    this.failedUntilSync = true;
    if (unnamedParse) {
      this.batchStmts.set('', null);
      this.push({ t: 'close', stmt: '', hidden: true });
      out.toServer(this.w2.close('S', '').take());
    }
    this.push({ t: 'refused', error: this.refusal(v), simple: false });
    out.toServer(this.probe);
  }

  // ------------------------------------------------------------ target → client

  private get current(): Expect | undefined {
    return this.expect[this.head];
  }

  /**
   * The entry for a message just sent to the target. While the target
   * discards messages after an extended-protocol error and the Sync that
   * ends it has not been sent yet, no answer will come for it: no entry.
   */
  private push(e: Expect): void {
    if (this.targetDiscarding) {
      if (e.t !== 'sync') {
        if (e.t === 'query' || e.t === 'execute') e.failed = true;
        return this.answered(e);
      }
      this.targetDiscarding = false;
    }
    this.expect.push(e);
  }

  /** The target discarded the message of the current entry (after an error, up to Sync): it never ran. */
  private discard(): void {
    const e = this.current;
    if (e?.t === 'query' || e?.t === 'execute') e.failed = true;
    this.pop();
  }

  private pop(): void {
    const e = this.expect[this.head];
    if (e !== undefined) this.answered(e);
    this.head++;
    if (this.head > 64 && this.head * 2 > this.expect.length) {
      this.expect = this.expect.slice(this.head);
      this.head = 0;
    }
  }

  /** The target is done with the message of `e` (answered or discarded): the names it held unsettled settle. */
  private answered(e: Expect): void {
    if (e.t !== 'sync' && e.t !== 'query' && e.t !== 'execute') return;
    if (e.t !== 'sync' && e.effects) {
      this.classifier.settle(e.effects, !e.failed);
      e.effects = undefined;
      if (--this.sqlUnsettled === 0) this.gate.recheck();
    }
    const portals = e.t === 'sync' ? e.portals : undefined;
    if (e.stmts === undefined && portals === undefined) return;
    unsettle(this.unsettledStmts, e.stmts, -1);
    unsettle(this.unsettledPortals, portals, -1);
    // SQL may have prepared or dropped any named statement (the unnamed one it cannot touch).
    if (e.stmts?.[0] === ANY_NAME) for (const k of this.stmts.keys()) if (k !== '') this.stmts.delete(k);
    this.gate.recheck();
  }

  private startResult(fields: FieldDescription[], formats: readonly number[], mask: Masker | null, from: Derived | null): Buffer | null {
    this.rows = 0;
    this.rowMasker = null;
    if (!mask) return null;
    const rm = mask.forResult(this.refs(fields, from));
    if (rm.active) this.rowMasker = new RowMasker(rm, fields, formats, this.rowSlab);
    return retypeRuleColumns(fields, rm.ruleColumns);
  }

  /** Column references for the masker; those of the last description are kept while the origins are unchanged. */
  private refs(fields: FieldDescription[], from: Derived | null): ColumnRef[] {
    const d = this.desc;
    if (d !== null && d.fields === fields && d.from === from && d.version === this.origins.version) return (d.refs ??= columnRefs(fields, this.origins, from));
    return columnRefs(fields, this.origins, from);
  }

  /**
   * A RowDescription's fields. The same bytes with the same origins and
   * lineage give the same answer, so the last one is reused: parsed once,
   * not on every execution.
   */
  private described(m: FramedMessage, from: Derived | null): Described {
    const d = this.desc;
    const n = m.end - m.payloadStart;
    if (d !== null && d.from === from && d.version === this.origins.version && d.payload.length === n && m.source.compare(d.payload, 0, n, m.payloadStart, m.end) === 0) return d;
    const payload = m.payload;
    const next: Described = { payload: Buffer.from(payload), from, version: this.origins.version, fields: parseRowDescription(payload), refs: null };
    this.desc = next;
    return next;
  }

  /** A described statement's or portal's RowDescription with rule-masked columns retyped to text (null: unchanged), planned once per description. */
  private retyped(d: Described): Buffer | null {
    if (d.retyped === undefined) {
      const masker = this.session.masker;
      d.retyped = masker ? retypeRuleColumns(d.fields, masker.forResult(this.refs(d.fields, d.from)).ruleColumns) : null;
    }
    return d.retyped;
  }

  /**
   * An Execute's rows carry no RowDescription: plan their masking from the
   * portal's (or its statement's) description and the Bind's formats. With
   * no description known, every cell is still run through the detectors.
   */
  private beginExecute(e: Extract<Expect, { t: 'execute' }>, firstRow?: FramedMessage): void {
    e.started = true;
    const p = e.portal;
    let fields = p?.fields ?? p?.stmt?.fields;
    if (!fields) {
      const n = firstRow && firstRow.end - firstRow.payloadStart >= 2 ? firstRow.source.readUInt16BE(firstRow.payloadStart) : 0;
      fields = Array.from({ length: n }, () => ({ name: '?column?', tableOID: 0, columnAttr: 0, typeOID: 25, typeLen: -1, typeMod: -1, format: 0 }));
    }
    this.startResult(fields, resultFormats(p?.resultFormats ?? [], fields.length), e.mask, e.from);
  }

  private endResult(tag: string | null, start: number, error?: string): void {
    const n = tag ? commandTagRows(tag) : null;
    const verb = tag ? tag.slice(0, tag.indexOf(' ') >>> 0) : '';
    const isRows = verb === 'SELECT' || verb === 'FETCH' || verb === 'COPY' || verb === 'SHOW';
    this.session.result({
      rows: isRows ? (n ?? this.rows) : this.rows || undefined,
      affected: !isRows && n !== null ? n : undefined,
      masked: (this.rowMasker?.rm.masked ?? 0) + this.copyMasked,
      error,
      ms: Math.round((performance.now() - start) * 100) / 100,
    });
    this.rowMasker = null;
    this.rows = 0;
    this.copyMasked = 0;
  }

  server(m: FramedMessage, out: RelayOut): void {
    const e = this.current;
    switch (m.type) {
      case BackendCode.DataRow: {
        if (e?.t === 'execute') {
          if (!e.started) this.beginExecute(e, m);
        } else if (e?.t !== 'query') this.unplaced('a row');
        this.rows++;
        const masked = this.rowMasker ? this.rowMasker.rewrite(m) : null;
        if (masked) out.toClient(masked);
        else out.spanToClient(m.source, m.start, m.end);
        return;
      }
      case BackendCode.CommandComplete: {
        if (this.copyOutRefused !== null) {
          out.toClient(errorMessage('SLUICE_POLICY_DENIED', this.copyOutRefused));
          this.copyOutRefused = null;
          if (e?.t === 'execute') this.pop();
          return;
        }
        if (e?.t === 'execute' && !e.started) this.beginExecute(e);
        if (e?.t === 'execute' || e?.t === 'query') this.endResult(parseCommandComplete(m.source, m.payloadStart, m.end), e.start);
        if (e?.t === 'execute') this.pop();
        out.spanToClient(m.source, m.start, m.end);
        return;
      }
      case BackendCode.RowDescription: {
        let replaced: Buffer | null = null;
        if (e?.t === 'describeS') {
          const st = e.stmt;
          const d = this.described(m, st?.from ?? null);
          if (st) st.fields = d.fields;
          replaced = this.retyped(d);
          this.pop();
        } else if (e?.t === 'describeP') {
          const p = e.portal;
          const d = this.described(m, p?.from ?? null);
          if (p) {
            p.fields = d.fields;
            // A portal's description carries its result formats.
            if (p.foreign) p.resultFormats = d.fields.map((f) => f.format);
          }
          this.pop();
          if (e.hidden) return;
          replaced = this.retyped(d);
        } else if (e?.t === 'query') {
          const d = this.described(m, e.from);
          replaced = this.startResult(d.fields, (d.formats ??= d.fields.map((f) => f.format)), e.mask, e.from);
        } else this.unplaced('a row description');
        if (replaced) out.toClient(replaced);
        else out.spanToClient(m.source, m.start, m.end);
        return;
      }
      case BackendCode.BindComplete: {
        if (e?.t === 'bind') {
          this.portals.set(e.name, e.portal);
          this.pop();
        }
        out.spanToClient(m.source, m.start, m.end);
        return;
      }
      case BackendCode.ParseComplete:
        if (e?.t === 'parse') {
          this.stmts.set(e.name, e.stmt);
          if (e.stmt.sql !== undefined) this.execSql.set(e.name, e.stmt.sql);
          else this.execSql.delete(e.name);
        }
        this.pop();
        out.spanToClient(m.source, m.start, m.end);
        return;
      case BackendCode.CloseComplete:
        if (e?.t === 'close' && e.stmt !== undefined) {
          this.stmts.delete(e.stmt);
          this.execSql.delete(e.stmt);
          // SQL EXECUTE of the name now finds nothing (a Close the target discarded changes nothing).
          if (e.stmt) this.classifier.forget(e.stmt);
        }
        if (e?.t === 'close' && e.portal !== undefined) this.portals.delete(e.portal);
        this.pop();
        if (e?.t === 'close' && e.hidden) return;
        out.spanToClient(m.source, m.start, m.end);
        return;
      case BackendCode.NoData:
        if (e?.t === 'describeS' || e?.t === 'describeP') this.pop();
        if (e?.t === 'describeP' && e.hidden) return;
        out.spanToClient(m.source, m.start, m.end);
        return;
      case BackendCode.EmptyQueryResponse:
      case BackendCode.PortalSuspended:
        if (e?.t === 'execute') {
          this.endResult(null, e.start);
          this.pop();
        }
        out.spanToClient(m.source, m.start, m.end);
        return;
      case BackendCode.ErrorResponse:
        return this.onError(m, out);
      case BackendCode.NotificationResponse: {
        // A NOTIFY payload is text the target hands back like a value: the detectors apply.
        // The sender's PID is the one its client was given (so a client can tell its own notifications apart).
        const masker = this.session.masker;
        const n = parseNotificationResponse(m.payload);
        const text = masker ? maskMessage(masker, n.payload) : null;
        const pid = this.clientPid(n.processId);
        if (text === null && pid === n.processId) out.spanToClient(m.source, m.start, m.end);
        else out.toClient(this.w.notificationResponse(pid, n.channel, text ?? n.payload).take());
        return;
      }
      case BackendCode.NoticeResponse: {
        const masker = this.session.masker;
        out.toClient((masker && maskNotice(BackendCode.NoticeResponse, parseNoticeFields(m.payload), masker)) || m.raw);
        return;
      }
      case BackendCode.ReadyForQuery: {
        this.txStatus = parseReadyForQuery(m.source, m.payloadStart, m.end);
        // Outside a transaction block no portal outlives the transaction that just ended.
        if (this.txStatus === 'I') this.portals.clear();
        // A SET that did not change the value sends no ParameterStatus: re-assert what we know.
        this.classifier.standardConformingStrings = this.scs;
        // Anything still owed before this sync was discarded by the target.
        while (this.current && this.current.t !== 'sync' && this.current.t !== 'query') this.discard();
        if (this.current && (this.current.t === 'sync' || this.current.t === 'query')) this.pop();
        // Outside a transaction block no cursor declared without HOLD outlives it either (and
        // which were declared WITH HOLD is not tracked): forgotten after what just settled.
        if (this.txStatus === 'I') this.classifier.forgetCursors();
        out.spanToClient(m.source, m.start, m.end);
        return;
      }
      case BackendCode.CopyOutResponse: {
        if (e?.t !== 'query' && e?.t !== 'execute') this.unplaced('COPY output');
        const c = parseCopyResponse(m.payload);
        const { mask, from } = e;
        this.rows = 0;
        this.rowMasker = null;
        this.copyMask = mask;
        this.copyOutRefused = !mask
          ? null
          : c.format === 1
            ? 'binary COPY output cannot be masked by Sluice; use the text format'
            : from?.all != null && mask.forResult([{ name: '?column?', from: from.all }]).ruleColumns.size > 0
              ? 'COPY output has no column names, so Sluice cannot apply column mask rules to it; use SELECT for these columns'
              : null;
        out.spanToClient(m.source, m.start, m.end);
        return;
      }
      case BackendCode.CopyData: {
        if (this.copyOutRefused !== null) return; // never pass bytes we cannot mask
        if (this.copyMask) {
          this.rows++;
          const text = m.payload.toString('utf8');
          const r = this.copyMask.text(text);
          if (r.masked) {
            this.copyMasked += r.masked;
            out.toClient(this.w.copyData(Buffer.from(r.text, 'utf8')).take());
            return;
          }
        }
        out.spanToClient(m.source, m.start, m.end);
        return;
      }
      case BackendCode.CopyDone:
        this.copyMask = null;
        out.spanToClient(m.source, m.start, m.end);
        return;
      case BackendCode.ParameterStatus: {
        const p = parseParameterStatus(m.payload);
        if (p.name === 'standard_conforming_strings') this.classifier.standardConformingStrings = this.scs = p.value === 'on';
        if (p.name === 'client_encoding' && unsafeEncoding(p.value)) {
          // The gateway reads statements as UTF-8; in this encoding a quote could hide in a multibyte character.
          throw new Error(`client_encoding ${p.value} is not supported through Sluice; use UTF8`);
        }
        out.spanToClient(m.source, m.start, m.end);
        return;
      }
      default:
        out.spanToClient(m.source, m.start, m.end);
    }
  }

  private onError(m: FramedMessage, out: RelayOut): void {
    const e = this.current;
    const fields = parseNoticeFields(m.payload);
    const masker = this.session.masker;
    const raw = (masker && maskNotice(BackendCode.ErrorResponse, fields, masker)) || m.raw;
    if (fields.S === 'FATAL' || fields.S === 'PANIC') {
      out.toClient(raw);
      return;
    }
    this.copyOutRefused = null;
    this.copyMask = null;
    // An error of a simple Query ends that Query (its ReadyForQuery follows);
    // any other is an extended-protocol error, after which the target
    // discards every message up to Sync, simple Queries included.
    const simple = e?.t === 'query' || (e?.t === 'refused' && e.simple);
    if (e?.t === 'refused') {
      out.toClient(e.error);
      this.pop();
    } else {
      if (e?.t === 'execute' || e?.t === 'query') {
        e.failed = true;
        this.endResult(null, e.start, fields.M ?? 'error');
      }
      // A failed Parse of the unnamed statement has dropped the one before it.
      if (e?.t === 'parse' && e.name === '') this.stmts.delete('');
      out.toClient(raw);
      if (e && e.t !== 'query' && e.t !== 'sync') this.pop();
    }
    if (!simple && e !== undefined) {
      while (this.current && this.current.t !== 'sync') this.discard();
      // The Sync that ends the discarding is not sent yet: what is sent before it gets no answer.
      if (!this.current) this.targetDiscarding = true;
    }
  }

  /**
   * Rows or a row description the gateway cannot place (no Execute or Query
   * is waiting for them): it has lost track of the conversation, so it
   * cannot tell how to mask them. Fail closed: the session ends.
   */
  private unplaced(what: string): never {
    throw new Error(`${what} from the target that no command is waiting for`);
  }

  closed(reason: string): void {
    this.onClosed(reason);
  }
}
