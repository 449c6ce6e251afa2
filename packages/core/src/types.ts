/**
 * The core contracts. Everything a protocol plugin sees of Sluice is here;
 * policy, recording, approvals and masking live behind `Session`.
 */

/** Who is acting. For an agent, `subject` is the human it acts for. */
export interface Identity {
  /** The accountable human or service ('alice@example.com'). */
  subject: string;
  /** Delegation chain, nearest first ('billing-agent'); [] for a human acting directly. */
  actors: string[];
  groups: string[];
  via: 'oidc' | 'api-key' | 'ssh-key' | 'delegated';
  /**
   * Connections this credential is limited to (a delegated token narrowed
   * with --connections); absent = whatever its groups grant. Checked when a
   * session opens, on top of the connection's `access` groups.
   */
  connections?: string[];
  /** Credential id (API key id, token jti) for the audit trail; never the secret. */
  credentialId?: string;
  /** When the credential stops being valid, if it expires. */
  expiresAt?: Date;
}

/** All that policy ever sees of a client request. Protocol-neutral. */
export interface Command {
  /** Plugin name ('postgres'). */
  protocol: string;
  /** Statement kind in upper case for SQL ('DELETE', 'SELECT'), 'exec', 'FLUSHALL', 'delete pods'. */
  kind: string;
  /** The command as sent (one statement, command line, request line). */
  text: string;
  /** Objects touched: 'public.orders', 'orders', 'pods/web-1'. */
  objects: string[];
  /** 'unbounded', 'multi-statement', 'dynamic-sql', 'copy-program', 'parse-error' … */
  flags: string[];
  /**
   * For a string holding several statements (or a statement with nested
   * data-modifying parts): every part, each judged on its own. The parent's
   * verdict is the strictest of its parts. Absent for a single statement.
   */
  parts?: Command[];
  /** Bound parameters (extended protocols), recorded but not matched on. */
  params?: (string | null)[];
  /** Why the command could not be understood (with flag 'parse-error'); such a command is refused. */
  error?: string;
  /**
   * SQL: the table columns whose values the statement's results may carry in
   * columns it computes (`upper(ssn)`, `row_to_json(c)`, a UNION, COPY
   * output). A computed result column is masked by every column rule that
   * covers one of these. Not recorded.
   */
  sources?: ColumnSource[];
  /**
   * SQL, when the result's columns map one to one onto the statement's select
   * list (no `*`): each column's own sources, a narrower `sources`.
   */
  columns?: ColumnSource[][];
  /**
   * SQL: the table columns whose values the statement writes into the
   * database, where result masking cannot follow them (`INSERT … SELECT`,
   * `UPDATE … SET a = b`, `CREATE TABLE … AS`, `SELECT … INTO`, a view's
   * definition). A session under column rules refuses a command that copies
   * a covered column. Not recorded.
   */
  copies?: ColumnSource[];
}

/**
 * A column a statement reads into its results. No `table`: the statement did
 * not say which (any table's column of that name). `column` '*': the whole row.
 */
export interface ColumnSource {
  table?: string;
  column: string;
}

export interface ClientInfo {
  /** 'ip:port' of the client socket. */
  address: string;
  /** application_name, SSH client banner … */
  application?: string;
  /** Whether the client connection is TLS-protected. */
  tls?: boolean;
}

/** A configured connection with its secrets resolved. Secrets never leave the gateway. */
export interface ConnectionConfig {
  name: string;
  type: string;
  target: string;
  access: string[];
  /** Resolved secrets by name ('password', 'privateKey', 'token'). */
  secrets: Record<string, string | undefined>;
  /** Other protocol-specific settings (hostKey, caFile …). */
  options: Record<string, unknown>;
}

// ---------------------------------------------------------------- policies

export type DetectorName =
  | 'credit_card'
  | 'ssn'
  | 'email'
  | 'iban'
  | 'jwt'
  | 'aws_access_key'
  | 'private_key'
  | 'phone';
export const DETECTOR_NAMES: readonly DetectorName[] = [
  'credit_card',
  'ssn',
  'email',
  'iban',
  'jwt',
  'aws_access_key',
  'private_key',
  'phone',
];
export type MaskStrategy = 'redact' | 'partial' | 'hash';

