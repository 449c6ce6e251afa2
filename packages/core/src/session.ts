import type { ApprovalBroker } from './approvals.js';
import type { CoreMetrics } from './metrics.js';
import type { Decision, SessionPolicy } from './policy.js';
import type { SessionLog } from './recorder.js';
import type { Store } from './store.js';
import type { ColumnLineage, Command, ConnectionConfig, ErrorCode, Identity, Masker, ResultSummary, Session, Verdict, WaitNotice } from './types.js';

export interface SessionDeps {
  store: Store;
  broker: ApprovalBroker;
  metrics: CoreMetrics;
  onClosed: (s: CoreSession) => void;
}

function deny(code: ErrorCode, reason: string, policy = ''): Extract<Verdict, { effect: 'deny' }> {
  return { effect: 'deny', code, reason, policy };
}

/** The refusal when the command's record could not be written (fail closed). */
const notRecorded = () => deny('SLUICE_RECORDING_FAILED', 'the gateway could not record this command, so it was not run');

export function commandEvent(cmd: Command, d: Decision): Record<string, unknown> {
  return {
    kind: cmd.kind,
    text: cmd.text,
    objects: cmd.objects,
    flags: cmd.flags,
    parts: cmd.parts?.map((p) => ({ kind: p.kind, text: p.text, objects: p.objects, flags: p.flags })),
    params: cmd.params,
    error: cmd.error,
    decision: d.effect,
    policy: d.policy,
  };
}

/** A single statement's event JSON up to its params: the same for every execution of a prepared statement. */
interface EventHead {
  kind: string;
  text: string;
  objects: string[];
  flags: string[];
  json: string;
}
/**
 * Heads of executions of prepared statements (commands with params) by
 * statement text (a Parse of the same text each time still hits); emptied
 * when it grows past HEADS_MAX. Other commands are written directly: their
 * text mostly carries its values (a simple query, a MySQL query() with the
 * id spelled out) and repeats too seldom for a cache: every such command
 * missed, and each miss kept a head alive for nothing (1.3 µs against
 * 0.2 µs written directly, timed in isolation; the hot-path bench's MySQL
 * query() instruction count moved less than its 2% noise).
 */
const heads = new Map<string, EventHead>();
const HEADS_MAX = 1024;
/** Longer statements are serialised each time (the cache stays small). */
const HEAD_TEXT_MAX = 4096;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The event JSON of a single statement up to its params, without the closing brace. */
function headJson(cmd: Command): string {
  return `{"kind":${jsonString(cmd.kind)},"text":${jsonString(cmd.text)},"objects":${listJson(cmd.objects)},"flags":${listJson(cmd.flags)}`;
}

/**
 * Exactly `JSON.stringify(commandEvent(cmd, d))`, written without the
 * generic serializer; for an execution of a prepared statement the head is
 * kept per statement text (checked field by field, so a command of the same
 * text that differs only misses). Commands with parts or an error take the
 * plain path.
 */
export function commandEventJson(cmd: Command, d: Decision, data: Record<string, unknown>): string {
  if (cmd.parts !== undefined || cmd.error !== undefined || cmd.text.length > HEAD_TEXT_MAX) return JSON.stringify(data);
  let out: string;
  if (cmd.params === undefined) out = headJson(cmd);
  else {
    let h = heads.get(cmd.text);
    if (!h || h.kind !== cmd.kind || !sameList(h.objects, cmd.objects) || !sameList(h.flags, cmd.flags)) {
      h = { kind: cmd.kind, text: cmd.text, objects: cmd.objects.slice(), flags: cmd.flags.slice(), json: headJson(cmd) };
      if (heads.size >= HEADS_MAX) heads.clear();
      heads.set(cmd.text, h);
    }
    out = `${h.json},"params":${listJson(cmd.params)}`;
  }
  out += `,"decision":${jsonString(d.effect)}`;
  if (d.policy !== undefined) out += `,"policy":${d.policy === null ? 'null' : jsonString(d.policy)}`;
  return `${out}}`;
}

/** Characters JSON.stringify writes as they are: no quote, backslash, control character or lone surrogate. */
const JSON_PLAIN = /^[\x20\x21\x23-\x5b\x5d-\u007e\u0080-\ud7ff\ue000-\uffff]*$/;

/** Exactly `JSON.stringify(s)`; plain text (the usual case) skips the serializer. */
export function jsonString(s: string): string {
  return JSON_PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** Exactly `JSON.stringify(list)` for a list of strings and nulls (objects, flags, params; a hole, as JSON writes it, null). */
function listJson(list: readonly (string | null)[]): string {
  let out = '[';
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (i > 0) out += ',';
    out += v === null || v === undefined ? 'null' : jsonString(v);
  }
  return `${out}]`;
}

