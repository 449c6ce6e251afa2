import { AnswerGate, derivedColumn, derivedFrom, maskMessage, withParams, type CatalogLineage, oversizedStatement, type ApprovalNotice, type ColumnRef, type Command, type Derived, type Masker, type RelayHandlers, type RelayOut, type ResultMasker, type Session, type Verdict } from '@sluice/core';
import {
  BinaryRowCursor,
  BufferWriter,
  Capability,
  ColumnType,
  Command as Com,
  ServerStatus,
  TextRowCursor,
  TextRowSlab,
  BinaryRowSlab,
  Packet,
  ProtocolError,
  isResultSetEnd,
  maskedColumnDefinition,
  parseColumnCount,
  parseColumnDefinition,
  parseComInitDb,
  parseComQuery,
  parseComStmtClose,
  parseComStmtExecute,
  parseComStmtPrepare,
  parseComStmtSendLongData,
  parseEof,
  parseErr,
  writeErr,
  parseOk,
  parseStmtPrepareOk,
  stmtExecuteStatementId,
  writeBinaryRow,
  writeColumnDefinition,
  writeCommand,
  writeTextRow,
  type BinaryColumn,
  type BinaryRowCell,
  type ColumnDefinition,
  type ParamType,
} from './protocol/index.js';
import { MysqlClassifier, mysqlServerOptions, type PreparedEffect } from '@sluice/sql';
import { MyErr, errPacket } from './errors.js';


/**
 * What a statement's computed result columns may carry, and the base tables
 * it reads: MySQL names a derived table's or CTE's column by that alias, so a
 * column is a plain table column only when its table is one of these.
 */
interface Sources {
  d: Derived;
  tables: Set<string>;
}

/** A result's column definitions as they came (payload copies), parsed, with the column refs last planned from them. */
interface KnownColumns {
  payloads: Buffer[];
  cols: ColumnDefinition[];
  binCols: BinaryColumn[];
  refs: ColumnRef[] | null;
  refsSrc: Sources | null;
}

const NO_COLUMNS: ReadonlySet<number> = new Set();

function sourcesOf(cmd: Command, names: ReadonlySet<string> | undefined, lineage: CatalogLineage | null): Sources | null {
  const d = lineage ? lineage.derived(cmd) : names ? derivedFrom(cmd, names) : null;
  if (d === null) return null;
  const tables = new Set<string>();
  const add = (c: Command): void => {
    for (const o of c.objects) tables.add(o.slice(o.lastIndexOf('.') + 1).toLowerCase());
    c.parts?.forEach(add);
  };
  add(cmd);
  return { d, tables };
}

interface Stmt {
  cmd: Command;
  src: Sources | null;
  paramCount: number;
  columnCount: number;
  types?: ParamType[];
  longData: Set<number>;
}

type Phase = 'first' | 'cols' | 'colsEof' | 'rows' | 'params' | 'paramsEof' | 'prepCols' | 'prepColsEof';

/** What the next upstream response belongs to, one per forwarded command that has a response. */
type Expect =
  | {
      t: 'query';
      binary: boolean;
      mask: Masker | null;
      src: Sources | null;
      start: number;
      /** What the text's SQL PREPAREs and DEALLOCATEs change, once answered; `failed`: an ERR came. */
      effects?: PreparedEffect[];
      failed?: boolean;
    }
  | { t: 'prepare'; cmd: Command }
  | { t: 'simple'; onOk?: () => void }
  | { t: 'fieldlist' }
  | { t: 'inject'; bytes: Buffer };

/** Errors whose message quotes a data value (ER_DUP_ENTRY, ER_TRUNCATED_WRONG_VALUE[_FOR_FIELD], ER_ILLEGAL_VALUE_FOR_TYPE, ER_WRONG_VALUE_FOR_TYPE, ER_WRONG_VALUE, ER_DUP_ENTRY_WITH_KEY_NAME, ER_DATA_OUT_OF_RANGE, ER_INVALID_JSON_TEXT). */
const VALUE_ERRORS = new Set([1062, 1292, 1366, 1367, 1411, 1525, 1586, 1690, 3140]);
/** Where they quote it: from the first single quote to the last (the value may hold quotes). */
const QUOTED_VALUE = [/(')([\s\S]*)(')/];

/** Marks a cell that masking turns into NULL. */
const NULLED = Symbol('nulled');

/** Column types whose binary form is a length-encoded string (a masked text fits). */
const STRINGY = new Set<number>([
  ColumnType.VarChar,
  ColumnType.VarString,
  ColumnType.String,
  ColumnType.TinyBlob,
  ColumnType.MediumBlob,
  ColumnType.LongBlob,
  ColumnType.Blob,
  ColumnType.Json,
  ColumnType.Enum,
  ColumnType.Set,
  ColumnType.Decimal,
  ColumnType.NewDecimal,
]);

