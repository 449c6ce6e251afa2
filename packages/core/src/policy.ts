import type { ColumnLineage, ColumnRef, Command, ConnectionConfig, Identity, Matcher, MaskRule, Policy } from './types.js';
import { coveredBy, parseColumnPattern, type ColumnPattern } from './mask/columns.js';
import { derivedFrom } from './mask/derived.js';

/** Protocol families for protocol-specific matchers. */
const SQL_PROTOCOLS = new Set(['postgres', 'mysql']);

export type Effect = 'allow' | 'block' | 'approve';

export interface Decision {
  effect: Effect;
  /** The deciding policy; null for allow with no matching rule. */
  policy: string | null;
  /** Block message (rule's `message` or a default naming the policy). */
  message?: string;
  /** For approve: who may approve and how long to wait. */
  approvers?: string[];
  timeoutMs?: number;
  /** Why a parse error or similar was refused regardless of policy. */
  code?: 'SLUICE_PARSE_ERROR';
}

interface CompiledMatcher {
  sql: Set<string> | null;
  commands: RegExp[] | null;
  redis: Set<string> | null;
  kubernetes: Set<string> | null;
  unbounded: boolean;
  flags: string[] | null;
  objects: RegExp[] | null;
  /**
   * The table part of each schema-qualified `objects` glob ('public.orders'
   * → 'orders'; not a bare '*'), for a SQL statement that names a table
   * without its schema: the search path may well resolve it into that schema.
   */
  bareObjects: RegExp[] | null;
  match: RegExp | null;
}

interface CompiledPolicy {
  policy: Policy;
  block: (CompiledMatcher & { message?: string }) | null;
  approve: (CompiledMatcher & { approvers: string[]; timeoutMs: number }) | null;
}

/** Shell-style glob → anchored RegExp ('*' any run, '?' one char). */
export function globToRegExp(glob: string, flags = 'i'): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, flags);
}

function compileMatcher(m: Matcher): CompiledMatcher {
  const upperSet = (xs?: string[]) => (xs && xs.length ? new Set(xs.map((x) => x.toUpperCase())) : null);
  const lowerSet = (xs?: string[]) => (xs && xs.length ? new Set(xs.map((x) => x.toLowerCase())) : null);
  return {
    sql: upperSet(m.sql),
    redis: upperSet(m.redis),
    kubernetes: lowerSet(m.kubernetes),
    commands: m.commands && m.commands.length ? m.commands.map((g) => globToRegExp(g, 's')) : null,
    unbounded: m.unbounded === true,
    flags: m.flags && m.flags.length ? m.flags : null,
    objects: m.objects && m.objects.length ? m.objects.map((g) => globToRegExp(g)) : null,
    bareObjects: bareGlobs(m.objects),
    match: m.match ? new RegExp(m.match, 'is') : null,
  };
}

function bareGlobs(globs: string[] | undefined): RegExp[] | null {
  const out: RegExp[] = [];
  for (const g of globs ?? []) {
    const dot = g.lastIndexOf('.');
    const table = dot >= 0 ? g.slice(dot + 1) : '';
    if (table !== '' && table !== '*') out.push(globToRegExp(table));
  }
  return out.length ? out : null;
}

/**
 * 'orders' in a rule matches 'orders' and 'public.orders'; 'public.orders'
 * matches 'public.orders' and, in SQL (`unqualified`), 'orders' (which the
 * search path may resolve into any schema). Quoted forms are compared unquoted.
 */