/** `,"k":v` for a number, as JSON.stringify writes it (NaN and infinities become null). */
function numField(k: string, v: number): string {
  return `,"${k}":${Number.isFinite(v) ? String(v) : 'null'}`;
}

/**
 * A result event: the summary's defined fields, in the order rows, affected,
 * masked, error, ms, bytesIn, bytesOut, and exactly `JSON.stringify(data)`,
 * written without the serializer. Each field is read by name: the plugins'
 * summaries have different shapes, and a loop over keys made every read a
 * megamorphic keyed load.
 */
export function resultEvent(r: ResultSummary): { data: Record<string, unknown>; json: string } {
  const { rows, affected, masked, error, ms, bytesIn, bytesOut } = r;
  const data: Record<string, unknown> = {};
  let json = '';
  if (rows !== undefined) json += numField('rows', (data.rows = rows));
  if (affected !== undefined) json += numField('affected', (data.affected = affected));
  if (masked !== undefined) json += numField('masked', (data.masked = masked));
  if (error !== undefined) json += `,"error":${jsonString((data.error = error))}`;
  if (ms !== undefined) json += numField('ms', (data.ms = ms));
  if (bytesIn !== undefined) json += numField('bytesIn', (data.bytesIn = bytesIn));
  if (bytesOut !== undefined) json += numField('bytesOut', (data.bytesOut = bytesOut));
  return { data, json: json === '' ? '{}' : `{${json.slice(1)}}` };
}

/**
 * The one enforcement path. `authorize` records the command and its decision
 * durably before it can return allow, waits for approvals in-line, and turns
 * every internal failure into a deny (fail closed).
 */
export class CoreSession implements Session {
  private readonly abort = new AbortController();
  private lineage: ColumnLineage | undefined;
  private readonly killHandlers: ((reason: string) => void)[] = [];
  private closing: Promise<void> | null = null;

  constructor(
    readonly id: string,
    readonly identity: Identity,
    readonly connection: ConnectionConfig,
    readonly protocol: string,
    private readonly policy: SessionPolicy,
    private readonly log: SessionLog,
    readonly masker: Masker | null,
    private readonly deps: SessionDeps,
  ) {}

  get closed(): boolean {
    return this.closing !== null;
  }

  useColumnLineage(lineage: ColumnLineage): void {
    this.lineage = lineage;
  }

  preview(cmd: Command): 'allow' | 'block' | 'approve' {
    try {
      return this.policy.decide(cmd, this.lineage).effect;
    } catch {
      return 'block';
    }
  }

  /** The policy decision, or the verdict that ends it early (closed session, expired credential, a failing policy). */
  private judge(cmd: Command): Decision | Extract<Verdict, { effect: 'deny' }> {
    if (this.closing) return deny('SLUICE_SESSION_KILLED', 'session is closed');
    if (this.identity.expiresAt && this.identity.expiresAt.getTime() <= Date.now()) {
      return deny('SLUICE_AUTH_FAILED', 'your credential has expired; reconnect with a new one');
    }
    try {
      return this.policy.decide(cmd, this.lineage);
    } catch {
      return deny('SLUICE_INTERNAL', 'policy evaluation failed; command refused');
    }
  }

  /** The verdict for an allow or a block whose record is written (or queued, for a block). */
  private settle(d: Decision): Verdict {
    if (d.effect === 'allow') return { effect: 'allow', mask: this.masker };
    if (d.code === 'SLUICE_PARSE_ERROR') return deny('SLUICE_PARSE_ERROR', d.message!, '');
    return deny('SLUICE_POLICY_DENIED', policyMessage(d.policy!, d.message!), d.policy!);
  }

  authorizeNow(cmd: Command): Verdict | undefined {
    if (!this.log.canAppendNow) return undefined;
    const decision = this.judge(cmd);
    if (decision.effect === 'deny') return decision;
    if (decision.effect === 'approve') return undefined;
    this.deps.metrics.command(this.protocol, decision.effect);
    try {
      const data = commandEvent(cmd, decision);
      this.log.appendNow('command', data, commandEventJson(cmd, decision, data));
    } catch {
      return notRecorded();
    }
    return this.settle(decision);
  }

  async authorize(cmd: Command, wait?: WaitNotice, signal?: AbortSignal): Promise<Verdict> {
    const d = this.judge(cmd);
    if (d.effect === 'deny') return d;
    this.deps.metrics.command(this.protocol, d.effect);
    try {
      if (d.effect === 'allow') {
        await this.log.append('command', commandEvent(cmd, d));
        return this.settle(d);
      }
      if (d.effect === 'block') {
        // Nobody waits for a refusal's record, but it goes out with this tick's group.
        this.log.append('command', commandEvent(cmd, d)).catch(() => undefined);
        return this.settle(d);
      }
      return await this.awaitApproval(cmd, d, wait, signal);
    } catch {
      return notRecorded();
    }
  }