/** `USE db` as the first statement word: the database named (unquoted), else null. */
function useTarget(text: string): string | null {
  const m = /^\s*(?:\/\*[\s\S]*?\*\/\s*)*use\s+(`(?:[^`]|``)+`|[^\s;]+)/i.exec(text);
  if (!m) return null;
  const n = m[1]!;
  return n.startsWith('`') ? n.slice(1, -1).replace(/``/g, '`') : n;
}

function isLocalLoad(cmd: Command): boolean {
  const one = (c: Command) => c.flags.includes('file-access') || (c.kind === 'LOAD' && /\blocal\b/i.test(c.text));
  return one(cmd) || (cmd.parts ?? []).some(one);
}

/**
 * The MySQL side of one session: turns client commands into Commands for
 * core, answers refusals in place (ERR, sequence id 1), and masks and
 * summarises what comes back. MySQL is request/response: every command
 * starts a new exchange at sequence id 0.
 */
export class MySessionRelay implements RelayHandlers<Packet, Packet> {
  private readonly classifier: MysqlClassifier;
  private readonly stmts = new Map<number, Stmt>();
  /** The id of the last statement prepared, as the target answered (-1: none, or that prepare failed). */
  private lastPrepared = -1;
  /** Prepares sent and not yet answered: until they are, ids the gateway does not know may be theirs. */
  private pendingPrepares = 0;
  /**
   * Queries forwarded with SQL PREPARE / DEALLOCATE effects and not yet
   * answered: until they are, the gateway does not know what a name holds.
   */
  private unsettled = 0;
  /** Commands waiting for those answers. */
  private readonly gate: AnswerGate;
  private expect: Expect[] = [];
  private head = 0;
  private readonly deprecateEof: boolean;
  // current response
  private phase: Phase = 'first';
  private count = 0;
  private cols: ColumnDefinition[] = [];
  private colRaw: Packet[] = [];
  private prepStmt: Stmt | null = null;
  /** Renumber the next response packet (after a LOCAL INFILE request answered by the gateway). */
  private renumber = false;
  /**
   * Physical packets the client got minus those the target sent in the
   * current response: a rewritten row of 16 MiB or more can take one more or
   * one fewer packet than the original. While it is not 0, the target's
   * packets are renumbered so the client sees its sequence ids in order.
   */
  private seqShift = 0;
  private rows = 0;
  private rm: ResultMasker | null = null;
  private binCols: BinaryColumn[] = [];
  /**
   * The last result's column definitions (payload copies) with what was
   * derived from them, reused while the same bytes come back (every
   * execution of a prepared statement). `refs` hold for `refsSrc` only.
   */
  private lastCols: KnownColumns | null = null;
  private outCols: BinaryColumn[] = [];
  private readonly text = new TextRowCursor();
  private readonly bin = new BinaryRowCursor();
  private readonly w = new BufferWriter(1024);
  /** Where this connection's rewritten text rows are written. */
  private readonly slab = new TextRowSlab();
  private readonly binSlab = new BinaryRowSlab();
  /** The current row's replacements: cell index, then its text (NULLED: the cell becomes NULL). */
  private readonly changed: (number | string | typeof NULLED)[] = [];

  constructor(
    private readonly session: Session,
    private readonly capabilities: number,
    /** The target's database: the session may not leave it. */
    private readonly database: string,
    /** The target's version string (which version comments run) and its status at login (sql_mode). */
    serverVersion: string,
    initialStatus: number,
    private readonly abortSignal: AbortSignal,
    private readonly onClosed: (reason: string) => void,
    /** What the database's catalog says about rule-covered values (views over them); null without column rules. */
    private readonly lineage: CatalogLineage | null = null,
  ) {
    this.deprecateEof = (capabilities & Capability.DeprecateEof) !== 0;
    this.classifier = new MysqlClassifier({ ...mysqlServerOptions(serverVersion), noBackslashEscapes: (initialStatus & ServerStatus.NoBackslashEscapes) !== 0 });
    this.gate = new AnswerGate(abortSignal);
  }

  /** Keep the classifier's reading of string literals in step with the server's sql_mode. */
  private status(status: number): void {
    this.classifier.noBackslashEscapes = (status & ServerStatus.NoBackslashEscapes) !== 0;
  }

  // ------------------------------------------------------------ client → target

  client(p: Packet, out: RelayOut): void | Promise<void> {
    if (p.seq !== 0) throw new ProtocolError(`command packet with sequence id ${p.seq}, expected 0`);
    const payload = p.payload;
    if (payload.length === 0) throw new ProtocolError('empty command packet');
    switch (payload[0]) {
      case Com.Query:
        return this.onQuery(p, out);
      case Com.InitDb: {
        const { schema } = parseComInitDb(payload);
        // `use orders` (the connection's own name) means its target database.
        if (this.database && schema === this.session.connection.name && schema !== this.database) return this.forward(this.initDb(), out, { t: 'simple' });
        if (this.database && schema !== this.database) return this.deny(out, MyErr.dbAccessDenied, `Access denied: connection "${this.session.connection.name}" is bound to database '${this.database}'; Sluice does not switch to '${schema}'`, this.request('USE', `COM_INIT_DB ${schema}`, [schema]));
        return this.forward(p, out, { t: 'simple' });
      }
      case Com.Ping:
      case Com.Statistics:
      case Com.SetOption:
        return this.forward(p, out, { t: 'simple' });
      case Com.ResetConnection:
        this.stmts.clear();
        this.classifier.forget();
        return this.forward(p, out, { t: 'simple' });
      case Com.Quit:
        out.clientQuit();
        passToServer(out, p);
        return;
      case Com.FieldList:
        return this.forward(p, out, { t: 'fieldlist' });
      case Com.StmtPrepare:
        return this.onPrepare(p, out);
      case Com.StmtExecute:
        return this.onExecute(p, out);
      case Com.StmtClose: {
        const { statementId } = parseComStmtClose(payload);
        this.stmts.delete(statementId);
        passToServer(out, p);
        return;
      }
      case Com.StmtReset: {
        const id = stmtExecuteStatementIdLike(payload);
        this.stmts.get(id)?.longData.clear();
        return this.forward(p, out, { t: 'simple' });
      }
      case Com.StmtSendLongData: {
        const d = parseComStmtSendLongData(payload);
        return this.whenPrepared(d.statementId, out, () => {
          this.stmts.get(d.statementId)?.longData.add(d.paramId);
          passToServer(out, p);
        });
      }
      case Com.StmtFetch:
        return this.deny(out, MyErr.notSupported, 'Sluice does not support server-side cursors (COM_STMT_FETCH)', this.request('FETCH', 'COM_STMT_FETCH'));
      case Com.ChangeUser:
        return this.deny(out, MyErr.accessDenied, 'COM_CHANGE_USER is not supported through Sluice; reconnect with the other credential', this.request('CHANGE_USER', 'COM_CHANGE_USER'));
      default:
        return this.deny(out, MyErr.unknownCommand, `command 0x${payload[0]!.toString(16)} is not supported through Sluice`, this.request('UNKNOWN', `command 0x${payload[0]!.toString(16)}`));
    }
  }

  /** COM_INIT_DB of the target's database, as a packet. */
  private initDb(): Packet {
    writeCommand(this.w, Com.InitDb, this.database);
    const b = this.w.take();
    return new Packet(0, 0, b, 4, b.length);
  }

  private forward(p: Packet, out: RelayOut, e: Expect): void {
    if (e.t === 'prepare') this.pendingPrepares++;
    this.expect.push(e);
    passToServer(out, p);
  }

  /** Our own answer (sequence id 1), after every response still owed. */
  private answer(out: RelayOut, bytes: Buffer): void {
    if (this.head >= this.expect.length) out.toClient(bytes);
    else this.expect.push({ t: 'inject', bytes });
  }

  /** A refusal on protocol grounds: recorded through core, answered in MySQL's terms. */
  private deny(out: RelayOut, err: readonly [number, string], message: string, cmd: Command): void {
    this.session.refuse(cmd, message);
    this.answer(out, errPacket(err[0], message, 1, err[1]));
  }

  /** A Command for a protocol-level request that carries no SQL. */
  private request(kind: string, text: string, objects: string[] = []): Command {
    return { protocol: 'mysql', kind, text, objects, flags: [] };
  }

  private refuse(out: RelayOut, v: Extract<Verdict, { effect: 'deny' }>, held?: ApprovalNotice): void {
    // MySQL has no asynchronous notices: a statement held for approval learns about it after the fact.
    const extra = held ? ` [held for approval by ${held.approvers.join(', ')} for up to ${Math.round(held.timeoutMs / 1000)}s]` : '';
    this.answer(out, errPacket(v.code, v.reason + extra, 1));
  }

  /** Authorize, remembering an approval hold for the error message. */
  private async authorize(cmd: Command): Promise<[Verdict, ApprovalNotice | undefined]> {
    let held: ApprovalNotice | undefined;
    const v = await this.session.authorize(cmd, (n) => (held = n), this.abortSignal);
    return [v, held];
  }

  /** Refusals the plugin makes whatever the policies say. */
  private pluginRefusal(cmd: Command): readonly [readonly [number, string], string] | null {
    if (isLocalLoad(cmd)) return [[1148, '42000'], 'LOAD DATA LOCAL INFILE is not allowed through Sluice'];
    for (const c of [cmd, ...(cmd.parts ?? [])]) {
      const db = c.kind === 'USE' || /^\s*use\s/i.test(c.text) ? useTarget(c.text) : null;
      if (db !== null && this.database && db !== this.database) {
        return [MyErr.dbAccessDenied, `Access denied: connection "${this.session.connection.name}" is bound to database '${this.database}'; Sluice does not switch to '${db}'`];
      }
    }
    return null;
  }

  /** SQL text → Command and what it would change once run; an oversized statement becomes a parse error (refused). */
  private judge(sql: string): { cmd: Command; effects: PreparedEffect[] | null } {
    const over = oversizedStatement('mysql', sql);
    return over ? { cmd: over, effects: null } : this.classifier.judge(sql);
  }

  /**
   * A text is judged once every earlier one that PREPAREs or DEALLOCATEs is
   * answered: what `EXECUTE name` runs is what the server holds by then.
   */
  private onQuery(p: Packet, out: RelayOut): void | Promise<void> {
    if (this.unsettled === 0) return this.judgeQuery(p, out);
    return this.gate.when(() => this.unsettled === 0, out, () => this.judgeQuery(p, out));
  }

  private judgeQuery(p: Packet, out: RelayOut): void | Promise<void> {
    const q = parseComQuery(p.payload, this.capabilities);
    const { cmd, effects } = this.judge(q.sql);
    // `USE orders` (the connection's own name) means its target database.
    const useOwn = !!this.database && !cmd.parts && useTarget(q.sql) === this.session.connection.name && /^\s*use\s+`?[^`\s;]+`?\s*;?\s*$/i.test(q.sql);
    const own = useOwn ? null : this.pluginRefusal(cmd);
    if (own) return this.deny(out, own[0], own[1], cmd);
    const now = this.session.authorizeNow(cmd);
    if (now) return this.enforceQuery(now, undefined, cmd, effects, p, useOwn, out);
    return this.authorize(cmd).then(([v, held]) => this.enforceQuery(v, held, cmd, effects, p, useOwn, out));
  }

  /** A refused text never reaches the server: its effects are dropped. */
  private enforceQuery(v: Verdict, held: ApprovalNotice | undefined, cmd: Command, effects: PreparedEffect[] | null, p: Packet, useOwn: boolean, out: RelayOut): void {
    if (v.effect === 'deny') return this.refuse(out, v, held);
    if (useOwn) return this.forward(this.initDb(), out, { t: 'simple' });
    const e: Expect = { t: 'query', binary: false, mask: v.mask, src: v.mask ? sourcesOf(cmd, v.mask.columnNames, this.lineage) : null, start: performance.now() };
    if (effects) {
      e.effects = effects;
      this.unsettled++;
    }
    this.forward(p, out, e);
  }

  /**
   * Judge at prepare: a statement policy blocks is refused (and recorded)
   * here; the rest is enforced at execute. SQL PREPARE / DEALLOCATE change
   * nothing from here: the prepared-statement protocol refuses them.
   */
  private onPrepare(p: Packet, out: RelayOut): void | Promise<void> {
    const { sql } = parseComStmtPrepare(p.payload);
    const { cmd } = this.judge(sql);
    const own = this.pluginRefusal(cmd);
    if (own) return this.deny(out, own[0], own[1], cmd);
    if (this.session.preview(cmd) === 'block') {
      return this.session.authorize(cmd, undefined, this.abortSignal).then((v) => {
        if (v.effect === 'deny') return this.refuse(out, v);
        this.forward(p, out, { t: 'prepare', cmd });
      });
    }
    this.forward(p, out, { t: 'prepare', cmd });
  }

  /** Enforce at execute: every execution is authorized and recorded with its parameters. */
  private onExecute(p: Packet, out: RelayOut): void | Promise<void> {
    const id = stmtExecuteStatementId(p.payload);
    return this.whenPrepared(id, out, () => this.executeStatement(id, p, out));
  }

  /**
   * Runs `run` once the gateway knows which statement `id` names: at once,
   * unless a prepare is still unanswered and `id` is not known yet (or is
   * 0xffffffff, MariaDB's "the statement just prepared"): the target assigns
   * ids in its answers, so the command waits for them (reading from the
   * client pauses meanwhile).
   */
  private whenPrepared(id: number, out: RelayOut, run: () => void | Promise<void>): void | Promise<void> {
    return this.gate.when(() => this.pendingPrepares === 0 || (id !== 0xffffffff && this.stmts.has(id)), out, run);
  }

  private executeStatement(requested: number, p: Packet, out: RelayOut): void | Promise<void> {
    const id = requested === 0xffffffff ? this.lastPrepared : requested;
    const st = this.stmts.get(id);
    // No statement the gateway judged has this id: never forwarded (the target might still hold one it did not).
    if (!st) {
      const shown = id === -1 ? 'of the last prepare' : String(id);
      return this.deny(out, MyErr.unknownStatement, `Unknown prepared statement handler (${shown}) given to mysqld_stmt_execute`, this.request('EXECUTE', `COM_STMT_EXECUTE ${shown}`));
    }
    const e = parseComStmtExecute(p.payload, { paramCount: st.paramCount, capabilities: this.capabilities, previousTypes: st.types, longData: st.longData });
    if (e.flags & 0x07) return this.deny(out, MyErr.notSupported, 'Sluice does not support server-side cursors; execute without a cursor', { ...st.cmd, flags: [...st.cmd.flags, 'cursor'] });
    if (e.newParamsBound) st.types = e.params.map((x) => ({ type: x.type, unsigned: x.unsigned }));
    const params = e.params.map((x) => (x.longData ? '<long data>' : x.value === null ? null : x.value.length > 4096 ? x.value.slice(0, 4096) + '…' : x.value));
    st.longData.clear();
    const cmd = withParams(st.cmd, params);
    const now = this.session.authorizeNow(cmd);
    if (now) return this.enforceExecute(now, undefined, st.src, p, out);
    return this.authorize(cmd).then(([v, held]) => this.enforceExecute(v, held, st.src, p, out));
  }

  private enforceExecute(v: Verdict, held: ApprovalNotice | undefined, src: Sources | null, p: Packet, out: RelayOut): void {
    if (v.effect === 'deny') return this.refuse(out, v, held);
    this.forward(p, out, { t: 'query', binary: true, mask: v.mask, src, start: performance.now() });
  }

  // ------------------------------------------------------------ target → client

  private get current(): Expect | undefined {
    return this.expect[this.head];
  }

  private pop(out: RelayOut): void {
    const done = this.current;
    if (done?.t === 'prepare' && --this.pendingPrepares === 0) this.gate.recheck();
    else if (done?.t === 'query' && done.effects) {
      this.classifier.settle(done.effects, !done.failed);
      if (--this.unsettled === 0) this.gate.recheck();
    }
    this.head++;
    this.phase = 'first';
    this.seqShift = 0;
    if (this.head > 64 && this.head * 2 > this.expect.length) {
      this.expect = this.expect.slice(this.head);
      this.head = 0;
    }
    for (let e = this.current; e && e.t === 'inject'; e = this.current) {
      out.toClient(e.bytes);
      this.head++;
    }
  }

  server(p: Packet, out: RelayOut): void {
    if (this.seqShift !== 0) p = shiftSeq(p, this.seqShift);
    const e = this.current;
    if (!e || e.t === 'inject') {
      // Unsolicited (the target closing the connection with an ERR).
      passToClient(out, p);
      return;
    }
    switch (e.t) {
      case 'simple':
        if (p.first === 0x00) this.status(parseOk(p.payload, this.capabilities).status);
        if (p.first === 0xff) out.toClient(this.maskedErr(p));
        else passToClient(out, p);
        return this.pop(out);
      case 'fieldlist':
        passToClient(out, p);
        if (p.first === 0xff || isResultSetEnd(p.payload, this.capabilities)) this.pop(out);
        return;
      case 'prepare':
        return this.onPrepareResponse(e, p, out);
      case 'query':
        return this.onResult(e, p, out);
    }
  }

  private onPrepareResponse(e: Extract<Expect, { t: 'prepare' }>, p: Packet, out: RelayOut): void {
    if (this.phase === 'prepCols' && this.session.masker !== null) {
      // The result's column definitions, retyped as the execute response will be: gathered, then sent.
      this.cols.push(parseColumnDefinition(p.payload));
      this.colRaw.push(p);
      if (++this.count < this.prepStmt!.columnCount) return;
      const rule = this.session.masker.forResult(this.columnRefs(this.prepStmt!.src, this.cols)).ruleColumns;
      this.sendColumns(rule, out);
      this.cols = [];
      if (!this.deprecateEof) this.phase = 'prepColsEof';
      else this.pop(out);
      return;
    }
    if (p.first === 0xff && this.phase === 'first') out.toClient(this.maskedErr(p));
    else passToClient(out, p);
    const next = () => {
      const st = this.prepStmt!;
      if (st.columnCount > 0) {
        this.phase = 'prepCols';
        this.count = 0;
        this.cols = [];
        this.colRaw = [];
      } else this.pop(out);
    };
    switch (this.phase) {
      case 'first': {
        if (p.first === 0xff) {
          // MariaDB's "the statement just prepared" then names none the gateway judged.
          this.lastPrepared = -1;
          return this.pop(out);
        }
        const ok = parseStmtPrepareOk(p.payload, this.capabilities);
        const st: Stmt = { cmd: e.cmd, src: sourcesOf(e.cmd, this.session.masker?.columnNames, this.lineage), paramCount: ok.paramCount, columnCount: ok.columnCount, longData: new Set() };
        this.stmts.set(ok.statementId, st);
        this.lastPrepared = ok.statementId;
        this.prepStmt = st;
        this.count = 0;
        if (ok.paramCount > 0) this.phase = 'params';
        else next();
        return;
      }
      case 'params':
        if (++this.count === this.prepStmt!.paramCount) {
          if (!this.deprecateEof) this.phase = 'paramsEof';
          else next();
        }
        return;
      case 'paramsEof':
        return next();
      case 'prepCols':
        if (++this.count === this.prepStmt!.columnCount) {
          if (!this.deprecateEof) this.phase = 'prepColsEof';
          else this.pop(out);
        }
        return;
      case 'prepColsEof':
        return this.pop(out);
      default:
        throw new ProtocolError('unexpected packet in a prepare response');
    }
  }

  private endOfResult(e: Extract<Expect, { t: 'query' }>, out: RelayOut, status: number): void {
    if (status & ServerStatus.MoreResultsExist) {
      this.phase = 'first';
      e.start = performance.now();
    } else this.pop(out);
  }

  private onResult(e: Extract<Expect, { t: 'query' }>, p: Packet, out: RelayOut): void {
    if (this.renumber) {
      // The answer after a refused LOCAL INFILE request: the client never saw the exchange, so it is sequence id 1 to it.
      this.renumber = false;
      const raw = Buffer.from(p.raw);
      raw[3] = 1;
      p = new Packet(1, 1, raw, 4, raw.length);
    }
    const first = p.first;
    switch (this.phase) {
      case 'first': {
        if (first === 0x00) {
          const ok = parseOk(p.payload, this.capabilities);
          this.status(ok.status);
          this.session.result({ affected: Number(ok.affectedRows), ms: this.ms(e) });
          passToClient(out, p);
          return this.endOfResult(e, out, ok.status);
        }
        if (first === 0xff) {
          e.failed = true;
          this.session.result({ error: parseErr(p.payload).message, ms: this.ms(e) });
          out.toClient(this.maskedErr(p));
          return this.pop(out);
        }
        if (first === 0xfb) {
          // LOAD DATA LOCAL: never hand the server's file request to the client; an empty packet makes the server fail it.
          out.toServer(this.w.packet((p.lastSeq + 1) & 0xff, Buffer.alloc(0)).take());
          this.renumber = true;
          return;
        }
        this.count = parseColumnCount(p.payload, this.capabilities).count;
        this.cols = [];
        this.colRaw = [];
        this.rows = 0;
        this.rm = null;
        this.phase = 'cols';
        passToClient(out, p);
        return;
      }
      case 'cols': {
        this.colRaw.push(p);
        if (this.colRaw.length === this.count) this.emitColumns(e, out);
        return;
      }
      case 'colsEof':
        this.phase = 'rows';
        passToClient(out, p);
        return;
      case 'rows': {
        if (first === 0xff) {
          e.failed = true;
          this.session.result({ rows: this.rows, masked: this.rm?.masked ?? 0, error: parseErr(p.payload).message, ms: this.ms(e) });
          this.rm = null;
          out.toClient(this.maskedErr(p));
          return this.pop(out);
        }
        if (isResultSetEnd(p.payload, this.capabilities)) {
          const status = this.deprecateEof ? parseOk(p.payload, this.capabilities).status : parseEof(p.payload).status;
          this.status(status);
          this.session.result({ rows: this.rows, masked: this.rm?.masked ?? 0, ms: this.ms(e) });
          this.rm = null;
          passToClient(out, p);
          return this.endOfResult(e, out, status);
        }
        this.rows++;
        const masked = this.rm ? (e.binary ? this.maskBinary(p) : this.maskText(p)) : null;
        if (masked) out.toClient(masked);
        else passToClient(out, p);
        return;
      }
      default:
        throw new ProtocolError('unexpected packet in a result');
    }
  }

  /** A target's ERR packet with the values it shows masked (`maskMessage`); its own bytes when nothing changed. */
  private maskedErr(p: Packet): Buffer {
    const masker = this.session.masker;
    if (!masker) return p.raw;
    const err = parseErr(p.payload);
    const message = maskMessage(masker, err.message, VALUE_ERRORS.has(err.code) ? QUOTED_VALUE : []);
    if (message === null) return p.raw;
    writeErr(this.w, p.seq, { ...err, message });
    return this.w.take();
  }

  private ms(e: { start: number }): number {
    return Math.round((performance.now() - e.start) * 100) / 100;
  }

  /** All column definitions are in: plan the masking, retype rule columns, send them on. */
  private emitColumns(e: Extract<Expect, { t: 'query' }>, out: RelayOut): void {
    const mask = e.mask;
    const known = this.columnsOf(this.colRaw);
    this.cols = known.cols;
    let rule: ReadonlySet<number> = NO_COLUMNS;
    if (mask) {
      const rm = mask.forResult(this.knownRefs(known, e.src));
      if (rm.active) this.rm = rm;
      rule = rm.ruleColumns;
    }
    this.binCols = known.binCols;
    this.outCols = this.sendColumns(rule, out) ?? known.binCols;
    this.phase = this.deprecateEof ? 'rows' : 'colsEof';
  }

  /** A result's column definitions, parsed, or the last result's when these are the same bytes. */
  private columnsOf(raw: readonly Packet[]): KnownColumns {
    const c = this.lastCols;
    if (c !== null && c.payloads.length === raw.length && raw.every((p, i) => c.payloads[i]!.compare(p.source, p.payloadStart, p.end) === 0)) return c;
    const cols = raw.map((p) => parseColumnDefinition(p.payload));
    const next: KnownColumns = { payloads: raw.map((p) => Buffer.from(p.payload)), cols, binCols: cols.map((d) => ({ type: d.type, flags: d.flags })), refs: null, refsSrc: null };
    this.lastCols = next;
    return next;
  }

  /** A known result's column refs for these sources, planned once while the sources stay the same. */
  private knownRefs(k: KnownColumns, src: Sources | null): ColumnRef[] {
    if (k.refs === null || k.refsSrc !== src) {
      k.refs = this.columnRefs(src, k.cols);
      k.refsSrc = src;
    }
    return k.refs;
  }

  /** Each column's source: the table column it shows, or what a computed, derived or view column is made from. */
  private columnRefs(src: Sources | null, cols: readonly ColumnDefinition[]): ColumnRef[] {
    const n = cols.length;
    return cols.map((c, i): ColumnRef => {
      const ref: ColumnRef = { name: c.name, table: c.orgTable || c.table || undefined, column: c.orgName || undefined };
      // Computed, or a derived table's or CTE's column: masked by what the statement read into it.
      if (src !== null && !(c.orgName && c.orgTable && src.tables.has(c.orgTable.toLowerCase()))) {
        const from = derivedColumn(src.d, i, n);
        if (from !== null) ref.from = from;
      } else if (this.lineage !== null && c.orgName && c.orgTable) {
        // A view's column: what its definition computes it from.
        const from = this.lineage.expandColumn(c.schema ? `${c.schema}.${c.orgTable}` : c.orgTable, c.orgName);
        if (from !== undefined) ref.from = from;
      }
      return ref;
    });
  }

  /**
   * Sends the gathered column definitions on, rule-masked ones retyped as
   * text; returns the columns as the client sees them, or null when they
   * went as they came.
   */
  private sendColumns(rule: ReadonlySet<number>, out: RelayOut): BinaryColumn[] | null {
    let outCols: BinaryColumn[] | null = null;
    for (let i = 0; i < this.cols.length; i++) {
      const p = this.colRaw[i]!;
      if (rule.has(i)) {
        const m = maskedColumnDefinition(this.cols[i]!);
        outCols ??= this.cols.map((c) => ({ type: c.type, flags: c.flags }));
        outCols[i] = { type: m.type, flags: m.flags };
        writeColumnDefinition(this.w, p.seq, m);
        out.toClient(this.w.take());
      } else passToClient(out, p);
    }
    this.colRaw = [];
    return outCols;
  }

  /**
   * A text row with its masked cells replaced: unchanged cells are copied
   * byte for byte into the connection's slab; null when nothing changed (forward the packet as it came).
   */
  private maskText(p: Packet): Buffer | null {
    const rm = this.rm!;
    const c = this.text;
    c.resetPacket(p, this.count);
    const src = c.buffer;
    const minLength = rm.minLength;
    const slab = this.slab;
    /** Offset in `src` up to which the rewritten row has its bytes; -1 while nothing changed. */
    let copied = -1;
    const changed = this.changed;
    changed.length = 0;
    while (c.next()) {
      const len = c.length;
      if (len < 0) continue;
      const i = c.index;
      // A text cell shorter than any detector's match, outside rule columns, is never changed: not decoded.
      if (len < minLength && !rm.ruleColumns.has(i)) continue;
      const m = rm.cell(i, src.toString('utf8', c.offset, c.offset + len));
      if (m === null) continue;
      if (copied < 0) {
        slab.begin(p.seq);
        copied = p.payloadStart;
      }
      slab.copy(src, copied, c.cellStart);
      slab.text(m);
      copied = c.offset + len;
      changed.push(i, m);
    }
    return copied < 0 ? null : this.finishRow(p, slab, copied, () => this.maskTextSplit(p));
  }

  /** maskText for a row whose rewrite is 16 MiB or more (cells in `this.changed`): written by the splitting writer. */
  private maskTextSplit(p: Packet): Buffer {
    const c = this.text;
    c.resetPacket(p, this.count);
    const changed = this.changed;
    const cells: (string | Buffer | null)[] = new Array(this.count);
    let k = 0;
    while (c.next()) {
      const i = c.index;
      if (k < changed.length && changed[k] === i) {
        cells[i] = changed[k + 1] as string;
        k += 2;
      } else cells[i] = c.value();
    }
    writeTextRow(this.w, p.seq, cells);
    this.sentAs(p, (this.w.nextSeq - p.seq) & 0xff);
    return this.w.take();
  }

  /**
   * A binary row with its masked cells replaced, like maskText. A detector
   * hit in a numeric or temporal column cannot be written as text: the cell
   * becomes NULL, never the value.
   */
  private maskBinary(p: Packet): Buffer | null {
    const rm = this.rm!;
    const c = this.bin;
    c.resetPacket(p, this.binCols);
    const src = c.buffer;
    const minLength = rm.minLength;
    const slab = this.binSlab;
    let copied = -1;
    const changed = this.changed;
    changed.length = 0;
    while (c.next()) {
      const len = c.length;
      if (len < 0) continue;
      const i = c.index;
      const isRule = rm.ruleColumns.has(i);
      if (!isRule) {
        const n = c.textLength;
        if (n >= 0 && n < minLength) continue;
      }
      const text = c.text();
      const m = text === null ? (isRule ? '' : null) : rm.cell(i, text);
      if (m === null) continue;
      const out = isRule || STRINGY.has(this.binCols[i]!.type) ? m : null;
      if (copied < 0) {
        slab.begin(p.seq, src, c.bitmapStart, c.bitmapLength);
        copied = c.bitmapStart + c.bitmapLength;
      }
      slab.copy(src, copied, c.offset);
      if (out === null) slab.setNull(i);
      else slab.text(out);
      copied = c.offset + len;
      changed.push(i, out ?? NULLED);
    }
    return copied < 0 ? null : this.finishRow(p, slab, copied, () => this.maskBinarySplit(p));
  }

  /** maskBinary for a row whose rewrite is 16 MiB or more (cells in `this.changed`): written by the splitting writer. */
  private maskBinarySplit(p: Packet): Buffer {
    const c = this.bin;
    c.resetPacket(p, this.binCols);
    const changed = this.changed;
    const cells: BinaryRowCell[] = new Array(this.binCols.length);
    let k = 0;
    while (c.next()) {
      const i = c.index;
      if (k < changed.length && changed[k] === i) {
        const v = changed[k + 1];
        cells[i] = v === NULLED ? null : (v as string);
        k += 2;
      } else cells[i] = c.length < 0 ? null : { encoded: c.encoded()! };
    }
    writeBinaryRow(this.w, p.seq, this.outCols, cells);
    this.sentAs(p, (this.w.nextSeq - p.seq) & 0xff);
    return this.w.take();
  }

  /**
   * Ends a row rewritten into `slab` up to `copied` (the rest of `p` is
   * copied as it is), or, at 16 MiB or more, writes it with `split`.
   */
  private finishRow(p: Packet, slab: TextRowSlab | BinaryRowSlab, copied: number, split: () => Buffer): Buffer {
    slab.copy(p.source, copied, p.end);
    const row = slab.end();
    if (!row) return split();
    this.sentAs(p, 1);
    return row;
  }

  /** `p` went to the client as `sent` physical packets: keep the later packets' sequence ids in step. */
  private sentAs(p: Packet, sent: number): void {
    this.seqShift += sent - ((p.lastSeq - p.seq + 1) & 0xff);
  }

  closed(reason: string): void {
    this.onClosed(reason);
  }
}