/** What a block or approve rule matches on; every given field must match. */
export interface Matcher {
  /** Statement kinds, case-insensitive ('DROP', 'DELETE'). */
  sql?: string[];
  /** Only unbounded statements (DELETE/UPDATE without a restricting WHERE, TRUNCATE). */
  unbounded?: boolean;
  /** Any of these flags present. */
  flags?: string[];
  /** Object globs ('public.*', 'orders'). */
  objects?: string[];
  /** Regular expression on the command text (last resort). */
  match?: string;
  /** SSH exec/shell globs. */
  commands?: string[];
  /** Redis command names. */
  redis?: string[];
  /** Kubernetes 'verb resource'. */
  kubernetes?: string[];
}
export interface BlockRule extends Matcher {
  message?: string;
}
export interface ApproveRule extends Matcher {
  /** Groups whose members may approve; '$subject' = the human an agent acts for. */
  approvers: string[];
  /** Milliseconds before the request expires (denied). */
  timeoutMs: number;
}
export interface MaskRule {
  detectors?: DetectorName[];
  /** 'table.column', '*.column', 'schema.table.column'. */
  columns?: string[];
  strategy?: MaskStrategy;
}
export interface Policy {
  name: string;
  /** Connection names; absent = all. */
  connections?: string[];
  /** Groups; absent = everyone. */
  groups?: string[];
  /** 'any' = only delegated identities, 'none' = only direct ones, list = those agent names. */
  actors?: 'any' | 'none' | string[];
  /** Judge dynamic SQL (DO blocks, EXECUTE of a string) by its text instead of as any statement. */
  trustDynamicSql?: boolean;
  block?: BlockRule;
  approve?: ApproveRule;
  mask?: MaskRule;
}

// ---------------------------------------------------------------- masking

/** See Session.useColumnLineage; the arguments of `derivedFrom`. */
export interface ColumnLineage {
  /** Column names that carry a rule-covered column: the rules' own names and those of views over them (lower case). */
  readonly names: ReadonlySet<string>;
  expandRow(table: string): ColumnRef[] | undefined;
  expandColumn(table: string | undefined, column: string): readonly ColumnRef[] | undefined;
  /** What the functions a statement text calls hand on (functions whose definitions read a covered column); undefined: none. */
  calls?(text: string): readonly ColumnRef[] | undefined;
  /** What the functions a statement text calls store in a table or session state when they run (writers); undefined: none. */
  writes?(text: string): readonly ColumnRef[] | undefined;
}

/** A result column as the protocol describes it. */
export interface ColumnRef {
  /** Name as the client sees it (may be an alias). */
  name: string;
  /** Source table ('public.customers' or 'customers'), when the protocol can tell. */
  table?: string;
  /** Source column name, when the protocol can tell (survives aliases). */
  column?: string;
  /**
   * For a computed column (an expression, not a plain table column): the
   * columns its value may carry. Column rules that cover any of them cover it.
   */
  from?: readonly ColumnRef[];
}

/** Masking for one result set, planned once from its column description. */
export interface ResultMasker {
  /** Columns masked whole by a column rule (their values are replaced, whatever they are). */
  readonly ruleColumns: ReadonlySet<number>;
  /** Whether any masking can happen in this result (false = pass rows through untouched). */
  readonly active: boolean;
  /**
   * Mask one cell's text. Returns the replacement, or null when unchanged.
   * Counts every changed cell in `masked`.
   */
  cell(index: number, value: string): string | null;
  /**
   * Outside rule columns, a value shorter than this (in UTF-16 code units,
   * so also in UTF-8 bytes) is never changed: a protocol may skip decoding
   * it. Infinity when no detector is on.
   */
  readonly minLength: number;
  /** Cells changed so far. */
  readonly masked: number;
}

/** The masking that applies to one session (the union of its mask policies). */
export interface Masker {
  forResult(columns: ColumnRef[]): ResultMasker;
  /**
   * Lower-case source column names that column rules name ('phone' for
   * 'customers.phone'): protocols that must look up where a result column
   * comes from (PostgreSQL table OIDs) ask only about these.
   */
  readonly columnNames: ReadonlySet<string>;
  /** Free text (terminal output, Redis values): masked text and the number of values masked. */
  text(value: string): { text: string; masked: number };
}

// ---------------------------------------------------------------- sessions

export type Verdict =
  | { effect: 'allow'; mask: Masker | null }
  | { effect: 'deny'; code: ErrorCode; reason: string; policy: string };

/** Told to the client at once when a command is held for approval. */
export interface ApprovalNotice {
  requestId: string;
  policy: string;
  approvers: string[];
  expiresAt: Date;
  timeoutMs: number;
}
export type WaitNotice = (notice: ApprovalNotice) => void;

export interface ResultSummary {
  rows?: number;
  affected?: number;
  masked?: number;
  error?: string;
  ms?: number;
  /** Stream protocols (a port forward): bytes from the client to the target, and back. */
  bytesIn?: number;
  bytesOut?: number;
}