  private async awaitApproval(cmd: Command, d: Decision, wait?: WaitNotice, signal?: AbortSignal): Promise<Verdict> {
    const policy = d.policy!;
    await this.log.append('command', commandEvent(cmd, d));
    const signals = signal ? AbortSignal.any([signal, this.abort.signal]) : this.abort.signal;
    let pending;
    try {
      pending = await this.deps.broker.request(
        { session: this.id, identity: this.identity, command: cmd, policy, approvers: d.approvers!, timeoutMs: d.timeoutMs! },
        signals,
      );
    } catch {
      return deny('SLUICE_INTERNAL', 'the approval service is unavailable; command refused', policy);
    }
    await this.log.append('approval.requested', { id: pending.id, policy, approvers: d.approvers, expiresAt: pending.expiresAt.toISOString() });
    try {
      wait?.({ requestId: pending.id, policy, approvers: d.approvers!, expiresAt: pending.expiresAt, timeoutMs: d.timeoutMs! });
    } catch {
      /* the client may be gone; the signal cancels the request */
    }
    const out = await pending.outcome;
    await this.log.append('approval.decided', { id: pending.id, outcome: out.outcome, by: out.by, reason: out.reason });
    switch (out.outcome) {
      case 'approved':
        return { effect: 'allow', mask: this.masker };
      case 'denied':
        return deny('SLUICE_APPROVAL_DENIED', `approval ${pending.id} denied by ${out.by}${out.reason ? `: ${out.reason}` : ''} (policy "${policy}")`, policy);
      case 'expired':
        return deny('SLUICE_APPROVAL_TIMEOUT', `approval ${pending.id} timed out (policy "${policy}")`, policy);
      default:
        return deny('SLUICE_APPROVAL_CANCELLED', `approval ${pending.id} cancelled: ${out.reason ?? ''}`, policy);
    }
  }

  refuse(cmd: Command, reason: string): void {
    this.deps.metrics.command(this.protocol, 'block');
    if (!this.closing) this.log.append('command', { ...commandEvent(cmd, { effect: 'block', policy: null }), reason }).catch(() => undefined);
  }

  result(r: ResultSummary): void {
    if (r.masked) this.deps.metrics.maskedCells(this.protocol, r.masked);
    if (!this.closing) {
      const e = resultEvent(r);
      this.log.appendLater('result', e.data, e.json);
    }
  }

  output(data: Uint8Array, stream: 'stdout' | 'stderr'): void {
    if (!this.closing) this.log.appendLater('output', { stream, data: Buffer.from(data).toString('utf8') });
  }

  resize(cols: number, rows: number): void {
    if (!this.closing) this.log.appendLater('resize', { cols, rows });
  }

  onKill(fn: (reason: string) => void): void {
    this.killHandlers.push(fn);
  }

  /** Admin kill: tell the plugin to drop the client, then close. */
  kill(reason: string): Promise<void> {
    for (const fn of this.killHandlers) {
      try {
        fn(reason);
      } catch {
        /* keep closing */
      }
    }
    return this.close(reason);
  }

  close(reason = 'client disconnected'): Promise<void> {
    if (this.closing) return this.closing;
    this.abort.abort();
    this.closing = (async () => {
      const at = new Date().toISOString();
      try {
        await this.log.append('session.end', { reason });
      } catch {
        /* chain broken: nothing more can be recorded */
      }
      try {
        await this.deps.store.endSession(this.id, at, reason);
      } catch {
        /* orphan sessions are closed at next start */
      }
      this.deps.onClosed(this);
    })();
    return this.closing;
  }
}

export function policyMessage(policy: string, message: string): string {
  return message.includes(`"${policy}"`) ? message : `${message} (policy "${policy}")`;
}

/**
 * One execution of a prepared statement: the statement's command with this
 * execution's parameters. Every field is written, in one order, so every
 * execution's command has the same shape whatever optional fields the
 * statement has; a spread (`{ ...cmd, params }`) gives each statement shape
 * its own, and the policy's property reads on the hot path then miss their
 * caches. Absent fields stay undefined (JSON and `?.` treat them as absent).
 */
export function withParams(cmd: Command, params: (string | null)[] | undefined): Command {
  return {
    protocol: cmd.protocol,
    kind: cmd.kind,
    text: cmd.text,
    objects: cmd.objects,
    flags: cmd.flags,
    parts: cmd.parts,
    params,
    error: cmd.error,
    sources: cmd.sources,
    columns: cmd.columns,
    copies: cmd.copies,
  };
}