/**
 * `p` with its sequence ids moved by `shift` (mod 256). The headers are
 * rewritten in place: they are the gateway's own copy of what the target
 * sent, and are forwarded only after this.
 */
function shiftSeq(p: Packet, shift: number): Packet {
  const seq = (p.seq + shift) & 0xff;
  if (p.rawParts) {
    let s = seq;
    for (const part of p.rawParts) {
      part[3] = s;
      s = (s + 1) & 0xff;
    }
  } else p.source[p.payloadStart - 1] = seq;
  return new Packet(seq, (p.lastSeq + shift) & 0xff, p.source, p.payloadStart, p.end, p.rawParts);
}

/** The statement id of COM_STMT_RESET. */
function stmtExecuteStatementIdLike(payload: Buffer): number {
  if (payload.length < 5) throw new ProtocolError('COM_STMT_RESET: truncated');
  return payload.readUInt32LE(1);
}

/** A packet as it arrived, to the target: a span of its chunk (a reassembled one as its own bytes). */
function passToServer(out: RelayOut, p: Packet): void {
  if (p.rawParts) out.toServer(p.raw);
  else out.spanToServer(p.source, p.payloadStart - 4, p.end);
}

/** A packet as it arrived, to the client. */
function passToClient(out: RelayOut, p: Packet): void {
  if (p.rawParts) out.toClient(p.raw);
  else out.spanToClient(p.source, p.payloadStart - 4, p.end);
}