export interface Session {
  readonly id: string;
  readonly identity: Identity;
  readonly connection: ConnectionConfig;
  /** The masking that applies to this session (the same object every allowed verdict carries). */
  readonly masker: Masker | null;
  /**
   * Record the command with its decision (durably, before returning allow),
   * evaluate policy and wait for an approval when one is needed.
   * Never throws: any internal failure is a deny (fail closed).
   */
  authorize(cmd: Command, wait?: WaitNotice, signal?: AbortSignal): Promise<Verdict>;
  /**
   * `authorize` without a turn of the event loop, when that is possible:
   * the verdict for an allow (its record already durable) or a block, or
   * undefined when the decision must wait — an approval, or a store that
   * cannot write at once — and the caller then awaits `authorize`. The same
   * policy, recording and fail-closed rules; it never returns allow before
   * the command's record is written. Plugins use it on hot paths.
   */
  authorizeNow(cmd: Command): Verdict | undefined;
  /**
   * What `authorize` would decide by policy alone, without recording or
   * waiting: lets a plugin refuse early (PostgreSQL decides at Parse,
   * enforces at Execute). Enforcement must still go through `authorize`.
   */
  preview(cmd: Command): 'allow' | 'block' | 'approve';
  /**
   * What the protocol knows of where columns come from beyond their names
   * (PostgreSQL: the table columns a view's columns are computed from), so
   * that a command copying a rule-covered column through a view is refused
   * like one copying it from the table. Set once, before the first command.
   */
  useColumnLineage?(lineage: ColumnLineage): void;
  /**
   * Records a refusal the plugin makes on protocol grounds whatever the
   * policies say (a command the gateway cannot judge or does not support),
   * so the audit trail holds every refused command. The plugin answers the
   * client itself.
   */
  refuse(cmd: Command, reason: string): void;
  /** The outcome of the last allowed command. Batched, flushed before session end. */
  result(r: ResultSummary): void;
  /**
   * Terminal bytes (stream protocols), already masked. Recorded as text:
   * pass whole UTF-8 characters (a split character is recorded as U+FFFD).
   */
  output(data: Uint8Array, stream: 'stdout' | 'stderr'): void;
  /** The client's terminal size changed (pty request, window change): recorded for replay. */
  resize(cols: number, rows: number): void;
  /** Ends the session (idempotent); records session.end. */
  close(reason?: string): Promise<void>;
  /** Called by the gateway to kill the session (admin API); plugins register their teardown. */
  onKill(fn: (reason: string) => void): void;
  /** Whether the session is still open. */
  readonly closed: boolean;
}

export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** Metric hooks a plugin may feed; the app backs them with prom-client. */
export interface PluginMetrics {
  bytesRelayed(direction: 'in' | 'out', n: number, protocol: string): void;
}

export interface TlsMaterial {
  cert: string;
  key: string;
}

/** What a plugin gets from the gateway. */
export interface GatewayContext {
  /** Verify a credential (API key or JWT). Resolves null for a bad credential; never throws for one. */
  authenticate(credential: string): Promise<Identity | null>;
  /**
   * Identity of an SSH public key registered with `sluice keys add-ssh`
   * (the bound API key's identity, via 'ssh-key'), or null when the key is
   * unknown or its API key is revoked or expired. The caller must have
   * verified the client's signature. Never throws: a lookup failure is null.
   */
  authenticatePublicKey(key: { algo: string; data: Uint8Array }): Promise<Identity | null>;
  /**
   * Open a session on a connection: checks the connection exists, has this
   * plugin's type and grants one of the identity's groups; records session.start.
   * Throws SluiceError SLUICE_CONNECTION_REFUSED (same for unknown and forbidden).
   */
  openSession(identity: Identity, connectionName: string, client: ClientInfo, protocol: string): Promise<Session>;
  readonly tls: TlsMaterial;
  readonly logger: Logger;
  readonly metrics: PluginMetrics;
  /** Directory for plugin state (host keys …). */
  readonly dataDir: string;
}

export interface Listener {
  /** 'host:port' actually bound (port 0 resolves). */
  readonly address: string;
  readonly port: number;
  /**
   * Stop accepting new clients and drop those still in their start-up phase.
   * Established sessions are left to the gateway, which drains or kills them.
   */
  close(): Promise<void>;
}

/** A protocol plugin: a plain object from a factory function. */
export interface ProtocolPlugin {
  /** 'postgres'; also the connection `type` it serves and the listeners key. */
  name: string;
  /** Connection types served (defaults to [name]). */
  types?: string[];
  listen(ctx: GatewayContext, address: string): Promise<Listener>;
}

// ---------------------------------------------------------------- errors

export type ErrorCode =
  | 'SLUICE_POLICY_DENIED'
  | 'SLUICE_APPROVAL_DENIED'
  | 'SLUICE_APPROVAL_TIMEOUT'
  | 'SLUICE_APPROVAL_CANCELLED'
  | 'SLUICE_AUTH_FAILED'
  | 'SLUICE_CONNECTION_REFUSED'
  | 'SLUICE_PARSE_ERROR'
  | 'SLUICE_RECORDING_FAILED'
  | 'SLUICE_INTERNAL'
  | 'SLUICE_UPSTREAM_UNAVAILABLE'
  | 'SLUICE_PROTOCOL_VIOLATION'
  | 'SLUICE_SESSION_KILLED';