function objectMatches(m: CompiledMatcher, obj: string, sql: boolean): boolean {
  const plain = obj.replace(/"/g, '');
  const dot = plain.lastIndexOf('.');
  const bare = dot >= 0 ? plain.slice(dot + 1) : plain;
  for (const g of m.objects!) if (g.test(plain) || g.test(bare)) return true;
  if (sql && dot < 0 && m.bareObjects) for (const g of m.bareObjects) if (g.test(plain)) return true;
  return false;
}

/**
 * Does a matcher match one command (not its parts)? A rule with
 * protocol-specific matchers (sql, commands, redis, kubernetes) matches only
 * commands of a protocol one of them speaks to, and then only when that
 * matcher matches; the generic matchers (unbounded, flags, objects, match)
 * must all match when given.
 */
function matchOne(m: CompiledMatcher, cmd: Command): boolean {
  const hasProto = m.sql || m.commands || m.redis || m.kubernetes;
  if (hasProto) {
    let hit = false;
    if (m.sql && SQL_PROTOCOLS.has(cmd.protocol) && m.sql.has(cmd.kind.toUpperCase())) hit = true;
    if (!hit && m.redis && cmd.protocol === 'redis' && m.redis.has(cmd.kind.toUpperCase())) hit = true;
    if (!hit && m.kubernetes && cmd.protocol === 'kubernetes' && m.kubernetes.has(cmd.kind.toLowerCase())) hit = true;
    if (!hit && m.commands && cmd.protocol === 'ssh') {
      for (const g of m.commands) if (g.test(cmd.text)) { hit = true; break; }
    }
    if (!hit) return false;
  }
  if (m.unbounded && !cmd.flags.includes('unbounded')) return false;
  if (m.flags && !m.flags.some((f) => cmd.flags.includes(f))) return false;
  if (m.objects) {
    const sql = SQL_PROTOCOLS.has(cmd.protocol);
    if (!cmd.objects.some((o) => objectMatches(m, o, sql))) return false;
  }
  if (m.match && !m.match.test(cmd.text)) return false;
  return true;
}

/** The command itself and every nested part, depth first. */
export function commandUnits(cmd: Command, out: Command[] = []): Command[] {
  out.push(cmd);
  if (cmd.parts) for (const p of cmd.parts) commandUnits(p, out);
  return out;
}

/** 'dynamic-sql' (SQL plugins) or 'dynamic' (any protocol: a shell line whose command comes from an expansion …). */
function isDynamic(cmd: Command): boolean {
  return cmd.flags.includes('dynamic') || (SQL_PROTOCOLS.has(cmd.protocol) && cmd.flags.includes('dynamic-sql'));
}

function matches(m: CompiledMatcher, units: Command[], trustDynamic: boolean): boolean {
  for (const u of units) {
    if (matchOne(m, u)) return true;
    // A statement whose effect cannot be read from its text could be anything.
    if (!trustDynamic && isDynamic(u)) return true;
  }
  return false;
}

function parseError(units: Command[]): Command | undefined {
  return units.find((u) => u.flags.includes('parse-error'));
}

/**
 * The policies that apply to one identity on one connection, compiled. Shared
 * by every session with the same applicable set, so it must be stateless.
 */
export class SessionPolicy {
  /** Every column rule of the applicable mask policies, with its policy's name. */
  private readonly columnRules: { policy: string; pattern: ColumnPattern }[];
  private readonly columnNames: ReadonlySet<string>;

  constructor(
    private readonly compiled: CompiledPolicy[],
    readonly maskRules: MaskRule[],
  ) {
    this.columnRules = compiled.flatMap((c) => (c.policy.mask?.columns ?? []).map((source) => ({ policy: c.policy.name, pattern: parseColumnPattern(source) })));
    this.columnNames = new Set(this.columnRules.map((r) => r.pattern.column));
  }

  /**
   * The first column rule a unit's `copies` would carry a covered value past
   * (into a table, a view's definition…), with the column it names; null
   * when none. `lineage` adds what views and the functions the unit calls
   * carry, knows which tables' whole rows hold no covered column, and which
   * functions store what they carry when called (a call of one is a copy).
   */
  private copiedColumn(units: Command[], lineage: ColumnLineage | undefined): { policy: string; column: string } | null {
    if (this.columnRules.length === 0) return null;
    const names = lineage ? lineage.names : this.columnNames;
    for (const u of units) {
      // A call of a function whose body stores a covered column copies it, whatever the statement around it.
      const stored = lineage?.writes?.(u.text);
      if (stored !== undefined) {
        const hit = this.coveredRef(stored);
        if (hit) return hit;
      }
      if (u.copies === undefined) continue;
      const d = u.copies.length === 0 ? null : derivedFrom({ protocol: u.protocol, kind: u.kind, text: '', objects: [], flags: [], sources: u.copies }, names, lineage?.expandRow, lineage?.expandColumn);
      // A copy that calls a function handing on a covered column copies that column.
      const called = lineage?.calls?.(u.text);
      const refs = called === undefined ? d?.all : [...(d?.all ?? []), ...called];
      if (!refs) continue;
      const hit = this.coveredRef(refs);
      if (hit) return hit;
    }
    return null;
  }

  /** The first of `refs` a column rule covers, with that rule's policy. */
  private coveredRef(refs: readonly ColumnRef[]): { policy: string; column: string } | null {
    for (const r of this.columnRules) {
      for (const ref of refs) {
        const one: ColumnRef = { name: '', from: [ref] };
        if (!coveredBy(r.pattern, one)) continue;
        const column =
          ref.column !== '*' ? (ref.table ? `${ref.table}.${ref.column}` : String(ref.column)) : ref.table ? `${ref.table} row` : 'values from code Sluice cannot read';
        return { policy: r.policy, column };
      }
    }
    return null;
  }

  get policyNames(): string[] {
    return this.compiled.map((c) => c.policy.name);
  }

  /**
   * Decide one command. Block beats approve beats allow; every matching
   * policy is considered. A command that did not parse is blocked whatever
   * the policies say (fail closed), and so is one that copies a column a
   * mask policy's column rule covers (Command.copies) into the database: the
   * copy would be readable unmasked.
   */
  decide(cmd: Command, lineage?: ColumnLineage): Decision {
    const units = cmd.parts ? commandUnits(cmd) : [cmd];
    const bad = parseError(units);
    if (bad) {
      return {
        effect: 'block',
        policy: null,
        code: 'SLUICE_PARSE_ERROR',
        message: `statement refused: Sluice could not parse it (${bad.error ?? 'syntax error'})`,
      };
    }
    const copied = this.copiedColumn(units, lineage);
    if (copied) {
      return {
        effect: 'block',
        policy: copied.policy,
        message: `statement refused: it would copy ${copied.column}, which policy "${copied.policy}" masks, where masking cannot follow it (a table, view, function, variable or another column); read it with SELECT instead`,
      };
    }
    let approve: Decision | null = null;
    for (const c of this.compiled) {
      const trust = c.policy.trustDynamicSql === true;
      if (c.block && matches(c.block, units, trust)) {
        return {
          effect: 'block',
          policy: c.policy.name,
          message: c.block.message ?? `blocked by policy "${c.policy.name}"`,
        };
      }
      if (!approve && c.approve && matches(c.approve, units, trust)) {
        approve = {
          effect: 'approve',
          policy: c.policy.name,
          approvers: c.approve.approvers,
          timeoutMs: c.approve.timeoutMs,
        };
      }
    }
    return approve ?? { effect: 'allow', policy: null };
  }
}

function actorsMatch(p: Policy, identity: Identity): boolean {
  if (p.actors === undefined) return true;
  if (p.actors === 'any') return identity.actors.length > 0;
  if (p.actors === 'none') return identity.actors.length === 0;
  return identity.actors.some((a) => (p.actors as string[]).includes(a));
}

/**
 * The policy set. `forSession` picks the policies that apply to an identity on
 * a connection; compiled sets are cached by which policies apply.
 */
export class PolicyEngine {
  private readonly compiled: CompiledPolicy[];
  private readonly cache = new Map<string, SessionPolicy>();

  constructor(policies: Policy[]) {
    this.compiled = policies.map((policy) => ({
      policy,
      block: policy.block ? { ...compileMatcher(policy.block), message: policy.block.message } : null,
      approve: policy.approve
        ? { ...compileMatcher(policy.approve), approvers: policy.approve.approvers, timeoutMs: policy.approve.timeoutMs }
        : null,
    }));
  }

  /** Whether the connection grants one of the identity's groups. No access list = closed to all. */
  static canAccess(identity: Identity, connection: ConnectionConfig): boolean {
    if (identity.connections && !identity.connections.includes(connection.name)) return false;
    return connection.access.some((g) => identity.groups.includes(g));
  }

  forSession(identity: Identity, connection: string): SessionPolicy {
    const applicable: number[] = [];
    this.compiled.forEach((c, i) => {
      const p = c.policy;
      if (p.connections && !p.connections.includes(connection)) return;
      if (p.groups && !p.groups.some((g) => identity.groups.includes(g))) return;
      if (!actorsMatch(p, identity)) return;
      applicable.push(i);
    });
    const key = applicable.join(',');
    let sp = this.cache.get(key);
    if (!sp) {
      const list = applicable.map((i) => this.compiled[i]!);
      const maskRules = list.flatMap((c) => (c.policy.mask ? [c.policy.mask] : []));
      sp = new SessionPolicy(list, maskRules);
      this.cache.set(key, sp);
    }
    return sp;
  }
}

/**
 * Statements longer than this are not parsed but refused: parsing megabytes
 * would stall every session on the event loop. Bulk data belongs in the
 * protocol's bulk path (COPY, LOAD DATA).
 */
export const MAX_STATEMENT_CHARS = 1024 * 1024;

/** The refused Command for an oversized statement, or null when it is within the limit. */
export function oversizedStatement(protocol: string, text: string, hint = ''): Command | null {
  if (text.length <= MAX_STATEMENT_CHARS) return null;
  return { protocol, kind: 'UNKNOWN', text: text.slice(0, 200) + '…', objects: [], flags: ['parse-error'], error: `statement larger than ${MAX_STATEMENT_CHARS} characters${hint}` };
}
